//! The sandbox plan: everything the in-sandbox init needs, as data.
//!
//! The supervisor builds a [`Plan`] from a [`Spec`] (which the session crate fills from the
//! Grant), sends it to the init process over the control socket, and keeps a [`View`] of it to
//! judge the paths the observer sees. Keeping the plan as data makes the mount tree reviewable
//! (`qwarden run --dry-run` prints it) and testable without a kernel.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the host's `/etc` is visible inside the sandbox; `/etc` itself is a synthetic directory
/// of links into it, so `hosts`, `resolv.conf` and `hostname` can be qwarden's own files even
/// where the host's are symlinks, and secrets such as `shadow` are simply absent.
pub const HOST_ETC: &str = "/run/host/etc";

/// System directories shown read-only when they exist (symlinks are recreated as symlinks).
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt",
];

/// `/etc` entries that are never linked into the sandbox: password hashes, sudo rules, qwarden's
/// own configuration, SSH host keys.
pub const ETC_HIDDEN: &[&str] = &[
    "shadow",
    "shadow-",
    "gshadow",
    "gshadow-",
    "sudoers",
    "sudoers.d",
    "qwarden",
    "ssh",
    "machine-id",
];

/// Device nodes every sandbox gets (bound from the host's `/dev`).
pub const BASIC_DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Environment variables passed through from the supervisor when set; everything else is dropped.
pub const ENV_ALLOW: &[&str] = &[
    "PATH",
    "LANG",
    "LANGUAGE",
    "TERM",
    "COLORTERM",
    "TZ",
    "USER",
    "LOGNAME",
    "NO_COLOR",
    "COLUMNS",
    "LINES",
    "RUSTUP_TOOLCHAIN",
];

/// How writes to a write scope are handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum WriteMode {
    /// Writes land in the scope (sandbox tier).
    Direct,
    /// Writes land in a copy at `copy`, mounted at the scope's path (staging's review mode).
    Review {
        /// The copy on the host.
        copy: PathBuf,
    },
    /// The scope is shown read-only (prod).
    ReadOnly,
}

/// One write scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteScope {
    /// The scope's path (host and sandbox alike).
    pub path: PathBuf,
    /// Where its writes go.
    pub mode: WriteMode,
}

/// Resource limits for the agent's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory, in bytes: `RLIMIT_DATA` per process, and the tree's total where a memory cgroup
    /// can be made.
    pub memory_bytes: u64,
    /// Processes and threads: `RLIMIT_NPROC`, and a pids cgroup where one can be made.
    pub processes: u64,
    /// Open files per process (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// CPU seconds per process (`RLIMIT_CPU`).
    pub cpu_seconds: u64,
}

/// How strongly the session is isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Namespaces, a fresh root, Landlock and seccomp.
    Full,
    /// No user namespaces on this machine: Landlock and seccomp only.
    LandlockOnly,
    /// No kernel isolation at all: the human passed `--allow-unsandboxed`. seccomp still observes.
    Unsandboxed,
}

/// The port the egress proxy listens on inside the sandbox unless the supervisor says otherwise
/// (the conventional HTTP proxy port).
pub const DEFAULT_PROXY_PORT: u16 = 3128;

/// The port qwarden's QPU job gateway listens on inside the sandbox unless the supervisor says
/// otherwise.
pub const DEFAULT_GATEWAY_PORT: u16 = 8787;

/// The ways out of the sandbox: the supervisor's egress proxy and DNS stub, the only ones.
///
/// With namespaces ([`Isolation::Full`]) the agent's network namespace has nothing but loopback.
/// Its pid 1 makes a TCP listener at `127.0.0.1:`[`proxy_port`](Egress::proxy_port) and, with
/// [`dns`](Egress::dns), a UDP socket and a TCP listener at `127.0.0.1:53`, inside that namespace,
/// and hands them to the supervisor ([`crate::spawn::Report::Endpoint`]) before the agent starts:
/// the agent finds the proxy and the resolver at their usual loopback addresses, never holds the
/// sockets, and nothing on the host can reach them.
///
/// Without namespaces ([`Isolation::LandlockOnly`], [`Isolation::Unsandboxed`]) the agent shares
/// the host's network: the supervisor runs the proxy on a host loopback port,
/// [`host_proxy_port`](Egress::host_proxy_port), which is the only TCP port Landlock lets the
/// agent connect to (ABI ≥ 4) and the only destination the observer lets through. UDP sockets
/// are refused there altogether, so there is no DNS stub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Egress {
    /// With namespaces: the TCP port of the proxy's listener on `127.0.0.1` in the sandbox's
    /// network namespace (default [`DEFAULT_PROXY_PORT`]). Not 0, and not 53 when `dns` is set.
    pub proxy_port: u16,
    /// With namespaces: whether the DNS stub's sockets (UDP and TCP, `127.0.0.1:53`, the
    /// `nameserver` of the sandbox's `/etc/resolv.conf`) are made too (default true).
    pub dns: bool,
    /// Without namespaces: the port on the host's `127.0.0.1` where the supervisor's proxy
    /// listens. `None` (the default): the agent may connect to no TCP port at all.
    pub host_proxy_port: Option<u16>,
    /// With namespaces: the TCP port of the QPU job gateway's listener on `127.0.0.1` in the
    /// sandbox's network namespace; `None`: no gateway. Not 0, 53 or the proxy's port.
    #[serde(default)]
    pub gateway_port: Option<u16>,
    /// Without namespaces: the port on the host's `127.0.0.1` where the supervisor's gateway
    /// listens; Landlock lets the agent connect to it as to the proxy.
    #[serde(default)]
    pub host_gateway_port: Option<u16>,
}

