//! The authoritative write set of a session.
//!
//! At session start the supervisor takes a [`Snapshot`] of every write scope; at the end it takes
//! the after-snapshot with [`Snapshot::refresh`] and records every [`Change`] that [`diff`] finds in
//! the audit log as (op, path, size, sha256 before, sha256 after). [`digest`] names the whole set
//! in the `session.end` event. The observer (seccomp user notifications) sees individual writes as
//! they happen, but it is racy and may miss some; this module is what the ledger trusts.
//!
//! # What a snapshot records
//!
//! Each root is walked without following symlinks and without crossing into other filesystems: an
//! entry whose `st_dev` differs from its root's is recorded (kind, size, mode) with a note, but is
//! neither read nor descended into. For every entry the snapshot keeps its [`EntryKind`], size,
//! `st_mode`, (dev, ino), mtime and ctime in nanoseconds, the SHA-256 of the content of regular
//! files and the target of symlinks (whose "content" digest is the SHA-256 of the target's bytes,
//! as in git). A root that is a directory is not an entry itself, only what is below it; a root
//! that is a symlink to a directory is followed (the scope is the directory it names). A root that
//! is not a directory (a single-file scope) is recorded as one entry.
//!
//! Entries that cannot be read (permission denied, vanished, changed while being hashed) are
//! recorded with no digest and a [`note`](Entry::note) instead of failing the snapshot; a
//! directory that cannot be listed is marked [`listing_failed`](Entry::listing_failed), and
//! [`diff`] flags every change below it as unverified instead of reporting its children deleted.
//!
//! # Cost
//!
//! [`Snapshot::take`] does one `lstat` per entry, one `readlink` per symlink and reads every byte
//! of every regular file once (64 KiB buffer, streamed, never the whole file in memory), hashing
//! files in parallel on [`std::thread::available_parallelism`] threads: it is bound by disk
//! throughput (or SHA-256 at about 0.5–2 GB/s per core once the page cache is warm).
//! [`Snapshot::refresh`] does the same walk but re-reads only files whose (dev, ino, size, mtime,
//! ctime) changed, plus the few "racy" ones (see [`SnapshotOptions::racy_window`]), so the
//! after-snapshot of a large, mostly unchanged scope costs about one `lstat` per entry. Memory is
//! one [`Entry`] (about 150 bytes plus the path) per entry.
//!
//! # Limits
//!
//! Mount points are recognised by `st_dev`, so a bind mount of a directory of the *same*
//! filesystem inside a scope is not recognised and is walked like a directory (btrfs subvolumes,
//! on the other hand, have their own `st_dev` and are treated as mounts). Renames show up as a
//! delete plus a create, because a pair of snapshots cannot tell a rename from a copy followed by
//! a delete (the kernel does not say; the observer logs renames separately as they happen). Hard
//! links are recorded once per path.

use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::num::NonZeroUsize;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The prefix of every digest's text form (`sha256:<64 lower-case hex digits>`).
pub const DIGEST_PREFIX: &str = "sha256:";

/// The size of the read buffer each hashing thread streams files through.
pub const HASH_BUFFER_SIZE: usize = 64 * 1024;

/// The default [`SnapshotOptions::racy_window`]: two seconds, enough for filesystems that only
/// store whole seconds (ext4 with 128-byte inodes, some NFS servers).
pub const DEFAULT_RACY_WINDOW: Duration = Duration::from_secs(2);

/// How many times a file that changes while it is being hashed is re-read before it is recorded
/// with a note instead of a digest.
const HASH_ATTEMPTS: usize = 3;

/// The file type bits of `st_mode`.
const S_IFMT: u32 = 0o170_000;

/// The permission bits of `st_mode` (including set-uid, set-gid and sticky).
const PERMISSION_BITS: u32 = 0o7777;

/// The note on an entry that lives on another filesystem.
const MOUNT_NOTE: &str =
    "on another filesystem (a mount point inside the scope): recorded but not read or descended";

/// What kind of filesystem object an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
    /// Anything else: a fifo, socket or device node (never read).
    Other,
}

