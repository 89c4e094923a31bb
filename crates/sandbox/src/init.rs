//! The sandbox's init: the process the supervisor starts (a fresh exec of qwarden, so it is
//! single-threaded and may fork freely) that builds the sandbox and runs the agent in it.
//!
//! ```text
//! supervisor ──exec──▶ init (outer): join cgroups, unshare namespaces, write uid/gid maps
//!                        └─fork─▶ pid 1: mount tree, pivot_root, hostname, loopback,
//!                                        egress endpoints (→ supervisor), non-dumpable
//!                                   └─fork─▶ agent: setsid, rlimits, drop caps, Landlock,
//!                                                   seccomp (listener → supervisor), execve
//! ```
//!
//! pid 1 reaps orphans, forwards SIGINT/SIGTERM/SIGHUP to the agent's session, and when the agent
//! exits kills whatever it left behind, reports the agent's wait status on the control socket and
//! exits. Every process has `PR_SET_PDEATHSIG(SIGKILL)`, so the tree dies with the supervisor.
//!
//! Messages to the supervisor are one byte of tag and a payload: `L` carries the seccomp
//! listener, `E` a fatal setup error, `W` a warning (e.g. a limit that could not be applied),
//! `I` how the agent was confined, `N` that the command was not found in the sandbox, `X` the
//! agent's wait status (4 bytes, little-endian).
//!
//! With namespaces, pid 1 first hands over the egress endpoints it made in the sandbox's network
//! namespace (see [`Egress`]), one per message, each attached with `SCM_RIGHTS` and with an empty
//! payload: `P` the egress proxy's TCP listener (`127.0.0.1:proxy_port`), `U` the DNS stub's UDP
//! socket and `T` its TCP listener (both `127.0.0.1:53`, only with [`Egress::dns`]), `G` the QPU
//! job gateway's TCP listener (`127.0.0.1:gateway_port`, only with [`Egress::gateway_port`]). They come
//! before `L`, and pid 1 closes its copies before it forks the agent, so no process in the sandbox
//! ever holds them ([`EndpointKind`] names the tags).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::landlock::{self, Rules};
use crate::plan::{Egress, Isolation, Mount, Plan};
use crate::seccomp;
use crate::spawn::EndpointKind;
use crate::sys;

/// The backlog of the endpoints' TCP listeners: a session may hold a thousand tunnels open, and
/// connections wait there until the supervisor accepts them.
pub const ENDPOINT_BACKLOG: i32 = 1024;

/// The descriptor number the control socket has in the init process.
pub const CONTROL_FD: i32 = 3;

/// The largest plan accepted on the control socket.
pub const MAX_PLAN: usize = 1 << 20;

/// Runs the init on the control socket inherited as descriptor [`CONTROL_FD`]; returns the exit
/// code for the process.
pub fn main_inherited() -> i32 {
    match sys::inherited(CONTROL_FD) {
        Some(fd) => main(fd),
        None => {
            eprintln!("qwarden: the sandbox init is started by `qwarden run`, not by hand");
            2
        }
    }
}

/// Runs the init on `control`; returns the exit code for the process.
pub fn main(control: OwnedFd) -> i32 {
    let ctl = control.as_fd();
    match run(ctl) {
        Ok(code) => code,
        Err(e) => {
            let _ = send(ctl, b'E', e.as_bytes());
            125
        }
    }
}

fn send(ctl: BorrowedFd<'_>, tag: u8, payload: &[u8]) -> io::Result<()> {
    let mut msg = Vec::with_capacity(payload.len() + 1);
    msg.push(tag);
    msg.extend_from_slice(payload);
    sys::send_message(ctl, &msg, None)
}

