//! The witness's decisions: `add-checkpoint` as a function from request bytes and the time to
//! the answer the `tlog-witness` specification prescribes.
//!
//! [`Witness::add_checkpoint`] parses the request (`old <size>`, up to 63 consistency proof lines,
//! an empty line, a signed checkpoint), and answers, in the specification's order:
//!
//! | check | answer |
//! |---|---|
//! | the body, the note or the checkpoint is malformed | `400 Bad Request` |
//! | the checkpoint's origin is not a known log | `404 Not Found` |
//! | no signature verifies against the log's trusted keys | `403 Forbidden` |
//! | `old` is larger than the checkpoint's size (so also: a checkpoint smaller than the witnessed size, submitted with that size as `old`) | `400 Bad Request` |
//! | `old` is not the size of the latest checkpoint cosigned for the origin (0 if none) | `409 Conflict`, `text/x.tlog.size`, body `<size>\n` |
//! | the consistency proof from `old` does not verify | `422 Unprocessable Entity` |
//! | same size as the cosigned checkpoint but another root hash (a fork) | `409 Conflict` (plain text, no size: resubmitting cannot help) |
//! | otherwise | the new tree head is persisted, then `200` with the cosignature line |
//!
//! Checking `old` and persisting the new tree head happen under one lock per origin, so two
//! concurrent requests can never roll the witness back (the race the specification describes).
//! Storage is behind [`WitnessStore`]; [`FileStore`] keeps one file per log.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::checkpoint::Checkpoint;
use crate::cosignature::{CosignatureVerifier, Cosigner};
use crate::merkle::{self, Hash};
use crate::note::{Note, NoteVerifier};

use super::{
    CONTENT_TYPE_SIZE, CONTENT_TYPE_TEXT, IoFailure, MAX_PROOF_LINES, escape_file_name,
    parse_decimal, write_durably,
};

/// A log's tree head as the witness records it: the size and root hash of the latest checkpoint
/// it cosigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// The number of leaves.
    pub size: u64,
    /// The RFC 6962 root hash.
    pub root: Hash,
}

/// Why the witness's storage failed. The witness answers `500` and cosigns nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
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
    /// Another process holds the state directory.
    #[error(
        "the witness state directory `{dir}` is in use by another process; stop the other \
         `qwarden witness serve` or give this one its own state directory"
    )]
    Locked {
        /// The state directory.
        dir: PathBuf,
    },
    /// A stored record does not parse, or names another log.
    #[error(
        "the witness record `{path}` is damaged: {reason}; restore it from a backup (deleting it \
         makes the witness forget the log and accept any checkpoint for it)"
    )]
    Corrupt {
        /// The record.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<IoFailure> for StoreError {
    fn from(e: IoFailure) -> StoreError {
        StoreError::Io {
            action: e.action,
            path: e.path,
            source: e.source,
        }
    }
}

/// Where a witness keeps the latest tree head it cosigned for each log.
///
/// The witness calls these with the origin's lock held, so an implementation need not serialise
/// calls for one origin itself; it must be safe to call for different origins concurrently.
pub trait WitnessStore: Send + Sync {
    /// The latest tree head recorded for `origin`, or `None` if the witness never cosigned a
    /// checkpoint of that log.
    fn load(&self, origin: &str) -> Result<Option<TreeHead>, StoreError>;

    /// Records `head` as the latest for `origin`, with the signed checkpoint it came from
    /// (`checkpoint`, the note as submitted). It must be durable when this returns: the witness
    /// answers with a cosignature right after.
    fn save(&self, origin: &str, head: &TreeHead, checkpoint: &[u8]) -> Result<(), StoreError>;
}

