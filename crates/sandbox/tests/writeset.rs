//! The write set: snapshots, refresh, diff and digest, against real files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qwarden_sandbox::writeset::{
    self, Change, EntryKind, Op, Snapshot, SnapshotOptions, WriteSetError, diff, digest,
};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::num::NonZeroUsize;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// Trust metadata completely, so that files written just before a snapshot count as unchanged.
const TRUSTING: SnapshotOptions = SnapshotOptions {
    racy_window: Duration::ZERO,
    workers: None,
};

fn write(path: &Path, content: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, content).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The digest `sha256sum` computes, in our spelling.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success(), "sha256sum failed");
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

fn sha256_bytes(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn find<'a>(changes: &'a [Change], path: &Path) -> &'a Change {
    changes
        .iter()
        .find(|c| c.path == path)
        .unwrap_or_else(|| panic!("no change for {}: {changes:#?}", path.display()))
}

fn summary(changes: &[Change], root: &Path) -> Vec<(Op, String, EntryKind)> {
    changes
        .iter()
        .map(|c| {
            (
                c.op,
                c.path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                c.kind,
            )
        })
        .collect()
}

fn snap(root: &Path) -> Snapshot {
    Snapshot::take_with(&[root.to_path_buf()], TRUSTING).unwrap()
}

/// The effective uid, read without `unsafe`: the owner of a file this process creates.
fn running_as_root() -> bool {
    let probe = tempfile::NamedTempFile::new().unwrap();
    probe.as_file().metadata().unwrap().uid() == 0
}

#[test]
fn create_modify_delete_with_sizes_and_sha256sum_digests() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("keep.txt"), b"unchanged\n");
    write(&root.join("edit.txt"), b"old content\n");
    write(&root.join("gone.txt"), b"to be deleted\n");
    let before = snap(root);

    let gone_digest = sha256sum(&root.join("gone.txt"));
    let edit_before = sha256sum(&root.join("edit.txt"));
    write(&root.join("edit.txt"), b"new content, longer\n");
    fs::remove_file(root.join("gone.txt")).unwrap();
    write(&root.join("new.bin"), &[0_u8, 1, 2, 255, 254]);
    let after = before.refresh(&[root.to_path_buf()]).unwrap();
    let changes = diff(&before, &after);

    assert_eq!(
        summary(&changes, root),
        vec![
            (Op::Modify, "edit.txt".into(), EntryKind::File),
            (Op::Delete, "gone.txt".into(), EntryKind::File),
            (Op::Create, "new.bin".into(), EntryKind::File),
        ]
    );
    let edit = find(&changes, &root.join("edit.txt"));
    assert_eq!(edit.size, Some(20));
    assert_eq!(edit.sha256_before.as_deref(), Some(edit_before.as_str()));
    assert_eq!(
        edit.sha256_after.as_deref(),
        Some(sha256sum(&root.join("edit.txt")).as_str())
    );
    assert!(edit.path.is_absolute());
    let gone = find(&changes, &root.join("gone.txt"));
    assert_eq!(gone.size, None);
    assert_eq!(gone.sha256_before.as_deref(), Some(gone_digest.as_str()));
    assert_eq!(gone.sha256_after, None);
    assert_eq!(gone.mode_after, None);
    let new = find(&changes, &root.join("new.bin"));
    assert_eq!(new.size, Some(5));
    assert_eq!(new.sha256_before, None);
    assert_eq!(
        new.sha256_after.as_deref(),
        Some(sha256sum(&root.join("new.bin")).as_str())
    );
    assert!(changes.iter().all(|c| c.note.is_none()));
    // The snapshot's own record agrees with sha256sum too.
    assert_eq!(
        after.get(&root.join("keep.txt")).unwrap().sha256.as_deref(),
        Some(sha256sum(&root.join("keep.txt")).as_str())
    );
    assert_eq!(after.get(&root.join("keep.txt")).unwrap().size, 10);
}

