//! The distributions installed in an environment's site directories, with what the lock needs
//! from each: its `WHEEL` tags, its `direct_url.json` (PEP 610) and its `RECORD`.
//!
//! Every file read here was written by whatever installed the distribution, which is not
//! trusted: each is read with a size limit, without following a link, and parsed without
//! panicking on junk. A file too large or unreadable counts as absent.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::Distribution;
use super::wheel::{WheelTags, parse_wheel_metadata};
use crate::inventory::dist::{
    HashAlgorithm, RecordRow, normalize_name, parse_metadata, parse_record,
};
use crate::inventory::record::verify;
use crate::inventory::{Follow, read_limited};

/// The largest `RECORD` read: past it the `RECORD` counts as unreadable rather than being
/// hashed in part.
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// The largest `METADATA`, `WHEEL`, `direct_url.json` or `INSTALLER` read.
const MAX_SMALL_FILE_BYTES: u64 = 1 << 20;

/// What the installer wrote about the installation itself, left out of `files_sha256`.
const INSTALLER_FILES: &[&str] = &["INSTALLER", "REQUESTED", "direct_url.json", "RECORD"];

/// One installed distribution, with what the lock is made from.
#[derive(Debug, Clone)]
pub(crate) struct Installed {
    /// What the manifest records.
    pub distribution: Distribution,
    /// `.egg-info` rather than `.dist-info`.
    pub egg_info: bool,
    /// The `.dist-info` directory's name.
    pub dir_name: String,
    /// The `WHEEL` file's tags and build, if it has a readable one.
    pub wheel: Option<WheelTags>,
    /// Its `direct_url.json`, if readable and well-formed.
    pub direct_url: Option<DirectUrl>,
}

/// A `direct_url.json` (PEP 610): where a distribution was installed from, when it was a direct
/// URL rather than an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DirectUrl {
    /// `archive_info`: a wheel, an sdist or another archive.
    Archive {
        /// The URL, without credentials.
        url: String,
        /// The hashes recorded, by algorithm (`sha256`, `sha384`, `sha512`), lower-case hex.
        hashes: BTreeMap<String, String>,
        /// `subdirectory`.
        subdirectory: Option<String>,
    },
    /// `dir_info`: a local source tree.
    Dir {
        /// The URL (`file://...`).
        url: String,
        /// Installed in editable mode.
        editable: bool,
        /// `subdirectory`.
        subdirectory: Option<String>,
    },
    /// `vcs_info`: a version control checkout.
    Vcs {
        /// The URL, without credentials.
        url: String,
        /// `git`, `hg`, `bzr`, `svn`.
        vcs: String,
        /// The commit installed.
        commit_id: String,
        /// What the user asked for (branch, tag).
        requested_revision: Option<String>,
        /// `subdirectory`.
        subdirectory: Option<String>,
    },
}

