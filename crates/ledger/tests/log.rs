//! The ledger writer on disk: appends read back byte for byte across bundle and tile boundaries,
//! group commit from many threads, two writers and two processes on one directory, `kill -9`
//! during appends, crash leftovers, and where `home.rs` keeps the key.
//!
//! Nothing here sleeps or measures time: threads meet on their results, and the child processes
//! (this test binary re-executed, see [`child_process`]) are followed through the lines they print.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support_ledger;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use qwarden_ledger::home::LedgerHome;
use qwarden_ledger::log::{CheckpointPolicy, Ledger, LedgerError, MAX_ENTRY_BYTES};
use qwarden_ledger::merkle;
use qwarden_ledger::note::NoteSigner;
use qwarden_ledger::tiles::{self, TileId};
use support_ledger::*;

/// Checks everything about a clean log of `expected` entries in `dir`: the entries read back from
/// the bundles, every tile holds the hashes recomputed in memory, no other tile file is left
/// over, the latest checkpoint's root is the tree hash, and `verify` agrees.
fn check_log(dir: &Path, signer: &NoteSigner, expected: &[Vec<u8>]) {
    let verifier = signer.verifier();
    let size = expected.len() as u64;
    let cp = latest(dir, &verifier);
    assert_eq!(cp.size, size);
    assert_eq!(cp.origin, ORIGIN);
    let got = read_entries(dir, size);
    if let Some(i) = (0..expected.len()).find(|i| got[*i] != expected[*i]) {
        panic!(
            "entry {i} reads back as {:?}, not {:?}",
            got[i], expected[i]
        );
    }
    let leaves = leaves(expected);
    assert_eq!(
        cp.root,
        merkle::tree_hash(&leaves[..], size).unwrap(),
        "root of size {size}"
    );
    let mut wanted = BTreeSet::new();
    for id in tiles::tiles_for_size(size) {
        assert_eq!(
            read_tile(dir, &id),
            tiles::hashes_for_tile(&id, &leaves[..]).unwrap(),
            "{}",
            id.path()
        );
        wanted.insert(PathBuf::from(id.path()));
    }
    wanted.extend(
        tiles::entry_bundles_for_size(size)
            .iter()
            .map(|id| PathBuf::from(id.entries_path())),
    );
    let present: BTreeSet<PathBuf> = snapshot(dir)
        .into_keys()
        .filter(|p| p.starts_with("tile"))
        .collect();
    assert_eq!(
        present, wanted,
        "tile files of a log of {size} entries (superseded partial tiles must be gone)"
    );
    let report = assert_valid(dir, &verifier);
    assert_eq!(report.size, size);
    assert_eq!(report.origin, ORIGIN);
}

#[test]
fn single_appends_get_consecutive_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer();
    let ledger = Ledger::open(dir.path(), copy(&signer), manual()).unwrap();
    assert_eq!(ledger.origin(), ORIGIN);
    assert_eq!(ledger.verifier(), &signer.verifier());
    let expected = entries("single", 0, 300);
    for (i, e) in expected.iter().enumerate() {
        assert_eq!(ledger.append(e.clone()).unwrap(), i as u64);
        if matches!(i, 0 | 254 | 255 | 256 | 299) {
            check_log(dir.path(), &signer, &expected[..=i]);
        }
    }
    // An empty entry is an entry too.
    assert_eq!(ledger.append(Vec::new()).unwrap(), 300);
    let mut all = expected;
    all.push(Vec::new());
    check_log(dir.path(), &signer, &all);
}