impl Default for Egress {
    fn default() -> Self {
        Egress {
            proxy_port: DEFAULT_PROXY_PORT,
            dns: true,
            host_proxy_port: None,
            gateway_port: None,
            host_gateway_port: None,
        }
    }
}

impl Isolation {
    /// How the ledger names it.
    pub fn describe(self) -> &'static str {
        match self {
            Isolation::Full => "namespaces+landlock+seccomp",
            Isolation::LandlockOnly => "degraded: landlock+seccomp (no user namespaces)",
            Isolation::Unsandboxed => "unsandboxed (--allow-unsandboxed)",
        }
    }
}

/// What the session crate knows about a session, in sandbox terms.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The session id.
    pub session: String,
    /// Scopes shown read-only.
    pub read: Vec<PathBuf>,
    /// Scopes the agent writes to.
    pub write: Vec<WriteScope>,
    /// Paths hidden inside the scopes (manifest `deny`, credential stores, qwarden's own state).
    pub hidden: Vec<PathBuf>,
    /// Credential stores, wherever they are: opening one is always refused and recorded.
    pub credential_stores: Vec<PathBuf>,
    /// Paths that stay read-only inside write scopes, whether or not they exist.
    pub protected: Vec<PathBuf>,
    /// Extra read-only paths from the workstation profile (toolchains such as `~/.rustup`).
    pub system_paths: Vec<PathBuf>,
    /// Device nodes granted beyond the basic set.
    pub devices: Vec<PathBuf>,
    /// The user's home directory: inside, an empty private directory.
    pub home: PathBuf,
    /// The working directory for the command.
    pub cwd: PathBuf,
    /// The command.
    pub argv: Vec<String>,
    /// Variables qwarden sets (after the allowlisted ones).
    pub set_env: Vec<(String, String)>,
    /// The limits.
    pub limits: Limits,
    /// The isolation to build.
    pub isolation: Isolation,
    /// The lowest Landlock ABI accepted.
    pub landlock_min_abi: u32,
    /// Whether read-only opens are observed (to record denied reads).
    pub observe_reads: bool,
    /// The egress endpoints: the only ways out of the sandbox.
    pub egress: Egress,
    /// The host directory the new root is mounted on (empty; made by the supervisor).
    pub root_dir: PathBuf,
    /// Host directory for qwarden's synthetic files (`/etc/hosts` …).
    pub run_dir: PathBuf,
}

/// One step of building the sandbox's root, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "op")]
pub enum Mount {
    /// A fresh tmpfs at `target` with `mode`, holding at most `size` bytes (0: the kernel's
    /// default, half of RAM; only for the small read-only ones).
    Tmpfs {
        /// Where, inside the sandbox.
        target: PathBuf,
        /// Permission bits of its root.
        mode: u32,
        /// Its capacity in bytes: files in tmpfs are memory that no rlimit counts.
        size: u64,
    },
    /// Make `target` (a directory already in the tree) a mount point of itself, writable: a
    /// mount point cannot be renamed or removed, so the masks and read-only binds below it stay
    /// where the plan put them.
    Pin {
        /// The directory, inside the sandbox.
        target: PathBuf,
    },
    /// Remount `target` (already in the tree, e.g. `/proc/sys`) read-only, by binding it onto
    /// itself.
    ReadOnly {
        /// The path, inside the sandbox.
        target: PathBuf,
    },
    /// Bind `source` (host) at `target` (sandbox), read-only unless `writable`.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Sandbox path.
        target: PathBuf,
        /// Whether writes are allowed.
        writable: bool,
    },
    /// A symbolic link at `path` pointing to `to`.
    Symlink {
        /// The link, inside the sandbox.
        path: PathBuf,
        /// Its target.
        to: PathBuf,
    },
    /// A file with fixed contents (read-only once the parent is remounted).
    File {
        /// The file, inside the sandbox.
        path: PathBuf,
        /// Its contents.
        contents: String,
    },
    /// Hide `target`: an empty read-only tmpfs over a directory, `/dev/null` over a file.
    Mask {
        /// The hidden path.
        target: PathBuf,
        /// Whether it is a directory.
        dir: bool,
    },
    /// A fresh `/proc` for the sandbox's pid namespace.
    Proc,
    /// A private devpts instance at `/dev/pts`, with `/dev/ptmx` pointing into it.
    Devpts,
    /// Remount the tmpfs at `target` read-only (after it is populated).
    SealTmpfs {
        /// The tmpfs.
        target: PathBuf,
    },
}

