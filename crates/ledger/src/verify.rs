//! Offline verification of a ledger directory: every checkpoint's signature, every entry against
//! the tiles and the checkpoints, and the consistency of all checkpoints with each other.
//!
//! The verifier trusts nothing in the directory but what the log's key signed. It recomputes the
//! Merkle tree from the entries, compares it with every stored tile and with the root of every
//! kept checkpoint, and names the first thing that is wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checkpoint::{self, Checkpoint};
use crate::merkle::{self, CompactRange, Hash};
use crate::note::NoteVerifier;
use crate::tiles::{self, TileId};

const WIDTH: u64 = 256;

/// The first thing found wrong with a ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum Problem {
    /// A checkpoint's signature does not verify with the log's key, or it is not a checkpoint.
    ForgedCheckpoint {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// An entry's bytes differ from what the log committed to.
    ModifiedEntry {
        /// Its index.
        index: u64,
    },
    /// An entry sits where another one belongs.
    ReorderedEntry {
        /// Where it was found.
        index: u64,
        /// Where the log committed to it.
        belongs_at: u64,
    },
    /// An entry was removed from the middle of the log.
    DeletedEntry {
        /// The index of the first removed entry.
        index: u64,
    },
    /// Entries the checkpoint covers are missing.
    MissingEntries {
        /// The first missing index.
        from: u64,
        /// How many entries the latest checkpoint covers.
        size: u64,
    },
    /// An entry bundle or tile cannot be decoded.
    Unreadable {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// A stored hash tile differs from the tree the entries make.
    ModifiedTile {
        /// The tile's path.
        file: PathBuf,
    },
    /// The entries do not add up to a signed checkpoint's root: some entry in the range was changed
    /// together with its tiles.
    RootMismatch {
        /// The checkpoint.
        file: PathBuf,
        /// Its size.
        size: u64,
        /// The size of the previous checkpoint that matched (the change is at or after it).
        after: u64,
    },
    /// A kept checkpoint, signed by the log's key, disagrees with the log, while the latest
    /// checkpoint matches it: the two are inconsistent (a fork, or a log rewritten after it).
    InconsistentCheckpoint {
        /// The disagreeing checkpoint.
        file: PathBuf,
        /// Its size.
        size: u64,
    },
    /// A kept checkpoint is larger than the latest one: the log was rolled back.
    Truncated {
        /// The larger checkpoint.
        file: PathBuf,
        /// Its size.
        kept: u64,
        /// The latest checkpoint's size.
        latest: u64,
    },
    /// An entry failed the caller's check (not a valid event, a missing CAS blob, …).
    BadEntry {
        /// Its index.
        index: u64,
        /// Why.
        reason: String,
    },
}

impl Problem {
    /// The first entry index the problem concerns, where it concerns one.
    pub fn index(&self) -> Option<u64> {
        match self {
            Problem::ModifiedEntry { index }
            | Problem::ReorderedEntry { index, .. }
            | Problem::DeletedEntry { index }
            | Problem::BadEntry { index, .. } => Some(*index),
            Problem::MissingEntries { from, .. } => Some(*from),
            Problem::RootMismatch { after, .. } => Some(*after),
            _ => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::ForgedCheckpoint { file, reason } => {
                write!(f, "forged checkpoint `{}`: {reason}", file.display())
            }
            Problem::ModifiedEntry { index } => write!(f, "entry {index} was modified"),
            Problem::DeletedEntry { index } => write!(
                f,
                "entry {index} was deleted: the entries after it moved up"
            ),
            Problem::ReorderedEntry { index, belongs_at } => {
                write!(
                    f,
                    "entries were reordered: entry {index} holds the entry logged at {belongs_at}"
                )
            }
            Problem::MissingEntries { from, size } => write!(
                f,
                "entries {from}..{size} are missing (deleted or truncated): the latest checkpoint covers {size}"
            ),
            Problem::Unreadable { file, reason } => {
                write!(f, "`{}` cannot be decoded: {reason}", file.display())
            }
            Problem::ModifiedTile { file } => {
                write!(
                    f,
                    "hash tile `{}` does not match the entries",
                    file.display()
                )
            }
            Problem::RootMismatch { file, size, after } => write!(
                f,
                "the entries do not match the signed root of `{}` (size {size}): an entry at or after index {after} differs from what was signed, and its tiles were rewritten to match",
                file.display()
            ),
            Problem::InconsistentCheckpoint { file, size } => write!(
                f,
                "inconsistent checkpoints: `{}` (size {size}) is signed by the log's key but disagrees with the log, which matches its latest checkpoint: a fork, or the log was rewritten after it",
                file.display()
            ),
            Problem::Truncated { file, kept, latest } => write!(
                f,
                "the log was truncated or rolled back: `{}` covers {kept} entries but the latest checkpoint only {latest}",
                file.display()
            ),
            Problem::BadEntry { index, reason } => write!(f, "entry {index}: {reason}"),
        }
    }
}

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The log's origin.
    pub origin: String,
    /// Entries covered by the latest checkpoint.
    pub size: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints: usize,
    /// Everything found wrong, the first (lowest index where it applies) first.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether the ledger verified.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The ledger could not be verified at all.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot verify `{dir}`: {reason}\n  hint: point at a ledger directory (it holds `checkpoint`, `log.vkey` and `tile/`)"
)]
pub struct Unreadable {
    /// The directory.
    pub dir: PathBuf,
    /// Why.
    pub reason: String,
}

