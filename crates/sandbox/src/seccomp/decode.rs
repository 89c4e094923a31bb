//! What a notification means, from its system call number and raw arguments.

use libc::c_long;

use super::filter::denied_syscalls;

/// A notified system call, decoded. Pointers (`path`, `argv`, …) are addresses in the target's
/// memory: read them with [`read_c_string`](super::read_c_string) and
/// [`read_pointers`](super::read_pointers). A directory fd of `None` means `AT_FDCWD` (or a legacy
/// call without one): the path is relative to the target's working directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// A call from the denied set: answer it with an error and record a violation.
    Denied {
        /// The system call's name.
        name: &'static str,
    },
    /// `execve` or `execveat`.
    Exec {
        /// Directory fd of `execveat`.
        dirfd: Option<i32>,
        /// The program's path (empty with `AT_EMPTY_PATH`: the fd itself is executed).
        path: u64,
        /// The NULL-terminated argv array.
        argv: u64,
        /// `execveat` flags (`AT_EMPTY_PATH`, `AT_SYMLINK_NOFOLLOW`); 0 for `execve`.
        flags: i32,
    },
    /// `open`, `openat` or `creat` (whose flags are `O_CREAT | O_WRONLY | O_TRUNC`). The mode of
    /// a file it creates is [`open_mode`].
    Open {
        /// Directory fd of `openat`.
        dirfd: Option<i32>,
        /// The path.
        path: u64,
        /// The open flags.
        flags: i32,
    },
    /// `openat2`: the flags and mode are in the `open_how` struct, see
    /// [`read_open_how_flags`](super::read_open_how_flags) and
    /// [`read_open_how_mode`](super::read_open_how_mode).
    OpenHow {
        /// Directory fd.
        dirfd: Option<i32>,
        /// The path.
        path: u64,
        /// Address of the `struct open_how`.
        how: u64,
    },
    /// `unlink`, `unlinkat` or `rmdir`.
    Unlink {
        /// Directory fd of `unlinkat`.
        dirfd: Option<i32>,
        /// The path.
        path: u64,
        /// A directory is removed (`rmdir`, `AT_REMOVEDIR`).
        dir: bool,
    },
    /// `rename`, `renameat` or `renameat2`.
    Rename {
        /// Directory fd of the old path.
        old_dirfd: Option<i32>,
        /// The old path.
        old_path: u64,
        /// Directory fd of the new path.
        new_dirfd: Option<i32>,
        /// The new path.
        new_path: u64,
        /// `renameat2` flags (`RENAME_NOREPLACE`, `RENAME_EXCHANGE`, `RENAME_WHITEOUT`).
        flags: u32,
    },
    /// `link` or `linkat`.
    Link {
        /// Directory fd of the existing path.
        old_dirfd: Option<i32>,
        /// The existing path (empty with `AT_EMPTY_PATH`: the fd itself is linked).
        old_path: u64,
        /// Directory fd of the new path.
        new_dirfd: Option<i32>,
        /// The new path.
        new_path: u64,
        /// `linkat` flags (`AT_SYMLINK_FOLLOW`, `AT_EMPTY_PATH`).
        flags: i32,
    },
    /// `symlink` or `symlinkat`.
    Symlink {
        /// What the link points to; never resolved by the call.
        target: u64,
        /// Directory fd of the new path.
        new_dirfd: Option<i32>,
        /// The new path.
        new_path: u64,
    },
    /// `mkdir` or `mkdirat`.
    Mkdir {
        /// Directory fd.
        dirfd: Option<i32>,
        /// The path.
        path: u64,
    },
    /// `mknod` or `mknodat`.
    Mknod {
        /// Directory fd.
        dirfd: Option<i32>,
        /// The path.
        path: u64,
        /// File type and permissions (`S_IFCHR` and `S_IFBLK` make devices).
        mode: u32,
    },
    /// `truncate`.
    Truncate {
        /// The path.
        path: u64,
    },
    /// `connect`. Read the address with [`read_sockaddr`](super::read_sockaddr) and decode it
    /// with [`destination`].
    Connect {
        /// The socket.
        fd: i32,
        /// The `struct sockaddr`.
        addr: u64,
        /// Its length (`addrlen`; the kernel refuses more than [`SOCKADDR_MAX`](super::SOCKADDR_MAX)).
        len: u32,
    },
    /// `sendto` with a destination address (the filter notifies no other `sendto`; a NULL `addr`
    /// sends to the connected peer).
    SendTo {
        /// The socket.
        fd: i32,
        /// The `struct sockaddr` (`dest_addr`).
        addr: u64,
        /// Its length (`addrlen`).
        len: u32,
        /// The flags (`MSG_FASTOPEN` connects a TCP socket on the way).
        flags: i32,
    },
    /// Anything else: the filter never notifies these, so a supervisor seeing one should fail
    /// closed.
    Other(i32),
}

