//! The supervisor's side of starting a sandbox: exec the init, send it the plan, receive what it
//! reports.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};

use crate::init::{CONTROL_FD, MAX_PLAN};
use crate::plan::Plan;
use crate::sys;

/// Which egress endpoint a [`Report::Endpoint`] carries (see [`crate::plan::Egress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    /// The egress proxy's TCP listener, `127.0.0.1:proxy_port` (backlog 1024).
    Proxy,
    /// The DNS stub's UDP socket, bound to `127.0.0.1:53`.
    DnsUdp,
    /// The DNS stub's TCP listener, `127.0.0.1:53` (backlog 1024).
    DnsTcp,
    /// The QPU job gateway's TCP listener, `127.0.0.1:gateway_port` (backlog 1024).
    Gateway,
}

impl EndpointKind {
    /// Every kind, in the order the init sends them.
    pub const ALL: [EndpointKind; 4] = [
        EndpointKind::Proxy,
        EndpointKind::DnsUdp,
        EndpointKind::DnsTcp,
        EndpointKind::Gateway,
    ];

    /// The control-socket tag of the message carrying it (see [`crate::init`]).
    pub const fn tag(self) -> u8 {
        match self {
            EndpointKind::Proxy => b'P',
            EndpointKind::DnsUdp => b'U',
            EndpointKind::DnsTcp => b'T',
            EndpointKind::Gateway => b'G',
        }
    }

    /// The kind a control-socket tag stands for.
    pub fn from_tag(tag: u8) -> Option<EndpointKind> {
        EndpointKind::ALL.into_iter().find(|k| k.tag() == tag)
    }

    /// How logs name it.
    pub fn describe(self) -> &'static str {
        match self {
            EndpointKind::Proxy => "egress proxy (tcp)",
            EndpointKind::DnsUdp => "dns stub (udp)",
            EndpointKind::DnsTcp => "dns stub (tcp)",
            EndpointKind::Gateway => "qpu job gateway (tcp)",
        }
    }
}

/// What the init reports.
#[derive(Debug)]
pub enum Report {
    /// A socket made inside the sandbox's network namespace for the supervisor to serve (full
    /// isolation only). Every endpoint arrives before [`Report::Listener`]; no process in the
    /// sandbox holds a copy. Connections made before the supervisor accepts wait in the backlog.
    Endpoint {
        /// Which one.
        kind: EndpointKind,
        /// The socket: a listening TCP socket, or a bound UDP socket for [`EndpointKind::DnsUdp`].
        fd: OwnedFd,
    },
    /// The seccomp listener for the agent: observation can start.
    Listener(OwnedFd),
    /// How the agent was confined (Landlock ABI and so on).
    Confinement(String),
    /// Something was not applied but the session can go on.
    Warning(String),
    /// Setting up failed; the agent did not start.
    Failed(String),
    /// The command does not exist in the sandbox; the agent did not start.
    NotFound(String),
    /// The agent exited with this wait status.
    Exited(i32),
    /// The init closed the control socket without reporting an exit.
    Closed,
}

/// A sandbox being started or running.
pub struct Sandbox {
    child: Child,
    control: OwnedFd,
    warnings: Vec<String>,
}

/// Why a sandbox could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The init could not be executed.
    #[error("cannot start the sandbox init `{exe}`: {source}")]
    Exec {
        /// The executable.
        exe: String,
        /// The cause.
        source: io::Error,
    },
    /// The plan could not be sent.
    #[error("cannot send the sandbox plan: {0}")]
    Plan(String),
}

impl Sandbox {
    /// Starts `exe args…` as the sandbox init (it must call [`crate::init::main`] with descriptor
    /// [`CONTROL_FD`]) and sends it `plan`.
    pub fn start(plan: &Plan, exe: &Path, args: &[&str]) -> Result<Sandbox, SpawnError> {
        let bytes = serde_json::to_vec(plan).map_err(|e| SpawnError::Plan(e.to_string()))?;
        if bytes.len() > MAX_PLAN {
            return Err(SpawnError::Plan(format!(
                "the plan is {} bytes, over the {MAX_PLAN}-byte limit; grant fewer scopes",
                bytes.len()
            )));
        }
        let (ours, theirs) = sys::seqpacket_pair().map_err(|e| SpawnError::Exec {
            exe: exe.display().to_string(),
            source: e,
        })?;
        let theirs_raw = theirs.as_raw_fd();
        let mut cmd = Command::new(exe);
        // The init needs no environment (the plan carries the agent's), and must not hold the
        // supervisor's where an agent could read it.
        cmd.args(args).env_clear();
        // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
        // system calls (dup2, fcntl, prctl).
        unsafe {
            cmd.pre_exec(move || {
                if theirs_raw == CONTROL_FD {
                    sys::keep_on_exec(CONTROL_FD)?;
                } else {
                    // SAFETY: the descriptor is open in the child until exec.
                    let fd = std::os::fd::BorrowedFd::borrow_raw(theirs_raw);
                    sys::dup2(fd, CONTROL_FD)?;
                }
                sys::set_parent_death_signal(libc::SIGKILL)
            });
        }
        let child = cmd.spawn().map_err(|e| SpawnError::Exec {
            exe: exe.display().to_string(),
            source: e,
        })?;
        drop(theirs);
        // Join the session's cgroups from here while the init is still starting up; it waits
        // for the plan, so nothing runs before the limits apply.
        let mut warnings = Vec::new();
        for procs in &plan.cgroup_procs {
            if let Err(e) = std::fs::write(procs, child.id().to_string()) {
                warnings.push(format!("cannot join cgroup {}: {e}", procs.display()));
            }
        }
        sys::send_message(ours.as_fd(), &bytes, None)
            .map_err(|e| SpawnError::Plan(e.to_string()))?;
        Ok(Sandbox {
            child,
            control: ours,
            warnings,
        })
    }

    /// What could not be applied while starting (a cgroup that could not be joined).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The init's pid (outside the sandbox's pid namespace).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the init's next report.
    pub fn next(&self) -> Report {
        match sys::recv_message(self.control.as_fd(), 64 * 1024) {
            Err(e) => Report::Failed(format!("lost contact with the sandbox: {e}")),
            Ok((msg, fd)) => {
                let Some((&tag, payload)) = msg.split_first() else {
                    return Report::Closed;
                };
                let text = || String::from_utf8_lossy(payload).into_owned();
                match (tag, EndpointKind::from_tag(tag), fd) {
                    (b'L', _, Some(fd)) => Report::Listener(fd),
                    (_, Some(kind), Some(fd)) => Report::Endpoint { kind, fd },
                    (b'I', _, _) => Report::Confinement(text()),
                    (b'W', _, _) => Report::Warning(text()),
                    (b'E', _, _) => Report::Failed(text()),
                    (b'N', _, _) => Report::NotFound(text()),
                    (b'X', _, _) => {
                        let status = payload
                            .get(..4)
                            .and_then(|b| <[u8; 4]>::try_from(b).ok())
                            .map_or(0, i32::from_le_bytes);
                        Report::Exited(status)
                    }
                    _ => Report::Failed(format!("unexpected message from the sandbox (tag {tag})")),
                }
            }
        }
    }

    /// Kills the whole tree (the init's death takes pid 1 and everything under it along).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits for the init to exit; returns its exit code.
    pub fn wait(mut self) -> io::Result<i32> {
        let status = self.child.wait()?;
        Ok(status.code().unwrap_or(125))
    }
}