impl EntryKind {
    /// The lower-case name used in serialized changes: `file`, `dir`, `symlink` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Other => "other",
        }
    }

    /// The kind named by the file type bits of an `st_mode`.
    pub fn from_mode(mode: u32) -> EntryKind {
        match mode & S_IFMT {
            0o100_000 => EntryKind::File,
            0o040_000 => EntryKind::Dir,
            0o120_000 => EntryKind::Symlink,
            _ => EntryKind::Other,
        }
    }

    fn of(meta: &Metadata) -> EntryKind {
        let file_type = meta.file_type();
        if file_type.is_file() {
            EntryKind::File
        } else if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Other
        }
    }
}

/// One filesystem entry as a snapshot saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What the entry is.
    pub kind: EntryKind,
    /// `st_size`: the content length of a file, the target length of a symlink.
    pub size: u64,
    /// The whole `st_mode`: file type bits and permission bits.
    pub mode: u32,
    /// `st_dev` of the filesystem holding the entry.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// The modification time in nanoseconds since the Unix epoch (saturating).
    pub mtime_ns: i64,
    /// The status change time in nanoseconds since the Unix epoch (saturating).
    pub ctime_ns: i64,
    /// `sha256:<hex>` of a regular file's content or of a symlink's target bytes; `None` for
    /// directories and other kinds, and for entries that could not be read (see [`Entry::note`]).
    pub sha256: Option<String>,
    /// A symlink's target, as stored in the link.
    pub target: Option<PathBuf>,
    /// Why something about this entry could not be recorded (unreadable, on another filesystem,
    /// changed while being hashed, …).
    pub note: Option<String>,
    /// For a directory: it could not be listed (completely), so entries below it are unknown.
    pub listing_failed: bool,
}

impl Entry {
    fn from_metadata(meta: &Metadata) -> Entry {
        Entry {
            kind: EntryKind::of(meta),
            size: meta.size(),
            mode: meta.mode(),
            dev: meta.dev(),
            ino: meta.ino(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
            sha256: None,
            target: None,
            note: None,
            listing_failed: false,
        }
    }

    /// An entry that could not even be `lstat`ed: only its existence is known.
    fn unknown(note: String) -> Entry {
        Entry {
            kind: EntryKind::Other,
            size: 0,
            mode: 0,
            dev: 0,
            ino: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            sha256: None,
            target: None,
            note: Some(note),
            listing_failed: false,
        }
    }

    /// The identity that tells whether a file's content may have changed: see
    /// [`Snapshot::refresh`].
    fn stat_key(&self) -> (u64, u64, u64, u32, i64, i64) {
        (
            self.dev,
            self.ino,
            self.size,
            self.mode,
            self.mtime_ns,
            self.ctime_ns,
        )
    }
}

/// Tuning for [`Snapshot::take_with`]; [`Default`] is what [`Snapshot::take`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// A file whose ctime is less than this long before the snapshot finished is "racy": it may
    /// have been written again within the same timestamp tick (file times come from a coarse
    /// clock, one jiffy on local filesystems and up to a whole second on some others), so the
    /// next [`Snapshot::refresh`] re-hashes it even if its metadata looks unchanged. This is git's
    /// "racy clean" rule. `Duration::ZERO` trusts metadata completely.
    pub racy_window: Duration,
    /// How many threads hash files; `None` means [`std::thread::available_parallelism`].
    pub workers: Option<NonZeroUsize>,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            racy_window: DEFAULT_RACY_WINDOW,
            workers: None,
        }
    }
}

/// What taking a snapshot cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Entries recorded.
    pub entries: u64,
    /// Regular files whose content was read and hashed.
    pub files_hashed: u64,
    /// Bytes read while hashing.
    pub bytes_hashed: u64,
    /// Regular files whose digest was taken over from the previous snapshot without reading them
    /// ([`Snapshot::refresh`] only).
    pub hashes_reused: u64,
    /// Entries recorded with a note because they could not be read or listed.
    pub unreadable: u64,
}

