//! `qwarden doctor`: what this machine offers the sandbox, probed for real.
//!
//! The namespace probe starts an actual minimal sandbox (the same init, plan and seccomp filter
//! as `qwarden run`) running `true`; the degraded probe does the same without namespaces. Each
//! line carries the exact fix for what is missing.

use std::path::{Path, PathBuf};

use serde::Serialize;

use qwarden_sandbox::plan::{Egress, Isolation, Limits, Plan, Spec};
use qwarden_sandbox::spawn::{Report, Sandbox};

/// One probed feature.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// The feature.
    pub feature: &'static str,
    /// Whether it works here.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// How to fix it, when it does not work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn read(p: &str) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

/// Runs `true` in a real sandbox of `isolation`; returns how it was confined.
fn sandbox_probe(
    init: &(PathBuf, Vec<String>),
    isolation: Isolation,
    scratch: &Path,
) -> Result<String, String> {
    let root = scratch.join(format!("root-{isolation:?}"));
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let home = scratch.join("home");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let spec = Spec {
        session: "doctor".into(),
        read: vec![scratch.to_path_buf()],
        write: Vec::new(),
        hidden: Vec::new(),
        credential_stores: Vec::new(),
        protected: Vec::new(),
        system_paths: Vec::new(),
        devices: Vec::new(),
        home,
        cwd: scratch.to_path_buf(),
        argv: vec!["true".into()],
        set_env: Vec::new(),
        limits: Limits {
            memory_bytes: 1 << 30,
            processes: 64,
            open_files: 256,
            cpu_seconds: 10,
        },
        isolation,
        landlock_min_abi: 0,
        observe_reads: false,
        egress: Egress::default(),
        root_dir: root,
        run_dir: scratch.to_path_buf(),
    };
    let plan = Plan::build(&spec, &[]).map_err(|e| e.to_string())?;
    let args: Vec<&str> = init.1.iter().map(String::as_str).collect();
    let sandbox = Sandbox::start(&plan, &init.0, &args).map_err(|e| e.to_string())?;
    let mut confinement = Vec::new();
    let mut listener = None;
    let result = loop {
        match sandbox.next() {
            Report::Listener(fd) => {
                // Answer the agent's execve so it can run, then keep the listener until it exits.
                let l = qwarden_sandbox::seccomp::Listener::from(fd);
                let view = qwarden_sandbox::plan::View::of(&spec);
                let handle = std::thread::spawn(move || {
                    let mut hashes = qwarden_sandbox::observe::HashCache::default();
                    qwarden_sandbox::observe::observe(&l, &view, &mut hashes, &mut |_| true);
                });
                listener = Some(handle);
            }
            Report::Confinement(c) => confinement.push(c),
            // The egress endpoints: `true` makes no connection, so they are simply closed.
            Report::Endpoint { .. } => {}
            Report::Warning(w) => confinement.push(format!("warning: {w}")),
            Report::Failed(e) | Report::NotFound(e) => break Err(e),
            Report::Exited(0) => break Ok(confinement.join("; ")),
            Report::Exited(s) => break Err(format!("`true` exited with status {s}")),
            Report::Closed => break Err("the sandbox init exited early".into()),
        }
    };
    let _ = sandbox.wait();
    if let Some(h) = listener {
        let _ = h.join();
    }
    result
}