#[test]
fn digests_of_empty_and_large_files_match_sha256sum() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("empty"), b"");
    // Several buffers' worth, not a multiple of the buffer size.
    let big: Vec<u8> = (0..(3 * writeset::HASH_BUFFER_SIZE + 12_345))
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    write(&root.join("big"), &big);
    let snapshot = snap(root);
    for name in ["empty", "big"] {
        let entry = snapshot.get(&root.join(name)).unwrap();
        assert_eq!(
            entry.sha256.as_deref(),
            Some(sha256sum(&root.join(name)).as_str())
        );
    }
    assert_eq!(
        snapshot.get(&root.join("empty")).unwrap().sha256.as_deref(),
        Some("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(
        snapshot.get(&root.join("big")).unwrap().size,
        big.len() as u64
    );
    assert_eq!(snapshot.stats().bytes_hashed, big.len() as u64);
    assert_eq!(snapshot.stats().files_hashed, 2);
}

#[test]
fn type_changes_are_modifications() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("becomes-link"), b"file\n");
    write(&root.join("becomes-dir"), b"file\n");
    write(&root.join("was-dir/inner"), b"x");
    let before = snap(root);

    fs::remove_file(root.join("becomes-link")).unwrap();
    symlink("elsewhere", root.join("becomes-link")).unwrap();
    fs::remove_file(root.join("becomes-dir")).unwrap();
    fs::create_dir(root.join("becomes-dir")).unwrap();
    fs::remove_dir_all(root.join("was-dir")).unwrap();
    write(&root.join("was-dir"), b"now a file");
    let after = before.refresh(&[root.to_path_buf()]).unwrap();
    let changes = diff(&before, &after);

    assert_eq!(
        summary(&changes, root),
        vec![
            (Op::Modify, "becomes-dir".into(), EntryKind::Dir),
            (Op::Modify, "becomes-link".into(), EntryKind::Symlink),
            (Op::Modify, "was-dir".into(), EntryKind::File),
            (Op::Delete, "was-dir/inner".into(), EntryKind::File),
        ]
    );
    let link = find(&changes, &root.join("becomes-link"));
    assert_eq!(link.kind_before(), Some(EntryKind::File));
    assert_eq!(link.sha256_after, Some(sha256_bytes(b"elsewhere")));
    assert_eq!(link.size, Some(9));
    let to_dir = find(&changes, &root.join("becomes-dir"));
    assert_eq!(to_dir.sha256_after, None);
    assert_eq!(to_dir.size, None);
    assert_eq!(
        find(&changes, &root.join("was-dir")).kind_before(),
        Some(EntryKind::Dir)
    );
}

#[test]
fn symlink_retarget_is_a_modification_and_links_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("secret"), b"outside the scope");
    let root = dir.path();
    symlink("a", root.join("link")).unwrap();
    symlink(outside.path(), root.join("to-outside")).unwrap();
    let before = snap(root);
    let entry = before.get(&root.join("to-outside")).unwrap();
    assert_eq!(entry.kind, EntryKind::Symlink);
    assert_eq!(entry.target.as_deref(), Some(outside.path()));
    // Nothing behind the link was recorded.
    assert_eq!(before.entries().len(), 2);

    fs::remove_file(root.join("link")).unwrap();
    symlink("b", root.join("link")).unwrap();
    let after = before.refresh(&[root.to_path_buf()]).unwrap();
    let changes = diff(&before, &after);
    assert_eq!(
        summary(&changes, root),
        vec![(Op::Modify, "link".into(), EntryKind::Symlink)]
    );
    assert_eq!(changes[0].sha256_before, Some(sha256_bytes(b"a")));
    assert_eq!(changes[0].sha256_after, Some(sha256_bytes(b"b")));
}

#[test]
fn chmod_plus_x_is_a_modification_with_equal_digests() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("run.sh"), b"#!/bin/sh\necho hi\n");
    chmod(&root.join("run.sh"), 0o644);
    let before = snap(root);
    chmod(&root.join("run.sh"), 0o755);
    let after = before.refresh(&[root.to_path_buf()]).unwrap();
    let changes = diff(&before, &after);
    assert_eq!(
        summary(&changes, root),
        vec![(Op::Modify, "run.sh".into(), EntryKind::File)]
    );
    let change = &changes[0];
    assert_eq!(change.sha256_before, change.sha256_after);
    assert_eq!(change.mode_before, Some(0o100_644));
    assert_eq!(change.mode_after, Some(0o100_755));
}

