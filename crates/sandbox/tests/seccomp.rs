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

// ---------------------------------------------------------------------------------------------
// The model, written from the brief rather than from the implementation's tables.

/// Denied whatever their arguments.
fn always_denied() -> Vec<(&'static str, c_long)> {
    [
        ("ptrace", libc::SYS_ptrace),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
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

/// What the filter must answer, for a native call.
fn expected(opts: FilterOptions, nr: i32, args: [u64; 6]) -> u32 {
    let nr_long = c_long::from(nr);
    let any = |arg: u64, flags: &[i32]| flags.iter().any(|&f| low(arg) & f as u32 != 0);
    let open_flags = |arg: u64| opts.observe_reads || any(arg, &WRITE_FLAGS);
    #[cfg(target_arch = "x86_64")]
    if nr as u32 & 0x4000_0000 != 0 {
        return ENOSYS;
    }
    let notify = match nr_long {
        libc::SYS_clone3 => return ENOSYS,
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
    for opts in [READS, WRITES] {
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
    let mut rng = noise(7);
    patterns.extend((0..24).map(|_| std::array::from_fn(|_| rng.next().unwrap())));
    for opts in [READS, WRITES] {
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
        libc::SYS_connect,
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
    Other(i32),
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
/// success). A child made by a raw clone exits at once and is reaped.
const PROBE: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
me, clone = os.getpid(), int(sys.argv[1])
for spec in sys.argv[2:]:
    nr, *args = (int(x, 0) for x in spec.split(","))
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *(ctypes.c_ulong(a) for a in args))
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
    let mut args = vec![libc::SYS_clone.to_string()];
    args.extend(specs);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run(py(PROBE, &args), WRITES);
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
    ]);
    // Without the filter these would fail differently (EFAULT, ENOTTY, …) or succeed: EPERM is
    // the supervisor's answer.
    assert_eq!(errnos, [libc::EPERM; 7]);
    assert_eq!(
        denied(&seen),
        [
            "ptrace",
            "mount",
            "io_uring_setup",
            "ioctl",
            "ioctl",
            "clone",
            "personality"
        ]
    );
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
}
