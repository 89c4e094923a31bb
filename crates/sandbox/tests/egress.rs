//! The sandbox's side of egress control, in real sandboxes.
//!
//! This test binary is also the sandbox's init: `Sandbox::start` runs it again with
//! [`INIT_ARG`], and `main` hands over to `qwarden_sandbox::init` (an init must be a fresh,
//! single-threaded process, which a libtest harness is not, so this file has its own small
//! runner: `cargo test -p qwarden-sandbox --test egress [FILTER…]`). Each test starts the real
//! init with a real plan, serves the egress endpoints it hands over and runs the real observer;
//! the sandboxed command is `python3`, which writes what it saw to a file in a write scope.
//!
//! Run as root, the whole set runs again as `nobody` (uid 65534, through `setpriv`), since the
//! sandbox must work for both.
//!
//! Nothing here sleeps or waits with a timeout: the agent's exit is the synchronisation point
//! (a connection it made is in the listener's backlog, a datagram it sent is in the socket's
//! queue, by then), and the one server that must answer while the agent waits is unblocked by
//! shutting its listener down if the agent never comes.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{Arc, mpsc};
use std::thread;

use qwarden_sandbox::observe::{self, Observation};
use qwarden_sandbox::plan::{
    DEFAULT_PROXY_PORT, Egress, Isolation, Limits, Plan, Spec, View, WriteMode, WriteScope,
};
use qwarden_sandbox::spawn::{EndpointKind, Report, Sandbox};

/// The argument that makes this binary the sandbox init.
const INIT_ARG: &str = "qwarden-sandbox-init";
/// Set in the environment of the run as `nobody`.
const CHILD_ENV: &str = "QWARDEN_EGRESS_TEST_UNPRIVILEGED";

// ---------------------------------------------------------------------------------------------
// The runner.

