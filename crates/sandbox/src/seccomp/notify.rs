//! Installing the filter, and the supervisor's side of `SECCOMP_RET_USER_NOTIF` (see
//! `seccomp_unotify(2)`).
//!
//! [`set_no_new_privs`] and [`install`] run in the sandbox child between fork and exec, so they
//! make system calls only: no allocation, no locks.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::OnceLock;

use libc::{c_int, c_ulong, seccomp_data, seccomp_notif, seccomp_notif_resp, sock_filter};

// The layouts of linux/seccomp.h that this module relies on; the kernel's own sizes are checked
// at run time (`abi`), since a newer kernel may have grown them.
const _: () = {
    assert!(size_of::<seccomp_data>() == 64);
    assert!(size_of::<seccomp_notif>() == 80);
    assert!(size_of::<seccomp_notif_resp>() == 24);
    assert!(libc::SECCOMP_IOCTL_NOTIF_RECV as u32 == 0xc050_2100);
    assert!(libc::SECCOMP_IOCTL_NOTIF_SEND as u32 == 0xc018_2101);
    assert!(libc::SECCOMP_IOCTL_NOTIF_ID_VALID as u32 == 0x4008_2102);
};

const CONTINUE: u32 = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32;
/// Errors are `-1..=-4095` in the kernel's return convention.
const MAX_ERRNO: i32 = 4095;

/// The running kernel's seccomp notification structures are larger than the ones this build
/// knows, so receiving one would overflow our buffer; [`Listener::recv`] and
/// [`Listener::respond`] fail with this inside an `Unsupported` error.
#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "the kernel's struct {what} is {kernel} bytes, larger than the {ours} bytes qwarden was built \
     with; refusing to use seccomp user notifications"
)]
pub struct AbiMismatch {
    /// Which structure.
    pub what: &'static str,
    /// The kernel's size for it.
    pub kernel: u16,
    /// Ours.
    pub ours: usize,
}

/// One system call waiting for the supervisor's answer (`struct seccomp_notif`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Identifies the notification when answering.
    pub id: u64,
    /// The calling thread, in the supervisor's pid namespace.
    pub pid: u32,
    /// The system call number.
    pub nr: i32,
    /// Always [`AUDIT_ARCH`](super::AUDIT_ARCH): the filter kills other architectures.
    pub arch: u32,
    /// Where the call was made.
    pub instruction_pointer: u64,
    /// The raw arguments; see [`decode`](super::decode).
    pub args: [u64; 6],
}

/// The supervisor's answer to a [`Notification`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Response {
    /// Let the kernel run the call as if there were no filter. The kernel reads the arguments
    /// again, possibly changed since the supervisor looked: use it to observe, never to grant.
    Continue,
    /// Fail the call with this errno (positive, e.g. `libc::EPERM`) without running it.
    Error(i32),
}

/// What [`Listener::wait`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A notification is waiting for [`Listener::recv`].
    Ready,
    /// Every process that used the filter has exited and been reaped: nothing will come any more.
    Closed,
}

/// Sets `no_new_privs` on the calling thread: from now on exec can never gain privileges (setuid
/// bits, file capabilities), which is also what lets an unprivileged process install a filter.
/// It is inherited by children and cannot be unset.
pub fn set_no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map(drop)
}

