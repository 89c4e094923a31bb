//! Copying a write scope into a review copy, and removing a copy again.
//!
//! Regular files are copied with [`std::fs::copy`] (which uses `copy_file_range`, and so shares
//! extents on filesystems that can, such as btrfs and XFS), directories are recreated, symlinks
//! are recreated as symlinks with the same target (never followed). Permission bits (including
//! set-uid/set-gid/sticky) and the modification times of files and directories are preserved;
//! symlink times, ownership, extended attributes and ACLs are not, and hard links become separate
//! files. Fifos, sockets and device nodes, entries on other filesystems (nested mount points) and
//! entries that cannot be read are not copied; each is listed as [`Skipped`].

use super::{ReviewError, Skipped};
use std::fs::{self, File, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

fn io_error(action: &'static str, path: &Path, source: io::Error) -> ReviewError {
    ReviewError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Copies everything below `scope` into the existing, empty directory `copy`, and gives `copy`
/// the permissions and mtime of `scope`. What could not be copied is appended to `skipped`, with
/// its path in `scope`.
pub(super) fn copy_tree(
    scope: &Path,
    copy: &Path,
    skipped: &mut Vec<Skipped>,
) -> Result<(), ReviewError> {
    let scope_meta =
        fs::metadata(scope).map_err(|err| io_error("examine the write scope", scope, err))?;
    let scope_dev = scope_meta.dev();
    // Directory metadata is applied last, deepest first: adding entries moves a directory's
    // mtime, and a read-only directory could not be filled.
    let mut directories = vec![(copy.to_path_buf(), scope_meta)];
    let mut pending = vec![(scope.to_path_buf(), copy.to_path_buf())];
    while let Some((from_dir, to_dir)) = pending.pop() {
        let listing = match fs::read_dir(&from_dir) {
            Ok(listing) => listing,
            Err(err) if from_dir == scope => {
                return Err(io_error("list the write scope", scope, err));
            }
            Err(err) => {
                skipped.push(Skipped {
                    path: from_dir.clone(),
                    reason: format!("cannot list this directory ({err}); it is empty in the copy"),
                });
                continue;
            }
        };
        for item in listing {
            let item = match item {
                Ok(item) => item,
                Err(err) => {
                    skipped.push(Skipped {
                        path: from_dir.clone(),
                        reason: format!("listing this directory stopped early: {err}"),
                    });
                    break;
                }
            };
            let from = item.path();
            let to = to_dir.join(item.file_name());
            let meta = match fs::symlink_metadata(&from) {
                Ok(meta) => meta,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => {
                    skipped.push(Skipped {
                        path: from,
                        reason: format!("cannot lstat: {err}"),
                    });
                    continue;
                }
            };
            let file_type = meta.file_type();
            if meta.dev() != scope_dev {
                skipped.push(Skipped {
                    path: from,
                    reason: "on another filesystem (a mount point inside the scope); not copied"
                        .to_owned(),
                });
            } else if file_type.is_dir() {
                fs::create_dir(&to)
                    .map_err(|err| io_error("create a directory in the review copy", &to, err))?;
                directories.push((to.clone(), meta));
                pending.push((from, to));
            } else if file_type.is_file() {
                copy_file(&from, &to, &meta, skipped)?;
            } else if file_type.is_symlink() {
                match fs::read_link(&from) {
                    Ok(target) => symlink(&target, &to)
                        .map_err(|err| io_error("create a symlink in the review copy", &to, err))?,
                    Err(err) => skipped.push(Skipped {
                        path: from,
                        reason: format!("cannot read the symlink: {err}"),
                    }),
                }
            } else {
                skipped.push(Skipped {
                    path: from,
                    reason: "a fifo, socket or device node; not copied".to_owned(),
                });
            }
        }
    }
    for (dir, meta) in directories.iter().rev() {
        if let Ok(mtime) = meta.modified() {
            set_mtime(dir, mtime)
                .map_err(|err| io_error("set the mtime of a copied directory", dir, err))?;
        }
        fs::set_permissions(dir, meta.permissions())
            .map_err(|err| io_error("set the permissions of a copied directory", dir, err))?;
    }
    Ok(())
}

fn copy_file(
    from: &Path,
    to: &Path,
    meta: &fs::Metadata,
    skipped: &mut Vec<Skipped>,
) -> Result<(), ReviewError> {
    if let Err(err) = fs::copy(from, to) {
        // A file the supervisor cannot read is left out (and listed); anything that went wrong
        // on the writing side is an error.
        let _ = fs::remove_file(to);
        if File::open(from).is_err() {
            skipped.push(Skipped {
                path: from.to_path_buf(),
                reason: format!("cannot read: {err}"),
            });
            return Ok(());
        }
        return Err(io_error("copy a file into the review copy", to, err));
    }
    if let Ok(mtime) = meta.modified() {
        set_mtime(to, mtime).map_err(|err| io_error("set the mtime of a copied file", to, err))?;
    }
    Ok(())
}

/// Sets the mtime of a file or directory we own, even one whose mode denies us reading it.
fn set_mtime(path: &Path, mtime: SystemTime) -> io::Result<()> {
    match File::open(path) {
        Ok(file) => file.set_modified(mtime),
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            let original = fs::symlink_metadata(path)?.permissions();
            fs::set_permissions(path, Permissions::from_mode(original.mode() | 0o500))?;
            let result = File::open(path).and_then(|file| file.set_modified(mtime));
            fs::set_permissions(path, original)?;
            result
        }
        Err(err) => Err(err),
    }
}

/// Removes `dir` and everything below it, first giving ourselves write and search permission on
/// every directory below it if a plain removal is refused (an agent may have made directories in
/// its copy read-only).
pub(super) fn remove_tree(dir: &Path) -> Result<(), ReviewError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let mut pending: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(meta) = fs::symlink_metadata(&next) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        let _ = fs::set_permissions(&next, Permissions::from_mode(meta.mode() | 0o700));
        if let Ok(listing) = fs::read_dir(&next) {
            pending.extend(listing.flatten().map(|item| item.path()));
        }
    }
    fs::remove_dir_all(dir).map_err(|err| io_error("remove the review copy", dir, err))
}
