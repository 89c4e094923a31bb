//! `qwarden run`: real sandboxed sessions. Every test runs twice, as the invoking user (root in
//! CI) and as an unprivileged uid (65534, via `setpriv`, when the tests run as root), because the
//! kernel treats the two differently (capabilities in the user namespace, `RLIMIT_NPROC`, DAC).
//!
//! Each refusal is checked twice: the agent's command fails, and the ledger holds a `violation`
//! naming the control that stopped it.

use std::path::Path;

use serde_json::Value;

use crate::support::{Cmd, Env};

/// Who runs `qwarden run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum As {
    Invoker,
    Unprivileged,
}

const NOBODY: u32 = 65534;

pub fn is_root() -> bool {
    // SAFETY-free: the uid of this process, read from /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Declares `name_as_invoker` and `name_unprivileged` running `body(env, who)`.
macro_rules! sessiontest {
    ($name:ident, |$env:ident, $who:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($env: &Env, $who: As) $body
            #[test]
            fn as_invoker() {
                let env = Env::new();
                body(&env, As::Invoker);
            }
            #[test]
            fn unprivileged() {
                let env = Env::new();
                body(&env, As::Unprivileged);
            }
        }
    };
}
pub(crate) use sessiontest;

/// A signed agent manifest and a profile of `tier` in `env`; `body` is the manifest after `[agent]`.
pub fn setup(env: &Env, tier: &str, body: &str) {
    env.signed_manifest("agent.toml", body);
    env.qwarden(["init", "--tier", tier]).run().success();
    if tier == "prod" {
        let profile = env.config.join("profile.toml");
        let text = std::fs::read_to_string(&profile).unwrap();
        std::fs::write(
            &profile,
            text.replace("allow_on_prod = false", "allow_on_prod = true"),
        )
        .unwrap();
    }
    std::fs::create_dir_all(env.project.join("src")).unwrap();
    std::fs::write(env.project.join("README.md"), "read me\n").unwrap();
    std::fs::write(env.project.join("src/circuit.py"), "print('bell')\n").unwrap();
}

pub const AGENT: &str = "[filesystem]\nread = [\".\"]\nwrite = [\"src\"]\n\n[runtime]\nspawn_processes = true\n\n[limits]\nmemory_mb = 512\nprocesses = 64\n";

/// Hands the whole environment to the unprivileged uid (the tests create it as root).
pub fn give_away(env: &Env) {
    let base = env.home.parent().unwrap();
    let status = std::process::Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(base)
        .status()
        .unwrap();
    assert!(status.success(), "chown failed");
}

/// `qwarden run --agent agent.toml ARGS…` (ARGS include `--` and the command) as `who`.
pub fn run(env: &Env, who: As, args: &[&str]) -> Cmd {
    let mut full = vec!["run", "--agent", "agent.toml", "--json"];
    full.extend_from_slice(args);
    if who == As::Unprivileged && is_root() {
        give_away(env);
        env.as_uid(NOBODY, full)
    } else {
        env.qwarden(full)
    }
}

/// The session summary `--json` printed last on stderr.
pub fn summary(stderr: &str) -> Value {
    let start = stderr
        .rfind("\n{\n")
        .map(|i| i + 1)
        .or_else(|| stderr.starts_with("{\n").then_some(0));
    let start = start.unwrap_or_else(|| panic!("no JSON summary in stderr:\n{stderr}"));
    serde_json::from_str(&stderr[start..])
        .unwrap_or_else(|e| panic!("bad summary ({e}):\n{stderr}"))
}

/// Every ledger entry, as JSON.
pub fn ledger(env: &Env) -> Vec<Value> {
    let out = env
        .qwarden(["audit", "tail", "-n", "100000", "--json"])
        .run();
    out.success();
    out.stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect()
}

/// The violations recorded for a session.
pub fn violations(entries: &[Value]) -> Vec<Value> {
    entries
        .iter()
        .filter(|e| e["kind"] == "violation")
        .cloned()
        .collect()
}

fn has_violation(entries: &[Value], attempted: &str, control: &str, target: &str) -> bool {
    violations(entries).iter().any(|v| {
        v["attempted"]
            .as_str()
            .is_some_and(|a| a.contains(attempted))
            && v["control"] == control
            && v["target"].as_str().unwrap_or("").contains(target)
    })
}

