//! What the qwarden-bundle fuzz targets `inventory_files` and `bundle_input` check, beyond "does
//! not panic". Shared with the workspace test `crates/bundle/tests/fuzz_corpus.rs`, which replays
//! the committed corpora (`corpus/inventory_files/`, `corpus/bundle_input/`) with these same
//! checks on stable Rust. Apart from the other checks files because each crate's replay test
//! includes its checks file and depends only on its own crate.

#![allow(dead_code, reason = "the replay test uses some of these items")]

use qwarden_bundle::inventory::dist::{
    RecordRow, is_quantum, normalize_name, parse_metadata, parse_record,
};
use qwarden_bundle::inventory::host::{parse_cpuinfo, parse_os_release};
use qwarden_bundle::inventory::pci::{hex_attribute, is_vendor_module, parse_modules};
use qwarden_bundle::inventory::python::parse_pyvenv_cfg;
use qwarden_bundle::inventory::record::resolve;

use std::path::Path;

use qwarden_bundle::{archive, dsse, environment, job, key, verify};
use qwarden_ledger::cas::{BlobStore as _, Digest};

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

/// What the rest of a `bundle_input` input is read as, by its first byte: the parts of a bundle
/// received from another workstation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// `a`: an exported bundle archive (tar), read with `archive::read_from`.
    Archive,
    /// `e`: a bundle's DSSE envelope, parsed and opened with the workstation key [`WORKSTATION`].
    Envelope,
    /// `m`: an environment manifest (JSON).
    Manifest,
    /// `l`: a `pylock.toml` (UTF-8), completed from the wheel directory [`NO_WHEELS`].
    Lock,
}

/// The inputs by their selecting byte.
pub const INPUTS: &[(u8, Input)] = &[
    (b'a', Input::Archive),
    (b'e', Input::Envelope),
    (b'm', Input::Manifest),
    (b'l', Input::Lock),
];

/// The seed of the workstation key envelopes are opened with (the one the tests sign with, so
/// the seeds' envelopes open).
pub const WORKSTATION: [u8; 32] = [7; 32];

/// The wheel directory locks are completed from: one that does not exist.
pub const NO_WHEELS: &str = "/nonexistent-wheels";

/// The name archives and manifests are read under, for messages.
pub const NAME: &str = "fuzz";

/// The input an input's first byte stands for, and its content (`None` for the empty input or
/// an unknown first byte, which are checked against every parser).
pub fn split_input(data: &[u8]) -> Option<(Input, &[u8])> {
    let (first, content) = data.split_first()?;
    let input = INPUTS.iter().find(|(b, _)| b == first)?.1;
    Some((input, content))
}

/// Runs every `bundle_input` check on one input; panics on a violation.
pub fn bundle_input(data: &[u8]) {
    match split_input(data) {
        Some((input, content)) => {
            check_input(input, content);
        }
        None => {
            for (_, input) in INPUTS {
                check_input(*input, data);
            }
        }
    }
}

/// Checks `content` read as `input`; returns whether it was accepted: an archive read, an
/// envelope that opens as a job bundle signed by [`WORKSTATION`], a manifest parsed, a lock
/// completed.
pub fn check_input(input: Input, content: &[u8]) -> bool {
    match input {
        Input::Archive => bundle_archive(content),
        Input::Envelope => envelope(content),
        Input::Manifest => manifest(content),
        Input::Lock => lock(content),
    }
}

