//! Tampering with a ledger on disk, one way at a time: `verify` must name what is wrong and where
//! (the exact [`Problem`] and index), and `Ledger::open` must refuse to build on a ledger whose
//! right edge does not check out, without writing anything.
//!
//! The fixture is a log of 700 entries with kept checkpoints at 300 and 600: bundles `000`,
//! `001` and `002.p/188`, level-0 tiles of the same names, and the level-1 tile `1/000.p/2`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support_ledger;

use std::fs;
use std::path::{Path, PathBuf};

use qwarden_ledger::checkpoint::{self, Checkpoint};
use qwarden_ledger::log::{Ledger, LedgerError};
use qwarden_ledger::merkle;
use qwarden_ledger::note::{NoteSigner, NoteVerifier};
use qwarden_ledger::tiles::TileId;
use qwarden_ledger::verify::{self, Problem};
use support_ledger::*;

const SIZE: u64 = 700;

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    signer: NoteSigner,
    verifier: NoteVerifier,
    entries: Vec<Vec<u8>>,
}

impl Fixture {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn problems(&self) -> Vec<Problem> {
        problems(&self.dir, &self.verifier)
    }

    fn open(&self) -> Result<Ledger, LedgerError> {
        Ledger::open(&self.dir, copy(&self.signer), manual())
    }
}

/// Builds the fixture; `at_300` sees the ledger directory when it holds 300 entries.
fn build(at_300: impl FnOnce(&Path, &NoteSigner)) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let signer = signer();
    let entries = entries("fixture", 0, SIZE);
    let ledger = Ledger::open(&dir, copy(&signer), manual()).unwrap();
    ledger.append_all(&entries[..300]).unwrap();
    assert_eq!(ledger.keep_checkpoint().unwrap().size, 300);
    at_300(&dir, &signer);
    ledger.append_all(&entries[300..600]).unwrap();
    assert_eq!(ledger.keep_checkpoint().unwrap().size, 600);
    ledger.append_all(&entries[600..]).unwrap();
    drop(ledger);
    let verifier = signer.verifier();
    Fixture {
        _tmp: tmp,
        dir,
        signer,
        verifier,
        entries,
    }
}

fn fixture() -> Fixture {
    build(|_, _| {})
}

/// The bundle (and level-0 tile) holding entry `index` of the fixture.
fn bundle_of(index: u64) -> TileId {
    let k = index / 256;
    TileId {
        level: 0,
        index: k,
        width: (SIZE - k * 256).min(256) as u16,
    }
}

const LEVEL1: TileId = TileId {
    level: 1,
    index: 0,
    width: 2,
};

/// Flips one bit of the stored bytes of entry `index` (after its length, so the bundle still
/// decodes).
fn flip_entry_byte(f: &Fixture, index: u64) {
    let id = bundle_of(index);
    let path = f.path(&id.entries_path());
    let mut bytes = fs::read(&path).unwrap();
    let mut at = 0usize;
    for _ in 0..index % 256 {
        at += 2 + usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
    }
    bytes[at + 2] ^= 0x01;
    fs::write(&path, bytes).unwrap();
}

fn flip_file_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0x80;
    fs::write(path, bytes).unwrap();
}

/// Every problem after the first must be a consequence of it: a signed root over the changed
/// range that no longer matches, or the level-1 tile, whose hashes are recomputed from the entries.
fn assert_only_consequences_after(problems: &[Problem], index: u64) {
    let level1 = Path::new(&LEVEL1.path()).to_path_buf();
    for p in &problems[1..] {
        assert!(
            matches!(p, Problem::RootMismatch { size, after, .. } if *after <= index && index < *size)
                || matches!(p, Problem::ModifiedTile { file } if file.ends_with(&level1) && index < 512),
            "unexpected {p:?} in {problems:#?}"
        );
    }
}