fn assert_violation(entries: &[Value], attempted: &str, control: &str, target: &str) {
    assert!(
        has_violation(entries, attempted, control, target),
        "no violation {attempted:?} by {control:?} on {target:?}; violations: {:#?}",
        violations(entries)
    );
}

sessiontest!(a_session_runs_and_is_recorded, |env, who| {
    setup(env, "sandbox", AGENT);
    let out = run(
        env,
        who,
        &[
            "--",
            "sh",
            "-c",
            "echo hello > src/out.txt && cat src/out.txt README.md",
        ],
    )
    .run();
    out.success().stdout_has("hello").stdout_has("read me");
    let s = summary(&out.stderr);
    assert_eq!(s["exit_code"], 0);
    assert!(
        s["isolation"]
            .as_str()
            .unwrap()
            .starts_with("namespaces+landlock+seccomp"),
        "{s}"
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("src/out.txt")).unwrap(),
        "hello\n"
    );
    let entries = ledger(env);
    let session = s["session"].as_str().unwrap();
    let mine: Vec<&Value> = entries.iter().filter(|e| e["session"] == session).collect();
    assert_eq!(mine.first().unwrap()["kind"], "session.start");
    assert_eq!(mine.last().unwrap()["kind"], "session.end");
    assert!(
        mine.iter().any(|e| e["kind"] == "exec"
            && e["argv"][0] == "sh"
            && e["path"].as_str().unwrap().starts_with("/usr/bin/")),
        "{mine:#?}"
    );
    assert!(
        mine.iter()
            .any(|e| e["kind"] == "exec" && e["argv"][0] == "cat"),
        "{mine:#?}"
    );
    let out_txt = env.project.join("src/out.txt").display().to_string();
    let write = mine
        .iter()
        .find(|e| {
            e["kind"] == "file.write"
                && e["path"] == out_txt.as_str()
                && e["details"]["observed"] == "write-set"
        })
        .unwrap_or_else(|| panic!("no write-set entry: {mine:#?}"));
    assert_eq!(write["op"], "create");
    assert_eq!(write["size"], 6);
    assert_eq!(
        write["sha256_after"],
        "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    );
    env.qwarden(["audit", "verify"]).run().success();
});

sessiontest!(the_agents_exit_code_is_qwardens, |env, who| {
    setup(env, "sandbox", AGENT);
    let out = run(env, who, &["--", "sh", "-c", "exit 7"]).run();
    out.code(7);
    let out = run(env, who, &["--", "sh", "-c", "kill -TERM $$"]).run();
    out.code(128 + 15);
    run(env, who, &["--", "no-such-command-anywhere"])
        .run()
        .code(3)
        .stderr_has("command `no-such-command-anywhere` not found in the sandbox's PATH");
});

sessiontest!(
    writes_outside_the_write_scopes_are_refused_and_recorded,
    |env, who| {
        setup(env, "sandbox", AGENT);
        // Not under /tmp: the sandbox's /tmp is its own.
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let outside = dir.path().join("outside.txt");
        let script = format!(
            "echo x > README.md; echo $? ; echo y > {} ; echo $?; rm src/circuit.py.nope 2>/dev/null; mkdir newdir; echo $?",
            outside.display()
        );
        let out = run(env, who, &["--", "sh", "-c", &script]).run();
        out.success();
        assert_eq!(
            std::fs::read_to_string(env.project.join("README.md")).unwrap(),
            "read me\n"
        );
        assert!(!outside.exists());
        assert!(!env.project.join("newdir").exists());
        let entries = ledger(env);
        assert_violation(&entries, "open for write", "mount-namespace", "README.md");
        assert_violation(&entries, "open for write", "mount-namespace", "outside.txt");
        assert_violation(&entries, "create", "mount-namespace", "newdir");
    }
);

sessiontest!(
    protected_paths_stay_read_only_whether_or_not_they_exist,
    |env, who| {
        setup(env, "sandbox", AGENT);
        std::fs::create_dir_all(env.project.join("src/.git/hooks")).unwrap();
        let script = "echo evil > src/.git/hooks/pre-commit; echo $?; mkdir -p src/.github/workflows; echo $?; echo x > src/.envrc; echo $?";
        let out = run(env, who, &["--", "sh", "-c", script]).run();
        out.success();
        assert!(!env.project.join("src/.git/hooks/pre-commit").exists());
        assert!(!env.project.join("src/.github").exists());
        assert!(!env.project.join("src/.envrc").exists());
        let entries = ledger(env);
        assert_violation(
            &entries,
            "open for write",
            "protected-path",
            ".git/hooks/pre-commit",
        );
        assert_violation(&entries, "create", "protected-path", "src/.github");
        assert_violation(&entries, "open for write", "protected-path", "src/.envrc");
    }
);

