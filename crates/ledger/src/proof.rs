//! Offline receipts: C2SP `tlog-proof@v1`.
//!
//! A proof carries the entry's index, its inclusion proof and the signed checkpoint it is included
//! in (with any witness cosignatures). qwarden also puts the entry itself in the `extra` line, so a
//! proof file alone shows what was logged; `extra` is not trusted by the format, and it needs no
//! trust here either, because verification hashes it and checks the hash against the signed root.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::{self, Checkpoint};
use crate::cosignature::CosignatureVerifier;
use crate::merkle::{self, Hash, HashSource};
use crate::note::NoteVerifier;

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Largest proof accepted by [`Proof::parse`]; a real one is a few KiB plus the entry.
pub const MAX_PROOF_BYTES: usize = 1 << 20;

/// A parsed proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The unauthenticated extra data (qwarden puts the entry here).
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// The inclusion proof, from the leaf's sibling up.
    pub path: Vec<Hash>,
    /// The signed checkpoint, verbatim.
    pub checkpoint: Vec<u8>,
}

/// Why a proof was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The text is not a `tlog-proof@v1`.
    #[error(
        "not a valid tlog proof: {0}\n  hint: a proof starts with `{HEADER}`; make one with `qwarden audit prove INDEX`"
    )]
    Malformed(String),
    /// The checkpoint's signature does not verify with the given log key.
    #[error(
        "the proof's checkpoint does not verify with the log key: {0}\n  hint: check that `--key` is this log's verification key (`qwarden audit key`)"
    )]
    Checkpoint(String),
    /// The entry is not in the checkpointed tree at the index.
    #[error("entry {index} is not included in the checkpointed tree of size {size}: {reason}")]
    NotIncluded {
        /// The index.
        index: u64,
        /// The checkpoint's size.
        size: u64,
        /// What failed.
        reason: String,
    },
    /// The proof carries no entry and none was given.
    #[error("the proof carries no entry\n  hint: pass the entry with `--entry FILE`")]
    NoEntry,
    /// The proof could not be made.
    #[error("cannot make a proof for entry {index}: {reason}")]
    Make {
        /// The index.
        index: u64,
        /// Why.
        reason: String,
    },
}

/// What a verified proof establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The checkpoint the entry is included in.
    pub checkpoint: Checkpoint,
    /// The entry.
    pub entry: Vec<u8>,
    /// Names of the witnesses whose cosignatures verified, with their timestamps.
    pub witnesses: Vec<(String, u64)>,
}

impl Proof {
    /// Builds the proof of entry `index` (whose bytes are `entry`) against the signed `checkpoint`,
    /// reading tree hashes from `src`.
    pub fn make(
        src: &(impl HashSource + ?Sized),
        index: u64,
        entry: &[u8],
        checkpoint_text: &[u8],
        size: u64,
    ) -> Result<Proof, ProofError> {
        let path = merkle::inclusion_proof(src, index, size).map_err(|e| ProofError::Make {
            index,
            reason: e.to_string(),
        })?;
        Ok(Proof {
            extra: Some(entry.to_vec()),
            index,
            path,
            checkpoint: checkpoint_text.to_vec(),
        })
    }

    /// The proof's text.
    pub fn to_text(&self) -> Vec<u8> {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", B64.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.path {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.checkpoint);
        bytes
    }

    /// Parses a proof.
    pub fn parse(bytes: &[u8]) -> Result<Proof, ProofError> {
        let bad = |m: &str| ProofError::Malformed(m.to_owned());
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(bad("the file is larger than 1 MiB"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("the file is not UTF-8 text"))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(bad("the first line is not `c2sp.org/tlog-proof@v1`"));
        }
        let mut line = lines.next().ok_or_else(|| bad("no `index` line"))?;
        let mut extra = None;
        if let Some(e) = line.strip_prefix("extra ") {
            extra = Some(
                B64.decode(e)
                    .map_err(|_| bad("the `extra` line is not base64"))?,
            );
            line = lines.next().ok_or_else(|| bad("no `index` line"))?;
        }
        let index = line
            .strip_prefix("index ")
            .filter(|n| {
                *n == "0"
                    || (!n.starts_with('0')
                        && !n.is_empty()
                        && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| {
                bad("the `index` line must be `index N`, N decimal without leading zeros")
            })?;
        let mut path = Vec::new();
        for l in lines {
            let h: Hash = B64
                .decode(l)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| bad("a proof line is not a base64 SHA-256 hash"))?;
            path.push(h);
        }
        if path.len() > 64 {
            return Err(bad("more than 64 proof hashes"));
        }
        Ok(Proof {
            extra,
            index,
            path,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    /// Verifies the proof against the log's key: the checkpoint's signature, then the inclusion of
    /// the entry (from `entry`, else from `extra`). Witness cosignatures that verify with one of
    /// `witnesses` are reported; unknown ones are ignored.
    pub fn verify(
        &self,
        log: &NoteVerifier,
        witnesses: &[CosignatureVerifier],
        entry: Option<&[u8]>,
    ) -> Result<Verified, ProofError> {
        let (cp, note) = checkpoint::open(&self.checkpoint, log)
            .map_err(|e| ProofError::Checkpoint(e.to_string()))?;
        if cp.origin != log.name() {
            return Err(ProofError::Checkpoint(format!(
                "it names the log `{}`",
                cp.origin
            )));
        }
        let entry = entry.or(self.extra.as_deref()).ok_or(ProofError::NoEntry)?;
        merkle::verify_inclusion(
            &merkle::leaf_hash(entry),
            self.index,
            cp.size,
            &self.path,
            &cp.root,
        )
        .map_err(|e| ProofError::NotIncluded {
            index: self.index,
            size: cp.size,
            reason: e.to_string(),
        })?;
        let witnessed = witnesses
            .iter()
            .filter_map(|w| w.verify(&note).ok().map(|t| (w.name().to_owned(), t)))
            .collect();
        Ok(Verified {
            checkpoint: cp,
            entry: entry.to_vec(),
            witnesses: witnessed,
        })
    }
}
