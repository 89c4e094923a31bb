//! The observer: the supervisor's loop over seccomp user notifications.
//!
//! For each notified system call it reads the arguments from the agent's memory, resolves the path
//! the way the kernel will (relative to the process's working directory or directory descriptor,
//! following symlinks inside the sandbox's root), judges it against the [`View`], answers, and
//! reports an [`Observation`]. Escape system calls are always answered with `EPERM`; an open, exec
//! or path change that the mount tree or Landlock would refuse is answered with the error the
//! kernel would give and reported as denied; everything else continues in the kernel.
//!
//! Observation is not enforcement: between our reading of a path and the kernel's, another thread
//! of the agent can change the memory (the seccomp user-notification TOCTOU). That is why every
//! decision here is also enforced by the mount tree and Landlock; a race can only make a record
//! less precise, never let a write through.
//!
//! Connections are judged the same way ([`egress_verdict`]): `connect` and `sendto` with a
//! destination are notified, the `struct sockaddr` is read from the agent's memory, and an IPv4
//! or IPv6 destination that the session's egress does not allow is refused and reported as
//! denied. With a network namespace the kernel refuses it anyway (the namespace has no route off
//! loopback): the observer's refusal is what puts it on record, attributed to `netns`. Without
//! one, Landlock's TCP rules are the barrier and the observer refuses what they would, plus the
//! proxy's port on any other address (Landlock rules name ports only) — racily, as above.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::plan::{Access, Egress, Isolation, View};
use crate::seccomp::{self, Call, Destination, Listener, Notification, Response, Wait};
use crate::sys;

/// How a write-intent call changes the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// An open for writing of an existing file.
    Modify,
    /// A deletion (`unlink`, `rmdir`).
    Delete,
    /// A rename to `to`.
    Rename {
        /// The new name.
        to: PathBuf,
    },
    /// A new directory, node, hard link or symlink.
    Create,
    /// A truncation by name.
    Truncate,
}

/// One thing the observer saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A process executed a program.
    Exec {
        /// The pid (in the supervisor's pid namespace).
        pid: u32,
        /// The argument vector.
        argv: Vec<String>,
        /// The working directory.
        cwd: String,
        /// The program, resolved.
        path: String,
        /// The program's digest, when it could be read.
        sha256: Option<String>,
    },
    /// A write in a write scope was about to happen.
    Write {
        /// The pid.
        pid: u32,
        /// What kind.
        op: WriteOp,
        /// The path.
        path: PathBuf,
    },
    /// Something was refused.
    Denied {
        /// The pid.
        pid: u32,
        /// What was attempted, e.g. `open for write`, `syscall ptrace` or `connect (udp) outside
        /// the egress proxy`.
        attempted: String,
        /// The control that stops it: `seccomp`, `mount-namespace`, `landlock`, `netns`,
        /// `credential-guard`.
        control: &'static str,
        /// The target, when there is one (a path, `path -> resolved` for symlinks, an address
        /// and port such as `8.8.8.8:53` or `[2001:db8::1]:443`).
        target: Option<String>,
    },
}

const MAX_ARGS: usize = 4096;
const MAX_ARG_BYTES: usize = 128 * 1024;

/// Why [`observe`] stopped.
#[derive(Debug)]
pub enum Stopped {
    /// Every process using the filter has exited.
    Finished,
    /// The listener failed; the agent must not go on unobserved.
    Failed(std::io::Error),
}

/// Runs until every process using the filter has exited, calling `sink` for each observation.
/// `hashes` remembers executables' digests (see [`HashCache`]). A `sink` returning false means
/// the record cannot be kept; observation then stops with [`Stopped::Failed`] and the caller
/// must end the session.
pub fn observe(
    listener: &Listener,
    view: &View,
    hashes: &mut HashCache,
    sink: &mut dyn FnMut(Observation) -> bool,
) -> Stopped {
    let _ = listener.set_sync_wakeup();
    loop {
        match listener.wait() {
            Ok(Wait::Ready) => {}
            Ok(Wait::Closed) => return Stopped::Finished,
            Err(e) => return Stopped::Failed(e),
        }
        let n = match listener.recv() {
            Ok(Some(n)) => n,
            Ok(None) => continue,
            Err(e) => return Stopped::Failed(e),
        };
        let (response, seen) = judge(&n, view, hashes, listener);
        // Recorded before the answer: the agent waits while its action is queued for the log.
        let mut kept = true;
        for o in seen {
            kept &= sink(o);
        }
        if !kept {
            let _ = listener.respond(n.id, Response::Error(libc::EIO));
            return Stopped::Failed(std::io::Error::other("the audit record cannot be kept"));
        }
        let _ = listener.respond(n.id, response);
    }
}