sessiontest!(credential_files_are_never_readable, |env, who| {
    setup(env, "sandbox", AGENT);
    let qiskit = env.home.join(".qiskit");
    std::fs::create_dir_all(&qiskit).unwrap();
    std::fs::write(
        qiskit.join("qiskit-ibm.json"),
        "{\"default-ibm-quantum\": {\"token\": \"CANARY-TOKEN\"}}",
    )
    .unwrap();
    let script = format!(
        "cat ~/.qiskit/qiskit-ibm.json; cat {}; ln -s {} src/link; cat src/link; ln {} src/hard; true",
        qiskit.join("qiskit-ibm.json").display(),
        qiskit.join("qiskit-ibm.json").display(),
        qiskit.join("qiskit-ibm.json").display()
    );
    let out = run(env, who, &["--", "sh", "-c", &script]).run();
    out.success().stdout_lacks("CANARY-TOKEN");
    assert!(!env.project.join("src/hard").exists());
    let entries = ledger(env);
    assert_violation(
        &entries,
        "open for read",
        "credential-guard",
        ".qiskit/qiskit-ibm.json",
    );
    assert_violation(
        &entries,
        "open for read",
        "credential-guard",
        "src/link -> ",
    );
    assert_violation(
        &entries,
        "hard link from",
        "credential-guard",
        "qiskit-ibm.json",
    );
});

sessiontest!(
    reads_outside_the_scopes_are_refused_and_recorded,
    |env, who| {
        setup(env, "sandbox", AGENT);
        let dir = tempfile::Builder::new()
            .prefix("elsewhere")
            .tempdir_in("/var/tmp")
            .unwrap();
        let secret = dir.path().join("secret.txt");
        std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
        std::fs::write(&secret, "SECRET-OUTSIDE").unwrap();
        let out = run(
            env,
            who,
            &["--", "sh", "-c", &format!("cat {}; true", secret.display())],
        )
        .run();
        out.success().stdout_lacks("SECRET-OUTSIDE");
        assert_violation(
            &ledger(env),
            "open for read",
            "mount-namespace",
            "secret.txt",
        );
    }
);

sessiontest!(escape_system_calls_are_refused_and_recorded, |env, who| {
    setup(env, "sandbox", AGENT);
    // perl's syscall() reaches the raw system calls (x86_64 numbers).
    let script = r#"
        sleep 100 & SIB=$!
        perl -e 'print "ptrace:", syscall(101, 16, $ARGV[0], 0, 0), "\n"' $SIB
        perl -e 'my $p = "\0" x 120; print "io_uring:", syscall(425, 4, $p), "\n"'
        perl -e 'print "personality:", syscall(135, 0x0040000), "\n"'
        perl -e 'my $c = "x"; print "tiocsti:", (ioctl(STDIN, 0x5412, $c) ? 1 : -1), "\n"'
        perl -e 'print "bpf:", syscall(321, 0, 0, 0), "\n"'
        unshare -U true; echo "unshare:$?"
        mount -t tmpfs none /tmp; echo "mount:$?"
        kill $SIB
    "#;
    let out = run(env, who, &["--", "sh", "-c", script]).run();
    out.success()
        .stdout_has("ptrace:-1")
        .stdout_has("io_uring:-1")
        .stdout_has("personality:-1")
        .stdout_has("tiocsti:-1")
        .stdout_has("bpf:-1")
        .stdout_lacks("unshare:0")
        .stdout_lacks("mount:0");
    let entries = ledger(env);
    for name in [
        "ptrace",
        "io_uring_setup",
        "personality",
        "ioctl",
        "bpf",
        "unshare",
        "mount",
    ] {
        assert_violation(&entries, &format!("syscall {name}"), "seccomp", "");
    }
});