/// Probes the machine. `init` is the sandbox init executable and its arguments.
pub fn doctor(init: &(PathBuf, Vec<String>)) -> Vec<Probe> {
    let mut probes = Vec::new();
    // A fresh private directory (not a predictable name another user could plant first).
    let scratch_dir = tempfile::Builder::new().prefix("qwarden-doctor-").tempdir();
    let scratch = match &scratch_dir {
        Ok(d) => d.path().to_path_buf(),
        Err(_) => std::env::temp_dir().join(format!("qwarden-doctor-{}", std::process::id())),
    };
    let (uid, _) = qwarden_sandbox::sys::ids();

    let max = read("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    let apparmor = read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
    let full = sandbox_probe(init, Isolation::Full, &scratch);
    probes.push(Probe {
        feature: "user namespaces",
        ok: full.is_ok(),
        detail: match &full {
            Ok(c) => format!("a real sandbox started: {c}"),
            Err(e) => format!("a real sandbox failed: {e}"),
        },
        fix: full.is_err().then(|| {
            if max == "0" {
                "sudo sysctl -w user.max_user_namespaces=15000 (and persist it in /etc/sysctl.d/)".to_owned()
            } else if apparmor.as_deref() == Some("1") && uid != 0 {
                "Ubuntu restricts unprivileged user namespaces: install an AppArmor profile allowing `userns` for the qwarden binary (see the README, 'Ubuntu'), or sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0".to_owned()
            } else {
                "enable CONFIG_USER_NS in the kernel; qwarden falls back to Landlock + seccomp meanwhile".to_owned()
            }
        }),
    });
    let abi = qwarden_sandbox::landlock::abi_version();
    let lsm = read("/sys/kernel/security/lsm").unwrap_or_default();
    probes.push(Probe {
        feature: "Landlock",
        ok: abi >= 3,
        detail: if abi == 0 {
            format!("not available (active LSMs: {})", if lsm.is_empty() { "unknown" } else { &lsm })
        } else {
            format!("ABI {abi}{}", if abi >= 4 { ", TCP rules" } else { "" })
        },
        fix: (abi < 3).then(|| {
            if abi == 0 {
                "boot with `lsm=landlock,…` on the kernel command line (CONFIG_SECURITY_LANDLOCK=y, Linux ≥ 5.13)".to_owned()
            } else {
                "upgrade to Linux ≥ 6.2 for ABI 3 (truncate control), or pass `--landlock-floor` to accept this one".to_owned()
            }
        }),
    });
    let degraded = sandbox_probe(init, Isolation::LandlockOnly, &scratch);
    probes.push(Probe {
        feature: "seccomp user notification",
        ok: full.is_ok() || degraded.is_ok(),
        detail: match (&full, &degraded) {
            (Ok(_), _) | (_, Ok(_)) => {
                "filter installed, listener handed to the supervisor, execve observed".to_owned()
            }
            (_, Err(e)) => format!("failed: {e}"),
        },
        fix: (full.is_err() && degraded.is_err())
            .then(|| "needs Linux ≥ 5.9 with CONFIG_SECCOMP_FILTER=y".to_owned()),
    });
    probes.push(Probe {
        feature: "degraded mode",
        ok: degraded.is_ok(),
        detail: match &degraded {
            Ok(c) => format!("Landlock + seccomp without namespaces works: {c}"),
            Err(e) => format!("Landlock + seccomp without namespaces failed: {e}"),
        },
        fix: degraded
            .is_err()
            .then(|| "see the Landlock line".to_owned()),
    });
    let overlay = std::fs::read_to_string("/proc/filesystems")
        .map(|f| f.lines().any(|l| l.trim_end().ends_with("overlay")))
        .unwrap_or(false);
    probes.push(Probe {
        feature: "overlayfs",
        ok: true,
        detail: if overlay {
            "available; not required: staging's review mode works on a copy of each write scope"
                .to_owned()
        } else {
            "not available; not required: staging's review mode works on a copy of each write scope"
                .to_owned()
        },
        fix: None,
    });
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let v1 =
        Path::new("/sys/fs/cgroup/memory").exists() || Path::new("/sys/fs/cgroup/pids").exists();
    probes.push(Probe {
        feature: "cgroups",
        ok: true,
        detail: format!(
            "{}; sessions always get rlimits (memory per process as RLIMIT_DATA, processes as RLIMIT_NPROC, open files, CPU time) and sized tmpfs, plus a session cgroup (pids and memory for the whole tree) {}",
            if v2 { "cgroup v2" } else if v1 { "cgroup v1 (hybrid)" } else { "no cgroup file system" },
            if uid == 0 { "since qwarden runs as root" } else { "only when run as root" }
        ),
        fix: (uid != 0).then(|| {
            "without a cgroup a session's memory limit holds per process, not for the whole tree; run qwarden as root (it then makes a session cgroup) if tree-wide limits matter".to_owned()
        }),
    });
    drop(scratch_dir);
    probes
}
