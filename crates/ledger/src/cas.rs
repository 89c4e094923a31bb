//! The content-addressed store (CAS) for payloads too large to live in a log entry.
//!
//! A blob is named by the SHA-256 of its bytes, written `sha256:<64 lower-case hex digits>`
//! ([`Digest`]). The log entry that refers to a blob carries that digest, so the log's Merkle
//! tree covers the blob too: a blob that was changed no longer hashes to its name, and [`get`]
//! says so instead of returning it.
//!
//! On disk ([`DirCas`]) a blob lives at `<dir>/sha256/<first 2 hex digits>/<other 62>`. A write
//! goes to a temporary file (`.tmp-…`) in that same directory, is flushed with `fsync`, renamed
//! into place and the directory is `fsync`ed, so after a crash a blob is either absent or
//! complete, never half-written. Writing a blob that is already present and intact does nothing;
//! one that is present but damaged is replaced by the good bytes. [`DirCas::verify_all`] walks
//! the whole store and reports every damaged blob, leftover temporary file and foreign file.
//!
//! [`MemCas`] keeps blobs in memory, for tests and dry runs.
//!
//! [`get`]: BlobStore::get

use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The prefix of every digest's text form.
pub const DIGEST_PREFIX: &str = "sha256:";

/// The name of the one directory of blobs under a [`DirCas`] root.
const ALGORITHM_DIR: &str = "sha256";

/// The prefix of temporary files; never a valid blob name (those are hex only).
const TEMP_PREFIX: &str = ".tmp-";

/// A SHA-256 digest, written `sha256:<64 lower-case hex digits>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// A digest from its 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    /// The 32 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lower-case hex digits, without the `sha256:` prefix.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 lower-case hex digits without the prefix.
    pub fn from_hex(hex_digits: &str) -> Result<Digest, DigestError> {
        let bad = || DigestError {
            input: shorten(hex_digits),
        };
        if hex_digits.len() != 64
            || !hex_digits
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut out).map_err(|_| bad())?;
        Ok(Digest(out))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{DIGEST_PREFIX}{}", self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Digest, DigestError> {
        match s.strip_prefix(DIGEST_PREFIX) {
            Some(hex_digits) => {
                Digest::from_hex(hex_digits).map_err(|_| DigestError { input: shorten(s) })
            }
            None => Err(DigestError { input: shorten(s) }),
        }
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Digest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a digest `sha256:<64 lower-case hex digits>`")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Digest, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Text that is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a digest: expected `sha256:` followed by 64 lower-case hex digits")]
pub struct DigestError {
    /// The offending text (cut to 80 characters).
    pub input: String,
}

/// Keeps error messages short when the input is long or hostile.
fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

/// Why the content store could not store or return a blob.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    /// A filesystem operation failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done, e.g. "create directory".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// No blob with this digest on disk.
    #[error("blob `{digest}` is missing from the content store (expected at `{}`); restore the store from a backup", path.display())]
    Missing {
        /// The digest asked for.
        digest: Digest,
        /// Where it should be.
        path: PathBuf,
    },
    /// No blob with this digest in memory.
    #[error("blob `{digest}` is not in the in-memory content store")]
    MissingInMemory {
        /// The digest asked for.
        digest: Digest,
    },
    /// The stored bytes no longer hash to their name.
    #[error(
        "blob `{digest}` at `{}` is corrupt: its content hashes to `{actual}`; it was modified after it was written — restore it from a backup",
        path.display()
    )]
    Tampered {
        /// The digest asked for.
        digest: Digest,
        /// Where the blob is.
        path: PathBuf,
        /// What its bytes hash to now.
        actual: Digest,
    },
    /// Something other than a regular file sits where a blob should be.
    #[error(
        "`{}` should hold blob `{digest}` but is not a regular file (a symlink, directory or device); remove it",
        path.display()
    )]
    NotAFile {
        /// The digest asked for.
        digest: Digest,
        /// The path.
        path: PathBuf,
    },
}

/// Somewhere to keep blobs by their SHA-256 digest.
pub trait BlobStore {
    /// Stores `bytes` and returns their digest. Storing the same bytes again is harmless.
    fn put(&mut self, bytes: &[u8]) -> Result<Digest, CasError>;