sessiontest!(devices_and_the_supervisor_are_out_of_reach, |env, who| {
    setup(env, "sandbox", AGENT);
    let script =
        "cat /dev/kmsg; head -c1 /dev/vda; cat /proc/1/environ; ls /proc | grep -c '^[0-9]'; true";
    let out = run(env, who, &["--", "sh", "-c", script]).run();
    out.success();
    let entries = ledger(env);
    assert_violation(&entries, "open for read", "mount-namespace", "/dev/kmsg");
    assert_violation(
        &entries,
        "open for read",
        "mount-namespace",
        "/proc/1/environ",
    );
    // Only the sandbox's own processes are visible: init, sh, ls, grep.
    let visible: u32 = out.stdout.lines().last().unwrap().trim().parse().unwrap();
    assert!(visible <= 5, "{visible} processes visible");
});

sessiontest!(the_process_limit_holds_a_fork_bomb, |env, who| {
    setup(env, "sandbox", AGENT);
    let script = r#"perl -e 'my $n = 0; for (1..500) { my $p = fork(); if (!defined $p) { print "held after $n\n"; exit 0 } if ($p == 0) { sleep 1000; exit 0 } $n++ } print "not held\n"'"#;
    let out = run(env, who, &["--", "sh", "-c", script]).run();
    out.success()
        .stdout_has("held after")
        .stdout_lacks("not held");
    let s = summary(&out.stderr);
    if s["isolation"].as_str().unwrap().contains("cgroup") {
        // Where a pids cgroup holds the tree, its refusals are counted and recorded.
        assert_violation(&ledger(env), "exceed the process limit", "cgroup", "");
    }
});

sessiontest!(the_memory_limit_holds_a_memory_hog, |env, who| {
    setup(env, "sandbox", AGENT);
    let out = run(
        env,
        who,
        &[
            "--",
            "perl",
            "-e",
            "my $x = 'a' x (1024*1024*1024); print length($x), \"\\n\"",
        ],
    )
    .run();
    assert_ne!(
        out.exit_code(),
        Some(0),
        "a 1 GiB string fit in a 512 MiB session"
    );
    out.stdout_lacks("1073741824");
});

sessiontest!(staging_writes_become_a_review_branch, |env, who| {
    setup(env, "staging", AGENT);
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "safe.directory=*"])
            .args(args)
            .current_dir(&env.project)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    git(&["init", "-q"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@e", "add", "-A"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@e",
        "commit",
        "-qm",
        "base",
    ]);
    let head = git(&["rev-parse", "HEAD"]);
    let out = run(
        env,
        who,
        &[
            "--",
            "sh",
            "-c",
            "echo \"print('ghz')\" > src/circuit.py; echo new > src/new.py",
        ],
    )
    .run();
    out.success();
    assert_eq!(
        std::fs::read_to_string(env.project.join("src/circuit.py")).unwrap(),
        "print('bell')\n"
    );
    assert!(!env.project.join("src/new.py").exists());
    let s = summary(&out.stderr);
    let branch = format!("qwarden/{}", s["session"].as_str().unwrap());
    assert!(s["reviews"][0].as_str().unwrap().contains(&branch), "{s}");
    assert_eq!(git(&["rev-parse", "HEAD"]), head);
    assert_eq!(git(&["rev-parse", &format!("{branch}^")]), head);
    assert_eq!(
        git(&["show", &format!("{branch}:src/circuit.py")]),
        "print('ghz')"
    );
    assert_eq!(git(&["show", &format!("{branch}:src/new.py")]), "new");
    assert_eq!(
        git(&["status", "--porcelain"]),
        "",
        "the working tree changed"
    );
});

sessiontest!(prod_writes_are_refused, |env, who| {
    setup(
        env,
        "prod",
        "[filesystem]\nread = [\".\"]\n\n[runtime]\nspawn_processes = true\n",
    );
    let out = run(
        env,
        who,
        &["--", "sh", "-c", "echo x > src/circuit.py; echo $?"],
    )
    .run();
    out.success();
    assert_eq!(
        std::fs::read_to_string(env.project.join("src/circuit.py")).unwrap(),
        "print('bell')\n"
    );
    assert_violation(
        &ledger(env),
        "open for write",
        "mount-namespace",
        "src/circuit.py",
    );
});

sessiontest!(real_tools_run_inside, |env, who| {
    setup(env, "sandbox", AGENT);
    let script = "git init -q src/repo && git -C src/repo status --short && python3 -c 'import json, sqlite3; print(json.dumps({\"ok\": 1}))' && bash -c 'echo $HOME'";
    let out = run(env, who, &["--", "sh", "-c", script]).run();
    out.success()
        .stdout_has("{\"ok\": 1}")
        .stdout_has(&env.home.display().to_string());
    assert!(env.project.join("src/repo/.git").is_dir());
});

