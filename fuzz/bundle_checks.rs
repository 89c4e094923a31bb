//! What the qwarden-bundle fuzz target `inventory_files` checks, beyond "does not panic". Shared
//! with the workspace test `crates/bundle/tests/fuzz_corpus.rs`, which replays the committed
//! corpus (`corpus/inventory_files/`) with these same checks on stable Rust. Apart from the other
//! checks files because each crate's replay test includes its checks file and depends only on
//! its own crate.

#![allow(dead_code, reason = "the replay test uses some of these items")]

use qwarden_bundle::inventory::dist::{
    RecordRow, is_quantum, normalize_name, parse_metadata, parse_record,
};
use qwarden_bundle::inventory::host::{parse_cpuinfo, parse_os_release};
use qwarden_bundle::inventory::pci::{hex_attribute, is_vendor_module, parse_modules};
use qwarden_bundle::inventory::python::parse_pyvenv_cfg;
use qwarden_bundle::inventory::record::resolve;

/// The file an input's first byte stands for; the rest is its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `m`: a `.dist-info/METADATA`.
    Metadata,
    /// `r`: a `.dist-info/RECORD`.
    Record,
    /// `p`: a `pyvenv.cfg`.
    PyvenvCfg,
    /// `o`: `/etc/os-release`.
    OsRelease,
    /// `c`: `/proc/cpuinfo`.
    Cpuinfo,
    /// `k`: `/proc/modules`.
    Modules,
    /// `x`: a sysfs hex attribute (a PCI vendor, device or class).
    HexAttribute,
}

/// The kinds by their selecting byte.
pub const KINDS: &[(u8, Kind)] = &[
    (b'm', Kind::Metadata),
    (b'r', Kind::Record),
    (b'p', Kind::PyvenvCfg),
    (b'o', Kind::OsRelease),
    (b'c', Kind::Cpuinfo),
    (b'k', Kind::Modules),
    (b'x', Kind::HexAttribute),
];

/// The site directory of a venv, relative to the venv, that `RECORD` paths are resolved against.
pub const SITE: [&str; 3] = ["lib", "python3.11", "site-packages"];

/// The kind and content an input stands for (`None` for the empty input or an unknown first
/// byte, which are checked against every parser).
pub fn split(data: &[u8]) -> Option<(Kind, &[u8])> {
    let (first, content) = data.split_first()?;
    let kind = KINDS.iter().find(|(b, _)| b == first)?.1;
    Some((kind, content))
}

/// Runs every check on one input; panics on a violation.
pub fn inventory_files(data: &[u8]) {
    match split(data) {
        Some((kind, content)) => {
            check(kind, content);
        }
        None => {
            for (_, kind) in KINDS {
                check(*kind, data);
            }
        }
    }
}

/// Checks `content` read as `kind`; returns whether it was accepted: a name (METADATA), only
/// well-formed hashed rows that stay inside the venv (RECORD), a version (pyvenv.cfg), an `ID`
/// (os-release), a processor (cpuinfo), a vendor module (modules), a hex value (attribute).
pub fn check(kind: Kind, content: &[u8]) -> bool {
    let text = String::from_utf8_lossy(content);
    match kind {
        Kind::Metadata => {
            let m = parse_metadata(content);
            for v in [&m.name, &m.version].into_iter().flatten() {
                assert!(!v.is_empty() && v.trim() == v && !v.contains('\n'), "{v:?}");
            }
            if let Some(name) = &m.name {
                let n = normalize_name(name);
                assert_eq!(normalize_name(&n), n, "normalising is idempotent");
                assert!(!n.contains("--") && !n.contains(['_', '.']), "{n:?}");
                assert!(
                    !n.chars()
                        .any(|c| c.is_uppercase() && c.to_lowercase().next() != Some(c))
                );
                let _ = is_quantum(&n);
            }
            m.name.is_some()
        }
        Kind::Record => record(content),
        Kind::PyvenvCfg => {
            let v = parse_pyvenv_cfg(content);
            if let Some(v) = &v {
                assert!(
                    v.len() <= 32 && v.starts_with(|c: char| c.is_ascii_digit()),
                    "{v:?}"
                );
                assert!(
                    v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c)),
                    "{v:?}"
                );
            }
            v.is_some()
        }
        Kind::OsRelease => {
            let os = parse_os_release(&text);
            for v in [&os.id, &os.version_id, &os.pretty_name]
                .into_iter()
                .flatten()
            {
                assert!(!v.is_empty() && !v.contains('\n'), "{v:?}");
            }
            os.id.is_some()
        }
        Kind::Cpuinfo => {
            let cpu = parse_cpuinfo(&text);
            assert!(cpu.count <= text.lines().count() as u64);
            cpu.count > 0
        }
        Kind::Modules => {
            let names = parse_modules(&text);
            assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted, once each");
            assert!(
                names
                    .iter()
                    .all(|n| is_vendor_module(n) && !n.contains(char::is_whitespace))
            );
            !names.is_empty()
        }
        Kind::HexAttribute => {
            let v = hex_attribute(&text);
            if let Some(v) = &v {
                let digits = v.strip_prefix("0x").expect("starts with 0x");
                assert!(!digits.is_empty() && digits.len() <= 8, "{v:?}");
                assert!(
                    digits
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                );
            }
            v.is_some()
        }
    }
}

/// A `RECORD`: rows are at most one per line, hashed rows have a path and a digest of the
/// algorithm's length, and a resolved path never leaves the venv: it has no `..`, `.` or empty
/// component, and no component holds a `/`.
fn record(content: &[u8]) -> bool {
    let rows = parse_record(content);
    let lines = content.split(|b| *b == b'\n').count();
    assert!(
        rows.len() <= lines,
        "{} rows from {lines} lines",
        rows.len()
    );
    let base: Vec<String> = SITE.iter().map(|s| (*s).to_owned()).collect();
    let mut accepted = !rows.is_empty();
    for row in &rows {
        match row {
            RecordRow::Hashed {
                path,
                algorithm,
                digest,
                ..
            } => {
                assert!(!path.is_empty());
                assert_eq!(digest.len(), algorithm.digest_len());
                match resolve(&base, path) {
                    Ok(parts) => {
                        assert!(!parts.is_empty());
                        for p in &parts {
                            assert!(
                                !p.is_empty() && p != "." && p != ".." && !p.contains(['/', '\0']),
                                "{path:?} resolved to {parts:?}"
                            );
                        }
                    }
                    Err(reason) => {
                        assert!(!reason.is_empty());
                        accepted = false;
                    }
                }
            }
            RecordRow::Unhashed { path } => assert!(!path.is_empty()),
            RecordRow::Malformed { line, reason } => {
                assert!(*line >= 1 && *line <= lines, "line {line} of {lines}");
                assert!(!reason.is_empty() && !reason.contains(char::is_control));
                accepted = false;
            }
        }
    }
    accepted
}