fn ctx<T>(what: &str, r: io::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

fn run(ctl: BorrowedFd<'_>) -> Result<i32, String> {
    ctx(
        "cannot arrange to die with the supervisor",
        sys::set_parent_death_signal(libc::SIGKILL),
    )?;
    if sys::parent_pid() == 1 {
        return Err("the supervisor exited before the sandbox started".into());
    }
    let (bytes, _) = ctx(
        "cannot read the sandbox plan",
        sys::recv_message(ctl, MAX_PLAN),
    )?;
    let plan: Plan = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the sandbox plan is malformed: {e}"))?;
    if plan.isolation != Isolation::Full {
        return supervise_agent(ctl, &plan, false);
    }
    let (uid, gid) = sys::ids();
    ctx(
        "cannot create namespaces (user, mount, pid, ipc, uts, net, cgroup)",
        sys::unshare(
            libc::CLONE_NEWUSER
                | libc::CLONE_NEWNS
                | libc::CLONE_NEWPID
                | libc::CLONE_NEWIPC
                | libc::CLONE_NEWUTS
                | libc::CLONE_NEWNET
                | libc::CLONE_NEWCGROUP,
        ),
    )?;
    ctx(
        "cannot write /proc/self/setgroups",
        std::fs::write("/proc/self/setgroups", "deny"),
    )?;
    ctx(
        "cannot write /proc/self/uid_map",
        std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n")),
    )?;
    ctx(
        "cannot write /proc/self/gid_map",
        std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n")),
    )?;
    match ctx("cannot fork the sandbox's pid 1", sys::fork())? {
        sys::Fork::Parent(pid) => {
            // The outer init relays pid 1's exit code, and a SIGTERM from the supervisor (SIGINT
            // and SIGHUP from the terminal reach pid 1 directly: it is in the same group).
            ctx(
                "cannot install signal handlers",
                sys::catch_signal(libc::SIGTERM),
            )?;
            let status = loop {
                match sys::waitpid(pid, 0) {
                    Ok((_, status)) => break status,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        let sig = sys::PENDING_SIGNAL.swap(0, std::sync::atomic::Ordering::SeqCst);
                        if sig != 0 {
                            let _ = sys::kill(pid, sig);
                        }
                    }
                    Err(e) => return Err(format!("waiting for the sandbox: {e}")),
                }
            };
            Ok(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                125
            })
        }
        sys::Fork::Child => {
            ctx(
                "cannot arrange to die with the supervisor",
                sys::set_parent_death_signal(libc::SIGKILL),
            )?;
            build_root(&plan)?;
            ctx("cannot set the host name", sys::sethostname(&plan.hostname))?;
            ctx("cannot bring up loopback", sys::loopback_up())?;
            // While pid 1 still holds its namespace capabilities (port 53 is privileged), and
            // before the agent exists, so the agent never holds them.
            hand_over_endpoints(ctl, &plan.egress)?;
            // The agent runs as the same uid: without this it could read pid 1 through /proc.
            ctx("cannot make pid 1 non-dumpable", sys::set_dumpable(false))?;
            supervise_agent(ctl, &plan, true)
        }
    }
}

/// Makes the egress endpoints on loopback in the sandbox's network namespace, sends each to the
/// supervisor and closes this process's copy (the sockets are close-on-exec as well).
fn hand_over_endpoints(ctl: BorrowedFd<'_>, egress: &Egress) -> Result<(), String> {
    use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
    let at = |port| SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let listen = |kind: EndpointKind, port: u16| -> Result<OwnedFd, String> {
        let cannot = |e: io::Error| {
            format!(
                "cannot make the {} listener at 127.0.0.1:{port} in the sandbox: {e}",
                kind.describe()
            )
        };
        let l = TcpListener::bind(at(port)).map_err(cannot)?;
        sys::set_backlog(l.as_fd(), ENDPOINT_BACKLOG).map_err(cannot)?;
        Ok(l.into())
    };
    let mut endpoints = vec![(
        EndpointKind::Proxy,
        listen(EndpointKind::Proxy, egress.proxy_port)?,
    )];
    if egress.dns {
        let udp = UdpSocket::bind(at(53)).map_err(|e| {
            format!("cannot make the dns stub (udp) socket at 127.0.0.1:53 in the sandbox: {e}")
        })?;
        endpoints.push((EndpointKind::DnsUdp, udp.into()));
        endpoints.push((EndpointKind::DnsTcp, listen(EndpointKind::DnsTcp, 53)?));
    }
    if let Some(port) = egress.gateway_port {
        endpoints.push((EndpointKind::Gateway, listen(EndpointKind::Gateway, port)?));
    }
    for (kind, fd) in endpoints {
        ctx(
            &format!("cannot hand the {} to the supervisor", kind.describe()),
            sys::send_message(ctl, &[kind.tag()], Some(fd.as_fd())),
        )?;
        drop(fd);
    }
    Ok(())
}

/// In `root`, the path for sandbox path `p`.
fn under(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

fn mkdirs(p: &Path, mode: u32) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(p)
        .map_err(|e| format!("cannot create mount point {}: {e}", p.display()))
}

const LOCKED: libc::c_ulong = libc::ST_NOSUID
    | libc::ST_NODEV
    | libc::ST_NOEXEC
    | libc::ST_NOATIME
    | libc::ST_NODIRATIME
    | libc::ST_RELATIME;