#[test]
fn nested_directories_created_and_deleted_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("old/deep/file.txt"), b"x");
    fs::create_dir(root.join("old/empty")).unwrap();
    let before = snap(root);
    fs::remove_dir_all(root.join("old")).unwrap();
    write(&root.join("new/a/b/c.txt"), b"hello");
    let after = before.refresh(&[root.to_path_buf()]).unwrap();
    let changes = diff(&before, &after);
    assert_eq!(
        summary(&changes, root),
        vec![
            (Op::Create, "new".into(), EntryKind::Dir),
            (Op::Create, "new/a".into(), EntryKind::Dir),
            (Op::Create, "new/a/b".into(), EntryKind::Dir),
            (Op::Create, "new/a/b/c.txt".into(), EntryKind::File),
            (Op::Delete, "old".into(), EntryKind::Dir),
            (Op::Delete, "old/deep".into(), EntryKind::Dir),
            (Op::Delete, "old/deep/file.txt".into(), EntryKind::File),
            (Op::Delete, "old/empty".into(), EntryKind::Dir),
        ]
    );
    for change in changes.iter().filter(|c| c.kind == EntryKind::Dir) {
        assert_eq!(change.sha256_before, None);
        assert_eq!(change.sha256_after, None);
        assert_eq!(change.size, None);
    }
}

#[test]
fn touched_mtime_with_same_content_and_mode_is_not_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("sub/touched.txt"), b"same\n");
    write(&root.join("rewritten.txt"), b"same bytes\n");
    let before = snap(root);

    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    fs::File::options()
        .write(true)
        .open(root.join("sub/touched.txt"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    // Rewritten with identical bytes: new mtime and ctime, same content.
    write(&root.join("rewritten.txt"), b"same bytes\n");
    // A directory whose mtime moves because an entry came and went.
    write(&root.join("sub/tmp"), b"x");
    fs::remove_file(root.join("sub/tmp")).unwrap();
    let after = before.refresh(&[root.to_path_buf()]).unwrap();

    assert_ne!(
        before.get(&root.join("sub/touched.txt")).unwrap().mtime_ns,
        after.get(&root.join("sub/touched.txt")).unwrap().mtime_ns
    );
    assert_eq!(diff(&before, &after), vec![]);
    // Both were re-read (their metadata changed), and found identical.
    assert_eq!(after.stats().files_hashed, 2);
}

#[test]
fn refresh_reuses_digests_of_files_with_identical_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..10 {
        write(
            &root.join(format!("d{}/f{i}", i % 3)),
            format!("{i}").as_bytes(),
        );
    }
    let before = snap(root);
    assert_eq!(before.stats().files_hashed, 10);
    assert_eq!(before.stats().hashes_reused, 0);

    let unchanged = before.refresh(&[root.to_path_buf()]).unwrap();
    assert_eq!(unchanged.stats().files_hashed, 0, "nothing needed reading");
    assert_eq!(unchanged.stats().hashes_reused, 10);
    assert_eq!(unchanged.stats().bytes_hashed, 0);
    assert_eq!(diff(&before, &unchanged), vec![]);
    for (path, entry) in before.entries() {
        assert_eq!(unchanged.get(path), Some(entry));
    }

    write(&root.join("d1/f4"), b"changed");
    let after = unchanged.refresh(&[root.to_path_buf()]).unwrap();
    assert_eq!(after.stats().files_hashed, 1, "only the changed file");
    assert_eq!(after.stats().hashes_reused, 9);
    assert_eq!(
        summary(&diff(&before, &after), root),
        vec![(Op::Modify, "d1/f4".into(), EntryKind::File)]
    );
}

#[test]
fn racy_files_are_hashed_again_even_with_identical_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("a"), b"a");
    write(&root.join("b"), b"b");
    // With a window of a day, every file written just now is racy.
    let options = SnapshotOptions {
        racy_window: Duration::from_secs(86_400),
        workers: None,
    };
    let before = Snapshot::take_with(&[root.to_path_buf()], options).unwrap();
    assert_eq!(before.options(), options);
    let after = before.refresh(&[root.to_path_buf()]).unwrap();
    assert_eq!(after.stats().files_hashed, 2);
    assert_eq!(after.stats().hashes_reused, 0);
    assert_eq!(diff(&before, &after), vec![]);
    // The default window is a few seconds, not zero.
    assert_eq!(
        SnapshotOptions::default().racy_window,
        writeset::DEFAULT_RACY_WINDOW
    );
    assert!(writeset::DEFAULT_RACY_WINDOW > Duration::ZERO);
}

