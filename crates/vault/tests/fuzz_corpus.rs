//! Replays the committed fuzz corpus of the credential scanner (`fuzz/corpus/secret_scan/`)
//! through the fuzz target's checks (`fuzz/vault_checks.rs`) on stable Rust, and checks that each
//! seed has findings or none as its name says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qwarden_vault::Provider;
use qwarden_vault::scan::{CellLocation, FindingKind};

#[path = "../../../fuzz/vault_checks.rs"]
mod checks;

#[path = "../../../fuzz/replay.rs"]
mod replay;
use replay::{corpus, expectation, fuzz_dir};

/// What a fuzz target runs on one input.
type Check = fn(&[u8]);

/// The vault's fuzz targets, by the name of their corpus directory.
const TARGETS: &[(&str, Check)] = &[("secret_scan", checks::secret_scan)];

// A seed named `ok-*` is meant to have findings, `bad-*` none (`replay::expectation`).

fn seed(name: &str) -> Vec<u8> {
    corpus("secret_scan")
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no seed {name}"))
        .1
}

#[test]
fn every_target_is_declared_and_has_a_corpus() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("qwarden-vault = { path = \"../crates/vault\" }"));
    for (name, _) in TARGETS {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
            "{name}"
        );
        let target =
            std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            target.contains("#[path = \"../vault_checks.rs\"]"),
            "{name}"
        );
        assert!(target.contains(&format!("checks::{name}(data)")), "{name}");
        let seeds = corpus(name);
        assert!(seeds.len() < 50, "{name}: keep the corpus small");
        for ok in [true, false] {
            assert!(
                seeds.iter().any(|(n, _)| expectation(n) == Some(ok)),
                "{name}: no {} seed",
                if ok { "ok-" } else { "bad-" }
            );
        }
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
fn seeds_have_findings_or_none_as_named() {
    for (name, bytes) in corpus("secret_scan") {
        let found = checks::findings(&bytes);
        if let Some(ok) = expectation(&name) {
            assert_eq!(!found.is_empty(), ok, "{name}: {found:#?}");
        }
    }
}

#[test]
fn every_file_kind_has_a_seed() {
    let kinds: Vec<_> = corpus("secret_scan")
        .iter()
        .filter(|(n, _)| n.starts_with("ok-"))
        .filter_map(|(_, b)| checks::split(b).map(|(k, _)| k))
        .collect();
    for kind in qwarden_vault::scan::FileKind::ALL {
        assert!(kinds.contains(&kind), "no ok- seed for {kind}");
    }
}

#[test]
fn seeds_find_what_they_hold() {
    let kinds = |name: &str| -> Vec<FindingKind> {
        checks::findings(&seed(name))
            .iter()
            .map(|f| f.kind)
            .collect()
    };
    use FindingKind as K;
    assert_eq!(
        kinds("ok-qiskit-ibm-json"),
        vec![K::IbmCloudApiKey, K::IbmQuantumToken]
    );
    assert_eq!(kinds("ok-truncated-qiskit-json"), vec![K::IbmCloudApiKey]);
    assert_eq!(kinds("ok-qiskitrc"), vec![K::IbmQuantumToken]);
    assert_eq!(
        kinds("ok-aws-credentials-profiles"),
        vec![
            K::AwsAccessKeyId,
            K::AwsSecretAccessKey,
            K::AwsAccessKeyId,
            K::AwsSecretAccessKey,
            K::AwsSessionToken
        ]
    );
    assert_eq!(
        kinds("ok-nexus-refresh-token"),
        vec![K::QuantinuumRefreshToken]
    );
    assert_eq!(
        kinds("ok-nexus-access-token"),
        vec![K::QuantinuumAccessToken]
    );
    assert_eq!(
        kinds("ok-dotenv"),
        vec![
            K::IonqApiKey,
            K::IbmCloudApiKey,
            K::AwsSecretAccessKey,
            K::QuantinuumPassword
        ]
    );
    assert_eq!(
        kinds("ok-python-save-account"),
        vec![K::IbmCloudApiKey, K::IonqApiKey, K::IbmQuantumToken]
    );
    assert_eq!(
        kinds("ok-json-escaped-aws-secret"),
        vec![K::AwsSecretAccessKey, K::IonqApiKey]
    );
    let nb = checks::findings(&seed("ok-notebook-token-in-cell"));
    let cells: Vec<_> = nb.iter().map(|f| (f.provider, f.cell.unwrap())).collect();
    assert_eq!(
        cells,
        vec![
            (
                Provider::Ionq,
                CellLocation {
                    cell: 2,
                    line: 1,
                    output: true
                }
            ),
            (
                Provider::Ibm,
                CellLocation {
                    cell: 2,
                    line: 3,
                    output: false
                }
            ),
        ]
    );
    let escaped = checks::findings(&seed("ok-json-unicode-escapes"));
    assert_eq!(
        escaped[0].secret().expose(),
        "Qw4rd3nIonQT3stK3y0123456789abcd"
    );
}
