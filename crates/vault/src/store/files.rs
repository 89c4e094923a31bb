//! The vault's file discipline: private directories, atomic writes, one writer at a time.
//!
//! Every file is written to a temporary file in the same directory (mode 0600), flushed to disk,
//! renamed over the target, and the directory is flushed too: a reader or a crash sees the old
//! file or the new one, never half of one. Directories are created 0700, and a directory that
//! another user owns or could write is refused, since whoever can write it can replace secrets.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use super::error::VaultError;

/// The lock file in the vault directory; writers hold an exclusive `flock` on it.
const LOCK_FILE: &str = ".lock";

/// The uid this process acts as.
fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Refuses `dir` unless it is a directory owned by this user and writable by no one else.
pub(crate) fn check_private_dir(dir: &Path) -> Result<(), VaultError> {
    let md = std::fs::metadata(dir).map_err(VaultError::io("inspect", dir))?;
    let insecure = |problem: String, fix: String| VaultError::InsecureDirectory {
        path: dir.to_path_buf(),
        problem,
        fix,
    };
    if !md.is_dir() {
        return Err(insecure(
            "is not a directory".to_owned(),
            "point qwarden at a directory".to_owned(),
        ));
    }
    let me = current_uid();
    if md.uid() != me {
        return Err(insecure(
            format!("is owned by uid {}, not by you (uid {me})", md.uid()),
            format!("`chown {me} {}` if it is yours", dir.display()),
        ));
    }
    if md.mode() & 0o022 != 0 {
        return Err(insecure(
            format!(
                "is writable by its group or by everyone (mode {:o})",
                md.mode() & 0o777
            ),
            format!("`chmod 700 {}`", dir.display()),
        ));
    }
    Ok(())
}

/// Creates `dir` (and missing parents) with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), VaultError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(VaultError::io("create", dir))
}

/// Flushes `dir`'s entries (a rename or removal in it) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(VaultError::io("flush", dir))
}

/// The directory of `path` (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
}

/// Replaces `path` atomically with `bytes`, mode 0600.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    write_atomic_with(path, true, |f| f.write_all(bytes))
}

/// Creates `path` atomically with `bytes`, mode 0600; fails if it exists.
pub(crate) fn create_atomic(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    write_atomic_with(path, false, |f| f.write_all(bytes))
}

/// Writes a temporary file beside `path` with `fill`, flushes it, and renames it into place
/// (over an existing file only if `replace`). On any failure the temporary file is removed and
/// `path` is as it was.
pub(crate) fn write_atomic_with(
    path: &Path,
    replace: bool,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), VaultError> {
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(VaultError::io("create a temporary file in", dir))?;
    fill(tmp.as_file_mut()).map_err(VaultError::io("write", tmp.path()))?;
    tmp.as_file()
        .sync_all()
        .map_err(VaultError::io("flush", tmp.path()))?;
    if replace {
        tmp.persist(path)
            .map_err(|e| VaultError::io("replace", path)(e.error))?;
    } else {
        tmp.persist_noclobber(path)
            .map_err(|e| VaultError::io("create", path)(e.error))?;
    }
    sync_dir(dir)
}

/// Reads `path` whole into a buffer that is zeroised when dropped, refusing files over `limit`
/// bytes. The buffer is allocated once, so no copy of the contents is left behind by growth.
pub(crate) fn read_limited(path: &Path, limit: u64) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let file = File::open(path).map_err(VaultError::io("read", path))?;
    let len = file
        .metadata()
        .map_err(VaultError::io("inspect", path))?
        .len();
    if len > limit {
        return Err(VaultError::Damaged {
            path: path.to_path_buf(),
            reason: format!("it is {len} bytes, more than the {limit} a vault file can be"),
        });
    }
    let capacity = usize::try_from(len).unwrap_or(0).saturating_add(1);
    let mut buf = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(limit)
        .read_to_end(&mut buf)
        .map_err(VaultError::io("read", path))?;
    Ok(buf)
}

/// An exclusive lock on the vault, released when dropped.
pub(crate) struct WriteLock {
    _file: File,
}

/// Waits for and takes the vault's write lock (`DIR/.lock`).
pub(crate) fn lock(dir: &Path) -> Result<WriteLock, VaultError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(VaultError::io("open", &path))?;
    file.lock().map_err(VaultError::io("lock", &path))?;
    Ok(WriteLock { _file: file })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp-"))
            .collect()
    }

    #[test]
    fn a_write_that_fails_halfway_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ibm.age");
        write_atomic(&path, b"old value").unwrap();
        let err = write_atomic_with(&path, true, |f| {
            f.write_all(b"new val")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old value");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn writes_replace_whole_files_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(create_atomic(&path, b"three").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn oversized_files_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.age");
        std::fs::write(&path, vec![0u8; 100]).unwrap();
        assert_eq!(read_limited(&path, 100).unwrap().len(), 100);
        let err = read_limited(&path, 99).unwrap_err();
        assert!(matches!(err, VaultError::Damaged { .. }), "{err}");
    }
}
