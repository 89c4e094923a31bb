//! The content-addressed store: digests, the on-disk layout, crash-safe writes, tamper and
//! foreign-file detection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qwarden_ledger::cas::{BlobStore, CasError, CasIssue, Digest, DirCas, MemCas};
use std::fs;
use std::path::Path;

const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn digest_text_form() {
    let d = Digest::of(b"");
    assert_eq!(d.to_string(), EMPTY);
    assert_eq!(EMPTY.parse::<Digest>().unwrap(), d);
    assert_eq!(Digest::from_hex(&d.to_hex()).unwrap(), d);
    assert_eq!(format!("{d:?}"), format!("Digest({EMPTY})"));
    assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{EMPTY}\""));
    assert_eq!(
        serde_json::from_str::<Digest>(&format!("\"{EMPTY}\"")).unwrap(),
        d
    );
    for bad in [
        "",
        "sha256:",
        &EMPTY.to_uppercase(),
        &EMPTY.replace("sha256:", "SHA256:"),
        &EMPTY.replace("sha256:", "sha512:"),
        &EMPTY[..EMPTY.len() - 1],
        &format!("{EMPTY}0"),
        &EMPTY.replace('e', "g"),
        &format!(" {EMPTY}"),
        &"x".repeat(10_000),
    ] {
        let err = bad.parse::<Digest>().unwrap_err();
        assert!(err.to_string().contains("not a digest"), "{err}");
        assert!(
            err.to_string().len() < 300,
            "error message not cut: {}",
            err.to_string().len()
        );
    }
}

#[test]
fn mem_cas_round_trip() {
    let mut cas = MemCas::new();
    assert!(cas.is_empty());
    let d = cas.put(b"hello").unwrap();
    assert_eq!(d, Digest::of(b"hello"));
    assert_eq!(cas.put(b"hello").unwrap(), d);
    assert_eq!(cas.len(), 1);
    assert!(cas.contains(&d));
    assert_eq!(cas.get(&d).unwrap(), b"hello");
    let missing = Digest::of(b"nope");
    let err = cas.get(&missing).unwrap_err();
    assert!(matches!(err, CasError::MissingInMemory { .. }));
    assert!(err.to_string().contains(&missing.to_string()));
}

fn temp_files(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(root) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(".tmp") {
            found.push(entry.display().to_string());
        }
    }
    found
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn dir_cas_layout_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("state/cas");
    let mut cas = DirCas::open(&root).unwrap();
    let d = cas.put(b"").unwrap();
    assert_eq!(d.to_string(), EMPTY);
    let path = cas.path_of(&d);
    assert_eq!(
        path,
        root.join("sha256/e3/b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(fs::read(&path).unwrap(), b"");
    assert_eq!(cas.get(&d).unwrap(), b"");

    let mut digests = Vec::new();
    for i in 0..64u32 {
        let bytes = format!("blob number {i}").repeat(i as usize % 7 + 1);
        let d = cas.put(bytes.as_bytes()).unwrap();
        assert_eq!(cas.get(&d).unwrap(), bytes.as_bytes());
        digests.push((d, bytes));
    }
    // Storing again is idempotent and leaves the file alone.
    let (d0, b0) = &digests[0];
    let before = fs::metadata(cas.path_of(d0)).unwrap().modified().unwrap();
    assert_eq!(cas.put(b0.as_bytes()).unwrap(), *d0);
    assert_eq!(
        fs::metadata(cas.path_of(d0)).unwrap().modified().unwrap(),
        before
    );

    assert!(
        temp_files(&root).is_empty(),
        "temporary files left: {:?}",
        temp_files(&root)
    );
    let report = cas.verify_all().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.blobs, 65);

    // A fresh handle on the same directory sees everything.
    let reopened = DirCas::open(&root).unwrap();
    for (d, bytes) in &digests {
        assert_eq!(reopened.get(d).unwrap(), bytes.as_bytes());
    }
}

#[cfg(unix)]
#[test]
fn dir_cas_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cas");
    let mut cas = DirCas::open(&root).unwrap();
    let d = cas.put(b"secret-ish payload").unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join("sha256")), 0o700);
    assert_eq!(mode(cas.path_of(&d).parent().unwrap()), 0o700);
    assert_eq!(mode(&cas.path_of(&d)), 0o600);
}

