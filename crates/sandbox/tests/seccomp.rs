//! The seccomp filter and its user-notification primitives.
//!
//! Two halves. The first runs the generated BPF program through a small interpreter over many
//! (arch, nr, args) inputs and compares every verdict with a model written independently from the
//! brief, so the whole table is covered, not only the calls a real program happens to make. The
//! second runs real programs (`python3` with ctypes for raw system calls, `sh`, coreutils,
//! util-linux `unshare`) under the real filter, with a supervisor thread on the listener, exactly
//! as production will: the child sets `no_new_privs`, installs the filter in `pre_exec` and passes
//! the listener back over a socket with `SCM_RIGHTS`. None of it needs root.
//!
//! Nothing here sleeps or measures time: threads meet on channels, joins and the listener's own
//! end-of-users signal.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;

use libc::{c_long, sock_filter};
use qwarden_sandbox::seccomp::{
    self, AUDIT_ARCH, Call, FilterOptions, Listener, Notification, PATH_MAX, Response, Wait,
};

const NOTIFY: u32 = libc::SECCOMP_RET_USER_NOTIF;
const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;

const READS: FilterOptions = FilterOptions {
    observe_reads: true,
    restrict_sockets: false,
    landlock_tcp: false,
};
const WRITES: FilterOptions = FilterOptions {
    observe_reads: false,
    restrict_sockets: false,
    landlock_tcp: false,
};
/// Degraded mode with Landlock controlling TCP.
const DEGRADED_TCP: FilterOptions = FilterOptions {
    observe_reads: false,
    restrict_sockets: true,
    landlock_tcp: true,
};
/// Degraded mode without Landlock's TCP rules.
const DEGRADED: FilterOptions = FilterOptions {
    observe_reads: false,
    restrict_sockets: true,
    landlock_tcp: false,
};