/// Digests of executables, keyed by (device, inode, size, mtime, ctime).
///
/// Hashing a 30 MB compiler on every exec would cost more than running it, so digests are
/// remembered, across sessions too (the supervisor keeps the cache in qwarden's state directory,
/// which no sandbox can reach). The key is safe to trust: any change to a file's content or
/// metadata moves its ctime, which user space cannot set back.
#[derive(Debug, Default)]
pub struct HashCache(HashMap<(u64, u64, u64, i64, i64), String>);

/// Programs above this size are not hashed.
const MAX_HASHED_PROGRAM: u64 = 1 << 30;

/// Most entries a saved cache keeps.
const CACHE_MAX: usize = 20_000;

impl HashCache {
    /// Reads a cache saved by [`HashCache::save`]; a missing or malformed file is an empty cache.
    pub fn load(path: &Path) -> HashCache {
        let mut map = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                let f: Vec<&str> = line.split('\t').collect();
                if let [dev, ino, size, mtime, ctime, digest] = f[..]
                    && let (Ok(dev), Ok(ino), Ok(size), Ok(mtime), Ok(ctime)) = (
                        dev.parse(),
                        ino.parse(),
                        size.parse(),
                        mtime.parse(),
                        ctime.parse(),
                    )
                    && digest.len() == 71
                    && digest.starts_with("sha256:")
                {
                    map.insert((dev, ino, size, mtime, ctime), digest.to_owned());
                }
            }
        }
        HashCache(map)
    }

    /// Writes the cache to `path` (through a temporary file, so a crash leaves the old one).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut text = String::new();
        for ((dev, ino, size, mtime, ctime), d) in self.0.iter().take(CACHE_MAX) {
            text.push_str(&format!("{dev}\t{ino}\t{size}\t{mtime}\t{ctime}\t{d}\n"));
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }

    fn digest(&mut self, file: &Path) -> Option<String> {
        let md = std::fs::metadata(file).ok()?;
        let ns = |secs: i64, nanos: i64| secs.saturating_mul(1_000_000_000).saturating_add(nanos);
        let key = (
            md.dev(),
            md.ino(),
            md.size(),
            ns(md.mtime(), md.mtime_nsec()),
            ns(md.ctime(), md.ctime_nsec()),
        );
        // A program larger than this is recorded without a digest rather than stalling the
        // agent's exec while gigabytes are read.
        if md.size() > MAX_HASHED_PROGRAM {
            return None;
        }
        if let Some(d) = self.0.get(&key) {
            return Some(d.clone());
        }
        let mut f = std::fs::File::open(file).ok()?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            h.update(buf.get(..n)?);
        }
        let d = format!("sha256:{}", hex::encode(h.finalize()));
        self.0.insert(key, d.clone());
        Some(d)
    }
}

struct Target<'a> {
    pid: u32,
    listener: &'a Listener,
    id: u64,
}

