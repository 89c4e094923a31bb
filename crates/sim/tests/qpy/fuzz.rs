//! Replays the committed corpus of the `qpy` fuzz target (`fuzz/corpus/qpy/`) through the
//! target's checks (`fuzz/qpy_checks.rs`) on stable Rust.

#[path = "../../../../fuzz/qpy_checks.rs"]
pub mod checks;
#[path = "../../../../fuzz/replay.rs"]
mod replay;

pub use checks::{check_circuit, check_error};

#[test]
fn the_target_is_declared_and_has_a_corpus() {
    let manifest = std::fs::read_to_string(replay::fuzz_dir().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("qwarden-sim = { path = \"../crates/sim\" }"));
    assert!(manifest.contains("name = \"qpy\"\npath = \"fuzz_targets/qpy.rs\""));
    let target = std::fs::read_to_string(replay::fuzz_dir().join("fuzz_targets/qpy.rs")).unwrap();
    assert!(target.contains("checks::qpy(data)"));
    assert!(replay::corpus("qpy").len() >= 10);
}

#[test]
fn the_corpus_passes_the_fuzz_checks() {
    for (name, bytes) in replay::corpus("qpy") {
        let outcome = std::panic::catch_unwind(|| checks::qpy(&bytes));
        assert!(
            outcome.is_ok(),
            "fuzz target `qpy` fails on corpus file `{name}`"
        );
    }
}

/// `ok-*` seeds parse, `bad-*` ones are refused; other names (what libFuzzer adds) may go
/// either way.
#[test]
fn seeds_parse_or_fail_as_named() {
    let mut named = 0;
    for (name, bytes) in replay::corpus("qpy") {
        let Some(accepted) = replay::expectation(&name) else {
            continue;
        };
        let result = qwarden_sim::qpy::parse(&bytes);
        assert_eq!(result.is_ok(), accepted, "{name}: {result:?}");
        named += 1;
    }
    assert!(named >= 10);
}

/// The real circuits of the transcripts are seeds, byte for byte.
#[test]
fn the_transcript_circuits_are_in_the_corpus() {
    let corpus = replay::corpus("qpy");
    for qpy in [super::transcript_qpy(), super::executor_qpy()] {
        assert!(
            corpus.iter().any(|(_, b)| *b == qpy),
            "a transcript circuit is missing from fuzz/corpus/qpy/"
        );
    }
}
