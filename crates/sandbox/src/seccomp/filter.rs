//! The classic BPF program: which system call gets which seccomp action.
//!
//! The program is a flat list of small blocks, one per listed system call, each of which either
//! returns or falls through to the next block. Every jump offset is a literal that stays inside
//! its own block, so nothing can overflow the 8-bit jump fields however long the lists grow.

use core::mem::offset_of;

use libc::{c_long, seccomp_data, sock_filter};

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_endian = "little"
)))]
compile_error!("the seccomp filter is written for Linux on x86_64 and little-endian aarch64 only");

/// The `seccomp_data.arch` value of native system calls (`AUDIT_ARCH_X86_64`): `EM_X86_64` with
/// the 64-bit and little-endian bits of `linux/audit.h`.
#[cfg(target_arch = "x86_64")]
pub const AUDIT_ARCH: u32 = 0xc000_003e;
/// The `seccomp_data.arch` value of native system calls (`AUDIT_ARCH_AARCH64`): `EM_AARCH64` with
/// the 64-bit and little-endian bits of `linux/audit.h`.
#[cfg(target_arch = "aarch64")]
pub const AUDIT_ARCH: u32 = 0xc000_00b7;

/// On x86_64, x32 system calls carry this bit in their number (`__X32_SYSCALL_BIT`).
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `open_tree_attr` (Linux 6.15), numbered 467 on every architecture; libc does not name it yet.
const SYS_OPEN_TREE_ATTR: c_long = 467;
/// `fchmodat2` (Linux 6.6), numbered 452 on every architecture; libc names it on x86_64 only.
const SYS_FCHMODAT2: c_long = 452;

/// What the filter does with a call: the `SECCOMP_RET_*` values it returns.
const NOTIFY: u32 = libc::SECCOMP_RET_USER_NOTIF;
const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | (libc::ENOSYS as u32 & libc::SECCOMP_RET_DATA);
const EPERM: u32 = libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32 & libc::SECCOMP_RET_DATA);

const LD_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
const AND: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;

const NR: u32 = offset_of!(seccomp_data, nr) as u32;
const ARCH: u32 = offset_of!(seccomp_data, arch) as u32;
const ARGS: u32 = offset_of!(seccomp_data, args) as u32;

/// Namespace flags that `clone` may not carry. Not `CLONE_NEWTIME`: see the module docs.
const CLONE_NAMESPACES: u32 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP) as u32;

/// Open flags that mean the caller may change the file.
const WRITE_INTENT: u32 =
    (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND) as u32;

const TIOCSTI: u32 = libc::TIOCSTI as u32;
const TIOCLINUX: u32 = libc::TIOCLINUX as u32;
/// The mode bits that make a program run with its owner's or group's ids.
const SET_ID_BITS: u32 = libc::S_ISUID | libc::S_ISGID;
const CHMOD_WHEN: &str = "the mode sets S_ISUID or S_ISGID";
const CHMOD_WHY: &str = "leaves a setuid or setgid program in a write scope, which the host mounts \
                         without nosuid";

/// `seccomp(2)`'s operation that installs a filter, and the flag asking for a listener with it.
const SECCOMP_SET_MODE_FILTER: u32 = libc::SECCOMP_SET_MODE_FILTER;
const NEW_LISTENER: u32 = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;

/// `socket(2)`'s type argument: the type proper sits in these bits, `SOCK_NONBLOCK` and
/// `SOCK_CLOEXEC` above them (the kernel's `SOCK_TYPE_MASK`).
const SOCK_TYPE_MASK: u32 = 0xf;

/// `sendmsg(fd, msg, flags)` and `sendmmsg(fd, vec, len, flags)` asking for TCP Fast Open: a
/// connect to the address in `msg_name` that no LSM hook sees (`flags` is an `unsigned int`).
const fn fast_open(flags_arg: u32) -> When {
    When::AnyBit {
        arg: flags_arg,
        mask: libc::MSG_FASTOPEN as u32,
    }
}

/// `personality` arguments that change nothing: `PER_LINUX`, and `0xffff_ffff`, which only queries.
const PERSONA_UNCHANGED: [u32; 2] = [0, 0xffff_ffff];

