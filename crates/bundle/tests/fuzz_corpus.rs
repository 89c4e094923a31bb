//! Replays the committed fuzz corpus of the inventory's file parsers
//! (`fuzz/corpus/inventory_files/`) through the fuzz target's checks (`fuzz/bundle_checks.rs`)
//! on stable Rust, and checks that each seed is accepted or refused as its name says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/bundle_checks.rs"]
mod checks;

/// What a fuzz target runs on one input.
type Check = fn(&[u8]);

/// The bundle crate's fuzz targets, by the name of their corpus directory.
const TARGETS: &[(&str, Check)] = &[("inventory_files", checks::inventory_files)];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of one target's corpus, sorted, as (file name, bytes).
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(target);
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
fn every_target_is_declared_and_has_a_corpus() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("qwarden-bundle = { path = \"../crates/bundle\" }"));
    for (name, _) in TARGETS {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
            "{name}"
        );
        let target =
            std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            target.contains("#[path = \"../bundle_checks.rs\"]"),
            "{name}"
        );
        assert!(target.contains(&format!("checks::{name}(data)")), "{name}");
        let seeds = corpus(name);
        assert!(seeds.len() < 50, "{name}: keep the corpus small");
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
fn seeds_are_accepted_or_refused_as_named() {
    for (name, bytes) in corpus("inventory_files") {
        let (kind, content) = checks::split(&bytes).unwrap_or_else(|| panic!("{name}: no kind"));
        if let Some(ok) = expectation(&name) {
            assert_eq!(checks::check(kind, content), ok, "{name}");
        }
    }
}

#[test]
fn every_file_kind_has_an_accepted_and_a_refused_seed() {
    let seeds = corpus("inventory_files");
    for (_, kind) in checks::KINDS {
        for ok in [true, false] {
            assert!(
                seeds.iter().any(|(n, b)| expectation(n) == Some(ok)
                    && checks::split(b).map(|(k, _)| k) == Some(*kind)),
                "no {} seed for {kind:?}",
                if ok { "ok-" } else { "bad-" }
            );
        }
    }
}

#[test]
fn a_record_row_that_climbs_out_of_the_venv_is_refused() {
    // Shown explicitly, beyond the corpus: climbing to the venv's own `bin/` is fine, one more
    // `..` is not.
    assert!(checks::check(
        checks::Kind::Record,
        b"../../../bin/qiskit,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n"
    ));
    assert!(!checks::check(
        checks::Kind::Record,
        b"../../../../bin/qiskit,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n"
    ));
}
