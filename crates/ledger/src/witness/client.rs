//! Pushing a ledger's checkpoints to witnesses, and reading back how far the ledger is anchored.
//!
//! [`push`] submits the ledger's latest checkpoint to one witness with a consistency proof from
//! the size that witness last cosigned (remembered in `<ledger>/witness/<name>.size`), checks
//! the cosignature it returns against the witness's key, and adds it to the kept checkpoint
//! `<ledger>/checkpoints/<size>`, which stays a valid signed note: the log's signature line
//! followed by one cosignature line per witness. If only `checkpoint` names that size, the
//! cosigned copy is what makes it kept.
//!
//! [`anchors`] and [`anchored`] read those files back: a kept checkpoint is anchored when it
//! carries the log's valid signature and a valid cosignature from a trusted witness. Since a
//! witness refuses to cosign anything that does not extend what it cosigned before, the log can
//! no longer shrink below an anchored size unnoticed: [`truncation`] reports a latest checkpoint
//! smaller than the largest anchored one, and [`push`] fails when a witness reports a size
//! larger than the ledger's.
//!
//! Transport: plain `http://host:port/prefix` URLs only. An `https://` witness is refused with
//! [`WitnessError::TlsNotSupported`] until TLS support lands; meanwhile reach a TLS witness
//! through a local TLS-terminating tunnel. The payload is public and the answer is verified
//! against the witness key, so plain HTTP exposes the push to denial of service, not to forgery.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;

use crate::checkpoint::{self, CheckpointError};
use crate::cosignature::CosignatureVerifier;
use crate::log::DirTiles;
use crate::merkle::{self, Hash, MerkleError};
use crate::note::{Note, NoteVerifier};
use crate::tiles::TileHashes;

use super::{
    ADD_CHECKPOINT_PATH, CONTENT_TYPE_SIZE, CONTENT_TYPE_TEXT, IoFailure, escape_file_name,
    parse_decimal, write_durably,
};

/// How long one exchange with a witness (connect, send, receive) may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest witness answer read.
const MAX_RESPONSE: usize = 64 * 1024;

/// A witness a ledger pushes its checkpoints to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessConfig {
    /// A local name for the witness (it names `<ledger>/witness/<name>.size`); usually the key's
    /// name.
    pub name: String,
    /// The submission prefix as a URL, `http://host:port/prefix`; `add-checkpoint` is appended.
    pub url: String,
    /// The witness's cosignature key (a `tlog-cosignature` vkey, type `0x04`).
    pub verifier: CosignatureVerifier,
}

/// What a successful [`push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The size of the checkpoint now cosigned.
    pub size: u64,
    /// The size the witness had cosigned before (the proof's old size).
    pub previous_size: u64,
    /// The cosignature's timestamp (POSIX seconds).
    pub timestamp: u64,
    /// The kept checkpoint the cosignature was added to.
    pub checkpoint_path: PathBuf,
    /// The size the witness reported in a `409` answer and the push adopted, if it did.
    pub adopted_size: Option<u64>,
}

/// A kept checkpoint carrying valid cosignatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The tree size.
    pub size: u64,
    /// The root hash the witnesses cosigned: check it against the tree recomputed from the
    /// entries.
    pub root: Hash,
    /// The witnesses whose cosignature verified, with each cosignature's timestamp.
    pub witnesses: Vec<(String, u64)>,
    /// The kept checkpoint file.
    pub path: PathBuf,
}

/// The ledger's latest checkpoint is smaller than a size witnesses cosigned: entries the
/// witnesses saw are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The size of the latest checkpoint (0 if there is none).
    pub latest_size: u64,
    /// The largest anchored size.
    pub anchored_size: u64,
    /// The witnesses that cosigned the anchored size.
    pub witnesses: Vec<String>,
}