#[test]
fn parallel_hashing_matches_single_threaded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..300 {
        write(
            &root.join(format!("{}/{i}.dat", i % 7)),
            format!("file number {i}\n").repeat(i).as_bytes(),
        );
    }
    let one = Snapshot::take_with(
        &[root.to_path_buf()],
        SnapshotOptions {
            racy_window: Duration::ZERO,
            workers: Some(NonZeroUsize::MIN),
        },
    )
    .unwrap();
    let many = Snapshot::take_with(
        &[root.to_path_buf()],
        SnapshotOptions {
            racy_window: Duration::ZERO,
            workers: NonZeroUsize::new(8),
        },
    )
    .unwrap();
    assert_eq!(one.entries(), many.entries());
    assert_eq!(many.stats().files_hashed, 300);
    assert_eq!(many.stats().entries, 307);
    let sample = root.join("3/150.dat");
    assert_eq!(
        many.get(&sample).unwrap().sha256.as_deref(),
        Some(sha256sum(&sample).as_str())
    );
}

#[test]
fn several_roots_and_a_single_file_root() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write(&a.path().join("x"), b"x");
    write(&b.path().join("notebook.ipynb"), b"{}");
    let single = b.path().join("notebook.ipynb");
    let roots = vec![a.path().to_path_buf(), single.clone()];
    let before = Snapshot::take_with(&roots, TRUSTING).unwrap();
    assert_eq!(before.roots(), roots.as_slice());
    assert_eq!(before.entries().len(), 2);
    assert_eq!(
        before.get(&single).unwrap().sha256.as_deref(),
        Some(sha256_bytes(b"{}").as_str())
    );
    write(&single, b"{\"cells\":[]}");
    write(&a.path().join("y"), b"y");
    let after = before.refresh(&roots).unwrap();
    let changes = diff(&before, &after);
    assert_eq!(changes.len(), 2);
    assert_eq!(find(&changes, &single).op, Op::Modify);
    assert_eq!(find(&changes, &a.path().join("y")).op, Op::Create);
}

#[test]
fn a_missing_root_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-scope");
    let err = Snapshot::take(std::slice::from_ref(&missing)).unwrap_err();
    assert!(matches!(&err, WriteSetError::RootMissing { root } if *root == missing));
    let message = err.to_string();
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(message.contains("does not exist"), "{message}");
    assert!(message.contains("create it"), "{message}");
}

#[test]
fn diff_is_sorted_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let before = snap(root);
    for name in ["z", "a.txt", "a/b", "m", "a-b", "0"] {
        write(&root.join(name), b"1");
    }
    let after = before.refresh(&[root.to_path_buf()]).unwrap();
    let changes = diff(&before, &after);
    let paths: Vec<&PathBuf> = changes.iter().map(|c| &c.path).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert_eq!(changes.len(), 7);
}

#[test]
fn canonical_lines_and_digest_are_exact_and_order_independent() {
    let change = Change {
        op: Op::Create,
        path: PathBuf::from("/scope/say \"hi\"\n.txt"),
        kind: EntryKind::File,
        size: Some(3),
        sha256_before: None,
        sha256_after: Some(sha256_bytes(b"hi\n")),
        mode_before: None,
        mode_after: Some(0o100_644),
        note: Some("not part of the digest".into()),
    };
    let line = change.canonical_json();
    assert_eq!(
        line,
        format!(
            "{{\"kind\":\"file\",\"mode_after\":\"100644\",\"mode_before\":null,\"op\":\"create\",\
             \"path\":\"/scope/say \\\"hi\\\"\\n.txt\",\"sha256_after\":\"{}\",\"sha256_before\":null,\
             \"size\":3}}",
            sha256_bytes(b"hi\n")
        )
    );
    // The canonical line is valid JSON with sorted members (RFC 8785 order).
    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["path"], "/scope/say \"hi\"\n.txt");
    let keys: Vec<&String> = parsed.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // serde output is the same plus the note.
    let serialized = serde_json::to_value(&change).unwrap();
    assert_eq!(serialized["note"], "not part of the digest");
    assert_eq!(serialized["mode_after"], "100644");

    let other = Change {
        op: Op::Delete,
        path: PathBuf::from("/scope/a"),
        kind: EntryKind::Symlink,
        size: None,
        sha256_before: Some(sha256_bytes(b"target")),
        sha256_after: None,
        mode_before: Some(0o120_777),
        mode_after: None,
        note: None,
    };
    let expected = sha256_bytes(
        format!("{}\n{}\n", other.canonical_json(), change.canonical_json()).as_bytes(),
    );
    let forward = digest(&[change.clone(), other.clone()]);
    let backward = digest(&[other.clone(), change.clone()]);
    assert_eq!(forward, expected);
    assert_eq!(backward, expected);
    // The note does not matter; every other member does.
    let mut renoted = change.clone();
    renoted.note = None;
    assert_eq!(digest(&[renoted, other.clone()]), expected);
    let mut resized = change.clone();
    resized.size = Some(4);
    assert_ne!(digest(&[resized, other]), expected);
    assert_eq!(digest(&[]), sha256_bytes(b""));
}