/// A [`WitnessStore`] keeping, in one directory, one file per log: `<escaped origin>.checkpoint`
/// holding the latest cosigned checkpoint as submitted (a signed note, so the record is also
/// evidence of what the log signed).
///
/// Origins are escaped into safe, distinct file names (`/` and every byte outside
/// `[a-z0-9._-]` as `%xx`, very long ones hashed). Each record is written to a temporary file,
/// fsynced, renamed over the old one, and the directory is fsynced. The directory is locked
/// (`.lock`) for as long as the store is open, so two witness processes never share it.
pub struct FileStore {
    dir: PathBuf,
    /// Held for the store's lifetime: an exclusive lock on `<dir>/.lock`.
    _lock: File,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore").field("dir", &self.dir).finish()
    }
}

/// The suffix of a record file.
const RECORD_SUFFIX: &str = ".checkpoint";

impl FileStore {
    /// Opens (creating if needed) the store in `dir`, and locks it against other processes.
    pub fn open(dir: &Path) -> Result<FileStore, StoreError> {
        fs::create_dir_all(dir).map_err(IoFailure::on("create", dir))?;
        let lock_path = dir.join(".lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(IoFailure::on("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(IoFailure::on("lock", &lock_path)(e).into());
            }
        }
        Ok(FileStore {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The record file of `origin`.
    pub fn record_path(&self, origin: &str) -> PathBuf {
        self.dir
            .join(format!("{}{RECORD_SUFFIX}", escape_file_name(origin)))
    }
}

impl WitnessStore for FileStore {
    fn load(&self, origin: &str) -> Result<Option<TreeHead>, StoreError> {
        let path = self.record_path(origin);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(IoFailure::on("read", &path)(e).into()),
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.clone(),
            reason,
        };
        // The record is the witness's own state: its log signature was checked when it was
        // saved, and is not checked again (the log's key may have been rotated since).
        let note = Note::parse(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let cp = Checkpoint::parse(note.text()).map_err(|e| corrupt(e.to_string()))?;
        if cp.origin != origin {
            return Err(corrupt(format!(
                "it holds a checkpoint of `{}`, not of `{origin}`",
                cp.origin
            )));
        }
        Ok(Some(TreeHead {
            size: cp.size,
            root: cp.root,
        }))
    }

    fn save(&self, origin: &str, _head: &TreeHead, checkpoint: &[u8]) -> Result<(), StoreError> {
        Ok(write_durably(&self.record_path(origin), checkpoint)?)
    }
}

/// A witness's answer to a request: what goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body: cosignature lines, the witness's size (`409`), or an error message.
    pub body: Vec<u8>,
}

impl Response {
    /// A plain-text answer; `message` gets a final newline.
    pub fn text(status: u16, message: impl fmt::Display) -> Response {
        Response {
            status,
            content_type: CONTENT_TYPE_TEXT,
            body: format!("{message}\n").into_bytes(),
        }
    }

    /// A `409 Conflict` carrying the witness's size for the log, as the specification requires.
    pub fn conflict_size(size: u64) -> Response {
        Response {
            status: 409,
            content_type: CONTENT_TYPE_SIZE,
            body: format!("{size}\n").into_bytes(),
        }
    }
}

/// A log the witness knows: its trusted keys and the lock that serialises its requests.
struct KnownLog {
    verifiers: Vec<NoteVerifier>,
    lock: Mutex<()>,
}

/// A witness: a cosigning key, the logs it knows, and the latest tree head of each.
///
/// `add_checkpoint` takes `&self` and may be called from many threads; requests for one origin
/// are serialised, requests for different origins are not.
pub struct Witness {
    cosigner: Cosigner,
    logs: BTreeMap<String, KnownLog>,
    store: Box<dyn WitnessStore>,
}

impl fmt::Debug for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Witness")
            .field("cosigner", &self.cosigner)
            .field("logs", &self.logs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The parts of an `add-checkpoint` request body.
struct Request<'a> {
    old: u64,
    proof: Vec<Hash>,
    note: &'a [u8],
}

/// Splits off the first line (without its newline); `None` if there is no newline.
fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == b'\n')?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

