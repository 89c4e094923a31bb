//! Replays the committed fuzz corpus of the ledger's targets (`fuzz/corpus/<target>/`) through the
//! fuzz targets' checks (`fuzz/ledger_checks.rs`) on stable Rust.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use qwarden_ledger::checkpoint::Checkpoint;
use qwarden_ledger::event::Event;
use qwarden_ledger::note::Note;
use qwarden_ledger::proof::Proof;
use qwarden_ledger::tiles::{TileId, decode_bundle, decode_tile};

#[path = "../../../fuzz/ledger_checks.rs"]
mod checks;

/// What a fuzz target runs on one input.
type Check = fn(&[u8]);

/// The ledger's fuzz targets, by the name of their corpus directory.
const TARGETS: &[(&str, Check)] = &[
    ("entry_bundle", checks::entry_bundle),
    ("hash_tile", checks::hash_tile),
    ("tile_path", checks::tile_path),
    ("event", checks::event),
    ("signed_note", checks::signed_note),
    ("checkpoint", checks::checkpoint),
    ("tlog_proof", checks::tlog_proof),
    ("witness_add_checkpoint", checks::witness_add_checkpoint),
];

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
    assert!(manifest.contains("qwarden-ledger = { path = \"../crates/ledger\" }"));
    for (name, _) in TARGETS {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
            "{name}"
        );
        let target =
            std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(target.contains(&format!("checks::{name}(data)")), "{name}");
        assert!(!corpus(name).is_empty());
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
fn entry_bundle_seeds_decode_or_fail_as_named() {
    for (name, bytes) in corpus("entry_bundle") {
        let (first, bundle) = bytes.split_first().unwrap();
        let result = decode_bundle(bundle, usize::from(*first) + 1);
        if let Some(ok) = expectation(&name) {
            assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
        }
    }
}

#[test]
fn hash_tile_seeds_decode_or_fail_as_named() {
    for (name, bytes) in corpus("hash_tile") {
        let (first, tile) = bytes.split_first().unwrap();
        let result = decode_tile(tile, usize::from(*first) + 1);
        if let Some(ok) = expectation(&name) {
            assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
        }
    }
}

#[test]
fn tile_path_seeds_parse_or_fail_as_named() {
    for (name, bytes) in corpus("tile_path") {
        let text = String::from_utf8(bytes).unwrap();
        let Some(ok) = expectation(&name) else {
            continue;
        };
        for line in text.lines() {
            let parsed =
                TileId::parse_path(line).is_ok() || TileId::parse_entries_path(line).is_ok();
            assert_eq!(parsed, ok, "{name}: `{line}`");
            checks::tile_path(line.as_bytes());
        }
    }
}

#[test]
fn event_seeds_read_or_fail_as_named() {
    for (name, bytes) in corpus("event") {
        let result = Event::from_jcs(&bytes);
        if let Some(ok) = expectation(&name) {
            assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
        }
    }
}

#[test]
fn signed_note_seeds_parse_or_fail_as_named() {
    for (name, bytes) in corpus("signed_note") {
        let result = Note::parse(&bytes);
        if let Some(ok) = expectation(&name) {
            assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
        }
    }
}

#[test]
fn checkpoint_seeds_parse_or_fail_as_named() {
    for (name, bytes) in corpus("checkpoint") {
        let text = String::from_utf8(bytes).unwrap();
        let result = Checkpoint::parse(&text);
        if let Some(ok) = expectation(&name) {
            assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
        }
    }
}

/// `ok-*` proofs parse and verify with the fixed keys; `bad-*` ones fail one or the other.
#[test]
fn tlog_proof_seeds_verify_or_fail_as_named() {
    let log = checks::log_verifier();
    let witnesses = [checks::witness_verifier()];
    for (name, bytes) in corpus("tlog_proof") {
        let result = Proof::parse(&bytes).and_then(|p| p.verify(&log, &witnesses, None));
        if let Some(ok) = expectation(&name) {
            assert_eq!(result.is_ok(), ok, "{name}: {result:?}");
        }
    }
}

/// `ok-*` inputs are cosigned at every request; `bad-<status>-*` ones at every request but the
/// last, which gets that status.
#[test]
fn witness_seeds_answer_as_named() {
    for (name, bytes) in corpus("witness_add_checkpoint") {
        let statuses: Vec<u16> = checks::witness_responses(&bytes)
            .iter()
            .map(|r| r.status)
            .collect();
        let (last, earlier) = statuses.split_last().unwrap();
        if name.starts_with("ok-") {
            assert!(statuses.iter().all(|&s| s == 200), "{name}: {statuses:?}");
        } else if let Some(rest) = name.strip_prefix("bad-") {
            let expected: u16 = rest
                .get(..3)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| {
                    panic!("{name}: a refused witness seed is named `bad-<status>-...`")
                });
            assert!(earlier.iter().all(|&s| s == 200), "{name}: {statuses:?}");
            assert_eq!(*last, expected, "{name}: {statuses:?}");
        }
    }
}

#[test]
fn the_checks_catch_what_they_claim_to() {
    // A bundle whose width says one entry more than it holds, and a tile one byte short, are
    // refused by the decoders, and the checks accept that refusal.
    checks::entry_bundle(&[1, 0, 1, b'a']);
    checks::hash_tile(&[0; 32]);
    // Empty input is nothing to check.
    checks::entry_bundle(&[]);
    checks::hash_tile(&[]);
    checks::tile_path(&[]);
    for check in [
        checks::event,
        checks::signed_note,
        checks::checkpoint,
        checks::tlog_proof,
        checks::witness_add_checkpoint,
    ] {
        check(&[]);
    }
    // A cosigned checkpoint, and a witness that cosigned it, are what the checks expect.
    let ok = corpus("witness_add_checkpoint")
        .into_iter()
        .find(|(name, _)| name == "ok-first-checkpoint")
        .unwrap()
        .1;
    let answers = checks::witness_responses(&ok);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].status, 200);
    // Two requests separated by 0xff: the second, the same checkpoint with the recorded size,
    // is cosigned again; with a stale size it is refused with the witness's size.
    let mut twice = ok.clone();
    twice.push(0xff);
    twice.extend_from_slice(&ok);
    let answers = checks::witness_responses(&twice);
    assert_eq!(answers[1].status, 409);
    assert_eq!(answers[1].body, b"3\n");
}