impl Target<'_> {
    /// Reads a path argument. `Err(errno)` when the agent's memory cannot be read (a bad
    /// pointer, or memory the kernel keeps from other processes): the call is then refused with
    /// that error, never let through unseen. `Ok(None)` when the caller is already gone.
    fn string(&self, addr: u64) -> Result<Option<Vec<u8>>, i32> {
        let s = seccomp::read_c_string(self.pid, addr, seccomp::PATH_MAX)
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EFAULT));
        // The process may have died and its pid been reused between our read and now.
        if !self.listener.id_valid(self.id) {
            return Ok(None);
        }
        s.map(Some)
    }

    /// Reads the socket address argument of a `connect` or `sendto`, with the same discipline as
    /// [`Target::string`]: `Err(errno)` when it cannot be read, `Ok(None)` when the caller is
    /// already gone.
    fn sockaddr(&self, addr: u64, len: u32) -> Result<Option<Vec<u8>>, i32> {
        let bytes = seccomp::read_sockaddr(self.pid, addr, len)
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EFAULT));
        if !self.listener.id_valid(self.id) {
            return Ok(None);
        }
        bytes.map(Some)
    }

    /// The pid of the target inside its own pid namespace (for `/proc/self`).
    fn ns_pid(&self) -> Option<String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
        line.split_whitespace().last().map(str::to_owned)
    }

    fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.pid))
    }

    fn cwd(&self) -> Option<PathBuf> {
        std::fs::read_link(format!("/proc/{}/cwd", self.pid)).ok()
    }

    /// The absolute path for `raw` relative to `dirfd`, with `.` and repeated slashes removed
    /// but `..` kept: it must be taken after the symlink before it is followed, as the kernel
    /// does ([`Target::resolve`]).
    fn absolute(&self, dirfd: Option<i32>, raw: &[u8]) -> Option<PathBuf> {
        let raw = Path::new(std::ffi::OsStr::from_bytes(raw));
        let joined = if raw.is_absolute() {
            raw.to_path_buf()
        } else {
            let base = match dirfd {
                None => self.cwd()?,
                Some(fd) => std::fs::read_link(format!("/proc/{}/fd/{fd}", self.pid)).ok()?,
            };
            base.join(raw)
        };
        Some(joined.components().collect())
    }

    /// Follows symlinks in `path` inside the sandbox's root, like the kernel will; the part that
    /// does not exist yet is kept as written. `follow_last` mirrors `O_NOFOLLOW` and friends.
    fn resolve(&self, path: &Path, follow_last: bool) -> PathBuf {
        let root = self.root();
        let mut done = PathBuf::from("/");
        let mut rest = pending(path);
        let mut hops = 0;
        while let Some(c) = rest.pop() {
            if c == ".." {
                done.pop();
                continue;
            }
            let mut next = done.join(&c);
            // /proc/self in the agent's root would be read as the supervisor's own pid.
            if (next == Path::new("/proc/self") || next == Path::new("/proc/thread-self"))
                && let Some(ns) = self.ns_pid()
            {
                next = Path::new("/proc").join(ns);
            }
            let last = rest.is_empty();
            let host = root.join(next.strip_prefix("/").unwrap_or(&next));
            match std::fs::symlink_metadata(&host) {
                Ok(md) if md.file_type().is_symlink() && (follow_last || !last) && hops < 40 => {
                    hops += 1;
                    let Ok(to) = std::fs::read_link(&host) else {
                        return next;
                    };
                    if to.is_absolute() {
                        done = PathBuf::from("/");
                    }
                    rest.extend(pending(&to));
                }
                Ok(_) => done = next,
                Err(_) => {
                    done = next;
                    while let Some(c) = rest.pop() {
                        if c == ".." {
                            done.pop();
                        } else {
                            done.push(c);
                        }
                    }
                }
            }
        }
        done
    }
}

/// Reads the path argument at `addr` and makes it absolute, or decides the call: refused and
/// recorded when the agent's memory cannot be read, let through when the caller is already gone
/// (nothing will run) or its working directory cannot be read (the kernel still checks it).
fn path_arg(
    t: &Target<'_>,
    dirfd: Option<i32>,
    addr: u64,
    what: &str,
) -> Result<PathBuf, (Response, Vec<Observation>)> {
    match t.string(addr) {
        Ok(Some(raw)) => t
            .absolute(dirfd, &raw)
            .ok_or((Response::Continue, Vec::new())),
        Ok(None) => Err((Response::Continue, Vec::new())),
        Err(errno) => Err((
            Response::Error(errno),
            vec![denied(
                t.pid,
                format!("{what} with an unreadable path argument"),
                "seccomp-notify",
                Some(std::io::Error::from_raw_os_error(errno).to_string()),
            )],
        )),
    }
}

fn denied(
    pid: u32,
    attempted: impl Into<String>,
    control: &'static str,
    target: Option<String>,
) -> Observation {
    Observation::Denied {
        pid,
        attempted: attempted.into(),
        control,
        target,
    }
}

/// Creating a file with the setuid or setgid bit is refused like `chmod u+s` is: the sandbox's
/// mounts are nosuid, the host's are not.
fn set_id_mode(pid: u32, mode: Option<u32>) -> Option<(Response, Vec<Observation>)> {
    let mode = mode?;
    (mode & 0o6000 != 0).then(|| {
        (
            Response::Error(libc::EPERM),
            vec![denied(
                pid,
                "create a setuid or setgid file",
                "seccomp-notify",
                Some(format!("mode {mode:o}")),
            )],
        )
    })
}