/// How the filter is built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterOptions {
    /// Notify read-only `open`/`openat` too, not only those with write intent. Costs a round trip
    /// to the supervisor for every file the agent opens.
    pub observe_reads: bool,
    /// Without a network namespace (degraded mode): `socket(2)` is an allowlist. Only plain TCP
    /// is let through, `AF_INET` or `AF_INET6` with type `SOCK_STREAM` (`SOCK_NONBLOCK` and
    /// `SOCK_CLOEXEC` may be added) and protocol 0 or `IPPROTO_TCP`, and only when
    /// `landlock_tcp`, since Landlock then decides where it may connect and bind. Every other
    /// `socket` call is refused and recorded: UNIX sockets (the host's D-Bus and agent sockets
    /// would be in reach), UDP, raw, MPTCP and SCTP streams (which Landlock's TCP rules do not
    /// cover), and every other family (`AF_NETLINK`, `AF_PACKET`, `AF_VSOCK`, …). `socketpair`
    /// stays allowed: it makes a connected pair and no endpoint anyone else can reach. And
    /// `sendmsg` and `sendmmsg` with `MSG_FASTOPEN` are refused and recorded: TCP Fast Open
    /// connects without `connect(2)`, where Landlock's connect rule does not look.
    pub restrict_sockets: bool,
    /// Landlock controls TCP connect and bind (ABI ≥ 4). Only read with `restrict_sockets`.
    pub landlock_tcp: bool,
}

/// When a listed system call takes its action; otherwise it is allowed. Arguments are compared on
/// their low 32 bits (see the module docs).
#[derive(Clone, Copy, Debug)]
enum When {
    Always,
    /// `args[arg]` has a bit of `mask` set (its low 32 bits: also right for a `umode_t`, whose
    /// 16 bits are the low ones, as long as `mask` fits in them).
    AnyBit {
        arg: u32,
        mask: u32,
    },
    /// `args[arg]` is one of `values`.
    OneOf {
        arg: u32,
        values: [u32; 2],
    },
    /// `args[arg]` is none of `values`.
    NoneOf {
        arg: u32,
        values: [u32; 2],
    },
    /// `args[arg]`, a pointer, is not NULL: both of its 32-bit halves are compared, since a
    /// pointer's low word alone can be 0.
    NonNull {
        arg: u32,
    },
}

/// A system call the filter denies: the supervisor answers it with `EPERM` and records a violation.
#[derive(Clone, Copy, Debug)]
pub struct DeniedSyscall {
    /// The system call's name, as in `man 2`.
    pub name: &'static str,
    /// Its number on this machine's architecture.
    pub nr: i32,
    /// When it is denied: `"always"`, or the argument condition.
    pub when: &'static str,
    /// What it would let an agent do, in one line.
    pub why: &'static str,
    rule: When,
}

const fn always(name: &'static str, nr: c_long, why: &'static str) -> DeniedSyscall {
    DeniedSyscall {
        name,
        nr: nr as i32,
        when: "always",
        why,
        rule: When::Always,
    }
}

/// A `chmod`-like call whose mode is `args[mode_arg]`: denied when the mode sets a set-id bit.
const fn set_id(name: &'static str, nr: c_long, mode_arg: u32) -> DeniedSyscall {
    DeniedSyscall {
        name,
        nr: nr as i32,
        when: CHMOD_WHEN,
        why: CHMOD_WHY,
        rule: When::AnyBit {
            arg: mode_arg,
            mask: SET_ID_BITS,
        },
    }
}

const MOUNT_TREE: &str = "reshapes the mount tree the sandbox built";
const NEW_MOUNT_API: &str = "reshapes the mount tree through the new mount API";
const NAMESPACES: &str = "makes or joins namespaces: a new user namespace hands back every \
                          capability inside it and a large kernel attack surface";
const KEYRINGS: &str =
    "kernel keyrings outlive the sandbox and are shared with the user's other sessions";
const IO_URING: &str = "io_uring performs file and network operations that seccomp never sees";
const MODULES: &str = "loads or unloads kernel code";
const CLOCK: &str = "changes the system clock under the audit log, TLS and TOTP";