/// Why a snapshot could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum WriteSetError {
    /// A write scope root does not exist.
    #[error(
        "write scope `{}` does not exist; create it before the session starts, or remove it from \
         the grant's write scopes",
        root.display()
    )]
    RootMissing {
        /// The root.
        root: PathBuf,
    },
    /// A write scope root could not be examined.
    #[error(
        "cannot examine write scope `{}`: {source}; the supervisor needs search permission on it \
         and every directory above it",
        root.display()
    )]
    RootUnreadable {
        /// The root.
        root: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A write scope root (a directory) could not be listed.
    #[error(
        "cannot list write scope `{}`: {source}; give the supervisor read and search permission \
         on it",
        root.display()
    )]
    RootUnlistable {
        /// The root.
        root: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A hashing thread stopped without reporting its results.
    #[error(
        "a file-hashing thread stopped unexpectedly while snapshotting `{}`; this is a bug in \
         qwarden, please report it",
        root.display()
    )]
    HashWorkerFailed {
        /// The first root of the snapshot.
        root: PathBuf,
    },
}

/// The state of a set of write scopes at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    roots: Vec<PathBuf>,
    entries: BTreeMap<PathBuf, Entry>,
    completed_ns: i64,
    options: SnapshotOptions,
    stats: SnapshotStats,
}

impl Snapshot {
    /// Snapshots `roots` (the before-snapshot), hashing every regular file, with the default
    /// [`SnapshotOptions`]. Relative roots are made absolute against the current directory.
    ///
    /// # Errors
    ///
    /// A root that does not exist, cannot be examined or (if it is a directory) cannot be listed.
    /// Entries below a root that cannot be read are recorded with a note instead.
    pub fn take(roots: &[PathBuf]) -> Result<Snapshot, WriteSetError> {
        Snapshot::take_with(roots, SnapshotOptions::default())
    }

    /// [`Snapshot::take`] with explicit options, which [`Snapshot::refresh`] carries over.
    ///
    /// # Errors
    ///
    /// As [`Snapshot::take`].
    pub fn take_with(
        roots: &[PathBuf],
        options: SnapshotOptions,
    ) -> Result<Snapshot, WriteSetError> {
        build(roots, None, options)
    }

    /// The after-snapshot: snapshots `roots` again, re-hashing only regular files whose
    /// (dev, ino, size, mode, mtime, ctime) differ from this snapshot's record of the same path,
    /// or that were racy when this snapshot was taken.
    ///
    /// # Errors
    ///
    /// As [`Snapshot::take`].
    pub fn refresh(&self, roots: &[PathBuf]) -> Result<Snapshot, WriteSetError> {
        build(roots, Some(self), self.options)
    }

    /// The roots, made absolute, in the order given.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Every entry, by absolute path.
    pub fn entries(&self) -> &BTreeMap<PathBuf, Entry> {
        &self.entries
    }

    /// The entry at `path`, if the snapshot has one.
    pub fn get(&self, path: &Path) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// What taking this snapshot cost.
    pub fn stats(&self) -> SnapshotStats {
        self.stats
    }

    /// The options this snapshot was taken with.
    pub fn options(&self) -> SnapshotOptions {
        self.options
    }

    /// When the snapshot finished, in nanoseconds since the Unix epoch (wall clock).
    pub fn completed_ns(&self) -> i64 {
        self.completed_ns
    }

    /// The digest recorded for `path` by `self`, if it can be trusted for `now` without reading
    /// the file again.
    fn reusable_digest(&self, path: &Path, now: &Entry) -> Option<String> {
        let before = self.entries.get(path)?;
        if before.kind != EntryKind::File || now.kind != EntryKind::File {
            return None;
        }
        // ctime is set by the kernel to the current time on every change to the inode — content
        // (write, truncate) and metadata (chmod, chown, link, rename, utimensat) alike — and user
        // space cannot set it (only by changing the system clock, which needs CAP_SYS_TIME). mtime
        // can be set back with utimensat, but that itself moves ctime. So a file whose
        // (dev, ino, size, mode, mtime, ctime) are all unchanged has not been written since it was
        // hashed, and its old digest is its current one: an agent cannot hide a write from the
        // after-snapshot by restoring the size and mtime.
        //
        // One exception: file times come from a coarse clock, so a write in the same clock tick
        // as our `stat` leaves ctime unchanged. A file whose ctime is within `racy_window` of the
        // end of the earlier snapshot may have been written in the same tick after we read it
        // ("racily clean", as git calls it), so it is hashed again.
        if before.stat_key() != now.stat_key() {
            return None;
        }
        let window = i64::try_from(self.options.racy_window.as_nanos()).unwrap_or(i64::MAX);
        if before.ctime_ns >= self.completed_ns.saturating_sub(window) {
            return None;
        }
        before.sha256.clone()
    }
}