#[test]
fn digest_of_a_real_write_set_is_stable_across_walks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..50 {
        write(&root.join(format!("{}/{i}", i % 5)), b"before");
    }
    let before = snap(root);
    for i in (0..50).step_by(3) {
        write(&root.join(format!("{}/{i}", i % 5)), b"after");
    }
    write(&root.join("new/file"), b"new");
    let one = before.refresh(&[root.to_path_buf()]).unwrap();
    let two = Snapshot::take_with(
        &[root.to_path_buf()],
        SnapshotOptions {
            racy_window: Duration::ZERO,
            workers: NonZeroUsize::new(3),
        },
    )
    .unwrap();
    let mut changes = diff(&before, &one);
    let first = digest(&changes);
    assert_eq!(digest(&diff(&before, &two)), first);
    changes.reverse();
    assert_eq!(digest(&changes), first);
    assert!(first.starts_with("sha256:") && first.len() == 7 + 64);
}

#[test]
fn non_utf8_paths_are_recorded_and_serialized_as_hex() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let before = snap(root);
    let name = OsStr::from_bytes(b"bad-\xff-name");
    write(&root.join(name), b"x");
    let after = before.refresh(&[root.to_path_buf()]).unwrap();
    let changes = diff(&before, &after);
    assert_eq!(changes.len(), 1);
    let line = changes[0].canonical_json();
    let expected_hex = hex::encode(root.join(name).as_os_str().as_bytes());
    assert!(
        line.contains(&format!("\"path_hex\":\"{expected_hex}\"")),
        "{line}"
    );
    assert!(!line.contains("\"path\""));
    serde_json::from_str::<serde_json::Value>(&line).unwrap();
}

/// Unreadable files and unlistable directories are recorded with a note instead of failing the
/// snapshot. Root can read everything, so as root the body runs again as `nobody`.
#[test]
fn unreadable_entries_are_noted_not_fatal() {
    if !running_as_root() {
        unreadable_body();
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: running as root and `setpriv` is not available to drop privileges");
        return;
    }
    let status = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_unreadable_as_unprivileged",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("QWARDEN_WRITESET_CHILD", "unreadable")
        .status()
        .unwrap();
    assert!(status.success(), "the unprivileged run failed: {status}");
}

/// Runs only when spawned by `unreadable_entries_are_noted_not_fatal`.
#[test]
fn child_unreadable_as_unprivileged() {
    if std::env::var_os("QWARDEN_WRITESET_CHILD").as_deref()
        != Some(std::ffi::OsStr::new("unreadable"))
    {
        return;
    }
    assert!(!running_as_root());
    unreadable_body();
}