#[test]
fn the_untampered_fixture_verifies() {
    let f = fixture();
    let report = verify::verify(&f.dir, &f.verifier, |_, _| Ok(())).unwrap();
    assert!(report.is_valid(), "{:#?}", report.problems);
    assert_eq!(report.size, SIZE);
    assert_eq!(report.checkpoints, 3);
    assert_eq!(read_entries(&f.dir, SIZE), f.entries);
    for rel in [
        "checkpoints/300",
        "checkpoints/600",
        "tile/entries/002.p/188",
        "tile/0/002.p/188",
        "tile/1/000.p/2",
    ] {
        assert!(f.path(rel).is_file(), "{rel}");
    }
}

#[test]
fn a_flipped_byte_in_an_entry_is_a_modified_entry() {
    for index in [0, 5, 255, 256, 300, 599, 650, 699] {
        let f = fixture();
        flip_entry_byte(&f, index);
        let problems = f.problems();
        assert_eq!(
            problems.first(),
            Some(&Problem::ModifiedEntry { index }),
            "{problems:#?}"
        );
        assert_only_consequences_after(&problems, index);
        // The latest checkpoint covers every entry, so its root cannot match either.
        assert!(
            problems
                .iter()
                .any(|p| matches!(p, Problem::RootMismatch { size: SIZE, .. })),
            "{problems:#?}"
        );
    }
}

#[test]
fn an_entry_deleted_from_a_bundle_is_named() {
    for index in [0, 3, 255, 256, 317, 511, 600, 650] {
        let f = fixture();
        let id = bundle_of(index);
        let mut bundle = read_bundle(&f.dir, &id);
        bundle.remove((index % 256) as usize);
        write_bundle(&f.dir, &id, &bundle);
        assert_eq!(
            f.problems(),
            vec![Problem::DeletedEntry { index }],
            "deleting entry {index}"
        );
    }
}

#[test]
fn entries_cut_off_the_end_of_the_log_are_missing() {
    let f = fixture();
    let id = bundle_of(SIZE - 1);
    let bundle = read_bundle(&f.dir, &id);
    write_bundle(&f.dir, &id, &bundle[..bundle.len() - 10]);
    assert_eq!(
        f.problems(),
        vec![Problem::MissingEntries {
            from: SIZE - 10,
            size: SIZE
        }]
    );
}

#[test]
fn swapped_entries_are_reordered() {
    for (i, j) in [(3u64, 7u64), (256, 511), (600, 699)] {
        let f = fixture();
        let id = bundle_of(i);
        let mut bundle = read_bundle(&f.dir, &id);
        bundle.swap((i % 256) as usize, (j % 256) as usize);
        write_bundle(&f.dir, &id, &bundle);
        let problems = f.problems();
        assert_eq!(
            problems[0],
            Problem::ReorderedEntry {
                index: i,
                belongs_at: j
            },
            "{problems:#?}"
        );
        let other = Problem::ReorderedEntry {
            index: j,
            belongs_at: i,
        };
        assert!(problems.contains(&other), "{problems:#?}");
        let rest: Vec<Problem> = problems.into_iter().filter(|p| *p != other).collect();
        assert_only_consequences_after(&rest, i);
    }
}

#[test]
fn a_removed_bundle_is_missing_entries() {
    let f = fixture();
    fs::remove_file(f.path("tile/entries/002.p/188")).unwrap();
    assert_eq!(
        f.problems(),
        vec![Problem::MissingEntries {
            from: 512,
            size: SIZE
        }]
    );

    // A bundle from the middle: the tiles above it are not blamed for what cannot be recomputed.
    let f = fixture();
    fs::remove_file(f.path("tile/entries/001")).unwrap();
    assert_eq!(
        f.problems(),
        vec![Problem::MissingEntries {
            from: 256,
            size: SIZE
        }]
    );
}