/// Every combination of the options.
fn all_options() -> Vec<FilterOptions> {
    (0..8)
        .map(|bits| FilterOptions {
            observe_reads: bits & 1 != 0,
            restrict_sockets: bits & 2 != 0,
            landlock_tcp: bits & 4 != 0,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The model, written from the brief rather than from the implementation's tables.

/// Denied whatever their arguments.
fn always_denied() -> Vec<(&'static str, c_long)> {
    [
        ("ptrace", libc::SYS_ptrace),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
        ("memfd_secret", 447),
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("chroot", libc::SYS_chroot),
        ("move_mount", libc::SYS_move_mount),
        ("open_tree", libc::SYS_open_tree),
        ("open_tree_attr", 467),
        ("fsopen", libc::SYS_fsopen),
        ("fsconfig", libc::SYS_fsconfig),
        ("fsmount", libc::SYS_fsmount),
        ("fspick", libc::SYS_fspick),
        ("mount_setattr", libc::SYS_mount_setattr),
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("io_uring_enter", libc::SYS_io_uring_enter),
        ("io_uring_register", libc::SYS_io_uring_register),
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("reboot", libc::SYS_reboot),
        ("acct", libc::SYS_acct),
        ("quotactl", libc::SYS_quotactl),
        ("quotactl_fd", libc::SYS_quotactl_fd),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("name_to_handle_at", libc::SYS_name_to_handle_at),
        ("syslog", libc::SYS_syslog),
        ("lookup_dcookie", libc::SYS_lookup_dcookie),
        ("kcmp", libc::SYS_kcmp),
        ("pidfd_getfd", libc::SYS_pidfd_getfd),
        ("fanotify_init", libc::SYS_fanotify_init),
        ("vhangup", libc::SYS_vhangup),
        ("settimeofday", libc::SYS_settimeofday),
        ("clock_settime", libc::SYS_clock_settime),
        ("clock_adjtime", libc::SYS_clock_adjtime),
        ("adjtimex", libc::SYS_adjtimex),
        ("nfsservctl", libc::SYS_nfsservctl),
        #[cfg(target_arch = "x86_64")]
        ("iopl", libc::SYS_iopl),
        #[cfg(target_arch = "x86_64")]
        ("ioperm", libc::SYS_ioperm),
        #[cfg(target_arch = "x86_64")]
        ("uselib", libc::SYS_uselib),
    ]
    .to_vec()
}

/// Denied when their mode argument (the index given) sets `S_ISUID` or `S_ISGID`.
fn set_id_denied() -> Vec<(&'static str, c_long, usize)> {
    [
        #[cfg(target_arch = "x86_64")]
        ("chmod", libc::SYS_chmod, 1),
        ("fchmod", libc::SYS_fchmod, 1),
        ("fchmodat", libc::SYS_fchmodat, 2),
        ("fchmodat2", 452, 2),
    ]
    .to_vec()
}

/// Observed whatever their arguments (`open` and `openat` depend on the options).
fn always_observed() -> Vec<c_long> {
    [
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_openat2,
        libc::SYS_unlinkat,
        libc::SYS_renameat2,
        libc::SYS_linkat,
        libc::SYS_symlinkat,
        libc::SYS_mkdirat,
        libc::SYS_mknodat,
        libc::SYS_truncate,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_creat,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_unlink,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_rmdir,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_rename,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_renameat,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_link,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_symlink,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_mkdir,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_mknod,
    ]
    .to_vec()
}

const NAMESPACE_FLAGS: [i32; 7] = [
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWNS,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWCGROUP,
];
const WRITE_FLAGS: [i32; 5] = [
    libc::O_WRONLY,
    libc::O_RDWR,
    libc::O_CREAT,
    libc::O_TRUNC,
    libc::O_APPEND,
];

fn low(arg: u64) -> u32 {
    arg as u32
}

const MSG_FASTOPEN: u32 = 0x2000_0000;

/// What the filter must answer, for a native call.
fn expected(opts: FilterOptions, nr: i32, args: [u64; 6]) -> u32 {
    let nr_long = c_long::from(nr);
    let any = |arg: u64, flags: &[i32]| flags.iter().any(|&f| low(arg) & f as u32 != 0);
    let open_flags = |arg: u64| opts.observe_reads || any(arg, &WRITE_FLAGS);
    #[cfg(target_arch = "x86_64")]
    if nr as u32 & 0x4000_0000 != 0 {
        return ENOSYS;
    }
    // chmod and friends: S_ISUID (0o4000) or S_ISGID (0o2000) in the mode.
    if let Some((_, _, arg)) = set_id_denied().into_iter().find(|&(_, d, _)| d == nr_long) {
        return if low(args[arg]) & 0o6000 != 0 {
            NOTIFY
        } else {
            ALLOW
        };
    }
    // socket(2) in degraded mode: plain TCP over IPv4/IPv6, and only under Landlock's TCP rules.
    let plain_tcp = |args: [u64; 6]| {
        let domain = low(args[0]);
        let kind = low(args[1]) & 0xf;
        let protocol = low(args[2]);
        opts.landlock_tcp
            && (domain == libc::AF_INET as u32 || domain == libc::AF_INET6 as u32)
            && kind == libc::SOCK_STREAM as u32
            && (protocol == 0 || protocol == libc::IPPROTO_TCP as u32)
    };
    let notify = match nr_long {
        libc::SYS_clone3 => return ENOSYS,
        // SECCOMP_SET_MODE_FILTER with SECCOMP_FILTER_FLAG_NEW_LISTENER.
        libc::SYS_seccomp if low(args[0]) == 1 && low(args[1]) & 8 != 0 => return EPERM,
        libc::SYS_socket => opts.restrict_sockets && !plain_tcp(args),
        // Where sockets go, in every mode: a connect, a sendto with a destination (a pointer:
        // all 64 bits count).
        libc::SYS_connect => true,
        libc::SYS_sendto => args[4] != 0,
        // TCP Fast Open, which Landlock does not see, in degraded mode.
        libc::SYS_sendmsg => opts.restrict_sockets && low(args[2]) & MSG_FASTOPEN != 0,
        libc::SYS_sendmmsg => opts.restrict_sockets && low(args[3]) & MSG_FASTOPEN != 0,
        libc::SYS_clone => any(args[0], &NAMESPACE_FLAGS),
        libc::SYS_personality => low(args[0]) != 0 && low(args[0]) != 0xffff_ffff,
        libc::SYS_ioctl => {
            low(args[1]) == libc::TIOCSTI as u32 || low(args[1]) == libc::TIOCLINUX as u32
        }
        libc::SYS_openat => open_flags(args[2]),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_open => open_flags(args[1]),
        n => always_denied().iter().any(|&(_, d)| d == n) || always_observed().contains(&n),
    };
    if notify { NOTIFY } else { ALLOW }
}

// ---------------------------------------------------------------------------------------------
// A classic BPF interpreter for what seccomp filters may contain.

const LD_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
const AND: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;

/// Runs `prog` on one `struct seccomp_data` and returns the action, checking on the way what the
/// kernel's checker would: aligned loads inside the struct, jumps inside the program.
fn interpret(prog: &[sock_filter], arch: u32, nr: i32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    data[8..16].copy_from_slice(&0x7f00_dead_beefu64.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let (mut acc, mut pc) = (0u32, 0usize);
    loop {
        let ins = prog
            .get(pc)
            .unwrap_or_else(|| panic!("ran off the program at {pc}"));
        pc += 1;
        let cond = |taken: bool| usize::from(if taken { ins.jt } else { ins.jf });
        match ins.code {
            LD_ABS => {
                let k = ins.k as usize;
                assert!(
                    k.is_multiple_of(4) && k + 4 <= data.len(),
                    "bad load offset {k}"
                );
                acc = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
            }
            JA => pc += ins.k as usize,
            JEQ => pc += cond(acc == ins.k),
            JGT => pc += cond(acc > ins.k),
            JGE => pc += cond(acc >= ins.k),
            JSET => pc += cond(acc & ins.k != 0),
            AND => acc &= ins.k,
            RET => return ins.k,
            code => panic!(
                "opcode {code:#x} at {} is not expected in a seccomp filter",
                pc - 1
            ),
        }
    }
}

/// A deterministic stream of 64-bit values (splitmix64).
fn noise(seed: u64) -> impl Iterator<Item = u64> {
    let mut s = seed;
    std::iter::repeat_with(move || {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

fn verdict(opts: FilterOptions, nr: c_long, args: [u64; 6]) -> u32 {
    interpret(&seccomp::program(&opts), AUDIT_ARCH, nr as i32, args)
}

#[test]
fn program_is_well_formed() {
    for opts in all_options() {
        let prog = seccomp::program(&opts);
        assert!(prog.len() <= libc::BPF_MAXINSNS as usize);
        assert_eq!(
            prog.last().map(|i| i.code),
            Some(RET),
            "the program must end in a return"
        );
        for (pc, ins) in prog.iter().enumerate() {
            if ins.code & 0x07 == libc::BPF_JMP as u16 {
                let far = if ins.code == JA {
                    ins.k as usize
                } else {
                    usize::from(ins.jt.max(ins.jf))
                };
                assert!(pc + 1 + far < prog.len(), "jump at {pc} leaves the program");
            }
        }
    }
}

#[test]
fn every_verdict_matches_the_model() {
    let mut patterns = vec![
        [0; 6],
        [u64::MAX; 6],
        [0xffff_ffff_0000_0000; 6],
        [0x0000_0000_ffff_ffff; 6],
    ];
    // Arguments that meet the conditions of the rules, with and without garbage in the high words.
    let (inet, inet6, unix) = (
        libc::AF_INET as u64,
        libc::AF_INET6 as u64,
        libc::AF_UNIX as u64,
    );
    let (stream, dgram) = (libc::SOCK_STREAM as u64, libc::SOCK_DGRAM as u64);
    let flags = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u64;
    let (tcp, mptcp) = (libc::IPPROTO_TCP as u64, libc::IPPROTO_MPTCP as u64);
    let high = 0xffff_ffff_0000_0000;
    patterns.extend([
        [1, 8, 0x1000, 0, 0, 0],
        [1, 0, 0x1000, 0, 0, 0],
        [1, 9, 0, 0, 0, 0],
        [high | 1, high | 8, 0, 0, 0, 0],
        [high | 1, 8 << 32, 0, 0, 0, 0],
        [2, 8, 0, 0, 0, 0],
        [inet, stream, 0, 0, 0, 0],
        [inet6, stream | flags, tcp, 0, 0, 0],
        [high | inet, high | stream, high, 0, 0, 0],
        [inet, stream, mptcp, 0, 0, 0],
        [inet6, stream, high | mptcp, 0, 0, 0],
        [inet, dgram, 0, 0, 0, 0],
        [unix, stream, 0, 0, 0, 0],
        [libc::AF_NETLINK as u64, libc::SOCK_RAW as u64, 0, 0, 0, 0],
        [libc::AF_PACKET as u64, stream, 0, 0, 0, 0],
        [0, 0o4755, 0o2755, 0o6000, 0, 0],
        [0, 0o755, 0o644, 0o1777, 0, 0],
        [0, high | 0o755, high | 0o4755, 0, 0, 0],
        [0, 0o4000 << 32, 0o2000 << 32, 0, 0, 0],
        [0, 0x0001_0755, 0x0001_0755, 0, 0, 0],
        // sendto: no destination, a destination whose low or high word alone is set.
        [3, 0x1000, 16, 0, 0, 0],
        [3, 0x1000, 16, 0, 0x1_0000_0000, 16],
        [3, 0x1000, 16, 0, 0x7ffd_0000, 16],
        [3, 0x1000, 16, MSG_FASTOPEN as u64, 0, 0],
        // sendmsg and sendmmsg with MSG_FASTOPEN, alone, among others, or only in a high word.
        [3, 0x1000, MSG_FASTOPEN as u64, MSG_FASTOPEN as u64, 0, 0],
        [
            3,
            0x1000,
            0x4000 | MSG_FASTOPEN as u64,
            0x40 | MSG_FASTOPEN as u64,
            0,
            0,
        ],
        [
            3,
            0x1000,
            (MSG_FASTOPEN as u64) << 32,
            (MSG_FASTOPEN as u64) << 32,
            0,
            0,
        ],
    ]);
    let mut rng = noise(7);
    patterns.extend((0..24).map(|_| std::array::from_fn(|_| rng.next().unwrap())));
    for opts in all_options() {
        let prog = seccomp::program(&opts);
        let numbers = (-2..1100).chain([
            0x3fff_ffff,
            0x4000_0000 | libc::SYS_ptrace as i32,
            i32::MAX,
            i32::MIN,
        ]);
        for nr in numbers {
            for args in &patterns {
                assert_eq!(
                    interpret(&prog, AUDIT_ARCH, nr, *args),
                    expected(opts, nr, *args),
                    "nr {nr} args {args:x?} with {opts:?}"
                );
            }
        }
    }
}

#[test]
fn every_denied_call_is_notified() {
    for (name, nr) in always_denied() {
        for args in [[0; 6], [u64::MAX; 6]] {
            assert_eq!(verdict(WRITES, nr, args), NOTIFY, "{name}");
        }
    }
}

#[test]
fn every_observed_call_is_notified() {
    let mut observed = always_observed();
    observed.push(libc::SYS_openat);
    #[cfg(target_arch = "x86_64")]
    observed.push(libc::SYS_open);
    for nr in observed {
        assert_eq!(verdict(READS, nr, [0; 6]), NOTIFY, "nr {nr}");
        assert_eq!(verdict(WRITES, nr, [u64::MAX; 6]), NOTIFY, "nr {nr}");
    }
}

#[test]
fn ordinary_calls_are_allowed() {
    for nr in [
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_close,
        libc::SYS_futex,
        libc::SYS_exit_group,
        libc::SYS_newfstatat,
        libc::SYS_getdents64,
        libc::SYS_wait4,
        libc::SYS_socket,
        libc::SYS_recvfrom,
        libc::SYS_sendmsg,
        libc::SYS_bind,
        libc::SYS_seccomp,
        libc::SYS_landlock_restrict_self,
        libc::SYS_pidfd_open,
    ] {
        assert_eq!(verdict(READS, nr, [u64::MAX; 6]), ALLOW, "nr {nr}");
    }
}

#[test]
fn ioctl_requests_are_compared_on_their_low_32_bits() {
    let sti = libc::TIOCSTI;
    for request in [
        sti,
        libc::TIOCLINUX,
        0xdead_beef_0000_0000 | sti,
        0xffff_ffff_0000_0000 | sti,
    ] {
        assert_eq!(
            verdict(WRITES, libc::SYS_ioctl, [0, request, 0, 0, 0, 0]),
            NOTIFY,
            "{request:#x}"
        );
    }
    let tcgets = libc::TCGETS;
    for request in [tcgets, sti << 32 | tcgets, sti << 32, libc::FIONREAD] {
        assert_eq!(
            verdict(WRITES, libc::SYS_ioctl, [0, request, 0, 0, 0, 0]),
            ALLOW,
            "{request:#x}"
        );
    }
    // The request is the second argument: TIOCSTI as the fd means nothing.
    assert_eq!(
        verdict(WRITES, libc::SYS_ioctl, [sti, tcgets, 0, 0, 0, 0]),
        ALLOW
    );
}

#[test]
fn clone_is_denied_only_with_namespace_flags() {
    let sigchld = libc::SIGCHLD as u64;
    for flag in NAMESPACE_FLAGS {
        let flags = flag as u32 as u64 | sigchld;
        assert_eq!(
            verdict(WRITES, libc::SYS_clone, [flags, 0, 0, 0, 0, 0]),
            NOTIFY,
            "{flags:#x}"
        );
    }
    let thread = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM
        | libc::CLONE_SETTLS
        | libc::CLONE_PARENT_SETTID
        | libc::CLONE_CHILD_CLEARTID) as u64;
    let vfork = (libc::CLONE_VM | libc::CLONE_VFORK) as u64 | sigchld;
    // The kernel reads clone's flags through lower_32_bits: namespace bits above them are inert.
    let high = (libc::CLONE_NEWUSER as u64) << 32 | sigchld;
    for flags in [sigchld, thread, vfork, high] {
        assert_eq!(
            verdict(WRITES, libc::SYS_clone, [flags, 0, 0, 0, 0, 0]),
            ALLOW,
            "{flags:#x}"
        );
    }
}

#[test]
fn personality_may_only_be_queried_or_reset() {
    for persona in [0, 0xffff_ffff, u64::MAX, 0x1_0000_0000] {
        assert_eq!(
            verdict(WRITES, libc::SYS_personality, [persona, 0, 0, 0, 0, 0]),
            ALLOW,
            "{persona:#x}"
        );
    }
    for persona in [
        libc::ADDR_NO_RANDOMIZE as u64,
        0x0400_0000, /* READ_IMPLIES_EXEC */
        8,           /* PER_LINUX32 */
        1,
    ] {
        assert_eq!(
            verdict(WRITES, libc::SYS_personality, [persona, 0, 0, 0, 0, 0]),
            NOTIFY,
            "{persona:#x}"
        );
    }
}

#[test]
fn open_without_write_intent_is_not_notified_unless_reads_are_observed() {
    let read_only = [
        libc::O_RDONLY,
        libc::O_RDONLY | libc::O_CLOEXEC | libc::O_DIRECTORY,
        libc::O_PATH,
    ];
    for flags in read_only {
        let args = [libc::AT_FDCWD as u64, 0x1000, flags as u64, 0, 0, 0];
        assert_eq!(verdict(WRITES, libc::SYS_openat, args), ALLOW, "{flags:#x}");
        assert_eq!(verdict(READS, libc::SYS_openat, args), NOTIFY, "{flags:#x}");
        // The kernel takes flags as an int; high-word garbage is not write intent.
        let args = [
            libc::AT_FDCWD as u64,
            0x1000,
            0xffff_ffff_0000_0000 | flags as u64,
            0,
            0,
            0,
        ];
        assert_eq!(verdict(WRITES, libc::SYS_openat, args), ALLOW, "{flags:#x}");
    }
    for flag in WRITE_FLAGS
        .into_iter()
        .chain([libc::O_TMPFILE | libc::O_WRONLY])
    {
        let args = [libc::AT_FDCWD as u64, 0x1000, flag as u64, 0, 0, 0];
        assert_eq!(verdict(WRITES, libc::SYS_openat, args), NOTIFY, "{flag:#x}");
        // The flags are openat's third argument: the same bits elsewhere mean nothing.
        let args = [flag as u64, 0x1000, 0, flag as u64, 0, 0];
        assert_eq!(verdict(WRITES, libc::SYS_openat, args), ALLOW, "{flag:#x}");
    }
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(
            verdict(WRITES, libc::SYS_open, [0x1000, 0, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(
            verdict(
                WRITES,
                libc::SYS_open,
                [0x1000, libc::O_WRONLY as u64, 0, 0, 0, 0]
            ),
            NOTIFY
        );
        assert_eq!(
            verdict(WRITES, libc::SYS_creat, [0x1000, 0o644, 0, 0, 0, 0]),
            NOTIFY
        );
    }
    // openat2's flags are behind a pointer: always notified.
    assert_eq!(verdict(WRITES, libc::SYS_openat2, [0; 6]), NOTIFY);
}

#[test]
fn clone3_fails_with_enosys_in_the_kernel() {
    for opts in [READS, WRITES] {
        assert_eq!(verdict(opts, libc::SYS_clone3, [0; 6]), ENOSYS);
    }
}

#[test]
fn seccomp_may_not_ask_for_a_listener() {
    const SET_MODE_FILTER: u64 = 1;
    let new_listener = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    let tsync = libc::SECCOMP_FILTER_FLAG_TSYNC;
    let tsync_esrch = libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
    let killable = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    let others = libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    let high = 0xffff_ffff_0000_0000;
    for opts in all_options() {
        for flags in [
            new_listener,
            new_listener | tsync_esrch,
            new_listener | tsync | tsync_esrch | killable | others,
            high | new_listener,
            0xffff_ffff,
            u64::MAX,
        ] {
            for op in [SET_MODE_FILTER, high | SET_MODE_FILTER] {
                assert_eq!(
                    verdict(opts, libc::SYS_seccomp, [op, flags, 0x1000, 0, 0, 0]),
                    EPERM,
                    "op {op:#x} flags {flags:#x} with {opts:?}"
                );
            }
        }
        // Narrowing itself stays allowed, with any other flag; so do the other operations.
        for args in [
            [SET_MODE_FILTER, 0, 0x1000, 0, 0, 0],
            [
                SET_MODE_FILTER,
                tsync | tsync_esrch | others,
                0x1000,
                0,
                0,
                0,
            ],
            [SET_MODE_FILTER, new_listener << 32, 0x1000, 0, 0, 0],
            [SET_MODE_FILTER, 0, new_listener, new_listener, 0, 0],
            [0 /* SET_MODE_STRICT */, new_listener, 0, 0, 0, 0],
            [2 /* GET_ACTION_AVAIL */, new_listener, 0x1000, 0, 0, 0],
            [3 /* GET_NOTIF_SIZES */, 0, 0x1000, 0, 0, 0],
            [new_listener, SET_MODE_FILTER, 0x1000, 0, 0, 0],
            [SET_MODE_FILTER << 32, new_listener, 0x1000, 0, 0, 0],
        ] {
            assert_eq!(
                verdict(opts, libc::SYS_seccomp, args),
                ALLOW,
                "{args:x?} with {opts:?}"
            );
        }
        // The legacy interface cannot ask for a listener.
        let legacy = [libc::PR_SET_SECCOMP as u64, 2, 0x1000, 0, 0, 0];
        assert_eq!(verdict(opts, libc::SYS_prctl, legacy), ALLOW);
    }
}

#[test]
fn set_id_modes_are_denied_to_chmod_and_friends() {
    let high = 0xffff_ffff_0000_0000;
    for (name, nr, arg) in set_id_denied() {
        let with_mode = |mode: u64, rest: u64| {
            let mut args = [rest; 6];
            args[arg] = mode;
            args
        };
        for mode in [
            0o4000,
            0o2000,
            0o4755,
            0o2775,
            0o6755,
            0o7777,
            high | 0o4755,
            0x0001_0000 | 0o2700,
            0xffff_ffff,
            u64::MAX,
        ] {
            for opts in [WRITES, READS, DEGRADED_TCP] {
                assert_eq!(
                    verdict(opts, nr, with_mode(mode, 0)),
                    NOTIFY,
                    "{name} {mode:#o}"
                );
            }
            assert_eq!(
                seccomp::decode(nr as i32, with_mode(mode, 0)),
                Call::Denied { name }
            );
        }
        for mode in [
            0,
            0o755,
            0o644,
            0o777,
            0o1777,
            high | 0o755,
            0o4000 << 32,
            (0o6000 << 32) | 0o700,
            0x0001_0000 | 0o755,
        ] {
            for opts in [WRITES, READS, DEGRADED_TCP] {
                assert_eq!(
                    verdict(opts, nr, with_mode(mode, 0)),
                    ALLOW,
                    "{name} {mode:#o}"
                );
            }
            // The set-id bits anywhere but in the mode mean nothing.
            assert_eq!(
                verdict(WRITES, nr, with_mode(mode, 0o6000)),
                ALLOW,
                "{name} {mode:#o}"
            );
        }
    }
}

#[test]
fn degraded_mode_allows_only_plain_tcp_sockets() {
    let (inet, inet6) = (libc::AF_INET as u64, libc::AF_INET6 as u64);
    let stream = libc::SOCK_STREAM as u64;
    let flags = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u64;
    let tcp = libc::IPPROTO_TCP as u64;
    let high = 0xffff_ffff_0000_0000;
    let plain_tcp: [[u64; 3]; 7] = [
        [inet, stream, 0],
        [inet6, stream, 0],
        [inet, stream | flags, tcp],
        [inet6, stream | libc::SOCK_CLOEXEC as u64, tcp],
        [high | inet, high | stream, high | tcp],
        [inet6, high | stream | flags, high],
        [inet, stream, tcp],
    ];
    let refused: [[u64; 3]; 16] = [
        [inet, stream, libc::IPPROTO_MPTCP as u64],
        [inet6, stream | flags, libc::IPPROTO_MPTCP as u64],
        [inet, stream, libc::IPPROTO_SCTP as u64],
        [inet, stream, high | libc::IPPROTO_MPTCP as u64],
        [inet, stream, 0x100 | tcp],
        [inet, libc::SOCK_DGRAM as u64, 0],
        [inet6, libc::SOCK_DGRAM as u64, libc::IPPROTO_UDP as u64],
        [inet, libc::SOCK_RAW as u64, tcp],
        [inet, libc::SOCK_SEQPACKET as u64, 0],
        [libc::AF_UNIX as u64, stream, 0],
        [libc::AF_UNIX as u64, libc::SOCK_DGRAM as u64 | flags, 0],
        [libc::AF_NETLINK as u64, libc::SOCK_RAW as u64, 0],
        [libc::AF_PACKET as u64, libc::SOCK_RAW as u64, 0x0300],
        [libc::AF_VSOCK as u64, stream, 0],
        [0x100 | inet, stream, 0],
        [high | libc::AF_NETLINK as u64, high | stream, 0],
    ];
    let call = |[domain, kind, protocol]: [u64; 3]| [domain, kind, protocol, 0, 0, 0];
    for args in plain_tcp {
        assert_eq!(
            verdict(DEGRADED_TCP, libc::SYS_socket, call(args)),
            ALLOW,
            "{args:x?}"
        );
        // Without Landlock's TCP rules, TCP is refused too.
        assert_eq!(
            verdict(DEGRADED, libc::SYS_socket, call(args)),
            NOTIFY,
            "{args:x?}"
        );
    }
    for args in refused {
        for opts in [DEGRADED_TCP, DEGRADED] {
            assert_eq!(
                verdict(opts, libc::SYS_socket, call(args)),
                NOTIFY,
                "{args:x?} with {opts:?}"
            );
        }
    }
    assert_eq!(
        seccomp::decode(libc::SYS_socket as i32, call(refused[0])),
        Call::Denied { name: "socket" }
    );
    for opts in all_options() {
        // With a network namespace nothing is filtered.
        if !opts.restrict_sockets {
            for args in plain_tcp.into_iter().chain(refused) {
                assert_eq!(verdict(opts, libc::SYS_socket, call(args)), ALLOW);
            }
        }
        // socketpair makes no endpoint anyone else can reach.
        for domain in [libc::AF_UNIX as u64, inet] {
            let args = [domain, stream, 0, 0x1000, 0, 0];
            assert_eq!(verdict(opts, libc::SYS_socketpair, args), ALLOW);
        }
    }
}

#[test]
fn foreign_architectures_are_killed() {
    const I386: u32 = 0x4000_0003;
    const ARM: u32 = 0x4000_0028;
    const X86_64: u32 = 0xc000_003e;
    const AARCH64: u32 = 0xc000_00b7;
    let prog = seccomp::program(&WRITES);
    for arch in [I386, ARM, X86_64, AARCH64, 0]
        .into_iter()
        .filter(|&a| a != AUDIT_ARCH)
    {
        for nr in [
            0,
            1,
            libc::SYS_read as i32,
            libc::SYS_ptrace as i32,
            26, /* i386 ptrace */
        ] {
            assert_eq!(
                interpret(&prog, arch, nr, [0; 6]),
                KILL,
                "arch {arch:#x} nr {nr}"
            );
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x32_numbers_fail_with_enosys() {
    for nr in [
        libc::SYS_read,
        libc::SYS_ptrace,
        libc::SYS_openat,
        libc::SYS_mount,
        521, /* x32 ptrace */
    ] {
        let x32 = 0x4000_0000 | nr;
        for opts in [READS, WRITES] {
            assert_eq!(verdict(opts, x32, [0; 6]), ENOSYS, "nr {x32:#x}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The documented set and the decoder.

#[test]
fn the_documented_denied_set_is_the_model() {
    let table = seccomp::denied_syscalls();
    let documented: BTreeSet<(&str, i32)> = table.iter().map(|d| (d.name, d.nr)).collect();
    let mut model: BTreeSet<(&str, i32)> = always_denied()
        .into_iter()
        .map(|(n, nr)| (n, nr as i32))
        .collect();
    model.extend(
        set_id_denied()
            .into_iter()
            .map(|(name, nr, _)| (name, nr as i32)),
    );
    model.extend([
        ("clone", libc::SYS_clone as i32),
        ("personality", libc::SYS_personality as i32),
        ("ioctl", libc::SYS_ioctl as i32),
    ]);
    assert_eq!(documented, model);
    assert_eq!(table.len(), documented.len(), "a call is listed twice");
    let numbers: BTreeSet<i32> = table.iter().map(|d| d.nr).collect();
    assert_eq!(numbers.len(), table.len(), "two names share a number");
    for d in table {
        assert!(
            !d.why.is_empty() && !d.when.is_empty(),
            "{} is undocumented",
            d.name
        );
        if set_id_denied().iter().any(|&(name, ..)| name == d.name) {
            assert_eq!(d.when, "the mode sets S_ISUID or S_ISGID", "{}", d.name);
        }
        assert_eq!(seccomp::decode(d.nr, [0; 6]), Call::Denied { name: d.name });
    }
}

#[test]
fn the_module_docs_list_every_denied_call() {
    let docs = include_str!("../src/seccomp.rs");
    let table = &docs[docs.find("## Denied set").unwrap()..docs.find("## Observed set").unwrap()];
    for d in seccomp::denied_syscalls() {
        assert!(
            table.contains(&format!("`{}`", d.name)),
            "{} is missing from the docs' table",
            d.name
        );
    }
}

#[test]
fn open_mode_is_the_mode_the_kernel_uses() {
    let cwd = libc::AT_FDCWD as u32 as u64;
    let nr = |n: c_long| n as i32;
    let create = (libc::O_WRONLY | libc::O_CREAT) as u64;
    let tmpfile = (libc::O_TMPFILE | libc::O_WRONLY) as u64;
    let openat = |flags: u64, mode: u64| {
        seccomp::open_mode(nr(libc::SYS_openat), [cwd, 0x1000, flags, mode, 0, 0])
    };
    assert_eq!(openat(create, 0o4755), Some(0o4755));
    assert_eq!(openat(create | libc::O_EXCL as u64, 0o2700), Some(0o2700));
    assert_eq!(openat(tmpfile, 0o6700), Some(0o6700));
    // A umode_t: the low 16 bits, of which the permission bits only.
    assert_eq!(openat(create, 0xffff_ffff_0001_0000 | 0o4755), Some(0o4755));
    assert_eq!(openat(create, (libc::S_IFREG | 0o644) as u64), Some(0o644));
    // Nothing is created: the kernel ignores the mode.
    assert_eq!(openat(libc::O_WRONLY as u64, 0o4755), Some(0));
    assert_eq!(openat(libc::O_DIRECTORY as u64, 0o4755), Some(0));
    assert_eq!(openat(create << 32, 0o4755), Some(0));
    #[cfg(target_arch = "x86_64")]
    {
        let open = |flags: u64, mode: u64| {
            seccomp::open_mode(nr(libc::SYS_open), [0x1000, flags, mode, 0, 0, 0])
        };
        assert_eq!(open(create, 0o6755), Some(0o6755));
        assert_eq!(open(libc::O_RDWR as u64, 0o6755), Some(0));
        assert_eq!(
            seccomp::open_mode(nr(libc::SYS_creat), [0x1000, 0o4755, 0, 0, 0, 0]),
            Some(0o4755)
        );
        assert_eq!(
            seccomp::open_mode(nr(libc::SYS_chmod), [0x1000, 0o4755, 0, 0, 0, 0]),
            None
        );
    }
    for other in [
        libc::SYS_openat2,
        libc::SYS_mknodat,
        libc::SYS_fchmodat,
        libc::SYS_read,
    ] {
        assert_eq!(
            seccomp::open_mode(nr(other), [cwd, 0x1000, create, 0o4755, 0, 0]),
            None
        );
    }
}

/// A `struct sockaddr` as a program lays it out: the family in the machine's byte order, the
/// port and address in the network's.
fn sockaddr_bytes(family: i32, port: u16, addr: &[u8], len: usize) -> Vec<u8> {
    let mut b = vec![0u8; 28];
    b[0..2].copy_from_slice(&(family as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&port.to_be_bytes());
    match addr.len() {
        4 => b[4..8].copy_from_slice(addr),
        16 => b[8..24].copy_from_slice(addr),
        _ => {}
    }
    b.truncate(len);
    b
}

#[test]
fn destinations_decode_as_the_kernel_reads_them() {
    use seccomp::Destination::{Disconnect, Ip, Other, Short};
    use std::net::{Ipv6Addr, SocketAddr};
    let ip = |s: &str| Ip(s.parse::<SocketAddr>().unwrap());
    let (inet, inet6) = (libc::AF_INET, libc::AF_INET6);
    let v6 = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets();
    let mapped = "::ffff:8.8.8.8".parse::<Ipv6Addr>().unwrap().octets();
    for sendto in [false, true] {
        let d = |b: Vec<u8>| seccomp::destination(&b, sendto);
        assert_eq!(
            d(sockaddr_bytes(inet, 53, &[8, 8, 8, 8], 16)),
            ip("8.8.8.8:53")
        );
        // An IPv4 address given to an IPv6 socket, whose length is checked as IPv6's.
        assert_eq!(
            d(sockaddr_bytes(inet, 443, &[1, 1, 1, 1], 28)),
            ip("1.1.1.1:443")
        );
        assert_eq!(d(sockaddr_bytes(inet, 53, &[8, 8, 8, 8], 15)), Short);
        assert_eq!(
            d(sockaddr_bytes(inet6, 443, &v6, 28)),
            ip("[2001:db8::1]:443")
        );
        // RFC 2133's size, without sin6_scope_id, is enough.
        assert_eq!(
            d(sockaddr_bytes(inet6, 443, &v6, 24)),
            ip("[2001:db8::1]:443")
        );
        assert_eq!(d(sockaddr_bytes(inet6, 443, &v6, 23)), Short);
        assert_eq!(
            d(sockaddr_bytes(inet6, 53, &mapped, 28)),
            ip("[::ffff:8.8.8.8]:53")
        );
        assert_eq!(d(sockaddr_bytes(libc::AF_UNIX, 0, &[], 12)), Other(1));
        assert_eq!(
            d(sockaddr_bytes(libc::AF_NETLINK, 0, &[], 12)),
            Other(libc::AF_NETLINK as u16)
        );
        assert_eq!(d(Vec::new()), Short);
        assert_eq!(d(vec![2]), Short);
    }
    // AF_UNSPEC: a connect dissolves the association; UDP's sendto reads it as IPv4.
    let unspec = sockaddr_bytes(libc::AF_UNSPEC, 53, &[8, 8, 4, 4], 16);
    assert_eq!(seccomp::destination(&unspec, false), Disconnect);
    assert_eq!(seccomp::destination(&unspec, true), ip("8.8.4.4:53"));
    assert_eq!(seccomp::destination(&unspec[..8], true), Short);
}

#[test]
fn socket_addresses_are_read_as_the_kernel_reads_them() {
    let me = std::process::id();
    let addr = sockaddr_bytes(libc::AF_INET, 53, &[8, 8, 8, 8], 16);
    let at = addr.as_ptr() as u64;
    assert_eq!(seccomp::read_sockaddr(me, at, 16).unwrap(), addr);
    assert_eq!(seccomp::read_sockaddr(me, at, 0).unwrap(), [] as [u8; 0]);
    let too_long = seccomp::SOCKADDR_MAX as u32 + 1;
    assert_eq!(
        seccomp::read_sockaddr(me, at, too_long)
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EINVAL)
    );
    assert_eq!(
        seccomp::read_sockaddr(me, 8, 16)
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EFAULT)
    );
    // An address that ends right before an unmapped page reads fine; one that crosses it not.
    let mut pages = Pages::new(2, 1);
    let end = page_size() - 16;
    pages.bytes()[end..].copy_from_slice(&addr);
    assert_eq!(
        seccomp::read_sockaddr(me, pages.addr(end), 16).unwrap(),
        addr
    );
    assert_eq!(
        seccomp::read_sockaddr(me, pages.addr(end + 8), 16)
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EFAULT)
    );
}

#[test]
fn decode_reads_the_arguments_the_kernel_reads() {
    let cwd = libc::AT_FDCWD as u32 as u64 | 0xdead_0000_0000_0000;
    let nr = |n: c_long| n as i32;
    assert_eq!(
        seccomp::decode(
            nr(libc::SYS_openat),
            [cwd, 0x1000, libc::O_WRONLY as u64, 0o600, 0, 0]
        ),
        Call::Open {
            dirfd: None,
            path: 0x1000,
            flags: libc::O_WRONLY
        }
    );
    assert_eq!(
        seccomp::decode(
            nr(libc::SYS_openat),
            [3, 0x1000, 0xffff_ffff_0000_0000, 0, 0, 0]
        ),
        Call::Open {
            dirfd: Some(3),
            path: 0x1000,
            flags: 0
        }
    );
    assert_eq!(
        seccomp::decode(nr(libc::SYS_openat2), [5, 0x1000, 0x2000, 24, 0, 0]),
        Call::OpenHow {
            dirfd: Some(5),
            path: 0x1000,
            how: 0x2000
        }
    );
    assert_eq!(
        seccomp::decode(nr(libc::SYS_execve), [0x1000, 0x2000, 0x3000, 0, 0, 0]),
        Call::Exec {
            dirfd: None,
            path: 0x1000,
            argv: 0x2000,
            flags: 0
        }
    );
    assert_eq!(
        seccomp::decode(
            nr(libc::SYS_execveat),
            [7, 0x1000, 0x2000, 0x3000, libc::AT_EMPTY_PATH as u64, 0]
        ),
        Call::Exec {
            dirfd: Some(7),
            path: 0x1000,
            argv: 0x2000,
            flags: libc::AT_EMPTY_PATH
        }
    );
    assert_eq!(
        seccomp::decode(
            nr(libc::SYS_unlinkat),
            [cwd, 0x1000, libc::AT_REMOVEDIR as u64, 0, 0, 0]
        ),
        Call::Unlink {
            dirfd: None,
            path: 0x1000,
            dir: true
        }
    );
    assert_eq!(
        seccomp::decode(nr(libc::SYS_unlinkat), [4, 0x1000, 0, 0, 0, 0]),
        Call::Unlink {
            dirfd: Some(4),
            path: 0x1000,
            dir: false
        }
    );
    assert_eq!(
        seccomp::decode(
            nr(libc::SYS_renameat2),
            [cwd, 0x1000, 9, 0x2000, libc::RENAME_EXCHANGE as u64, 0]
        ),
        Call::Rename {
            old_dirfd: None,
            old_path: 0x1000,
            new_dirfd: Some(9),
            new_path: 0x2000,
            flags: libc::RENAME_EXCHANGE
        }
    );
    assert_eq!(
        seccomp::decode(
            nr(libc::SYS_linkat),
            [3, 0, cwd, 0x2000, libc::AT_EMPTY_PATH as u64, 0]
        ),
        Call::Link {
            old_dirfd: Some(3),
            old_path: 0,
            new_dirfd: None,
            new_path: 0x2000,
            flags: libc::AT_EMPTY_PATH
        }
    );
    assert_eq!(
        seccomp::decode(nr(libc::SYS_symlinkat), [0x1000, cwd, 0x2000, 0, 0, 0]),
        Call::Symlink {
            target: 0x1000,
            new_dirfd: None,
            new_path: 0x2000
        }
    );
    assert_eq!(
        seccomp::decode(nr(libc::SYS_mkdirat), [6, 0x1000, 0o755, 0, 0, 0]),
        Call::Mkdir {
            dirfd: Some(6),
            path: 0x1000
        }
    );
    assert_eq!(
        seccomp::decode(
            nr(libc::SYS_mknodat),
            [cwd, 0x1000, (libc::S_IFCHR | 0o600) as u64, 0x0103, 0, 0]
        ),
        Call::Mknod {
            dirfd: None,
            path: 0x1000,
            mode: libc::S_IFCHR | 0o600
        }
    );
    assert_eq!(
        seccomp::decode(nr(libc::SYS_truncate), [0x1000, 0, 0, 0, 0, 0]),
        Call::Truncate { path: 0x1000 }
    );
    assert_eq!(
        seccomp::decode(
            nr(libc::SYS_connect),
            [0xdead_0000_0003, 0x1000, 16, 0, 0, 0]
        ),
        Call::Connect {
            fd: 3,
            addr: 0x1000,
            len: 16
        }
    );
    assert_eq!(
        seccomp::decode(
            nr(libc::SYS_sendto),
            [4, 0x1000, 9, MSG_FASTOPEN as u64, 0x2000, 28]
        ),
        Call::SendTo {
            fd: 4,
            addr: 0x2000,
            len: 28,
            flags: MSG_FASTOPEN as i32
        }
    );
    for (call, name) in [
        (libc::SYS_sendmsg, "sendmsg"),
        (libc::SYS_sendmmsg, "sendmmsg"),
    ] {
        assert_eq!(seccomp::decode(nr(call), [0; 6]), Call::Denied { name });
    }
    assert_eq!(
        seccomp::decode(nr(libc::SYS_read), [0; 6]),
        Call::Other(nr(libc::SYS_read))
    );
    assert_eq!(
        seccomp::decode(nr(libc::SYS_clone3), [0; 6]),
        Call::Other(nr(libc::SYS_clone3))
    );
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(
            seccomp::decode(nr(libc::SYS_creat), [0x1000, 0o644, 0, 0, 0, 0]),
            Call::Open {
                dirfd: None,
                path: 0x1000,
                flags: libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC
            }
        );
        assert_eq!(
            seccomp::decode(nr(libc::SYS_rmdir), [0x1000, 0, 0, 0, 0, 0]),
            Call::Unlink {
                dirfd: None,
                path: 0x1000,
                dir: true
            }
        );
        assert_eq!(
            seccomp::decode(nr(libc::SYS_rename), [0x1000, 0x2000, 0, 0, 0, 0]),
            Call::Rename {
                old_dirfd: None,
                old_path: 0x1000,
                new_dirfd: None,
                new_path: 0x2000,
                flags: 0
            }
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Real programs under the real filter.

/// What the test supervisor saw, with the target's memory already read.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Denied(&'static str),
    Exec {
        path: String,
        argv: Vec<String>,
    },
    Open {
        path: String,
        flags: i32,
    },
    /// Other path operations: the operation and its paths, `fd<n>:`-prefixed when relative to a
    /// directory fd.
    Change(&'static str, Vec<String>),
    /// `connect` or `sendto` and where to, decoded from the target's memory.
    Net(&'static str, String),
    Other(i32),
}

fn sockaddr(pid: u32, addr: u64, len: u32, sendto: bool) -> String {
    match seccomp::read_sockaddr(pid, addr, len) {
        Ok(bytes) => match seccomp::destination(&bytes, sendto) {
            seccomp::Destination::Ip(a) => a.to_string(),
            other => format!("{other:?}"),
        },
        Err(e) => format!("<unreadable: {e}>"),
    }
}

fn string(pid: u32, addr: u64) -> String {
    match seccomp::read_c_string(pid, addr, PATH_MAX) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("<unreadable: {e}>"),
    }
}

fn at(pid: u32, dirfd: Option<i32>, addr: u64) -> String {
    match dirfd {
        None => string(pid, addr),
        Some(fd) => format!("fd{fd}:{}", string(pid, addr)),
    }
}

fn describe(n: &Notification) -> Seen {
    assert_eq!(n.arch, AUDIT_ARCH);
    let pid = n.pid;
    match seccomp::decode(n.nr, n.args) {
        Call::Denied { name } => Seen::Denied(name),
        Call::Exec {
            dirfd, path, argv, ..
        } => Seen::Exec {
            path: at(pid, dirfd, path),
            argv: seccomp::read_pointers(pid, argv, 4096)
                .unwrap()
                .into_iter()
                .map(|p| {
                    String::from_utf8_lossy(&seccomp::read_c_string(pid, p, 1 << 17).unwrap())
                        .into_owned()
                })
                .collect(),
        },
        Call::Open { dirfd, path, flags } => Seen::Open {
            path: at(pid, dirfd, path),
            flags,
        },
        Call::OpenHow { dirfd, path, how } => Seen::Open {
            path: at(pid, dirfd, path),
            flags: seccomp::read_open_how_flags(pid, how).unwrap() as i32,
        },
        Call::Unlink { dirfd, path, dir } => Seen::Change(
            if dir { "rmdir" } else { "unlink" },
            vec![at(pid, dirfd, path)],
        ),
        Call::Rename {
            old_dirfd,
            old_path,
            new_dirfd,
            new_path,
            ..
        } => Seen::Change(
            "rename",
            vec![at(pid, old_dirfd, old_path), at(pid, new_dirfd, new_path)],
        ),
        Call::Link {
            old_dirfd,
            old_path,
            new_dirfd,
            new_path,
            ..
        } => Seen::Change(
            "link",
            vec![at(pid, old_dirfd, old_path), at(pid, new_dirfd, new_path)],
        ),
        Call::Symlink {
            target,
            new_dirfd,
            new_path,
        } => Seen::Change(
            "symlink",
            vec![string(pid, target), at(pid, new_dirfd, new_path)],
        ),
        Call::Mkdir { dirfd, path } => Seen::Change("mkdir", vec![at(pid, dirfd, path)]),
        Call::Mknod { dirfd, path, .. } => Seen::Change("mknod", vec![at(pid, dirfd, path)]),
        Call::Truncate { path } => Seen::Change("truncate", vec![string(pid, path)]),
        Call::Connect { addr, len, .. } => Seen::Net("connect", sockaddr(pid, addr, len, false)),
        Call::SendTo { addr, len, .. } => Seen::Net("sendto", sockaddr(pid, addr, len, true)),
        Call::Other(nr) => Seen::Other(nr),
    }
}

/// The production policy in miniature: deny what is denied, let the rest through.
fn default_policy(seen: &Seen) -> Response {
    match seen {
        Seen::Denied(_) | Seen::Other(_) => Response::Error(libc::EPERM),
        _ => Response::Continue,
    }
}

/// Answers notifications until the filter has no users left.
fn supervise(
    listener: Listener,
    mut decide: impl FnMut(&Seen) -> Response,
) -> (Vec<Seen>, Listener) {
    let mut seen = Vec::new();
    while listener.wait().unwrap() == Wait::Ready {
        let Some(n) = listener.recv().unwrap() else {
            continue;
        };
        let event = describe(&n);
        let response = decide(&event);
        listener.respond(n.id, response).unwrap();
        seen.push(event);
    }
    (seen, listener)
}

/// Sends `fd` over `socket` with `SCM_RIGHTS`; allocation-free, for `pre_exec`.
fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    #[repr(C)]
    union Control {
        _align: libc::cmsghdr,
        _bytes: [u8; 64],
    }
    let mut byte = [0u8];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = Control { _bytes: [0; 64] };
    // SAFETY: msghdr is plain data; all zeros is a valid empty message.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = (&raw mut control).cast();
    // SAFETY: CMSG_SPACE is arithmetic.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as _;
    // SAFETY: the control buffer is aligned for cmsghdr and has room for a header and one int.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(4) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>(), fd.as_raw_fd());
    }
    // SAFETY: `msg` and the buffers it points at outlive the call.
    match unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, 0) } {
        1 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Receives one fd sent by [`send_fd`], close-on-exec.
fn recv_fd(socket: &UnixStream) -> io::Result<OwnedFd> {
    #[repr(C)]
    union Control {
        _align: libc::cmsghdr,
        _bytes: [u8; 64],
    }
    let mut byte = [0u8];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = Control { _bytes: [0; 64] };
    // SAFETY: msghdr is plain data; all zeros is a valid empty message.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = (&raw mut control).cast();
    msg.msg_controllen = size_of::<Control>() as _;
    // SAFETY: `msg` points at buffers that outlive the call and are as long as it says.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n <= 0 {
        return Err(if n == 0 {
            io::ErrorKind::UnexpectedEof.into()
        } else {
            io::Error::last_os_error()
        });
    }
    // SAFETY: the kernel wrote well-formed control messages into the buffer.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        assert!(
            !cmsg.is_null() && (*cmsg).cmsg_type == libc::SCM_RIGHTS,
            "no fd received"
        );
        Ok(OwnedFd::from_raw_fd(std::ptr::read_unaligned(
            libc::CMSG_DATA(cmsg).cast::<i32>(),
        )))
    }
}

/// Starts `cmd` under the filter, and `supervisor` on a thread with the other end of the socket
/// the child sends its listener over. The child has its own session and no stdin.
fn spawn_filtered<T: Send + 'static>(
    mut cmd: Command,
    opts: FilterOptions,
    supervisor: impl FnOnce(UnixStream) -> T + Send + 'static,
) -> (io::Result<Child>, thread::JoinHandle<T>) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    // The child blocks in execve until the supervisor answers, and spawn() waits for that execve:
    // the supervisor must already be running.
    let supervisor = thread::spawn(move || supervisor(ours));
    let program = seccomp::program(&opts);
    // SAFETY: the closure runs between fork and exec and only makes system calls; `program` was
    // built before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            seccomp::set_no_new_privs()?;
            let listener = seccomp::install(&program)?;
            send_fd(theirs.as_fd(), listener.as_fd())
        });
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn();
    // Drops our copy of the child's socket end: if the child failed before sending the listener,
    // the supervisor now sees end-of-file instead of waiting forever.
    drop(cmd);
    (child, supervisor)
}

struct Run {
    output: Output,
    seen: Vec<Seen>,
    listener: Listener,
}

fn run_with(
    cmd: Command,
    opts: FilterOptions,
    decide: impl FnMut(&Seen) -> Response + Send + 'static,
) -> Run {
    let (child, supervisor) = spawn_filtered(cmd, opts, move |socket| {
        let listener = Listener::from(recv_fd(&socket).unwrap());
        supervise(listener, decide)
    });
    let output = child.unwrap().wait_with_output().unwrap();
    let (seen, listener) = supervisor.join().unwrap();
    Run {
        output,
        seen,
        listener,
    }
}

fn run(cmd: Command, opts: FilterOptions) -> Run {
    run_with(cmd, opts, default_policy)
}

fn python() -> &'static str {
    // The distribution's interpreter, not a version manager's shim (which is a shell script that
    // an unprivileged test user may not be able to read).
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

fn py(script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(python());
    cmd.args(["-S", "-E", "-c", script]).args(args);
    cmd
}

/// Makes each raw system call `nr,arg,...` given on the command line and prints its errno (0 for
/// success). An argument is a number, or `path` (the path given as the second argument), `fd` (an
/// fd open on it for reading) or `buf` (a 64-byte buffer). A child made by a raw clone exits at
/// once and is reaped.
const PROBE: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
me, clone, path = os.getpid(), int(sys.argv[1]), sys.argv[2].encode()
fd = os.open(path, os.O_RDONLY) if path else -1
buf = ctypes.create_string_buffer(64)
def arg(a):
    if a == "path":
        return ctypes.c_char_p(path)
    if a == "fd":
        return ctypes.c_ulong(fd)
    if a == "buf":
        return buf
    return ctypes.c_ulong(int(a, 0))
for spec in sys.argv[3:]:
    nr, *args = spec.split(",")
    nr = int(nr, 0)
    args = [arg(a) for a in args]
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *args)
    if os.getpid() != me:
        os._exit(0)
    if nr == clone and r > 0:
        os.waitpid(r, 0)
    print(ctypes.get_errno() if r == -1 else 0, flush=True)
"#;

/// Runs the raw calls under the filter: their errnos, and what the supervisor saw.
fn probe(calls: &[(c_long, &[u64])]) -> (Vec<i32>, Vec<Seen>) {
    let specs: Vec<String> = calls
        .iter()
        .map(|(nr, args)| {
            std::iter::once(*nr as u64)
                .chain(args.iter().copied())
                .map(|a| format!("{a:#x}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    probe_specs(WRITES, "", &specs)
}

/// [`probe`] with other options, and calls written as [`PROBE`] takes them (`nr,arg,…`).
fn probe_specs(opts: FilterOptions, path: &str, specs: &[String]) -> (Vec<i32>, Vec<Seen>) {
    let mut args = vec![libc::SYS_clone.to_string(), path.to_owned()];
    args.extend(specs.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run(py(PROBE, &args), opts);
    assert!(
        run.output.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&run.output.stderr)
    );
    let errnos = String::from_utf8(run.output.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    (errnos, run.seen)
}

fn denied(seen: &[Seen]) -> Vec<&'static str> {
    seen.iter()
        .filter_map(|s| {
            if let Seen::Denied(name) = s {
                Some(*name)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn escapes_fail_with_eperm_and_are_seen() {
    let newuser = (libc::CLONE_NEWUSER | libc::SIGCHLD) as u64;
    let sti = libc::TIOCSTI;
    let (errnos, seen) = probe(&[
        (libc::SYS_ptrace, &[libc::PTRACE_TRACEME as u64, 0, 0, 0]),
        (libc::SYS_mount, &[0, 0, 0, 0, 0]),
        (libc::SYS_io_uring_setup, &[1, 0]),
        (libc::SYS_ioctl, &[0, sti, 0]),
        (libc::SYS_ioctl, &[0, 0xdead_beef_0000_0000 | sti, 0]),
        (libc::SYS_clone, &[newuser, 0, 0, 0, 0]),
        (libc::SYS_personality, &[libc::ADDR_NO_RANDOMIZE as u64]),
        (libc::SYS_memfd_secret, &[0]),
    ]);
    // Without the filter these would fail differently (EFAULT, ENOTTY, ENOSYS, …) or succeed:
    // EPERM is the supervisor's answer.
    assert_eq!(errnos, [libc::EPERM; 8]);
    assert_eq!(
        denied(&seen),
        [
            "ptrace",
            "mount",
            "io_uring_setup",
            "ioctl",
            "ioctl",
            "clone",
            "personality",
            "memfd_secret"
        ]
    );
}

#[test]
fn set_id_bits_cannot_be_set_and_the_attempts_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tool");
    std::fs::write(&file, "#!/bin/sh\n").unwrap();
    let path = file.to_str().unwrap();
    let cwd = libc::AT_FDCWD as u32;
    let high = 0xffff_ffff_0000_0000_u64;
    let mut specs = Vec::new();
    let mut expected = Vec::new();
    let mut call = |spec: String, errno: i32| {
        specs.push(spec);
        expected.push(errno);
    };
    #[cfg(target_arch = "x86_64")]
    {
        call(format!("{},path,0o4755", libc::SYS_chmod), libc::EPERM);
        call(
            format!("{},path,{:#x}", libc::SYS_chmod, high | 0o2755),
            libc::EPERM,
        );
        call(format!("{},path,0o755", libc::SYS_chmod), 0);
    }
    call(format!("{},fd,0o4700", libc::SYS_fchmod), libc::EPERM);
    call(format!("{},fd,0o1777", libc::SYS_fchmod), 0);
    call(
        format!("{},{cwd:#x},path,0o6755", libc::SYS_fchmodat),
        libc::EPERM,
    );
    // High-word garbage is no set-id bit: the kernel reads a umode_t.
    call(
        format!("{},{cwd:#x},path,{:#x}", libc::SYS_fchmodat, high | 0o750),
        0,
    );
    call(format!("452,{cwd:#x},path,0o2750,0"), libc::EPERM);
    let (errnos, seen) = probe_specs(WRITES, path, &specs);
    assert_eq!(errnos, expected);
    let mut names = Vec::new();
    #[cfg(target_arch = "x86_64")]
    names.extend(["chmod", "chmod"]);
    names.extend(["fchmod", "fchmodat", "fchmodat2"]);
    assert_eq!(denied(&seen), names);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o7777, 0o750);

    // fchmodat2 (Linux 6.6) where the kernel has it; the filter lets plain modes through.
    let (errnos, seen) = probe_specs(WRITES, path, &[format!("452,{cwd:#x},path,0o700,0")]);
    assert!(matches!(errnos[..], [0 | libc::ENOSYS]), "{errnos:?}");
    assert_eq!(denied(&seen), [] as [&str; 0]);

    // And coreutils, as an agent would use it.
    let mut cmd = Command::new("/bin/sh");
    cmd.current_dir(dir.path())
        .args(["-c", "chmod 0755 tool && chmod u+s tool"]);
    let run = run(cmd, WRITES);
    assert!(!run.output.status.success());
    assert!(
        String::from_utf8_lossy(&run.output.stderr).contains("Operation not permitted"),
        "{}",
        String::from_utf8_lossy(&run.output.stderr)
    );
    assert_eq!(denied(&run.seen).len(), 1, "{:?}", run.seen);
    assert!(denied(&run.seen)[0].contains("chmod"), "{:?}", run.seen);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o7777, 0o755);
}

#[test]
fn degraded_mode_sockets_are_refused_but_plain_tcp() {
    let spec = |args: [u64; 3]| {
        format!(
            "{},{:#x},{:#x},{:#x}",
            libc::SYS_socket,
            args[0],
            args[1],
            args[2]
        )
    };
    let (inet, stream) = (libc::AF_INET as u64, libc::SOCK_STREAM as u64);
    let cloexec = libc::SOCK_CLOEXEC as u64;
    let plain = [
        spec([inet, stream, 0]),
        spec([inet, stream | cloexec, libc::IPPROTO_TCP as u64]),
        spec([0xffff_ffff_0000_0000 | inet, stream, 0]),
    ];
    let refused = [
        spec([inet, stream, libc::IPPROTO_MPTCP as u64]),
        spec([inet, libc::SOCK_DGRAM as u64, 0]),
        spec([libc::AF_NETLINK as u64, libc::SOCK_RAW as u64, 0]),
        spec([libc::AF_UNIX as u64, stream, 0]),
    ];
    let socketpair = format!("{},{},{stream},0,buf", libc::SYS_socketpair, libc::AF_UNIX);
    let mut specs: Vec<String> = plain.iter().chain(&refused).cloned().collect();
    specs.push(socketpair.clone());
    let (errnos, seen) = probe_specs(DEGRADED_TCP, "", &specs);
    assert_eq!(
        errnos,
        [
            0,
            0,
            0,
            libc::EPERM,
            libc::EPERM,
            libc::EPERM,
            libc::EPERM,
            0
        ]
    );
    assert_eq!(denied(&seen), ["socket"; 4]);

    // Without Landlock's TCP rules, TCP is refused too.
    let mut specs = plain.to_vec();
    specs.push(socketpair);
    let (errnos, seen) = probe_specs(DEGRADED, "", &specs);
    assert_eq!(errnos, [libc::EPERM, libc::EPERM, libc::EPERM, 0]);
    assert_eq!(denied(&seen), ["socket"; 3]);

    // With a network namespace (here: none at all), nothing about sockets is refused.
    let (_, seen) = probe_specs(WRITES, "", &refused);
    assert_eq!(denied(&seen), [] as [&str; 0]);
}

/// Tries to install filters (an allow-all program) with the flags given as arguments; when a
/// flag is `kcmp`, makes that denied call instead, which the test supervisor answers by closing
/// the listener (so it fails with ENOSYS). Prints each errno, 0 for success.
const INSTALL: &str = r#"
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
u8, u16, u32, ul = ctypes.c_ubyte, ctypes.c_ushort, ctypes.c_uint, ctypes.c_ulong
class Insn(ctypes.Structure):
    _fields_ = [("code", u16), ("jt", u8), ("jf", u8), ("k", u32)]
class Prog(ctypes.Structure):
    _fields_ = [("len", u16), ("filter", ctypes.POINTER(Insn))]
# BPF_RET | BPF_K, SECCOMP_RET_ALLOW
prog = Prog(1, (Insn * 1)(Insn(0x06, 0, 0, 0x7fff0000)))
seccomp, kcmp = ctypes.c_long(int(sys.argv[1])), ctypes.c_long(int(sys.argv[2]))
for flags in sys.argv[3:]:
    ctypes.set_errno(0)
    if flags == "kcmp":
        r = libc.syscall(kcmp, ul(0), ul(0), ul(0))
    else:
        r = libc.syscall(seccomp, ul(1), ul(int(flags, 0)), ctypes.byref(prog))
    print(ctypes.get_errno() if r == -1 else 0, flush=True)
"#;

#[test]
fn no_filter_of_the_agent_gets_a_listener_even_once_ours_is_gone() {
    let new_listener = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    let tsync_esrch =
        new_listener | libc::SECCOMP_FILTER_FLAG_TSYNC | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
    let nr = |n: c_long| n.to_string();
    let args = [
        nr(libc::SYS_seccomp),
        nr(libc::SYS_kcmp),
        // Our listener is alive: the kernel alone would say EBUSY.
        format!("{new_listener:#x}"),
        format!("{tsync_esrch:#x}"),
        format!("{:#x}", 0xffff_ffff_0000_0000 | new_listener),
        // The supervisor goes away.
        "kcmp".to_owned(),
        // Now the kernel alone would hand the agent a listener.
        format!("{new_listener:#x}"),
        // Narrowing itself still works, and still without a listener.
        "0".to_owned(),
        format!("{new_listener:#x}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (child, supervisor) = spawn_filtered(py(INSTALL, &args), WRITES, |socket| {
        let listener = Listener::from(recv_fd(&socket).unwrap());
        let mut seen = Vec::new();
        while listener.wait().unwrap() == Wait::Ready {
            let Some(n) = listener.recv().unwrap() else {
                continue;
            };
            let event = describe(&n);
            let last = event == Seen::Denied("kcmp");
            if !last {
                listener.respond(n.id, default_policy(&event)).unwrap();
            }
            seen.push(event);
            if last {
                // Unanswered: closing the listener fails the call with ENOSYS.
                break;
            }
        }
        seen
    });
    let output = child.unwrap().wait_with_output().unwrap();
    let seen = supervisor.join().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let errnos: Vec<i32> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let eperm = libc::EPERM;
    assert_eq!(errnos, [eperm, eperm, eperm, libc::ENOSYS, eperm, 0, eperm]);
    // Refused in the kernel: the supervisor never heard of the attempts.
    assert_eq!(denied(&seen), ["kcmp"]);
}

#[test]
fn harmless_variants_are_not_notified() {
    let (errnos, seen) = probe(&[
        (libc::SYS_ioctl, &[0, libc::TCGETS, 0]),
        (libc::SYS_personality, &[0xffff_ffff]),
        (libc::SYS_clone, &[libc::SIGCHLD as u64, 0, 0, 0, 0]),
        (libc::SYS_getpid, &[]),
    ]);
    // stdin is /dev/null: TCGETS is the kernel's ENOTTY, not the supervisor's EPERM.
    assert_eq!(errnos, [libc::ENOTTY, 0, 0, 0]);
    assert_eq!(denied(&seen), [] as [&str; 0]);
}

#[test]
fn every_always_denied_call_is_refused_by_the_supervisor() {
    let model = always_denied();
    let calls: Vec<(c_long, &[u64])> = model.iter().map(|&(_, nr)| (nr, &[0u64; 6][..])).collect();
    let (errnos, seen) = probe(&calls);
    assert_eq!(errnos, vec![libc::EPERM; model.len()]);
    assert_eq!(
        denied(&seen),
        model.iter().map(|&(name, _)| name).collect::<Vec<_>>()
    );
}

#[test]
fn unshare_fails_and_is_seen() {
    let mut cmd = Command::new("unshare");
    cmd.args(["-U", "true"]);
    let run = run(cmd, WRITES);
    assert!(!run.output.status.success());
    assert!(String::from_utf8_lossy(&run.output.stderr).contains("Operation not permitted"));
    assert_eq!(denied(&run.seen), ["unshare"]);
}

#[test]
fn clone3_is_enosys_and_fork_and_threads_still_work() {
    let (errnos, seen) = probe(&[(libc::SYS_clone3, &[0, 0])]);
    assert_eq!(errnos, [libc::ENOSYS]);
    assert!(
        !seen
            .iter()
            .any(|s| matches!(s, Seen::Denied(_) | Seen::Other(_))),
        "{seen:?}"
    );

    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "true & wait"]);
    assert!(run(cmd, WRITES).output.status.success());

    // glibc's pthread_create tries clone3 first and falls back to clone.
    let threads =
        "import threading; t = threading.Thread(target=print, args=('ran',)); t.start(); t.join()";
    let run = run(py(threads, &[]), WRITES);
    assert!(
        run.output.status.success(),
        "{}",
        String::from_utf8_lossy(&run.output.stderr)
    );
    assert_eq!(run.output.stdout, b"ran\n");
}

#[test]
fn exec_is_seen_with_its_exact_argv() {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "/bin/echo hello 'big world'; exit 0"]);
    let run = run(cmd, WRITES);
    assert!(run.output.status.success());
    assert_eq!(run.output.stdout, b"hello big world\n");
    let execs: Vec<&Seen> = run
        .seen
        .iter()
        .filter(|s| matches!(s, Seen::Exec { .. }))
        .collect();
    assert_eq!(
        execs,
        [
            &Seen::Exec {
                path: "/bin/sh".into(),
                argv: vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "/bin/echo hello 'big world'; exit 0".into()
                ]
            },
            &Seen::Exec {
                path: "/bin/echo".into(),
                argv: vec!["/bin/echo".into(), "hello".into(), "big world".into()]
            },
        ]
    );
}

const READ_THEN_WRITE: &str =
    "import sys; open(sys.argv[1]).read(); open(sys.argv[2], 'w').write('x')";

/// Connects and sends to sockets of its own on loopback, printing the ports: a TCP connect, a
/// UDP `sendto` through an IPv6 socket to an IPv4-mapped address, a UDP connect, then `send` and
/// `sendmsg` on the connected socket (no destination: not notified).
const CONNECTS: &str = r#"
import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
port = srv.getsockname()[1]
socket.socket().connect(("127.0.0.1", port))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
uport = u.getsockname()[1]
socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b"x", ("::ffff:127.0.0.1", uport))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.connect(("127.0.0.1", uport))
c.send(b"y"); c.sendmsg([b"z"])
assert u.recv(8) == b"x" and u.recv(8) == b"y" and u.recv(8) == b"z"
print(port, uport)
"#;

#[test]
fn connects_and_sends_with_a_destination_are_seen_with_it() {
    // Not in degraded mode, whose filter refuses UDP sockets.
    for opts in [WRITES, READS] {
        let run = run(py(CONNECTS, &[]), opts);
        assert!(
            run.output.status.success(),
            "{}",
            String::from_utf8_lossy(&run.output.stderr)
        );
        let out = String::from_utf8(run.output.stdout).unwrap();
        let (port, uport) = out.trim().split_once(' ').unwrap();
        let net: Vec<(&str, &str)> = run
            .seen
            .iter()
            .filter_map(|s| match s {
                Seen::Net(call, to) if !to.starts_with("Other") => Some((*call, to.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            net,
            [
                ("connect", format!("127.0.0.1:{port}").as_str()),
                ("sendto", format!("[::ffff:127.0.0.1]:{uport}").as_str()),
                ("connect", format!("127.0.0.1:{uport}").as_str()),
            ],
            "{:?}",
            run.seen
        );
    }
}

#[test]
fn degraded_mode_refuses_tcp_fast_open_where_landlock_cannot_see_it() {
    let fast_open = MSG_FASTOPEN as u64;
    let specs = [
        format!("{},0x7fff,buf,{fast_open:#x}", libc::SYS_sendmsg),
        format!(
            "{},0x7fff,buf,1,{:#x}",
            libc::SYS_sendmmsg,
            fast_open | 0x40
        ),
        // Without the flag: the kernel's own answer for a descriptor that is not open.
        format!("{},0x7fff,buf,0", libc::SYS_sendmsg),
        format!("{},0x7fff,buf,1,0", libc::SYS_sendmmsg),
    ];
    let (errnos, seen) = probe_specs(DEGRADED_TCP, "", &specs);
    assert_eq!(errnos, [libc::EPERM, libc::EPERM, libc::EBADF, libc::EBADF]);
    assert_eq!(denied(&seen), ["sendmsg", "sendmmsg"]);
    // With a network namespace there is no route for it to take: not notified.
    let (errnos, seen) = probe_specs(WRITES, "", &specs);
    assert_eq!(errnos, [libc::EBADF; 4]);
    assert_eq!(denied(&seen), [] as [&str; 0]);
}

#[test]
fn writes_are_seen_and_reads_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (read, write) = (dir.path().join("input"), dir.path().join("output"));
    std::fs::write(&read, "data").unwrap();
    let (read, write) = (read.to_str().unwrap(), write.to_str().unwrap());
    let opens = |seen: &[Seen], path: &str| -> Vec<i32> {
        seen.iter()
            .filter_map(|s| match s {
                Seen::Open { path: p, flags } if p == path => Some(*flags),
                _ => None,
            })
            .collect()
    };

    let writes_only = run(py(READ_THEN_WRITE, &[read, write]), WRITES);
    assert!(writes_only.output.status.success());
    let flags = opens(&writes_only.seen, write);
    assert_eq!(flags.len(), 1, "{:?}", writes_only.seen);
    assert_eq!(flags[0] & libc::O_ACCMODE, libc::O_WRONLY);
    assert_eq!(
        flags[0] & (libc::O_CREAT | libc::O_TRUNC),
        libc::O_CREAT | libc::O_TRUNC
    );
    assert_eq!(opens(&writes_only.seen, read), [] as [i32; 0]);

    let everything = run(py(READ_THEN_WRITE, &[read, write]), READS);
    assert!(everything.output.status.success());
    assert_eq!(opens(&everything.seen, write).len(), 1);
    let flags = opens(&everything.seen, read);
    assert_eq!(flags.len(), 1, "{:?}", everything.seen);
    assert_eq!(flags[0] & libc::O_ACCMODE, libc::O_RDONLY);
}

#[test]
fn the_supervisors_error_is_what_the_program_sees() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("forbidden");
    let path = target.to_str().unwrap().to_owned();
    let script =
        "import sys\ntry:\n    open(sys.argv[1], 'w')\nexcept OSError as e:\n    print(e.errno)";
    let forbidden = path.clone();
    let run = run_with(py(script, &[&path]), WRITES, move |seen| match seen {
        Seen::Open { path, .. } if *path == forbidden => Response::Error(libc::EACCES),
        other => default_policy(other),
    });
    assert_eq!(
        String::from_utf8(run.output.stdout).unwrap().trim(),
        libc::EACCES.to_string()
    );
    assert!(!target.exists(), "the open ran although it was refused");
}

#[test]
fn path_changes_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("/bin/sh");
    cmd.current_dir(dir.path())
        .args(["-c", "mkdir d && : > d/f && mv d/f d/g && ln -s g d/s && ln d/g d/h && truncate -s 0 d/h && rm d/g d/s d/h && rmdir d"]);
    let run = run(cmd, WRITES);
    assert!(
        run.output.status.success(),
        "{}",
        String::from_utf8_lossy(&run.output.stderr)
    );
    let change =
        |op, paths: &[&str]| Seen::Change(op, paths.iter().map(|p| (*p).to_owned()).collect());
    for expected in [
        change("mkdir", &["d"]),
        change("rename", &["d/f", "d/g"]),
        change("symlink", &["g", "d/s"]),
        change("link", &["d/g", "d/h"]),
        change("unlink", &["d/g"]),
        change("unlink", &["d/s"]),
        change("unlink", &["d/h"]),
        change("rmdir", &["d"]),
    ] {
        assert!(
            run.seen.contains(&expected),
            "{expected:?} not in {:?}",
            run.seen
        );
    }
    assert!(
        run.seen
            .iter()
            .any(|s| matches!(s, Seen::Open { path, .. } if path == "d/f")),
        "{:?}",
        run.seen
    );
    // coreutils truncate opens the file and calls ftruncate: the open is what is seen.
    assert!(
        run.seen
            .iter()
            .any(|s| matches!(s, Seen::Open { path, .. } if path == "d/h")),
        "{:?}",
        run.seen
    );
    assert!(!dir.path().join("d").exists());
}

#[test]
fn the_listener_closes_once_the_sandbox_has_exited() {
    let run = run(Command::new("/bin/true"), WRITES);
    assert!(run.output.status.success());
    // `supervise` only returns on Closed; and it stays closed.
    assert_eq!(run.listener.wait().unwrap(), Wait::Closed);
    assert!(
        matches!(run.seen.as_slice(), [Seen::Exec { path, .. }] if path == "/bin/true"),
        "{:?}",
        run.seen
    );
}

#[test]
fn a_dead_callers_notification_goes_invalid_and_answering_it_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let marker_path = marker.to_str().unwrap().to_owned();
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (killed_tx, killed_rx) = mpsc::channel::<()>();
    let script = "import sys; open(sys.argv[1], 'w')";
    let (child, supervisor) = spawn_filtered(py(script, &[&marker_path]), WRITES, move |socket| {
        let listener = Listener::from(recv_fd(&socket).unwrap());
        let mut held = false;
        while listener.wait().unwrap() == Wait::Ready {
            let Some(n) = listener.recv().unwrap() else {
                continue;
            };
            let seen = describe(&n);
            if !matches!(&seen, Seen::Open { path, .. } if *path == marker_path) {
                listener.respond(n.id, default_policy(&seen)).unwrap();
                continue;
            }
            // Keep the caller blocked in its open while the test kills and reaps it.
            assert!(listener.id_valid(n.id));
            held_tx.send(()).unwrap();
            killed_rx.recv().unwrap();
            assert!(!listener.id_valid(n.id));
            listener.respond(n.id, Response::Continue).unwrap();
            held = true;
        }
        (held, listener)
    });
    let mut child = child.unwrap();
    held_rx.recv().unwrap();
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    killed_tx.send(()).unwrap();
    let (held, listener) = supervisor.join().unwrap();
    assert!(held);
    assert_eq!(listener.wait().unwrap(), Wait::Closed);
    assert!(!marker.exists(), "the killed caller's open ran");
}

#[test]
fn without_a_supervisor_notified_calls_fail_with_enosys() {
    // The supervisor takes the listener and closes it: fail-closed, the exec itself is refused.
    let (child, supervisor) = spawn_filtered(Command::new("/bin/true"), WRITES, |socket| {
        drop(recv_fd(&socket).unwrap())
    });
    supervisor.join().unwrap();
    assert_eq!(child.unwrap_err().raw_os_error(), Some(libc::ENOSYS));
}

#[test]
fn install_refuses_without_no_new_privs() {
    // SAFETY: PR_GET_NO_NEW_PRIVS reads nothing of ours.
    if unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } == 1 {
        eprintln!("this test process already runs with no_new_privs: nothing to check");
        return;
    }
    let program = seccomp::program(&WRITES);
    let mut cmd = Command::new("/bin/true");
    // SAFETY: the closure only makes system calls.
    unsafe {
        cmd.pre_exec(move || seccomp::install(&program).map(drop));
    }
    assert_eq!(cmd.status().unwrap_err().raw_os_error(), Some(libc::EACCES));
}

#[test]
fn a_response_that_is_not_an_errno_is_refused() {
    let listener = Listener::from(OwnedFd::from(std::fs::File::open("/dev/null").unwrap()));
    for errno in [0, -1, 4096] {
        let err = listener.respond(1, Response::Error(errno)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{errno}");
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the target's memory (our own, here: the supervisor may read itself).

/// Anonymous pages, the last `guard` of them inaccessible.
struct Pages {
    base: *mut u8,
    len: usize,
}

impl Pages {
    fn new(pages: usize, guard: usize) -> Self {
        let page = page_size();
        let len = pages * page;
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        let guard_start = (pages - guard) * page;
        // SAFETY: the range lies inside the mapping we just made.
        let rc = unsafe {
            libc::mprotect(
                base.cast::<u8>().add(guard_start).cast(),
                guard * page,
                libc::PROT_NONE,
            )
        };
        assert_eq!(rc, 0);
        Self {
            base: base.cast(),
            len: guard_start,
        }
    }

    /// The accessible part.
    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `len` bytes from `base` are mapped read-write and only reachable through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.len) }
    }

    fn addr(&self, offset: usize) -> u64 {
        self.base as u64 + offset as u64
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped (accessible part and guard), which nothing
        // borrows any more.
        unsafe { libc::munmap(self.base.cast(), self.len + page_size()) };
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf reads a constant.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

#[test]
fn strings_ending_at_a_page_boundary_are_read() {
    let page = page_size();
    let me = std::process::id();
    let mut pages = Pages::new(3, 1);
    let end = 2 * page;

    // Ends with its NUL on the last readable byte, right before the inaccessible page.
    pages.bytes()[end - 6..end].copy_from_slice(b"hello\0");
    assert_eq!(
        seccomp::read_c_string(me, pages.addr(end - 6), PATH_MAX).unwrap(),
        b"hello"
    );

    // Spans the boundary between the two readable pages.
    pages.bytes()[page - 3..page + 4].copy_from_slice(b"abcdef\0");
    assert_eq!(
        seccomp::read_c_string(me, pages.addr(page - 3), PATH_MAX).unwrap(),
        b"abcdef"
    );

    // Runs into the inaccessible page without a NUL: EFAULT, as the kernel would say.
    pages.bytes()[end - 4..end].copy_from_slice(b"oops");
    let err = seccomp::read_c_string(me, pages.addr(end - 4), PATH_MAX).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EFAULT));

    // `max` counts the NUL, like PATH_MAX.
    pages.bytes()[..101].copy_from_slice(&[b"y".repeat(100).as_slice(), b"\0"].concat());
    assert_eq!(
        seccomp::read_c_string(me, pages.addr(0), 101)
            .unwrap()
            .len(),
        100
    );
    let err = seccomp::read_c_string(me, pages.addr(0), 100).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
    assert_eq!(seccomp::read_c_string(me, pages.addr(100), 1).unwrap(), b"");

    // Not mapped at all.
    let err = seccomp::read_c_string(me, 8, PATH_MAX).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EFAULT));
}