/// The names and `..`s of `p`, last first: the stack [`Target::resolve`] walks.
fn pending(p: &Path) -> Vec<std::ffi::OsString> {
    let mut parts: Vec<std::ffi::OsString> = p
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n.to_owned()),
            std::path::Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    parts.reverse();
    parts
}

fn has_parent_dir(p: &Path) -> bool {
    p.components().any(|c| c == std::path::Component::ParentDir)
}

fn describe(lexical: &Path, resolved: &Path) -> String {
    if lexical == resolved {
        lexical.display().to_string()
    } else {
        format!("{} -> {}", lexical.display(), resolved.display())
    }
}

const WRITE_FLAGS: i32 =
    libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND;

/// Decides one notification.
fn judge(
    n: &Notification,
    view: &View,
    hashes: &mut HashCache,
    listener: &Listener,
) -> (Response, Vec<Observation>) {
    let t = Target {
        pid: n.pid,
        listener,
        id: n.id,
    };
    let pid = n.pid;
    let cont = (Response::Continue, Vec::new());
    match seccomp::decode(n.nr, n.args) {
        Call::Denied { name } => {
            let target = match name {
                "ioctl" => Some(format!(
                    "request {:#x}",
                    n.args.get(1).copied().unwrap_or(0) as u32
                )),
                "clone" => Some(format!("flags {:#x}", n.args.first().copied().unwrap_or(0))),
                "personality" => Some(format!(
                    "persona {:#x}",
                    n.args.first().copied().unwrap_or(0)
                )),
                "sendmsg" | "sendmmsg" => {
                    Some("MSG_FASTOPEN (a connect that Landlock does not see)".to_owned())
                }
                _ => None,
            };
            (
                Response::Error(libc::EPERM),
                vec![denied(pid, format!("syscall {name}"), "seccomp", target)],
            )
        }
        Call::Exec {
            dirfd, path, argv, ..
        } => {
            let lexical = match path_arg(&t, dirfd, path, "exec") {
                Ok(p) => p,
                Err(decided) => return decided,
            };
            // Programs in the system directories are the host's own files at the same paths
            // (read-only binds), so they resolve and hash here, without walking /proc/PID/root.
            let system = view.is_program_dir(&lexical) && !has_parent_dir(&lexical);
            let resolved = if system {
                std::fs::canonicalize(&lexical).unwrap_or_else(|_| lexical.clone())
            } else {
                t.resolve(&lexical, true)
            };
            match view.classify(&resolved) {
                Access::CredentialStore | Access::Hidden | Access::Outside => {
                    return (
                        Response::Error(libc::ENOENT),
                        vec![denied(
                            pid,
                            "exec",
                            control_for(view, view.classify(&resolved)),
                            Some(describe(&lexical, &resolved)),
                        )],
                    );
                }
                _ => {}
            }
            let host = if system && view.is_program_dir(&resolved) {
                resolved.clone()
            } else {
                t.root()
                    .join(resolved.strip_prefix("/").unwrap_or(&resolved))
            };
            // execvp tries every PATH entry: only a program that exists is an exec worth a record.
            // Following the path as written catches what resolving cannot, such as an exec of
            // /proc/self/fd/N whose file was deleted.
            let host = if host.is_file() {
                host
            } else {
                let direct = t.root().join(lexical.strip_prefix("/").unwrap_or(&lexical));
                if !direct.is_file() {
                    return cont;
                }
                direct
            };
            let args = read_argv(&t, argv);
            let cwd = t.cwd().map(|c| c.display().to_string()).unwrap_or_default();
            let sha256 = hashes.digest(&host);
            (
                Response::Continue,
                vec![Observation::Exec {
                    pid,
                    argv: args,
                    cwd,
                    path: resolved.display().to_string(),
                    sha256,
                }],
            )
        }
        Call::Open { dirfd, path, flags } => {
            if let Some(refused) = set_id_mode(pid, seccomp::open_mode(n.nr, n.args)) {
                return refused;
            }
            open(&t, view, dirfd, path, flags)
        }
        Call::OpenHow { dirfd, path, how } => {
            let flags = seccomp::read_open_how_flags(pid, how).map_or(libc::O_RDWR, |f| f as i32);
            if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
                let mode = seccomp::read_open_how_mode(pid, how).map_or(0o7777, |m| m as u32);
                if let Some(refused) = set_id_mode(pid, Some(mode & 0o7777)) {
                    return refused;
                }
            }
            open(&t, view, dirfd, path, flags)
        }
        Call::Unlink { dirfd, path, .. } => {
            change(&t, view, dirfd, path, WriteOp::Delete, "delete")
        }
        Call::Mknod { dirfd, path, mode } => {
            if let Some(refused) = set_id_mode(pid, Some(mode & 0o7777)) {
                return refused;
            }
            change(&t, view, dirfd, path, WriteOp::Create, "create")
        }
        Call::Mkdir { dirfd, path } => change(&t, view, dirfd, path, WriteOp::Create, "create"),
        Call::Truncate { path } => change(&t, view, None, path, WriteOp::Truncate, "truncate"),
        Call::Symlink {
            new_dirfd,
            new_path,
            ..
        } => change(
            &t,
            view,
            new_dirfd,
            new_path,
            WriteOp::Create,
            "create symlink",
        ),
        Call::Link {
            new_dirfd,
            new_path,
            old_dirfd,
            old_path,
            ..
        } => {
            // A hard link to a file outside the scopes would carry it in: judge both ends.
            let (r, mut seen) = change(&t, view, new_dirfd, new_path, WriteOp::Create, "hard link");
            if r != Response::Continue {
                return (r, seen);
            }
            let lexical = match path_arg(&t, old_dirfd, old_path, "hard link") {
                Ok(p) => p,
                Err(decided) => return decided,
            };
            {
                let resolved = t.resolve(&lexical, false);
                let a = view.classify(&resolved);
                if matches!(
                    a,
                    Access::CredentialStore | Access::Hidden | Access::Outside | Access::Protected
                ) {
                    seen.clear();
                    return (
                        Response::Error(libc::EPERM),
                        vec![denied(
                            pid,
                            "hard link from",
                            control_for(view, a),
                            Some(describe(&lexical, &resolved)),
                        )],
                    );
                }
            }
            (r, seen)
        }
        Call::Rename {
            old_dirfd,
            old_path,
            new_dirfd,
            new_path,
            ..
        } => {
            let new_abs = match path_arg(&t, new_dirfd, new_path, "rename") {
                Ok(p) => p,
                Err(decided) => return decided,
            };
            let new_resolved = t.resolve(&new_abs, false);
            let new_access = view.classify(&new_resolved);
            if !matches!(
                new_access,
                Access::Writable | Access::Private | Access::Kernel
            ) {
                return (
                    Response::Error(error_for(new_access)),
                    vec![denied(
                        pid,
                        "rename to",
                        control_for(view, new_access),
                        Some(describe(&new_abs, &new_resolved)),
                    )],
                );
            }
            let (r, mut seen) = change(
                &t,
                view,
                old_dirfd,
                old_path,
                WriteOp::Rename {
                    to: new_resolved.clone(),
                },
                "rename",
            );
            if r == Response::Continue && seen.is_empty() && new_access == Access::Writable {
                // Moved in from a private area: a creation in the scope.
                seen.push(Observation::Write {
                    pid,
                    op: WriteOp::Create,
                    path: new_resolved,
                });
            }
            (r, seen)
        }
        Call::Connect { fd, addr, len } => connection(&t, view, "connect", fd, addr, len, false),
        // A NULL destination is the connected peer (the filter does not notify it).
        Call::SendTo { addr: 0, .. } => cont,
        Call::SendTo {
            fd,
            addr,
            len,
            flags,
        } => {
            // TCP Fast Open connects without connect(2), and Landlock's connect rule does not see
            // it: without a network namespace it is refused outright, since the address read here
            // can change before the kernel reads it. The flags are a register, not memory.
            if view.isolation() != Isolation::Full && flags & libc::MSG_FASTOPEN != 0 {
                return (
                    Response::Error(libc::EPERM),
                    vec![denied(
                        pid,
                        "sendto with MSG_FASTOPEN (a connect that Landlock does not see)",
                        "seccomp",
                        None,
                    )],
                );
            }
            connection(&t, view, "sendto", fd, addr, len, true)
        }
        Call::Other(_) => cont,
    }
}