#[test]
fn a_rolled_back_checkpoint_is_truncation() {
    // A careful attacker: the latest checkpoint replaced by the kept one of size 300, and the
    // files past it rewritten to look exactly like the log of 300 entries.
    let f = fixture();
    fs::copy(f.path("checkpoints/300"), f.path("checkpoint")).unwrap();
    let leaves = leaves(&f.entries);
    for rel in [
        "tile/entries/001",
        "tile/0/001",
        "tile/entries/002.p/188",
        "tile/0/002.p/188",
        "tile/1/000.p/2",
    ] {
        fs::remove_file(f.path(rel)).unwrap();
    }
    let partial = TileId {
        level: 0,
        index: 1,
        width: 44,
    };
    write_bundle(&f.dir, &partial, &f.entries[256..300]);
    write_tile(&f.dir, &partial, &leaves[256..300]);
    let level1 = TileId {
        level: 1,
        index: 0,
        width: 1,
    };
    write_tile(
        &f.dir,
        &level1,
        &[merkle::tree_hash(&leaves[..], 256).unwrap()],
    );
    assert_eq!(
        f.problems(),
        vec![Problem::Truncated {
            file: f.path("checkpoints/600"),
            kept: 600,
            latest: 300
        }]
    );
}

#[test]
fn a_deleted_latest_checkpoint_is_truncation() {
    let f = fixture();
    fs::remove_file(f.path("checkpoint")).unwrap();
    let report = verify::verify(&f.dir, &f.verifier, |_, _| Ok(())).expect(
        "a ledger whose kept checkpoints outlive the latest one is tampered, not unreadable",
    );
    assert_eq!(
        report.problems,
        vec![
            Problem::Truncated {
                file: f.path("checkpoints/300"),
                kept: 300,
                latest: 0
            },
            Problem::Truncated {
                file: f.path("checkpoints/600"),
                kept: 600,
                latest: 0
            },
        ]
    );
    // A directory that never was a ledger is unreadable, not tampered.
    let empty = tempfile::tempdir().unwrap();
    assert!(verify::verify(empty.path(), &f.verifier, |_, _| Ok(())).is_err());
}

/// The fixture's latest checkpoint with its body changed by `edit`, keeping its signature.
fn edit_checkpoint(f: &Fixture, rel: &str, edit: impl FnOnce(&mut Vec<String>)) {
    let text = fs::read_to_string(f.path(rel)).unwrap();
    let (body, sig) = text.split_once("\n\n").unwrap();
    let mut lines: Vec<String> = body.lines().map(str::to_owned).collect();
    edit(&mut lines);
    fs::write(f.path(rel), format!("{}\n\n{sig}", lines.join("\n"))).unwrap();
}

fn root_line(f: &Fixture, rel: &str) -> String {
    fs::read_to_string(f.path(rel))
        .unwrap()
        .lines()
        .nth(2)
        .unwrap()
        .to_owned()
}

fn assert_forged(problems: &[Problem], file: &Path) {
    assert!(
        matches!(problems, [Problem::ForgedCheckpoint { file: got, .. }] if got == file),
        "expected only a forged `{}`, got {problems:#?}",
        file.display()
    );
}

#[test]
fn a_checkpoint_changed_under_its_signature_is_forged() {
    let f = fixture();
    edit_checkpoint(&f, "checkpoint", |l| l[1] = "699".into());
    assert_forged(&f.problems(), &f.path("checkpoint"));

    let f = fixture();
    let other_root = root_line(&f, "checkpoints/600");
    edit_checkpoint(&f, "checkpoint", |l| l[2] = other_root);
    assert_forged(&f.problems(), &f.path("checkpoint"));

    // A kept one too.
    let f = fixture();
    edit_checkpoint(&f, "checkpoints/600", |l| l[1] = "601".into());
    assert_forged(&f.problems(), &f.path("checkpoints/600"));
}

