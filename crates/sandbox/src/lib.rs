//! The agent sandbox: everything `qwarden run` does to the operating system.
//!
//! A session's process tree runs in fresh user, mount, pid, ipc, uts, cgroup and network
//! namespaces, on a root built from bind mounts and `pivot_root` that shows only the Grant's
//! scopes; Landlock mirrors that mount policy and a seccomp filter denies the escape system calls.
//! The kernel enforces; the supervisor observes through seccomp user notifications (execs,
//! write-intent opens, renames and deletions, denied attempts) and hashes the write set at the
//! end. Writes go straight to the scope (sandbox tier), to a reviewable copy (staging) or nowhere
//! (prod). [`doctor`] probes what this machine supports.

pub mod init;
pub mod landlock;
pub mod observe;
pub mod plan;
pub mod review;
pub mod seccomp;
pub mod spawn;
pub mod sys;
pub mod writeset;