/// An archive: every object it holds hashes to its digest, within the limits on members; its
/// envelope then passes [`envelope`]'s checks. A refusal names the archive.
fn bundle_archive(content: &[u8]) -> bool {
    let a = match archive::read_from(content, NAME) {
        Ok(a) => a,
        Err(e) => {
            assert!(
                matches!(e, archive::ArchiveError::Malformed { .. }),
                "reading from memory can only find the archive malformed: {e:?}"
            );
            assert!(e.to_string().contains(&format!("`{NAME}`")), "{e}");
            return false;
        }
    };
    assert!(a.objects.len() < archive::MAX_MEMBERS);
    for digest in a.objects.digests() {
        let bytes = a
            .objects
            .get(digest)
            .unwrap_or_else(|e| panic!("{digest} is listed and cannot be read: {e}"));
        assert_eq!(
            Digest::of(&bytes),
            *digest,
            "an object under another digest"
        );
        assert!(bytes.len() as u64 <= archive::MAX_MEMBER_BYTES);
    }
    assert!(a.envelope.len() as u64 <= archive::MAX_MEMBER_BYTES);
    for text in [&a.workstation_pub, &a.log_vkey].into_iter().flatten() {
        assert_eq!(text.trim(), text, "keys are read trimmed");
    }
    envelope(&a.envelope);
    true
}

/// An envelope: a parsed one writes back as JSON that parses to the same envelope; one that
/// opens gives a predicate whose counts re-serialise to the `counts.json` subject the signed
/// statement names, and which itself reads back the same from its JSON.
fn envelope(content: &[u8]) -> bool {
    let Ok(parsed) = verify::parse_envelope(content) else {
        return false;
    };
    let json = serde_json::to_vec(&parsed).expect("a parsed envelope serialises");
    assert_eq!(verify::parse_envelope(&json).as_ref(), Ok(&parsed));
    let workstation = key::WorkstationKey::from_seed(WORKSTATION).verifying();
    let predicate = match verify::open(content, &workstation) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.is_empty());
            return false;
        }
    };
    let counts = job::counts_json(&predicate.counts);
    let back: Vec<qwarden_sim::Counts> =
        serde_json::from_slice(&counts).expect("the counts re-serialise");
    assert_eq!(back, predicate.counts);
    let statement =
        dsse::verify_statement(&parsed, &workstation).expect("`open` verified the signature");
    assert!(
        statement
            .subject
            .contains(&dsse::Subject::of("counts.json", &counts))
    );
    let value = serde_json::to_value(&predicate).expect("the predicate serialises");
    let again: job::JobPredicate = serde_json::from_value(value).expect("the predicate reads back");
    assert_eq!(again, predicate);
    true
}

/// A manifest: a parsed one is of this version, holds the lock its `pylock_sha256` names, and
/// its canonical JSON parses to the same manifest and is a fixed point. A refusal names the
/// file.
fn manifest(content: &[u8]) -> bool {
    let path = Path::new(NAME);
    let m = match environment::parse(content, path) {
        Ok(m) => m,
        Err(e) => {
            assert!(e.to_string().contains(&format!("`{NAME}`")), "{e}");
            return false;
        }
    };
    assert_eq!(m.format, environment::FORMAT);
    assert_eq!(
        job::sha256(m.pylock.as_bytes()),
        format!("sha256:{}", m.pylock_sha256)
    );
    let canonical = m
        .canonical_json()
        .expect("a parsed manifest has a canonical form");
    let back = environment::parse(&canonical, path)
        .unwrap_or_else(|e| panic!("the canonical form is refused: {e}"));
    assert_eq!(back, m, "the canonical form reads back as another manifest");
    assert_eq!(
        back.canonical_json().ok().as_ref(),
        Some(&canonical),
        "the canonical form is not a fixed point"
    );
    true
}

/// A lock: refused unless it is UTF-8; one completed from a directory that does not exist names
/// no completed package, and completing it again changes nothing.
fn lock(content: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(content) else {
        return false;
    };
    let wheels = Path::new(NO_WHEELS);
    match environment::complete_lock(text, wheels) {
        Ok(done) => {
            assert!(
                done.completed.is_empty(),
                "completed {:?} from nowhere",
                done.completed
            );
            let again = environment::complete_lock(&done.text, wheels)
                .unwrap_or_else(|e| panic!("a completed lock is refused: {e}\n{}", done.text));
            assert_eq!(again, done, "completing a completed lock changes it");
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}
