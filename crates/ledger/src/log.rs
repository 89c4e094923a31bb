//! The log on disk: appending with group commit, crash safety and cross-process locking.
//!
//! Layout of a ledger directory (shareable: it holds no secret):
//!
//! ```text
//! checkpoint            latest signed checkpoint (C2SP tlog-checkpoint, Ed25519 signed note)
//! checkpoints/<size>    checkpoints kept for consistency checks and witnessing
//! tile/<L>/<N>[.p/<W>]  hash tiles (C2SP tlog-tiles)
//! tile/entries/<N>[.p/<W>]  entry bundles
//! log.vkey              the verification key (signed-note vkey format)
//! lock                  held while one process appends
//! ```
//!
//! An append is durable when it returns: its entries, the tiles that cover them and a checkpoint
//! naming the new size have been written to temporary files, fsynced and renamed into place. The
//! checkpoint is written last, so a crash at any point leaves the previous checkpoint, whose tiles
//! are all intact, as the log's state; files written past it are rewritten by the next append.
//!
//! Appends from many threads are grouped: whoever finds no commit in progress commits everything
//! queued so far in one batch, so a burst of events costs one round of fsyncs. Appends from other
//! processes are serialised by an exclusive lock on `lock`, and every batch starts by re-reading
//! the checkpoint, so two processes never write over each other.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::checkpoint::{self, Checkpoint};
use crate::merkle::{self, CompactRange, Hash};
use crate::note::{NoteSigner, NoteVerifier};
use crate::tiles::{self, TileHashes, TileId, TileReader};

/// Largest entry a tlog-tiles bundle can hold.
pub const MAX_ENTRY_BYTES: usize = 65535;

const WIDTH: usize = 256;

/// Errors from reading or appending to a ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A file could not be read or written.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An entry is larger than a bundle can hold.
    #[error(
        "an audit entry of {size} bytes is larger than the {MAX_ENTRY_BYTES}-byte limit; large payloads belong in the content-addressed store"
    )]
    EntryTooLarge {
        /// Its size.
        size: usize,
    },
    /// The ledger's stored state does not check out; appending would build on a tampered log.
    #[error(
        "the ledger at `{dir}` is damaged or tampered: {reason}\n  hint: run `qwarden audit verify` to find the first bad entry; nothing was appended"
    )]
    Damaged {
        /// The ledger directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A batch this append was part of failed in another thread.
    #[error("the batch this event was committed in failed: {0}")]
    BatchFailed(String),
}

fn io<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> LedgerError + 'p {
    move |source| LedgerError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// When extra checkpoints are kept in `checkpoints/` (the latest one is always rewritten).
#[derive(Debug, Clone, Copy)]
pub struct CheckpointPolicy {
    /// Keep one at least every this many entries.
    pub every_entries: u64,
    /// Keep one at least this often while appends happen.
    pub every: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy {
            every_entries: 10_000,
            every: Duration::from_secs(60),
        }
    }
}

/// Reads tiles and bundles from a ledger directory.
#[derive(Debug, Clone)]
pub struct DirTiles {
    root: PathBuf,
}

impl DirTiles {
    /// Tiles under `root`.
    pub fn new(root: &Path) -> DirTiles {
        DirTiles {
            root: root.to_path_buf(),
        }
    }
}

impl TileReader for DirTiles {
    fn read(&self, id: &TileId) -> Result<Vec<u8>, tiles::TileError> {
        let path = self.root.join(id.path());
        match crate::durable::read_bounded(&path, crate::durable::MAX_LEDGER_FILE) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(tiles::TileError::missing(id))
            }
            Err(e) => Err(tiles::TileError::read(id, e)),
        }
    }
}

/// What the committer keeps between batches: the tree's right edge and the partial tiles.
struct Edge {
    range: CompactRange,
    /// Entries of the partial entry bundle.
    bundle: Vec<Vec<u8>>,
    /// Hashes of the partial tile at each tile level.
    tiles: Vec<Vec<Hash>>,
    /// The checkpoint text this state corresponds to (to notice other writers).
    checkpoint: Vec<u8>,
    /// Size and time of the newest kept checkpoint (its file time, so short-lived writers such as
    /// one CLI call each still keep checkpoints on schedule).
    last_kept: (u64, SystemTime),
}

struct Queue {
    next_ticket: u64,
    pending: Vec<(u64, Vec<u8>)>,
    done: HashMap<u64, Result<u64, String>>,
    committing: bool,
}

