//! Output into a closed pipe (`qwarden … | head`) ends quietly with exit 0, never a panic.

use crate::support::Env;

/// Every command that prints more than a line, with the directory it runs in.
fn printing_commands(env: &Env) -> Vec<crate::support::Cmd> {
    let example = [
        "--agent",
        "examples/job-runner.toml",
        "--allowed-signers",
        "examples/allowed_signers",
    ];
    vec![
        env.qwarden(["policy", "show"]),
        env.qwarden(["policy", "show", "--schema"]),
        env.qwarden(["man"]),
        env.qwarden(["completions", "bash"]),
        env.qwarden(["completions", "zsh"]),
        env.qwarden(["completions", "fish"]),
        env.qwarden(["init", "--print"]),
        env.qwarden(["--help"]),
        env.qwarden(["policy", "validate"]),
        env.qwarden_in_repo(["policy", "explain"]).args(example),
        env.qwarden_in_repo(["policy", "explain", "--json"])
            .args(example),
        env.qwarden_in_repo(["policy", "check", "--action", "run-session", "--json"])
            .args(example),
        env.qwarden_in_repo([
            "manifest",
            "verify",
            "--json",
            "--allowed-signers",
            "examples/allowed_signers",
            "examples/job-runner.toml",
        ]),
        env.qwarden_in_repo(["manifest", "lint", "--json", "examples/job-runner.toml"]),
    ]
}

qwtest!(
    writing_to_a_closed_pipe_exits_zero_without_a_message,
    |env| {
        for cmd in printing_commands(&env) {
            cmd.run_into_closed_pipe().success().stderr_empty();
        }
    }
);

// Regression: `qwarden completions bash | head -1` panicked inside clap_complete ("failed to write
// completion file: Broken pipe") and exited 101.
qwtest!(completions_into_a_closed_pipe_do_not_panic, |env| {
    for shell in ["bash", "zsh", "fish"] {
        env.qwarden(["completions", shell])
            .run_into_closed_pipe()
            .success()
            .stderr_empty();
    }
});

qwtest!(policy_show_piped_into_head_exits_zero, |env| {
    let first = env
        .qwarden(["policy", "show"])
        .run()
        .stdout
        .lines()
        .next()
        .unwrap()
        .to_owned();
    env.bash("set -o pipefail; \"$0\" policy show | head -1")
        .run()
        .success()
        .stderr_empty()
        .stdout_has(&format!("{first}\n"));
    env.bash("set -o pipefail; \"$0\" completions bash | head -1")
        .run()
        .success()
        .stderr_empty();
});

qwtest!(a_denial_into_a_closed_pipe_keeps_its_exit_code, |env| {
    env.qwarden_in_repo([
        "policy",
        "check",
        "--agent",
        "examples/job-runner.toml",
        "--allowed-signers",
        "examples/allowed_signers",
    ])
    .args(["--action", "connect", "--resource", "transfer.sh:443"])
    .run_into_closed_pipe()
    .code(4);
});
