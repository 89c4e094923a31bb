//! What the session does to the host tree around the agent: backing up protected paths and
//! putting them back, taking out what must not stay, and cleaning up its own scratch space.
//!
//! None of this follows a symlink: an agent can plant links (to FIFOs, devices, other files)
//! wherever it may write, and the supervisor must not read, block on or copy through them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::cgroup::Cgroups;

/// Copies `src` to `dst` without following symlinks: regular files by content, symlinks as
/// symlinks, directories recursively; FIFOs, sockets and devices are skipped (returned).
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<Vec<PathBuf>> {
    let mut skipped = Vec::new();
    let md = fs::symlink_metadata(src)?;
    let ft = md.file_type();
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent)?;
    }
    if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
    } else if ft.is_dir() {
        fs::create_dir_all(dst)?;
        fs::set_permissions(dst, md.permissions())?;
        for entry in fs::read_dir(src)? {
            let entry = entry?;
            skipped.extend(copy_tree(&entry.path(), &dst.join(entry.file_name()))?);
        }
    } else if ft.is_file() {
        // Opened without following a link and checked again on the descriptor: the path could
        // have been swapped for a FIFO or a link since the stat above.
        use std::os::unix::fs::OpenOptionsExt;
        let mut from = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(src)?;
        if !from.metadata()?.is_file() {
            skipped.push(src.to_path_buf());
            return Ok(skipped);
        }
        let mut to = fs::File::create(dst)?;
        io::copy(&mut from, &mut to)?;
        fs::set_permissions(dst, md.permissions())?;
    } else {
        skipped.push(src.to_path_buf());
    }
    Ok(skipped)
}

/// Removes `path` whatever it is, without following symlinks.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Moves `path` under `dir` (keeping its absolute path as the relative one there): a rename
/// where possible, else a copy that follows nothing and a removal. Returns where it went.
pub fn quarantine(path: &Path, dir: &Path) -> io::Result<PathBuf> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let to = dir.join(rel);
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    if fs::rename(path, &to).is_err() {
        copy_tree(path, &to)?;
        remove(path)?;
    }
    Ok(to)
}

/// Copies of the protected paths that existed in direct-write scopes when the session began.
#[derive(Debug, Default)]
pub struct Backups {
    dir: PathBuf,
    saved: Vec<PathBuf>,
}

impl Backups {
    /// Backs up every existing path of `protected` into `dir`.
    pub fn take(protected: &[PathBuf], dir: &Path) -> io::Result<Backups> {
        let mut saved = Vec::new();
        for p in protected {
            if fs::symlink_metadata(p).is_ok() {
                copy_tree(p, &dir.join(p.strip_prefix("/").unwrap_or(p)))?;
                saved.push(p.clone());
            }
        }
        Ok(Backups {
            dir: dir.to_path_buf(),
            saved,
        })
    }

    /// Whether `p` existed (and was saved) at the start.
    pub fn has(&self, p: &Path) -> bool {
        self.saved.iter().any(|s| s == p)
    }

    /// Puts `p` back as it was at the start.
    pub fn restore(&self, p: &Path) -> io::Result<()> {
        remove(p)?;
        copy_tree(&self.dir.join(p.strip_prefix("/").unwrap_or(p)), p).map(drop)
    }
}

/// Removes the session's scratch space and cgroups however the session ends.
#[derive(Debug)]
pub struct Cleanup {
    /// The session's run directory.
    pub run_dir: PathBuf,
    /// Its cgroups, once made.
    pub cgroups: Option<Cgroups>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(cg) = self.cgroups.take() {
            cg.remove();
        }
        // Everything but what must outlive the session (nothing, today) goes.
        let _ = remove(&self.run_dir);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn copies_follow_no_link_and_skip_fifos() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("hooks")).unwrap();
        fs::write(src.join("hooks/pre-commit"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        let fifo = src.join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let skipped = copy_tree(&src, &d.path().join("dst")).unwrap();
        assert_eq!(skipped, vec![fifo]);
        let dst = d.path().join("dst");
        assert_eq!(
            fs::read_to_string(dst.join("hooks/pre-commit")).unwrap(),
            "#!/bin/sh\n"
        );
        assert_eq!(
            fs::read_link(dst.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
    }

    #[test]
    fn backups_put_protected_paths_back() {
        let d = tempfile::tempdir().unwrap();
        let git = d.path().join("repo/.git");
        fs::create_dir_all(git.join("hooks")).unwrap();
        fs::write(git.join("config"), "[core]\n").unwrap();
        let protected = vec![git.join("config"), git.join("hooks"), git.join("info")];
        let b = Backups::take(&protected, &d.path().join("backup")).unwrap();
        assert!(b.has(&git.join("config")) && !b.has(&git.join("info")));
        fs::write(git.join("config"), "[core]\nfsmonitor = evil\n").unwrap();
        fs::write(git.join("hooks/post-checkout"), "evil").unwrap();
        b.restore(&git.join("config")).unwrap();
        b.restore(&git.join("hooks")).unwrap();
        assert_eq!(fs::read_to_string(git.join("config")).unwrap(), "[core]\n");
        assert!(!git.join("hooks/post-checkout").exists());
    }
}