/// Builds the new root under `plan.root_dir` and pivots into it.
fn build_root(plan: &Plan) -> Result<(), String> {
    let root = plan.root_dir.as_path();
    ctx(
        "cannot make the mount tree private",
        sys::mount(
            None,
            Path::new("/"),
            None,
            libc::MS_REC | libc::MS_PRIVATE,
            None,
        ),
    )?;
    ctx(
        "cannot mount the sandbox root",
        sys::mount(
            Some(Path::new("tmpfs")),
            root,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some("mode=0755"),
        ),
    )?;
    for m in &plan.mounts {
        apply(root, m)?;
    }
    ctx(
        "cannot enter the sandbox root",
        std::env::set_current_dir(root),
    )?;
    ctx(
        "pivot_root",
        sys::pivot_root(Path::new("."), Path::new(".")),
    )?;
    ctx(
        "cannot detach the host's root",
        sys::umount_detach(Path::new(".")),
    )?;
    ctx(
        "cannot enter the sandbox root",
        std::env::set_current_dir("/"),
    )?;
    ctx(
        "cannot make the sandbox root read-only",
        sys::mount(
            None,
            Path::new("/"),
            None,
            libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
            None,
        ),
    )
}

fn apply(root: &Path, m: &Mount) -> Result<(), String> {
    match m {
        Mount::Tmpfs { target, mode, size } => {
            let t = under(root, target);
            mkdirs(&t, 0o755)?;
            let options = if *size > 0 {
                format!("mode={mode:o},size={size}")
            } else {
                format!("mode={mode:o}")
            };
            ctx(
                &format!("cannot mount a tmpfs at {}", target.display()),
                sys::mount(
                    Some(Path::new("tmpfs")),
                    &t,
                    Some("tmpfs"),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    Some(&options),
                ),
            )
        }
        Mount::Pin { target } => {
            let t = under(root, target);
            ctx(
                &format!("cannot pin {}", target.display()),
                sys::mount(Some(&t), &t, None, libc::MS_BIND, None),
            )
        }
        Mount::ReadOnly { target } => {
            let t = under(root, target);
            ctx(
                &format!("cannot make {} read-only", target.display()),
                sys::mount(Some(&t), &t, None, libc::MS_BIND | libc::MS_REC, None),
            )?;
            let inherited = sys::mount_flags(&t).unwrap_or(0) & LOCKED;
            ctx(
                &format!("cannot make {} read-only", target.display()),
                sys::mount(
                    None,
                    &t,
                    None,
                    libc::MS_REMOUNT
                        | libc::MS_BIND
                        | libc::MS_RDONLY
                        | libc::MS_NOSUID
                        | inherited,
                    None,
                ),
            )
        }
        Mount::Bind {
            source,
            target,
            writable,
        } => bind(root, source, target, *writable),
        Mount::Symlink { path, to } => {
            let t = under(root, path);
            if let Some(parent) = t.parent() {
                mkdirs(parent, 0o755)?;
            }
            ctx(
                &format!("cannot create the link {}", path.display()),
                std::os::unix::fs::symlink(to, &t),
            )
        }
        Mount::File { path, contents } => {
            let t = under(root, path);
            ctx(
                &format!("cannot write {}", path.display()),
                std::fs::write(&t, contents),
            )?;
            ctx(
                &format!("cannot set the mode of {}", path.display()),
                std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o644)),
            )
        }
        Mount::Mask { target, dir } => {
            let t = under(root, target);
            if *dir {
                ctx(
                    &format!("cannot hide {}", target.display()),
                    sys::mount(
                        Some(Path::new("tmpfs")),
                        &t,
                        Some("tmpfs"),
                        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY,
                        Some("mode=000,size=4k"),
                    ),
                )
            } else {
                bind(root, Path::new("/dev/null"), target, false)
            }
        }
        Mount::Proc => {
            let t = under(root, Path::new("/proc"));
            mkdirs(&t, 0o755)?;
            ctx(
                "cannot mount /proc",
                sys::mount(
                    Some(Path::new("proc")),
                    &t,
                    Some("proc"),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    None,
                ),
            )
        }
        Mount::Devpts => {
            let t = under(root, Path::new("/dev/pts"));
            mkdirs(&t, 0o755)?;
            ctx(
                "cannot mount /dev/pts",
                sys::mount(
                    Some(Path::new("devpts")),
                    &t,
                    Some("devpts"),
                    libc::MS_NOSUID | libc::MS_NOEXEC,
                    Some("newinstance,ptmxmode=0666,mode=620"),
                ),
            )?;
            ctx(
                "cannot link /dev/ptmx",
                std::os::unix::fs::symlink("pts/ptmx", under(root, Path::new("/dev/ptmx"))),
            )
        }
        Mount::SealTmpfs { target } => {
            let t = under(root, target);
            ctx(
                &format!("cannot make {} read-only", target.display()),
                sys::mount(
                    None,
                    &t,
                    None,
                    libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
                    None,
                ),
            )
        }
    }
}