#[test]
fn a_checkpoint_signed_by_another_key_is_forged() {
    let f = fixture();
    // Same origin, so only the key tells them apart.
    let other = NoteSigner::generate(ORIGIN).unwrap();
    let leaves = leaves(&f.entries);
    let honest = Checkpoint {
        origin: ORIGIN.into(),
        size: SIZE,
        root: merkle::tree_hash(&leaves[..], SIZE).unwrap(),
        extensions: Vec::new(),
    };
    fs::write(
        f.path("checkpoint"),
        checkpoint::sign(&honest, &other).unwrap(),
    )
    .unwrap();
    assert_forged(&f.problems(), &f.path("checkpoint"));

    let f = fixture();
    let grown = Checkpoint {
        size: 800,
        ..honest
    };
    fs::write(
        f.path("checkpoints/800"),
        checkpoint::sign(&grown, &other).unwrap(),
    )
    .unwrap();
    assert_forged(&f.problems(), &f.path("checkpoints/800"));
}

#[test]
fn a_kept_checkpoint_from_a_fork_does_not_match_the_root() {
    let fork = tempfile::tempdir().unwrap();
    let fork_dir = fork.path().join("ledger");
    let f = build(|dir, _| copy_dir(dir, &fork_dir));
    // The fork: the same key and the same first 300 entries, then others.
    let forked = Ledger::open(&fork_dir, copy(&f.signer), manual()).unwrap();
    forked.append_all(&entries("fork", 300, 600)).unwrap();
    assert_eq!(forked.keep_checkpoint().unwrap().size, 600);
    fs::copy(
        fork_dir.join("checkpoints/600"),
        f.path("checkpoints/600.fork"),
    )
    .unwrap();
    // The latest checkpoint matches the entries, so the fork is named as what it is.
    assert_eq!(
        f.problems(),
        vec![Problem::InconsistentCheckpoint {
            file: f.path("checkpoints/600.fork"),
            size: 600,
        }]
    );
}

#[test]
fn an_entry_changed_together_with_its_tile_is_a_root_mismatch() {
    // In a full bundle: the signed roots over it and the level-1 tile disagree.
    let f = fixture();
    let id = bundle_of(400);
    let mut bundle = read_bundle(&f.dir, &id);
    bundle[400 - 256] = b"rewritten history".to_vec();
    write_bundle(&f.dir, &id, &bundle);
    write_tile(&f.dir, &id, &leaves(&bundle));
    let problems = f.problems();
    assert_eq!(
        problems,
        vec![
            Problem::RootMismatch {
                file: f.path("checkpoints/600"),
                size: 600,
                after: 300
            },
            Problem::RootMismatch {
                file: f.path("checkpoint"),
                size: SIZE,
                after: 300
            },
            Problem::ModifiedTile {
                file: f.path(&LEVEL1.path())
            },
        ]
    );

    // With the level-1 tile recomputed as well, only the signed roots are left to tell.
    let f = fixture();
    let mut all = f.entries.clone();
    all[5] = b"rewritten history".to_vec();
    let hashes = leaves(&all);
    write_bundle(&f.dir, &bundle_of(5), &all[..256]);
    write_tile(&f.dir, &bundle_of(5), &hashes[..256]);
    write_tile(
        &f.dir,
        &LEVEL1,
        &[
            merkle::tree_hash(&hashes[..], 256).unwrap(),
            merkle::tree_hash(&hashes[256..], 256).unwrap(),
        ],
    );
    assert_eq!(
        f.problems(),
        vec![
            Problem::RootMismatch {
                file: f.path("checkpoints/300"),
                size: 300,
                after: 0
            },
            Problem::RootMismatch {
                file: f.path("checkpoints/600"),
                size: 600,
                after: 0
            },
            Problem::RootMismatch {
                file: f.path("checkpoint"),
                size: SIZE,
                after: 0
            },
        ]
    );

    // In the partial bundle, past the last kept checkpoint.
    let f = fixture();
    let id = bundle_of(650);
    let mut bundle = read_bundle(&f.dir, &id);
    bundle[650 - 512] = b"rewritten history".to_vec();
    write_bundle(&f.dir, &id, &bundle);
    write_tile(&f.dir, &id, &leaves(&bundle));
    assert_eq!(
        f.problems(),
        vec![Problem::RootMismatch {
            file: f.path("checkpoint"),
            size: SIZE,
            after: 600
        }]
    );
}

