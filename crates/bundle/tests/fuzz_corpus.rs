//! Replays the committed fuzz corpora of the inventory's file parsers
//! (`fuzz/corpus/inventory_files/`) and of the parsers of a received bundle
//! (`fuzz/corpus/bundle_input/`) through the fuzz targets' checks (`fuzz/bundle_checks.rs`) on
//! stable Rust, and checks that each seed is accepted or refused as its name says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../fuzz/bundle_checks.rs"]
mod checks;

#[path = "../../../fuzz/replay.rs"]
mod replay;
use replay::{corpus, expectation, fuzz_dir};

use qwarden_ledger::cas::BlobStore as _;

/// What a fuzz target runs on one input.
type Check = fn(&[u8]);

/// The bundle crate's fuzz targets, by the name of their corpus directory.
const TARGETS: &[(&str, Check)] = &[
    ("inventory_files", checks::inventory_files),
    ("bundle_input", checks::bundle_input),
];

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
fn bundle_seeds_are_accepted_or_refused_as_named() {
    for (name, bytes) in corpus("bundle_input") {
        let (input, content) =
            checks::split_input(&bytes).unwrap_or_else(|| panic!("{name}: no input kind"));
        if let Some(ok) = expectation(&name) {
            assert_eq!(checks::check_input(input, content), ok, "{name}");
        }
    }
}

#[test]
fn every_bundle_input_has_an_accepted_and_a_refused_seed() {
    let seeds = corpus("bundle_input");
    for (_, input) in checks::INPUTS {
        for ok in [true, false] {
            assert!(
                seeds.iter().any(|(n, b)| expectation(n) == Some(ok)
                    && checks::split_input(b).map(|(i, _)| i) == Some(*input)),
                "no {} seed for {input:?}",
                if ok { "ok-" } else { "bad-" }
            );
        }
    }
}

#[test]
fn a_real_bundle_archive_holds_an_envelope_that_opens() {
    // The archive seed is a whole exported bundle: what it holds is checked as a received
    // bundle's parts are, down to the envelope opening with the workstation key.
    let seeds = corpus("bundle_input");
    let (_, bytes) = seeds
        .iter()
        .find(|(n, _)| n == "ok-archive-local-bell")
        .unwrap();
    let a = qwarden_bundle::archive::read_from(&bytes[1..], "seed").unwrap();
    assert!(checks::check_input(checks::Input::Envelope, &a.envelope));
    assert_eq!(a.objects.len(), 5);
    let manifests: Vec<_> = a
        .objects
        .digests()
        .map(|d| a.objects.get(d).unwrap())
        .filter(|b| checks::check_input(checks::Input::Manifest, b))
        .collect();
    assert_eq!(manifests.len(), 1, "the session's environment manifest");
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