fn bind(root: &Path, source: &Path, target: &Path, writable: bool) -> Result<(), String> {
    let t = under(root, target);
    let md =
        std::fs::metadata(source).map_err(|e| format!("cannot show {}: {e}", source.display()))?;
    if md.is_dir() {
        mkdirs(&t, 0o755)?;
    } else {
        if let Some(parent) = t.parent() {
            mkdirs(parent, 0o755)?;
        }
        if std::fs::symlink_metadata(&t).is_err() {
            std::fs::File::create(&t)
                .map_err(|e| format!("cannot create mount point {}: {e}", target.display()))?;
        }
    }
    ctx(
        &format!("cannot bind {} at {}", source.display(), target.display()),
        sys::mount(Some(source), &t, None, libc::MS_BIND, None),
    )?;
    // A bind keeps the source's flags, and in a user namespace the restrictive ones are locked:
    // a remount must repeat them or the kernel refuses it.
    let inherited = sys::mount_flags(&t).unwrap_or(0) & LOCKED;
    let mut flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_NOSUID | inherited;
    if !writable {
        flags |= libc::MS_RDONLY;
    }
    ctx(
        &format!("cannot restrict the bind at {}", target.display()),
        sys::mount(None, &t, None, flags, None),
    )
}

/// Forks the agent, waits for it, and reports its status. `pid1` tells whether this process is
/// the sandbox's pid 1 (so `kill(-1)` only reaches the sandbox).
fn supervise_agent(ctl: BorrowedFd<'_>, plan: &Plan, pid1: bool) -> Result<i32, String> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        ctx("cannot install signal handlers", sys::catch_signal(sig))?;
    }
    if !pid1 {
        // Without a pid namespace, orphans of the agent must still come to us to be killed.
        ctx("cannot become a subreaper", sys::set_child_subreaper())?;
    }
    let agent = match ctx("cannot fork the agent", sys::fork())? {
        sys::Fork::Child => {
            let e = exec_agent(ctl, plan);
            let _ = send(ctl, b'E', e.as_bytes());
            std::process::exit(126);
        }
        sys::Fork::Parent(pid) => pid,
    };
    let mut agent_status = None;
    loop {
        let pending = sys::PENDING_SIGNAL.swap(0, std::sync::atomic::Ordering::SeqCst);
        if pending != 0 && agent_status.is_none() {
            // The agent leads its own session (setsid), so its pid is its process group.
            let _ = sys::kill(-agent, pending);
        }
        match sys::waitpid(-1, libc::__WALL) {
            Ok((pid, status)) if pid == agent => {
                agent_status = Some(status);
                kill_leftovers(pid1);
            }
            // Once the agent is gone, whatever else is reaped may have left orphans that were
            // just reparented to us: kill again until nothing is left.
            Ok(_) if agent_status.is_some() => kill_leftovers(pid1),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break, // ECHILD: nothing left.
        }
    }
    let status = agent_status.unwrap_or(0);
    ctx(
        "cannot report the agent's exit",
        send(ctl, b'X', &status.to_le_bytes()),
    )?;
    Ok(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        125
    })
}

/// Kills every process the agent left behind: the whole pid namespace from pid 1, or (without
/// namespaces) every child reparented to us.
fn kill_leftovers(pid1: bool) {
    if pid1 {
        let _ = sys::kill(-1, libc::SIGKILL);
        return;
    }
    let me = std::process::id().to_string();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state, ppid, …
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if ppid == Some(me.as_str()) {
            let _ = sys::kill(pid, libc::SIGKILL);
        }
    }
}