/// What the session's egress says about a connection to `to`: `None` to let it through, or the
/// error to refuse it with and the control that stands behind the refusal.
///
/// - With a network namespace only loopback is reachable: `127.0.0.0/8`, `::1`, their IPv4-mapped
///   forms, and the unspecified addresses (`0.0.0.0`, `::`), which the kernel takes for loopback
///   when connecting. That is the egress proxy, the DNS stub, or the agent's own servers. Anything
///   else is `ENETUNREACH` (what the kernel would answer: there is no route), control `netns`.
/// - Without one, only the supervisor's proxy at `127.0.0.1:host_proxy_port` (or its IPv4-mapped
///   form); anything else is `EACCES`, what Landlock answers, with the view's enforcer as control
///   (`landlock`, or `seccomp-notify` when nothing else stands).
pub fn egress_verdict(
    isolation: Isolation,
    egress: &Egress,
    to: std::net::SocketAddr,
) -> Option<(i32, &'static str)> {
    use std::net::{IpAddr, Ipv4Addr};
    let v4 = match to.ip() {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    };
    match isolation {
        Isolation::Full => {
            let local = match (to.ip(), v4) {
                (_, Some(a)) => a.is_loopback() || a.is_unspecified(),
                (IpAddr::V6(a), None) => a.is_loopback() || a.is_unspecified(),
                (IpAddr::V4(_), None) => false,
            };
            (!local).then_some((libc::ENETUNREACH, "netns"))
        }
        Isolation::LandlockOnly | Isolation::Unsandboxed => {
            let ours = |port: Option<u16>| port.is_some_and(|p| p == to.port());
            let proxy = (ours(egress.host_proxy_port) || ours(egress.host_gateway_port))
                && v4 == Some(Ipv4Addr::LOCALHOST);
            let control = if isolation == Isolation::LandlockOnly {
                "landlock"
            } else {
                "seccomp-notify"
            };
            (!proxy).then_some((libc::EACCES, control))
        }
    }
}

