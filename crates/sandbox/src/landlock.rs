//! Landlock: the kernel's own file-system (and, from ABI 4, TCP) access control for the agent.
//!
//! It mirrors the mount tree: system directories and read scopes are readable and executable,
//! write scopes and the sandbox's private areas are writable, granted devices are readable,
//! writable and may take ioctls, and everything else is denied — so a mistake in the mount tree,
//! or a machine without user namespaces, still leaves the agent confined. The ruleset uses every
//! access right of the best ABI the kernel offers; a kernel below the floor is refused unless the
//! human overrides it. From ABI 6 the agent also cannot signal processes outside its domain or
//! reach abstract UNIX sockets created outside it.

#![allow(unsafe_code)]

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};

/// The newest ABI whose rights qwarden knows and has tested.
pub const NEWEST_KNOWN: ABI = ABI::V6;

/// The Landlock ABI version the running kernel offers (0 when Landlock is off or absent).
pub fn abi_version() -> u32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute, size 0 and the VERSION flag the call only returns a number.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(v).unwrap_or(0)
}

/// What `restrict` enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enforced {
    /// The ABI the ruleset was built for.
    pub abi: u32,
    /// Whether TCP connect/bind is handled (ABI ≥ 4): only `tcp_connect` ports may be reached.
    pub network: bool,
    /// Whether signals and abstract sockets are scoped (ABI ≥ 6).
    pub scoped: bool,
}

/// Why Landlock could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    /// The kernel's ABI is below the floor.
    #[error(
        "this kernel offers Landlock ABI {found}, below the required {floor}; upgrade the kernel (Landlock ABI {floor} needs Linux ≥ {kernel}), lower `[sandbox] landlock_min_abi` in the profile, or pass `--landlock-floor 0` on the command line to accept it"
    )]
    BelowFloor {
        /// What the kernel offers.
        found: u32,
        /// What was required.
        floor: u32,
        /// The first kernel with the floor.
        kernel: &'static str,
    },
    /// The ruleset could not be built or enforced.
    #[error("Landlock: {0}")]
    Ruleset(#[from] landlock::RulesetError),
}

fn kernel_for(abi: u32) -> &'static str {
    match abi {
        0 | 1 => "5.13",
        2 => "5.19",
        3 => "6.2",
        4 => "6.7",
        5 => "6.10",
        _ => "6.12",
    }
}

/// The rules to enforce.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Readable and executable hierarchies.
    pub read: Vec<PathBuf>,
    /// Fully writable hierarchies.
    pub write: Vec<PathBuf>,
    /// Device nodes: read, write, ioctl.
    pub devices: Vec<PathBuf>,
    /// TCP ports that may be connected to (only enforced from ABI 4).
    pub tcp_connect: Vec<u16>,
    /// Whether to handle TCP at all; with no ports, every TCP connect and bind is denied.
    pub restrict_tcp: bool,
}

/// Restricts the calling thread (and its future children) to `rules`.
pub fn restrict(rules: &Rules, floor: u32) -> Result<Enforced, LandlockError> {
    let found = abi_version();
    if found < floor {
        return Err(LandlockError::BelowFloor {
            found,
            floor,
            kernel: kernel_for(floor),
        });
    }
    if found == 0 {
        return Ok(Enforced {
            abi: 0,
            network: false,
            scoped: false,
        });
    }
    let abi = ABI::from(i32::try_from(found.min(NEWEST_KNOWN as u32)).unwrap_or(1));
    let read = AccessFs::from_read(abi);
    let all = AccessFs::from_all(abi);
    let device = read | AccessFs::WriteFile | AccessFs::from_all(abi) & AccessFs::IoctlDev;
    let network = found >= 4 && rules.restrict_tcp;
    let scoped = found >= 6;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(all)?;
    if network {
        ruleset = ruleset.handle_access(AccessNet::from_all(abi))?;
    }
    if scoped {
        ruleset = ruleset.scope(Scope::from_all(abi))?;
    }
    let mut created = ruleset.create()?;
    for (paths, access) in [
        (&rules.read, read),
        (&rules.write, all),
        (&rules.devices, device),
    ] {
        for p in paths {
            if let Some(fd) = open(p) {
                // A file (not a directory) only takes file rights.
                let access = if p.is_dir() {
                    access
                } else {
                    access & AccessFs::from_file(abi)
                };
                created = created.add_rule(PathBeneath::new(fd, access))?;
            }
        }
    }
    if network {
        for port in &rules.tcp_connect {
            created = created.add_rule(landlock::NetPort::new(*port, AccessNet::ConnectTcp))?;
        }
    }
    let status = created.restrict_self()?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Ok(Enforced {
            abi: 0,
            network: false,
            scoped: false,
        });
    }
    Ok(Enforced {
        abi: found,
        network,
        scoped,
    })
}

/// A path that does not exist (say `/lib32`) simply gets no rule.
fn open(p: &Path) -> Option<PathFd> {
    PathFd::new(p).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_kernel_below_the_floor_is_refused_before_anything_is_restricted() {
        let found = abi_version();
        let err = restrict(&Rules::default(), found + 1).unwrap_err();
        match &err {
            LandlockError::BelowFloor {
                found: f, floor, ..
            } => {
                assert_eq!((*f, *floor), (found, found + 1));
            }
            other => panic!("{other}"),
        }
        let text = err.to_string();
        assert!(text.contains("--landlock-floor"), "{text}");
        assert!(text.contains("landlock_min_abi"), "{text}");
    }

    /// Degraded mode's network barrier: with the proxy's port as the only `tcp_connect` rule,
    /// nothing else can be connected to, loopback included. Landlock restricts the calling thread
    /// only, so a thread of its own takes the rules.
    #[test]
    fn only_the_proxys_port_can_be_connected_to() {
        use std::net::{TcpListener, TcpStream};
        if abi_version() < 4 {
            eprintln!("skipped: Landlock ABI {} has no TCP rules", abi_version());
            return;
        }
        let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
        let other = TcpListener::bind("127.0.0.1:0").unwrap();
        let (proxy_port, other_port) = (
            proxy.local_addr().unwrap().port(),
            other.local_addr().unwrap().port(),
        );
        let results = std::thread::spawn(move || {
            let rules = Rules {
                tcp_connect: vec![proxy_port],
                restrict_tcp: true,
                ..Rules::default()
            };
            let enforced = restrict(&rules, 4).unwrap();
            assert!(enforced.network);
            [proxy_port, other_port]
                .map(|port| TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.raw_os_error()))
        })
        .join()
        .unwrap();
        let [to_proxy, to_other] = results;
        assert!(to_proxy.is_ok(), "{to_proxy:?}");
        assert_eq!(to_other.unwrap_err(), Some(libc::EACCES));
        // This thread was never restricted.
        assert!(TcpStream::connect(("127.0.0.1", other_port)).is_ok());
    }
}