/// The plan sent to the init process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The session id.
    pub session: String,
    /// The isolation to build.
    pub isolation: Isolation,
    /// The host directory the new root is mounted on.
    pub root_dir: PathBuf,
    /// The mount steps, in order.
    pub mounts: Vec<Mount>,
    /// The sandbox's host name.
    pub hostname: String,
    /// The working directory.
    pub cwd: PathBuf,
    /// The command.
    pub argv: Vec<String>,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// The limits.
    pub limits: Limits,
    /// Landlock: paths readable (and executable).
    pub landlock_read: Vec<PathBuf>,
    /// Landlock: paths writable.
    pub landlock_write: Vec<PathBuf>,
    /// Landlock: device nodes readable and writable.
    pub landlock_devices: Vec<PathBuf>,
    /// The lowest Landlock ABI accepted.
    pub landlock_min_abi: u32,
    /// Whether read-only opens are observed.
    pub observe_reads: bool,
    /// The egress endpoints: the only ways out of the sandbox.
    pub egress: Egress,
    /// Cgroup `cgroup.procs` files the supervisor puts the init into before sending the plan.
    pub cgroup_procs: Vec<PathBuf>,
}

/// A plan that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The command is empty.
    #[error("no command to run: give one after `--`, e.g. `qwarden run --agent a.toml -- bash`")]
    NoCommand,
    /// A path is relative or not valid.
    #[error("`{0}` is not an absolute path; scopes reach the sandbox as absolute paths")]
    Relative(PathBuf),
    /// The working directory is not visible in the sandbox.
    #[error(
        "the working directory `{0}` is outside every granted scope, so the agent could not start there; run from the project or grant it"
    )]
    CwdHidden(PathBuf),
    /// The egress proxy's port cannot be used.
    #[error(
        "the egress proxy cannot listen on port {0}: 0 is no fixed port and 53 belongs to the sandbox's DNS stub; give another port (the default is 3128)"
    )]
    ProxyPort(u16),
}

fn depth(p: &Path) -> usize {
    p.components().count()
}

impl Plan {
    /// Builds the plan for `spec`, with `host_env` the supervisor's environment.
    pub fn build(spec: &Spec, host_env: &[(String, String)]) -> Result<Plan, PlanError> {
        if spec.argv.is_empty() {
            return Err(PlanError::NoCommand);
        }
        for p in spec
            .read
            .iter()
            .chain(spec.write.iter().map(|w| &w.path))
            .chain(&spec.system_paths)
            .chain([&spec.home, &spec.cwd])
        {
            if !p.is_absolute() {
                return Err(PlanError::Relative(p.clone()));
            }
        }
        let e = spec.egress;
        if spec.isolation == Isolation::Full && (e.proxy_port == 0 || e.dns && e.proxy_port == 53) {
            return Err(PlanError::ProxyPort(e.proxy_port));
        }
        if spec.isolation == Isolation::Full
            && let Some(g) = e.gateway_port
            && (g == 0 || g == 53 || g == e.proxy_port)
        {
            return Err(PlanError::ProxyPort(g));
        }
        if spec.isolation != Isolation::Full && e.host_gateway_port == Some(0) {
            return Err(PlanError::ProxyPort(0));
        }
        if spec.isolation != Isolation::Full && e.host_proxy_port == Some(0) {
            return Err(PlanError::ProxyPort(0));
        }
        let view = View::of(spec);
        if !matches!(
            view.classify(&spec.cwd),
            Access::ReadOnly | Access::Writable | Access::Private
        ) {
            return Err(PlanError::CwdHidden(spec.cwd.clone()));
        }
        let mounts = if spec.isolation == Isolation::Full {
            mounts(spec)
        } else {
            Vec::new()
        };
        let mut env: Vec<(String, String)> = host_env
            .iter()
            .filter(|(k, _)| ENV_ALLOW.contains(&k.as_str()) || k.starts_with("LC_"))
            .cloned()
            .collect();
        let home = spec.home.display().to_string();
        let tmp = private_tmp(spec).display().to_string();
        for (k, v) in [
            ("HOME", home.as_str()),
            ("TMPDIR", tmp.as_str()),
            ("QWARDEN_SESSION", spec.session.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .chain(spec.set_env.iter().cloned())
        {
            env.retain(|(name, _)| *name != k);
            env.push((k, v));
        }
        // Only the PATH entries the agent can see: the rest would each cost every execvp a
        // refused, recorded attempt.
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        let visible: Vec<&str> = path
            .split(':')
            .filter(|d| {
                d.starts_with('/')
                    && matches!(
                        view.classify(Path::new(d)),
                        Access::ReadOnly | Access::Writable | Access::Private
                    )
            })
            .collect();
        let path = if visible.is_empty() {
            "/usr/local/bin:/usr/bin:/bin".to_owned()
        } else {
            visible.join(":")
        };
        env.retain(|(k, _)| k != "PATH");
        env.push(("PATH".into(), path));
        let mut landlock_read: Vec<PathBuf> = Vec::new();
        let mut landlock_write: Vec<PathBuf> = Vec::new();
        match spec.isolation {
            Isolation::Full => {
                // The mount tree already shows only what is granted; Landlock repeats it so that a
                // mount-level mistake is not enough to escape.
                landlock_read.extend(
                    SYSTEM_DIRS
                        .iter()
                        .chain(&["/etc", "/run/host", "/proc"])
                        .map(PathBuf::from),
                );
                landlock_write.extend(["/tmp".into(), "/dev/shm".into()]);
            }
            Isolation::LandlockOnly | Isolation::Unsandboxed => {
                // Without a mount namespace Landlock alone decides, so /etc is granted entry by
                // entry (password hashes and SSH host keys stay out) and /dev not at all beyond
                // the device rules.
                landlock_read.extend(SYSTEM_DIRS.iter().map(PathBuf::from));
                landlock_read.push("/proc".into());
                landlock_read.extend(etc_entries().into_iter().map(|e| Path::new("/etc").join(e)));
                landlock_write.push(private_tmp(spec));
            }
        }
        landlock_read.extend(spec.system_paths.iter().cloned());
        landlock_read.extend(spec.read.iter().cloned());
        for w in &spec.write {
            match w.mode {
                WriteMode::Direct => landlock_write.push(w.path.clone()),
                // Without a mount namespace a copy cannot take the scope's place: read-only.
                WriteMode::Review { .. } if spec.isolation == Isolation::Full => {
                    landlock_write.push(w.path.clone())
                }
                WriteMode::Review { .. } | WriteMode::ReadOnly => {
                    landlock_read.push(w.path.clone())
                }
            }
        }
        landlock_write.push(spec.home.clone());
        let mut landlock_devices: Vec<PathBuf> = BASIC_DEVICES
            .iter()
            .map(|d| Path::new("/dev").join(d))
            .chain(["/dev/pts".into(), "/dev/ptmx".into()])
            .collect();
        landlock_devices.extend(spec.devices.iter().cloned());
        Ok(Plan {
            session: spec.session.clone(),
            isolation: spec.isolation,
            root_dir: spec.root_dir.clone(),
            mounts,
            hostname: "qwarden-sandbox".into(),
            cwd: spec.cwd.clone(),
            argv: spec.argv.clone(),
            env,
            limits: spec.limits,
            landlock_read,
            landlock_write,
            landlock_devices,
            landlock_min_abi: spec.landlock_min_abi,
            observe_reads: spec.observe_reads,
            egress: spec.egress,
            cgroup_procs: Vec::new(),
        })
    }
}

/// The agent's private temporary directory: a tmpfs at `/tmp` with namespaces, a directory of the
/// session's otherwise.
pub fn private_tmp(spec: &Spec) -> PathBuf {
    if spec.isolation == Isolation::Full {
        "/tmp".into()
    } else {
        spec.run_dir.join("tmp")
    }
}

/// Paths under `/etc` (relative) that are not world-readable: what an unprivileged user cannot
/// read stays unreadable for an agent that runs as root (which keeps owner rights without any
/// capability). Bounded walk: four levels, 20,000 entries.
pub fn etc_private() -> Vec<PathBuf> {
    // Walked once per process: the plan and the view both need it.
    static PRIVATE: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    PRIVATE.get_or_init(walk_etc_private).clone()
}

fn walk_etc_private() -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![(PathBuf::new(), 0usize)];
    let mut seen = 0usize;
    while let Some((rel, level)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(Path::new("/etc").join(&rel)) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            seen += 1;
            if seen > 20_000 {
                return out;
            }
            // The type comes with the directory entry; only non-links need a stat for the mode
            // (/etc/alternatives alone holds hundreds of links).
            if e.file_type().map_or(true, |t| t.is_symlink()) {
                continue;
            }
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            let child = rel.join(e.file_name());
            if md.permissions().mode() & 0o004 == 0 {
                out.push(child);
            } else if md.is_dir() && level < 3 {
                stack.push((child, level + 1));
            }
        }
    }
    out.sort();
    out
}