/// The transport of socket `fd`, as records name it: `tcp`, `udp`, or the kernel's own name for
/// anything else. It is the socket's `system.sockprotoname` attribute, one `getxattr` on
/// `/proc/PID/fd/FD`, asked only for refused attempts: cheap, exact (unlike the inode tables of
/// `/proc/PID/net/*`, which list no socket that is not bound yet) and needing no copy of the fd.
fn transport(pid: u32, fd: i32) -> Option<String> {
    let name = sys::socket_protocol(pid, fd)?;
    Some(match name.as_str() {
        "TCP" | "TCPv6" => "tcp".to_owned(),
        "UDP" | "UDPv6" => "udp".to_owned(),
        other => other.to_ascii_lowercase(),
    })
}

/// Judges a `connect` or a `sendto` with a destination (see [`egress_verdict`]). An address that
/// cannot be read is refused with the error the kernel would give and recorded, like an
/// unreadable path; one the kernel will refuse by itself (too long, too short for its family),
/// `AF_UNIX` and every other family go on unjudged.
fn connection(
    t: &Target<'_>,
    view: &View,
    what: &str,
    fd: i32,
    addr: u64,
    len: u32,
    sendto: bool,
) -> (Response, Vec<Observation>) {
    let cont = (Response::Continue, Vec::new());
    if usize::try_from(len).map_or(true, |l| l > seccomp::SOCKADDR_MAX) {
        // The kernel refuses it with EINVAL before reading anything.
        return cont;
    }
    let bytes = match t.sockaddr(addr, len) {
        Ok(Some(b)) => b,
        Ok(None) => return cont,
        Err(errno) => {
            return (
                Response::Error(errno),
                vec![denied(
                    t.pid,
                    format!("{what} with an unreadable address argument"),
                    "seccomp-notify",
                    Some(std::io::Error::from_raw_os_error(errno).to_string()),
                )],
            );
        }
    };
    let Destination::Ip(to) = seccomp::destination(&bytes, sendto) else {
        return cont;
    };
    let Some((errno, control)) = egress_verdict(view.isolation(), &view.egress(), to) else {
        return cont;
    };
    let attempted = match transport(t.pid, fd) {
        Some(proto) => format!("{what} ({proto}) outside the egress proxy"),
        None => format!("{what} outside the egress proxy"),
    };
    // The transport was looked up through the pid: if the caller died meanwhile, the pid may be
    // someone else's and the call will never run.
    if !t.listener.id_valid(t.id) {
        return cont;
    }
    (
        Response::Error(errno),
        vec![denied(t.pid, attempted, control, Some(to.to_string()))],
    )
}