/// The denied set, in the order the filter tests it.
static DENIED: &[DeniedSyscall] = &[
    always(
        "ptrace",
        libc::SYS_ptrace,
        "attaches to, reads and writes other processes",
    ),
    always(
        "process_vm_readv",
        libc::SYS_process_vm_readv,
        "reads another process's memory",
    ),
    always(
        "process_vm_writev",
        libc::SYS_process_vm_writev,
        "writes another process's memory",
    ),
    always(
        "memfd_secret",
        libc::SYS_memfd_secret,
        "memory that even the supervisor cannot read: arguments kept there hide from the observer",
    ),
    always("mount", libc::SYS_mount, MOUNT_TREE),
    always("umount2", libc::SYS_umount2, MOUNT_TREE),
    always("pivot_root", libc::SYS_pivot_root, MOUNT_TREE),
    always("chroot", libc::SYS_chroot, MOUNT_TREE),
    always("move_mount", libc::SYS_move_mount, NEW_MOUNT_API),
    always("open_tree", libc::SYS_open_tree, NEW_MOUNT_API),
    always("open_tree_attr", SYS_OPEN_TREE_ATTR, NEW_MOUNT_API),
    always("fsopen", libc::SYS_fsopen, NEW_MOUNT_API),
    always("fsconfig", libc::SYS_fsconfig, NEW_MOUNT_API),
    always("fsmount", libc::SYS_fsmount, NEW_MOUNT_API),
    always("fspick", libc::SYS_fspick, NEW_MOUNT_API),
    always("mount_setattr", libc::SYS_mount_setattr, NEW_MOUNT_API),
    always("unshare", libc::SYS_unshare, NAMESPACES),
    always("setns", libc::SYS_setns, NAMESPACES),
    DeniedSyscall {
        name: "clone",
        nr: libc::SYS_clone as i32,
        when: "flags include CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC, \
               CLONE_NEWUTS or CLONE_NEWCGROUP",
        why: "makes namespaces at fork time; plain fork, vfork and threads are allowed",
        rule: When::AnyBit {
            arg: 0,
            mask: CLONE_NAMESPACES,
        },
    },
    always(
        "bpf",
        libc::SYS_bpf,
        "loads eBPF programs and maps into the kernel",
    ),
    always(
        "perf_event_open",
        libc::SYS_perf_event_open,
        "kernel profiling: side channels and a long record of privilege escalations",
    ),
    always("keyctl", libc::SYS_keyctl, KEYRINGS),
    always("add_key", libc::SYS_add_key, KEYRINGS),
    always("request_key", libc::SYS_request_key, KEYRINGS),
    always(
        "userfaultfd",
        libc::SYS_userfaultfd,
        "stalls kernel page faults at will, a staple of kernel race exploits",
    ),
    always("io_uring_setup", libc::SYS_io_uring_setup, IO_URING),
    always("io_uring_enter", libc::SYS_io_uring_enter, IO_URING),
    always("io_uring_register", libc::SYS_io_uring_register, IO_URING),
    always(
        "kexec_load",
        libc::SYS_kexec_load,
        "replaces the running kernel",
    ),
    always(
        "kexec_file_load",
        libc::SYS_kexec_file_load,
        "replaces the running kernel",
    ),
    always("init_module", libc::SYS_init_module, MODULES),
    always("finit_module", libc::SYS_finit_module, MODULES),
    always("delete_module", libc::SYS_delete_module, MODULES),
    always(
        "swapon",
        libc::SYS_swapon,
        "system administration: enables swap",
    ),
    always(
        "swapoff",
        libc::SYS_swapoff,
        "system administration: disables swap",
    ),
    always("reboot", libc::SYS_reboot, "reboots or halts the machine"),
    always(
        "acct",
        libc::SYS_acct,
        "system administration: process accounting",
    ),
    always(
        "quotactl",
        libc::SYS_quotactl,
        "system administration: disk quotas",
    ),
    always(
        "quotactl_fd",
        libc::SYS_quotactl_fd,
        "system administration: disk quotas",
    ),
    always(
        "open_by_handle_at",
        libc::SYS_open_by_handle_at,
        "opens files by handle, bypassing path-based confinement",
    ),
    always(
        "name_to_handle_at",
        libc::SYS_name_to_handle_at,
        "mints file handles; leaks inode identity",
    ),
    always("syslog", libc::SYS_syslog, "reads or clears the kernel log"),
    #[cfg(target_arch = "x86_64")]
    always("iopl", libc::SYS_iopl, "raw I/O port access"),
    #[cfg(target_arch = "x86_64")]
    always("ioperm", libc::SYS_ioperm, "raw I/O port access"),
    always(
        "lookup_dcookie",
        libc::SYS_lookup_dcookie,
        "obsolete profiling interface",
    ),
    #[cfg(target_arch = "x86_64")]
    always("uselib", libc::SYS_uselib, "obsolete a.out library loader"),
    always(
        "kcmp",
        libc::SYS_kcmp,
        "compares other processes' kernel objects",
    ),
    always(
        "pidfd_getfd",
        libc::SYS_pidfd_getfd,
        "copies another process's file descriptor",
    ),
    always(
        "fanotify_init",
        libc::SYS_fanotify_init,
        "filesystem-wide monitoring and permission decisions",
    ),
    always("vhangup", libc::SYS_vhangup, "hangs up the terminal"),
    always("settimeofday", libc::SYS_settimeofday, CLOCK),
    always("clock_settime", libc::SYS_clock_settime, CLOCK),
    always("clock_adjtime", libc::SYS_clock_adjtime, CLOCK),
    always("adjtimex", libc::SYS_adjtimex, CLOCK),
    always(
        "nfsservctl",
        libc::SYS_nfsservctl,
        "removed NFS server control",
    ),
    DeniedSyscall {
        name: "personality",
        nr: libc::SYS_personality as i32,
        when: "the persona is not PER_LINUX (0) or the query 0xffffffff",
        why: "ADDR_NO_RANDOMIZE turns ASLR off for what runs next; READ_IMPLIES_EXEC makes data \
              executable",
        rule: When::NoneOf {
            arg: 0,
            values: PERSONA_UNCHANGED,
        },
    },
    DeniedSyscall {
        name: "ioctl",
        nr: libc::SYS_ioctl as i32,
        when: "the request is TIOCSTI or TIOCLINUX",
        why: "pushes keystrokes into the human's terminal",
        rule: When::OneOf {
            arg: 1,
            values: [TIOCSTI, TIOCLINUX],
        },
    },
    #[cfg(target_arch = "x86_64")]
    set_id("chmod", libc::SYS_chmod, 1),
    set_id("fchmod", libc::SYS_fchmod, 1),
    set_id("fchmodat", libc::SYS_fchmodat, 2),
    set_id("fchmodat2", SYS_FCHMODAT2, 2),
];

