//! The vault at rest: round trips with both unlock kinds, wrong keys, tampered files, atomicity,
//! permissions, insecure directories and names. Passphrase vaults use scrypt work factor 10 so the
//! tests stay fast, except one that exercises age's default.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use qwarden_vault::store::{IDENTITY_FILE_NAME, validate_name};
use qwarden_vault::{Provider, Secret, Unlock, UnlockKind, Vault, VaultError};

const VALUE: &str = "ibm-api-key-Zq8hT3vLw0pXs9NcYb4e";

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    identity: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    Fixture {
        dir: base.join("state/vault"),
        identity: base.join("config").join(IDENTITY_FILE_NAME),
        _tmp: tmp,
    }
}

fn pass(p: &str) -> Unlock {
    Unlock::Passphrase(Secret::new(p))
}

fn passphrase_vault(f: &Fixture) -> Vault {
    Vault::init_with_work_factor(&f.dir, &Secret::new("correct horse"), 10).unwrap()
}

fn identity_vault(f: &Fixture) -> (Vault, Unlock) {
    let unlock = Unlock::IdentityFile(f.identity.clone());
    (Vault::init(&f.dir, &unlock).unwrap(), unlock)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o777
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that no file in the vault holds `value` or any 8-byte piece of it.
fn assert_value_absent_from_disk(dir: &Path, value: &str) {
    for file in files_under(dir) {
        let bytes = std::fs::read(&file).unwrap();
        for piece in value.as_bytes().windows(8) {
            assert!(
                !contains(&bytes, piece),
                "{} holds a piece of the value",
                file.display()
            );
        }
    }
}

fn damaged_file(err: &VaultError) -> &Path {
    match err {
        VaultError::Damaged { path, .. } => path,
        other => panic!("expected Damaged, got {other:?}: {other}"),
    }
}

#[test]
fn identity_round_trip() {
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    assert_eq!(vault.unlock_kind(), UnlockKind::Identity);
    assert_eq!(vault.identity_file(), Some(f.identity.as_path()));
    let recipient = vault.recipient().unwrap().to_owned();
    assert!(recipient.starts_with("age1"));

    // The identity is in age-keygen's format, private.
    let text = std::fs::read_to_string(&f.identity).unwrap();
    assert!(
        text.contains(&format!("# public key: {recipient}")),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .count(),
        1
    );
    assert_eq!(mode(&f.identity), 0o600);

    let entry = vault
        .add("ibm", Provider::Ibm, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    assert_eq!(entry.name, "ibm");
    assert_eq!(entry.provider, Provider::Ibm);
    assert_eq!(entry.rotated, None);
    let reopened = Vault::open(&f.dir).unwrap();
    assert_eq!(reopened.get("ibm", &unlock).unwrap().expose(), VALUE);
    assert_eq!(reopened.list().unwrap(), vec![entry]);
    reopened.check_unlock(&unlock).unwrap();
}

#[test]
fn adding_to_an_identity_vault_needs_only_the_recipient() {
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    let offline = f.identity.with_file_name("moved-away.txt");
    std::fs::rename(&f.identity, &offline).unwrap();
    vault
        .add("ionq", Provider::Ionq, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    let err = vault.get("ionq", &unlock).unwrap_err();
    assert!(matches!(err, VaultError::Identity { .. }), "{err}");
    assert!(err.to_string().contains(&f.identity.display().to_string()));
    assert_eq!(
        vault
            .get("ionq", &Unlock::IdentityFile(offline))
            .unwrap()
            .expose(),
        VALUE
    );
}

#[test]
fn an_existing_identity_file_is_used_not_replaced() {
    let f = fixture();
    let (first, _) = identity_vault(&f);
    let before = std::fs::read(&f.identity).unwrap();
    let other_dir = f.dir.with_file_name("vault2");
    let second = Vault::init(&other_dir, &Unlock::IdentityFile(f.identity.clone())).unwrap();
    assert_eq!(second.recipient(), first.recipient());
    assert_eq!(std::fs::read(&f.identity).unwrap(), before);
}

#[test]
fn passphrase_round_trip_and_rotation() {
    let f = fixture();
    let vault = passphrase_vault(&f);
    assert_eq!(vault.unlock_kind(), UnlockKind::Passphrase);
    assert_eq!(vault.recipient(), None);
    let unlock = pass("correct horse");
    let added = vault
        .add(
            "ibm-prod",
            Provider::Ibm,
            &Secret::new(VALUE),
            &unlock,
            Some("imported from ~/.qiskit/qiskit-ibm.json"),
        )
        .unwrap();
    assert_eq!(vault.get("ibm-prod", &unlock).unwrap().expose(), VALUE);

    let rotated = vault
        .rotate("ibm-prod", &Secret::new("the-new-key"), &unlock)
        .unwrap();
    assert_eq!(rotated.created, added.created);
    assert_eq!(
        rotated.source.as_deref(),
        Some("imported from ~/.qiskit/qiskit-ibm.json")
    );
    assert!(rotated.rotated.is_some());
    assert_eq!(
        vault.get("ibm-prod", &unlock).unwrap().expose(),
        "the-new-key"
    );
    assert_eq!(vault.entry("ibm-prod").unwrap(), rotated);
}

#[test]
fn a_passphrase_vault_with_ages_default_work_factor() {
    let f = fixture();
    let vault = Vault::init(&f.dir, &pass("slow and steady")).unwrap();
    vault.check_unlock(&pass("slow and steady")).unwrap();
    let text = std::fs::read_to_string(f.dir.join("vault.toml")).unwrap();
    assert!(text.contains("unlock = \"passphrase\""), "{text}");
    assert!(!text.contains("scrypt_work_factor"), "{text}");
}

#[test]
fn the_files_are_age_files_and_metadata_is_plain() {
    let f = fixture();
    let vault = passphrase_vault(&f);
    vault
        .add(
            "ibm",
            Provider::Ibm,
            &Secret::new(VALUE),
            &pass("correct horse"),
            None,
        )
        .unwrap();
    let age = std::fs::read(f.dir.join("secrets/ibm.age")).unwrap();
    assert!(age.starts_with(b"age-encryption.org/v1\n-> scrypt "));
    let meta = std::fs::read_to_string(f.dir.join("secrets/ibm.toml")).unwrap();
    assert!(
        meta.contains("name = \"ibm\"") && meta.contains("provider = \"ibm\""),
        "{meta}"
    );
    let vault_meta = std::fs::read_to_string(f.dir.join("vault.toml")).unwrap();
    assert!(vault_meta.contains("format = 1"), "{vault_meta}");
    assert!(
        vault_meta.contains("scrypt_work_factor = 10"),
        "{vault_meta}"
    );
    assert_value_absent_from_disk(&f.dir, VALUE);
}

#[test]
fn a_wrong_passphrase_is_refused_and_writes_nothing() {
    let f = fixture();
    let vault = passphrase_vault(&f);
    vault
        .add(
            "ibm",
            Provider::Ibm,
            &Secret::new(VALUE),
            &pass("correct horse"),
            None,
        )
        .unwrap();
    let wrong = pass("battery staple");
    let err = vault.get("ibm", &wrong).unwrap_err();
    assert!(matches!(err, VaultError::WrongPassphrase { .. }), "{err:?}");
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    assert!(
        err.to_string().contains(&f.dir.display().to_string()),
        "{err}"
    );

    let err = vault
        .add("ionq", Provider::Ionq, &Secret::new(VALUE), &wrong, None)
        .unwrap_err();
    assert!(matches!(err, VaultError::WrongPassphrase { .. }), "{err:?}");
    assert!(!f.dir.join("secrets/ionq.age").exists());
    assert!(!f.dir.join("secrets/ionq.toml").exists());

    // A failed rotation leaves the old secret intact.
    let before = std::fs::read(f.dir.join("secrets/ibm.age")).unwrap();
    let err = vault
        .rotate("ibm", &Secret::new("replacement"), &wrong)
        .unwrap_err();
    assert!(matches!(err, VaultError::WrongPassphrase { .. }), "{err:?}");
    assert_eq!(
        std::fs::read(f.dir.join("secrets/ibm.age")).unwrap(),
        before
    );
    assert_eq!(
        vault.get("ibm", &pass("correct horse")).unwrap().expose(),
        VALUE
    );
    assert_eq!(vault.entry("ibm").unwrap().rotated, None);
}

#[test]
fn a_wrong_identity_is_refused() {
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    vault
        .add("ibm", Provider::Ibm, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    let other = f.identity.with_file_name("other-identity.txt");
    Vault::init(
        &f.dir.with_file_name("other"),
        &Unlock::IdentityFile(other.clone()),
    )
    .unwrap();
    let err = vault
        .get("ibm", &Unlock::IdentityFile(other.clone()))
        .unwrap_err();
    match &err {
        VaultError::WrongIdentity {
            path,
            found,
            expected,
            ..
        } => {
            assert_eq!(path, &other);
            assert_ne!(found, expected);
            assert_eq!(Some(expected.as_str()), vault.recipient());
        }
        e => panic!("expected WrongIdentity, got {e:?}"),
    }
    assert!(err.to_string().contains("wrong identity"), "{err}");
}

#[test]
fn identity_files_others_can_read_or_that_are_not_identities_are_refused() {
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    vault
        .add("ibm", Provider::Ibm, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    std::fs::set_permissions(&f.identity, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = vault.get("ibm", &unlock).unwrap_err();
    assert!(matches!(err, VaultError::Identity { .. }), "{err:?}");
    assert!(err.to_string().contains("chmod 600"), "{err}");

    let junk = f.identity.with_file_name("junk.txt");
    std::fs::write(&junk, "# nothing here\nnot a key\n").unwrap();
    std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = vault.get("ibm", &Unlock::IdentityFile(junk)).unwrap_err();
    assert!(err.to_string().contains("no age X25519 identity"), "{err}");
}

#[test]
fn the_other_unlock_kind_is_refused() {
    let f = fixture();
    let vault = passphrase_vault(&f);
    let err = vault
        .add(
            "ibm",
            Provider::Ibm,
            &Secret::new(VALUE),
            &Unlock::IdentityFile(f.identity.clone()),
            None,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::WrongUnlockKind {
                vault: UnlockKind::Passphrase,
                given: UnlockKind::Identity,
                ..
            }
        ),
        "{err:?}"
    );
}

fn tamper_setup() -> (Fixture, Vault, Unlock, PathBuf) {
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    vault
        .add("ibm", Provider::Ibm, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    let path = f.dir.join("secrets/ibm.age");
    (f, vault, unlock, path)
}

#[test]
fn a_modified_payload_is_an_error_naming_the_file() {
    let (_f, vault, unlock, path) = tamper_setup();
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let err = vault.get("ibm", &unlock).unwrap_err();
    assert_eq!(damaged_file(&err), path);
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("tampered"), "{err}");
}

#[test]
fn a_truncated_file_is_an_error_naming_the_file() {
    let (_f, vault, unlock, path) = tamper_setup();
    let bytes = std::fs::read(&path).unwrap();
    for len in [0, 10, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..len]).unwrap();
        let err = vault.get("ibm", &unlock).unwrap_err();
        assert_eq!(damaged_file(&err), path, "length {len}");
    }
}

#[test]
fn a_modified_header_is_an_error_naming_the_file() {
    let (_f, vault, unlock, path) = tamper_setup();
    let bytes = std::fs::read(&path).unwrap();
    // The MAC line `--- <base64>` closes the header; change one character of it.
    let text_end = bytes.windows(4).position(|w| w == b"--- ").unwrap() + 4;
    let mut changed = bytes.clone();
    changed[text_end] = if changed[text_end] == b'A' {
        b'B'
    } else {
        b'A'
    };
    std::fs::write(&path, &changed).unwrap();
    let err = vault.get("ibm", &unlock).unwrap_err();
    assert_eq!(damaged_file(&err), path);
}

#[test]
fn a_value_file_copied_over_another_secret_is_refused() {
    let (f, vault, unlock, path) = tamper_setup();
    vault
        .add(
            "ionq",
            Provider::Ionq,
            &Secret::new("ionq-key-value"),
            &unlock,
            None,
        )
        .unwrap();
    std::fs::copy(f.dir.join("secrets/ionq.age"), &path).unwrap();
    let err = vault.get("ibm", &unlock).unwrap_err();
    assert_eq!(damaged_file(&err), path);
    assert!(err.to_string().contains("another secret"), "{err}");
}

#[test]
fn a_file_from_another_passphrase_vault_is_damaged_not_a_wrong_passphrase() {
    let f = fixture();
    let vault = passphrase_vault(&f);
    let unlock = pass("correct horse");
    vault
        .add("ibm", Provider::Ibm, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    let other_dir = f.dir.with_file_name("other");
    let other = Vault::init_with_work_factor(&other_dir, &Secret::new("other pass"), 10).unwrap();
    other
        .add(
            "ibm",
            Provider::Ibm,
            &Secret::new("x"),
            &pass("other pass"),
            None,
        )
        .unwrap();
    let path = f.dir.join("secrets/ibm.age");
    std::fs::copy(other_dir.join("secrets/ibm.age"), &path).unwrap();
    let err = vault.get("ibm", &unlock).unwrap_err();
    assert_eq!(damaged_file(&err), path);
}

#[test]
fn files_are_0600_and_directories_0700() {
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    vault
        .add("ibm", Provider::Ibm, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    vault
        .rotate("ibm", &Secret::new("rotated-value"), &unlock)
        .unwrap();
    assert_eq!(mode(&f.dir), 0o700);
    assert_eq!(mode(&f.dir.join("secrets")), 0o700);
    assert_eq!(mode(f.identity.parent().unwrap()), 0o700);
    let files = files_under(&f.dir);
    assert_eq!(files.len(), 5, "{files:?}"); // vault.toml, check.age, .lock, ibm.age, ibm.toml
    for file in files {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.starts_with(".tmp-"), "left a temporary file: {name}");
    }
}

#[test]
fn a_vault_directory_others_can_write_is_refused() {
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    vault
        .add("ibm", Provider::Ibm, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    for (dir, m) in [
        (f.dir.clone(), 0o777),
        (f.dir.clone(), 0o770),
        (f.dir.join("secrets"), 0o757),
    ] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m)).unwrap();
        let err = Vault::open(&f.dir).unwrap_err();
        match &err {
            VaultError::InsecureDirectory { path, .. } => assert_eq!(path, &dir),
            e => panic!("expected InsecureDirectory for mode {m:o}, got {e:?}"),
        }
        assert!(err.to_string().contains("chmod 700"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    // `init` refuses such a directory too.
    let open_dir = f.dir.with_file_name("open");
    std::fs::create_dir(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = Vault::init(&open_dir, &unlock).unwrap_err();
    assert!(
        matches!(err, VaultError::InsecureDirectory { .. }),
        "{err:?}"
    );
}

#[test]
fn a_vault_directory_owned_by_another_user_is_refused() {
    if rustix_uid() != 0 {
        eprintln!("skipped: only root can give a directory to another user");
        return;
    }
    let f = fixture();
    let (_vault, _) = identity_vault(&f);
    std::os::unix::fs::chown(&f.dir, Some(65534), None).unwrap();
    let err = Vault::open(&f.dir).unwrap_err();
    assert!(
        matches!(err, VaultError::InsecureDirectory { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("owned by uid 65534"), "{err}");
}

fn rustix_uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

#[test]
fn names_are_validated() {
    for good in ["ibm", "0", "ionq-prod", "a.b_c-d", &"a".repeat(64)] {
        validate_name(good).unwrap();
    }
    for bad in [
        "",
        "-ibm",
        ".ibm",
        "_ibm",
        "IBM",
        "ibm/../x",
        "../x",
        "a b",
        "ibm\n",
        "é",
        &"a".repeat(65),
    ] {
        let err = validate_name(bad).unwrap_err();
        assert!(matches!(err, VaultError::InvalidName { .. }), "{bad:?}");
    }
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    let err = vault
        .add(
            "../escape",
            Provider::Ibm,
            &Secret::new(VALUE),
            &unlock,
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("invalid secret name"), "{err}");
    assert!(vault.get("../escape", &unlock).is_err());
    assert!(vault.remove("../escape").is_err());
    assert!(!f.dir.join("escape.age").exists());
}

#[test]
fn add_refuses_an_existing_name_and_an_empty_value() {
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    vault
        .add("ibm", Provider::Ibm, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    let err = vault
        .add("ibm", Provider::Ibm, &Secret::new("other"), &unlock, None)
        .unwrap_err();
    assert!(matches!(err, VaultError::Exists { .. }), "{err:?}");
    assert!(
        err.to_string().contains("qwarden secrets rotate ibm"),
        "{err}"
    );
    assert_eq!(vault.get("ibm", &unlock).unwrap().expose(), VALUE);
    let err = vault
        .add("empty", Provider::Ibm, &Secret::new(""), &unlock, None)
        .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let err = vault.rotate("ibm", &Secret::new(""), &unlock).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn remove_deletes_both_files_and_missing_names_are_not_found() {
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    vault
        .add("ibm", Provider::Ibm, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    let removed = vault.remove("ibm").unwrap();
    assert_eq!(removed.name, "ibm");
    assert!(!f.dir.join("secrets/ibm.age").exists());
    assert!(!f.dir.join("secrets/ibm.toml").exists());
    assert!(vault.list().unwrap().is_empty());
    for err in [
        vault.remove("ibm").unwrap_err(),
        vault.get("ibm", &unlock).unwrap_err(),
        vault
            .rotate("ibm", &Secret::new(VALUE), &unlock)
            .unwrap_err(),
    ] {
        assert!(matches!(err, VaultError::NotFound { .. }), "{err:?}");
    }
}

#[test]
fn the_secret_for_a_provider() {
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    let err = vault.for_provider(Provider::Ibm).unwrap_err();
    assert!(
        matches!(err, VaultError::NoSecretForProvider { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("qwarden secrets add ibm --provider ibm")
    );

    vault
        .add("ibm-dev", Provider::Ibm, &Secret::new("dev"), &unlock, None)
        .unwrap();
    vault
        .add("ionq", Provider::Ionq, &Secret::new("ionq"), &unlock, None)
        .unwrap();
    let (entry, secret) = vault.get_for_provider(Provider::Ibm, &unlock).unwrap();
    assert_eq!((entry.name.as_str(), secret.expose()), ("ibm-dev", "dev"));

    vault
        .add(
            "ibm-prod",
            Provider::Ibm,
            &Secret::new("prod"),
            &unlock,
            None,
        )
        .unwrap();
    let err = vault.for_provider(Provider::Ibm).unwrap_err();
    match &err {
        VaultError::AmbiguousProvider { candidates, .. } => {
            assert_eq!(candidates, &["ibm-dev", "ibm-prod"]);
        }
        e => panic!("expected AmbiguousProvider, got {e:?}"),
    }
    assert!(err.to_string().contains("ibm-dev, ibm-prod"), "{err}");

    vault
        .add("ibm", Provider::Ibm, &Secret::new("main"), &unlock, None)
        .unwrap();
    let (entry, secret) = vault.get_for_provider(Provider::Ibm, &unlock).unwrap();
    assert_eq!((entry.name.as_str(), secret.expose()), ("ibm", "main"));
    // A secret named after a provider but belonging to another one does not count for it.
    vault
        .add(
            "aws",
            Provider::Quantinuum,
            &Secret::new("q"),
            &unlock,
            None,
        )
        .unwrap();
    assert!(vault.for_provider(Provider::Aws).is_err());
    assert_eq!(
        vault.for_provider(Provider::Quantinuum).unwrap().name,
        "aws"
    );
}

#[test]
fn init_refuses_an_existing_vault_and_open_needs_one() {
    let f = fixture();
    let err = Vault::open(&f.dir).unwrap_err();
    assert!(matches!(err, VaultError::NotInitialized { .. }), "{err:?}");
    assert!(err.to_string().contains("qwarden secrets init"), "{err}");
    let (vault, unlock) = identity_vault(&f);
    vault
        .add("ibm", Provider::Ibm, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    let before = std::fs::read(f.dir.join("vault.toml")).unwrap();
    let err = Vault::init(&f.dir, &pass("new")).unwrap_err();
    assert!(
        matches!(err, VaultError::AlreadyInitialized { .. }),
        "{err:?}"
    );
    assert_eq!(std::fs::read(f.dir.join("vault.toml")).unwrap(), before);
    assert_eq!(vault.get("ibm", &unlock).unwrap().expose(), VALUE);
    let err = Vault::init(&f.dir.with_file_name("p"), &pass("")).unwrap_err();
    assert!(err.to_string().contains("passphrase is empty"), "{err}");
    let err = Vault::init_with_work_factor(&f.dir.with_file_name("q"), &Secret::new("x"), 40)
        .unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn edited_metadata_is_refused_naming_the_file() {
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    vault
        .add("ibm", Provider::Ibm, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    let meta = f.dir.join("secrets/ibm.toml");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, text.replace("name = \"ibm\"", "name = \"ionq\"")).unwrap();
    let err = vault.list().unwrap_err();
    assert!(
        err.to_string().contains(&meta.display().to_string()),
        "{err}"
    );

    let vault_toml = f.dir.join("vault.toml");
    let text = std::fs::read_to_string(&vault_toml).unwrap();
    std::fs::write(&vault_toml, text.replace("format = 1", "format = 2")).unwrap();
    let err = Vault::open(&f.dir).unwrap_err();
    assert!(matches!(err, VaultError::Metadata { .. }), "{err:?}");
    assert!(err.to_string().contains("format 2"), "{err}");
}

#[test]
fn the_value_appears_in_no_file_and_no_listing() {
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    vault
        .add(
            "ibm",
            Provider::Ibm,
            &Secret::new(VALUE),
            &unlock,
            Some("typed in"),
        )
        .unwrap();
    let listing = format!("{:?}", vault.list().unwrap());
    assert!(!listing.contains(&VALUE[..8]), "{listing}");
    assert_value_absent_from_disk(&f.dir, VALUE);
    assert_eq!(
        format!("{:?}", vault.get("ibm", &unlock).unwrap()),
        "Secret(<redacted>)"
    );
}

#[test]
fn the_value_files_decrypt_with_any_age_implementation() {
    // The `.age` files are plain age: the same crate's generic decryptor opens them with the
    // identity file, and the plaintext carries the binding header before the value.
    let f = fixture();
    let (vault, unlock) = identity_vault(&f);
    vault
        .add("ibm", Provider::Ibm, &Secret::new(VALUE), &unlock, None)
        .unwrap();
    let identities = age::IdentityFile::from_file(f.identity.display().to_string())
        .unwrap()
        .into_identities()
        .unwrap();
    let ciphertext = std::fs::read(f.dir.join("secrets/ibm.age")).unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut age::Decryptor::new(&ciphertext[..])
            .unwrap()
            .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .unwrap(),
        &mut plain,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(plain).unwrap(),
        format!("qwarden-secret/v1\nname: ibm\nprovider: ibm\n\n{VALUE}")
    );
}