#[test]
fn doctor_describes_this_machine() {
    let env = Env::new();
    let out = env.qwarden(["doctor", "--json"]).run();
    out.success();
    let probes = out.json();
    let find = |f: &str| {
        probes
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["feature"] == f)
            .cloned()
            .unwrap()
    };
    assert_eq!(find("user namespaces")["ok"], true, "{probes:#}");
    assert_eq!(find("seccomp user notification")["ok"], true, "{probes:#}");
    let abi = crate::support::landlock_abi();
    let detail = find("Landlock")["detail"].as_str().unwrap().to_owned();
    assert!(detail.starts_with(&format!("ABI {abi}")), "{probes:#}");
}

#[test]
fn a_dry_run_prints_the_plan() {
    let env = Env::new();
    setup(&env, "sandbox", AGENT);
    let out = env
        .qwarden(["run", "--agent", "agent.toml", "--dry-run", "--", "true"])
        .run();
    out.success();
    let plan = out.json();
    let src = env.project.join("src").display().to_string();
    assert!(
        plan["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["op"] == "bind" && m["target"] == src.as_str() && m["writable"] == true)
    );
    assert!(
        plan["env"]
            .as_array()
            .unwrap()
            .iter()
            .all(|kv| kv[0] != "QWARDEN_STATE_DIR")
    );
    let _ = Path::new("/");
}

sessiontest!(
    without_namespaces_landlock_and_seccomp_still_hold,
    |env, who| {
        setup(env, "sandbox", AGENT);
        let qiskit = env.home.join(".qiskit");
        std::fs::create_dir_all(&qiskit).unwrap();
        std::fs::write(qiskit.join("qiskit-ibm.json"), "CANARY-TOKEN").unwrap();
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let outside = dir.path().join("outside.txt");
        let script = format!(
            "echo ok > src/in.txt; echo x > README.md; echo y > {out}; cat {cred}; cat /etc/shadow; perl -e 'print \"ptrace:\", syscall(101, 0, 0, 0, 0), \"\\n\"'; true",
            out = outside.display(),
            cred = qiskit.join("qiskit-ibm.json").display()
        );
        let out = run(env, who, &["--no-namespaces", "--", "sh", "-c", &script]).run();
        out.success()
            .stdout_lacks("CANARY-TOKEN")
            .stdout_has("ptrace:-1");
        let s = summary(&out.stderr);
        assert!(
            s["isolation"]
                .as_str()
                .unwrap()
                .starts_with("degraded: landlock+seccomp"),
            "{s}"
        );
        assert_eq!(
            std::fs::read_to_string(env.project.join("src/in.txt")).unwrap(),
            "ok\n"
        );
        assert_eq!(
            std::fs::read_to_string(env.project.join("README.md")).unwrap(),
            "read me\n"
        );
        assert!(!outside.exists());
        let entries = ledger(env);
        let start = entries
            .iter()
            .find(|e| e["kind"] == "session.start")
            .unwrap();
        assert!(
            start["isolation"].as_str().unwrap().starts_with("degraded"),
            "{start}"
        );
        assert_violation(&entries, "open for write", "landlock", "README.md");
        assert_violation(&entries, "open for write", "landlock", "outside.txt");
        assert_violation(
            &entries,
            "open for read",
            "credential-guard",
            "qiskit-ibm.json",
        );
        assert_violation(&entries, "open for read", "landlock", "/etc/shadow");
        assert_violation(&entries, "syscall ptrace", "seccomp", "");
    }
);

sessiontest!(
    without_namespaces_staging_scopes_are_read_only,
    |env, who| {
        setup(env, "staging", AGENT);
        let out = run(
            env,
            who,
            &[
                "--no-namespaces",
                "--",
                "sh",
                "-c",
                "echo x > src/circuit.py; echo $?",
            ],
        )
        .run();
        out.success();
        assert_eq!(
            std::fs::read_to_string(env.project.join("src/circuit.py")).unwrap(),
            "print('bell')\n"
        );
        assert_violation(&ledger(env), "open for write", "landlock", "src/circuit.py");
    }
);

sessiontest!(
    without_namespaces_only_tcp_under_landlock_leaves_the_sandbox,
    |env, who| {
        setup(env, "sandbox", AGENT);
        let script = r#"python3 - <<'PY'
import socket
for name, fam, typ in [("udp", socket.AF_INET, socket.SOCK_DGRAM), ("unix", socket.AF_UNIX, socket.SOCK_STREAM), ("udp6", socket.AF_INET6, socket.SOCK_DGRAM)]:
    try:
        socket.socket(fam, typ); print(name, "open")
    except OSError as e:
        print(name, "refused", e.errno)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect(("127.0.0.1", 9)); print("tcp connected")
except OSError as e:
    print("tcp refused", e.errno)
PY"#;
        let out = run(env, who, &["--no-namespaces", "--", "sh", "-c", script]).run();
        out.success()
            .stdout_has("udp refused 1")
            .stdout_has("unix refused 1")
            .stdout_has("udp6 refused 1")
            .stdout_has("tcp refused 13")
            .stdout_lacks("open")
            .stdout_lacks("connected");
        assert_violation(&ledger(env), "syscall socket", "seccomp", "");
    }
);

sessiontest!(the_agent_holds_no_privilege, |env, who| {
    setup(env, "sandbox", AGENT);
    let out = run(env, who, &["--", "sh", "-c", "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status; ps -o sid=,pid= -p $$ 2>/dev/null; env | sort"]).run();
    out.success();
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let line = out.stdout.lines().find(|l| l.starts_with(cap)).unwrap();
        assert!(line.ends_with("0000000000000000"), "{line}");
    }
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('1'))
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("Seccomp:") && l.ends_with('2'))
    );
    // The environment is the allowlist plus qwarden's own variables.
    let names: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    for leaked in [
        "QWARDEN_STATE_DIR",
        "QWARDEN_CONFIG_DIR",
        "QWARDEN_SYSTEM_CONFIG_DIR",
    ] {
        assert!(
            !names.contains(&leaked),
            "{leaked} reached the agent: {names:?}"
        );
    }
    for set in ["HOME", "TMPDIR", "QWARDEN_SESSION", "QWARDEN_AGENT", "PATH"] {
        assert!(names.contains(&set), "{set} missing: {names:?}");
    }
});

