//! Crash-safe file replacement, shared by the log, the witness store and the content store.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A failed step: what was being done, to which path, and the I/O error.
#[derive(Debug)]
pub(crate) struct IoStep {
    pub(crate) action: &'static str,
    pub(crate) path: PathBuf,
    pub(crate) source: std::io::Error,
}

fn step<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> IoStep + 'p {
    move |source| IoStep {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Makes temporary names unique among the threads of this process (the pid separates processes).
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `bytes` so that a reader, or the file system after a crash, sees the old
/// file or the new one and never a mix: a temporary file in the same directory (created if
/// missing), write, fsync, rename. The caller fsyncs the directory once for all files it wrote.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> Result<(), IoStep> {
    via_temp(path, bytes, 0o666, |tmp| {
        fs::rename(tmp, path).map_err(step("rename into", path))
    })
}

/// Writes `bytes` to a fresh temporary file (created with `mode`, before the umask) beside
/// `path`, fsyncs it and hands it to `place`; the temporary name never outlives the call.
fn via_temp(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    place: impl FnOnce(&Path) -> Result<(), IoStep>,
) -> Result<(), IoStep> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    create_dir_durably(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = File::options()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(step("create", &tmp))?;
        f.write_all(bytes).map_err(step("write", &tmp))?;
        f.sync_all().map_err(step("fsync", &tmp))?;
        drop(f);
        place(&tmp)
    })();
    // After a rename the name is already gone; after a link (or a failure) it must go.
    let _ = fs::remove_file(&tmp);
    result
}

/// Creates `dir` and any missing parents, and makes each new directory's name durable in its
/// parent: a file renamed into a directory that a crash then forgets would be lost with it.
fn create_dir_durably(dir: &Path) -> Result<(), IoStep> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = vec![dir];
    while let Some(parent) = missing.last().and_then(|d| d.parent()) {
        if parent.as_os_str().is_empty() || parent.is_dir() {
            break;
        }
        missing.push(parent);
    }
    fs::create_dir_all(dir).map_err(step("create", dir))?;
    for d in missing.iter().rev() {
        if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Creates `path` holding `bytes`, readable only by its owner, without replacing an existing
/// file: a 0600 temporary file is written and fsynced, then hard-linked into place, and the
/// directory and its parent are fsynced.
pub(crate) fn create_private(path: &Path, bytes: &[u8]) -> Result<(), IoStep> {
    via_temp(path, bytes, 0o600, |tmp| {
        fs::hard_link(tmp, path).map_err(step("create", path))
    })?;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    sync_dir(dir)?;
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Largest file the ledger ever reads: a full entry bundle (256 entries of at most 65,535 bytes
/// with their length prefixes).
pub const MAX_LEDGER_FILE: u64 = 256 * (65_535 + 2);

/// Reads a ledger file that may have been planted by an attacker: only a regular file (not a
/// symlink, FIFO or device, which could hang the reader or feed it without end), and at most
/// `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind, Read};
    let meta = fs::symlink_metadata(path)?;
    if !meta.file_type().is_file() {
        return Err(Error::new(
            ErrorKind::InvalidData,
            "not a regular file (a symlink, FIFO or device is never read)",
        ));
    }
    if meta.len() > limit {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!(
                "{} bytes, more than the {limit} such a file can hold",
                meta.len()
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    File::open(path)?.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("more than the {limit} bytes such a file can hold"),
        ));
    }
    Ok(bytes)
}

/// Makes the names created or renamed in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), IoStep> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(step("fsync directory", dir))
}