/// The host's `/etc` entries an agent may see.
fn etc_entries() -> Vec<String> {
    let mut entries: Vec<String> = std::fs::read_dir("/etc")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !ETC_HIDDEN.contains(&n.as_str()))
                .filter(|n| {
                    use std::os::unix::fs::PermissionsExt;
                    Path::new("/etc").join(n).symlink_metadata().is_ok_and(|m| {
                        m.file_type().is_symlink() || m.permissions().mode() & 0o004 != 0
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    entries
}

/// The mount steps for a fully isolated session.
fn mounts(spec: &Spec) -> Vec<Mount> {
    let mut m = Vec::new();
    for dir in SYSTEM_DIRS {
        let p = Path::new(dir);
        match std::fs::symlink_metadata(p) {
            Ok(md) if md.file_type().is_symlink() => {
                if let Ok(to) = std::fs::read_link(p) {
                    m.push(Mount::Symlink { path: p.into(), to });
                }
            }
            Ok(md) if md.is_dir() => m.push(Mount::Bind {
                source: p.into(),
                target: p.into(),
                writable: false,
            }),
            _ => {}
        }
    }
    // /run: a private tmpfs holding the host's /etc, which /etc links into.
    m.push(Mount::Tmpfs {
        target: "/run".into(),
        mode: 0o755,
        size: 1 << 20,
    });
    m.push(Mount::Bind {
        source: "/etc".into(),
        target: HOST_ETC.into(),
        writable: false,
    });
    m.push(Mount::Tmpfs {
        target: "/etc".into(),
        mode: 0o755,
        size: 1 << 20,
    });
    for hidden in ETC_HIDDEN {
        let host = Path::new("/etc").join(hidden);
        if let Ok(md) = std::fs::symlink_metadata(&host)
            && !md.file_type().is_symlink()
        {
            m.push(Mount::Mask {
                target: Path::new(HOST_ETC).join(hidden),
                dir: md.is_dir(),
            });
        }
    }
    for private in etc_private() {
        if private.components().count() > 1
            && let Ok(md) = Path::new("/etc").join(&private).symlink_metadata()
        {
            m.push(Mount::Mask {
                target: Path::new(HOST_ETC).join(&private),
                dir: md.is_dir(),
            });
        }
    }
    for name in etc_entries() {
        if ["hosts", "resolv.conf", "hostname"].contains(&name.as_str()) {
            continue;
        }
        m.push(Mount::Symlink {
            path: Path::new("/etc").join(&name),
            to: Path::new(HOST_ETC).join(&name),
        });
    }
    m.push(Mount::File {
        path: "/etc/hosts".into(),
        contents: "127.0.0.1 localhost qwarden-sandbox\n::1 localhost ip6-localhost ip6-loopback\n"
            .into(),
    });
    m.push(Mount::File {
        path: "/etc/hostname".into(),
        contents: "qwarden-sandbox\n".into(),
    });
    // The only resolver is qwarden's DNS stub, at 127.0.0.1:53 in the sandbox's own network
    // namespace (see `Egress`); the egress proxy resolves the names it connects to itself.
    m.push(Mount::File {
        path: "/etc/resolv.conf".into(),
        contents: "# qwarden: the sandbox has no network but qwarden's egress proxy and DNS stub.\nnameserver 127.0.0.1\noptions attempts:1 timeout:1\n".into(),
    });
    m.push(Mount::SealTmpfs {
        target: "/etc".into(),
    });
    m.push(Mount::SealTmpfs {
        target: "/run".into(),
    });
    m.push(Mount::Proc);
    // Writable at mount level in a fresh /proc; Landlock already refuses writes there, and this
    // makes the kernel refuse them too (as bwrap and container runtimes do).
    for p in ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"] {
        if Path::new(p).exists() {
            m.push(Mount::ReadOnly { target: p.into() });
        }
    }
    m.push(Mount::Tmpfs {
        target: "/dev".into(),
        mode: 0o755,
        size: 1 << 20,
    });
    for d in BASIC_DEVICES
        .iter()
        .map(|d| Path::new("/dev").join(d))
        .chain(spec.devices.iter().cloned())
    {
        if d.exists() {
            m.push(Mount::Bind {
                source: d.clone(),
                target: d,
                writable: true,
            });
        }
    }
    for (link, to) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        m.push(Mount::Symlink {
            path: link.into(),
            to: to.into(),
        });
    }
    m.push(Mount::Devpts);
    m.push(Mount::Tmpfs {
        target: "/dev/shm".into(),
        mode: 0o1777,
        size: (spec.limits.memory_bytes / 4).max(1 << 20),
    });
    m.push(Mount::SealTmpfs {
        target: "/dev".into(),
    });
    m.push(Mount::Tmpfs {
        target: "/tmp".into(),
        mode: 0o1777,
        size: spec.limits.memory_bytes.max(1 << 20),
    });
    m.push(Mount::Tmpfs {
        target: spec.home.clone(),
        mode: 0o700,
        size: (spec.limits.memory_bytes / 2).max(1 << 20),
    });
    for p in &spec.system_paths {
        if p.exists() {
            m.push(Mount::Bind {
                source: p.clone(),
                target: p.clone(),
                writable: false,
            });
        }
    }
    // Scopes, parents before children so a write scope inside a read scope stays writable.
    let mut scopes: Vec<(PathBuf, PathBuf, bool)> = spec
        .read
        .iter()
        .map(|r| (r.clone(), r.clone(), false))
        .chain(spec.write.iter().map(|w| match &w.mode {
            WriteMode::Direct => (w.path.clone(), w.path.clone(), true),
            WriteMode::Review { copy } => (copy.clone(), w.path.clone(), true),
            WriteMode::ReadOnly => (w.path.clone(), w.path.clone(), false),
        }))
        .collect();
    scopes.sort_by(|a, b| depth(&a.1).cmp(&depth(&b.1)).then(a.1.cmp(&b.1)));
    for (source, target, writable) in scopes.iter().cloned() {
        m.push(Mount::Bind {
            source,
            target,
            writable,
        });
    }
    // The host path a sandbox path is shown from: the innermost scope containing it.
    let source_of = |p: &Path| -> Option<PathBuf> {
        scopes
            .iter()
            .filter(|(_, t, _)| p.starts_with(t))
            .max_by_key(|(_, t, _)| depth(t))
            .and_then(|(s, t, _)| p.strip_prefix(t).ok().map(|rel| s.join(rel)))
    };
    // Inside a writable scope, the directories between the scope and a hidden or protected path
    // are pinned (made mount points of themselves) before the masks and read-only binds go in:
    // otherwise `mv .git .git-old` or `mv ~/.local/state elsewhere` would carry the mask away and
    // leave a fresh, unprotected path in its place.
    let writable: Vec<&Path> = scopes
        .iter()
        .filter(|(_, _, w)| *w)
        .map(|(_, t, _)| t.as_path())
        .collect();
    let mut pins: Vec<PathBuf> = Vec::new();
    for guarded in spec.hidden.iter().chain(&spec.protected) {
        let Some(scope) = writable
            .iter()
            .filter(|w| guarded.starts_with(w) && guarded != *w)
            .max_by_key(|w| depth(w))
        else {
            continue;
        };
        let mut dir = guarded.parent();
        while let Some(d) = dir {
            if d == *scope || !d.starts_with(scope) {
                break;
            }
            if let Some(src) = source_of(d)
                && std::fs::symlink_metadata(&src).is_ok_and(|md| md.is_dir())
                && !pins.iter().any(|p| p == d)
            {
                pins.push(d.to_path_buf());
            }
            dir = d.parent();
        }
    }
    pins.sort_by(|a, b| depth(a).cmp(&depth(b)).then(a.cmp(b)));
    for target in pins {
        m.push(Mount::Pin { target });
    }
    for h in &spec.hidden {
        if let Some(src) = source_of(h)
            && let Ok(md) = std::fs::symlink_metadata(&src)
            && !md.file_type().is_symlink()
        {
            m.push(Mount::Mask {
                target: h.clone(),
                dir: md.is_dir(),
            });
        }
    }
    for p in &spec.protected {
        let in_write = spec
            .write
            .iter()
            .any(|w| p.starts_with(&w.path) && w.mode != WriteMode::ReadOnly);
        if !in_write {
            continue;
        }
        if let Some(src) = source_of(p)
            && let Ok(md) = std::fs::symlink_metadata(&src)
            && !md.file_type().is_symlink()
        {
            m.push(Mount::Bind {
                source: src,
                target: p.clone(),
                writable: false,
            });
        }
    }
    m
}

/// What the sandbox allows at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Not in the sandbox at all.
    Outside,
    /// A credential store: never opened.
    CredentialStore,
    /// Hidden inside a scope.
    Hidden,
    /// Visible, read-only (system directories, read scopes, read-only write scopes).
    ReadOnly,
    /// A protected path inside a write scope.
    Protected,
    /// Inside a write scope.
    Writable,
    /// The sandbox's own private areas (`/tmp`, the home directory, `/dev/shm`): writable,
    /// discarded at the end, not recorded.
    Private,
    /// Kernel interfaces (`/proc`, `/dev`): left to the kernel.
    Kernel,
}