/// Why pushing to a witness, or reading anchors, failed.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The witness URL does not parse or is not `http://host[:port][/prefix]`.
    #[error("the witness URL `{url}` is invalid: {reason}; expected `http://host:port/prefix`")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The witness URL is `https://`.
    #[error(
        "the witness URL `{url}` uses https, and TLS witnesses are not supported yet; use an \
         `http://` URL (for example through a local TLS tunnel to the witness)"
    )]
    TlsNotSupported {
        /// The URL as configured.
        url: String,
    },
    /// [`push`] was called from inside an async runtime, where it would block the runtime.
    #[error(
        "pushing to a witness blocks, and was called from inside an async task; run it with \
         `tokio::task::spawn_blocking`"
    )]
    InsideRuntime,
    /// The small runtime that drives the HTTP exchange could not start.
    #[error("cannot start the network runtime to reach the witness: {0}")]
    Runtime(std::io::Error),
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
    /// The ledger has no entries, so no checkpoint worth pushing.
    #[error("the ledger at `{dir}` has no entries yet; there is nothing to witness")]
    NoCheckpoint {
        /// The ledger directory.
        dir: PathBuf,
    },
    /// A checkpoint file of the ledger does not open with the log's key.
    #[error(
        "the checkpoint `{path}` does not verify with the log's key: {source}\n  hint: run \
         `qwarden audit verify`; nothing was sent to the witness"
    )]
    InvalidCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Why it was rejected.
        source: CheckpointError,
    },
    /// A kept checkpoint of the latest size is not the latest checkpoint.
    #[error(
        "the kept checkpoint `{path}` has the latest checkpoint's size but other contents: the \
         log has forked\n  hint: run `qwarden audit verify`; nothing was sent to the witness"
    )]
    KeptCheckpointDiffers {
        /// The kept checkpoint.
        path: PathBuf,
    },
    /// A local record of a witness's size is not a decimal number.
    #[error("the witness record `{path}` is not a size in decimal; delete it to start from 0")]
    BadRecord {
        /// The record.
        path: PathBuf,
    },
    /// The consistency proof could not be computed from the ledger's tiles.
    #[error(
        "cannot compute the consistency proof from size {old} to {new} from the ledger's tiles: \
         {source}\n  hint: run `qwarden audit verify`"
    )]
    Proof {
        /// The witness's size.
        old: u64,
        /// The ledger's size.
        new: u64,
        /// Why.
        source: MerkleError,
    },
    /// The witness has cosigned a larger tree of this log than the ledger holds now.
    #[error(
        "the witness `{witness}` has cosigned size {witnessed} of this log, but the ledger's \
         latest checkpoint is size {size}: the log was truncated or rolled back after it was \
         witnessed\n  hint: run `qwarden audit verify` and restore the ledger from a backup"
    )]
    WitnessAhead {
        /// The witness.
        witness: String,
        /// The size it cosigned.
        witnessed: u64,
        /// The ledger's size.
        size: u64,
    },
    /// The witness could not be reached.
    #[error("cannot reach the witness at `{url}`: {reason}")]
    Connect {
        /// The witness URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The witness did not answer in time.
    #[error("the witness at `{url}` did not answer within {} seconds", .after.as_secs())]
    Timeout {
        /// The witness URL.
        url: String,
        /// The time allowed.
        after: Duration,
    },
    /// The witness refused the checkpoint.
    #[error("the witness `{witness}` refused the checkpoint ({status}): {message}{}", hint(*.status))]
    Rejected {
        /// The witness.
        witness: String,
        /// The HTTP status code.
        status: u16,
        /// The witness's explanation.
        message: String,
    },
    /// The witness kept answering `409` with a size the proof did not start from.
    #[error(
        "the witness `{witness}` reports size {reported} for this log after a proof from size \
         {old}; another client may be pushing this log at the same time: try again"
    )]
    Conflict {
        /// The witness.
        witness: String,
        /// The size it reported.
        reported: u64,
        /// The size the proof started from.
        old: u64,
    },
    /// The witness's answer is not a valid cosignature by its key.
    #[error("the witness `{witness}` answered with an invalid cosignature: {reason}")]
    BadCosignature {
        /// The witness.
        witness: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<IoFailure> for WitnessError {
    fn from(e: IoFailure) -> WitnessError {
        WitnessError::Io {
            action: e.action,
            path: e.path,
            source: e.source,
        }
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        403 => {
            "\n  hint: the witness does not trust this log's key; give its operator the key in \
             `log.vkey`"
        }
        404 => {
            "\n  hint: the witness does not know this log; give its operator the origin and the \
             key in `log.vkey`"
        }
        409 => {
            "\n  hint: the witness holds another checkpoint of the same size: the log has \
             forked; run `qwarden audit verify`"
        }
        422 => {
            "\n  hint: the log does not extend what the witness cosigned before: it was \
             rewritten or forked; run `qwarden audit verify`"
        }
        413 => "\n  hint: the witness's request size limit is too small for this checkpoint",
        _ => "",
    }
}

/// Where to send `add-checkpoint`.
struct Target {
    url: String,
    /// `host:port` to connect to.
    connect: String,
    /// The `Host` header.
    host: String,
    /// The request path.
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, WitnessError> {
        let bad = |reason| WitnessError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url
            .parse()
            .map_err(|_| bad("it is not a valid absolute URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(WitnessError::TlsNotSupported {
                    url: url.to_owned(),
                });
            }
            Some(_) => return Err(bad("the scheme must be `http`")),
            None => return Err(bad("it has no `http://` scheme")),
        }
        let authority = uri.authority().ok_or(bad("it has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("it must not carry a user name or password"));
        }
        if authority.host().is_empty() {
            return Err(bad("it has no host"));
        }
        if uri.query().is_some() {
            return Err(bad("it must not have a query"));
        }
        let port = authority.port_u16().unwrap_or(80);
        let prefix = uri.path().trim_end_matches('/');
        Ok(Target {
            url: url.to_owned(),
            connect: format!("{}:{port}", authority.host()),
            host: authority.as_str().to_owned(),
            path: format!("{prefix}{ADD_CHECKPOINT_PATH}"),
        })
    }
}

