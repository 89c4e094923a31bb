//! A search index over the ledger: which entries belong to which session and kind, and when.
//!
//! The index is a convenience, never evidence. It records the tree size and root it was built
//! for; when the log has grown it is extended, and when that root no longer matches the log it is
//! rebuilt from the entries. Results are re-read from the log and re-checked against the query,
//! so an edited index cannot add anything; and the file carries an HMAC keyed by a secret derived
//! from the log's signing key, so an edited index (one that would hide entries by mislabelling
//! them) is detected and rebuilt. Without the key — a copy of the ledger checked elsewhere — the
//! index is built in memory on every search. It lives in `index/entries.tsv` inside the ledger
//! directory and can be deleted at any time.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::event::{Event, Kind};
use crate::merkle::{self, Hash};
use crate::reader::{LogReader, ReadError};

const HEADER: &str = "qwarden-ledger-index v1";

/// One indexed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The entry's index in the log.
    pub index: u64,
    /// Its kind (`None` if the entry is not a valid event).
    pub kind: Option<Kind>,
    /// Its session.
    pub session: Option<String>,
    /// Its time in Unix nanoseconds.
    pub time: i128,
}

/// What to search for; absent fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Only this session.
    pub session: Option<String>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only entries at or after this time (Unix nanoseconds).
    pub since: Option<i128>,
}

impl Query {
    fn matches(&self, kind: Option<Kind>, session: Option<&str>, time: i128) -> bool {
        self.kind.is_none_or(|k| kind == Some(k))
            && self.session.as_deref().is_none_or(|s| session == Some(s))
            && self.since.is_none_or(|t| time >= t)
    }
}

/// The index for one log.
#[derive(Debug, Clone)]
pub struct Index {
    path: PathBuf,
    size: u64,
    root: Hash,
    rows: Vec<Row>,
}

impl Index {
    /// Loads the index of the log `reader` reads, extending or rebuilding it as needed. With the
    /// index key (see [`index_key`]) a stored index is used only if its HMAC verifies, and the
    /// updated one is saved back; without it the index is built in memory.
    pub fn update(
        dir: &Path,
        reader: &LogReader,
        key: Option<&IndexKey>,
    ) -> Result<Index, ReadError> {
        let path = dir.join("index").join("entries.tsv");
        let stored = key.and_then(|k| {
            fs::read_to_string(&path)
                .ok()
                .and_then(|t| authenticated(k, &t))
        });
        let mut index = match stored.and_then(|t| parse(&path, &t)) {
            Some(i) if i.size <= reader.size() && root_at(reader, i.size) == Some(i.root) => i,
            _ => Index {
                path: path.clone(),
                size: 0,
                root: merkle::empty_root(),
                rows: Vec::new(),
            },
        };
        if index.size < reader.size() {
            for item in reader.entries(index.size, reader.size()) {
                let (i, bytes) = item?;
                index.rows.push(row(i, &bytes));
            }
            index.size = reader.size();
            index.root = reader.checkpoint().root;
            if let Some(k) = key {
                // A failed save only costs the next search a rebuild.
                let _ = index.save(k);
            }
        }
        Ok(index)
    }

