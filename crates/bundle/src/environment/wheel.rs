//! Wheel file names (`{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`): rebuilding one
//! from an installed `WHEEL` file, reading one, finding a wheel in a directory, and hashing it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::inventory::dist::normalize_name;

/// The tags and build of an installed `WHEEL` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WheelTags {
    /// `Tag:` values (`py3-none-any`), in the order first seen, without repeats.
    pub tags: Vec<String>,
    /// `Build:`.
    pub build: Option<String>,
}

/// Reads the `Tag:` and `Build:` headers of a `WHEEL` file. A tag that is not three parts of
/// letters, digits and `_` is left out, and so is a build that does not start with a digit.
pub(crate) fn parse_wheel_metadata(bytes: &[u8]) -> WheelTags {
    let text = String::from_utf8_lossy(bytes);
    let mut wheel = WheelTags::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if key.trim().eq_ignore_ascii_case("tag") {
            let parts: Vec<&str> = value.split('-').collect();
            if parts.len() == 3
                && parts.iter().all(|p| tag_part(p))
                && !wheel.tags.iter().any(|t| t == value)
            {
                wheel.tags.push(value.to_owned());
            }
        } else if key.trim().eq_ignore_ascii_case("build") && wheel.build.is_none() && build(value)
        {
            wheel.build = Some(value.to_owned());
        }
    }
    wheel
}

fn tag_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 100
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn build(value: &str) -> bool {
    value.starts_with(|c: char| c.is_ascii_digit()) && tag_part(value)
}

/// A version as it may appear in a wheel file name: `-` is escaped as `_`, and nothing that
/// could make a path.
fn escaped_version(version: &str) -> Option<String> {
    let escaped = version.replace('-', "_");
    (!escaped.is_empty()
        && escaped.len() <= 100
        && escaped
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'!')))
    .then_some(escaped)
}

/// The wheel file name a distribution was installed from, as the wheel tools write it: the
/// name normalised with `_` for `-`, the version with `_` for `-`, the build, then each tag
/// position's values joined with `.` in the order the `WHEEL` file lists them (the reverse of
/// how installers expand a compressed tag set). `None` without tags or with a name or version
/// that cannot be in a file name.
pub(crate) fn file_name(name: &str, version: &str, wheel: &WheelTags) -> Option<String> {
    let name = normalize_name(name).replace('-', "_");
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let version = escaped_version(version)?;
    let mut positions: [Vec<&str>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for tag in &wheel.tags {
        for (slot, part) in positions.iter_mut().zip(tag.split('-')) {
            if !slot.contains(&part) {
                slot.push(part);
            }
        }
    }
    if positions.iter().any(Vec::is_empty) {
        return None;
    }
    let [python, abi, platform] = positions.map(|p| p.join("."));
    let build = wheel
        .build
        .as_deref()
        .map(|b| format!("-{b}"))
        .unwrap_or_default();
    Some(format!(
        "{name}-{version}{build}-{python}-{abi}-{platform}.whl"
    ))
}

/// A wheel file name, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WheelName {
    /// The distribution, PEP 503 normalised.
    pub name: String,
    /// The version, with `_` for `-`.
    pub version: String,
    /// The build tag.
    pub build: Option<String>,
    /// Every tag the compressed tag set stands for.
    pub tags: BTreeSet<String>,
}

/// Reads a wheel file name; `None` unless it is one (a plain file name, no directory).
pub(crate) fn parse_file_name(file: &str) -> Option<WheelName> {
    let stem = file.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    let (name, version, build_tag, python, abi, platform) = match parts.as_slice() {
        [n, v, p, a, pl] => (*n, *v, None, *p, *a, *pl),
        [n, v, b, p, a, pl] => (*n, *v, Some(*b), *p, *a, *pl),
        _ => return None,
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return None;
    }
    let version = escaped_version(version)?;
    if build_tag.is_some_and(|b| !build(b)) {
        return None;
    }
    let split = |set: &str| -> Option<Vec<String>> {
        set.split('.')
            .map(|p| tag_part(p).then(|| p.to_owned()))
            .collect()
    };
    let (python, abi, platform) = (split(python)?, split(abi)?, split(platform)?);
    let mut tags = BTreeSet::new();
    for p in &python {
        for a in &abi {
            for pl in &platform {
                tags.insert(format!("{p}-{a}-{pl}"));
            }
        }
    }
    Some(WheelName {
        name: normalize_name(name),
        version,
        build: build_tag.map(str::to_owned),
        tags,
    })
}

/// The wheel in `dir` (not below it) for this distribution: the file named `expected` if it is
/// there, else the first, by file name, whose name, version, build and set of tags are the
/// installed ones.
pub(crate) fn find(
    dir: &Path,
    name: &str,
    version: &str,
    wheel: &WheelTags,
    expected: &str,
) -> Option<PathBuf> {
    let exact = dir.join(expected);
    if exact.is_file() {
        return Some(exact);
    }
    let wanted_tags: BTreeSet<String> = wheel.tags.iter().cloned().collect();
    let wanted_version = escaped_version(version)?;
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names.into_iter().find_map(|file| {
        let parsed = parse_file_name(&file)?;
        let path = dir.join(&file);
        (parsed.name == normalize_name(name)
            && parsed.version.eq_ignore_ascii_case(&wanted_version)
            && parsed.build == wheel.build
            && parsed.tags == wanted_tags
            && path.is_file())
        .then_some(path)
    })
}

/// A file's size and digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileDigest {
    /// Its size in bytes.
    pub size: u64,
    /// Lower-case hex digests by algorithm name.
    pub hashes: BTreeMap<String, String>,
}

/// Hashes the regular file at `path` (a link is followed: wheel directories often hold links)
/// with SHA-256 and each other algorithm in `also` (`sha384`, `sha512`), refusing anything
/// larger than `limit` bytes. Opened with `O_NONBLOCK`, so a FIFO is never waited on.
pub(crate) fn hash_file(path: &Path, limit: u64, also: &[&str]) -> std::io::Result<FileDigest> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    if meta.len() > limit {
        return Err(std::io::Error::other(format!(
            "it is larger than {limit} bytes"
        )));
    }
    let mut sha256 = sha2::Sha256::new();
    let mut sha384 = also.contains(&"sha384").then(sha2::Sha384::new);
    let mut sha512 = also.contains(&"sha512").then(sha2::Sha512::new);
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        let Some(chunk) = buf.get(..n) else { break };
        if n == 0 {
            break;
        }
        size = size.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        if size > limit {
            return Err(std::io::Error::other(format!(
                "it is larger than {limit} bytes"
            )));
        }
        sha256.update(chunk);
        if let Some(h) = sha384.as_mut() {
            h.update(chunk);
        }
        if let Some(h) = sha512.as_mut() {
            h.update(chunk);
        }
    }
    let mut hashes = BTreeMap::from([("sha256".to_owned(), hex::encode(sha256.finalize()))]);
    if let Some(h) = sha384 {
        hashes.insert("sha384".to_owned(), hex::encode(h.finalize()));
    }
    if let Some(h) = sha512 {
        hashes.insert("sha512".to_owned(), hex::encode(h.finalize()));
    }
    Ok(FileDigest { size, hashes })
}