sessiontest!(the_tree_dies_with_the_supervisor, |env, who| {
    setup(env, "sandbox", AGENT);
    // A background child that ignores SIGHUP and SIGTERM, and the agent itself, both hold stdout.
    let script = "trap '' HUP TERM; (trap '' HUP TERM; sleep 100000) & echo started; sleep 100000";
    let mut running = run(env, who, &["--", "sh", "-c", script]).spawn(&env.scratch("stderr"));
    assert_eq!(running.line(), "started");
    assert!(
        running.kill_and_wait_for_eof(),
        "processes of the session outlived its supervisor"
    );
});

/// The toolchain this test binary was built with, if its directories are readable.
fn toolchain() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from)?;
    let cargo = std::env::var_os("CARGO_HOME").map_or_else(|| home.join(".cargo"), Into::into);
    let rustup = std::env::var_os("RUSTUP_HOME").map_or_else(|| home.join(".rustup"), Into::into);
    (cargo.join("bin/cargo").exists() && rustup.is_dir()).then_some((cargo, rustup))
}

#[test]
fn cargo_builds_a_crate_inside_in_every_tier() {
    let Some((cargo, rustup)) = toolchain() else {
        eprintln!("skipped: no rustup toolchain found through $CARGO_HOME / $RUSTUP_HOME");
        return;
    };
    for tier in crate::support::TIERS {
        let env = Env::new();
        setup(&env, tier, AGENT);
        let profile = env.config.join("profile.toml");
        let text = std::fs::read_to_string(&profile).unwrap().replace(
            "read_only = []",
            &format!(
                "read_only = [{:?}, {:?}]",
                cargo.display().to_string(),
                rustup.display().to_string()
            ),
        );
        std::fs::write(&profile, text).unwrap();
        std::fs::write(
            env.project.join("Cargo.toml"),
            "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .unwrap();
        std::fs::write(
            env.project.join("src/main.rs"),
            "fn main() { println!(\"hello from the sandbox\"); }\n",
        )
        .unwrap();
        // The lock file is made beforehand: the project root is read-only for the agent.
        let lock = std::process::Command::new(cargo.join("bin/cargo"))
            .args(["generate-lockfile", "--offline"])
            .current_dir(&env.project)
            .status()
            .unwrap();
        assert!(lock.success());
        let script = format!(
            "export CARGO_HOME={0} RUSTUP_HOME={1} CARGO_TARGET_DIR=/tmp/target PATH={0}/bin:$PATH; cargo run --offline -q",
            cargo.display(),
            rustup.display()
        );
        let out = run(&env, As::Invoker, &["--", "sh", "-c", &script]).run();
        out.success().stdout_has("hello from the sandbox");
        assert!(
            !env.project.join("target").exists(),
            "{tier}: the build wrote into the project"
        );
    }
}

sessiontest!(
    a_protected_path_that_slips_past_the_observer_is_quarantined,
    |env, who| {
        setup(env, "sandbox", AGENT);
        // bind(2) makes a socket file without any notified system call: only the write-set audit at
        // the end can see it.
        let script =
            "python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"src/.envrc\")'";
        let out = run(env, who, &["--", "sh", "-c", script]).run();
        out.success();
        assert!(
            std::fs::symlink_metadata(env.project.join("src/.envrc")).is_err(),
            "left in the tree"
        );
        let entries = ledger(env);
        assert_violation(
            &entries,
            "change a protected path",
            "write-set-audit",
            "src/.envrc",
        );
        let v = violations(&entries)
            .into_iter()
            .find(|v| v["control"] == "write-set-audit")
            .unwrap();
        let undone = v["details"]["undone"].as_str().unwrap();
        let moved = undone.strip_prefix("moved to ").unwrap();
        assert!(
            moved.starts_with(env.state.join("quarantine").to_str().unwrap()),
            "{v}"
        );
        assert!(std::fs::symlink_metadata(moved).is_ok());
    }
);

sessiontest!(guarded_directories_cannot_be_moved_away, |env, who| {
    setup(
        env,
        "sandbox",
        "[filesystem]\nread = [\".\"]\nwrite = [\"src\"]\ndeny = [\"src/vault/key.txt\"]\n\n[runtime]\nspawn_processes = true\n",
    );
    std::fs::create_dir_all(env.project.join("src/.git/hooks")).unwrap();
    std::fs::write(env.project.join("src/.git/config"), "[core]\n").unwrap();
    std::fs::create_dir_all(env.project.join("src/vault")).unwrap();
    std::fs::write(env.project.join("src/vault/key.txt"), "HIDDEN-KEY").unwrap();
    // Renaming the directory that holds a read-only mount or a mask would carry it away.
    let script = "mv src/.git src/.git-old; echo git:$?; mv src/vault src/open; echo vault:$?; cat src/open/key.txt src/vault/key.txt; true";
    let out = run(env, who, &["--", "sh", "-c", script]).run();
    out.success()
        .stdout_lacks("git:0")
        .stdout_lacks("vault:0")
        .stdout_lacks("HIDDEN-KEY");
    assert!(env.project.join("src/.git/config").exists());
    assert!(env.project.join("src/vault/key.txt").exists());
    assert_violation(
        &ledger(env),
        "open for read",
        "mount-namespace",
        "src/vault/key.txt",
    );
});

#[test]
fn the_sessions_checkpoint_is_pushed_to_the_profiles_witnesses() {
    let env = Env::new();
    setup(&env, "sandbox", AGENT);
    // A first session creates the ledger (and its key, which the witness is told to trust).
    run(&env, As::Invoker, &["--", "true"]).run().success();
    let (_witness, _) = crate::audit::start_witness(&env);
    let out = run(&env, As::Invoker, &["--", "true"]).run();
    out.success();
    let s = summary(&out.stderr);
    let size = s["checkpoint_size"].as_u64().unwrap();
    assert_eq!(
        s["witnessed"][0],
        format!("w.test cosigned size {size}"),
        "{s}"
    );
    // The ledger now verifies as anchored at that size.
    env.qwarden(["audit", "verify"])
        .run()
        .success()
        .stdout_has(&format!("anchored     up to size {size} by a witness"));
}

#[test]
fn the_summary_escapes_what_the_agent_names() {
    let env = Env::new();
    setup(&env, "sandbox", AGENT);
    let out = env
        .qwarden(["run", "--agent", "agent.toml", "--", "sh", "-c"])
        .arg("touch \"src/$(printf 'x\\033[2J\\033]52;c;Y3VybA==\\007')\"")
        .run();
    out.success();
    assert!(
        !out.stderr.contains('\u{1b}'),
        "raw escape in: {:?}",
        out.stderr
    );
    assert!(out.stderr.contains("\\u{1b}[2J"), "{}", out.stderr);
}

#[test]
fn etc_shows_only_what_any_user_may_read() {
    use std::os::unix::fs::PermissionsExt;
    // A root-only file below /etc on this machine, if there is one (Debian: /etc/ssl/private).
    let private = [
        "/etc/ssl/private",
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/security/opasswd",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| {
        p.symlink_metadata()
            .is_ok_and(|m| m.permissions().mode() & 0o004 == 0)
    });
    let Some(private) = private else {
        eprintln!("skipped: no root-only path under /etc here");
        return;
    };
    let env = Env::new();
    setup(&env, "sandbox", AGENT);
    let script = format!(
        "ls -a {p} && echo LISTED; cat {p} && echo READ; true",
        p = private.display()
    );
    let out = run(&env, As::Invoker, &["--", "sh", "-c", &script]).run();
    out.success().stdout_lacks("READ");
    if private.is_dir() {
        out.stdout_lacks("LISTED");
    }
}