/// A witness's answer.
struct Answer {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

async fn post(target: &Target, body: Vec<u8>) -> Result<Answer, WitnessError> {
    let connect_err = |reason: String| WitnessError::Connect {
        url: target.url.clone(),
        reason,
    };
    let stream = tokio::net::TcpStream::connect(&target.connect)
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let driver = tokio::spawn(connection);
    let mut request = Request::new(Full::new(Bytes::from(body)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = target
        .path
        .parse()
        .map_err(|_| connect_err("the URL path is not valid".to_owned()))?;
    let headers = request.headers_mut();
    headers.insert(
        header::HOST,
        HeaderValue::from_str(&target.host)
            .map_err(|_| connect_err("the host is not a valid header".to_owned()))?,
    );
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE_TEXT),
    );
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = Limited::new(response.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| connect_err(format!("cannot read the answer: {e}")))?
        .to_bytes()
        .to_vec();
    drop(sender);
    driver.abort();
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

/// Sends one request on a fresh current-thread runtime, within [`CLIENT_TIMEOUT`].
fn exchange(target: &Target, body: Vec<u8>) -> Result<Answer, WitnessError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(WitnessError::Runtime)?;
    runtime.block_on(async {
        tokio::time::timeout(CLIENT_TIMEOUT, post(target, body))
            .await
            .map_err(|_| WitnessError::Timeout {
                url: target.url.clone(),
                after: CLIENT_TIMEOUT,
            })?
    })
}

/// Holds the ledger's append lock (`<ledger>/lock`, shared with [`crate::log::Ledger`]).
fn lock_ledger(dir: &Path) -> Result<File, WitnessError> {
    let path = dir.join("lock");
    // As the writer does: a FIFO or symlink planted as the lock must not hang or redirect us.
    if let Ok(meta) = std::fs::symlink_metadata(&path)
        && !meta.file_type().is_file()
    {
        return Err(IoFailure::on("lock", &path)(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "`lock` is not a regular file",
        ))
        .into());
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(IoFailure::on("open", &path))?;
    file.lock().map_err(IoFailure::on("lock", &path))?;
    Ok(file)
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, WitnessError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoFailure::on("read", path)(e).into()),
    }
}

/// A checkpoint ready to submit.
struct Prepared {
    size: u64,
    /// The checkpoint text (the note body).
    text: String,
    /// The request body.
    body: Vec<u8>,
    /// The signed checkpoint the cosignature is added to (the kept one if any).
    note: Vec<u8>,
}