/// The argument vector of an exec; never empty (the log requires a program name), with a marker
/// in angle brackets wherever the agent's memory did not give a readable vector.
fn read_argv(t: &Target<'_>, argv: u64) -> Vec<String> {
    let mut out = Vec::new();
    if argv == 0 {
        return vec!["<no argv>".into()];
    }
    let pointers = match seccomp::read_pointers(t.pid, argv, MAX_ARGS) {
        Ok(p) => p,
        Err(e) if e.raw_os_error() == Some(libc::E2BIG) => {
            return vec![format!("<more than {MAX_ARGS} arguments>")];
        }
        Err(_) => return vec!["<unreadable argv>".into()],
    };
    let mut total = 0;
    for p in pointers {
        let Ok(s) = seccomp::read_c_string(t.pid, p, MAX_ARG_BYTES) else {
            out.push("<unreadable argument>".into());
            break;
        };
        total += s.len();
        if total > MAX_ARG_BYTES {
            out.push(format!("<truncated after {MAX_ARG_BYTES} bytes>"));
            break;
        }
        out.push(String::from_utf8_lossy(&s).into_owned());
    }
    if out.is_empty() {
        out.push("<empty argv>".into());
    }
    out
}

fn control_for(view: &View, a: Access) -> &'static str {
    match a {
        Access::CredentialStore => "credential-guard",
        Access::Protected => "protected-path",
        // Landlock cannot carve a hidden path out of a granted scope: without a mount
        // namespace only this observer keeps it hidden, and the record says so.
        Access::Hidden if view.enforcer() != "mount-namespace" => "seccomp-notify",
        _ => view.enforcer(),
    }
}

/// The error the kernel would give for a write at a path with this access.
fn error_for(a: Access) -> i32 {
    match a {
        Access::Outside | Access::Hidden => libc::ENOENT,
        Access::ReadOnly => libc::EROFS,
        _ => libc::EACCES,
    }
}

fn open(
    t: &Target<'_>,
    view: &View,
    dirfd: Option<i32>,
    path: u64,
    flags: i32,
) -> (Response, Vec<Observation>) {
    let pid = t.pid;
    let lexical = match path_arg(t, dirfd, path, "open") {
        Ok(p) => p,
        Err(decided) => return decided,
    };
    let write = flags & WRITE_FLAGS != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE;
    // Fast path for the bulk of opens: reading system files. Symlinks there are the host's, not
    // the agent's, so there is nothing to resolve; the kernel decides what they reach. A `..`
    // could climb out of them, so such paths take the full walk.
    if !write
        && !has_parent_dir(&lexical)
        && view.classify(&lexical) == Access::ReadOnly
        && view.is_system(&lexical)
    {
        return (Response::Continue, Vec::new());
    }
    let resolved = t.resolve(&lexical, flags & libc::O_NOFOLLOW == 0);
    let access = view.classify(&resolved);
    let target = Some(describe(&lexical, &resolved));
    match (access, write) {
        (Access::CredentialStore, _) => (
            Response::Error(libc::EACCES),
            vec![denied(
                pid,
                if write {
                    "open for write"
                } else {
                    "open for read"
                },
                "credential-guard",
                target,
            )],
        ),
        (Access::Outside | Access::Hidden, false) => (
            Response::Error(libc::ENOENT),
            vec![denied(
                pid,
                "open for read",
                control_for(view, access),
                target,
            )],
        ),
        (
            Access::ReadOnly
            | Access::Kernel
            | Access::Private
            | Access::Writable
            | Access::Protected,
            false,
        ) => (Response::Continue, Vec::new()),
        (Access::Writable, true) => {
            let host = t
                .root()
                .join(resolved.strip_prefix("/").unwrap_or(&resolved));
            let op = if std::fs::symlink_metadata(&host).is_ok() {
                WriteOp::Modify
            } else {
                WriteOp::Create
            };
            (
                Response::Continue,
                vec![Observation::Write {
                    pid,
                    op,
                    path: resolved,
                }],
            )
        }
        (Access::Private | Access::Kernel, true) => (Response::Continue, Vec::new()),
        (a, true) => (
            Response::Error(error_for(a)),
            vec![denied(pid, "open for write", control_for(view, a), target)],
        ),
    }
}