#[test]
fn pointer_arrays_are_read_up_to_their_null() {
    let page = page_size();
    let me = std::process::id();
    let mut pages = Pages::new(3, 1);
    let words = |values: &[u64]| {
        values
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect::<Vec<u8>>()
    };

    // The terminating NULL is the last word before the inaccessible page.
    let end = 2 * page;
    pages.bytes()[end - 24..end].copy_from_slice(&words(&[0x1111, 0x2222, 0]));
    assert_eq!(
        seccomp::read_pointers(me, pages.addr(end - 24), 16).unwrap(),
        [0x1111, 0x2222]
    );
    let err = seccomp::read_pointers(me, pages.addr(end - 24), 1).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::E2BIG));

    // Unaligned, with a pointer split across the page boundary.
    pages.bytes()[page - 12..page + 12].copy_from_slice(&words(&[0xaaaa_bbbb_cccc_dddd, 0x42, 0]));
    assert_eq!(
        seccomp::read_pointers(me, pages.addr(page - 12), 16).unwrap(),
        [0xaaaa_bbbb_cccc_dddd, 0x42]
    );

    // openat2's flags: the first u64 of struct open_how.
    pages.bytes()[16..24]
        .copy_from_slice(&(libc::O_WRONLY as u64 | libc::O_CREAT as u64).to_ne_bytes());
    assert_eq!(
        seccomp::read_open_how_flags(me, pages.addr(16)).unwrap(),
        (libc::O_WRONLY | libc::O_CREAT) as u64
    );

    // And its mode, the second u64; a struct open_how that ends on the last readable byte.
    let how = words(&[(libc::O_WRONLY | libc::O_CREAT) as u64, 0o4755, 0]);
    pages.bytes()[end - 24..end].copy_from_slice(&how);
    assert_eq!(
        seccomp::read_open_how_mode(me, pages.addr(end - 24)).unwrap(),
        0o4755
    );
    assert_eq!(
        seccomp::read_open_how_flags(me, pages.addr(end - 24)).unwrap(),
        (libc::O_WRONLY | libc::O_CREAT) as u64
    );
    // The mode runs into the inaccessible page.
    let err = seccomp::read_open_how_mode(me, pages.addr(end - 12)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EFAULT));
    let err = seccomp::read_open_how_mode(me, u64::MAX - 4).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EFAULT));
}
