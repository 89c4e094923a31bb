//! Reading a ledger directory: the latest verified checkpoint, entries by index, tree hashes.
//!
//! Nothing is trusted beyond the checkpoint's signature: callers that need more (an entry's
//! inclusion) check it against the checkpoint with a proof, or run [`crate::verify::verify`].

use std::path::{Path, PathBuf};

use crate::checkpoint::{self, Checkpoint};
use crate::log::DirTiles;
use crate::merkle;
use crate::note::NoteVerifier;
use crate::tiles::{self, TileHashes, TileId};

const WIDTH: u64 = 256;

/// Why a ledger could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A file could not be read.
    #[error(
        "cannot read `{path}`: {source}\n  hint: point at a ledger directory (it holds `checkpoint`, `log.vkey` and `tile/`)"
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The latest checkpoint does not verify.
    #[error(
        "the latest checkpoint of `{dir}` does not verify: {reason}\n  hint: run `qwarden audit verify`"
    )]
    Checkpoint {
        /// The ledger.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// An index beyond the log.
    #[error("entry {index} does not exist: the log holds {size} entries")]
    OutOfRange {
        /// The index asked for.
        index: u64,
        /// The log's size.
        size: u64,
    },
    /// A bundle is damaged.
    #[error("`{path}` is damaged: {reason}\n  hint: run `qwarden audit verify`")]
    Damaged {
        /// The bundle.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A ledger opened for reading at its latest checkpoint.
#[derive(Debug, Clone)]
pub struct LogReader {
    dir: PathBuf,
    checkpoint: Checkpoint,
    checkpoint_text: Vec<u8>,
}

impl LogReader {
    /// Opens the ledger in `dir`, verifying its latest checkpoint with `verifier`.
    pub fn open(dir: &Path, verifier: &NoteVerifier) -> Result<LogReader, ReadError> {
        let path = dir.join("checkpoint");
        let text = crate::durable::read_bounded(&path, crate::durable::MAX_LEDGER_FILE)
            .map_err(|source| ReadError::Io { path, source })?;
        let (checkpoint, _) =
            checkpoint::open(&text, verifier).map_err(|e| ReadError::Checkpoint {
                dir: dir.to_path_buf(),
                reason: e.to_string(),
            })?;
        Ok(LogReader {
            dir: dir.to_path_buf(),
            checkpoint,
            checkpoint_text: text,
        })
    }

    /// The latest checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The latest checkpoint as signed.
    pub fn checkpoint_text(&self) -> &[u8] {
        &self.checkpoint_text
    }

    /// Entries in the log.
    pub fn size(&self) -> u64 {
        self.checkpoint.size
    }

    /// The tree hashes at the latest checkpoint, for proofs.
    pub fn hashes(&self) -> TileHashes<DirTiles> {
        TileHashes::new(DirTiles::new(&self.dir), self.size())
    }

    /// The entries of bundle `k` at the latest checkpoint.
    fn bundle(&self, k: u64) -> Result<Vec<Vec<u8>>, ReadError> {
        let width = (self.size() - k * WIDTH).min(WIDTH) as u16;
        let id = TileId {
            level: 0,
            index: k,
            width,
        };
        let path = self.dir.join(id.entries_path());
        // A log may keep only the full bundle once it exists; a partial one is its prefix.
        let (path, bytes, count) =
            match crate::durable::read_bounded(&path, crate::durable::MAX_LEDGER_FILE) {
                Ok(b) => (path, b, usize::from(width)),
                Err(source) => {
                    let full = self.dir.join(TileId::full(0, k).entries_path());
                    match crate::durable::read_bounded(&full, crate::durable::MAX_LEDGER_FILE) {
                        Ok(b) if width < tiles::TILE_WIDTH => {
                            (full, b, usize::from(tiles::TILE_WIDTH))
                        }
                        _ => return Err(ReadError::Io { path, source }),
                    }
                }
            };
        let mut entries = tiles::decode_bundle(&bytes, count).map_err(|e| ReadError::Damaged {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        entries.truncate(usize::from(width));
        self.authenticate(k, &entries)
            .map_err(|reason| ReadError::Damaged { path, reason })?;
        Ok(entries.into_iter().map(<[u8]>::to_vec).collect())
    }

    /// Checks bundle `k`'s entries against the signed root. Each bundle is a node of the tree
    /// (its boundaries are multiples of 256, and every split above it is too), so its hash,
    /// computed from the entries themselves, must verify against the root with the upper part of
    /// the inclusion proof of its first entry. The tiles that proof is read from need no trust.
    fn authenticate(&self, k: u64, entries: &[&[u8]]) -> Result<(), String> {
        let leaves: Vec<merkle::Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        let width = leaves.len() as u64;
        let node = merkle::tree_hash(&leaves[..], width).map_err(|e| e.to_string())?;
        let path = merkle::inclusion_proof(&self.hashes(), k * WIDTH, self.size())
            .map_err(|e| e.to_string())?;
        // The first ceil(log2(width)) hashes of that path lie inside the bundle.
        let inside = (64 - width.saturating_sub(1).leading_zeros()) as usize;
        let upper = path.get(inside..).unwrap_or_default();
        merkle::verify_inclusion(
            &node,
            k,
            self.size().div_ceil(WIDTH),
            upper,
            &self.checkpoint.root,
        )
        .map_err(|_| {
            "its entries do not match the signed tree (tampered); run `qwarden audit verify`"
                .to_owned()
        })
    }

    /// Entry `index`.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, ReadError> {
        if index >= self.size() {
            return Err(ReadError::OutOfRange {
                index,
                size: self.size(),
            });
        }
        let mut bundle = self.bundle(index / WIDTH)?;
        let offset = (index % WIDTH) as usize;
        if offset >= bundle.len() {
            return Err(ReadError::OutOfRange {
                index,
                size: self.size(),
            });
        }
        Ok(bundle.swap_remove(offset))
    }

    /// Entries `from..to` (clamped to the log), in order.
    pub fn entries(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<(u64, Vec<u8>), ReadError>> + '_ {
        let to = to.min(self.size());
        let mut next = from;
        let mut current: Vec<Vec<u8>> = Vec::new();
        let mut current_k = u64::MAX;
        std::iter::from_fn(move || {
            if next >= to {
                return None;
            }
            let k = next / WIDTH;
            if k != current_k {
                match self.bundle(k) {
                    Ok(b) => {
                        current = b;
                        current_k = k;
                    }
                    Err(e) => {
                        next = to;
                        return Some(Err(e));
                    }
                }
            }
            let offset = (next % WIDTH) as usize;
            let item = current.get(offset).cloned().map(|e| (next, e));
            next += 1;
            item.map(Ok)
        })
    }
}