/// Verifies the ledger in `dir` with the log's verification key. `check_entry` is called with every
/// entry (in order) and may refuse it, e.g. because it is not a valid event.
///
/// A directory without a `checkpoint` is [`Unreadable`], unless it holds kept checkpoints: then the
/// latest one was deleted, and they are reported as [`Problem::Truncated`].
pub fn verify(
    dir: &Path,
    verifier: &NoteVerifier,
    mut check_entry: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<Report, Unreadable> {
    let unreadable = |reason: String| Unreadable {
        dir: dir.to_path_buf(),
        reason,
    };
    let latest_path = dir.join("checkpoint");
    // Kept checkpoints, without the temporary files of interrupted writes.
    let kept_files: Vec<PathBuf> = match fs::read_dir(dir.join("checkpoints")) {
        Ok(entries) => {
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.'))
                })
                .collect();
            files.sort();
            files
        }
        Err(_) => Vec::new(),
    };
    let latest_bytes =
        match crate::durable::read_bounded(&latest_path, crate::durable::MAX_LEDGER_FILE) {
            Ok(bytes) => Some(bytes),
            // Deleting the latest checkpoint is the furthest truncation there is: with kept
            // checkpoints left, the log is checked as empty so that they report it, rather than
            // calling a tampered log unreadable.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !kept_files.is_empty() => None,
            Err(e) => return Err(unreadable(format!("cannot read `checkpoint`: {e}"))),
        };
    let mut problems = Vec::new();
    let mut report = Report {
        origin: verifier.name().to_owned(),
        size: 0,
        checkpoints: 0,
        problems: Vec::new(),
    };
    let latest = match &latest_bytes {
        Some(bytes) => match open(&latest_path, bytes, verifier) {
            Ok(cp) => cp,
            Err(p) => {
                report.problems.push(p);
                return Ok(report);
            }
        },
        None => Checkpoint {
            origin: verifier.name().to_owned(),
            size: 0,
            root: merkle::empty_root(),
            extensions: Vec::new(),
        },
    };
    report.size = latest.size;

    // Every kept checkpoint, by size.
    let mut kept: BTreeMap<u64, Vec<(PathBuf, Hash)>> = BTreeMap::new();
    if latest_bytes.is_some() {
        kept.entry(latest.size)
            .or_default()
            .push((latest_path.clone(), latest.root));
    }
    for file in kept_files {
        let bytes = match crate::durable::read_bounded(&file, crate::durable::MAX_LEDGER_FILE) {
            Ok(b) => b,
            Err(e) => {
                problems.push(Problem::Unreadable {
                    file,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        match open(&file, &bytes, verifier) {
            Ok(cp) if cp.size > latest.size => {
                problems.push(Problem::Truncated {
                    file,
                    kept: cp.size,
                    latest: latest.size,
                });
            }
            Ok(cp) => kept.entry(cp.size).or_default().push((file, cp.root)),
            Err(p) => problems.push(p),
        }
    }
    report.checkpoints = kept.values().map(Vec::len).sum();

    // Recompute the tree from the entries.
    let size = latest.size;
    let mut range = CompactRange::new();
    let mut upper: Vec<Vec<Hash>> = Vec::new();
    let mut last_good_checkpoint = 0u64;
    // Sizes of the checkpoints whose root the entries reproduce: every entry below one of them
    // is exactly what the log signed.
    let mut good_sizes: Vec<u64> = Vec::new();
    let mut checkpoints = kept.iter().peekable();
    while checkpoints.peek().is_some_and(|(s, _)| **s == 0) {
        checkpoints.next();
    }
    let bundles = size.div_ceil(WIDTH);
    'bundles: for k in 0..bundles {
        let width = (size - k * WIDTH).min(WIDTH) as u16;
        let id = TileId {
            level: 0,
            index: k,
            width,
        };
        let Some((bundle_path, bytes, stored_width)) = read_bundle(dir, &id) else {
            problems.push(Problem::MissingEntries {
                from: k * WIDTH,
                size,
            });
            break 'bundles;
        };
        let tile_path = dir.join(id.path());
        let stored: Option<Vec<Hash>> = read_tile(dir, &id);
        let entries = match tiles::decode_bundle(&bytes, stored_width) {
            Ok(mut e) => {
                e.truncate(usize::from(width));
                e
            }
            Err(e) => {
                let last = k + 1 == bundles;
                problems.push(locate_bundle_damage(
                    &bytes,
                    stored.as_deref(),
                    k * WIDTH,
                    last.then_some(size),
                    bundle_path,
                    e.to_string(),
                ));
                break 'bundles;
            }
        };
        let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        for (offset, (entry, leaf)) in entries.iter().zip(&leaves).enumerate() {
            let index = k * WIDTH + offset as u64;
            if let Some(stored) = &stored
                && stored.get(offset) != Some(leaf)
            {
                match stored.iter().position(|h| h == leaf) {
                    Some(j) => problems.push(Problem::ReorderedEntry {
                        index,
                        belongs_at: k * WIDTH + j as u64,
                    }),
                    None => problems.push(Problem::ModifiedEntry { index }),
                }
            }
            if let Err(reason) = check_entry(index, entry) {
                problems.push(Problem::BadEntry { index, reason });
            }
            for st in range.append(*leaf) {
                if st.level % 8 == 0 && st.level > 0 {
                    let level = (st.level / 8) as usize;
                    while upper.len() < level {
                        upper.push(Vec::new());
                    }
                    if let Some(v) = upper.get_mut(level - 1) {
                        v.push(st.hash);
                    }
                }
            }
            while let Some((s, files)) = checkpoints.peek() {
                if **s != range.size() {
                    break;
                }
                let root = range.root();
                for (file, expected) in *files {
                    if *expected != root {
                        problems.push(Problem::RootMismatch {
                            file: file.clone(),
                            size: **s,
                            after: last_good_checkpoint,
                        });
                    }
                }
                if files.iter().all(|(_, r)| *r == root) {
                    last_good_checkpoint = **s;
                    good_sizes.push(**s);
                }
                checkpoints.next();
            }
        }
        if stored.is_none() {
            problems.push(Problem::Unreadable {
                file: tile_path,
                reason: "missing or malformed hash tile".into(),
            });
        }
    }
    // Compare the stored upper-level tiles with the recomputed hashes.
    for (i, hashes) in upper.iter().enumerate() {
        let level = (i + 1) as u8;
        let count = size >> (8 * u32::from(level));
        // Only the tiles whose hashes were recomputed: a hostile checkpoint's size must not drive
        // the loop.
        let recomputed = (hashes.len() as u64).div_ceil(WIDTH);
        for t in 0..count.div_ceil(WIDTH).min(recomputed) {
            let width = (count - t * WIDTH).min(WIDTH) as u16;
            let id = TileId {
                level,
                index: t,
                width,
            };
            let path = dir.join(id.path());
            let start = (t * WIDTH) as usize;
            // When the entries could not all be read (a problem already reported), the hashes
            // past them are unknown: the tile is not blamed for them.
            let Some(expected) = hashes.get(start..start + usize::from(width)) else {
                continue;
            };
            let stored = read_tile(dir, &id);
            if stored.as_deref() != Some(expected) {
                problems.push(Problem::ModifiedTile { file: path });
            }
        }
    }
    // An entry that differs from its level-0 tile but lies under a root the entries reproduce is
    // the one the log signed: it is the tile that was changed.
    let mut blamed_tiles = std::collections::BTreeSet::new();
    problems.retain_mut(|p| {
        let (Problem::ModifiedEntry { index } | Problem::ReorderedEntry { index, .. }) = *p else {
            return true;
        };
        if !good_sizes.iter().any(|s| *s > index) {
            return true;
        }
        let k = index / WIDTH;
        let id = TileId {
            level: 0,
            index: k,
            width: (size - k * WIDTH).min(WIDTH) as u16,
        };
        let file = dir.join(id.path());
        *p = Problem::ModifiedTile { file: file.clone() };
        blamed_tiles.insert(file)
    });
    // When the latest checkpoint matches the entries, an older kept one that does not is not a
    // sign of modified entries but of two checkpoints that cannot both be true.
    let latest_matches = !problems
        .iter()
        .any(|p| matches!(p, Problem::RootMismatch { file, .. } if *file == latest_path));
    if latest_matches {
        for p in &mut problems {
            if let Problem::RootMismatch { file, size, .. } = p {
                *p = Problem::InconsistentCheckpoint {
                    file: file.clone(),
                    size: *size,
                };
            }
        }
    }
    problems.sort_by_key(|p| (sort_index(p), rank(p)));
    report.problems = problems;
    Ok(report)
}

/// Explains a bundle that does not decode to the expected number of entries: when the entries
/// that are there can be matched against the level-0 tile, names the first deleted one. In the
/// last bundle (`log_size` given), entries missing only at its end are a truncated tail.
fn locate_bundle_damage(
    bytes: &[u8],
    stored: Option<&[Hash]>,
    first: u64,
    log_size: Option<u64>,
    file: PathBuf,
    reason: String,
) -> Problem {
    let mut present = Vec::new();
    let mut rest = bytes;
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let Some((entry, after)) = tail.split_at_checked(len) else {
            break;
        };
        present.push(merkle::leaf_hash(entry));
        rest = after;
    }
    if let Some(stored) = stored
        && rest.is_empty()
        && present.len() < stored.len()
    {
        // The first position where what is present stops matching is where entries went missing.
        let at = present
            .iter()
            .zip(stored)
            .take_while(|(p, s)| p == s)
            .count();
        if let Some(size) = log_size
            && at == present.len()
        {
            return Problem::MissingEntries {
                from: first + at as u64,
                size,
            };
        }
        let rest_matches = present
            .get(at..)
            .unwrap_or_default()
            .iter()
            .all(|p| stored.get(at..).unwrap_or_default().contains(p));
        if rest_matches {
            return Problem::DeletedEntry {
                index: first + at as u64,
            };
        }
    }
    Problem::Unreadable { file, reason }
}

/// Where a problem sorts: at its index, except a root mismatch, which says only that some entry
/// before the checkpoint's size changed; it sorts at the end of that range, so that a problem
/// located exactly inside it (a modified entry) is named first.
fn sort_index(p: &Problem) -> u64 {
    match p {
        Problem::RootMismatch { size, .. } | Problem::InconsistentCheckpoint { size, .. } => {
            size.saturating_sub(1)
        }
        _ => p.index().unwrap_or(u64::MAX),
    }
}

/// The entry bundle `id`, or — for a partial one — the full bundle that replaced it (the spec lets
/// a log keep only the full one; the partial's entries are its prefix). Returns the file, its
/// bytes and how many entries it holds.
fn read_bundle(dir: &Path, id: &TileId) -> Option<(PathBuf, Vec<u8>, usize)> {
    let path = dir.join(id.entries_path());
    if let Ok(b) = crate::durable::read_bounded(&path, crate::durable::MAX_LEDGER_FILE) {
        return Some((path, b, usize::from(id.width)));
    }
    let full = TileId::full(id.level, id.index);
    let path = dir.join(full.entries_path());
    (id.width < tiles::TILE_WIDTH)
        .then(|| crate::durable::read_bounded(&path, crate::durable::MAX_LEDGER_FILE).ok())
        .flatten()
        .map(|b| (path, b, usize::from(tiles::TILE_WIDTH)))
}

/// The hashes of tile `id`, from the partial tile or the prefix of the full one.
fn read_tile(dir: &Path, id: &TileId) -> Option<Vec<Hash>> {
    if let Some(h) =
        crate::durable::read_bounded(&dir.join(id.path()), crate::durable::MAX_LEDGER_FILE)
            .ok()
            .and_then(|b| tiles::decode_tile(&b, usize::from(id.width)).ok())
    {
        return Some(h);
    }
    if id.width >= tiles::TILE_WIDTH {
        return None;
    }
    let full = TileId::full(id.level, id.index);
    let mut h =
        crate::durable::read_bounded(&dir.join(full.path()), crate::durable::MAX_LEDGER_FILE)
            .ok()
            .and_then(|b| tiles::decode_tile(&b, usize::from(tiles::TILE_WIDTH)).ok())?;
    h.truncate(usize::from(id.width));
    Some(h)
}

/// Orders problems at the same index: the most specific first.
fn rank(p: &Problem) -> u8 {
    match p {
        Problem::ForgedCheckpoint { .. } | Problem::Truncated { .. } => 0,
        Problem::ReorderedEntry { .. } => 1,
        Problem::ModifiedEntry { .. } => 2,
        Problem::MissingEntries { .. } | Problem::DeletedEntry { .. } => 3,
        Problem::BadEntry { .. } => 4,
        Problem::RootMismatch { .. } | Problem::InconsistentCheckpoint { .. } => 5,
        Problem::Unreadable { .. } => 6,
        Problem::ModifiedTile { .. } => 7,
    }
}

/// A checkpoint signed by the log's key (`checkpoint::open` also requires its origin to be the
/// key's name, so a checkpoint of another log is refused here too).
fn open(file: &Path, bytes: &[u8], verifier: &NoteVerifier) -> Result<Checkpoint, Problem> {
    let (cp, _) = checkpoint::open(bytes, verifier).map_err(|e| Problem::ForgedCheckpoint {
        file: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(cp)
}