/// The supervisor's picture of the sandbox's file system, for judging observed paths.
#[derive(Debug, Clone, Default)]
pub struct View {
    entries: Vec<(PathBuf, Access)>,
    isolation: Option<Isolation>,
    system: Vec<PathBuf>,
    egress: Egress,
}

impl View {
    /// The view for `spec`.
    pub fn of(spec: &Spec) -> View {
        let mut entries: Vec<(PathBuf, Access)> = Vec::new();
        let full = spec.isolation == Isolation::Full;
        for d in SYSTEM_DIRS
            .iter()
            .chain(&["/etc"])
            .chain(if full { &["/run"][..] } else { &[] })
        {
            entries.push((d.into(), Access::ReadOnly));
        }
        for p in &spec.system_paths {
            entries.push((p.clone(), Access::ReadOnly));
        }
        entries.push(("/proc".into(), Access::Kernel));
        // The sandbox's pid 1 is qwarden's init and the supervisor is outside the pid namespace:
        // reaching either through /proc is an escape attempt.
        for f in [
            "environ",
            "mem",
            "root",
            "cwd",
            "fd",
            "maps",
            "map_files",
            "auxv",
            "stack",
            "syscall",
            "pagemap",
        ] {
            entries.push((Path::new("/proc/1").join(f), Access::Hidden));
        }
        entries.push((
            format!("/proc/{}", std::process::id()).into(),
            Access::Hidden,
        ));
        // /dev holds only the basic nodes and the granted devices; any other device is refused.
        entries.push(("/dev".into(), Access::Outside));
        for d in BASIC_DEVICES
            .iter()
            .chain(&["pts", "ptmx", "fd", "stdin", "stdout", "stderr"])
            .map(|d| Path::new("/dev").join(d))
            .chain(spec.devices.iter().cloned())
        {
            entries.push((d, Access::Kernel));
        }
        entries.push((private_tmp(spec), Access::Private));
        if spec.isolation == Isolation::Full {
            entries.push(("/dev/shm".into(), Access::Private));
        } else {
            // Without a mount namespace the host's /tmp is the host's.
            entries.push(("/tmp".into(), Access::Outside));
        }
        // Masked with namespaces; without them simply not granted to Landlock.
        let etc_hidden = if full {
            Access::Hidden
        } else {
            Access::Outside
        };
        for hidden in ETC_HIDDEN {
            entries.push((Path::new(HOST_ETC).join(hidden), etc_hidden));
            entries.push((Path::new("/etc").join(hidden), etc_hidden));
        }
        for private in etc_private() {
            // Top-level ones are simply not granted; deeper ones are masked with namespaces and
            // only refused by the observer without them.
            let a = if full || private.components().count() == 1 {
                etc_hidden
            } else {
                Access::Hidden
            };
            entries.push((Path::new(HOST_ETC).join(&private), a));
            entries.push((Path::new("/etc").join(&private), a));
        }
        entries.push((spec.home.clone(), Access::Private));
        for r in &spec.read {
            entries.push((r.clone(), Access::ReadOnly));
        }
        for w in &spec.write {
            // Without a mount namespace a review copy cannot take the scope's place.
            let read_only = w.mode == WriteMode::ReadOnly
                || (!full && matches!(w.mode, WriteMode::Review { .. }));
            let access = if read_only {
                Access::ReadOnly
            } else {
                Access::Writable
            };
            entries.push((w.path.clone(), access));
        }
        for p in &spec.protected {
            if spec
                .write
                .iter()
                .any(|w| p.starts_with(&w.path) && w.mode != WriteMode::ReadOnly)
            {
                entries.push((p.clone(), Access::Protected));
            }
        }
        for h in &spec.hidden {
            entries.push((h.clone(), Access::Hidden));
        }
        for c in &spec.credential_stores {
            entries.push((c.clone(), Access::CredentialStore));
        }
        View {
            entries,
            isolation: Some(spec.isolation),
            system: spec.system_paths.clone(),
            egress: spec.egress,
        }
    }

