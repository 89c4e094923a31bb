//! Entries read for display or export are checked against the signed root, bundle by bundle.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qwarden_ledger::log::{CheckpointPolicy, Ledger};
use qwarden_ledger::merkle::{self, Hash};
use qwarden_ledger::note::NoteSigner;
use qwarden_ledger::reader::{LogReader, ReadError};
use qwarden_ledger::tiles::{self, TileId};

const SIZE: u64 = 600;

fn ledger(dir: &std::path::Path) -> Ledger {
    let ledger = Ledger::open(
        dir,
        NoteSigner::generate("reader.test/qwarden/1").unwrap(),
        CheckpointPolicy::default(),
    )
    .unwrap();
    let entries: Vec<Vec<u8>> = (0..SIZE)
        .map(|i| format!("entry {i:04}").into_bytes())
        .collect();
    ledger.append_all(&entries).unwrap();
    ledger
}

/// Replaces entry `index` (same length) in its bundle; with `retile`, also rewrites every hash
/// tile so the tiles agree with the changed entries (only the signed root then disagrees).
fn tamper(dir: &std::path::Path, index: u64, retile: bool) {
    let k = index / 256;
    let id = TileId {
        level: 0,
        index: k,
        width: if k == SIZE / 256 {
            (SIZE % 256) as u16
        } else {
            256
        },
    };
    let path = dir.join(id.entries_path());
    let bytes = std::fs::read(&path).unwrap();
    let mut entries: Vec<Vec<u8>> = tiles::decode_bundle(&bytes, usize::from(id.width))
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let e = &mut entries[(index % 256) as usize];
    let last = e.len() - 1;
    e[last] ^= 1;
    std::fs::write(&path, tiles::encode_bundle(&entries).unwrap()).unwrap();
    if retile {
        let mut leaves: Vec<Hash> = Vec::new();
        for t in 0..SIZE.div_ceil(256) {
            let tid = TileId {
                level: 0,
                index: t,
                width: if t == SIZE / 256 {
                    (SIZE % 256) as u16
                } else {
                    256
                },
            };
            let b = std::fs::read(dir.join(tid.entries_path())).unwrap();
            leaves.extend(
                tiles::decode_bundle(&b, usize::from(tid.width))
                    .unwrap()
                    .iter()
                    .map(|e| merkle::leaf_hash(e)),
            );
        }
        for tid in tiles::tiles_for_size(SIZE) {
            let hashes = tiles::hashes_for_tile(&tid, &leaves[..]).unwrap();
            std::fs::write(dir.join(tid.path()), tiles::encode_tile(&hashes)).unwrap();
        }
    }
}

#[test]
fn an_untampered_log_reads_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let l = ledger(tmp.path());
    let r = LogReader::open(tmp.path(), l.verifier()).unwrap();
    let all: Vec<_> = r.entries(0, SIZE).map(|e| e.unwrap().1).collect();
    assert_eq!(all.len() as u64, SIZE);
    assert_eq!(all[599], b"entry 0599");
}

#[test]
fn a_modified_entry_is_refused_whether_or_not_the_tiles_were_rewritten() {
    for (index, retile) in [
        (300, false),
        (300, true),
        (5, true),
        (599, false),
        (599, true),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let l = ledger(tmp.path());
        tamper(tmp.path(), index, retile);
        let r = LogReader::open(tmp.path(), l.verifier()).unwrap();
        let err = r.entry(index).unwrap_err();
        assert!(
            matches!(err, ReadError::Damaged { .. }),
            "{index} {retile}: {err:?}"
        );
        // Bundles that were not touched still read, unless rewritten tiles broke their proofs.
        if !retile {
            let other = if index < 256 { 300 } else { 5 };
            assert!(
                r.entry(other).is_ok(),
                "{index}: entry {other} should still read"
            );
        }
        // Streaming stops with the error instead of emitting the forged entry.
        let streamed: Vec<_> = r.entries(0, SIZE).collect();
        assert!(streamed.iter().any(Result::is_err));
        assert!(!streamed.iter().flatten().any(|(i, _)| *i == index));
    }
}