#[test]
fn a_modified_tile_is_named() {
    let f = fixture();
    flip_file_byte(&f.path(&LEVEL1.path()), 40);
    assert_eq!(
        f.problems(),
        vec![Problem::ModifiedTile {
            file: f.path(&LEVEL1.path())
        }]
    );

    // A level-0 tile whose entries are intact: the entries match the signed roots, so it is the
    // tile that was changed, not entry 3.
    for index in [3u64, 300, 690] {
        let f = fixture();
        let id = bundle_of(index);
        flip_file_byte(&f.path(&id.path()), (index % 256) as usize * 32 + 7);
        assert_eq!(
            f.problems(),
            vec![Problem::ModifiedTile {
                file: f.path(&id.path())
            }],
            "tile of entry {index}"
        );
    }
}

#[test]
fn entries_the_caller_refuses_are_bad_entries() {
    let f = fixture();
    let mut seen = Vec::new();
    let report = verify::verify(&f.dir, &f.verifier, |index, bytes| {
        seen.push((index, bytes.to_vec()));
        if index == 42 || index == 650 {
            Err(format!("not an event ({index})"))
        } else {
            Ok(())
        }
    })
    .unwrap();
    assert_eq!(
        report.problems,
        vec![
            Problem::BadEntry {
                index: 42,
                reason: "not an event (42)".into()
            },
            Problem::BadEntry {
                index: 650,
                reason: "not an event (650)".into()
            },
        ]
    );
    // Every entry, once, in order, with its bytes.
    assert_eq!(
        seen,
        f.entries
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, e)| (i as u64, e))
            .collect::<Vec<_>>()
    );
}

/// `Ledger::open` refuses the tampered fixture with `Damaged` and leaves every file as it was.
fn assert_open_refused(f: &Fixture, what: &str) {
    let before = snapshot(&f.dir);
    match f.open() {
        Err(LedgerError::Damaged { dir, .. }) => assert_eq!(dir, f.dir, "{what}"),
        Err(e) => panic!("{what}: expected Damaged, got {e:?}"),
        Ok(_) => panic!("{what}: a tampered ledger was opened for appending"),
    }
    assert_eq!(
        snapshot(&f.dir),
        before,
        "{what}: a refused open must not write"
    );
}

