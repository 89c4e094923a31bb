//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz targets' checks on stable Rust.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use qwarden_policy::host::HostPattern;
use qwarden_policy::signature::AllowedSigners;
use qwarden_policy::{Manifest, Profile};

#[path = "../../../fuzz/checks.rs"]
mod checks;

/// What a fuzz target runs on one input.
type Check = fn(&[u8]);

/// The fuzz targets, by the name of their corpus directory.
const TARGETS: &[(&str, Check)] = &[
    ("manifest", checks::manifest),
    ("profile", checks::profile),
    ("host_pattern", checks::host_pattern),
    ("allowed_signers", checks::allowed_signers),
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

/// The files of one target's corpus, sorted, as (file name, bytes).
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir().join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the {target} corpus is empty");
    files
}

/// Whether a seed is meant to be accepted (`ok-*`) or refused (`bad-*`); other names (what
/// libFuzzer adds while fuzzing) may go either way.
fn expectation(name: &str) -> Option<bool> {
    if name.starts_with("ok-") {
        Some(true)
    } else if name.starts_with("bad-") {
        Some(false)
    } else {
        None
    }
}

#[test]
fn every_corpus_directory_has_a_target() {
    let mut dirs: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    // Every target here has a corpus; the other directories belong to the fuzz targets of other
    // crates (qwarden-ledger's, replayed by its own test).
    for (name, _) in TARGETS {
        assert!(dirs.iter().any(|d| d == name), "no corpus for {name}");
    }
    // And every corpus directory is a target declared in the fuzz crate.
    let manifest = std::fs::read_to_string(corpus_dir().join("../Cargo.toml")).unwrap();
    for name in &dirs {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
            "{name}"
        );
    }
}

#[test]
fn the_corpus_passes_the_fuzz_checks() {
    for (target, check) in TARGETS {
        for (name, bytes) in corpus(target) {
            let outcome = std::panic::catch_unwind(|| check(&bytes));
            assert!(
                outcome.is_ok(),
                "fuzz target `{target}` fails on corpus file `{name}`"
            );
        }
    }
}

#[test]
fn manifest_seeds_parse_or_fail_as_named() {
    for (name, bytes) in corpus("manifest") {
        let text = String::from_utf8(bytes).unwrap();
        let result = Manifest::parse(&text, Path::new(&name));
        if let Some(ok) = expectation(&name) {
            assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
        }
    }
}

#[test]
fn profile_seeds_parse_or_fail_as_named() {
    for (name, bytes) in corpus("profile") {
        let text = String::from_utf8(bytes).unwrap();
        let result = Profile::parse(&text, Path::new(&name));
        if let Some(ok) = expectation(&name) {
            assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
        }
    }
}

#[test]
fn host_pattern_seeds_parse_or_fail_as_named() {
    for (name, bytes) in corpus("host_pattern") {
        let text = String::from_utf8(bytes).unwrap();
        let Some(ok) = expectation(&name) else {
            continue;
        };
        for line in text.lines() {
            let result = line.parse::<HostPattern>();
            assert_eq!(result.is_ok(), ok, "{name}: `{line}`: {result:?}");
            // And the round trip holds for each line on its own, not only for the whole file.
            checks::host_pattern(line.as_bytes());
        }
    }
}

#[test]
fn allowed_signers_seeds_parse_or_fail_as_named() {
    for (name, bytes) in corpus("allowed_signers") {
        let text = String::from_utf8(bytes).unwrap();
        let result = AllowedSigners::parse(&text, Path::new(&name));
        if let Some(ok) = expectation(&name) {
            assert_eq!(result.is_ok(), ok, "{name}: {:?}", result.err());
        }
    }
}

#[test]
fn the_bad_manifest_seed_reports_every_kind_of_error() {
    let (_, bytes) = corpus("manifest")
        .into_iter()
        .find(|(name, _)| name == "bad-values.toml")
        .unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let errors = Manifest::parse(&text, Path::new("bad-values.toml"))
        .unwrap_err()
        .errors;
    // `processes = -1` does not fit its type, which stops deserialisation: it is the only error.
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].message.contains("-1"));
    // Without it, every validation error in the file is reported at once.
    let text = text.replace("processes = -1", "processes = 1");
    let errors = Manifest::parse(&text, Path::new("bad-values.toml"))
        .unwrap_err()
        .errors;
    assert_eq!(errors.len(), 22, "{errors:#?}");
}