    /// Entries matching `query`, re-read from the log and re-checked (the index only narrows).
    pub fn search<'a>(
        &'a self,
        reader: &'a LogReader,
        query: &'a Query,
    ) -> impl Iterator<Item = Result<(u64, Vec<u8>), ReadError>> + 'a {
        self.rows
            .iter()
            .filter(|r| query.matches(r.kind, r.session.as_deref(), r.time))
            .filter_map(move |r| match reader.entry(r.index) {
                Err(e) => Some(Err(e)),
                Ok(bytes) => {
                    let fresh = row(r.index, &bytes);
                    query
                        .matches(fresh.kind, fresh.session.as_deref(), fresh.time)
                        .then_some(Ok((r.index, bytes)))
                }
            })
    }

    /// Entries the index covers.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn save(&self, key: &IndexKey) -> std::io::Result<()> {
        let mut text = format!("{HEADER}\t{}\t{}\n", self.size, hex::encode(self.root));
        for r in &self.rows {
            let kind = r.kind.map_or("-", Kind::as_str);
            // Hex, so no session id (a `-`, a tab) can be mistaken for another.
            let session = r
                .session
                .as_deref()
                .map_or_else(|| "-".to_owned(), hex::encode);
            let _ = writeln!(text, "{}\t{kind}\t{session}\t{}", r.index, r.time);
        }
        let mac = hmac(key, text.as_bytes());
        text.push_str(&format!("mac\t{}\n", hex::encode(mac)));
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".entries.tsv.{}", std::process::id()));
        fs::write(&tmp, text)?;
        fs::rename(&tmp, &self.path)
    }
}

/// The secret that authenticates a stored index.
#[derive(Clone)]
pub struct IndexKey([u8; 32]);

impl std::fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexKey(<redacted>)")
    }
}

/// Derives the index key from the log's private key text (`NoteSigner::to_skey`): whoever may
/// sign the log may vouch for its index.
pub fn index_key(skey: &str) -> IndexKey {
    let mut h = Sha256::new();
    h.update(b"qwarden ledger index key v1\n");
    h.update(skey.as_bytes());
    IndexKey(h.finalize().into())
}

/// HMAC-SHA-256 (RFC 2104).
fn hmac(key: &IndexKey, message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    for (b, k) in block.iter_mut().zip(key.0) {
        *b = k;
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner: [u8; 32] = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize()
        .into();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The index text without its MAC line, if the MAC verifies (compared in constant time).
fn authenticated(key: &IndexKey, text: &str) -> Option<String> {
    let body_end = text.trim_end_matches('\n').rfind('\n')? + 1;
    let (body, mac_line) = text.split_at(body_end);
    let mac = hex::decode(mac_line.trim_end().strip_prefix("mac\t")?).ok()?;
    let expected = hmac(key, body.as_bytes());
    let diff = mac
        .iter()
        .zip(expected.iter())
        .fold(u8::from(mac.len() != 32), |acc, (a, b)| acc | (a ^ b));
    (diff == 0).then(|| body.to_owned())
}

/// The root of the first `size` entries, from the log's tiles.
fn root_at(reader: &LogReader, size: u64) -> Option<Hash> {
    merkle::tree_hash(&reader.hashes(), size).ok()
}

fn row(index: u64, bytes: &[u8]) -> Row {
    match Event::from_jcs(bytes) {
        Ok(e) => Row {
            index,
            kind: Some(e.kind()),
            session: e.session.clone(),
            time: e.time.unix_nanos(),
        },
        Err(_) => Row {
            index,
            kind: None,
            session: None,
            time: 0,
        },
    }
}

/// Reads an index file; anything malformed means "rebuild".
fn parse(path: &Path, text: &str) -> Option<Index> {
    let mut lines = text.lines();
    let mut head = lines.next()?.split('\t');
    if head.next()? != HEADER {
        return None;
    }
    let size: u64 = head.next()?.parse().ok()?;
    let root: Hash = hex::decode(head.next()?).ok()?.try_into().ok()?;
    let mut rows = Vec::new();
    for (expected, line) in lines.enumerate() {
        let mut f = line.split('\t');
        let index: u64 = f.next()?.parse().ok()?;
        if index != expected as u64 {
            return None;
        }
        let kind = match f.next()? {
            "-" => None,
            k => Some(k.parse().ok()?),
        };
        let session = match f.next()? {
            "-" => None,
            s => Some(String::from_utf8(hex::decode(s).ok()?).ok()?),
        };
        let time = f.next()?.parse().ok()?;
        rows.push(Row {
            index,
            kind,
            session,
            time,
        });
    }
    (rows.len() as u64 == size).then(|| Index {
        path: path.to_path_buf(),
        size,
        root,
        rows,
    })
}