/// An open ledger that can be appended to from many threads.
pub struct Ledger {
    root: PathBuf,
    origin: String,
    signer: NoteSigner,
    verifier: NoteVerifier,
    policy: CheckpointPolicy,
    queue: Mutex<Queue>,
    wake: Condvar,
    edge: Mutex<Option<Edge>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("root", &self.root)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Marks a commit in progress; dropping it (also when the commit panics) lets the next appender
/// commit, and fails the tickets of a batch that never finished instead of leaving them waiting.
struct Committing<'a> {
    ledger: &'a Ledger,
    tickets: Vec<u64>,
}

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        let mut q = lock(&self.ledger.queue);
        q.committing = false;
        for t in &self.tickets {
            q.done
                .entry(*t)
                .or_insert_with(|| Err("the commit stopped with an internal error".into()));
        }
        self.ledger.wake.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The queue is plain data that a panicking appender cannot leave half-updated.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The committer's state; if a commit panicked it may hold entries that never became durable, so
/// it is dropped and reloaded from the checkpoint on disk.
fn lock_edge(m: &Mutex<Option<Edge>>) -> MutexGuard<'_, Option<Edge>> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => {
            let mut g = poisoned.into_inner();
            *g = None;
            m.clear_poison();
            g
        }
    }
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `root`, signing checkpoints with `signer`, whose
    /// name is the log's origin.
    pub fn open(
        root: &Path,
        signer: NoteSigner,
        policy: CheckpointPolicy,
    ) -> Result<Ledger, LedgerError> {
        fs::create_dir_all(root.join("checkpoints")).map_err(io("create", root))?;
        let verifier = signer.verifier();
        let vkey_path = root.join("log.vkey");
        let vkey = format!("{}\n", verifier.to_vkey());
        match fs::read_to_string(&vkey_path) {
            Ok(existing) if existing.trim() == vkey.trim() => {}
            Ok(_) => {
                return Err(LedgerError::Damaged {
                    dir: root.to_path_buf(),
                    reason: "`log.vkey` names another key than the one this ledger is opened with"
                        .into(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                atomic_write(&vkey_path, vkey.as_bytes())?
            }
            Err(e) => return Err(io("read", &vkey_path)(e)),
        }
        let ledger = Ledger {
            root: root.to_path_buf(),
            origin: signer.name().to_owned(),
            signer,
            verifier,
            policy,
            queue: Mutex::new(Queue {
                next_ticket: 0,
                pending: Vec::new(),
                done: HashMap::new(),
                committing: false,
            }),
            wake: Condvar::new(),
            edge: Mutex::new(None),
        };
        // Fail early on a damaged ledger rather than at the first append.
        let _guard = ledger.lock_file()?;
        let edge = ledger.load_edge()?;
        // A new ledger starts with a signed checkpoint of size 0, so it verifies before its first entry.
        let latest = ledger.root.join("checkpoint");
        if !latest.exists() {
            atomic_write(&latest, &edge.checkpoint)?;
            sync_dir(&ledger.root)?;
        }
        *lock_edge(&ledger.edge) = Some(edge);
        Ok(ledger)
    }

    /// The log's origin (its checkpoints' first line and its key's name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The log's verification key.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The ledger directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Appends one entry and returns its index once it is durable.
    pub fn append(&self, entry: Vec<u8>) -> Result<u64, LedgerError> {
        if entry.len() > MAX_ENTRY_BYTES {
            return Err(LedgerError::EntryTooLarge { size: entry.len() });
        }
        let mut q = lock(&self.queue);
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.pending.push((ticket, entry));
        loop {
            if let Some(result) = q.done.remove(&ticket) {
                return result.map_err(LedgerError::BatchFailed);
            }
            if !q.committing {
                q.committing = true;
                let batch = std::mem::take(&mut q.pending);
                drop(q);
                let guard = Committing {
                    ledger: self,
                    tickets: batch.iter().map(|(t, _)| *t).collect(),
                };
                let result = self.commit(batch.iter().map(|(_, e)| e.as_slice()));
                {
                    let mut q = lock(&self.queue);
                    for (offset, (t, _)) in batch.iter().enumerate() {
                        let r = match &result {
                            Ok(first) => Ok(first + offset as u64),
                            Err(e) => Err(e.to_string()),
                        };
                        q.done.insert(*t, r);
                    }
                }
                drop(guard);
                q = lock(&self.queue);
                let mine = q.done.remove(&ticket);
                return match (result, mine) {
                    // The committer reports its own error as it is, not as a string.
                    (Err(e), _) => Err(e),
                    (Ok(_), Some(r)) => r.map_err(LedgerError::BatchFailed),
                    (Ok(_), None) => Err(LedgerError::BatchFailed(
                        "internal: the result of this append was lost".into(),
                    )),
                };
            }
            q = self
                .wake
                .wait(q)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Appends `entries` as one batch and returns the index of the first once they are durable.
    pub fn append_all(&self, entries: &[Vec<u8>]) -> Result<u64, LedgerError> {
        if let Some(e) = entries.iter().find(|e| e.len() > MAX_ENTRY_BYTES) {
            return Err(LedgerError::EntryTooLarge { size: e.len() });
        }
        // Wait for any group commit in progress so batches stay whole and ordered.
        let mut q = lock(&self.queue);
        while q.committing {
            q = self
                .wake
                .wait(q)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        q.committing = true;
        drop(q);
        let _guard = Committing {
            ledger: self,
            tickets: Vec::new(),
        };
        self.commit(entries.iter().map(Vec::as_slice))
    }

    /// Writes a checkpoint into `checkpoints/` now (at the end of a session), and returns it.
    pub fn keep_checkpoint(&self) -> Result<Checkpoint, LedgerError> {
        let _file = self.lock_file()?;
        let mut edge_guard = lock_edge(&self.edge);
        let edge = self.current_edge(&mut edge_guard)?;
        let text = edge.checkpoint.clone();
        let size = edge.range.size();
        if size > 0 {
            let path = self.root.join("checkpoints").join(size.to_string());
            // A kept checkpoint may have gained witness cosignatures since it was written; the same
            // checkpoint again must not drop them.
            if let Some(existing) = read_optional(&path)?
                && same_note_text(&existing, &text)
            {
                return Ok(Checkpoint {
                    origin: self.origin.clone(),
                    size,
                    root: edge.range.root(),
                    extensions: Vec::new(),
                });
            }
            atomic_write(&path, &text)?;
            sync_dir(&self.root.join("checkpoints"))?;
            edge.last_kept = (size, SystemTime::now());
        }
        Ok(Checkpoint {
            origin: self.origin.clone(),
            size,
            root: edge.range.root(),
            extensions: Vec::new(),
        })
    }

    fn lock_file(&self) -> Result<File, LedgerError> {
        let path = self.root.join("lock");
        // A FIFO or a symlink planted here would hang every writer or lock something else.
        if let Ok(meta) = fs::symlink_metadata(&path)
            && !meta.file_type().is_file()
        {
            return Err(self.damaged("`lock` is not a regular file"));
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("open", &path))?;
        file.lock().map_err(io("lock", &path))?;
        Ok(file)
    }

    /// The edge matching the checkpoint on disk, reloading it if another process appended.
    fn current_edge<'a>(
        &self,
        guard: &'a mut MutexGuard<'_, Option<Edge>>,
    ) -> Result<&'a mut Edge, LedgerError> {
        let on_disk = read_optional(&self.root.join("checkpoint"))?.unwrap_or_default();
        let stale = guard.as_ref().is_none_or(|e| e.checkpoint != on_disk);
        if stale {
            **guard = Some(self.load_edge()?);
        }
        guard.as_mut().ok_or_else(|| LedgerError::Damaged {
            dir: self.root.clone(),
            reason: "internal: no state".into(),
        })
    }

    fn damaged(&self, reason: impl Into<String>) -> LedgerError {
        LedgerError::Damaged {
            dir: self.root.clone(),
            reason: reason.into(),
        }
    }

    /// Reads the latest checkpoint and the right edge of the tree it names.
    fn load_edge(&self) -> Result<Edge, LedgerError> {
        let cp_path = self.root.join("checkpoint");
        let Some(text) = read_optional(&cp_path)? else {
            // Kept checkpoints without a latest one: it was deleted. Starting an empty log here
            // would overwrite the entries those checkpoints sign.
            let (kept, _) =
                latest_kept(&self.root.join("checkpoints")).unwrap_or((0, SystemTime::UNIX_EPOCH));
            if kept > 0 {
                return Err(self.damaged(format!(
                    "`checkpoint` is missing but `checkpoints/{kept}` signs {kept} entries"
                )));
            }
            let empty = Checkpoint {
                origin: self.origin.clone(),
                size: 0,
                root: merkle::empty_root(),
                extensions: Vec::new(),
            };
            let signed =
                checkpoint::sign(&empty, &self.signer).map_err(|e| self.damaged(e.to_string()))?;
            return Ok(Edge {
                range: CompactRange::new(),
                bundle: Vec::new(),
                tiles: Vec::new(),
                checkpoint: signed.into_bytes(),
                last_kept: last_kept(&self.root),
            });
        };
        let (cp, _) = checkpoint::open(&text, &self.verifier)
            .map_err(|e| self.damaged(format!("the latest checkpoint does not verify: {e}")))?;
        let size = cp.size;
        // A kept checkpoint beyond the latest means the log was rolled back; appending would
        // overwrite the evidence.
        // (Only kept checkpoints the log's key signed count: file names are not signed, and junk
        // is for `verify` to report.)
        if let Some(kept) = self.signed_kept_beyond(size) {
            return Err(self.damaged(format!(
                "`checkpoints/{kept}` signs {kept} entries but the latest checkpoint only {size}: the log was rolled back"
            )));
        }
        let reader = DirTiles::new(&self.root);
        let hashes = TileHashes::new(reader.clone(), size);
        let range = CompactRange::from_source(&hashes, size)
            .map_err(|e| self.damaged(format!("cannot read the tree's right edge: {e}")))?;
        if range.root() != cp.root {
            return Err(self.damaged(format!(
                "the tiles do not add up to the root of the latest checkpoint (size {size})"
            )));
        }
        let bundle = match size % WIDTH as u64 {
            0 => Vec::new(),
            w => {
                let id = TileId {
                    level: 0,
                    index: size / WIDTH as u64,
                    width: w as u16,
                };
                let path = self.root.join(id.entries_path());
                let bytes =
                    match crate::durable::read_bounded(&path, crate::durable::MAX_LEDGER_FILE) {
                        Ok(bytes) => bytes,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            return Err(self.damaged(format!(
                                "the entry bundle `{}` is missing",
                                id.entries_path()
                            )));
                        }
                        Err(e) => return Err(io("read", &path)(e)),
                    };
                tiles::decode_bundle(&bytes, w as usize)
                    .map_err(|e| self.damaged(e.to_string()))?
                    .into_iter()
                    .map(<[u8]>::to_vec)
                    .collect()
            }
        };
        let mut tile_buffers = Vec::new();
        let mut level = 0u8;
        loop {
            let count = size.checked_shr(8 * u32::from(level)).unwrap_or(0);
            if count == 0 {
                break;
            }
            let w = (count % WIDTH as u64) as u16;
            let hashes_here = if w == 0 {
                Vec::new()
            } else {
                let id = TileId {
                    level,
                    index: count / WIDTH as u64,
                    width: w,
                };
                let bytes = reader.read(&id).map_err(|e| self.damaged(e.to_string()))?;
                tiles::decode_tile(&bytes, usize::from(w))
                    .map_err(|e| self.damaged(e.to_string()))?
            };
            tile_buffers.push(hashes_here);
            level += 1;
        }
        // The partial bundle is carried into the next one written: it must hold the entries the
        // signed tiles commit to, or appending would copy a tampered entry forward.
        if let Some(tile) = tile_buffers.first()
            && !bundle
                .iter()
                .map(|e| merkle::leaf_hash(e))
                .eq(tile.iter().copied())
        {
            return Err(self.damaged(format!(
                "the entries of the partial bundle at size {size} do not match their hash tile"
            )));
        }
        let last_kept = last_kept(&self.root);
        Ok(Edge {
            range,
            bundle,
            tiles: tile_buffers,
            checkpoint: text,
            last_kept,
        })
    }

    /// The size of a kept checkpoint larger than `size` that the log's key signed, if any.
    fn signed_kept_beyond(&self, size: u64) -> Option<u64> {
        fs::read_dir(self.root.join("checkpoints"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Some((e.file_name().to_str()?.parse::<u64>().ok()?, e.path())))
            .filter(|(kept, _)| *kept > size)
            .find(|(kept, path)| {
                crate::durable::read_bounded(path, crate::durable::MAX_LEDGER_FILE)
                    .ok()
                    .and_then(|b| checkpoint::open(&b, &self.verifier).ok())
                    .is_some_and(|(cp, _)| cp.size == *kept)
            })
            .map(|(kept, _)| kept)
    }

    /// Appends a batch under the file lock; returns the first index.
    fn commit<'e>(&self, entries: impl Iterator<Item = &'e [u8]>) -> Result<u64, LedgerError> {
        let _file = self.lock_file()?;
        let mut guard = lock_edge(&self.edge);
        let result = self.commit_locked(&mut guard, entries);
        if result.is_err() {
            // Whatever was half-written past the checkpoint is rewritten by the next batch, which
            // starts again from the checkpoint on disk.
            *guard = None;
        }
        result
    }

    fn commit_locked<'e>(
        &self,
        guard: &mut MutexGuard<'_, Option<Edge>>,
        entries: impl Iterator<Item = &'e [u8]>,
    ) -> Result<u64, LedgerError> {
        let edge = self.current_edge(guard)?;
        let first = edge.range.size();
        let mut writes: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        let mut superseded: BTreeSet<PathBuf> = BTreeSet::new();
        // Partial files that exist now and will be replaced by wider ones.
        if !edge.bundle.is_empty() {
            let id = TileId {
                level: 0,
                index: first / WIDTH as u64,
                width: edge.bundle.len() as u16,
            };
            superseded.insert(self.root.join(id.entries_path()));
        }
        for (level, buf) in edge.tiles.iter().enumerate() {
            if !buf.is_empty() {
                let count = first >> (8 * level);
                let id = TileId {
                    level: level as u8,
                    index: count / WIDTH as u64,
                    width: buf.len() as u16,
                };
                superseded.insert(self.root.join(id.path()));
            }
        }
        let mut appended = 0u64;
        for entry in entries {
            let leaf = merkle::leaf_hash(entry);
            let index = edge.range.size();
            edge.bundle.push(entry.to_vec());
            if edge.bundle.len() == WIDTH {
                let id = TileId {
                    level: 0,
                    index: index / WIDTH as u64,
                    width: WIDTH as u16,
                };
                let refs: Vec<&[u8]> = edge.bundle.iter().map(Vec::as_slice).collect();
                let bytes = tiles::encode_bundle(&refs).map_err(|e| self.damaged(e.to_string()))?;
                writes.push((self.root.join(id.entries_path()), bytes));
                edge.bundle.clear();
            }
            for st in edge.range.append(leaf) {
                if st.level % 8 != 0 {
                    continue;
                }
                let level = (st.level / 8) as usize;
                while edge.tiles.len() <= level {
                    edge.tiles.push(Vec::new());
                }
                let Some(buf) = edge.tiles.get_mut(level) else {
                    continue;
                };
                if st.index % WIDTH as u64 != buf.len() as u64 {
                    return Err(self.damaged(format!(
                        "internal: tile buffer at level {level} holds {} hashes where subtree {} belongs",
                        buf.len(),
                        st.index
                    )));
                }
                buf.push(st.hash);
                if buf.len() == WIDTH {
                    let id = TileId {
                        level: level as u8,
                        index: st.index / WIDTH as u64,
                        width: WIDTH as u16,
                    };
                    writes.push((self.root.join(id.path()), tiles::encode_tile(buf)));
                    buf.clear();
                }
            }
            appended += 1;
        }
        if appended == 0 {
            return Ok(first);
        }
        let size = edge.range.size();
        if !edge.bundle.is_empty() {
            let id = TileId {
                level: 0,
                index: size / WIDTH as u64,
                width: edge.bundle.len() as u16,
            };
            let refs: Vec<&[u8]> = edge.bundle.iter().map(Vec::as_slice).collect();
            let bytes = tiles::encode_bundle(&refs).map_err(|e| self.damaged(e.to_string()))?;
            writes.push((self.root.join(id.entries_path()), bytes));
        }
        for (level, buf) in edge.tiles.iter().enumerate() {
            if !buf.is_empty() {
                let count = size >> (8 * level);
                let id = TileId {
                    level: level as u8,
                    index: count / WIDTH as u64,
                    width: buf.len() as u16,
                };
                writes.push((self.root.join(id.path()), tiles::encode_tile(buf)));
            }
        }
        let mut dirs = BTreeSet::new();
        for (path, _) in &writes {
            superseded.remove(path);
            if let Some(d) = path.parent() {
                dirs.insert(d.to_path_buf());
            }
        }
        // The files of a batch are independent until the checkpoint names them, so their fsyncs
        // run side by side (the file system can fold them into one journal commit), then the
        // directories' likewise; only the checkpoint waits for all of them.
        in_parallel(
            writes
                .iter()
                .map(|(path, bytes)| move || atomic_write(path, bytes)),
        )?;
        in_parallel(dirs.iter().map(|d| move || sync_dir(d)))?;
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size,
            root: edge.range.root(),
            extensions: Vec::new(),
        };
        let signed =
            checkpoint::sign(&cp, &self.signer).map_err(|e| self.damaged(e.to_string()))?;
        atomic_write(&self.root.join("checkpoint"), signed.as_bytes())?;
        sync_dir(&self.root)?;
        edge.checkpoint = signed.clone().into_bytes();
        let (kept_size, kept_at) = edge.last_kept;
        let overdue = kept_at
            .elapsed()
            .map_or(true, |age| age >= self.policy.every);
        // `checkpoints/<n>` names are not signed: a stray one past the log (junk, a longer fork)
        // must not underflow here (a panic mid-commit would leave every other appender waiting
        // forever); it counts as nothing kept, so one is kept now.
        let since_kept = size.checked_sub(kept_size).unwrap_or(u64::MAX);
        if since_kept >= self.policy.every_entries || overdue {
            // The batch is already durable: failing to keep an extra checkpoint must not make the
            // caller retry (and duplicate) it; the next batch tries again.
            let dir = self.root.join("checkpoints");
            let path = dir.join(size.to_string());
            let kept = match read_optional(&path) {
                // Never overwrite a different kept checkpoint of this size: it is evidence of a fork.
                Ok(Some(existing)) => same_note_text(&existing, signed.as_bytes()),
                Ok(None) => atomic_write(&path, signed.as_bytes())
                    .and_then(|()| sync_dir(&dir))
                    .is_ok(),
                Err(_) => false,
            };
            if kept {
                edge.last_kept = (size, SystemTime::now());
            }
        }
        // Narrower partial tiles are no longer referenced by the latest checkpoint.
        for path in superseded {
            let _ = fs::remove_file(&path);
            // `…/N.p/` directories hold only partials; drop one once it is empty.
            if let Some(parent) = path.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
        Ok(first)
    }
}

/// Whether two signed notes carry the same text (whatever signatures follow it).
fn same_note_text(a: &[u8], b: &[u8]) -> bool {
    let text = |n: &[u8]| {
        n.windows(2)
            .position(|w| w == b"\n\n")
            .map(|i| n.get(..i).unwrap_or(n).to_vec())
    };
    text(a).is_some() && text(a) == text(b)
}

/// The size and file time of the newest checkpoint in `dir`, if there is one.
fn latest_kept(dir: &Path) -> Option<(u64, SystemTime)> {
    let (size, entry) = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u64>().ok()?, e)))
        .max_by_key(|(size, _)| *size)?;
    Some((
        size,
        entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH),
    ))
}