/// Reads the latest checkpoint and computes the proof from `old`, under the ledger's lock so
/// that no append replaces the tiles meanwhile.
fn prepare(
    dir: &Path,
    log: &NoteVerifier,
    witness: &str,
    old: u64,
) -> Result<Prepared, WitnessError> {
    let _lock = lock_ledger(dir)?;
    let latest_path = dir.join("checkpoint");
    let latest = read_optional(&latest_path)?.ok_or_else(|| WitnessError::NoCheckpoint {
        dir: dir.to_path_buf(),
    })?;
    let (cp, note) =
        checkpoint::open(&latest, log).map_err(|source| WitnessError::InvalidCheckpoint {
            path: latest_path,
            source,
        })?;
    // An empty log (its first checkpoint, of size 0) has nothing to witness.
    if cp.size == 0 {
        return Err(WitnessError::NoCheckpoint {
            dir: dir.to_path_buf(),
        });
    }
    let kept_path = kept_path(dir, cp.size);
    let submitted = match read_optional(&kept_path)? {
        Some(kept) => {
            let (_, kept_note) =
                checkpoint::open(&kept, log).map_err(|source| WitnessError::InvalidCheckpoint {
                    path: kept_path.clone(),
                    source,
                })?;
            if kept_note.text() != note.text() {
                return Err(WitnessError::KeptCheckpointDiffers { path: kept_path });
            }
            kept
        }
        None => latest,
    };
    if old > cp.size {
        return Err(WitnessError::WitnessAhead {
            witness: witness.to_owned(),
            witnessed: old,
            size: cp.size,
        });
    }
    let proof =
        merkle::consistency_proof(&TileHashes::new(DirTiles::new(dir), cp.size), old, cp.size)
            .map_err(|source| WitnessError::Proof {
                old,
                new: cp.size,
                source,
            })?;
    let mut body = format!("old {old}\n").into_bytes();
    for hash in &proof {
        body.extend_from_slice(base64_line(hash).as_bytes());
    }
    body.push(b'\n');
    body.extend_from_slice(&submitted);
    Ok(Prepared {
        size: cp.size,
        text: note.text().to_owned(),
        body,
        note: submitted,
    })
}

fn base64_line(hash: &Hash) -> String {
    use base64::Engine as _;
    format!(
        "{}\n",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

fn kept_path(dir: &Path, size: u64) -> PathBuf {
    dir.join("checkpoints").join(size.to_string())
}

/// Checks the witness's `200` answer: signature lines, one of which is a valid cosignature of
/// `text` by `verifier`. Returns that line and its timestamp.
fn check_answer(
    text: &str,
    answer: &[u8],
    witness: &WitnessConfig,
) -> Result<(String, u64), WitnessError> {
    let bad = |reason: String| WitnessError::BadCosignature {
        witness: witness.name.clone(),
        reason,
    };
    // As the specification suggests: append the answer to the checkpoint text and verify the
    // result as a note; lines from other keys are ignored.
    let mut note = Vec::with_capacity(text.len() + 1 + answer.len());
    note.extend_from_slice(text.as_bytes());
    note.push(b'\n');
    note.extend_from_slice(answer);
    let note = Note::parse(&note).map_err(|e| bad(e.to_string()))?;
    let timestamp = witness
        .verifier
        .verify(&note)
        .map_err(|e| bad(e.to_string()))?;
    let line = note
        .signatures()
        .iter()
        .find(|s| s.name() == witness.verifier.name() && s.key_id() == witness.verifier.key_id())
        .map(|s| s.to_line())
        .ok_or_else(|| bad("it carries no line from the witness key".to_owned()))?;
    Ok((line, timestamp))
}

/// Adds (or replaces) the witness's cosignature line in the kept checkpoint of `prepared.size`,
/// under the ledger's lock, and checks the result is still a valid signed checkpoint.
fn keep_cosigned(
    dir: &Path,
    log: &NoteVerifier,
    prepared: &Prepared,
    witness: &WitnessConfig,
    line: &str,
) -> Result<PathBuf, WitnessError> {
    let _lock = lock_ledger(dir)?;
    let path = kept_path(dir, prepared.size);
    // Re-read under the lock: another push may have added its cosignature meanwhile.
    let base = read_optional(&path)?.unwrap_or_else(|| prepared.note.clone());
    let invalid = |source| WitnessError::InvalidCheckpoint {
        path: path.clone(),
        source,
    };
    let (_, note) = checkpoint::open(&base, log).map_err(invalid)?;
    if note.text() != prepared.text {
        return Err(WitnessError::KeptCheckpointDiffers { path });
    }
    let mut out = Vec::with_capacity(base.len() + line.len());
    out.extend_from_slice(note.text().as_bytes());
    out.push(b'\n');
    for sig in note.signatures() {
        let same_key =
            sig.name() == witness.verifier.name() && sig.key_id() == witness.verifier.key_id();
        if !same_key {
            out.extend_from_slice(sig.to_line().as_bytes());
        }
    }
    out.extend_from_slice(line.as_bytes());
    let (_, cosigned) = checkpoint::open(&out, log).map_err(invalid)?;
    witness
        .verifier
        .verify(&cosigned)
        .map_err(|e| WitnessError::BadCosignature {
            witness: witness.name.clone(),
            reason: e.to_string(),
        })?;
    fs::create_dir_all(dir.join("checkpoints"))
        .map_err(IoFailure::on("create", &dir.join("checkpoints")))?;
    write_durably(&path, &out)?;
    Ok(path)
}

/// The file remembering the size `witness` last cosigned.
fn record_path(dir: &Path, witness: &str) -> PathBuf {
    dir.join("witness")
        .join(format!("{}.size", escape_file_name(witness)))
}

fn read_record(path: &Path) -> Result<u64, WitnessError> {
    match read_optional(path)? {
        None => Ok(0),
        Some(bytes) => bytes
            .strip_suffix(b"\n")
            .and_then(parse_decimal)
            .ok_or_else(|| WitnessError::BadRecord {
                path: path.to_path_buf(),
            }),
    }
}

fn write_record(path: &Path, size: u64) -> Result<(), WitnessError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(IoFailure::on("create", parent))?;
    }
    Ok(write_durably(path, format!("{size}\n").as_bytes())?)
}