/// Nanoseconds since the epoch from `st_*time` and `st_*time_nsec`, saturating.
fn nanos(seconds: i64, nanoseconds: i64) -> i64 {
    seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(nanoseconds)
}

fn now_ns() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(elapsed) => i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX),
        // A clock before 1970 makes every file look racy, which only costs re-hashing.
        Err(_) => 0,
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_of(bytes: &[u8]) -> String {
    format!("{DIGEST_PREFIX}{}", hex::encode(Sha256::digest(bytes)))
}

/// Walks `roots`, reusing digests from `previous` where [`Snapshot::reusable_digest`] allows.
fn build(
    roots: &[PathBuf],
    previous: Option<&Snapshot>,
    options: SnapshotOptions,
) -> Result<Snapshot, WriteSetError> {
    let mut absolute_roots = Vec::with_capacity(roots.len());
    let mut entries = BTreeMap::new();
    let mut to_hash = Vec::new();
    let mut stats = SnapshotStats::default();
    for root in roots {
        let root = std::path::absolute(root).map_err(|source| WriteSetError::RootUnreadable {
            root: root.clone(),
            source,
        })?;
        walk_root(&root, previous, &mut entries, &mut to_hash, &mut stats)?;
        absolute_roots.push(root);
    }

    let workers = options
        .workers
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    let first_root = absolute_roots.first().cloned().unwrap_or_default();
    let results = hash_files(&to_hash, workers)
        .ok_or(WriteSetError::HashWorkerFailed { root: first_root })?;
    for (path, result) in to_hash.iter().zip(results) {
        let Some(entry) = entries.get_mut(path) else {
            continue;
        };
        match result {
            Ok(hashed) => {
                stats.files_hashed += 1;
                stats.bytes_hashed += hashed.bytes;
                // Record the metadata of what was actually hashed, so that `refresh` compares
                // against the file whose digest we hold.
                let mut updated = Entry::from_metadata(&hashed.meta);
                updated.sha256 = Some(hashed.sha256);
                *entry = updated;
            }
            Err(note) => {
                stats.unreadable += 1;
                entry.note = Some(note);
            }
        }
    }
    stats.entries = u64::try_from(entries.len()).unwrap_or(u64::MAX);
    Ok(Snapshot {
        roots: absolute_roots,
        entries,
        completed_ns: now_ns(),
        options,
        stats,
    })
}

/// Records `root` and everything below it.
fn walk_root(
    root: &Path,
    previous: Option<&Snapshot>,
    entries: &mut BTreeMap<PathBuf, Entry>,
    to_hash: &mut Vec<PathBuf>,
    stats: &mut SnapshotStats,
) -> Result<(), WriteSetError> {
    let root_meta = match fs::metadata(root) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(WriteSetError::RootMissing {
                root: root.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(WriteSetError::RootUnreadable {
                root: root.to_path_buf(),
                source,
            });
        }
    };
    let root_dev = root_meta.dev();
    if !root_meta.is_dir() {
        // A single-file scope: the root itself is the one entry.
        let meta = fs::symlink_metadata(root).map_err(|source| WriteSetError::RootUnreadable {
            root: root.to_path_buf(),
            source,
        })?;
        record(
            root.to_path_buf(),
            &meta,
            root_dev,
            previous,
            entries,
            to_hash,
            stats,
        );
        return Ok(());
    }

    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(source) if dir == root => {
                return Err(WriteSetError::RootUnlistable {
                    root: root.to_path_buf(),
                    source,
                });
            }
            Err(err) => {
                mark_unlisted(entries, &dir, &err, stats);
                continue;
            }
        };
        for item in listing {
            let item = match item {
                Ok(item) => item,
                Err(err) => {
                    if dir == root {
                        return Err(WriteSetError::RootUnlistable {
                            root: root.to_path_buf(),
                            source: err,
                        });
                    }
                    mark_unlisted(entries, &dir, &err, stats);
                    break;
                }
            };
            let path = item.path();
            let meta = match fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                // Removed between the listing and the lstat: it is not there any more.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => {
                    stats.unreadable += 1;
                    entries.insert(path, Entry::unknown(format!("cannot lstat: {err}")));
                    continue;
                }
            };
            if let Some(subdir) = record(path, &meta, root_dev, previous, entries, to_hash, stats) {
                pending.push(subdir);
            }
        }
    }
    Ok(())
}