/// When a checkpoint was last kept: the newest kept one, else the ledger's creation (the time of
/// its `log.vkey`), so the schedule runs across short-lived writers too.
fn last_kept(root: &Path) -> (u64, SystemTime) {
    latest_kept(&root.join("checkpoints")).unwrap_or_else(|| {
        let created = fs::metadata(root.join("log.vkey"))
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now());
        (0, created)
    })
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, LedgerError> {
    match crate::durable::read_bounded(path, crate::durable::MAX_LEDGER_FILE) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// Runs `jobs` on scoped threads (one each; a batch has a handful) and returns the first error.
fn in_parallel<F>(jobs: impl Iterator<Item = F>) -> Result<(), LedgerError>
where
    F: FnOnce() -> Result<(), LedgerError> + Send,
{
    let mut jobs: Vec<F> = jobs.collect();
    let Some(first) = jobs.pop() else {
        return Ok(());
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = jobs.into_iter().map(|job| scope.spawn(job)).collect();
        let mut result = first();
        for handle in others {
            let r = handle
                .join()
                .unwrap_or_else(|_| Err(LedgerError::BatchFailed("a file write panicked".into())));
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

/// Replaces `path` crash-safely (see [`crate::durable::replace`]).
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    crate::durable::replace(path, bytes).map_err(LedgerError::from)
}

/// Makes the directory entries in `dir` (new names from renames) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    crate::durable::sync_dir(dir).map_err(LedgerError::from)
}

impl From<crate::durable::IoStep> for LedgerError {
    fn from(s: crate::durable::IoStep) -> Self {
        LedgerError::Io {
            action: s.action,
            path: s.path,
            source: s.source,
        }
    }
}