sessiontest!(setuid_files_cannot_be_made, |env, who| {
    setup(env, "sandbox", AGENT);
    let script = r#"cp /bin/true src/t; chmod u+s src/t; echo chmod:$?; python3 -c 'import os; os.open("src/u", os.O_CREAT | os.O_WRONLY, 0o4755)'; echo open:$?; ls -l src"#;
    let out = run(env, who, &["--", "sh", "-c", script]).run();
    out.success().stdout_lacks("chmod:0").stdout_lacks("open:0");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.project.join("src/t"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o6000, 0, "{mode:o}");
    assert!(!env.project.join("src/u").exists());
    let entries = ledger(env);
    assert_violation(&entries, "syscall fchmodat", "seccomp", "");
    assert_violation(
        &entries,
        "create a setuid or setgid file",
        "seccomp-notify",
        "mode 4755",
    );
});

sessiontest!(a_sigterm_ends_the_session_the_normal_way, |env, who| {
    setup(env, "sandbox", AGENT);
    let script = "trap 'echo got-term; exit 3' TERM; echo started; while :; do sleep 1; done";
    let stderr = env.scratch("stderr");
    let mut running = run(env, who, &["--", "sh", "-c", script]).spawn(&stderr);
    assert_eq!(running.line(), "started");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &running.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(running.line(), "got-term");
    assert!(running.wait_for_eof(), "the session did not end");
    // qwarden survived the signal and closed the session: session.end is the last entry.
    let entries = ledger(env);
    let last = entries.last().unwrap();
    assert_eq!(last["kind"], "session.end", "{last}");
    assert_eq!(last["exit"]["code"], 3, "{last}");
});