/// Pushes the ledger's latest checkpoint in `ledger_dir` (signed by `log`) to `witness`, and
/// adds the returned cosignature to the kept checkpoint `checkpoints/<size>`.
///
/// The proof starts at the size the witness last cosigned, as remembered in
/// `<ledger_dir>/witness/<name>.size` (0 at first). If the witness answers `409` with another
/// size, that size is adopted and the push retried once. A witness size larger than the
/// ledger's is reported as [`WitnessError::WitnessAhead`]: the log was truncated.
///
/// This blocks (it runs its own small runtime): from async code, call it through
/// `tokio::task::spawn_blocking`. Only `http://` URLs are supported.
pub fn push(
    ledger_dir: &Path,
    log: &NoteVerifier,
    witness: &WitnessConfig,
) -> Result<PushOutcome, WitnessError> {
    let target = Target::parse(&witness.url)?;
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(WitnessError::InsideRuntime);
    }
    let record = record_path(ledger_dir, &witness.name);
    let mut old = read_record(&record)?;
    let mut adopted_size = None;
    loop {
        let prepared = prepare(ledger_dir, log, &witness.name, old)?;
        let answer = exchange(&target, prepared.body.clone())?;
        let size_answer = answer.content_type.as_deref() == Some(CONTENT_TYPE_SIZE);
        match answer.status {
            200 => {
                let (line, timestamp) = check_answer(&prepared.text, &answer.body, witness)?;
                let checkpoint_path = keep_cosigned(ledger_dir, log, &prepared, witness, &line)?;
                write_record(&record, prepared.size)?;
                return Ok(PushOutcome {
                    size: prepared.size,
                    previous_size: old,
                    timestamp,
                    checkpoint_path,
                    adopted_size,
                });
            }
            409 if size_answer => {
                let reported = answer
                    .body
                    .strip_suffix(b"\n")
                    .and_then(parse_decimal)
                    .ok_or_else(|| WitnessError::BadCosignature {
                        witness: witness.name.clone(),
                        reason: "its 409 answer is not a size in decimal".to_owned(),
                    })?;
                if reported > prepared.size {
                    return Err(WitnessError::WitnessAhead {
                        witness: witness.name.clone(),
                        witnessed: reported,
                        size: prepared.size,
                    });
                }
                if reported == old || adopted_size.is_some() {
                    return Err(WitnessError::Conflict {
                        witness: witness.name.clone(),
                        reported,
                        old,
                    });
                }
                write_record(&record, reported)?;
                old = reported;
                adopted_size = Some(reported);
            }
            _ => return Err(rejected(witness, &answer)),
        }
    }
}