fn parse_request(body: &[u8]) -> Result<Request<'_>, String> {
    let (first, mut rest) = split_line(body).ok_or(
        "the request has no `old <size>` line; the body must be `old <size>`, the consistency \
         proof lines, an empty line, then the signed checkpoint",
    )?;
    let old = first
        .strip_prefix(b"old ")
        .and_then(parse_decimal)
        .ok_or("the first line must be `old <size>`, the size in decimal without leading zeros")?;
    let mut proof = Vec::new();
    loop {
        let (line, next) = split_line(rest).ok_or(
            "the request has no empty line between the consistency proof and the checkpoint",
        )?;
        rest = next;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_LINES {
            return Err(format!(
                "the request has more than {MAX_PROOF_LINES} consistency proof lines"
            ));
        }
        let hash: Hash = BASE64
            .decode(line)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| {
                format!(
                    "consistency proof line {} is not the padded base64 of a 32-byte hash",
                    proof.len() + 1
                )
            })?;
        proof.push(hash);
    }
    Ok(Request {
        old,
        proof,
        note: rest,
    })
}

fn lock(m: &Mutex<()>) -> std::sync::MutexGuard<'_, ()> {
    // The mutex guards no data, only the order of requests: a panic elsewhere leaves nothing
    // half-updated in memory, and the store is written atomically.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Witness {
    /// A witness signing with `cosigner` and recording tree heads in `store`. It knows no log
    /// until [`Witness::add_log`] is called.
    pub fn new(cosigner: Cosigner, store: impl WitnessStore + 'static) -> Witness {
        Witness {
            cosigner,
            logs: BTreeMap::new(),
            store: Box::new(store),
        }
    }

    /// Trusts `verifier` for checkpoints whose origin is `origin` (usually the key's name, as in
    /// every qwarden log). A log may have several trusted keys (during a key rotation): call this
    /// once for each.
    pub fn add_log(
        &mut self,
        origin: &str,
        verifier: NoteVerifier,
    ) -> Result<(), WitnessSetupError> {
        if origin.is_empty() || origin.bytes().any(|b| b < 0x20) {
            return Err(WitnessSetupError::InvalidOrigin {
                origin: origin.escape_debug().to_string(),
            });
        }
        let log = self
            .logs
            .entry(origin.to_owned())
            .or_insert_with(|| KnownLog {
                verifiers: Vec::new(),
                lock: Mutex::new(()),
            });
        if !log.verifiers.contains(&verifier) {
            log.verifiers.push(verifier);
        }
        Ok(())
    }

    /// The origins of the logs this witness knows.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.logs.keys().map(String::as_str)
    }

    /// The witness's public key, for logs and verifiers to trust.
    pub fn verifier(&self) -> CosignatureVerifier {
        self.cosigner.verifier()
    }

    /// The latest tree head recorded for `origin`.
    pub fn latest(&self, origin: &str) -> Result<Option<TreeHead>, StoreError> {
        self.store.load(origin)
    }

    /// Handles the body of a `POST <prefix>/add-checkpoint` at time `now_unix` (POSIX seconds,
    /// the cosignature's timestamp). See the [module documentation](self) for every answer.
    pub fn add_checkpoint(&self, body: &[u8], now_unix: u64) -> Response {
        let request = match parse_request(body) {
            Ok(r) => r,
            Err(message) => return Response::text(400, message),
        };
        let note = match Note::parse(request.note) {
            Ok(n) => n,
            Err(e) => {
                return Response::text(400, format!("the checkpoint is not a signed note: {e}"));
            }
        };
        // The origin is read before the signature is checked only to find the keys to check it
        // with; nothing else in the text is used until the signature verifies.
        let checkpoint = match Checkpoint::parse(note.text()) {
            Ok(c) => c,
            Err(e) => return Response::text(400, format!("the checkpoint is malformed: {e}")),
        };
        let Some(log) = self.logs.get(&checkpoint.origin) else {
            return Response::text(
                404,
                format!(
                    "this witness does not know the log `{}`; its operator must add the log's \
                     origin and verifier key",
                    checkpoint.origin.escape_debug()
                ),
            );
        };
        if let Err(e) = note.verify(&log.verifiers) {
            return Response::text(
                403,
                format!(
                    "the checkpoint carries no valid signature from a key this witness trusts \
                     for `{}`: {e}",
                    checkpoint.origin.escape_debug()
                ),
            );
        }
        if request.old > checkpoint.size {
            return Response::text(
                400,
                format!(
                    "the old size {} is larger than the checkpoint's size {}",
                    request.old, checkpoint.size
                ),
            );
        }

        let _guard = lock(&log.lock);
        let stored = match self.store.load(&checkpoint.origin) {
            Ok(s) => s,
            Err(e) => {
                return Response::text(500, format!("the witness cannot read its state: {e}"));
            }
        };
        // A log never cosigned is, for consistency purposes, the empty tree.
        let (stored_size, stored_root) =
            stored.map_or((0, merkle::empty_root()), |h| (h.size, h.root));
        if request.old != stored_size {
            return Response::conflict_size(stored_size);
        }
        if checkpoint.size == stored_size {
            if !request.proof.is_empty() {
                return Response::text(
                    422,
                    "the consistency proof between two checkpoints of the same size must be empty",
                );
            }
            if checkpoint.root != stored_root {
                return Response::text(
                    409,
                    format!(
                        "the checkpoint has the size {stored_size} this witness cosigned, but \
                         another root hash: the log has forked, and this witness will not \
                         cosign the new branch"
                    ),
                );
            }
        } else if let Err(e) = merkle::verify_consistency(
            stored_size,
            checkpoint.size,
            &stored_root,
            &checkpoint.root,
            &request.proof,
        ) {
            return Response::text(
                422,
                format!(
                    "the consistency proof from size {stored_size} to {} does not verify: {e}",
                    checkpoint.size
                ),
            );
        }

        let line = match self.cosigner.cosign(note.text(), now_unix) {
            Ok(l) => l,
            Err(e) => return Response::text(500, format!("the witness cannot cosign: {e}")),
        };
        let head = TreeHead {
            size: checkpoint.size,
            root: checkpoint.root,
        };
        // Persist before answering; re-cosigning the recorded tree head changes nothing.
        if stored != Some(head)
            && let Err(e) = self.store.save(&checkpoint.origin, &head, request.note)
        {
            return Response::text(
                500,
                format!("the witness cannot record the checkpoint: {e}"),
            );
        }
        Response {
            status: 200,
            content_type: CONTENT_TYPE_TEXT,
            body: line.into_bytes(),
        }
    }
}

/// Why a witness could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessSetupError {
    /// A log origin is empty or contains a control character, so no checkpoint can carry it.
    #[error(
        "`{origin}` cannot be a log origin: it must be non-empty and have no control characters"
    )]
    InvalidOrigin {
        /// The rejected origin, escaped.
        origin: String,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn request_parsing() {
        let h = BASE64.encode([7u8; 32]);
        let body = format!("old 3\n{h}\n{h}\n\nnote");
        let r = parse_request(body.as_bytes()).unwrap();
        assert_eq!((r.old, r.proof.len(), r.note), (3, 2, &b"note"[..]));
        for bad in [
            "",
            "old 3",
            "old 03\n\n",
            "old -1\n\n",
            "new 3\n\n",
            "old 3\n",
            "old 3\nAAAA\n\n",
            "old 3\n not base64\n\n",
        ] {
            assert!(parse_request(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let too_many = format!("old 1\n{}\n", format!("{h}\n").repeat(64));
        assert!(parse_request(too_many.as_bytes()).is_err());
        let max = format!("old 1\n{}\n", format!("{h}\n").repeat(63));
        assert_eq!(parse_request(max.as_bytes()).unwrap().proof.len(), 63);
    }
}