/// The distributions in `sites` (canonical, inside the canonical `prefix`), sorted by name,
/// version and path.
pub(crate) fn distributions(prefix: &Path, sites: &[PathBuf]) -> Vec<Installed> {
    let mut found = Vec::new();
    for site in sites {
        let Ok(entries) = std::fs::read_dir(site) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            if let Some(d) = read_one(&path, site, prefix) {
                found.push(d);
            }
        }
    }
    found.sort_by(|a, b| {
        let key = |d: &Installed| {
            (
                d.distribution.name.clone(),
                d.distribution.version.clone(),
                d.distribution.dist_info.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    found
}

fn read_one(path: &Path, site: &Path, prefix: &Path) -> Option<Installed> {
    let dir_name = path.file_name().and_then(OsStr::to_str)?.to_owned();
    let (stem, egg_info) = match (
        dir_name.strip_suffix(".dist-info"),
        dir_name.strip_suffix(".egg-info"),
    ) {
        (Some(stem), _) => (stem, false),
        (None, Some(stem)) => (stem, true),
        (None, None) => return None,
    };
    let meta_type = std::fs::symlink_metadata(path).ok()?;
    let is_dir = meta_type.is_dir();
    let egg_file = egg_info && meta_type.is_file();
    if !(is_dir || egg_file) {
        return None;
    }
    let small = |name: &str| {
        let file = if is_dir {
            path.join(name)
        } else {
            path.to_path_buf()
        };
        read_limited(&file, MAX_SMALL_FILE_BYTES, Follow::No)
    };
    let meta = small(if egg_info { "PKG-INFO" } else { "METADATA" })
        .map(|b| parse_metadata(&b))
        .unwrap_or_default();
    let mut stem_parts = stem.splitn(3, '-');
    let stem_name = stem_parts.next().unwrap_or(stem);
    let stem_version = stem_parts.next().unwrap_or("");
    let name = normalize_name(meta.name.as_deref().unwrap_or(stem_name));
    if name.is_empty() {
        return None;
    }
    let (wheel, direct_url, installer, record) = if is_dir && !egg_info {
        (
            small("WHEEL").map(|b| parse_wheel_metadata(&b)),
            small("direct_url.json").and_then(|b| parse_direct_url(&b)),
            small("INSTALLER").and_then(|b| first_line(&b)),
            read_record(&path.join("RECORD")),
        )
    } else {
        (None, None, None, None)
    };
    let (record_sha256, files_sha256, files) = match record {
        Some(bytes) => {
            let rows = parse_record(&bytes);
            (
                Some(hex::encode(Sha256::digest(&bytes))),
                Some(files_digest(&rows, &dir_name)),
                Some(verify(&rows, site, prefix)),
            )
        }
        None => (None, None, None),
    };
    Some(Installed {
        distribution: Distribution {
            name,
            version: meta.version.unwrap_or_else(|| stem_version.to_owned()),
            dist_info: path.to_string_lossy().into_owned(),
            installer,
            record_sha256,
            files_sha256,
            files,
        },
        egg_info,
        dir_name,
        wheel,
        direct_url,
    })
}

/// The whole `RECORD`, or `None` if it is absent, unreadable or larger than
/// [`MAX_RECORD_BYTES`] (hashing part of it would give a digest of nothing in particular).
fn read_record(path: &Path) -> Option<Vec<u8>> {
    let bytes = read_limited(path, MAX_RECORD_BYTES + 1, Follow::No)?;
    (u64::try_from(bytes.len()).unwrap_or(u64::MAX) <= MAX_RECORD_BYTES).then_some(bytes)
}

/// The first line of a small text file, trimmed, if it is printable and not empty.
fn first_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next()?.trim();
    (!line.is_empty() && line.len() <= 200 && !line.chars().any(char::is_control))
        .then(|| line.to_owned())
}

/// The SHA-256 of the hashed rows, sorted by path, without the installer's own files: one
/// `path NUL algorithm NUL hex-digest LF` per row.
fn files_digest(rows: &[RecordRow], dir_name: &str) -> String {
    let mut lines: Vec<String> = rows
        .iter()
        .filter_map(|row| match row {
            RecordRow::Hashed {
                path,
                algorithm,
                digest,
                ..
            } => {
                let own = path
                    .strip_prefix(dir_name)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|file| INSTALLER_FILES.contains(&file));
                let algorithm = match algorithm {
                    HashAlgorithm::Sha256 => "sha256",
                    HashAlgorithm::Sha384 => "sha384",
                    HashAlgorithm::Sha512 => "sha512",
                };
                (!own).then(|| format!("{path}\0{algorithm}\0{}\n", hex::encode(digest)))
            }
            RecordRow::Unhashed { .. } | RecordRow::Malformed { .. } => None,
        })
        .collect();
    lines.sort();
    let mut hasher = Sha256::new();
    for line in &lines {
        hasher.update(line.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Reads a `direct_url.json`; `None` unless it has a string `url` and exactly one of
/// `archive_info`, `dir_info` and `vcs_info` as PEP 610 says.
pub(crate) fn parse_direct_url(bytes: &[u8]) -> Option<DirectUrl> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let url = value.get("url")?.as_str()?;
    let subdirectory = value
        .get("subdirectory")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let infos = ["archive_info", "dir_info", "vcs_info"].map(|k| value.get(k));
    if infos.iter().filter(|i| i.is_some()).count() != 1 {
        return None;
    }
    let [archive, dir, vcs] = infos;
    if let Some(info) = archive {
        return Some(DirectUrl::Archive {
            url: strip_credentials(url),
            hashes: archive_hashes(info),
            subdirectory,
        });
    }
    if let Some(info) = dir {
        return Some(DirectUrl::Dir {
            url: url.to_owned(),
            editable: info
                .get("editable")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            subdirectory,
        });
    }
    let info = vcs?;
    let text = |key: &str| {
        info.get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    Some(DirectUrl::Vcs {
        url: strip_credentials(url),
        vcs: text("vcs")?,
        commit_id: text("commit_id")?,
        requested_revision: text("requested_revision"),
        subdirectory,
    })
}

/// `archive_info.hashes` (and the older `archive_info.hash`, `algorithm=hex`), keeping only
/// SHA-256, SHA-384 and SHA-512 values that are hex of the right length.
fn archive_hashes(info: &serde_json::Value) -> BTreeMap<String, String> {
    let mut hashes = BTreeMap::new();
    let mut add = |algorithm: &str, value: &str| {
        let algorithm = algorithm.to_ascii_lowercase();
        let value = value.to_ascii_lowercase();
        if hex_len(&algorithm) == Some(value.len()) && value.bytes().all(|b| b.is_ascii_hexdigit())
        {
            hashes.entry(algorithm).or_insert(value);
        }
    };
    if let Some(map) = info.get("hashes").and_then(serde_json::Value::as_object) {
        for (algorithm, value) in map {
            if let Some(value) = value.as_str() {
                add(algorithm, value);
            }
        }
    }
    if let Some((algorithm, value)) = info
        .get("hash")
        .and_then(serde_json::Value::as_str)
        .and_then(|h| h.split_once('='))
    {
        add(algorithm, value);
    }
    hashes
}

/// The length in hex digits of a digest of `algorithm`, for the algorithms checked.
pub(crate) fn hex_len(algorithm: &str) -> Option<usize> {
    match algorithm {
        "sha256" => Some(64),
        "sha384" => Some(96),
        "sha512" => Some(128),
        _ => None,
    }
}

/// `url` without its user information, except a bare `git` user (SSH URLs) and `${NAME}`
/// placeholders, which PEP 610 allows to be kept.
pub(crate) fn strip_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let placeholder = |part: &str| {
        part.strip_prefix("${")
            .and_then(|p| p.strip_suffix('}'))
            .is_some_and(|name| {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
    };
    if userinfo == "git" || userinfo.split(':').all(placeholder) {
        return url.to_owned();
    }
    format!("{scheme}://{host}{tail}")
}