sessiontest!(
    without_namespaces_orphans_do_not_outlive_the_agent,
    |env, who| {
        setup(env, "sandbox", AGENT);
        // A grandchild reparented away from the agent still holds stdout; the session must kill it.
        let script = "sh -c 'sleep 100000 & wait' & echo started; exit 0";
        let stderr = env.scratch("stderr");
        let mut running =
            run(env, who, &["--no-namespaces", "--", "sh", "-c", script]).spawn(&stderr);
        assert_eq!(running.line(), "started");
        assert!(
            running.wait_for_eof(),
            "an orphan of the agent outlived the session"
        );
    }
);

sessiontest!(kernel_tunables_and_private_areas_are_bounded, |env, who| {
    setup(env, "sandbox", AGENT);
    let out = run(env, who, &["--", "sh", "-c", "cat /proc/self/mountinfo"]).run();
    out.success();
    let mount = |point: &str| {
        out.stdout
            .lines()
            .find(|l| l.split_whitespace().nth(4) == Some(point))
            .unwrap_or_else(|| panic!("no mount at {point}:\n{}", out.stdout))
            .to_owned()
    };
    // /proc/sys is read-only at mount level, not only under Landlock.
    let sys = mount("/proc/sys");
    assert!(
        sys.split_whitespace()
            .nth(5)
            .unwrap()
            .split(',')
            .any(|o| o == "ro"),
        "{sys}"
    );
    // /tmp holds at most the session's memory limit (512 MiB in AGENT).
    let tmp = mount("/tmp");
    assert!(tmp.contains("size=524288k"), "{tmp}");
});
