//! Reading the arguments of a notified system call out of the target's memory.
//!
//! Errors carry the errno the kernel itself would have returned for the same argument (`EFAULT`
//! for an unreadable address, `ENAMETOOLONG`, `E2BIG`), so a supervisor can answer with it;
//! `ESRCH` means the target is gone. Whatever is read can change under the supervisor's feet
//! (see the module docs): it is a record, not a guarantee.
#![allow(unsafe_code)]

use std::io;
use std::mem::offset_of;
use std::ptr;

/// The kernel's limit on a path, counting its terminating NUL: the `max` to pass to
/// [`read_c_string`] for paths.
pub const PATH_MAX: usize = libc::PATH_MAX as usize;

const WORD: usize = size_of::<u64>();

/// Reads a NUL-terminated string at `addr` in process `pid`, without the NUL.
///
/// `max` counts the NUL, like the kernel's `PATH_MAX`: a string with no NUL in its first `max`
/// bytes is refused with `ENAMETOOLONG`. Memory is read page by page and no further than the
/// NUL, so a string that ends right before an unmapped page reads fine.
pub fn read_c_string(pid: u32, addr: u64, max: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let terminated = read_chunks(pid, addr, max, |chunk| {
        let mut parts = chunk.splitn(2, |&b| b == 0);
        out.extend_from_slice(parts.next().unwrap_or_default());
        parts.next().is_some()
    })?;
    if terminated {
        Ok(out)
    } else {
        Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG))
    }
}

/// Reads a NULL-terminated array of pointers at `addr` in process `pid` (an `argv` or `envp`),
/// without the NULL. More than `max_items` pointers is refused with `E2BIG`.
pub fn read_pointers(pid: u32, addr: u64, max_items: usize) -> io::Result<Vec<u64>> {
    let mut items = Vec::new();
    // Bytes not yet making a whole pointer: an unaligned array can split one across two pages.
    let mut pending = Vec::new();
    let limit = max_items.saturating_add(1).saturating_mul(WORD);
    let terminated = read_chunks(pid, addr, limit, |chunk| {
        pending.extend_from_slice(chunk);
        let (words, _) = pending.as_chunks::<WORD>();
        for &word in words {
            match u64::from_ne_bytes(word) {
                0 => return true,
                p => items.push(p),
            }
        }
        let whole = words.len() * WORD;
        pending.drain(..whole);
        false
    })?;
    if terminated {
        Ok(items)
    } else {
        Err(io::Error::from_raw_os_error(libc::E2BIG))
    }
}

/// The largest address `connect`, `sendto` and friends accept (`sizeof(struct
/// sockaddr_storage)`); the kernel refuses a longer `addrlen` with `EINVAL` before reading.
pub const SOCKADDR_MAX: usize = size_of::<libc::sockaddr_storage>();

/// Reads the `len`-byte socket address at `addr` in process `pid`, as the kernel's
/// `move_addr_to_kernel` would: a length over [`SOCKADDR_MAX`] is `EINVAL`, memory that cannot
/// be read all the way is `EFAULT`, and a length of 0 reads nothing.
pub fn read_sockaddr(pid: u32, addr: u64, len: u32) -> io::Result<Vec<u8>> {
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= SOCKADDR_MAX)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut out = Vec::with_capacity(len);
    if len > 0 {
        read_chunks(pid, addr, len, |chunk| {
            out.extend_from_slice(chunk);
            false
        })?;
    }
    Ok(out)
}

/// Reads `open_how.flags` (the first field, a `u64`, of `linux/openat2.h`'s `struct open_how`) of
/// an `openat2` call.
pub fn read_open_how_flags(pid: u32, addr: u64) -> io::Result<u64> {
    let mut flags = [0; WORD];
    peek(pid, addr, &mut flags)?;
    Ok(u64::from_ne_bytes(flags))
}

/// Reads `open_how.mode` (the second field, a `u64`, of `linux/openat2.h`'s `struct open_how`) of
/// an `openat2` call: the permission bits of the file it creates. The kernel refuses the call
/// (`EINVAL`) if this has bits outside `0o7777`, or is not 0 without `O_CREAT` or `O_TMPFILE`.
pub fn read_open_how_mode(pid: u32, addr: u64) -> io::Result<u64> {
    let mut mode = [0; WORD];
    let at = addr.checked_add(OPEN_HOW_MODE).ok_or_else(fault)?;
    peek(pid, at, &mut mode)?;
    Ok(u64::from_ne_bytes(mode))
}

/// Where `mode` sits in `struct open_how`, after the `u64` flags.
const OPEN_HOW_MODE: u64 = offset_of!(libc::open_how, mode) as u64;
const _: () = assert!(offset_of!(libc::open_how, flags) == 0 && OPEN_HOW_MODE == 8);

/// Reads at most `limit` bytes from `addr` in chunks that never cross a page boundary, handing
/// each to `take` until it returns true. Returns whether it did.
fn read_chunks(
    pid: u32,
    addr: u64,
    limit: usize,
    mut take: impl FnMut(&[u8]) -> bool,
) -> io::Result<bool> {
    let page = page_size();
    let mut buf = vec![0; page];
    let (mut at, mut left) = (addr, limit);
    while left > 0 {
        let len = (page - (at % page as u64) as usize).min(left);
        let chunk = buf.get_mut(..len).ok_or_else(fault)?;
        peek(pid, at, chunk)?;
        if take(chunk) {
            return Ok(true);
        }
        left -= len;
        at = at.checked_add(len as u64).ok_or_else(fault)?;
    }
    Ok(false)
}

/// Fills `buf` from `addr` in process `pid`.
fn peek(pid: u32, addr: u64, buf: &mut [u8]) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // An address in another process: never dereferenced here, so it carries no provenance.
    let remote = libc::iovec {
        iov_base: ptr::without_provenance_mut(addr as usize),
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes `buf`, which is writable for its whole length while the call
    // runs; the kernel only reads through `remote`, in the other process, and checks it there.
    let read = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    match usize::try_from(read) {
        Err(_) => Err(io::Error::last_os_error()),
        Ok(n) if n == buf.len() => Ok(()),
        Ok(_) => Err(fault()),
    }
}

fn fault() -> io::Error {
    io::Error::from_raw_os_error(libc::EFAULT)
}

fn page_size() -> usize {
    // SAFETY: sysconf only reads a constant of the running system.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|s| s.is_power_of_two())
        .unwrap_or(4096)
}