fn mark_unlisted(
    entries: &mut BTreeMap<PathBuf, Entry>,
    dir: &Path,
    err: &io::Error,
    stats: &mut SnapshotStats,
) {
    stats.unreadable += 1;
    if let Some(entry) = entries.get_mut(dir) {
        entry.listing_failed = true;
        entry.note = Some(format!(
            "cannot list this directory: {err}; entries below it are unknown"
        ));
    }
}

/// Records one entry; returns its path if it is a directory to descend into.
fn record(
    path: PathBuf,
    meta: &Metadata,
    root_dev: u64,
    previous: Option<&Snapshot>,
    entries: &mut BTreeMap<PathBuf, Entry>,
    to_hash: &mut Vec<PathBuf>,
    stats: &mut SnapshotStats,
) -> Option<PathBuf> {
    if entries.contains_key(&path) {
        // Overlapping roots: this part of the tree has been walked already.
        return None;
    }
    let mut entry = Entry::from_metadata(meta);
    let mut descend = false;
    if entry.dev != root_dev {
        entry.note = Some(MOUNT_NOTE.to_owned());
    } else {
        match entry.kind {
            EntryKind::Dir => descend = true,
            EntryKind::File => {
                match previous.and_then(|previous| previous.reusable_digest(&path, &entry)) {
                    Some(digest) => {
                        stats.hashes_reused += 1;
                        entry.sha256 = Some(digest);
                    }
                    None => to_hash.push(path.clone()),
                }
            }
            EntryKind::Symlink => match fs::read_link(&path) {
                Ok(target) => {
                    entry.sha256 = Some(sha256_of(target.as_os_str().as_bytes()));
                    entry.target = Some(target);
                }
                Err(err) => {
                    stats.unreadable += 1;
                    entry.note = Some(format!("cannot read the symlink: {err}"));
                }
            },
            EntryKind::Other => {}
        }
    }
    let subdir = descend.then(|| path.clone());
    entries.insert(path, entry);
    subdir
}

/// A file's digest and the metadata of the file that was hashed.
struct Hashed {
    sha256: String,
    meta: Metadata,
    bytes: u64,
}

type HashResult = Result<Hashed, String>;

/// Hashes `paths` on up to `workers` threads; results are in the order of `paths`. `None` if a
/// thread stopped without reporting (which would be a bug: nothing in a worker panics).
fn hash_files(paths: &[PathBuf], workers: usize) -> Option<Vec<HashResult>> {
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut buffer = vec![0_u8; HASH_BUFFER_SIZE];
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = paths.get(index) else {
                break;
            };
            done.push((index, hash_file(path, &mut buffer)));
        }
        done
    };
    let threads = workers.clamp(1, paths.len().max(1));
    let mut slots: Vec<Option<HashResult>> =
        std::iter::repeat_with(|| None).take(paths.len()).collect();
    let mut complete = true;
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        // The calling thread is one of the workers; a thread that cannot be spawned just means
        // less parallelism.
        for _ in 1..threads {
            match std::thread::Builder::new()
                .name("qwarden-hash".to_owned())
                .spawn_scoped(scope, worker)
            {
                Ok(handle) => handles.push(handle),
                Err(_) => break,
            }
        }
        let mut all = worker();
        for handle in handles {
            match handle.join() {
                Ok(done) => all.extend(done),
                Err(_) => complete = false,
            }
        }
        for (index, result) in all {
            if let Some(slot) = slots.get_mut(index) {
                *slot = Some(result);
            }
        }
    });
    if !complete {
        return None;
    }
    slots.into_iter().collect()
}