type Test = (&'static str, fn());

const TESTS: &[Test] = &[
    (
        "endpoints_reach_the_supervisor_and_serve_the_sandbox",
        endpoints_reach_the_supervisor_and_serve_the_sandbox,
    ),
    (
        "direct_connections_are_unreachable_and_recorded",
        direct_connections_are_unreachable_and_recorded,
    ),
    (
        "the_proxy_port_and_the_dns_stub_follow_the_plan",
        the_proxy_port_and_the_dns_stub_follow_the_plan,
    ),
    (
        "degraded_mode_reaches_only_the_hosts_proxy_port",
        degraded_mode_reaches_only_the_hosts_proxy_port,
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(INIT_ARG) {
        let code = qwarden_sandbox::init::main_inherited();
        return ExitCode::from(u8::try_from(code).unwrap_or(125));
    }
    // libtest's flags (`--nocapture`, `--test-threads=1`, …) mean nothing here; other arguments
    // are name filters.
    let filters: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected: Vec<&Test> = TESTS
        .iter()
        .filter(|(name, _)| filters.iter().all(|f| name.contains(f)))
        .collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let who = if std::env::var_os(CHILD_ENV).is_some() {
        " (as nobody)"
    } else {
        ""
    };
    println!("\nrunning {} tests{who}", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let ok = std::panic::catch_unwind(test).is_ok();
        println!("test {name}{who} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(name.to_string());
        }
    }
    if is_root() && std::env::var_os(CHILD_ENV).is_none() && !selected.is_empty() {
        match unprivileged_run(&filters) {
            Ok(true) => println!("test the_same_as_an_unprivileged_user ... ok"),
            Ok(false) => {
                println!("test the_same_as_an_unprivileged_user ... FAILED");
                failed.push("the_same_as_an_unprivileged_user".into());
            }
            Err(why) => println!("test the_same_as_an_unprivileged_user ... skipped: {why}"),
        }
    }
    if failed.is_empty() {
        println!("\ntest result: ok. {} passed\n", selected.len());
        ExitCode::SUCCESS
    } else {
        println!("\nfailures: {}\ntest result: FAILED\n", failed.join(", "));
        ExitCode::FAILURE
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs the selected tests again as `nobody`; `Err` when that cannot be arranged here.
fn unprivileged_run(filters: &[&str]) -> Result<bool, String> {
    if Command::new("setpriv").arg("--version").output().is_err() {
        return Err("`setpriv` is not available to drop privileges".into());
    }
    let status = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(std::env::current_exe().unwrap())
        .args(filters)
        .env(CHILD_ENV, "1")
        .env("TMPDIR", "/tmp")
        .status()
        .map_err(|e| e.to_string())?;
    Ok(status.success())
}

// ---------------------------------------------------------------------------------------------
// Sandboxes.

fn python() -> &'static str {
    // The distribution's interpreter, not a version manager's shim.
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// A session's directories: a project (read-only, with a writable `out/`), and the host-side
/// directories the sandbox needs.
struct Dirs {
    _tmp: tempfile::TempDir,
    base: PathBuf,
}

impl Dirs {
    fn new() -> Dirs {
        let tmp = tempfile::Builder::new()
            .prefix("qwarden-egress-")
            .tempdir()
            .unwrap();
        let base = tmp.path().to_path_buf();
        for d in ["project/out", "root", "run/home", "run/tmp"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        Dirs { _tmp: tmp, base }
    }

    fn project(&self) -> PathBuf {
        self.base.join("project")
    }

    fn result(&self) -> PathBuf {
        self.project().join("out/result.json")
    }

    fn spec(&self, isolation: Isolation, egress: Egress, script: &str) -> Spec {
        let full = isolation == Isolation::Full;
        Spec {
            session: "egress-test".into(),
            read: vec![self.project()],
            write: vec![WriteScope {
                path: self.project().join("out"),
                mode: WriteMode::Direct,
            }],
            hidden: Vec::new(),
            credential_stores: Vec::new(),
            protected: Vec::new(),
            system_paths: Vec::new(),
            devices: Vec::new(),
            home: if full {
                self.base.join("home")
            } else {
                self.base.join("run/home")
            },
            cwd: self.project(),
            argv: vec![
                python().into(),
                "-S".into(),
                "-E".into(),
                "-c".into(),
                script.into(),
                self.result().display().to_string(),
            ],
            set_env: Vec::new(),
            limits: Limits {
                memory_bytes: 1 << 30,
                processes: 64,
                open_files: 256,
                cpu_seconds: 60,
            },
            isolation,
            landlock_min_abi: 0,
            observe_reads: false,
            egress,
            root_dir: self.base.join("root"),
            run_dir: self.base.join("run"),
        }
    }

    /// What the sandboxed script wrote.
    fn results(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.result()).unwrap_or_else(|e| {
            panic!(
                "the sandboxed script left no result in {}: {e}",
                self.result().display()
            )
        });
        serde_json::from_str(&text).unwrap()
    }
}

/// What a sandbox did.
struct Ran {
    /// The init's reports, in order, as `endpoint:<kind>` and `listener`.
    order: Vec<String>,
    observations: Vec<Observation>,
    status: i32,
}

/// Starts the sandbox for `spec`, hands each endpoint to `serve` as it arrives, observes the
/// agent with the production observer and returns once the init is gone.
fn run(spec: &Spec, mut serve: impl FnMut(EndpointKind, OwnedFd)) -> Ran {
    let env = [("PATH".to_owned(), "/usr/bin:/bin".to_owned())];
    let plan = Plan::build(spec, &env).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut sandbox = Sandbox::start(&plan, &exe, &[INIT_ARG]).unwrap();
    let mut order = Vec::new();
    let mut observer = None;
    let mut status = None;
    loop {
        match sandbox.next() {
            Report::Endpoint { kind, fd } => {
                order.push(format!("endpoint:{kind:?}"));
                serve(kind, fd);
            }
            Report::Listener(fd) => {
                order.push("listener".into());
                let view = View::of(spec);
                observer = Some(thread::spawn(move || {
                    let listener = qwarden_sandbox::seccomp::Listener::from(fd);
                    let mut seen = Vec::new();
                    let mut hashes = observe::HashCache::default();
                    observe::observe(&listener, &view, &mut hashes, &mut |o| {
                        seen.push(o);
                        true
                    });
                    seen
                }));
            }
            Report::Confinement(_) | Report::Warning(_) => {}
            Report::Failed(e) | Report::NotFound(e) => {
                sandbox.kill();
                panic!("the sandbox failed: {e}");
            }
            Report::Exited(s) => status = Some(s),
            Report::Closed => break,
        }
    }
    let _ = sandbox.wait();
    let observations = observer.map(|o| o.join().unwrap()).unwrap_or_default();
    Ran {
        order,
        observations,
        status: status.expect("the init reported no exit status"),
    }
}

/// The denials among `seen`, as (attempted, control, target).
fn denials(seen: &[Observation]) -> BTreeSet<(String, &'static str, String)> {
    seen.iter()
        .filter_map(|o| match o {
            Observation::Denied {
                attempted,
                control,
                target,
                ..
            } => Some((
                attempted.clone(),
                *control,
                target.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

fn denial(attempted: &str, control: &'static str, target: &str) -> (String, &'static str, String) {
    (attempted.to_owned(), control, target.to_owned())
}

/// The inode of the socket behind `fd`.
fn inode(fd: &impl AsRawFd) -> u64 {
    std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .ino()
}

/// Inodes of the sockets among this process's standard streams, which the agent inherits.
fn stdio_sockets() -> BTreeSet<u64> {
    (0..3)
        .filter_map(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// Serves one connection on `listener` on a thread: reads a line, answers `reply` and returns
/// the line. [`Server::finish`] unblocks it if nobody came.
struct Server {
    listener: Arc<TcpListener>,
    thread: thread::JoinHandle<Result<String, String>>,
}

impl Server {
    fn start(listener: TcpListener, reply: &'static [u8]) -> Server {
        let listener = Arc::new(listener);
        let l = Arc::clone(&listener);
        let thread = thread::spawn(move || {
            let (mut conn, peer) = l.accept().map_err(|e| format!("accept: {e}"))?;
            let mut line = Vec::new();
            let mut byte = [0u8];
            while conn.read(&mut byte).map_err(|e| e.to_string())? == 1 && byte != *b"\n" {
                line.push(byte[0]);
            }
            conn.write_all(reply).map_err(|e| e.to_string())?;
            Ok(format!(
                "{} from {}",
                String::from_utf8_lossy(&line),
                peer.ip()
            ))
        });
        Server { listener, thread }
    }

    /// What was received; call once the sandbox is gone.
    fn finish(self) -> Result<String, String> {
        // A listener shut down wakes its blocked accept (with EINVAL) and takes nothing more.
        // SAFETY: shutdown takes integers; the descriptor is open (we hold the listener).
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        self.thread.join().unwrap()
    }
}

/// Takes the connection waiting in `listener`'s backlog, if any, and reads it to the end.
fn backlog(listener: &TcpListener) -> Option<String> {
    listener.set_nonblocking(true).unwrap();
    let (mut conn, _) = listener.accept().ok()?;
    conn.set_nonblocking(false).unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    Some(text)
}

// ---------------------------------------------------------------------------------------------
// With namespaces.

/// Lists its sockets, then uses every endpoint: the proxy (a line out, a line back), a DNS query
/// over UDP and one over TCP, an AF_UNIX server of its own and a loopback server of its own.
const USE_ENDPOINTS: &str = r#"
import json, os, socket, sys
res = {}
def sockets():
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            out.append(int(link[8:-1]))
    return out
res["sockets_at_start"] = sockets()
p = socket.socket()
p.connect(("127.0.0.1", 3128))
p.sendall(b"CONNECT example.org:443\n")
res["proxy_reply"] = p.makefile("rb").readline().decode()
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"query", ("127.0.0.1", 53))
t = socket.socket()
t.connect(("127.0.0.1", 53))
t.sendall(b"dns over tcp")
t.close()
srv = socket.socket(socket.AF_UNIX)
srv.bind("/tmp/agent.sock")
srv.listen(1)
u = socket.socket(socket.AF_UNIX)
u.connect("/tmp/agent.sock")
u.sendall(b"unix")
res["unix"] = srv.accept()[0].recv(8).decode()
own = socket.socket()
own.bind(("127.0.0.1", 0))
own.listen(1)
mine = socket.socket(socket.AF_INET6)
mine.connect(("::ffff:127.0.0.1", own.getsockname()[1]))
res["own_server"] = "connected"
res["sockets_at_end"] = sockets()
json.dump(res, open(sys.argv[1], "w"))
"#;

fn endpoints_reach_the_supervisor_and_serve_the_sandbox() {
    let dirs = Dirs::new();
    let spec = dirs.spec(Isolation::Full, Egress::default(), USE_ENDPOINTS);
    let mut proxy = None;
    let mut dns_udp = None;
    let mut dns_tcp = None;
    let mut inodes = BTreeSet::new();
    let ran = run(&spec, |kind, fd| {
        inodes.insert(inode(&fd));
        match kind {
            EndpointKind::Proxy => {
                proxy = Some(Server::start(
                    TcpListener::from(fd),
                    b"HTTP/1.1 200 Connection established\r\n",
                ));
            }
            EndpointKind::DnsUdp => dns_udp = Some(UdpSocket::from(fd)),
            EndpointKind::DnsTcp => dns_tcp = Some(TcpListener::from(fd)),
            EndpointKind::Gateway => panic!("no gateway was asked for"),
        }
    });
    assert_eq!(
        ran.order,
        [
            "endpoint:Proxy",
            "endpoint:DnsUdp",
            "endpoint:DnsTcp",
            "listener"
        ]
    );
    assert_eq!(ran.status, 0, "the script failed");
    // What the supervisor received: the proxy's conversation, the UDP query, the TCP query.
    assert_eq!(
        proxy.unwrap().finish().unwrap(),
        "CONNECT example.org:443 from 127.0.0.1"
    );
    let udp = dns_udp.unwrap();
    udp.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from.ip().to_string().as_str()),
        (&b"query"[..], "127.0.0.1")
    );
    assert_eq!(backlog(&dns_tcp.unwrap()).as_deref(), Some("dns over tcp"));
    // What the agent saw.
    let res = dirs.results();
    assert_eq!(
        res["proxy_reply"],
        "HTTP/1.1 200 Connection established\r\n"
    );
    assert_eq!(res["unix"], "unix");
    assert_eq!(res["own_server"], "connected");
    // It never held an endpoint: at the start its only sockets were the streams it inherited.
    let stdio = stdio_sockets();
    for key in ["sockets_at_start", "sockets_at_end"] {
        let held: BTreeSet<u64> = res[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert!(held.is_disjoint(&inodes), "{key}: {held:?} ∩ {inodes:?}");
        if key == "sockets_at_start" {
            assert!(
                held.is_subset(&stdio),
                "{key}: {held:?} beyond stdio {stdio:?}"
            );
        }
    }
    // Loopback and AF_UNIX are nobody's business.
    assert_eq!(denials(&ran.observations), BTreeSet::new());
}

/// Tries each way out directly and records the errno (0: it worked).
const GO_DIRECT: &str = r#"
import json, socket, sys
def attempt(kind, family, addr, how):
    s = socket.socket(family, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    try:
        if how == "connect":
            s.connect(addr)
        elif how == "fastopen":
            s.sendto(b"x", socket.MSG_FASTOPEN, addr)
        else:
            s.sendto(b"x", addr)
        return 0
    except OSError as e:
        return e.errno
v4, v6 = socket.AF_INET, socket.AF_INET6
res = {
    "udp connect 8.8.8.8:53": attempt("udp", v4, ("8.8.8.8", 53), "connect"),
    "tcp connect 1.1.1.1:443": attempt("tcp", v4, ("1.1.1.1", 443), "connect"),
    "udp sendto 8.8.8.8:53": attempt("udp", v4, ("8.8.8.8", 53), "sendto"),
    "udp6 sendto mapped 8.8.8.8:53": attempt("udp", v6, ("::ffff:8.8.8.8", 53), "sendto"),
    "tcp6 connect 2001:4860:4860::8888:443": attempt("tcp", v6, ("2001:4860:4860::8888", 443), "connect"),
    "tcp fastopen 1.1.1.1:443": attempt("tcp", v4, ("1.1.1.1", 443), "fastopen"),
}
json.dump(res, open(sys.argv[1], "w"))
"#;

fn direct_connections_are_unreachable_and_recorded() {
    let dirs = Dirs::new();
    let spec = dirs.spec(Isolation::Full, Egress::default(), GO_DIRECT);
    let mut endpoints = Vec::new();
    let ran = run(&spec, |kind, fd| endpoints.push((kind, fd)));
    assert_eq!(ran.status, 0, "the script failed");
    let res = dirs.results();
    for (attempt, errno) in res.as_object().unwrap() {
        assert_eq!(errno.as_i64(), Some(libc::ENETUNREACH.into()), "{attempt}");
    }
    let outside = |what: &str| format!("{what} outside the egress proxy");
    assert_eq!(
        denials(&ran.observations),
        BTreeSet::from([
            denial(&outside("connect (udp)"), "netns", "8.8.8.8:53"),
            denial(&outside("connect (tcp)"), "netns", "1.1.1.1:443"),
            denial(&outside("sendto (udp)"), "netns", "8.8.8.8:53"),
            denial(&outside("sendto (udp)"), "netns", "[::ffff:8.8.8.8]:53"),
            denial(
                &outside("connect (tcp)"),
                "netns",
                "[2001:4860:4860::8888]:443"
            ),
            denial(&outside("sendto (tcp)"), "netns", "1.1.1.1:443"),
        ])
    );
    // Six attempts, six records.
    let count = ran
        .observations
        .iter()
        .filter(|o| matches!(o, Observation::Denied { .. }))
        .count();
    assert_eq!(count, 6, "{:?}", ran.observations);
}

/// Connects to the proxy's port given as the second argument and to the DNS port.
const CONNECT_PORTS: &str = r#"
import json, socket, sys
res = {}
for port in [int(p) for p in sys.argv[2:]] + [53]:
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"to %d" % port)
        res[str(port)] = 0
    except OSError as e:
        res[str(port)] = e.errno
    s.close()
json.dump(res, open(sys.argv[1], "w"))
"#;

fn the_proxy_port_and_the_dns_stub_follow_the_plan() {
    let dirs = Dirs::new();
    let egress = Egress {
        proxy_port: 8080,
        dns: false,
        gateway_port: Some(8787),
        ..Egress::default()
    };
    assert_ne!(egress.proxy_port, DEFAULT_PROXY_PORT);
    let mut spec = dirs.spec(Isolation::Full, egress, CONNECT_PORTS);
    spec.argv.push("8080".into());
    spec.argv.push("8787".into());
    let mut proxy = None;
    let mut gateway = None;
    let ran = run(&spec, |kind, fd| match kind {
        EndpointKind::Proxy => proxy = Some(TcpListener::from(fd)),
        EndpointKind::Gateway => gateway = Some(TcpListener::from(fd)),
        other => panic!("no DNS stub was asked for, got {other:?}"),
    });
    assert_eq!(
        ran.order,
        ["endpoint:Proxy", "endpoint:Gateway", "listener"]
    );
    assert_eq!(
        gateway.unwrap().local_addr().unwrap().to_string(),
        "127.0.0.1:8787"
    );
    assert_eq!(ran.status, 0, "the script failed");
    let proxy = proxy.unwrap();
    assert_eq!(
        proxy.local_addr().unwrap().to_string(),
        "127.0.0.1:8080",
        "the listener is the sandbox's, on the plan's port"
    );
    assert_eq!(backlog(&proxy).as_deref(), Some("to 8080"));
    let res = dirs.results();
    assert_eq!(res["8080"], 0);
    assert_eq!(
        res["8787"], 0,
        "the gateway's listener is reachable in the sandbox"
    );
    // Nothing listens on 53: refused by the kernel, on loopback, unrecorded.
    assert_eq!(res["53"].as_i64(), Some(libc::ECONNREFUSED.into()));
    assert_eq!(denials(&ran.observations), BTreeSet::new());
}

// ---------------------------------------------------------------------------------------------
// Without namespaces.

/// Connects to the host's proxy (port in argv[2]), to another live port (argv[3]) and to the
/// outside, and tries TCP Fast Open to the other port.
const DEGRADED: &str = r#"
import json, socket, sys
proxy, other = int(sys.argv[2]), int(sys.argv[3])
def attempt(addr, fastopen=False):
    s = socket.socket()
    try:
        if fastopen:
            s.sendto(b"fast", socket.MSG_FASTOPEN, addr)
        else:
            s.connect(addr)
            s.sendall(b"via the proxy")
        return 0
    except OSError as e:
        return e.errno
    finally:
        s.close()
res = {
    "proxy": attempt(("127.0.0.1", proxy)),
    "other": attempt(("127.0.0.1", other)),
    "outside": attempt(("8.8.8.8", 53)),
    "fastopen": attempt(("127.0.0.1", other), fastopen=True),
}
json.dump(res, open(sys.argv[1], "w"))
"#;

fn degraded_mode_reaches_only_the_hosts_proxy_port() {
    let abi = qwarden_sandbox::landlock::abi_version();
    if abi < 4 {
        eprintln!("skipped: Landlock ABI {abi} has no TCP rules, so degraded mode refuses TCP");
        return;
    }
    let dirs = Dirs::new();
    // The supervisor's proxy on the host's loopback, and another live port beside it.
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let (proxy_port, other_port) = (
        proxy.local_addr().unwrap().port(),
        other.local_addr().unwrap().port(),
    );
    let egress = Egress {
        host_proxy_port: Some(proxy_port),
        ..Egress::default()
    };
    let mut spec = dirs.spec(Isolation::LandlockOnly, egress, DEGRADED);
    spec.argv
        .extend([proxy_port.to_string(), other_port.to_string()]);
    let (tx, rx) = mpsc::channel();
    let ran = run(&spec, |kind, _| tx.send(kind).unwrap());
    drop(tx);
    assert_eq!(
        rx.iter().count(),
        0,
        "no endpoints without a network namespace"
    );
    assert_eq!(ran.order, ["listener"]);
    assert_eq!(ran.status, 0, "the script failed");
    let res = dirs.results();
    assert_eq!(res["proxy"], 0);
    assert_eq!(res["other"].as_i64(), Some(libc::EACCES.into()));
    assert_eq!(res["outside"].as_i64(), Some(libc::EACCES.into()));
    assert_eq!(res["fastopen"].as_i64(), Some(libc::EPERM.into()));
    assert_eq!(backlog(&proxy).as_deref(), Some("via the proxy"));
    assert_eq!(backlog(&other), None, "nothing reached the other port");
    assert_eq!(
        denials(&ran.observations),
        BTreeSet::from([
            denial(
                "connect (tcp) outside the egress proxy",
                "landlock",
                &format!("127.0.0.1:{other_port}")
            ),
            denial(
                "connect (tcp) outside the egress proxy",
                "landlock",
                "8.8.8.8:53"
            ),
            denial(
                "sendto with MSG_FASTOPEN (a connect that Landlock does not see)",
                "seccomp",
                ""
            ),
        ])
    );
}