#[test]
fn open_refuses_a_tampered_right_edge_without_writing() {
    type Tamper = Box<dyn Fn(&Fixture)>;
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "forged latest checkpoint",
            Box::new(|f| edit_checkpoint(f, "checkpoint", |l| l[1] = "699".into())),
        ),
        (
            "latest checkpoint signed by another key",
            Box::new(|f| {
                let other = NoteSigner::generate(ORIGIN).unwrap();
                let cp = checkpoint::open(&fs::read(f.path("checkpoint")).unwrap(), &f.verifier)
                    .unwrap()
                    .0;
                fs::write(f.path("checkpoint"), checkpoint::sign(&cp, &other).unwrap()).unwrap();
            }),
        ),
        (
            "modified level-1 tile",
            Box::new(|f| flip_file_byte(&f.path(&LEVEL1.path()), 3)),
        ),
        (
            "modified partial level-0 tile",
            Box::new(|f| flip_file_byte(&f.path("tile/0/002.p/188"), 100)),
        ),
        (
            "removed partial level-0 tile",
            Box::new(|f| fs::remove_file(f.path("tile/0/002.p/188")).unwrap()),
        ),
        (
            "removed partial bundle",
            Box::new(|f| fs::remove_file(f.path("tile/entries/002.p/188")).unwrap()),
        ),
        (
            "entry deleted from the partial bundle",
            Box::new(|f| {
                let id = bundle_of(650);
                let mut bundle = read_bundle(&f.dir, &id);
                bundle.remove(10);
                write_bundle(&f.dir, &id, &bundle);
            }),
        ),
        (
            "entry modified in the partial bundle",
            Box::new(|f| flip_entry_byte(f, 650)),
        ),
        (
            "latest checkpoint deleted",
            Box::new(|f| fs::remove_file(f.path("checkpoint")).unwrap()),
        ),
        (
            "log.vkey of another key",
            Box::new(|f| {
                let other = NoteSigner::generate(ORIGIN).unwrap();
                fs::write(
                    f.path("log.vkey"),
                    format!("{}\n", other.verifier().to_vkey()),
                )
                .unwrap();
            }),
        ),
    ];
    for (what, tamper) in cases {
        let f = fixture();
        tamper(&f);
        assert_open_refused(&f, what);
    }

    // Opened with another key than the log's.
    let f = fixture();
    let before = snapshot(&f.dir);
    let err = Ledger::open(&f.dir, signer(), manual()).unwrap_err();
    assert!(matches!(err, LedgerError::Damaged { .. }), "{err:?}");
    assert_eq!(snapshot(&f.dir), before);
}

#[test]
fn append_refuses_a_ledger_tampered_after_it_was_opened() {
    let f = fixture();
    let ledger = f.open().unwrap();
    ledger.append(b"fine".to_vec()).unwrap();
    edit_checkpoint(&f, "checkpoint", |l| l[1] = "1000".into());
    let before = snapshot(&f.dir);
    let err = ledger.append(b"refused".to_vec()).unwrap_err();
    assert!(matches!(err, LedgerError::Damaged { .. }), "{err:?}");
    let err = ledger.append_all(&[b"refused".to_vec()]).unwrap_err();
    assert!(matches!(err, LedgerError::Damaged { .. }), "{err:?}");
    let err = ledger.keep_checkpoint().unwrap_err();
    assert!(matches!(err, LedgerError::Damaged { .. }), "{err:?}");
    assert_eq!(
        snapshot(&f.dir),
        before,
        "nothing may be written on top of a tampered log"
    );
}

#[test]
fn a_stray_kept_checkpoint_past_the_log_does_not_stop_appending() {
    // `checkpoints/<n>` names are not signed: one past the log (junk, or copied from a longer
    // fork) must not break the writer's bookkeeping of when to keep the next one.
    let f = fixture();
    fs::write(f.path("checkpoints/1000000"), b"not a checkpoint").unwrap();
    let ledger = Ledger::open(&f.dir, copy(&f.signer), keep_every_batch()).unwrap();
    assert_eq!(ledger.append(b"after".to_vec()).unwrap(), SIZE);
    assert_eq!(ledger.append_all(&[b"more".to_vec()]).unwrap(), SIZE + 1);
    assert_forged(&f.problems(), &f.path("checkpoints/1000000"));
}

