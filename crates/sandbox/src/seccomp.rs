//! The seccomp filter and the supervisor's side of seccomp user notifications.
//!
//! Just before exec, the sandbox child sets `no_new_privs` ([`set_no_new_privs`]), installs the one
//! filter built by [`program`] with [`install`], which hands back a listener fd, passes that fd to
//! the supervisor over a Unix socket (`SCM_RIGHTS`) and execs the agent. The supervisor wraps it
//! in a [`Listener`], waits for notifications ([`Listener::wait`], [`Listener::recv`]), works out
//! what each one means ([`decode`], reading paths and argv from the target with
//! [`read_c_string`] and [`read_pointers`]), records it and answers ([`Listener::respond`]).
//!
//! # Actions
//!
//! | system call | action |
//! |---|---|
//! | any call from a foreign architecture (`seccomp_data.arch` is not the native `AUDIT_ARCH`: i386 `int 0x80` on x86_64, arm32 on aarch64) | `SECCOMP_RET_KILL_PROCESS` |
//! | x86_64: any number with the x32 bit (`0x4000_0000`) | `SECCOMP_RET_ERRNO(ENOSYS)` |
//! | `clone3` | `SECCOMP_RET_ERRNO(ENOSYS)` |
//! | `seccomp` with operation `SECCOMP_SET_MODE_FILTER` (1) and `SECCOMP_FILTER_FLAG_NEW_LISTENER` (8) in its flags | `SECCOMP_RET_ERRNO(EPERM)`, not recorded |
//! | the denied set below | `SECCOMP_RET_USER_NOTIF`; the supervisor answers `EPERM` and records a violation |
//! | `socket`, with [`FilterOptions::restrict_sockets`] only, unless it is plain TCP allowed (see below) | `SECCOMP_RET_USER_NOTIF`; decoded as denied `socket`: the supervisor answers `EPERM` and records a violation |
//! | `sendmsg` (flags: `arg2`), `sendmmsg` (flags: `arg3`), with [`FilterOptions::restrict_sockets`] only, when the flags carry `MSG_FASTOPEN` | `SECCOMP_RET_USER_NOTIF`; decoded as denied: the supervisor answers `EPERM` and records a violation (see below) |
//! | the observed set below | `SECCOMP_RET_USER_NOTIF`; the supervisor reads the path and answers continue or an error |
//! | `connect`; `sendto` when `dest_addr` (`arg4`, compared on all 64 bits) is not NULL | `SECCOMP_RET_USER_NOTIF`, in every mode; the supervisor reads the address and refuses what is not the egress proxy's (see "Where sockets go" below) |
//! | `sendmsg`, `sendmmsg` | `SECCOMP_RET_ALLOW`: not notified, see below |
//! | everything else | `SECCOMP_RET_ALLOW` |
//!
//! Denied calls go through the supervisor rather than `SECCOMP_RET_ERRNO` so that every attempt is
//! recorded: an `ERRNO` verdict, from this filter or any later one, takes precedence over
//! `USER_NOTIF` and would leave no trace. It stays fail-closed: once the listener is gone the
//! kernel answers every notified call with `ENOSYS`, without running it.
//!
//! ## Filters the agent installs
//!
//! `seccomp(2)` stays allowed, so an agent may narrow itself further, except that it may not ask
//! for a listener: `SECCOMP_SET_MODE_FILTER` with `SECCOMP_FILTER_FLAG_NEW_LISTENER` is refused in
//! the kernel with `EPERM`. While our listener lives the kernel itself would refuse a second one
//! (`EBUSY`), but once it is gone (the supervisor died or closed it) nothing would: the agent
//! could install a filter that notifies it of every call, and among filters returning
//! `USER_NOTIF` the newest one gets the notification, so the agent would answer `Continue` to the
//! very calls we deny. An `ERRNO` verdict outranks `USER_NOTIF` from any filter installed later,
//! so this refusal holds without the supervisor, which is why it is not routed through it (and
//! is therefore not recorded). Without a listener, a filter of the agent's can only make calls
//! fail, never let one of ours through: our `USER_NOTIF` outranks its `TRACE`, `LOG` and `ALLOW`,
//! and its own `USER_NOTIF` without a listener fails with `ENOSYS`. The other flags (`TSYNC`,
//! `TSYNC_ESRCH`, `LOG`, `SPEC_ALLOW`) only act on the agent's own threads and filters and stay
//! allowed. The legacy `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, …)` cannot ask for a listener
//! and stays allowed.
//!
//! ## Sockets in degraded mode
//!
//! Without a network namespace ([`FilterOptions::restrict_sockets`]), `socket(2)` is an allowlist:
//!
//! | domain (`arg0`) | type (`arg1 & 0xf`) | protocol (`arg2`) | action |
//! |---|---|---|---|
//! | `AF_INET`, `AF_INET6` | `SOCK_STREAM` (with or without `SOCK_NONBLOCK`, `SOCK_CLOEXEC`) | 0 or `IPPROTO_TCP` | allowed when [`FilterOptions::landlock_tcp`] (Landlock then decides where it may connect and bind), refused otherwise |
//! | anything else | | | refused |
//!
//! So UNIX sockets (the host's D-Bus and agent sockets would be in reach), UDP and raw sockets,
//! MPTCP and SCTP streams (which Landlock's TCP rules do not cover) and every other family
//! (`AF_NETLINK`, `AF_PACKET`, `AF_VSOCK`, …) are refused and recorded as `socket`. glibc's
//! `getaddrinfo` probes interfaces with a netlink socket and, refused, assumes both IPv4 and IPv6.
//! `socketpair(2)` stays allowed: it makes a connected pair and no endpoint anyone else can reach.
//! With a network namespace, `socket` is not filtered at all.
//!
//! Arguments are compared on their low 32 bits only. Every argument the filter looks at is an
//! `int` or `unsigned int` in the kernel (clone's flags go through `lower_32_bits`), or a
//! `umode_t` (the `chmod` modes: 16 bits, the low ones, which hold `S_ISUID` and `S_ISGID`), so
//! garbage in the high word changes nothing for the kernel, and must change nothing for the filter
//! either: `ioctl(fd, 0xdead_beef_0000_5412, …)` is still `TIOCSTI`. The one exception is
//! `sendto`'s `dest_addr`, a pointer, which the kernel uses whole: it is NULL only when both of
//! its halves are 0 (`0x1_0000_0000` is a valid address).
//!
//! `clone3` takes its flags behind a pointer that a filter cannot read, so it is refused in the
//! kernel with `ENOSYS`; glibc (2.34+) then falls back to `clone`, whose flags are checked. x32
//! system calls share `AUDIT_ARCH_X86_64` and differ from native ones only by that bit, so without
//! the x32 rule `0x4000_0000 | nr` would be an unchecked alias of a denied call.
//!
//! ## Denied set
//!
//! The same list, with the numbers of the machine it runs on, is [`denied_syscalls`].
//!
//! | system call | denied when | why |
//! |---|---|---|
//! | `ptrace` | always | attach to, read and write other processes, including other agents' |
//! | `process_vm_readv`, `process_vm_writev` | always | read and write another process's memory without attaching |
//! | `memfd_secret` | always | memory that even the supervisor cannot read (`process_vm_readv` fails on it): arguments kept there hide from the observer |
//! | `mount`, `umount2`, `pivot_root`, `chroot` | always | reshape the mount tree the sandbox built |
//! | `move_mount`, `open_tree`, `open_tree_attr`, `fsopen`, `fsconfig`, `fsmount`, `fspick`, `mount_setattr` | always | the same through the new mount API |
//! | `unshare`, `setns` | always | make or join namespaces: a new user namespace hands back every capability inside it and a large kernel attack surface |
//! | `clone` | flags include `CLONE_NEWUSER`, `CLONE_NEWNS`, `CLONE_NEWPID`, `CLONE_NEWNET`, `CLONE_NEWIPC`, `CLONE_NEWUTS` or `CLONE_NEWCGROUP` | the same as `unshare`, at fork time; plain `fork`, `vfork` and threads are allowed |
//! | `bpf` | always | load eBPF programs and maps into the kernel |
//! | `perf_event_open` | always | kernel profiling: side channels and a long record of privilege escalations |
//! | `keyctl`, `add_key`, `request_key` | always | kernel keyrings outlive the sandbox and are shared with the user's other sessions |
//! | `userfaultfd` | always | stall kernel page faults at will, a staple of kernel race exploits |
//! | `io_uring_setup`, `io_uring_enter`, `io_uring_register` | always | io_uring performs file and network operations that seccomp never sees |
//! | `kexec_load`, `kexec_file_load` | always | replace the running kernel |
//! | `init_module`, `finit_module`, `delete_module` | always | load or unload kernel code |
//! | `swapon`, `swapoff`, `reboot`, `acct`, `quotactl`, `quotactl_fd` | always | system administration |
//! | `open_by_handle_at` | always | open files by handle, bypassing path-based confinement (the classic container escape) |
//! | `name_to_handle_at` | always | mint those handles; leaks inode identity |
//! | `syslog` | always | read or clear the kernel log |
//! | `iopl`, `ioperm` (x86_64) | always | raw I/O port access |
//! | `lookup_dcookie` | always | obsolete profiling interface |
//! | `uselib` (x86_64) | always | obsolete a.out library loader |
//! | `kcmp` | always | compare other processes' kernel objects (fd and address probing) |
//! | `pidfd_getfd` | always | take a copy of another process's file descriptor |
//! | `fanotify_init` | always | filesystem-wide monitoring and permission decisions |
//! | `vhangup` | always | hang up the terminal |
//! | `settimeofday`, `clock_settime`, `clock_adjtime`, `adjtimex` | always | change the system clock under the audit log, TLS and TOTP (read-only `adjtimex` queries are refused too) |
//! | `nfsservctl` | always | removed NFS server control; nothing legitimate calls it |
//! | `personality` | the persona is not `PER_LINUX` (0) or the query `0xffff_ffff` | `ADDR_NO_RANDOMIZE` turns ASLR off for what the agent runs next, `READ_IMPLIES_EXEC` makes data executable |
//! | `ioctl` | request is `TIOCSTI` or `TIOCLINUX` | push keystrokes into the human's terminal |
//! | `chmod` (x86_64), `fchmod`, `fchmodat`, `fchmodat2` | the mode sets `S_ISUID` or `S_ISGID` (mode: `arg1` for `chmod` and `fchmod`, `arg2` for the others) | leave a setuid or setgid program in a write scope: the sandbox's mounts are `nosuid`, the host's are not |
//!
//! Files created with a set-id mode by `open`, `openat`, `creat`, `openat2`, `mknod` or `mknodat`
//! are for the supervisor, which sees those calls anyway: [`open_mode`], [`read_open_how_mode`]
//! and [`Call::Mknod`] give it the mode.
//!
//! `CLONE_NEWTIME` is not in the `clone` mask on purpose: in `clone`'s flags word `0x80` is part of
//! the exit signal (`CSIGNAL`), and a time namespace can only be asked for through `clone3` (ENOSYS)
//! or `unshare` (denied). `seccomp` itself stays allowed, but not with a listener (see "Filters
//! the agent installs" above).
//!
//! ## Observed set
//!
//! `execve`, `execveat`; `open`, `openat`, `creat`, `openat2`; `unlink`, `unlinkat`, `rmdir`,
//! `rename`, `renameat`, `renameat2`, `link`, `linkat`, `symlink`, `symlinkat`, `mkdir`, `mkdirat`,
//! `mknod`, `mknodat`, `truncate`. Legacy calls that aarch64 lacks (`open`, `creat`, `rename`,
//! `renameat`, …) are simply absent there. Unless [`FilterOptions::observe_reads`] is set, `open`
//! and `openat` are only notified when their flags carry write intent (`O_WRONLY`, `O_RDWR`,
//! `O_CREAT`, `O_TRUNC`, `O_APPEND`); `creat` and `openat2` (flags behind a pointer) always are.
//!
//! ## Where sockets go
//!
//! `connect(2)` is always notified, and `sendto(2)` whenever it names a destination (a
//! `sendto` with a NULL `dest_addr`, which is what `send` makes, goes to the connected peer that
//! its `connect` already showed). The supervisor reads the `struct sockaddr`
//! ([`read_sockaddr`], [`destination`]) and judges it against the session's egress: with a
//! network namespace everything but loopback is refused with `ENETUNREACH` (the kernel would
//! refuse it anyway, for want of a route: the refusal is recorded and attributed), without one
//! everything but the proxy's host port is refused with `EACCES` (Landlock's TCP rules are the
//! barrier there). `AF_UNIX` and other families continue unjudged. Each such call now costs a
//! notification round trip, a connect to the proxy included.
//!
//! `sendmsg(2)` and `sendmmsg(2)` are not notified for their destination: they are the hot path
//! of every datagram and stream program (the resolver's, for one), their destination sits two
//! pointers deep, and the kernel refuses what they could reach anyway: with a network namespace
//! there is no route off loopback; without one, UDP sockets cannot be made and TCP ignores
//! `msg_name`, except with `MSG_FASTOPEN`. TCP Fast Open connects inside the send, past the
//! `connect` hook where Landlock's TCP rules sit (Linux 6.18 still lets it through), so in
//! degraded mode `sendmsg` and `sendmmsg` with `MSG_FASTOPEN` are notified and refused (a flags
//! word, so the refusal is not racy), and the supervisor refuses `sendto` with it too.
//!
//! ## What this is not
//!
//! User notification is racy by design: another thread of the target can rewrite a path after the
//! supervisor has read it and before the kernel does, and `Continue` lets the kernel re-read it.
//! Observation is for the audit log; what the agent may actually touch is enforced by the mount
//! tree and Landlock. For allowed system calls the verdict depends on the number alone, so the
//! kernel's seccomp action cache (5.11+) lets them skip the filter entirely.

mod decode;
mod filter;
mod memory;
mod notify;

pub use decode::{Call, Destination, decode, destination, open_mode};
pub use filter::{AUDIT_ARCH, DeniedSyscall, FilterOptions, denied_syscalls, program};
pub use memory::{
    PATH_MAX, SOCKADDR_MAX, read_c_string, read_open_how_flags, read_open_how_mode, read_pointers,
    read_sockaddr,
};
pub use notify::{AbiMismatch, Listener, Notification, Response, Wait, install, set_no_new_privs};