/// Installs `program` as a seccomp filter on the calling thread and returns its notification
/// listener (close-on-exec), for the supervisor to wrap in a [`Listener`].
///
/// `no_new_privs` must already be set ([`set_no_new_privs`]), even for root: otherwise this fails
/// with `EACCES`, the error the kernel gives unprivileged callers, so the sandbox behaves the same
/// for every uid and nothing under the filter can gain privileges through a setuid program. Fails
/// with `EBUSY` if the thread already has a filter with a listener. Safe between fork and exec.
pub fn install(program: &[sock_filter]) -> io::Result<OwnedFd> {
    if prctl(libc::PR_GET_NO_NEW_PRIVS, 0)? != 1 {
        return Err(io::Error::from_raw_os_error(libc::EACCES));
    }
    let len =
        u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = libc::sock_fprog {
        len,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` describes `program`, which outlives the call; the kernel copies and verifies
    // the instructions and never writes through the pointer.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &raw const prog,
        )
    };
    let fd = c_int::try_from(fd)
        .ok()
        .filter(|&fd| fd >= 0)
        .ok_or_else(io::Error::last_os_error)?;
    // SAFETY: the kernel just opened this fd for us and nothing else refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The supervisor's end of the filter: the notification listener fd that [`install`] returned in
/// the sandbox child, passed to the supervisor over a Unix socket.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

impl From<OwnedFd> for Listener {
    fn from(fd: OwnedFd) -> Self {
        Self { fd }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Listener {
    /// Blocks until a notification is waiting or the filter has no users left.
    pub fn wait(&self) -> io::Result<Wait> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd, living across the call.
            if unsafe { libc::poll(&raw mut pfd, 1, -1) } < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            } else if pfd.revents & libc::POLLIN != 0 {
                return Ok(Wait::Ready);
            } else if pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                return Ok(Wait::Closed);
            } else if pfd.revents & libc::POLLNVAL != 0 {
                return Err(io::Error::from_raw_os_error(libc::EBADF));
            }
        }
    }

    /// Takes the next notification, blocking if there is none (call [`wait`](Self::wait) first
    /// to multiplex). `None` means it vanished before we read it: the caller was killed or its
    /// call interrupted by a signal. Every notification taken is owed an answer through
    /// [`respond`](Self::respond): the caller stays blocked until then.
    pub fn recv(&self) -> io::Result<Option<Notification>> {
        abi()?;
        const ZERO: seccomp_notif = seccomp_notif {
            id: 0,
            pid: 0,
            flags: 0,
            data: seccomp_data {
                nr: 0,
                arch: 0,
                instruction_pointer: 0,
                args: [0; 6],
            },
        };
        let mut n = ZERO;
        let received = retrying(|| {
            // The kernel refuses a buffer that is not zeroed, also when retrying.
            n = ZERO;
            // SAFETY: RECV writes one kernel `struct seccomp_notif` into `n`; `abi` checked that
            // the kernel's is no larger than ours.
            unsafe {
                libc::ioctl(
                    self.fd.as_raw_fd(),
                    libc::SECCOMP_IOCTL_NOTIF_RECV,
                    &raw mut n,
                )
            }
        })?;
        let seccomp_data {
            nr,
            arch,
            instruction_pointer,
            args,
        } = n.data;
        Ok(received.then_some(Notification {
            id: n.id,
            pid: n.pid,
            nr,
            arch,
            instruction_pointer,
            args,
        }))
    }

    /// Answers notification `id`. If its caller has gone meanwhile there is no one to answer, and
    /// this returns `Ok`. `Response::Error` outside `1..=4095` is refused (`InvalidInput`): the
    /// kernel would take it as a successful call that never ran.
    pub fn respond(&self, id: u64, response: Response) -> io::Result<()> {
        abi()?;
        let (error, flags) = match response {
            Response::Continue => (0, CONTINUE),
            Response::Error(errno @ 1..=MAX_ERRNO) => (-errno, 0),
            Response::Error(errno) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{errno} is not an errno: the call would appear to succeed"),
                ));
            }
        };
        let resp = seccomp_notif_resp {
            id,
            val: 0,
            error,
            flags,
        };
        retrying(|| {
            // SAFETY: SEND reads one kernel `struct seccomp_notif_resp` from `resp`; `abi`
            // checked that the kernel's is no larger than ours.
            unsafe {
                libc::ioctl(
                    self.fd.as_raw_fd(),
                    libc::SECCOMP_IOCTL_NOTIF_SEND,
                    &raw const resp,
                )
            }
        })
        .map(drop)
    }

    /// Whether notification `id` still waits for an answer. Check it after reading the target's
    /// memory and before trusting what was read: if the caller died meanwhile, its pid may already
    /// belong to another process.
    pub fn id_valid(&self, id: u64) -> bool {
        // SAFETY: ID_VALID reads one u64 from `id`.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                &raw const id,
            )
        };
        rc == 0
    }

    /// Asks the kernel to wake the agent's thread on the CPU that answered it
    /// (`SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`, Linux ≥ 6.6): a notification round trip then costs
    /// a thread switch instead of a cross-CPU wake-up. Older kernels refuse it; nothing else
    /// changes, so the error is only for the caller to note.
    pub fn set_sync_wakeup(&self) -> io::Result<()> {
        const SECCOMP_IOCTL_NOTIF_SET_FLAGS: libc::c_ulong = 0x4008_2104;
        const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
        // SAFETY: SET_FLAGS takes the flags word by value.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                SECCOMP_IOCTL_NOTIF_SET_FLAGS as _,
                SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Runs a notification ioctl until it is not interrupted: `Ok(true)` when it succeeded,
/// `Ok(false)` when the notification is gone (`ENOENT`: its caller died or was interrupted).
fn retrying(mut ioctl: impl FnMut() -> c_int) -> io::Result<bool> {
    loop {
        if ioctl() == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::ENOENT) => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// `prctl` with one integer argument, for options that touch no memory.
fn prctl(option: c_int, arg: c_ulong) -> io::Result<c_int> {
    // SAFETY: the options used here (PR_SET/GET_NO_NEW_PRIVS) read integers only.
    let rc = unsafe { libc::prctl(option, arg, 0 as c_ulong, 0 as c_ulong, 0 as c_ulong) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Whether the running kernel's notification structures fit ours, asked once per process.
fn abi() -> io::Result<()> {
    enum Abi {
        Fits,
        TooLarge(AbiMismatch),
        Unknown(i32),
    }
    static ABI: OnceLock<Abi> = OnceLock::new();
    let abi = ABI.get_or_init(|| {
        let mut sizes = libc::seccomp_notif_sizes {
            seccomp_notif: 0,
            seccomp_notif_resp: 0,
            seccomp_data: 0,
        };
        // SAFETY: GET_NOTIF_SIZES writes one `struct seccomp_notif_sizes` into `sizes`.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                c_ulong::from(libc::SECCOMP_GET_NOTIF_SIZES),
                0 as c_ulong,
                &raw mut sizes,
            )
        };
        if rc != 0 {
            return Abi::Unknown(
                io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::ENOSYS),
            );
        }
        [
            (
                "seccomp_notif",
                sizes.seccomp_notif,
                size_of::<seccomp_notif>(),
            ),
            (
                "seccomp_notif_resp",
                sizes.seccomp_notif_resp,
                size_of::<seccomp_notif_resp>(),
            ),
            (
                "seccomp_data",
                sizes.seccomp_data,
                size_of::<seccomp_data>(),
            ),
        ]
        .into_iter()
        .find(|&(_, kernel, ours)| usize::from(kernel) > ours)
        .map_or(Abi::Fits, |(what, kernel, ours)| {
            Abi::TooLarge(AbiMismatch { what, kernel, ours })
        })
    });
    match abi {
        Abi::Fits => Ok(()),
        Abi::TooLarge(m) => Err(io::Error::new(io::ErrorKind::Unsupported, m.clone())),
        Abi::Unknown(errno) => Err(io::Error::from_raw_os_error(*errno)),
    }
}