/// Streams one regular file through SHA-256 without following a symlink or blocking on a fifo
/// that replaced it, re-reading it if it changed while being read.
fn hash_file(path: &Path, buffer: &mut [u8]) -> HashResult {
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|err| format!("cannot open for hashing: {err}"))?;
    for _ in 0..HASH_ATTEMPTS {
        let before = file
            .metadata()
            .map_err(|err| format!("cannot fstat: {err}"))?;
        if !before.is_file() {
            return Err("replaced by something that is not a regular file".to_owned());
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|err| format!("cannot seek: {err}"))?;
        let (sha256, bytes) = stream_digest(&mut file, buffer)?;
        let after = file
            .metadata()
            .map_err(|err| format!("cannot fstat: {err}"))?;
        let key = |meta: &Metadata| {
            (
                meta.size(),
                meta.mtime(),
                meta.mtime_nsec(),
                meta.ctime(),
                meta.ctime_nsec(),
            )
        };
        if key(&before) == key(&after) {
            return Ok(Hashed {
                sha256,
                meta: before,
                bytes,
            });
        }
    }
    Err(format!(
        "changed every time it was read ({HASH_ATTEMPTS} attempts); its content is unknown"
    ))
}

fn stream_digest(file: &mut File, buffer: &mut [u8]) -> Result<(String, u64), String> {
    let mut hasher = Sha256::new();
    let mut total = 0_u64;
    loop {
        match file.read(buffer) {
            Ok(0) => break,
            Ok(read) => {
                if let Some(chunk) = buffer.get(..read) {
                    hasher.update(chunk);
                }
                total = total.saturating_add(u64::try_from(read).unwrap_or(u64::MAX));
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(format!("cannot read: {err}")),
        }
    }
    Ok((
        format!("{DIGEST_PREFIX}{}", hex::encode(hasher.finalize())),
        total,
    ))
}

/// What happened to a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// The path did not exist before and does now.
    Create,
    /// The path existed before and after, but its content, type, symlink target or permission
    /// bits changed.
    Modify,
    /// The path existed before and does not now.
    Delete,
}

impl Op {
    /// The lower-case name used in serialized changes: `create`, `modify` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Modify => "modify",
            Op::Delete => "delete",
        }
    }
}

/// One entry of the write set.
///
/// A rename appears as a [`Op::Delete`] of the old path and a [`Op::Create`] of the new one: two
/// snapshots cannot tell a rename from a copy and a delete, and the kernel does not say (the
/// observer logs renames separately as they happen).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// What happened.
    pub op: Op,
    /// The absolute path.
    pub path: PathBuf,
    /// The kind after the change (before it, for a delete).
    pub kind: EntryKind,
    /// The size after the change, for files, symlinks and other kinds; `None` for a delete and
    /// for directories.
    pub size: Option<u64>,
    /// `sha256:<hex>` of the content (file) or target (symlink) before; `None` for a create, a
    /// directory, another kind or an unreadable file.
    pub sha256_before: Option<String>,
    /// `sha256:<hex>` of the content (file) or target (symlink) after; `None` for a delete, a
    /// directory, another kind or an unreadable file.
    pub sha256_after: Option<String>,
    /// The whole `st_mode` before (`None` for a create).
    pub mode_before: Option<u32>,
    /// The whole `st_mode` after (`None` for a delete).
    pub mode_after: Option<u32>,
    /// Set when the change could not be fully determined (an unreadable file, a directory that
    /// could not be listed): such a change is reported but unverified. Not part of [`digest`].
    pub note: Option<String>,
}

