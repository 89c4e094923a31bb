//! Helpers shared by the ledger writer and tamper tests: deterministic entries, reading bundles and
//! tiles straight from the files, and running the verifier.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qwarden_ledger::checkpoint::{self, Checkpoint};
use qwarden_ledger::log::CheckpointPolicy;
use qwarden_ledger::merkle::{self, Hash};
use qwarden_ledger::note::{NoteSigner, NoteVerifier};
use qwarden_ledger::tiles::{self, TileId};
use qwarden_ledger::verify::{self, Problem, Report};

/// The origin of the logs these tests make.
pub const ORIGIN: &str = "example.test/qwarden/log";

/// A fresh log key named [`ORIGIN`].
pub fn signer() -> NoteSigner {
    NoteSigner::generate(ORIGIN).unwrap()
}

/// The same key again (as a second process would load it).
pub fn copy(signer: &NoteSigner) -> NoteSigner {
    NoteSigner::from_skey(&signer.to_skey()).unwrap()
}

/// Checkpoints are kept only when a test asks (`keep_checkpoint`).
pub fn manual() -> CheckpointPolicy {
    CheckpointPolicy {
        every_entries: u64::MAX,
        every: Duration::MAX,
    }
}

/// A checkpoint is kept after every batch, so `checkpoints/` counts the batches.
pub fn keep_every_batch() -> CheckpointPolicy {
    CheckpointPolicy {
        every_entries: 1,
        every: Duration::MAX,
    }
}

/// Entry `i` of the series `tag`: a readable prefix, then 0 to 299 bytes of every value, so
/// entries have many lengths (some empty bodies) and binary content.
pub fn entry(tag: &str, i: u64) -> Vec<u8> {
    let mut out = format!("{tag} {i}:").into_bytes();
    let len = (i.wrapping_mul(37) % 300) as usize;
    out.extend((0..len).map(|j| (i as usize).wrapping_mul(7).wrapping_add(j) as u8));
    out
}

/// Entries `from..to` of the series `tag`.
pub fn entries(tag: &str, from: u64, to: u64) -> Vec<Vec<u8>> {
    (from..to).map(|i| entry(tag, i)).collect()
}

/// The entries of bundle `id`, decoded from its file.
pub fn read_bundle(dir: &Path, id: &TileId) -> Vec<Vec<u8>> {
    let bytes = fs::read(dir.join(id.entries_path())).unwrap();
    tiles::decode_bundle(&bytes, usize::from(id.width))
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}

/// Writes bundle `id` holding `entries` (which need not be `id.width` of them: tampering).
pub fn write_bundle(dir: &Path, id: &TileId, entries: &[Vec<u8>]) {
    write(
        &dir.join(id.entries_path()),
        &tiles::encode_bundle(entries).unwrap(),
    );
}

/// The hashes of tile `id`, decoded from its file.
pub fn read_tile(dir: &Path, id: &TileId) -> Vec<Hash> {
    tiles::decode_tile(
        &fs::read(dir.join(id.path())).unwrap(),
        usize::from(id.width),
    )
    .unwrap()
}

/// Writes tile `id` holding `hashes`.
pub fn write_tile(dir: &Path, id: &TileId, hashes: &[Hash]) {
    write(&dir.join(id.path()), &tiles::encode_tile(hashes));
}

/// Writes `bytes` to `path`, making its directory if needed.
pub fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Every entry of the log of `size` entries, read from the bundles on disk.
pub fn read_entries(dir: &Path, size: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for id in tiles::entry_bundles_for_size(size) {
        let got = read_bundle(dir, &id);
        assert_eq!(got.len(), usize::from(id.width), "{}", id.entries_path());
        out.extend(got);
    }
    out
}

/// The latest checkpoint, opened with the log's key.
pub fn latest(dir: &Path, verifier: &NoteVerifier) -> Checkpoint {
    checkpoint::open(&fs::read(dir.join("checkpoint")).unwrap(), verifier)
        .unwrap()
        .0
}

/// The leaf hashes of `entries`.
pub fn leaves(entries: &[Vec<u8>]) -> Vec<Hash> {
    entries.iter().map(|e| merkle::leaf_hash(e)).collect()
}

/// Verifies `dir`, accepting every entry.
pub fn verify_all(dir: &Path, verifier: &NoteVerifier) -> Report {
    verify::verify(dir, verifier, |_, _| Ok(())).unwrap()
}

/// Verifies `dir` and fails the test, listing the problems, unless it is valid.
pub fn assert_valid(dir: &Path, verifier: &NoteVerifier) -> Report {
    let report = verify_all(dir, verifier);
    assert!(
        report.is_valid(),
        "expected a valid ledger, got: {:#?}",
        report.problems
    );
    report
}

/// The problems `verify` finds in `dir`.
pub fn problems(dir: &Path, verifier: &NoteVerifier) -> Vec<Problem> {
    verify_all(dir, verifier).problems
}

/// Every file under `dir` with its contents, by path relative to `dir`.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = fs::read(&path).unwrap();
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    out
}

/// Copies the directory tree `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for (rel, bytes) in snapshot(from) {
        write(&to.join(rel), &bytes);
    }
}
