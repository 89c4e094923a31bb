//! Replays the committed fuzz corpus of the approval vote reader (`fuzz/corpus/approval_vote/`)
//! through the fuzz target's checks (`fuzz/approvals_checks.rs`) on stable Rust, and checks that
//! no seed counts as a vote and that each is refused for the reason its name says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use qwarden_approvals::tally::VoteError;
use qwarden_approvals::totp::TotpSecret;
use qwarden_approvals::{ApprovalRequest, Decision};

#[path = "../../../fuzz/approvals_checks.rs"]
mod checks;

#[path = "../../../fuzz/replay.rs"]
mod replay;
use replay::{corpus, fuzz_dir};

/// What a fuzz target runs on one input.
type Check = fn(&[u8]);

/// The approvals crate's fuzz targets, by the name of their corpus directory.
const TARGETS: &[(&str, Check)] = &[("approval_vote", checks::approval_vote)];

fn seed(name: &str) -> Vec<u8> {
    corpus("approval_vote")
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no seed {name}"))
        .1
}

fn refusal(name: &str) -> VoteError {
    match checks::vote(&seed(name), Decision::Approve) {
        Ok(s) => panic!("{name} counts as a vote by {}", s.approver),
        Err(e) => e,
    }
}

#[test]
fn every_target_is_declared_and_has_a_corpus() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("qwarden-approvals = { path = \"../crates/approvals\" }"));
    for (name, _) in TARGETS {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
            "{name}"
        );
        let target =
            std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            target.contains("#[path = \"../approvals_checks.rs\"]"),
            "{name}"
        );
        assert!(target.contains(&format!("checks::{name}(data)")), "{name}");
        let seeds = corpus(name);
        assert!(seeds.len() < 50, "{name}: keep the corpus small");
        // No input the fuzzer starts from verifies: every hand-picked seed is `bad-`.
        assert!(
            seeds.iter().all(|(n, _)| !n.starts_with("ok-")),
            "{name}: a seed named ok-"
        );
        assert!(
            seeds.iter().any(|(n, _)| n.starts_with("bad-")),
            "{name}: no bad- seed"
        );
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
fn no_seed_counts_as_a_vote() {
    for (name, bytes) in corpus("approval_vote") {
        for decision in [Decision::Approve, Decision::Deny] {
            assert!(
                checks::vote(&bytes, decision).is_err(),
                "{name} counts as a {decision:?}"
            );
        }
    }
}

#[test]
fn seeds_are_refused_for_what_their_names_say() {
    // The approver's real signature, over another request's message.
    let e = refusal("bad-ssh-keygen-over-another-request");
    assert!(matches!(e, VoteError::BadSignature { .. }), "{e}");
    assert!(e.to_string().contains(&checks::request().id), "{e}");
    let e = refusal("bad-flipped-signature-byte");
    assert!(matches!(e, VoteError::BadSignature { .. }), "{e}");
    // Another key's signature over another message: the signature is checked before the key's
    // trust, so it fails as a bad signature rather than as a stranger's.
    let e = refusal("bad-ssh-keygen-by-another-key");
    assert!(matches!(e, VoteError::BadSignature { .. }), "{e}");
    let e = refusal("bad-ssh-keygen-manifest-namespace");
    assert!(matches!(e, VoteError::Malformed(_)), "{e}");
    for name in [
        "bad-empty",
        "bad-not-a-signature",
        "bad-truncated-signature",
        "bad-totp-secret-base32",
        "bad-request-json",
    ] {
        let e = refusal(name);
        assert!(matches!(e, VoteError::Malformed(_)), "{name}: {e}");
    }
}

#[test]
fn the_other_readings_of_the_seeds_work() {
    let secret = seed("bad-totp-secret-base32");
    let secret = TotpSecret::from_base32(std::str::from_utf8(&secret).unwrap()).unwrap();
    assert_eq!(secret.to_base32(), "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    let stored: ApprovalRequest = serde_json::from_slice(&seed("bad-request-json")).unwrap();
    assert!(stored.is_consistent());
    assert_eq!(stored.id, "apr-0123456789abcdef");
    for (name, bytes) in corpus("approval_vote") {
        if name != "bad-request-json" {
            assert!(
                serde_json::from_slice::<ApprovalRequest>(&bytes).is_err(),
                "{name}"
            );
        }
    }
}
