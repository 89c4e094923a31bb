//! What the qwarden-approvals fuzz target `approval_vote` checks, beyond "does not panic".
//! Shared with the workspace test `crates/approvals/tests/fuzz_corpus.rs`, which replays the
//! committed corpus (`corpus/approval_vote/`) with these same checks on stable Rust. Apart from
//! the other checks files because each crate's replay test includes its checks file and depends
//! only on its own crate.

#![allow(dead_code, reason = "the replay test uses some of these items")]

use std::sync::OnceLock;

use qwarden_approvals::tally::{self, Signed, VoteError};
use qwarden_approvals::totp::TotpSecret;
use qwarden_approvals::{Action, ApprovalRequest, Decision, JobAction, Rule, Subject};
use qwarden_policy::profile::Approver;
use time::OffsetDateTime;

/// The one approver's public key: a fixed test key, made once with `ssh-keygen -t ed25519`,
/// whose private half is not kept. Signatures by it over other text are in the corpus.
pub const APPROVER_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpTEsO6GkGJ2er2YyJAX4UGppC29suea3lUaALXKtth approver@qwarden-fuzz";

/// The approver's name in the profile.
pub const APPROVER: &str = "alice";

/// When the fixed request was made: 2026-01-01T00:00:00Z.
const CREATED_UNIX: i64 = 1_767_225_600;

/// When the request was made.
pub fn created() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(CREATED_UNIX).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// When votes are checked: ten minutes after the request was made, an hour before it expires.
pub fn now() -> OffsetDateTime {
    created() + time::Duration::minutes(10)
}

/// The profile's one approver.
pub fn approver() -> Approver {
    Approver {
        name: APPROVER.into(),
        key: APPROVER_KEY.into(),
        roles: vec!["approver".into()],
    }
}

/// The request every input votes on: a 1000-shot IBM job needing one approval. Its id is
/// random, so no signature made ahead of time is over it.
pub fn request() -> &'static ApprovalRequest {
    static REQUEST: OnceLock<ApprovalRequest> = OnceLock::new();
    REQUEST.get_or_init(|| {
        let action = Action::QpuJob(JobAction {
            provider: "ibm".into(),
            backend: "ibm_torino".into(),
            circuit_digest: format!("sha256:{}", "a".repeat(64)),
            shots: 1000,
            cost_estimate: None,
            request_digest: format!("sha256:{}", "b".repeat(64)),
            summary: "2 qubits, 3 gates".into(),
        });
        let subject = Subject {
            session: "s1".into(),
            agent: "circuit-helper".into(),
            manifest_digest: format!("sha256:{}", "c".repeat(64)),
            tier: "prod".into(),
        };
        let rule = Rule {
            threshold: 1,
            deny_threshold: 1,
            second_factor: false,
        };
        ApprovalRequest::new(
            action,
            subject,
            "circuit-helper",
            rule,
            Vec::new(),
            created(),
            time::Duration::hours(1),
        )
        .unwrap_or_else(|e| panic!("cannot make the request: {e}"))
    })
}

/// An input, read as a signature file, as a vote for `decision` on [`request`].
pub fn vote(data: &[u8], decision: Decision) -> Result<Signed, VoteError> {
    let text = String::from_utf8_lossy(data);
    tally::verify(request(), &[approver()], decision, &text, now())
}

/// An armored SSH signature file an approver hands in (`qwarden approvals approve ID
/// --signature FILE`), read as UTF-8 (lossy), and the same bytes read as a TOTP secret and as a
/// stored approval request.
///
/// - As a vote (to approve, and to deny) on a fixed request by the one fixed approver, it never
///   counts: the fuzzer cannot forge ed25519, so a vote that verifies (`Ok`, or `Excluded`,
///   which is only reached after verification) is a bug. The refusal has a message.
/// - As a TOTP secret, one that reads is written back as the same upper-case base32 text, reads
///   back to the same secret, gives 6-digit codes and is redacted in `Debug`; a refusal never
///   repeats the secret.
/// - As a request (JSON), one that reads can be checked for consistency, described, digested
///   and written back to the same request.
pub fn approval_vote(data: &[u8]) {
    for decision in [Decision::Approve, Decision::Deny] {
        match vote(data, decision) {
            Ok(signed) => panic!(
                "fuzz input verified as a {} by {} ({})",
                decision.as_str(),
                signed.approver,
                signed.fingerprint
            ),
            Err(e @ VoteError::Excluded { .. }) => {
                panic!("fuzz input verified, then was excluded: {e}")
            }
            Err(e) => assert!(!e.to_string().is_empty(), "{e:?}"),
        }
    }
    totp_secret(&String::from_utf8_lossy(data));
    stored_request(data);
}

fn totp_secret(text: &str) {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    match TotpSecret::from_base32(text) {
        Ok(secret) => {
            let written = secret.to_base32();
            assert_eq!(
                written,
                compact.trim_end_matches('=').to_ascii_uppercase(),
                "a secret read from base32 is not written back as that text"
            );
            let again = TotpSecret::from_base32(&written)
                .unwrap_or_else(|e| panic!("a secret written as base32 does not read back: {e}"));
            assert_eq!(again.to_base32(), written);
            for at in [0, 59, u64::MAX] {
                let code = secret.code_at(at);
                assert_eq!(code, again.code_at(at));
                assert!(
                    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
                    "code {code:?}"
                );
            }
            assert!(
                !format!("{secret:?}").contains(&written),
                "Debug shows the secret"
            );
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
            if compact.len() >= 16 {
                assert!(
                    !message.contains(&compact),
                    "the refusal repeats the secret"
                );
            }
        }
    }
}

fn stored_request(data: &[u8]) {
    let Ok(stored) = serde_json::from_slice::<ApprovalRequest>(data) else {
        return;
    };
    let _ = stored.is_consistent();
    let _ = stored.matches(&stored.action, &stored.subject);
    let _ = stored.describe();
    let _ = stored.digest();
    for decision in [Decision::Approve, Decision::Deny] {
        if let Ok(message) = stored.message(decision) {
            assert!(message.starts_with("qwarden-approval v1\n"));
        }
    }
    if let Ok(json) = serde_json::to_vec(&stored) {
        let back: ApprovalRequest = serde_json::from_slice(&json)
            .unwrap_or_else(|e| panic!("a request written back does not read: {e}"));
        assert_eq!(back, stored, "a request does not read back as written");
    }
}