#[test]
fn a_failed_batch_fails_every_append_in_it_and_the_next_one_starts_afresh() {
    let f = fixture();
    let ledger = f.open().unwrap();
    let good = fs::read(f.path("checkpoint")).unwrap();
    edit_checkpoint(&f, "checkpoint", |l| l[1] = "1000".into());
    let results: Vec<Result<u64, LedgerError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let ledger = &ledger;
                s.spawn(move || ledger.append(entry("refused", t)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results {
        assert!(
            matches!(
                r,
                Err(LedgerError::Damaged { .. } | LedgerError::BatchFailed(_))
            ),
            "every append of a failed batch fails: {r:?}"
        );
    }
    // Once the checkpoint is back, the same ledger appends again from the right edge on disk.
    fs::write(f.path("checkpoint"), good).unwrap();
    assert_eq!(ledger.append(b"after the repair".to_vec()).unwrap(), SIZE);
    let report = verify::verify(&f.dir, &f.verifier, |_, _| Ok(())).unwrap();
    assert!(report.is_valid(), "{:#?}", report.problems);
    assert_eq!(
        read_entries(&f.dir, SIZE + 1)[SIZE as usize],
        b"after the repair"
    );
}

#[test]
fn a_rolled_back_log_with_rebuilt_tiles_is_not_appended_to() {
    // Grow a log in three batches, keeping a checkpoint after each, then roll it back to the first
    // one and rebuild that size's partial files from the current ones (no key is needed for that).
    let dir = tempfile::tempdir().unwrap();
    let signer = NoteSigner::generate("rollback.test/qwarden/1").unwrap();
    let skey = signer.to_skey();
    let ledger = Ledger::open(dir.path(), signer, keep_every_batch()).unwrap();
    for batch in 0..3u8 {
        ledger
            .append_all(&[vec![batch; 10], vec![batch; 11]])
            .unwrap();
    }
    drop(ledger);
    let p = |s: &str| dir.path().join(s);
    assert!(p("checkpoints/2").exists() && p("checkpoints/6").exists());
    let bundle = fs::read(p("tile/entries/000.p/6")).unwrap();
    let entries = qwarden_ledger::tiles::decode_bundle(&bundle, 6).unwrap();
    fs::write(
        p("tile/entries/000.p/2"),
        qwarden_ledger::tiles::encode_bundle(&entries[..2]).unwrap(),
    )
    .unwrap();
    let tile = fs::read(p("tile/0/000.p/6")).unwrap();
    fs::write(p("tile/0/000.p/2"), &tile[..64]).unwrap();
    fs::copy(p("checkpoints/2"), p("checkpoint")).unwrap();
    let before = snapshot(dir.path());
    let err = Ledger::open(
        dir.path(),
        NoteSigner::from_skey(&skey).unwrap(),
        keep_every_batch(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, LedgerError::Damaged { reason, .. } if reason.contains("rolled back")),
        "{err:?}"
    );
    assert_eq!(
        snapshot(dir.path()),
        before,
        "the evidence (kept checkpoints 4 and 6) must survive"
    );
}

#[test]
fn planted_fifos_and_symlinks_neither_hang_nor_feed_the_reader_forever() {
    let mkfifo = |p: &Path| {
        let ok = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .expect("mkfifo (coreutils) is needed");
        assert!(ok.success());
    };
    // A FIFO as the latest checkpoint: verify refuses it instead of blocking on it.
    let f = fixture();
    fs::remove_file(f.path("checkpoint")).unwrap();
    mkfifo(&f.path("checkpoint"));
    let verifier = f.signer.verifier();
    let outcome = verify::verify(&f.dir, &verifier, |_, _| Ok(()));
    assert!(outcome.is_err() || !outcome.unwrap().is_valid());
    // A FIFO as the lock: opening the ledger is refused, not stuck.
    let f = fixture();
    fs::remove_file(f.path("lock")).unwrap();
    mkfifo(&f.path("lock"));
    let err = f.open().unwrap_err();
    assert!(
        matches!(&err, LedgerError::Damaged { reason, .. } if reason.contains("lock")),
        "{err:?}"
    );
    // A bundle replaced by a symlink to an endless device: reported, never read.
    let f = fixture();
    let bundle = f.path(&bundle_of(0).entries_path());
    fs::remove_file(&bundle).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &bundle).unwrap();
    let report = verify::verify(&f.dir, &f.signer.verifier(), |_, _| Ok(())).unwrap();
    assert_eq!(
        report.problems.first(),
        Some(&Problem::MissingEntries {
            from: 0,
            size: SIZE
        }),
        "{:?}",
        report.problems
    );
}