    /// Whether `path` is in a directory only the host can change (system directories and the
    /// profile's read-only paths), where the agent cannot plant symlinks.
    pub fn is_system(&self, path: &Path) -> bool {
        SYSTEM_DIRS
            .iter()
            .chain(&["/etc", "/run/host"])
            .any(|d| under(path, Path::new(d)))
            || self.system.iter().any(|d| under(path, d))
    }

    /// Whether `path` is in a system directory or a profile read-only path: shown at the same
    /// path as on the host, read-only, so the supervisor may look at the host's file directly.
    pub fn is_program_dir(&self, path: &Path) -> bool {
        SYSTEM_DIRS.iter().any(|d| under(path, Path::new(d)))
            || self.system.iter().any(|d| under(path, d))
    }

    /// The isolation the view was made for (full, for a default view).
    pub fn isolation(&self) -> Isolation {
        self.isolation.unwrap_or(Isolation::Full)
    }

    /// The egress endpoints of the session: where the agent may connect.
    pub fn egress(&self) -> Egress {
        self.egress
    }

    /// The kernel mechanism that keeps paths outside the view out of reach: the mount namespace,
    /// or Landlock alone in degraded mode.
    pub fn enforcer(&self) -> &'static str {
        match self.isolation {
            Some(Isolation::Full) | None => "mount-namespace",
            Some(Isolation::LandlockOnly) => "landlock",
            Some(Isolation::Unsandboxed) => "seccomp-notify",
        }
    }

    /// What the sandbox allows at `path` (absolute, normalised): the rule of the longest matching
    /// entry; credential stores win wherever they appear.
    pub fn classify(&self, path: &Path) -> Access {
        // A credential store wins over every rule, except the session's own private directories
        // (which live in qwarden's state directory when there is no mount namespace).
        let store = self
            .entries
            .iter()
            .filter(|(p, a)| *a == Access::CredentialStore && under(path, p))
            .map(|(p, _)| depth(p))
            .max();
        if let Some(store) = store {
            let private = self
                .entries
                .iter()
                .any(|(p, a)| *a == Access::Private && under(path, p) && depth(p) > store);
            if !private {
                return Access::CredentialStore;
            }
        }
        let matched = self
            .entries
            .iter()
            .filter(|(p, _)| under(path, p))
            .max_by_key(|(p, a)| (depth(p), *a == Access::Hidden || *a == Access::Protected))
            .map(|(_, a)| *a);
        match matched {
            Some(a) => a,
            // The directories leading to a mount (`/`, `/home`, …) exist, empty and read-only.
            None if self.entries.iter().any(|(p, a)| {
                under(p, path)
                    && !matches!(
                        a,
                        Access::Hidden | Access::CredentialStore | Access::Outside
                    )
            }) =>
            {
                Access::ReadOnly
            }
            None => Access::Outside,
        }
    }
}