    /// Returns the bytes whose digest is `digest`, after checking that they still hash to it.
    fn get(&self, digest: &Digest) -> Result<Vec<u8>, CasError>;
}

/// Blobs in memory, for tests and dry runs.
#[derive(Debug, Clone, Default)]
pub struct MemCas {
    blobs: HashMap<Digest, Vec<u8>>,
}

impl MemCas {
    /// An empty store.
    pub fn new() -> MemCas {
        MemCas::default()
    }

    /// How many blobs are stored.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// Whether no blob is stored.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Whether a blob with this digest is stored.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.blobs.contains_key(digest)
    }

    /// The digests of all stored blobs, in no particular order.
    pub fn digests(&self) -> impl Iterator<Item = &Digest> {
        self.blobs.keys()
    }
}

impl BlobStore for MemCas {
    fn put(&mut self, bytes: &[u8]) -> Result<Digest, CasError> {
        let digest = Digest::of(bytes);
        self.blobs.entry(digest).or_insert_with(|| bytes.to_vec());
        Ok(digest)
    }

    fn get(&self, digest: &Digest) -> Result<Vec<u8>, CasError> {
        self.blobs
            .get(digest)
            .cloned()
            .ok_or(CasError::MissingInMemory { digest: *digest })
    }
}

/// Blobs on disk at `<root>/sha256/<2 hex>/<62 hex>`, written crash-safely.
#[derive(Debug, Clone)]
pub struct DirCas {
    root: PathBuf,
}