/// Decodes a notification for a native system call (the filter kills every other architecture).
///
/// A notified `clone`, `ioctl`, `personality`, `chmod`, `fchmod`, `fchmodat`, `fchmodat2`,
/// `socket`, `sendmsg` or `sendmmsg` decodes as [`Call::Denied`] without re-checking its
/// arguments: the filter only notifies them when the arguments are the denied ones.
pub fn decode(nr: i32, args: [u64; 6]) -> Call {
    let [a0, a1, a2, a3, a4, a5] = args;
    match c_long::from(nr) {
        libc::SYS_execve => Call::Exec {
            dirfd: None,
            path: a0,
            argv: a1,
            flags: 0,
        },
        libc::SYS_execveat => Call::Exec {
            dirfd: dirfd(a0),
            path: a1,
            argv: a2,
            flags: int(a4),
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_open => Call::Open {
            dirfd: None,
            path: a0,
            flags: int(a1),
        },
        libc::SYS_openat => Call::Open {
            dirfd: dirfd(a0),
            path: a1,
            flags: int(a2),
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_creat => Call::Open {
            dirfd: None,
            path: a0,
            flags: libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
        },
        libc::SYS_openat2 => Call::OpenHow {
            dirfd: dirfd(a0),
            path: a1,
            how: a2,
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_unlink => Call::Unlink {
            dirfd: None,
            path: a0,
            dir: false,
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_rmdir => Call::Unlink {
            dirfd: None,
            path: a0,
            dir: true,
        },
        libc::SYS_unlinkat => Call::Unlink {
            dirfd: dirfd(a0),
            path: a1,
            dir: int(a2) & libc::AT_REMOVEDIR != 0,
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_rename => rename(None, a0, None, a1, 0),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_renameat => rename(dirfd(a0), a1, dirfd(a2), a3, 0),
        libc::SYS_renameat2 => rename(dirfd(a0), a1, dirfd(a2), a3, a4 as u32),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_link => link(None, a0, None, a1, 0),
        libc::SYS_linkat => link(dirfd(a0), a1, dirfd(a2), a3, int(a4)),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_symlink => Call::Symlink {
            target: a0,
            new_dirfd: None,
            new_path: a1,
        },
        libc::SYS_symlinkat => Call::Symlink {
            target: a0,
            new_dirfd: dirfd(a1),
            new_path: a2,
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_mkdir => Call::Mkdir {
            dirfd: None,
            path: a0,
        },
        libc::SYS_mkdirat => Call::Mkdir {
            dirfd: dirfd(a0),
            path: a1,
        },
        #[cfg(target_arch = "x86_64")]
        libc::SYS_mknod => Call::Mknod {
            dirfd: None,
            path: a0,
            mode: a1 as u32,
        },
        libc::SYS_mknodat => Call::Mknod {
            dirfd: dirfd(a0),
            path: a1,
            mode: a2 as u32,
        },
        libc::SYS_truncate => Call::Truncate { path: a0 },
        libc::SYS_connect => Call::Connect {
            fd: int(a0),
            addr: a1,
            len: a2 as u32,
        },
        libc::SYS_sendto => Call::SendTo {
            fd: int(a0),
            addr: a4,
            len: a5 as u32,
            flags: int(a3),
        },
        // Only notified under `FilterOptions::restrict_sockets`, and then always refused.
        libc::SYS_socket => Call::Denied { name: "socket" },
        // The same, and only with MSG_FASTOPEN in their flags.
        libc::SYS_sendmsg => Call::Denied { name: "sendmsg" },
        libc::SYS_sendmmsg => Call::Denied { name: "sendmmsg" },
        _ => denied_syscalls()
            .iter()
            .find(|d| d.nr == nr)
            .map_or(Call::Other(nr), |d| Call::Denied { name: d.name }),
    }
}

/// The permission bits that a notified `open`, `openat` or `creat` asks for the file it creates,
/// as the kernel takes them: the low 16 bits of the argument (a `umode_t`) masked with
/// `S_IALLUGO` (`0o7777`, the set-id and sticky bits included), before the umask.
///
/// `Some(0)` when the call creates nothing: `open` and `openat` without `O_CREAT` or `O_TMPFILE`,
/// whose mode the kernel ignores. `None` for every other call: `openat2` keeps its mode in its
/// `struct open_how` ([`read_open_how_mode`](super::read_open_how_mode)), `mknod` and `mknodat`
/// decode theirs in [`Call::Mknod`].
pub fn open_mode(nr: i32, args: [u64; 6]) -> Option<u32> {
    let (flags, mode) = match (c_long::from(nr), args) {
        #[cfg(target_arch = "x86_64")]
        (libc::SYS_open, [_, flags, mode, ..]) => (int(flags), mode),
        (libc::SYS_openat, [_, _, flags, mode, ..]) => (int(flags), mode),
        #[cfg(target_arch = "x86_64")]
        (libc::SYS_creat, [_, mode, ..]) => (libc::O_CREAT, mode),
        _ => return None,
    };
    // `O_TMPFILE` carries `O_DIRECTORY`, which alone creates nothing.
    let creates = flags & (libc::O_CREAT | (libc::O_TMPFILE & !libc::O_DIRECTORY)) != 0;
    Some(if creates { umode(mode) & S_IALLUGO } else { 0 })
}

/// Where a notified `connect` or `sendto` goes, decoded from its `struct sockaddr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// An IPv4 or IPv6 address and port. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, which an
    /// IPv6 socket uses to reach IPv4) stays an IPv6 address here.
    Ip(std::net::SocketAddr),
    /// `AF_UNSPEC` in a `connect`: the socket's association is dissolved, nothing is reached.
    Disconnect,
    /// Any other family (`AF_UNIX`, `AF_NETLINK`, …), by number.
    Other(u16),
    /// Too short for its family, or for a family at all: the kernel refuses the call (`EINVAL`)
    /// without reaching anything.
    Short,
}

/// Decodes the `struct sockaddr` bytes of a `connect` (`sendto` false) or a `sendto` as the
/// kernel's IPv4 and IPv6 code reads them: `sockaddr_in` from 16 bytes, `sockaddr_in6` from 24
/// (RFC 2133's size, without `sin6_scope_id`), port and address in network byte order, the family
/// in the machine's.
///
/// A `sendto` with `AF_UNSPEC` is read as IPv4, as a UDP socket does (`udp_sendmsg` takes
/// `AF_UNSPEC` for `AF_INET`); an IPv6 UDP socket ignores such an address instead, so at worst this
/// names a destination that will not be used.
pub fn destination(bytes: &[u8], sendto: bool) -> Destination {
    let word = |at: usize| -> Option<[u8; 2]> { bytes.get(at..at + 2)?.try_into().ok() };
    let Some(family) = word(0).map(u16::from_ne_bytes) else {
        return Destination::Short;
    };
    let v4 = || -> Option<std::net::SocketAddr> {
        let port = u16::from_be_bytes(word(2)?);
        let ip: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
        (bytes.len() >= 16).then(|| (std::net::Ipv4Addr::from(ip), port).into())
    };
    let v6 = || -> Option<std::net::SocketAddr> {
        let port = u16::from_be_bytes(word(2)?);
        let ip: [u8; 16] = bytes.get(8..24)?.try_into().ok()?;
        Some((std::net::Ipv6Addr::from(ip), port).into())
    };
    let ip = match i32::from(family) {
        libc::AF_INET => v4(),
        libc::AF_INET6 => v6(),
        libc::AF_UNSPEC if sendto => v4(),
        libc::AF_UNSPEC => return Destination::Disconnect,
        _ => return Destination::Other(family),
    };
    ip.map_or(Destination::Short, Destination::Ip)
}

/// Every permission bit of a mode: `S_ISUID`, `S_ISGID`, `S_ISVTX` and `rwx` for all three.
const S_IALLUGO: u32 = 0o7777;

/// The kernel reads `umode_t` arguments from the low 16 bits of the register.
fn umode(arg: u64) -> u32 {
    u32::from(arg as u16)
}

/// The kernel reads `int` arguments from the low 32 bits of the register.
fn int(arg: u64) -> i32 {
    arg as u32 as i32
}

fn dirfd(arg: u64) -> Option<i32> {
    Some(int(arg)).filter(|&fd| fd != libc::AT_FDCWD)
}

fn rename(
    old_dirfd: Option<i32>,
    old_path: u64,
    new_dirfd: Option<i32>,
    new_path: u64,
    flags: u32,
) -> Call {
    Call::Rename {
        old_dirfd,
        old_path,
        new_dirfd,
        new_path,
        flags,
    }
}

fn link(
    old_dirfd: Option<i32>,
    old_path: u64,
    new_dirfd: Option<i32>,
    new_path: u64,
    flags: i32,
) -> Call {
    Call::Link {
        old_dirfd,
        old_path,
        new_dirfd,
        new_path,
        flags,
    }
}