/// Observed calls that are always notified. `open` and `openat` depend on the options and are
/// emitted separately.
static OBSERVED: &[c_long] = &[
    libc::SYS_execve,
    libc::SYS_execveat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_creat,
    libc::SYS_openat2,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_unlink,
    libc::SYS_unlinkat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rmdir,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rename,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_renameat,
    libc::SYS_renameat2,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_link,
    libc::SYS_linkat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_symlink,
    libc::SYS_symlinkat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_mkdir,
    libc::SYS_mkdirat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_mknod,
    libc::SYS_mknodat,
    libc::SYS_truncate,
];

/// The documented denied set for this machine's architecture, in the order the filter tests it.
pub fn denied_syscalls() -> &'static [DeniedSyscall] {
    DENIED
}

/// Builds the filter program (see the module docs for what it does).
pub fn program(opts: &FilterOptions) -> Vec<sock_filter> {
    let mut p = vec![
        load(ARCH),
        jump(JEQ, AUDIT_ARCH, 1, 0),
        ret(KILL),
        load(NR),
        #[cfg(target_arch = "x86_64")]
        jump(JSET, X32_SYSCALL_BIT, 0, 1),
        #[cfg(target_arch = "x86_64")]
        ret(ENOSYS),
    ];
    emit(&mut p, libc::SYS_clone3, ENOSYS, When::Always);
    emit_listener_rule(&mut p);

    // Opens are the busiest notified calls, so they come first.
    let opens = |arg| {
        if opts.observe_reads {
            When::Always
        } else {
            When::AnyBit {
                arg,
                mask: WRITE_INTENT,
            }
        }
    };
    emit(&mut p, libc::SYS_openat, NOTIFY, opens(2));
    #[cfg(target_arch = "x86_64")]
    emit(&mut p, libc::SYS_open, NOTIFY, opens(1));
    for &nr in OBSERVED {
        emit(&mut p, nr, NOTIFY, When::Always);
    }
    // Where sockets go: `connect`, and `sendto` with a destination (`dest_addr`, argument 4).
    // Without one, `sendto` (which is also what `send` makes) uses the connected peer, already
    // seen at `connect`. `sendmsg` and `sendmmsg` are not notified: see the module docs.
    emit(&mut p, libc::SYS_connect, NOTIFY, When::Always);
    emit(&mut p, libc::SYS_sendto, NOTIFY, When::NonNull { arg: 4 });
    for d in DENIED {
        emit(&mut p, d.nr.into(), NOTIFY, d.rule);
    }
    if opts.restrict_sockets {
        emit_socket_rule(&mut p, opts.landlock_tcp);
        // TCP Fast Open: `sendto` with it is notified anyway (it needs a destination), and the
        // supervisor refuses it there.
        emit(&mut p, libc::SYS_sendmsg, NOTIFY, fast_open(2));
        emit(&mut p, libc::SYS_sendmmsg, NOTIFY, fast_open(3));
    }
    p.push(ret(ALLOW));
    p
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, …)` with `SECCOMP_FILTER_FLAG_NEW_LISTENER` in
/// `flags`: `EPERM` in the kernel, so that no filter the agent installs can ever have a listener
/// (see the module docs). Every other `seccomp` call is allowed.
fn emit_listener_rule(p: &mut Vec<sock_filter>) {
    p.extend([
        jump(JEQ, libc::SYS_seccomp as u32, 0, 6),
        load(arg_low(0)),
        jump(JEQ, SECCOMP_SET_MODE_FILTER, 0, 3),
        load(arg_low(1)),
        jump(JSET, NEW_LISTENER, 0, 1),
        ret(EPERM),
        ret(ALLOW),
    ]);
}

/// `socket(domain, type, protocol)` in degraded mode: allowed only for `AF_INET`/`AF_INET6`,
/// `SOCK_STREAM` and protocol 0 or `IPPROTO_TCP`, and only when Landlock controls TCP; notified
/// (and refused) otherwise.
fn emit_socket_rule(p: &mut Vec<sock_filter>, tcp_allowed: bool) {
    if !tcp_allowed {
        emit(p, libc::SYS_socket, NOTIFY, When::Always);
        return;
    }
    p.extend([
        jump(JEQ, libc::SYS_socket as u32, 0, 11),
        load(arg_low(0)),
        jump(JEQ, libc::AF_INET as u32, 1, 0),
        jump(JEQ, libc::AF_INET6 as u32, 0, 6),
        load(arg_low(1)),
        // The type's low bits; SOCK_NONBLOCK and SOCK_CLOEXEC sit above them.
        and(SOCK_TYPE_MASK),
        jump(JEQ, libc::SOCK_STREAM as u32, 0, 3),
        load(arg_low(2)),
        // Protocol 0 picks TCP for an IPv4/IPv6 stream; IPPROTO_MPTCP, IPPROTO_SCTP, … do not.
        jump(JEQ, 0, 2, 0),
        jump(JEQ, libc::IPPROTO_TCP as u32, 1, 0),
        ret(NOTIFY),
        ret(ALLOW),
    ]);
}

/// Appends the block for one system call: it returns `action` when `nr` matches and `when` holds,
/// `ALLOW` when `nr` matches and `when` does not, and falls through to the next block otherwise.
/// The accumulator holds the system call number on entry; a block loads an argument only once its
/// number has matched, and then always returns, so the next block still finds the number there.
fn emit(p: &mut Vec<sock_filter>, nr: c_long, action: u32, when: When) {
    // `seccomp_data.nr` is an int: compare its 32 bits.
    let nr = nr as u32;
    match when {
        When::Always => p.extend([jump(JEQ, nr, 0, 1), ret(action)]),
        When::AnyBit { arg, mask } => p.extend([
            jump(JEQ, nr, 0, 4),
            load(arg_low(arg)),
            jump(JSET, mask, 0, 1),
            ret(action),
            ret(ALLOW),
        ]),
        When::OneOf {
            arg,
            values: [a, b],
        } => p.extend([
            jump(JEQ, nr, 0, 5),
            load(arg_low(arg)),
            jump(JEQ, a, 1, 0),
            jump(JEQ, b, 0, 1),
            ret(action),
            ret(ALLOW),
        ]),
        When::NoneOf {
            arg,
            values: [a, b],
        } => p.extend([
            jump(JEQ, nr, 0, 5),
            load(arg_low(arg)),
            jump(JEQ, a, 1, 0),
            jump(JEQ, b, 0, 1),
            ret(ALLOW),
            ret(action),
        ]),
        When::NonNull { arg } => p.extend([
            jump(JEQ, nr, 0, 6),
            load(arg_low(arg)),
            jump(JEQ, 0, 0, 2),
            load(arg_high(arg)),
            jump(JEQ, 0, 1, 0),
            ret(action),
            ret(ALLOW),
        ]),
    }
}

/// Offset of the low 32 bits of `args[arg]` (little-endian: the first word).
const fn arg_low(arg: u32) -> u32 {
    ARGS + 8 * arg
}

/// Offset of the high 32 bits of `args[arg]` (little-endian: the second word).
const fn arg_high(arg: u32) -> u32 {
    ARGS + 8 * arg + 4
}

const fn load(offset: u32) -> sock_filter {
    sock_filter {
        code: LD_ABS,
        jt: 0,
        jf: 0,
        k: offset,
    }
}

/// `A &= k`.
const fn and(k: u32) -> sock_filter {
    sock_filter {
        code: AND,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

const fn ret(action: u32) -> sock_filter {
    sock_filter {
        code: RET,
        jt: 0,
        jf: 0,
        k: action,
    }
}