#[test]
fn sizes_across_bundle_and_tile_boundaries() {
    for size in [1u64, 255, 256, 257, 65535, 65536, 65537] {
        let dir = tempfile::tempdir().unwrap();
        let signer = signer();
        let ledger = Ledger::open(dir.path(), copy(&signer), manual()).unwrap();
        let expected = entries("sized", 0, size);
        // Uneven chunks, so batches start and end inside bundles and at their edges.
        let mut next = 0u64;
        for (n, chunk) in expected.chunks(4099).enumerate() {
            let (head, tail) = chunk.split_at(chunk.len().min(1 + n % 3));
            assert_eq!(ledger.append_all(head).unwrap(), next);
            next += head.len() as u64;
            if !tail.is_empty() {
                assert_eq!(ledger.append_all(tail).unwrap(), next);
                next += tail.len() as u64;
            }
        }
        assert_eq!(next, size);
        check_log(dir.path(), &signer, &expected);
        // Reopened, the log carries on from its right edge.
        drop(ledger);
        let ledger = Ledger::open(dir.path(), copy(&signer), manual()).unwrap();
        let more = entries("sized-more", 0, 3);
        assert_eq!(ledger.append_all(&more).unwrap(), size);
        let mut all = expected;
        all.extend(more);
        check_log(dir.path(), &signer, &all);
    }
}

#[test]
fn entries_over_65535_bytes_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer();
    let ledger = Ledger::open(dir.path(), copy(&signer), manual()).unwrap();
    let biggest = vec![0xa5; MAX_ENTRY_BYTES];
    assert_eq!(MAX_ENTRY_BYTES, 65535);
    assert_eq!(ledger.append(biggest.clone()).unwrap(), 0);
    assert_eq!(
        ledger
            .append_all(&[b"small".to_vec(), biggest.clone()])
            .unwrap(),
        1
    );
    let before = snapshot(dir.path());
    let err = ledger.append(vec![0; 65536]).unwrap_err();
    assert!(
        matches!(err, LedgerError::EntryTooLarge { size: 65536 }),
        "{err:?}"
    );
    let err = ledger
        .append_all(&[b"fine".to_vec(), vec![1; 70_000], b"fine".to_vec()])
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::EntryTooLarge { size: 70_000 }),
        "{err:?}"
    );
    assert_eq!(
        snapshot(dir.path()),
        before,
        "a refused append must not touch the ledger"
    );
    check_log(
        dir.path(),
        &signer,
        &[biggest.clone(), b"small".to_vec(), biggest],
    );
}

/// Counts the batches through the checkpoints kept after each one.
fn kept_sizes(dir: &Path) -> Vec<u64> {
    let mut sizes: Vec<u64> = fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .map(|n| n.parse().unwrap())
        .collect();
    sizes.sort_unstable();
    sizes
}

#[test]
fn kept_checkpoints_count_batches() {
    // The counting method used below: one kept checkpoint per batch, at the size it reached.
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), signer(), keep_every_batch()).unwrap();
    ledger.append(b"a".to_vec()).unwrap();
    ledger.append_all(&entries("b", 0, 10)).unwrap();
    ledger.append(b"c".to_vec()).unwrap();
    assert_eq!(kept_sizes(dir.path()), vec![1, 11, 12]);
    let report = assert_valid(dir.path(), ledger.verifier());
    assert_eq!(
        report.checkpoints, 4,
        "three kept checkpoints and the latest"
    );
    // An empty batch commits nothing.
    let before = snapshot(dir.path());
    assert_eq!(ledger.append_all(&[]).unwrap(), 12);
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn checkpoints_are_kept_every_n_entries_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer();
    let policy = CheckpointPolicy {
        every_entries: 100,
        every: Duration::MAX,
    };
    let ledger = Ledger::open(dir.path(), copy(&signer), policy).unwrap();
    for e in entries("n", 0, 250) {
        ledger.append(e).unwrap();
    }
    assert_eq!(kept_sizes(dir.path()), vec![100, 200]);
    drop(ledger);
    // Reopened, the count goes on from the last kept checkpoint.
    let ledger = Ledger::open(dir.path(), copy(&signer), policy).unwrap();
    for e in entries("n", 250, 320) {
        ledger.append(e).unwrap();
    }
    assert_eq!(kept_sizes(dir.path()), vec![100, 200, 300]);
    // A batch crossing several marks keeps one checkpoint, at its end.
    ledger.append_all(&entries("n", 320, 560)).unwrap();
    assert_eq!(kept_sizes(dir.path()), vec![100, 200, 300, 560]);
    assert_eq!(ledger.keep_checkpoint().unwrap().size, 560);
    assert_eq!(assert_valid(dir.path(), &signer.verifier()).checkpoints, 5);
}