fn unreadable_body() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("locked.txt"), b"secret");
    write(&root.join("closed/inside.txt"), b"inside");
    write(&root.join("open.txt"), b"fine");
    let before = snap(root);
    assert!(before.get(&root.join("closed/inside.txt")).is_some());

    chmod(&root.join("locked.txt"), 0o000);
    chmod(&root.join("closed"), 0o000);
    let after = before.refresh(&[root.to_path_buf()]).unwrap();
    let locked = after.get(&root.join("locked.txt")).unwrap();
    assert_eq!(locked.sha256, None);
    assert!(
        locked
            .note
            .as_deref()
            .unwrap()
            .to_lowercase()
            .contains("permission denied"),
        "{locked:?}"
    );
    let closed = after.get(&root.join("closed")).unwrap();
    assert!(closed.listing_failed);
    assert!(closed.note.as_deref().unwrap().contains("cannot list"));
    assert_eq!(after.stats().unreadable, 2);
    assert_eq!(
        after.get(&root.join("open.txt")).unwrap().sha256,
        before.get(&root.join("open.txt")).unwrap().sha256
    );

    let changes = diff(&before, &after);
    assert_eq!(
        summary(&changes, root),
        vec![
            (Op::Modify, "closed".into(), EntryKind::Dir),
            (Op::Delete, "closed/inside.txt".into(), EntryKind::File),
            (Op::Modify, "locked.txt".into(), EntryKind::File),
        ]
    );
    let unseen = find(&changes, &root.join("closed/inside.txt"));
    assert!(
        unseen.note.as_deref().unwrap().starts_with("not verified"),
        "{unseen:?}"
    );
    let locked_change = find(&changes, &root.join("locked.txt"));
    assert_eq!(locked_change.sha256_after, None);
    // The mode change is certain; the content could not be compared, and the change says so.
    assert_eq!(locked_change.mode_after, Some(0o100_000));
    assert!(
        locked_change
            .note
            .as_deref()
            .unwrap()
            .starts_with("content not compared"),
        "{locked_change:?}"
    );

    // A root that cannot be listed is an error, with the fix in the message.
    chmod(&root.join("closed"), 0o700);
    let unlistable = root.join("closed");
    chmod(&unlistable, 0o300);
    let err = Snapshot::take(std::slice::from_ref(&unlistable)).unwrap_err();
    assert!(matches!(err, WriteSetError::RootUnlistable { .. }), "{err}");
    assert!(err.to_string().contains("read and search permission"));
    chmod(&unlistable, 0o700);
    chmod(&root.join("locked.txt"), 0o600);
}

/// A filesystem mounted inside a scope is recorded but not descended into. Needs root (to mount
/// a tmpfs in a private mount namespace made with `unshare`); skipped otherwise.
#[test]
fn nested_mount_points_are_not_crossed() {
    if !running_as_root() {
        eprintln!("skipped: mounting a filesystem needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("own.txt"), b"mine");
    fs::create_dir(root.join("mnt")).unwrap();
    let script = r#"mount -t tmpfs qwarden-test "$1/mnt" && echo other > "$1/mnt/foreign.txt" && mkdir "$1/mnt/sub" && exec "$2" --exact child_mount_walk --nocapture --test-threads=1"#;
    let output = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(root)
        .arg(std::env::current_exe().unwrap())
        .env("QWARDEN_WRITESET_CHILD", "mount")
        .env("QWARDEN_WRITESET_ROOT", root)
        .output()
        .unwrap();
    if !output.status.success() && String::from_utf8_lossy(&output.stderr).contains("unshare") {
        eprintln!(
            "skipped: cannot make a mount namespace here: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    assert!(
        output.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("mount walk checked"));
}

/// Runs only inside the mount namespace made by `nested_mount_points_are_not_crossed`.
#[test]
fn child_mount_walk() {
    if std::env::var_os("QWARDEN_WRITESET_CHILD").as_deref() != Some(std::ffi::OsStr::new("mount"))
    {
        return;
    }
    let root = PathBuf::from(std::env::var_os("QWARDEN_WRITESET_ROOT").unwrap());
    assert!(
        root.join("mnt/foreign.txt").exists(),
        "the tmpfs is mounted"
    );
    let snapshot = snap(&root);
    let mount = snapshot.get(&root.join("mnt")).unwrap();
    assert_eq!(mount.kind, EntryKind::Dir);
    assert!(
        mount
            .note
            .as_deref()
            .unwrap()
            .contains("another filesystem"),
        "{mount:?}"
    );
    assert!(snapshot.get(&root.join("mnt/foreign.txt")).is_none());
    assert!(snapshot.get(&root.join("mnt/sub")).is_none());
    assert!(snapshot.get(&root.join("own.txt")).is_some());
    assert_eq!(snapshot.entries().len(), 2);
    // The mount point is unchanged across a refresh: no change, no crossing.
    let again = snapshot.refresh(std::slice::from_ref(&root)).unwrap();
    assert_eq!(diff(&snapshot, &again), vec![]);
    println!("mount walk checked");
}
