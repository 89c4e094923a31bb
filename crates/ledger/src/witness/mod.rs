//! Witnessing: C2SP `tlog-witness` (<https://c2sp.org/tlog-witness>) with `tlog-cosignature` v1
//! Ed25519 cosignatures.
//!
//! A witness keeps, for each log it knows, the latest checkpoint it cosigned, and cosigns a new
//! checkpoint only if a consistency proof shows that it extends that one. A log that pushes its
//! checkpoints to witnesses can no longer rewrite or truncate what they saw without being caught:
//! the witness refuses the rewritten log, and the cosigned checkpoints it keeps prove how far the
//! log had grown.
//!
//! - [`state`]: the witness's decisions, with storage behind the [`WitnessStore`] trait
//!   ([`FileStore`] keeps one crash-safe file per log). It takes request bytes and the time, and
//!   returns the status, content type and body the specification prescribes.
//! - [`server`]: `qwarden witness serve`, the HTTP/1.1 `add-checkpoint` endpoint.
//! - [`client`]: pushing a ledger's latest checkpoint to a witness and keeping the cosignature
//!   next to it ([`push`]); how far a ledger is anchored ([`anchored`], [`anchors`]) and whether it
//!   was truncated below a witnessed size ([`truncation`]).
//!
//! Only plain `http://` witnesses are supported for now; the payload needs no secrecy (it is a
//! signed checkpoint and a proof) and the answer is checked against the witness key, but a TLS
//! transport is still to come.

pub mod client;
pub mod server;
pub mod state;

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

pub use client::{
    Anchor, CLIENT_TIMEOUT, PushOutcome, Truncation, WitnessConfig, WitnessError, anchored,
    anchors, push, truncation,
};
pub use server::{ServeError, ServerConfig, serve, serve_with};
pub use state::{
    FileStore, Response, StoreError, TreeHead, Witness, WitnessSetupError, WitnessStore,
};

/// The path of the `add-checkpoint` endpoint, after the witness's submission prefix.
pub const ADD_CHECKPOINT_PATH: &str = "/add-checkpoint";

/// The content type of a `409 Conflict` answer, whose body is the witness's size for the log.
pub const CONTENT_TYPE_SIZE: &str = "text/x.tlog.size";

/// The content type of every other answer: cosignature lines, or an error message.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";

/// The largest number of consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// Names longer than this (once escaped) are stored under their SHA-256 instead.
const MAX_ESCAPED_NAME: usize = 180;

/// A file name for `name` (a log origin or a witness name) that is safe on any file system and
/// distinct for distinct names: bytes outside `[a-z0-9_-]` and any `.` that would start the name
/// are written as `%xx` (lower-case hex, so case-insensitive file systems keep names apart). A
/// name that would be too long becomes `~` and the hex SHA-256 of the name; `~` never appears in
/// an escaped name. The result never starts with `.`, so it never collides with temporary files.
pub(crate) fn escape_file_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        let plain = b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || b == b'-'
            || b == b'_'
            || (b == b'.' && i > 0);
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    if out.len() > MAX_ESCAPED_NAME {
        return format!("~{}", hex::encode(Sha256::digest(name.as_bytes())));
    }
    out
}

/// Parses a decimal number the way tlog formats write them: ASCII digits, no sign, no leading
/// zeros (zero is `0`).
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty()
        || !s.iter().all(u8::is_ascii_digit)
        || (s.len() > 1 && s.first() == Some(&b'0'))
    {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// A failed file operation: what was being done, to which file, and why.
#[derive(Debug)]
pub(crate) struct IoFailure {
    pub(crate) action: &'static str,
    pub(crate) path: PathBuf,
    pub(crate) source: std::io::Error,
}

impl IoFailure {
    /// A closure turning an `io::Error` into an `IoFailure` about `path`.
    pub(crate) fn on(
        action: &'static str,
        path: &Path,
    ) -> impl FnOnce(std::io::Error) -> IoFailure {
        let path = path.to_path_buf();
        move |source| IoFailure {
            action,
            path,
            source,
        }
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one: a
/// temporary file in the same directory, fsync, rename, fsync of the directory.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), IoFailure> {
    let to_failure = |s: crate::durable::IoStep| IoFailure {
        action: s.action,
        path: s.path,
        source: s.source,
    };
    crate::durable::replace(path, bytes).map_err(to_failure)?;
    crate::durable::sync_dir(path.parent().unwrap_or_else(|| Path::new("."))).map_err(to_failure)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn escaping_is_safe_and_injective() {
        assert_eq!(escape_file_name("example.com/log"), "example.com%2flog");
        assert_eq!(escape_file_name("Log"), "%4cog");
        assert_eq!(escape_file_name("."), "%2e");
        assert_eq!(escape_file_name(".."), "%2e.");
        assert_eq!(escape_file_name("a%2f"), "a%252f");
        assert_eq!(escape_file_name("a b\u{e9}"), "a%20b%c3%a9");
        let long = "x".repeat(500);
        let escaped = escape_file_name(&long);
        assert!(escaped.starts_with('~') && escaped.len() == 65);
        for name in ["a/b", "a\\b", "..", "x\0y", "a:b"] {
            let e = escape_file_name(name);
            assert!(
                !e.contains('/') && !e.contains('\\') && !e.starts_with('.'),
                "{e}"
            );
        }
    }

    #[test]
    fn decimal_rules() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"00",
            b"01",
            b"+1",
            b"-1",
            b" 1",
            b"18446744073709551616",
        ] {
            assert_eq!(parse_decimal(bad), None);
        }
    }
}