#[test]
fn group_commit_from_eight_threads() {
    const THREADS: u64 = 8;
    const EACH: u64 = 250;
    let dir = tempfile::tempdir().unwrap();
    let signer = signer();
    let ledger = Ledger::open(dir.path(), copy(&signer), keep_every_batch()).unwrap();
    let results: Vec<Vec<(u64, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let ledger = &ledger;
                s.spawn(move || {
                    let tag = format!("thread {t}");
                    let mut got = Vec::new();
                    if t == 0 {
                        // One thread appends whole batches in between the others' single appends.
                        for chunk in entries(&tag, 0, EACH).chunks(10) {
                            let first = ledger.append_all(chunk).unwrap();
                            got.extend(
                                chunk
                                    .iter()
                                    .enumerate()
                                    .map(|(k, e)| (first + k as u64, e.clone())),
                            );
                        }
                    } else {
                        for e in entries(&tag, 0, EACH) {
                            got.push((ledger.append(e.clone()).unwrap(), e));
                        }
                    }
                    got
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = THREADS * EACH;
    let mut by_index = BTreeMap::new();
    for got in &results {
        // One thread's appends are sequential, so their indexes increase.
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "indexes of one thread must increase"
        );
        for (i, e) in got {
            assert!(
                by_index.insert(*i, e.clone()).is_none(),
                "index {i} handed out twice"
            );
        }
    }
    assert_eq!(
        by_index.keys().copied().collect::<Vec<_>>(),
        (0..total).collect::<Vec<_>>()
    );
    let expected: Vec<Vec<u8>> = by_index.into_values().collect();
    let kept = kept_sizes(dir.path());
    let report = verify_all(dir.path(), &signer.verifier());
    assert!(report.is_valid(), "{:#?}", report.problems);
    // Every batch's checkpoint is kept (and was just checked against the entries).
    assert_eq!(kept.last(), Some(&total));
    assert_eq!(report.checkpoints, kept.len() + 1);
    let appends = (THREADS - 1) * EACH + EACH / 10;
    assert!(
        kept.len() as u64 <= appends,
        "{} batches for {appends} appends",
        kept.len()
    );
    // Batching depends on the scheduler, so it is reported rather than asserted.
    println!(
        "group commit: {appends} append calls of {total} entries were committed in {} batches",
        kept.len()
    );
    check_log(dir.path(), &signer, &expected);
}

#[test]
fn two_instances_on_one_directory_alternate() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer();
    let a = Ledger::open(dir.path(), copy(&signer), manual()).unwrap();
    let b = Ledger::open(dir.path(), copy(&signer), manual()).unwrap();
    let mut expected = Vec::new();
    for i in 0..300u64 {
        let (ledger, tag) = if i % 3 == 0 { (&b, "b") } else { (&a, "a") };
        let e = entry(tag, i);
        assert_eq!(
            ledger.append(e.clone()).unwrap(),
            expected.len() as u64,
            "append {i} by {tag}"
        );
        expected.push(e);
        if i % 50 == 0 {
            let more = entries(tag, 1000 + i, 1000 + i + 7);
            assert_eq!(ledger.append_all(&more).unwrap(), expected.len() as u64);
            expected.extend(more);
        }
    }
    // Each instance keeps the checkpoint of the log as it is now, not as it last saw it.
    let kept = a.keep_checkpoint().unwrap();
    assert_eq!(kept.size, expected.len() as u64);
    b.append(b"last".to_vec()).unwrap();
    expected.push(b"last".to_vec());
    let kept = b.keep_checkpoint().unwrap();
    assert_eq!(kept.size, expected.len() as u64);
    assert_eq!(kept.root, latest(dir.path(), &signer.verifier()).root);
    check_log(dir.path(), &signer, &expected);
}

#[test]
fn two_instances_on_one_directory_append_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer();
    let a = Ledger::open(dir.path(), copy(&signer), manual()).unwrap();
    let b = Ledger::open(dir.path(), copy(&signer), manual()).unwrap();
    let results: Vec<Vec<(u64, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = [(&a, "a0"), (&a, "a1"), (&b, "b0"), (&b, "b1")]
            .into_iter()
            .map(|(ledger, tag)| {
                s.spawn(move || {
                    let mut got = Vec::new();
                    for e in entries(tag, 0, 200) {
                        got.push((ledger.append(e.clone()).unwrap(), e));
                    }
                    let batch = entries(tag, 200, 230);
                    let first = ledger.append_all(&batch).unwrap();
                    got.extend(
                        batch
                            .into_iter()
                            .enumerate()
                            .map(|(k, e)| (first + k as u64, e)),
                    );
                    got
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut by_index = BTreeMap::new();
    for (i, e) in results.into_iter().flatten() {
        assert!(
            by_index.insert(i, e).is_none(),
            "index {i} handed out twice"
        );
    }
    assert_eq!(
        by_index.keys().copied().collect::<Vec<_>>(),
        (0..4 * 230).collect::<Vec<_>>()
    );
    check_log(
        dir.path(),
        &signer,
        &by_index.into_values().collect::<Vec<_>>(),
    );
}

// ---------------------------------------------------------------------------------------------
// Child processes: this test binary, re-executed to run only `child_process`.

const CHILD_MODE: &str = "QWARDEN_LEDGER_TEST_CHILD";
const CHILD_DIR: &str = "QWARDEN_LEDGER_TEST_DIR";
const CHILD_KEY: &str = "QWARDEN_LEDGER_TEST_KEY";
const CHILD_TAG: &str = "QWARDEN_LEDGER_TEST_TAG";
const CHILD_COUNT: &str = "QWARDEN_LEDGER_TEST_COUNT";

/// The entry thread `thread` of a child appends `n`-th.
fn child_entry(tag: &str, thread: u64, n: u64) -> Vec<u8> {
    entry(&format!("{tag} thread {thread}"), n)
}

/// The body of a child process; a no-op unless a parent test set [`CHILD_MODE`]:
///
/// - `append`: appends `COUNT` entries from one thread, then exits;
/// - `forever`: appends from four threads until killed.
///
/// After each durable append it prints `acked <index> <thread> <n>` and flushes.
#[test]
fn child_process() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    let skey = fs::read_to_string(std::env::var(CHILD_KEY).unwrap()).unwrap();
    let tag = std::env::var(CHILD_TAG).unwrap();
    let ledger = Ledger::open(&dir, NoteSigner::from_skey(skey.trim()).unwrap(), manual()).unwrap();
    let (threads, count) = match mode.as_str() {
        "append" => (1, std::env::var(CHILD_COUNT).unwrap().parse().unwrap()),
        "forever" => (4, u64::MAX),
        other => panic!("unknown child mode `{other}`"),
    };
    std::thread::scope(|s| {
        for t in 0..threads {
            let (ledger, tag) = (&ledger, &tag);
            s.spawn(move || {
                for n in 0..count {
                    let index = ledger.append(child_entry(tag, t, n)).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "acked {index} {t} {n}").unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

/// A child process appending to the ledger in `dir` with the key in `key`.
fn spawn_child(
    mode: &str,
    dir: &Path,
    key: &Path,
    tag: &str,
    count: u64,
) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_MODE, mode)
        .env(CHILD_DIR, dir)
        .env(CHILD_KEY, key)
        .env(CHILD_TAG, tag)
        .env(CHILD_COUNT, count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

/// One acknowledgement: the index the child was given for its entry `n` of thread `thread`.
#[derive(Debug, Clone, Copy)]
struct Ack {
    index: u64,
    thread: u64,
    n: u64,
}

/// The next complete acknowledgement line, or `None` at the end of the output. The test harness
/// prints its own lines too, and a line cut off by `kill -9` (no newline) acknowledges nothing.
fn next_ack(out: &mut BufReader<ChildStdout>) -> Option<Ack> {
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            return None;
        }
        let Some(body) = line.strip_suffix('\n') else {
            continue;
        };
        let Some(at) = body.find("acked ") else {
            continue;
        };
        let fields: Vec<u64> = body[at + 6..]
            .split(' ')
            .map(|f| f.parse().unwrap())
            .collect();
        let [index, thread, n] = fields[..] else {
            panic!("malformed acknowledgement `{body}`")
        };
        return Some(Ack { index, thread, n });
    }
}

/// Writes `signer`'s private key where a child reads it.
fn key_file(dir: &Path, signer: &NoteSigner) -> PathBuf {
    let path = dir.join("test.key");
    fs::write(&path, signer.to_skey().as_bytes()).unwrap();
    path
}

#[test]
fn a_second_process_appends_at_the_same_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let signer = signer();
    let key = key_file(tmp.path(), &signer);
    let ledger = Ledger::open(&dir, copy(&signer), manual()).unwrap();
    ledger.append(b"before the child".to_vec()).unwrap();
    let (mut child, mut out) = spawn_child("append", &dir, &key, "child", 400);
    // Start appending once the child has: from then on both processes append.
    let first = next_ack(&mut out).expect("the child acknowledged nothing");
    let mut mine: Vec<(u64, Vec<u8>)> = Vec::new();
    for e in entries("parent", 0, 400) {
        mine.push((ledger.append(e.clone()).unwrap(), e));
    }
    let mut acks = vec![first];
    while let Some(ack) = next_ack(&mut out) {
        acks.push(ack);
    }
    assert!(child.wait().unwrap().success(), "the child failed");
    assert_eq!(acks.len(), 400);
    let mut by_index: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    by_index.insert(0, b"before the child".to_vec());
    for (i, e) in mine {
        assert!(
            by_index.insert(i, e).is_none(),
            "index {i} handed out twice"
        );
    }
    for a in &acks {
        assert!(
            by_index
                .insert(a.index, child_entry("child", a.thread, a.n))
                .is_none(),
            "index {} handed out twice",
            a.index
        );
    }
    assert_eq!(
        by_index.keys().copied().collect::<Vec<_>>(),
        (0..801).collect::<Vec<_>>()
    );
    let expected: Vec<Vec<u8>> = by_index.into_values().collect();
    // How often the log switches from one process's entries to the other's (depends on the
    // scheduler, so it is reported, not asserted).
    let switches = expected
        .windows(2)
        .filter(|w| w[0].starts_with(b"child") != w[1].starts_with(b"child"))
        .count();
    println!("two processes: the log switches writer {switches} times");
    check_log(&dir, &signer, &expected);
}

#[test]
fn kill_9_during_appends_keeps_every_acknowledged_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let signer = signer();
    let verifier = signer.verifier();
    let key = key_file(tmp.path(), &signer);
    // Every entry known to be in the log: acknowledged by a child or appended here.
    let mut known: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for (round, kill_after) in [200usize, 333, 251, 402].into_iter().enumerate() {
        let tag = format!("round {round}");
        let (mut child, mut out) = spawn_child("forever", &dir, &key, &tag, 0);
        let mut acks = Vec::new();
        while acks.len() < kill_after {
            acks.push(next_ack(&mut out).expect("the child stopped before it was killed"));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "the child must have been killed, not finished: {status}"
        );
        // What the child acknowledged before it died is durable too.
        while let Some(ack) = next_ack(&mut out) {
            acks.push(ack);
        }
        for a in &acks {
            let e = child_entry(&tag, a.thread, a.n);
            assert!(
                known.insert(a.index, e).is_none(),
                "round {round}: index {} acknowledged twice",
                a.index
            );
        }
        // Whether the kill landed inside an atomic write (it usually lands inside some batch).
        let torn = snapshot(&dir)
            .into_keys()
            .filter(|p| p.to_string_lossy().contains(".tmp."))
            .count();
        println!(
            "kill -9 round {round}: {} acknowledged, {torn} temporary files left behind",
            acks.len()
        );
        // The log reopens, verifies, and holds every acknowledged entry.
        let ledger = Ledger::open(&dir, copy(&signer), manual()).unwrap_or_else(|e| {
            panic!("round {round}: the ledger does not reopen after kill -9: {e}")
        });
        let report = verify_all(&dir, &verifier);
        assert!(report.is_valid(), "round {round}: {:#?}", report.problems);
        let last = *known.keys().next_back().unwrap();
        assert!(
            report.size > last,
            "round {round}: size {} but entry {last} was acknowledged",
            report.size
        );
        let on_disk = read_entries(&dir, report.size);
        for (i, e) in &known {
            assert_eq!(
                &on_disk[*i as usize], e,
                "round {round}: acknowledged entry {i}"
            );
        }
        // The rest were appended but not yet acknowledged when the child died: still its own.
        for (i, e) in on_disk.iter().enumerate() {
            assert!(
                known.contains_key(&(i as u64)) || e.starts_with(b"round "),
                "round {round}: entry {i} is {e:?}"
            );
        }
        // And the log carries on.
        let more = entries(&tag, 0, 20);
        let first = ledger.append_all(&more).unwrap();
        assert_eq!(first, report.size);
        for (k, e) in more.into_iter().enumerate() {
            known.insert(first + k as u64, e);
        }
        ledger.keep_checkpoint().unwrap();
        let report = verify_all(&dir, &verifier);
        assert!(
            report.is_valid(),
            "round {round}, after appending: {:#?}",
            report.problems
        );
    }
}

#[test]
fn crash_leftovers_past_the_checkpoint_are_ignored_and_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer();
    let verifier = signer.verifier();
    let ledger = Ledger::open(dir.path(), copy(&signer), manual()).unwrap();
    let mut expected = entries("kept", 0, 300);
    ledger.append_all(&expected).unwrap();
    drop(ledger);
    // A batch to 700 that crashed after writing its tiles and bundles, before the checkpoint;
    // with other entries than the ones appended below, and some files only half there.
    let ghost = entries("ghost", 0, 700);
    let ghost_leaves = leaves(&ghost);
    write_bundle(dir.path(), &TileId::full(0, 1), &ghost[256..512]);
    write_tile(dir.path(), &TileId::full(0, 1), &ghost_leaves[256..512]);
    write_bundle(
        dir.path(),
        &TileId {
            level: 0,
            index: 2,
            width: 188,
        },
        &ghost[512..700],
    );
    write(
        &dir.path().join(
            TileId {
                level: 0,
                index: 2,
                width: 188,
            }
            .path(),
        ),
        b"half a tile",
    );
    write_tile(
        dir.path(),
        &TileId {
            level: 1,
            index: 0,
            width: 2,
        },
        &[[7; 32], [8; 32]],
    );
    // And temporary files of interrupted atomic writes.
    fs::write(
        dir.path().join(".checkpoint.tmp.999999"),
        b"ghost checkpoint",
    )
    .unwrap();
    fs::write(
        dir.path().join("checkpoints/.700.tmp.999999"),
        b"ghost checkpoint",
    )
    .unwrap();
    write(
        &dir.path().join("tile/entries/.001.tmp.999999"),
        b"ghost bundle",
    );
    write(&dir.path().join("tile/0/.001.p"), b"");
    let report = verify_all(dir.path(), &verifier);
    assert!(
        report.is_valid(),
        "leftovers past the checkpoint are not part of the log: {:#?}",
        report.problems
    );
    assert_eq!(report.size, 300);

    let ledger = Ledger::open(dir.path(), copy(&signer), manual()).unwrap();
    let more = entries("after", 300, 700);
    assert_eq!(ledger.append_all(&more).unwrap(), 300);
    expected.extend(more);
    let report = assert_valid(dir.path(), &verifier);
    assert_eq!(report.size, 700);
    assert_eq!(read_entries(dir.path(), 700), expected);
    let leaves = leaves(&expected);
    for id in tiles::tiles_for_size(700) {
        assert_eq!(
            read_tile(dir.path(), &id),
            tiles::hashes_for_tile(&id, &leaves[..]).unwrap(),
            "{}",
            id.path()
        );
    }
    assert_eq!(
        latest(dir.path(), &verifier).root,
        merkle::tree_hash(&leaves[..], 700).unwrap()
    );
}

#[test]
fn a_crash_before_the_first_checkpoint_leaves_an_empty_log() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer();
    drop(Ledger::open(dir.path(), copy(&signer), manual()).unwrap());
    // The very first batch wrote its bundle and tile, then died.
    let ghost = entries("ghost", 0, 10);
    write_bundle(
        dir.path(),
        &TileId {
            level: 0,
            index: 0,
            width: 10,
        },
        &ghost,
    );
    write_tile(
        dir.path(),
        &TileId {
            level: 0,
            index: 0,
            width: 10,
        },
        &leaves(&ghost),
    );
    let ledger = Ledger::open(dir.path(), copy(&signer), manual()).unwrap();
    let expected = entries("real", 0, 10);
    assert_eq!(ledger.append_all(&expected).unwrap(), 0);
    check_log(dir.path(), &signer, &expected);
}

// ---------------------------------------------------------------------------------------------
// home.rs

#[test]
fn home_makes_a_private_key_and_reuses_it() {
    let state = tempfile::tempdir().unwrap();
    let home = LedgerHome::new(state.path());
    assert_eq!(home.dir, state.path().join("ledger"));
    assert_eq!(home.key, state.path().join("keys/ledger.key"));
    let ledger = home.open(manual()).unwrap();
    let origin = ledger.origin().to_owned();

    let mode = fs::metadata(&home.key).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o600,
        "the signing key must be readable by its owner only"
    );
    let mode = fs::metadata(state.path().join("keys"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "the key directory must be private");
    let skey = fs::read_to_string(&home.key).unwrap();
    assert_eq!(NoteSigner::from_skey(skey.trim()).unwrap().name(), origin);
    // Nothing secret in the shareable ledger directory.
    for (path, bytes) in snapshot(&home.dir) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("PRIVATE"),
            "`{}` holds the private key",
            path.display()
        );
    }

    let parts: Vec<&str> = origin.split('/').collect();
    let [host, qwarden, id] = parts[..] else {
        panic!("origin `{origin}` is not <host>/qwarden/<id>")
    };
    let expected_host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let expected_host = expected_host.trim();
    if !expected_host.is_empty()
        && expected_host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    {
        assert_eq!(host, expected_host);
    }
    assert!(!host.is_empty());
    assert_eq!(qwarden, "qwarden");
    assert!(
        id.len() == 16
            && id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "log id `{id}`"
    );

    assert_eq!(ledger.append(b"first".to_vec()).unwrap(), 0);
    drop(ledger);
    let again = home.open(manual()).unwrap();
    assert_eq!(again.origin(), origin, "reopening must reuse the key");
    assert_eq!(again.append(b"second".to_vec()).unwrap(), 1);
    assert_eq!(fs::read_to_string(&home.key).unwrap(), skey);
    let verifier = home.verifier().unwrap();
    assert_eq!(&verifier, again.verifier());
    assert_valid(&home.dir, &verifier);

    // Another state directory makes another log.
    let other = tempfile::tempdir().unwrap();
    assert_ne!(
        LedgerHome::new(other.path())
            .open(manual())
            .unwrap()
            .origin(),
        origin
    );
}

#[test]
fn home_refuses_a_ledger_whose_key_is_missing() {
    let state = tempfile::tempdir().unwrap();
    let home = LedgerHome::new(state.path());
    home.open(manual())
        .unwrap()
        .append(b"an event".to_vec())
        .unwrap();
    fs::remove_file(&home.key).unwrap();
    let before = snapshot(state.path());
    let err = home.open(manual()).unwrap_err();
    assert!(matches!(err, LedgerError::Damaged { .. }), "{err:?}");
    assert_eq!(
        snapshot(state.path()),
        before,
        "no new key may be made for an existing ledger"
    );
}

#[test]
fn home_refuses_a_ledger_whose_key_is_missing_before_its_first_append() {
    let state = tempfile::tempdir().unwrap();
    let home = LedgerHome::new(state.path());
    drop(home.open(manual()).unwrap());
    fs::remove_file(&home.key).unwrap();
    let before = snapshot(state.path());
    let err = home.open(manual()).unwrap_err();
    assert!(matches!(err, LedgerError::Damaged { .. }), "{err:?}");
    assert_eq!(
        snapshot(state.path()),
        before,
        "no new key may be made for an existing ledger"
    );
}