/// `Path::starts_with` on bytes: the observer asks this for every notified open, and normalised
/// absolute paths (no `.`, `..`, repeated or trailing slashes) make the component walk needless.
fn under(path: &Path, dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let (p, d) = (path.as_os_str().as_bytes(), dir.as_os_str().as_bytes());
    match p.strip_prefix(d) {
        Some(rest) => rest.is_empty() || rest.first() == Some(&b'/') || d.last() == Some(&b'/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec() -> Spec {
        Spec {
            session: "s1".into(),
            read: vec!["/home/u/proj".into()],
            write: vec![WriteScope {
                path: "/home/u/proj/src".into(),
                mode: WriteMode::Direct,
            }],
            hidden: vec!["/home/u/proj/data/private".into()],
            credential_stores: vec!["/home/u/.qiskit".into()],
            protected: vec![
                "/home/u/proj/src/.git/hooks".into(),
                "/home/u/proj/.github".into(),
            ],
            system_paths: vec![],
            devices: vec![],
            home: "/home/u".into(),
            cwd: "/home/u/proj".into(),
            argv: vec!["true".into()],
            set_env: vec![],
            limits: Limits {
                memory_bytes: 1 << 30,
                processes: 64,
                open_files: 256,
                cpu_seconds: 60,
            },
            isolation: Isolation::Full,
            landlock_min_abi: 1,
            observe_reads: true,
            egress: Egress::default(),
            root_dir: "/var/tmp/root".into(),
            run_dir: "/var/tmp/run".into(),
        }
    }

    #[test]
    fn the_view_judges_by_the_innermost_rule() {
        let v = View::of(&spec());
        assert_eq!(
            v.classify(Path::new("/home/u/proj/README")),
            Access::ReadOnly
        );
        assert_eq!(
            v.classify(Path::new("/home/u/proj/src/a.py")),
            Access::Writable
        );
        assert_eq!(
            v.classify(Path::new("/home/u/proj/src/.git/hooks/x")),
            Access::Protected
        );
        assert_eq!(
            v.classify(Path::new("/home/u/proj/.github/ci.yml")),
            Access::ReadOnly
        );
        assert_eq!(
            v.classify(Path::new("/home/u/proj/data/private/k")),
            Access::Hidden
        );
        assert_eq!(
            v.classify(Path::new("/home/u/.qiskit/qiskit-ibm.json")),
            Access::CredentialStore
        );
        assert_eq!(v.classify(Path::new("/home/u/.cache/x")), Access::Private);
        assert_eq!(v.classify(Path::new("/root/secret")), Access::Outside);
        assert_eq!(v.classify(Path::new("/usr/bin/python3")), Access::ReadOnly);
        assert_eq!(v.classify(Path::new("/proc/self/environ")), Access::Kernel);
    }

    #[test]
    fn the_environment_is_an_allowlist() {
        let env = vec![
            ("PATH".to_owned(), "/usr/bin".to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), "x".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
            ("LC_ALL".to_owned(), "C".to_owned()),
            ("SSH_AUTH_SOCK".to_owned(), "/tmp/agent".to_owned()),
        ];
        let plan = Plan::build(&spec(), &env).unwrap();
        let names: Vec<&str> = plan.env.iter().map(|(k, _)| k.as_str()).collect();
        assert!(names.contains(&"PATH") && names.contains(&"LC_ALL"));
        assert!(!names.contains(&"AWS_SECRET_ACCESS_KEY") && !names.contains(&"SSH_AUTH_SOCK"));
        assert!(
            plan.env
                .contains(&("HOME".to_owned(), "/home/u".to_owned()))
        );
    }

    #[test]
    fn a_cwd_outside_the_scopes_is_refused() {
        let mut s = spec();
        s.cwd = "/srv".into();
        assert!(matches!(Plan::build(&s, &[]), Err(PlanError::CwdHidden(_))));
        s.cwd = "/home/u/proj".into();
        s.argv.clear();
        assert!(matches!(Plan::build(&s, &[]), Err(PlanError::NoCommand)));
    }

    #[test]
    fn write_scopes_are_bound_after_the_read_scopes_that_contain_them() {
        let plan = Plan::build(&spec(), &[]).unwrap();
        let binds: Vec<(&Path, bool)> = plan
            .mounts
            .iter()
            .filter_map(|m| match m {
                Mount::Bind {
                    target, writable, ..
                } if target.starts_with("/home/u") => Some((target.as_path(), *writable)),
                _ => None,
            })
            .collect();
        assert_eq!(binds.first(), Some(&(Path::new("/home/u/proj"), false)));
        assert_eq!(binds.get(1), Some(&(Path::new("/home/u/proj/src"), true)));
    }

    #[test]
    fn the_egress_reaches_the_plan_and_the_view() {
        let mut s = spec();
        let plan = Plan::build(&s, &[]).unwrap();
        assert_eq!(plan.egress, Egress::default());
        assert_eq!(
            (plan.egress.proxy_port, plan.egress.dns),
            (DEFAULT_PROXY_PORT, true)
        );
        s.egress = Egress {
            proxy_port: 8888,
            dns: false,
            host_proxy_port: None,
            ..Egress::default()
        };
        assert_eq!(Plan::build(&s, &[]).unwrap().egress.proxy_port, 8888);
        assert_eq!(View::of(&s).egress(), s.egress);
        assert_eq!(View::of(&s).isolation(), Isolation::Full);
    }

    #[test]
    fn an_unusable_proxy_port_is_refused() {
        let mut s = spec();
        for (port, dns) in [(0, true), (0, false), (53, true)] {
            s.egress = Egress {
                proxy_port: port,
                dns,
                host_proxy_port: None,
                ..Egress::default()
            };
            let err = Plan::build(&s, &[]).unwrap_err();
            assert!(matches!(err, PlanError::ProxyPort(p) if p == port), "{err}");
            assert!(err.to_string().contains("3128"), "{err}");
        }
        // Without the DNS stub, 53 is free.
        s.egress.dns = false;
        s.egress.proxy_port = 53;
        assert!(Plan::build(&s, &[]).is_ok());
        // Without namespaces the port in the sandbox is not used; the host's must not be 0.
        s.isolation = Isolation::LandlockOnly;
        s.egress = Egress {
            proxy_port: 0,
            dns: true,
            host_proxy_port: Some(0),
            ..Egress::default()
        };
        assert!(matches!(Plan::build(&s, &[]), Err(PlanError::ProxyPort(0))));
        s.egress.host_proxy_port = Some(40000);
        assert!(Plan::build(&s, &[]).is_ok());
    }

    #[test]
    fn under_agrees_with_starts_with_on_normalised_paths() {
        for (p, d) in [
            ("/a/b", "/a"),
            ("/a", "/a"),
            ("/ab", "/a"),
            ("/a", "/"),
            ("/", "/"),
            ("/a/b/c", "/a/b/c/d"),
            ("/home/u/.qiskit-old", "/home/u/.qiskit"),
        ] {
            assert_eq!(
                under(Path::new(p), Path::new(d)),
                Path::new(p).starts_with(d),
                "{p} under {d}"
            );
        }
    }
}