fn rejected(witness: &WitnessConfig, answer: &Answer) -> WitnessError {
    let message = String::from_utf8_lossy(&answer.body).trim_end().to_owned();
    WitnessError::Rejected {
        witness: witness.name.clone(),
        status: answer.status,
        message: if message.is_empty() {
            "no explanation given".to_owned()
        } else {
            message
        },
    }
}

/// The kept checkpoints of the ledger in `ledger_dir` that carry the log's valid signature and
/// a valid cosignature from at least one of `witnesses`, smallest first.
///
/// Kept checkpoints that do not verify are skipped: finding them is `audit verify`'s job.
/// Callers should check each anchor's root against the tree they recompute.
pub fn anchors(
    ledger_dir: &Path,
    log: &NoteVerifier,
    witnesses: &[CosignatureVerifier],
) -> Result<Vec<Anchor>, WitnessError> {
    let dir = ledger_dir.join("checkpoints");
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(IoFailure::on("list", &dir)(e).into()),
    };
    let mut anchors = Vec::new();
    for entry in entries {
        let entry = entry.map_err(IoFailure::on("list", &dir))?;
        let name = entry.file_name();
        let Some(size) = name.to_str().and_then(|n| parse_decimal(n.as_bytes())) else {
            continue;
        };
        let path = entry.path();
        let Some(bytes) = read_optional(&path)? else {
            continue;
        };
        let Ok((cp, note)) = checkpoint::open(&bytes, log) else {
            continue;
        };
        if cp.size != size {
            continue;
        }
        let cosigned: Vec<(String, u64)> = witnesses
            .iter()
            .filter_map(|w| w.verify(&note).ok().map(|t| (w.name().to_owned(), t)))
            .collect();
        if !cosigned.is_empty() {
            anchors.push(Anchor {
                size,
                root: cp.root,
                witnesses: cosigned,
                path,
            });
        }
    }
    anchors.sort_by_key(|a| a.size);
    Ok(anchors)
}

/// The largest size of the ledger in `ledger_dir` that one of `witnesses` cosigned, if any:
/// what `audit verify` reports as "anchored up to size S". Unreadable files count as not
/// anchored; use [`anchors`] to see errors.
pub fn anchored(
    ledger_dir: &Path,
    log: &NoteVerifier,
    witnesses: &[CosignatureVerifier],
) -> Option<u64> {
    anchors(ledger_dir, log, witnesses)
        .ok()?
        .last()
        .map(|a| a.size)
}

/// Whether the ledger's latest checkpoint (`checkpoint`, size 0 if missing) is smaller than the
/// largest anchored size: entries that witnesses saw have been removed.
pub fn truncation(
    ledger_dir: &Path,
    log: &NoteVerifier,
    witnesses: &[CosignatureVerifier],
) -> Result<Option<Truncation>, WitnessError> {
    let Some(anchor) = anchors(ledger_dir, log, witnesses)?.pop() else {
        return Ok(None);
    };
    let latest_path = ledger_dir.join("checkpoint");
    let latest_size = match read_optional(&latest_path)? {
        None => 0,
        Some(bytes) => {
            checkpoint::open(&bytes, log)
                .map_err(|source| WitnessError::InvalidCheckpoint {
                    path: latest_path,
                    source,
                })?
                .0
                .size
        }
    };
    if latest_size >= anchor.size {
        return Ok(None);
    }
    Ok(Some(Truncation {
        latest_size,
        anchored_size: anchor.size,
        witnesses: anchor.witnesses.into_iter().map(|(name, _)| name).collect(),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("http://127.0.0.1:8080/witness/").unwrap();
        assert_eq!(
            (t.connect.as_str(), t.host.as_str(), t.path.as_str()),
            (
                "127.0.0.1:8080",
                "127.0.0.1:8080",
                "/witness/add-checkpoint"
            )
        );
        let t = Target::parse("http://w.example").unwrap();
        assert_eq!(
            (t.connect.as_str(), t.path.as_str()),
            ("w.example:80", "/add-checkpoint")
        );
        let t = Target::parse("http://[::1]:9/p").unwrap();
        assert_eq!(t.connect, "[::1]:9");
        assert!(matches!(
            Target::parse("https://w.example/"),
            Err(WitnessError::TlsNotSupported { .. })
        ));
        for bad in [
            "w.example",
            "ftp://w.example/",
            "http://u:p@w.example/",
            "http://w.example/?q",
            "/relative",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(WitnessError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }
}
