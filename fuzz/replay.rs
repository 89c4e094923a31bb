//! What every crate's fuzz-corpus replay test shares (`crates/*/tests/fuzz_corpus.rs` include
//! it with `#[path]`): where the fuzz package is, a target's committed corpus, and what a seed's
//! name says it should do.

#![allow(dead_code, reason = "not every replay test uses every item")]

use std::path::{Path, PathBuf};

/// The fuzz package (`<repository>/fuzz`), from a crate under `crates/`.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of one target's corpus, sorted, as (file name, bytes).
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
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
pub fn expectation(name: &str) -> Option<bool> {
    if name.starts_with("ok-") {
        Some(true)
    } else if name.starts_with("bad-") {
        Some(false)
    } else {
        None
    }
}
