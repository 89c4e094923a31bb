//! Replays the committed corpus of the `qasm` fuzz target (`fuzz/corpus/qasm/`) through the
//! target's checks (`fuzz/qasm_checks.rs`) on stable Rust.

use std::path::{Path, PathBuf};

use qwarden_sim::qasm::parse_with;

#[path = "../../../../fuzz/qasm_checks.rs"]
mod checks;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The corpus files, sorted, as (file name, bytes).
fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus/qasm");
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
    assert!(
        files.len() >= 20,
        "the qasm corpus has {} files",
        files.len()
    );
    files
}

#[test]
fn the_target_is_declared_and_has_a_corpus() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("qwarden-sim = { path = \"../crates/sim\" }"));
    assert!(manifest.contains("name = \"qasm\"\npath = \"fuzz_targets/qasm.rs\""));
    let target = std::fs::read_to_string(fuzz_dir().join("fuzz_targets/qasm.rs")).unwrap();
    assert!(target.contains("checks::qasm(data)"));
    corpus();
}

#[test]
fn the_corpus_passes_the_fuzz_checks() {
    for (name, bytes) in corpus() {
        let outcome = std::panic::catch_unwind(|| checks::qasm(&bytes));
        assert!(
            outcome.is_ok(),
            "fuzz target `qasm` fails on corpus file `{name}`"
        );
    }
}

/// `ok-*` seeds parse within the fuzz target's limits, `bad-*` ones are refused; other names
/// (what libFuzzer adds) may go either way.
#[test]
fn seeds_parse_or_fail_as_named() {
    let mut named = 0;
    for (name, bytes) in corpus() {
        let accepted = if name.starts_with("ok-") {
            true
        } else if name.starts_with("bad-") {
            false
        } else {
            continue;
        };
        let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let result = parse_with(&text, &checks::limits());
        assert_eq!(result.is_ok(), accepted, "{name}: {result:?}");
        named += 1;
    }
    assert!(named >= 20);
}

/// The example circuits are seeds too.
#[test]
fn the_examples_are_in_the_corpus() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/circuits");
    let corpus = corpus();
    for entry in std::fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            corpus.iter().any(|(_, b)| *b == bytes),
            "examples/circuits/{name} is not in fuzz/corpus/qasm/ (copy it as ok-example-{name})"
        );
    }
}