fn change(
    t: &Target<'_>,
    view: &View,
    dirfd: Option<i32>,
    path: u64,
    op: WriteOp,
    what: &str,
) -> (Response, Vec<Observation>) {
    let lexical = match path_arg(t, dirfd, path, what) {
        Ok(p) => p,
        Err(decided) => return decided,
    };
    // The last component is the name being changed, never followed.
    let resolved = t.resolve(&lexical, false);
    match view.classify(&resolved) {
        Access::Writable => (
            Response::Continue,
            vec![Observation::Write {
                pid: t.pid,
                op,
                path: resolved,
            }],
        ),
        Access::Private | Access::Kernel => (Response::Continue, Vec::new()),
        a => (
            Response::Error(error_for(a)),
            vec![denied(
                t.pid,
                what,
                control_for(view, a),
                Some(describe(&lexical, &resolved)),
            )],
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn verdict(isolation: Isolation, host_proxy_port: Option<u16>, to: &str) -> Option<i32> {
        let egress = Egress {
            host_proxy_port,
            ..Egress::default()
        };
        egress_verdict(isolation, &egress, to.parse().unwrap()).map(|(errno, _)| errno)
    }

    #[test]
    fn without_namespaces_the_gateway_port_is_reachable_like_the_proxy() {
        let egress = Egress {
            host_proxy_port: Some(40001),
            host_gateway_port: Some(40002),
            ..Egress::default()
        };
        let v = |to: &str| egress_verdict(Isolation::LandlockOnly, &egress, to.parse().unwrap());
        assert_eq!(v("127.0.0.1:40001"), None);
        assert_eq!(v("127.0.0.1:40002"), None);
        assert_eq!(v("127.0.0.1:40003").map(|(e, _)| e), Some(libc::EACCES));
        assert_eq!(v("10.0.0.1:40002").map(|(e, _)| e), Some(libc::EACCES));
    }

    #[test]
    fn with_namespaces_only_loopback_is_reachable() {
        for local in [
            "127.0.0.1:3128",
            "127.0.0.1:53",
            "127.1.2.3:8080",
            "0.0.0.0:3128",
            "[::1]:53",
            "[::]:3128",
            "[::ffff:127.0.0.1]:3128",
            "[::ffff:0.0.0.0]:80",
        ] {
            assert_eq!(verdict(Isolation::Full, None, local), None, "{local}");
        }
        for remote in [
            "8.8.8.8:53",
            "1.1.1.1:443",
            "169.254.169.254:80",
            "10.0.0.1:3128",
            "255.255.255.255:67",
            "[2001:4860:4860::8888]:53",
            "[::ffff:8.8.8.8]:53",
            "[fe80::1]:80",
            // IPv4-compatible, not mapped: not loopback for the kernel.
            "[::127.0.0.1]:3128",
        ] {
            assert_eq!(
                verdict(Isolation::Full, None, remote),
                Some(libc::ENETUNREACH),
                "{remote}"
            );
        }
        let (_, control) = egress_verdict(
            Isolation::Full,
            &Egress::default(),
            "8.8.8.8:53".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(control, "netns");
    }

    #[test]
    fn without_namespaces_only_the_proxys_host_port_is_reachable() {
        let proxy = Some(41234);
        for isolation in [Isolation::LandlockOnly, Isolation::Unsandboxed] {
            for allowed in ["127.0.0.1:41234", "[::ffff:127.0.0.1]:41234"] {
                assert_eq!(verdict(isolation, proxy, allowed), None, "{allowed}");
            }
            for refused in [
                "127.0.0.1:41235",
                "127.0.0.2:41234",
                "0.0.0.0:41234",
                "[::1]:41234",
                "8.8.8.8:41234",
                "8.8.8.8:53",
                "1.1.1.1:443",
            ] {
                assert_eq!(
                    verdict(isolation, proxy, refused),
                    Some(libc::EACCES),
                    "{refused}"
                );
            }
            // No proxy: nothing at all.
            assert_eq!(
                verdict(isolation, None, "127.0.0.1:41234"),
                Some(libc::EACCES)
            );
        }
        let control = |isolation| {
            egress_verdict(isolation, &Egress::default(), "8.8.8.8:53".parse().unwrap())
                .map(|(_, c)| c)
        };
        assert_eq!(control(Isolation::LandlockOnly), Some("landlock"));
        assert_eq!(control(Isolation::Unsandboxed), Some("seccomp-notify"));
    }
}
