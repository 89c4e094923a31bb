//! Help, man pages and shell completions.

/// The subcommands a `--help` page lists under `Commands:` (without clap's `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // `  name  about`; wrapped lines of a long about are indented further.
        .filter_map(|l| l.strip_prefix("  ").filter(|rest| !rest.starts_with(' ')))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

qwtest!(help_works_for_every_subcommand, |env| {
    let mut visited = Vec::new();
    let mut queue: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = queue.pop() {
        let run = env.qwarden(&path).arg("--help").run();
        let usage = if path.is_empty() {
            "Usage: qwarden ".to_owned()
        } else {
            format!("Usage: qwarden {} ", path.join(" "))
        };
        run.success().stdout_has(&usage).stderr_empty();
        for sub in subcommands(&run.stdout) {
            let mut child = path.clone();
            child.push(sub);
            queue.push(child);
        }
        visited.push(path.join(" "));
    }
    for expected in [
        "init",
        "manifest sign",
        "manifest verify",
        "manifest lint",
        "policy explain",
        "policy check",
        "policy validate",
        "policy show",
        "secrets init",
        "secrets add",
        "secrets list",
        "secrets remove",
        "secrets rotate",
        "secrets scan",
        "secrets import",
        "completions",
        "man",
    ] {
        assert!(
            visited.iter().any(|v| v == expected),
            "`{expected}` was not reached from `qwarden --help`; reached {visited:?}"
        );
    }
});

qwtest!(long_help_lists_every_exit_code, |env| {
    let run = env.qwarden(["--help"]).run();
    run.success().stdout_has("Exit codes:");
    for line in [
        "0  success (for `policy check`: allowed)",
        "1  internal error",
        "2  usage error",
        "3  invalid input",
        "4  denied by policy",
        "5  needs approval (`policy check`)",
        "6  verification failed (manifest unsigned, expired or untrusted; ledger or proof tampered;",
        "     wrong vault passphrase or identity; damaged vault file)",
        "7  plaintext credentials found (`secrets scan`)",
    ] {
        run.stdout_has(line);
    }
});

qwtest!(version_names_the_binary, |env| {
    env.qwarden(["--version"])
        .run()
        .success()
        .stdout_has(concat!("qwarden ", env!("CARGO_PKG_VERSION")));
});

qwtest!(no_subcommand_is_a_usage_error, |env| {
    env.qwarden(Vec::<&str>::new())
        .run()
        .code(2)
        .stderr_has("Usage: qwarden [OPTIONS] <COMMAND>");
});

qwtest!(completions_print_a_script_for_each_shell, |env| {
    for (shell, marker) in [
        ("bash", "complete -F _qwarden"),
        ("zsh", "#compdef qwarden"),
        ("fish", "complete -c qwarden"),
    ] {
        let run = env.qwarden(["completions", shell]).run();
        run.success().stdout_has(marker).stderr_empty();
        // Every subcommand is completed.
        run.stdout_has("explain").stdout_has("verify");
    }
});

qwtest!(completions_for_an_unknown_shell_is_a_usage_error, |env| {
    env.qwarden(["completions", "tcsh"])
        .run()
        .code(2)
        .stderr_has("invalid value 'tcsh'")
        .stderr_has("[possible values: bash");
});

fn assert_roff(page: &str, what: &str) {
    assert!(
        page.starts_with(".ie") || page.starts_with(".TH"),
        "{what} is not a roff man page:\n{page}"
    );
}

qwtest!(man_prints_the_roff_page_with_the_exit_codes, |env| {
    let run = env.qwarden(["man"]).run();
    run.success()
        .stdout_has(".TH qwarden 1")
        .stdout_has("Exit codes:")
        .stderr_empty();
    assert_roff(&run.stdout, "`qwarden man`");
});

qwtest!(man_out_dir_writes_one_page_per_command, |env| {
    let dir = env.scratch("man/man1");
    let run = env.qwarden(["man", "--out-dir"]).arg(&dir).run();
    run.success();
    for name in [
        "qwarden",
        "qwarden-init",
        "qwarden-manifest",
        "qwarden-manifest-sign",
        "qwarden-manifest-verify",
        "qwarden-manifest-lint",
        "qwarden-policy",
        "qwarden-policy-explain",
        "qwarden-policy-check",
        "qwarden-policy-validate",
        "qwarden-policy-show",
        "qwarden-completions",
        "qwarden-man",
    ] {
        let path = dir.join(format!("{name}.1"));
        let page =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_roff(&page, &path.display().to_string());
        assert!(
            page.contains(&format!(".TH {name} 1")),
            "{name}.1 has another title:\n{page}"
        );
        run.stdout_has(&path.display().to_string());
    }
    assert!(
        !dir.join("qwarden-help.1").exists(),
        "clap's `help` got a man page"
    );
});

// Regression: the pages for subcommands showed `qwarden-policy-explain` as the command to type, and
// lacked the global options.
qwtest!(man_page_synopsis_names_the_command_as_typed, |env| {
    let dir = env.scratch("man");
    env.qwarden(["man", "--out-dir"]).arg(&dir).run().success();
    let page = std::fs::read_to_string(dir.join("qwarden-policy-explain.1")).unwrap();
    let synopsis = page
        .lines()
        .skip_while(|l| *l != ".SH SYNOPSIS")
        .nth(1)
        .unwrap_or_default();
    assert!(
        synopsis.starts_with(r"\fBqwarden policy explain\fR"),
        "{synopsis}"
    );
    assert!(synopsis.contains(r"\-\-config\-dir"), "{synopsis}");
});