#[test]
fn tampered_blob_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut cas = DirCas::open(dir.path()).unwrap();
    let d = cas.put(b"original payload").unwrap();
    let path = cas.path_of(&d);
    fs::write(&path, b"altered payload").unwrap();

    let err = cas.get(&d).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, CasError::Tampered { actual, .. } if actual == Digest::of(b"altered payload"))
    );
    assert!(msg.contains(&d.to_string()), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");

    let report = cas.verify_all().unwrap();
    assert_eq!(report.blobs, 0);
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].path, path);
    assert_eq!(
        report.problems[0].issue,
        CasIssue::Corrupt {
            expected: d,
            actual: Digest::of(b"altered payload")
        }
    );
    assert!(report.problems[0].to_string().contains("corrupt"));

    // Writing the right bytes again repairs it.
    assert_eq!(cas.put(b"original payload").unwrap(), d);
    assert_eq!(cas.get(&d).unwrap(), b"original payload");
    assert!(cas.verify_all().unwrap().is_clean());

    // A truncated blob (what a crash without fsync could leave) is caught the same way.
    fs::write(&path, b"orig").unwrap();
    assert!(matches!(cas.get(&d), Err(CasError::Tampered { .. })));
}

#[test]
fn missing_blob_names_digest_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let cas = DirCas::open(dir.path()).unwrap();
    let d = Digest::of(b"never stored");
    let err = cas.get(&d).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CasError::Missing { .. }));
    assert!(
        msg.contains(&d.to_string()) && msg.contains(&cas.path_of(&d).display().to_string()),
        "{msg}"
    );
}

#[test]
fn foreign_and_leftover_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cas");
    let mut cas = DirCas::open(&root).unwrap();
    let good = cas.put(b"good").unwrap();
    let fan = cas.path_of(&good).parent().unwrap().to_path_buf();

    // What a crash between create and rename leaves behind.
    fs::write(fan.join(".tmp-abc123"), b"half a blo").unwrap();
    // Files the store never writes.
    fs::write(root.join("README"), b"hello").unwrap();
    fs::create_dir(root.join("sha512")).unwrap();
    fs::write(root.join("sha256/notes.txt"), b"x").unwrap();
    fs::create_dir(root.join("sha256/ZZ")).unwrap();
    fs::write(fan.join("not-a-digest"), b"x").unwrap();
    fs::write(fan.join("ABCDEF"), b"x").unwrap();
    fs::create_dir(fan.join("0".repeat(62))).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(cas.path_of(&good), fan.join("1".repeat(62))).unwrap();

    let report = cas.verify_all().unwrap();
    assert_eq!(report.blobs, 1);
    let issue_of = |name: &str| {
        report
            .problems
            .iter()
            .find(|p| p.path.file_name().unwrap() == name)
            .unwrap_or_else(|| panic!("{name} not reported in {:?}", report.problems))
            .issue
            .clone()
    };
    assert_eq!(issue_of(".tmp-abc123"), CasIssue::LeftoverTemp);
    for name in [
        "README",
        "sha512",
        "notes.txt",
        "ZZ",
        "not-a-digest",
        "ABCDEF",
        &"0".repeat(62),
    ] {
        assert_eq!(issue_of(name), CasIssue::Foreign, "{name}");
    }
    #[cfg(unix)]
    assert_eq!(issue_of(&"1".repeat(62)), CasIssue::Foreign);
    assert!(!report.is_clean());
    // None of that stops the good blob from being read.
    assert_eq!(cas.get(&good).unwrap(), b"good");
}

#[cfg(unix)]
#[test]
fn a_symlink_is_not_served_as_a_blob() {
    let dir = tempfile::tempdir().unwrap();
    let mut cas = DirCas::open(dir.path().join("cas")).unwrap();
    let outside = dir.path().join("outside");
    fs::write(&outside, b"payload").unwrap();
    let d = Digest::of(b"payload");
    let path = cas.path_of(&d);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&outside, &path).unwrap();
    assert!(matches!(cas.get(&d), Err(CasError::NotAFile { .. })));
    // Storing the blob replaces the link with a real file.
    cas.put(b"payload").unwrap();
    assert!(fs::symlink_metadata(&path).unwrap().file_type().is_file());
    assert_eq!(cas.get(&d).unwrap(), b"payload");
}

#[test]
fn a_failed_write_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cas");
    let mut cas = DirCas::open(&root).unwrap();
    let d = Digest::of(b"blocked");
    // A directory where the blob should go makes the final rename fail.
    fs::create_dir_all(cas.path_of(&d)).unwrap();
    fs::write(cas.path_of(&d).join("inside"), b"x").unwrap();
    let err = cas.put(b"blocked").unwrap_err();
    assert!(matches!(err, CasError::Io { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&cas.path_of(&d).display().to_string()),
        "{err}"
    );
    assert!(
        temp_files(&root).is_empty(),
        "temporary files left: {:?}",
        temp_files(&root)
    );
}