impl Change {
    /// The canonical serialization of this change, one line of the input to [`digest`]: an
    /// RFC 8785 (JCS) JSON object without the note, i.e. members in this (sorted) order, no
    /// whitespace, `null` for absent values:
    ///
    /// ```text
    /// {"kind":"file","mode_after":"100644","mode_before":null,"op":"create","path":"/s/a","sha256_after":"sha256:…","sha256_before":null,"size":5}
    /// ```
    ///
    /// `kind` is `file`/`dir`/`symlink`/`other`; `op` is `create`/`modify`/`delete`; modes are the
    /// whole `st_mode` in octal with at least six digits (git's spelling: `100644`, `100755`,
    /// `120777`, `040755`); `size` is a JSON integer. A path that is valid UTF-8 is the member
    /// `path`, escaped as JCS prescribes (`\"`, `\\`, `\b\f\n\r\t`, other control characters as
    /// `\u00xx`, everything else verbatim); a path that is not valid UTF-8 is the member
    /// `path_hex` instead, holding the lower-case hex of its bytes.
    pub fn canonical_json(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("{\"kind\":");
        push_json_string(&mut out, self.kind.as_str());
        out.push_str(",\"mode_after\":");
        push_mode(&mut out, self.mode_after);
        out.push_str(",\"mode_before\":");
        push_mode(&mut out, self.mode_before);
        out.push_str(",\"op\":");
        push_json_string(&mut out, self.op.as_str());
        push_path(&mut out, &self.path);
        out.push_str(",\"sha256_after\":");
        push_optional_string(&mut out, self.sha256_after.as_deref());
        out.push_str(",\"sha256_before\":");
        push_optional_string(&mut out, self.sha256_before.as_deref());
        out.push_str(",\"size\":");
        match self.size {
            Some(size) => {
                let _ = write!(out, "{size}");
            }
            None => out.push_str("null"),
        }
        out.push('}');
        out
    }

    /// The kind before the change, from [`Change::mode_before`] (`None` for a create).
    pub fn kind_before(&self) -> Option<EntryKind> {
        self.mode_before.map(EntryKind::from_mode)
    }
}

impl serde::Serialize for Change {
    /// The members of [`Change::canonical_json`] plus `note`, in the same sorted order.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mode = |mode: Option<u32>| mode.map(|mode| format!("{mode:06o}"));
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("kind", self.kind.as_str())?;
        map.serialize_entry("mode_after", &mode(self.mode_after))?;
        map.serialize_entry("mode_before", &mode(self.mode_before))?;
        map.serialize_entry("note", &self.note)?;
        map.serialize_entry("op", self.op.as_str())?;
        match self.path.to_str() {
            Some(path) => map.serialize_entry("path", path)?,
            None => {
                map.serialize_entry("path_hex", &hex::encode(self.path.as_os_str().as_bytes()))?;
            }
        }
        map.serialize_entry("sha256_after", &self.sha256_after)?;
        map.serialize_entry("sha256_before", &self.sha256_before)?;
        map.serialize_entry("size", &self.size)?;
        map.end()
    }
}

fn push_mode(out: &mut String, mode: Option<u32>) {
    match mode {
        Some(mode) => {
            let _ = write!(out, "\"{mode:06o}\"");
        }
        None => out.push_str("null"),
    }
}

fn push_optional_string(out: &mut String, value: Option<&str>) {
    match value {
        Some(value) => push_json_string(out, value),
        None => out.push_str("null"),
    }
}

fn push_path(out: &mut String, path: &Path) {
    match path.to_str() {
        Some(path) => {
            out.push_str(",\"path\":");
            push_json_string(out, path);
        }
        None => {
            out.push_str(",\"path_hex\":");
            push_json_string(out, &hex::encode(path.as_os_str().as_bytes()));
        }
    }
}

/// A JSON string as RFC 8785 spells it.
fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    for ch in value.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ch if u32::from(ch) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(ch));
            }
            ch => out.push(ch),
        }
    }
    out.push('"');
}

/// The name of a write set for the `session.end` event: `sha256:<hex>` of the concatenation of
/// [`Change::canonical_json`] of every change, each followed by a line feed (`\n`), in ascending
/// order of the raw bytes of the path (ties, which [`diff`] never produces, by the line itself).
/// The order of `changes` does not matter; the empty set's digest is the SHA-256 of nothing.
pub fn digest(changes: &[Change]) -> String {
    let mut lines: Vec<(&[u8], String)> = changes
        .iter()
        .map(|change| (change.path.as_os_str().as_bytes(), change.canonical_json()))
        .collect();
    lines.sort();
    let mut hasher = Sha256::new();
    for (_, line) in &lines {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    format!("{DIGEST_PREFIX}{}", hex::encode(hasher.finalize()))
}

/// Every change from `before` to `after`, sorted by path.
///
/// A file is modified when its content digest, type or permission bits changed (if either
/// snapshot could not read it, when any of its metadata changed; the change then carries a note);
/// a symlink when its target changed; a directory or other entry only when its permission bits
/// changed: a directory whose mtime moved because entries were added or removed is not itself a
/// change (the entries are), and neither is a file whose mtime alone moved. Created and deleted
/// directories are reported (kind [`EntryKind::Dir`], no digests).
///
/// Paths that appear or disappear below a directory that one of the snapshots could not list are
/// reported with a note, since their presence was not observed.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Vec<Change> {
    diff_entries(&before.entries, &after.entries)
}