/// The agent side: confine this process and exec the command. Returns only on failure.
fn exec_agent(ctl: BorrowedFd<'_>, plan: &Plan) -> String {
    match confine(ctl, plan) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

enum Never {}

fn confine(ctl: BorrowedFd<'_>, plan: &Plan) -> Result<Never, String> {
    ctx(
        "cannot arrange to die with pid 1",
        sys::set_parent_death_signal(libc::SIGKILL),
    )?;
    // pid 1 is non-dumpable and we inherited that; the supervisor must be able to read our
    // memory and /proc entries to observe our first execve (exec resets it anyway).
    ctx("cannot make the agent dumpable", sys::set_dumpable(true))?;
    ctx("setsid", sys::setsid())?;
    let l = plan.limits;
    for (res, value, what) in [
        (libc::RLIMIT_DATA, l.memory_bytes, "memory"),
        (libc::RLIMIT_NPROC, l.processes, "processes"),
        (libc::RLIMIT_NOFILE, l.open_files, "open files"),
        (libc::RLIMIT_CPU, l.cpu_seconds, "CPU time"),
        (libc::RLIMIT_CORE, 0, "core dumps"),
    ] {
        // Never raise a limit the supervisor already runs under.
        let value = match sys::get_rlimit(res) {
            Ok((_, hard)) => value.min(hard),
            Err(_) => value,
        };
        ctx(&format!("cannot limit {what}"), sys::set_rlimit(res, value))?;
    }
    ctx(
        &format!("cannot enter the working directory {}", plan.cwd.display()),
        std::env::set_current_dir(&plan.cwd),
    )?;
    let program = match resolve_command(plan) {
        Ok(p) => p,
        Err(e) => {
            // Told apart from setup failures: it is the human's command that is wrong.
            let _ = send(ctl, b'N', e.as_bytes());
            std::process::exit(127);
        }
    };
    // In every mode: without a user namespace a root agent would otherwise keep the host's
    // capabilities (mknod, raw sockets, kill).
    ctx("cannot drop capabilities", sys::drop_capabilities())?;
    let rules = Rules {
        read: plan.landlock_read.clone(),
        write: plan.landlock_write.clone(),
        devices: plan.landlock_devices.clone(),
        // Without a network namespace, Landlock is what keeps the agent off the network: the
        // supervisor's proxy on the host's loopback is the one TCP port it may connect to.
        // (Landlock rules name ports, not addresses; the observer refuses the port on any
        // other address, racily.)
        tcp_connect: match plan.isolation {
            Isolation::Full => Vec::new(),
            Isolation::LandlockOnly | Isolation::Unsandboxed => plan
                .egress
                .host_proxy_port
                .into_iter()
                .chain(plan.egress.host_gateway_port)
                .collect(),
        },
        restrict_tcp: plan.isolation != Isolation::Full,
    };
    let enforced = landlock::restrict(&rules, plan.landlock_min_abi).map_err(|e| e.to_string())?;
    let _ = send(
        ctl,
        b'I',
        format!(
            "landlock-abi={} landlock-net={} landlock-scoped={}",
            enforced.abi, enforced.network, enforced.scoped
        )
        .as_bytes(),
    );
    ctx("cannot set no_new_privs", seccomp::set_no_new_privs())?;
    let filter = seccomp::program(&seccomp::FilterOptions {
        observe_reads: plan.observe_reads,
        restrict_sockets: plan.isolation != Isolation::Full,
        landlock_tcp: enforced.network,
    });
    let listener = ctx(
        "cannot install the seccomp filter",
        seccomp::install(&filter),
    )?;
    ctx(
        "cannot hand the seccomp listener to the supervisor",
        sys::send_message(ctl, b"L", Some(listener.as_fd())),
    )?;
    drop(listener);
    let argv: Vec<CString> = plan
        .argv
        .iter()
        .map(|a| {
            CString::new(a.as_bytes()).map_err(|_| format!("argument `{a}` contains a NUL byte"))
        })
        .collect::<Result<_, _>>()?;
    let envp: Vec<CString> = plan
        .env
        .iter()
        .map(|(k, v)| {
            CString::new(format!("{k}={v}"))
                .map_err(|_| format!("environment variable {k} contains a NUL byte"))
        })
        .collect::<Result<_, _>>()?;
    sys::close_from(CONTROL_FD);
    let e = sys::execve(&program, &argv, &envp);
    Err(format!(
        "cannot execute `{}`: {e}",
        plan.argv.first().map(String::as_str).unwrap_or("")
    ))
}

/// Finds the command like a shell would, in the sandbox's own `PATH`.
fn resolve_command(plan: &Plan) -> Result<CString, String> {
    let name = plan.argv.first().ok_or("no command")?;
    let found = if name.contains('/') {
        Some(PathBuf::from(name))
    } else {
        let path = plan
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str())
            .unwrap_or("/usr/bin:/bin");
        path.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(name))
            .find(|p| {
                std::fs::metadata(p)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    };
    let found = found.ok_or_else(|| format!("command `{name}` not found in the sandbox's PATH"))?;
    CString::new(found.as_os_str().as_bytes()).map_err(|_| format!("`{name}` contains a NUL byte"))
}