impl DirCas {
    /// Opens the store at `root`, creating `root` and `root/sha256` (mode 0700) if needed.
    pub fn open(root: impl Into<PathBuf>) -> Result<DirCas, CasError> {
        let root = root.into();
        create_dir_durably(&root)?;
        create_dir_durably(&root.join(ALGORITHM_DIR))?;
        Ok(DirCas { root })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` lives (whether or not it is there).
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        let hex_digits = digest.to_hex();
        let (fan, rest) = hex_digits.split_at(2);
        self.root.join(ALGORITHM_DIR).join(fan).join(rest)
    }

    /// Whether an intact copy of `digest` is already at its path.
    fn intact(path: &Path, digest: &Digest) -> bool {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_file() => fs::read(path)
                .map(|bytes| Digest::of(&bytes) == *digest)
                .unwrap_or(false),
            _ => false,
        }
    }

    /// Checks every file under the root: each blob must hash to its name, and nothing else may
    /// be there. Problems are reported, not fixed; the error is only for a directory that
    /// cannot be listed.
    pub fn verify_all(&self) -> Result<CasReport, CasError> {
        let mut report = CasReport::default();
        let algorithm_dir = self.root.join(ALGORITHM_DIR);
        for entry in read_dir(&self.root)? {
            let (name, path, kind) = entry;
            if name != ALGORITHM_DIR || !kind.is_dir() {
                report.push(path, CasIssue::Foreign);
            }
        }
        for (fan_name, fan_path, fan_kind) in read_dir(&algorithm_dir)? {
            if !fan_kind.is_dir() || !is_hex(&fan_name, 2) {
                report.push(fan_path, CasIssue::Foreign);
                continue;
            }
            for (name, path, kind) in read_dir(&fan_path)? {
                if name.starts_with(TEMP_PREFIX) {
                    report.push(path, CasIssue::LeftoverTemp);
                    continue;
                }
                if !kind.is_file() || !is_hex(&name, 62) {
                    report.push(path, CasIssue::Foreign);
                    continue;
                }
                let Ok(expected) = Digest::from_hex(&format!("{fan_name}{name}")) else {
                    report.push(path, CasIssue::Foreign);
                    continue;
                };
                match fs::read(&path) {
                    Ok(bytes) => {
                        let actual = Digest::of(&bytes);
                        if actual == expected {
                            report.blobs += 1;
                        } else {
                            report.push(path, CasIssue::Corrupt { expected, actual });
                        }
                    }
                    Err(e) => report.push(
                        path,
                        CasIssue::Unreadable {
                            reason: e.to_string(),
                        },
                    ),
                }
            }
        }
        Ok(report)
    }
}

impl BlobStore for DirCas {
    fn put(&mut self, bytes: &[u8]) -> Result<Digest, CasError> {
        let digest = Digest::of(bytes);
        let path = self.path_of(&digest);
        if DirCas::intact(&path, &digest) {
            return Ok(digest);
        }
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        create_dir_durably(&dir)?;
        let io = |action, source| CasError::Io {
            action,
            path: dir.clone(),
            source,
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir)
            .map_err(|e| io("create a temporary file in", e))?;
        tmp.write_all(bytes)
            .map_err(|e| io("write a temporary file in", e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| io("flush a temporary file in", e))?;
        // On failure the temporary file is dropped, which deletes it.
        tmp.persist(&path).map_err(|e| CasError::Io {
            action: "rename a blob into",
            path: path.clone(),
            source: e.error,
        })?;
        sync_dir(&dir)?;
        Ok(digest)
    }

    fn get(&self, digest: &Digest) -> Result<Vec<u8>, CasError> {
        let path = self.path_of(digest);
        match fs::symlink_metadata(&path) {
            Ok(meta) if !meta.file_type().is_file() => {
                return Err(CasError::NotAFile {
                    digest: *digest,
                    path,
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CasError::Missing {
                    digest: *digest,
                    path,
                });
            }
            Err(e) => {
                return Err(CasError::Io {
                    action: "inspect",
                    path,
                    source: e,
                });
            }
        }
        let bytes = fs::read(&path).map_err(|e| CasError::Io {
            action: "read",
            path: path.clone(),
            source: e,
        })?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(CasError::Tampered {
                digest: *digest,
                path,
                actual,
            });
        }
        Ok(bytes)
    }
}

/// What [`DirCas::verify_all`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CasReport {
    /// How many blobs hash to their names.
    pub blobs: u64,
    /// Every file that is not an intact blob, in the order found.
    pub problems: Vec<CasProblem>,
}

impl CasReport {
    /// Whether every file in the store is an intact blob.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    fn push(&mut self, path: PathBuf, issue: CasIssue) {
        self.problems.push(CasProblem { path, issue });
    }
}

/// One file in the store that is not an intact blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasProblem {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub issue: CasIssue,
}

impl fmt::Display for CasProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.path.display(), self.issue)
    }
}

/// What is wrong with a file in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasIssue {
    /// A blob whose bytes no longer hash to its name.
    Corrupt {
        /// The digest its name promises.
        expected: Digest,
        /// What its bytes hash to.
        actual: Digest,
    },
    /// A temporary file left by a write that never finished (a crash or kill); safe to delete.
    LeftoverTemp,
    /// A file or directory the store never writes: wrong name, wrong place, or not a regular file.
    Foreign,
    /// A blob that could not be read.
    Unreadable {
        /// The operating system's error.
        reason: String,
    },
}

impl fmt::Display for CasIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CasIssue::Corrupt { expected, actual } => {
                write!(
                    f,
                    "blob `{expected}` is corrupt: its content hashes to `{actual}`"
                )
            }
            CasIssue::LeftoverTemp => {
                f.write_str("temporary file left by an interrupted write; safe to delete")
            }
            CasIssue::Foreign => {
                f.write_str("not something the content store writes; move it elsewhere")
            }
            CasIssue::Unreadable { reason } => write!(f, "cannot be read: {reason}"),
        }
    }
}

fn is_hex(name: &str, len: usize) -> bool {
    name.len() == len && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The entries of `dir` as (name, path, file type without following symlinks).
fn read_dir(dir: &Path) -> Result<Vec<(String, PathBuf, fs::FileType)>, CasError> {
    let io = |action, source| CasError::Io {
        action,
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io("list", e))? {
        let entry = entry.map_err(|e| io("list", e))?;
        let kind = entry.file_type().map_err(|e| io("list", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((name, entry.path(), kind));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Creates `dir` (mode 0700) if it is missing, and makes the new entry durable in its parent.
fn create_dir_durably(dir: &Path) -> Result<(), CasError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| CasError::Io {
        action: "create directory",
        path: dir.to_path_buf(),
        source: e,
    })?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// `fsync`s a directory so that entries created or renamed in it survive a crash.
fn sync_dir(dir: &Path) -> Result<(), CasError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| CasError::Io {
            action: "flush directory",
            path: dir.to_path_buf(),
            source: e,
        })
}