fn diff_entries(
    before: &BTreeMap<PathBuf, Entry>,
    after: &BTreeMap<PathBuf, Entry>,
) -> Vec<Change> {
    let unlisted = |entries: &BTreeMap<PathBuf, Entry>| -> Vec<PathBuf> {
        entries
            .iter()
            .filter(|(_, entry)| entry.listing_failed)
            .map(|(path, _)| path.clone())
            .collect()
    };
    let unlisted_before = unlisted(before);
    let unlisted_after = unlisted(after);
    let below = |path: &Path, dirs: &[PathBuf]| -> Option<String> {
        dirs.iter()
            .find(|dir| path != dir.as_path() && path.starts_with(dir))
            .map(|dir| {
                format!(
                    "not verified: `{}` could not be listed in one of the snapshots",
                    dir.display()
                )
            })
    };

    let mut changes = Vec::new();
    for (path, old) in before {
        match after.get(path) {
            None => {
                let note = below(path, &unlisted_after).or_else(|| old.note.clone());
                changes.push(Change {
                    op: Op::Delete,
                    path: path.clone(),
                    kind: old.kind,
                    size: None,
                    sha256_before: old.sha256.clone(),
                    sha256_after: None,
                    mode_before: Some(old.mode),
                    mode_after: None,
                    note,
                });
            }
            Some(new) => {
                if let Some(note) = modified(old, new) {
                    changes.push(Change {
                        op: Op::Modify,
                        path: path.clone(),
                        kind: new.kind,
                        size: change_size(new),
                        sha256_before: old.sha256.clone(),
                        sha256_after: new.sha256.clone(),
                        mode_before: Some(old.mode),
                        mode_after: Some(new.mode),
                        note,
                    });
                }
            }
        }
    }
    for (path, new) in after {
        if before.contains_key(path) {
            continue;
        }
        let note = below(path, &unlisted_before).or_else(|| new.note.clone());
        changes.push(Change {
            op: Op::Create,
            path: path.clone(),
            kind: new.kind,
            size: change_size(new),
            sha256_before: None,
            sha256_after: new.sha256.clone(),
            mode_before: None,
            mode_after: Some(new.mode),
            note,
        });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    changes
}

fn change_size(entry: &Entry) -> Option<u64> {
    (entry.kind != EntryKind::Dir).then_some(entry.size)
}

/// `None` if `old` and `new` are the same as far as the write set is concerned; otherwise
/// `Some(note)`, where the note says why the change is unverified (if it is).
fn modified(old: &Entry, new: &Entry) -> Option<Option<String>> {
    let note = || {
        new.note
            .clone()
            .or_else(|| old.note.clone())
            .map(|note| format!("content not compared: {note}"))
    };
    if old.kind != new.kind || old.mode & S_IFMT != new.mode & S_IFMT {
        return Some(new.note.clone().or_else(|| old.note.clone()));
    }
    let permissions_changed = old.mode & PERMISSION_BITS != new.mode & PERMISSION_BITS;
    match new.kind {
        EntryKind::File | EntryKind::Symlink => {
            let content_changed = match (&old.sha256, &new.sha256) {
                (Some(old_digest), Some(new_digest)) => old_digest != new_digest,
                // One side could not be read: only the metadata can say whether it changed.
                _ => {
                    if old.stat_key() != new.stat_key() {
                        return Some(note());
                    }
                    false
                }
            };
            let permissions_changed = permissions_changed && new.kind == EntryKind::File;
            (content_changed || permissions_changed).then_some(None)
        }
        EntryKind::Dir | EntryKind::Other => permissions_changed.then_some(None),
    }
}
