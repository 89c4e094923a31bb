//! Votes made the way approvers make them: `ssh-keygen -Y sign -n qwarden-approval` over the text
//! `qwarden approvals show --message` prints, and qwarden's own signer. Every rule's violation is
//! refused: a key not in the profile, the requester's own key, the same approver twice, a
//! signature over another digest, a forged signature, a changed request, an expired request, a
//! deny after approvals.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use qwarden_approvals::tally::{self, Status, Vote, VoteError};
use qwarden_approvals::{Action, ApprovalRequest, Decision, JobAction, Rule, Subject};
use qwarden_policy::profile::Approver;
use qwarden_policy::signature::{self, SigningKey};
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

struct Person {
    name: String,
    key: PathBuf,
    public: String,
}

fn person(dir: &Path, name: &str) -> Person {
    let key = dir.join(name);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen could not make a key");
    let public = std::fs::read_to_string(key.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned();
    Person {
        name: name.to_owned(),
        key,
        public,
    }
}

fn approver(p: &Person) -> Approver {
    Approver {
        name: p.name.clone(),
        key: p.public.clone(),
        roles: vec!["approver".into()],
    }
}

fn fingerprint(p: &Person) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(p.key.with_extension("pub"))
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

/// `ssh-keygen -Y sign` over `message`.
fn ssh_sign(dir: &Path, p: &Person, message: &str) -> String {
    let file = dir.join(format!("msg-{}-{}", p.name, message.len()));
    std::fs::write(&file, message).unwrap();
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", "qwarden-approval", "-f"])
        .arg(&p.key)
        .arg(&file)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let sig = std::fs::read_to_string(file.with_extension("sig"))
        .unwrap_or_else(|_| std::fs::read_to_string(format!("{}.sig", file.display())).unwrap());
    let _ = std::fs::remove_file(format!("{}.sig", file.display()));
    sig
}

/// qwarden's own signer (what `qwarden approvals approve --key` uses).
fn qwarden_sign(p: &Person, message: &str) -> String {
    signature::sign(
        message.as_bytes(),
        "qwarden-approval",
        &SigningKey::File {
            path: p.key.clone(),
            passphrase: None,
        },
    )
    .unwrap()
}

fn action(shots: u64) -> Action {
    Action::QpuJob(JobAction {
        provider: "ibm".into(),
        backend: "ibm_torino".into(),
        circuit_digest: format!("sha256:{}", "a".repeat(64)),
        shots,
        cost_estimate: None,
        request_digest: format!("sha256:{}", "b".repeat(64)),
        summary: "2 qubits, 3 gates".into(),
    })
}

fn subject() -> Subject {
    Subject {
        session: "s1".into(),
        agent: "circuit-helper".into(),
        manifest_digest: format!("sha256:{}", "c".repeat(64)),
        tier: "prod".into(),
    }
}

fn request(threshold: u32, excluded: Vec<String>) -> ApprovalRequest {
    ApprovalRequest::new(
        action(1000),
        subject(),
        "circuit-helper",
        Rule {
            threshold,
            deny_threshold: 1,
            second_factor: false,
        },
        excluded,
        now(),
        time::Duration::hours(1),
    )
    .unwrap()
}

fn vote(r: &ApprovalRequest, who: &[Approver], decision: Decision, sig: String) -> Vote {
    let signed = tally::verify(r, who, decision, &sig, now()).unwrap();
    Vote {
        approver: signed.approver,
        fingerprint: signed.fingerprint,
        decision,
        signature: sig,
        second_factor_step: None,
        at: now(),
    }
}

struct Lab {
    dir: tempfile::TempDir,
    alice: Person,
    bob: Person,
    mallory: Person,
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob, mallory) = (
        person(dir.path(), "alice"),
        person(dir.path(), "bob"),
        person(dir.path(), "mallory"),
    );
    Lab {
        dir,
        alice,
        bob,
        mallory,
    }
}

#[test]
fn two_approvers_one_with_ssh_keygen_one_with_qwarden_approve() {
    let l = lab();
    let approvers = vec![approver(&l.alice), approver(&l.bob)];
    let r = request(2, vec![]);
    let message = r.message(Decision::Approve).unwrap();
    let a = vote(
        &r,
        &approvers,
        Decision::Approve,
        ssh_sign(l.dir.path(), &l.alice, &message),
    );
    assert_eq!(a.approver, "alice");
    assert_eq!(a.fingerprint, fingerprint(&l.alice));
    assert_eq!(
        tally::status(&r, &approvers, std::slice::from_ref(&a), now()),
        Status::Pending {
            approved_by: vec!["alice".into()],
            needed: 2
        }
    );
    let b = vote(
        &r,
        &approvers,
        Decision::Approve,
        qwarden_sign(&l.bob, &message),
    );
    assert_eq!(
        tally::status(&r, &approvers, &[a, b], now()),
        Status::Approved {
            approved_by: vec!["alice".into(), "bob".into()]
        }
    );
}

#[test]
fn a_key_not_in_the_profile_cannot_vote() {
    let l = lab();
    let approvers = vec![approver(&l.alice)];
    let r = request(1, vec![]);
    let sig = ssh_sign(
        l.dir.path(),
        &l.mallory,
        &r.message(Decision::Approve).unwrap(),
    );
    let e = tally::verify(&r, &approvers, Decision::Approve, &sig, now()).unwrap_err();
    assert!(matches!(e, VoteError::NotAnApprover), "{e}");
    // A profile entry without an approving role is not an approver either.
    let mut viewer = approver(&l.mallory);
    viewer.roles = vec!["viewer".into()];
    let e = tally::verify(&r, &[viewer], Decision::Approve, &sig, now()).unwrap_err();
    assert!(matches!(e, VoteError::NotAnApprover), "{e}");
}

#[test]
fn the_requesters_own_key_cannot_approve() {
    let l = lab();
    let approvers = vec![approver(&l.alice), approver(&l.bob)];
    // Alice signed the agent's manifest: her key is excluded from this request.
    let r = request(1, vec![fingerprint(&l.alice)]);
    let sig = qwarden_sign(&l.alice, &r.message(Decision::Approve).unwrap());
    let e = tally::verify(&r, &approvers, Decision::Approve, &sig, now()).unwrap_err();
    assert!(matches!(e, VoteError::Excluded { .. }), "{e}");
    assert!(e.to_string().contains("requester"), "{e}");
    // Smuggled into the store anyway, the vote counts for nothing.
    let smuggled = Vote {
        approver: "alice".into(),
        fingerprint: fingerprint(&l.alice),
        decision: Decision::Approve,
        signature: sig,
        second_factor_step: None,
        at: now(),
    };
    assert_eq!(
        tally::status(&r, &approvers, &[smuggled], now()).name(),
        "pending"
    );
}

#[test]
fn the_same_approver_twice_counts_once() {
    let l = lab();
    let approvers = vec![approver(&l.alice), approver(&l.bob)];
    let r = request(2, vec![]);
    let message = r.message(Decision::Approve).unwrap();
    let first = vote(
        &r,
        &approvers,
        Decision::Approve,
        qwarden_sign(&l.alice, &message),
    );
    let second = vote(
        &r,
        &approvers,
        Decision::Approve,
        ssh_sign(l.dir.path(), &l.alice, &message),
    );
    assert_eq!(
        tally::status(&r, &approvers, &[first.clone(), second], now()),
        Status::Pending {
            approved_by: vec!["alice".into()],
            needed: 2
        }
    );
    // Two profile names sharing one key are still one person.
    let mut twin = approver(&l.alice);
    twin.name = "alice-laptop".into();
    let both = vec![approver(&l.alice), twin];
    let again = Vote {
        approver: "alice-laptop".into(),
        ..first.clone()
    };
    assert_eq!(
        tally::status(&r, &both, &[first, again], now()).name(),
        "pending"
    );
}

#[test]
fn a_signature_over_another_digest_or_decision_is_refused() {
    let l = lab();
    let approvers = vec![approver(&l.alice)];
    let r = request(1, vec![]);
    let other = request(1, vec![]);
    // Same action, another request: its digest differs.
    let sig = qwarden_sign(&l.alice, &other.message(Decision::Approve).unwrap());
    let e = tally::verify(&r, &approvers, Decision::Approve, &sig, now()).unwrap_err();
    assert!(matches!(e, VoteError::BadSignature { .. }), "{e}");
    // A denial's signature is not an approval.
    let deny = qwarden_sign(&l.alice, &r.message(Decision::Deny).unwrap());
    assert!(tally::verify(&r, &approvers, Decision::Approve, &deny, now()).is_err());
    // Another namespace (a manifest signature) is not an approval.
    let manifest_sig = signature::sign(
        r.message(Decision::Approve).unwrap().as_bytes(),
        "qwarden-manifest",
        &SigningKey::File {
            path: l.alice.key.clone(),
            passphrase: None,
        },
    )
    .unwrap();
    let e = tally::verify(&r, &approvers, Decision::Approve, &manifest_sig, now()).unwrap_err();
    assert!(matches!(e, VoteError::Malformed(_)), "{e}");
}

#[test]
fn a_forged_signature_file_is_refused() {
    let l = lab();
    let approvers = vec![approver(&l.alice)];
    let r = request(1, vec![]);
    let good = qwarden_sign(&l.alice, &r.message(Decision::Approve).unwrap());
    // Flip one base64 character of the signature blob's tail.
    let mut lines: Vec<String> = good.lines().map(str::to_owned).collect();
    let i = lines.len() - 2;
    let mut chars: Vec<char> = lines[i].chars().collect();
    let j = chars.len() / 2;
    chars[j] = if chars[j] == 'A' { 'B' } else { 'A' };
    lines[i] = chars.into_iter().collect();
    let forged = lines.join("\n") + "\n";
    assert!(tally::verify(&r, &approvers, Decision::Approve, &forged, now()).is_err());
    for junk in [
        "",
        "not a signature",
        "-----BEGIN SSH SIGNATURE-----\n!!\n-----END SSH SIGNATURE-----\n",
    ] {
        let e = tally::verify(&r, &approvers, Decision::Approve, junk, now()).unwrap_err();
        assert!(matches!(e, VoteError::Malformed(_)), "{junk:?}: {e}");
    }
}

#[test]
fn a_request_changed_after_approval_runs_nothing() {
    let l = lab();
    let approvers = vec![approver(&l.alice)];
    let r = request(1, vec![]);
    let v = vote(
        &r,
        &approvers,
        Decision::Approve,
        qwarden_sign(&l.alice, &r.message(Decision::Approve).unwrap()),
    );
    assert_eq!(
        tally::status(&r, &approvers, std::slice::from_ref(&v), now()).name(),
        "approved"
    );
    // The job about to run asks for more shots than the approved one.
    assert!(!r.matches(&action(1001), &subject()));
    // The stored request edited to say so: its digest changed, so the votes no longer verify,
    // and its action digest no longer matches its action.
    let mut edited = r.clone();
    if let Action::QpuJob(j) = &mut edited.action {
        j.shots = 1001;
    }
    assert!(!edited.is_consistent());
    assert_eq!(
        tally::status(&edited, &approvers, &[v], now()).name(),
        "pending"
    );
}

#[test]
fn an_expired_request_cannot_be_approved() {
    let l = lab();
    let approvers = vec![approver(&l.alice)];
    let r = request(1, vec![]);
    let v = vote(
        &r,
        &approvers,
        Decision::Approve,
        qwarden_sign(&l.alice, &r.message(Decision::Approve).unwrap()),
    );
    let later = r.expires + time::Duration::seconds(1);
    assert_eq!(tally::status(&r, &approvers, &[v], later), Status::Expired);
}

#[test]
fn a_deny_after_approvals_ends_the_request() {
    let l = lab();
    let approvers = vec![approver(&l.alice), approver(&l.bob)];
    let r = request(2, vec![]);
    let approve = r.message(Decision::Approve).unwrap();
    let a = vote(
        &r,
        &approvers,
        Decision::Approve,
        qwarden_sign(&l.alice, &approve),
    );
    let b = vote(
        &r,
        &approvers,
        Decision::Approve,
        qwarden_sign(&l.bob, &approve),
    );
    let d = vote(
        &r,
        &approvers,
        Decision::Deny,
        qwarden_sign(&l.bob, &r.message(Decision::Deny).unwrap()),
    );
    assert_eq!(
        tally::status(&r, &approvers, &[a, b, d], now()),
        Status::Denied {
            denied_by: vec!["bob".into()]
        }
    );
}

#[test]
fn an_approval_without_its_second_factor_does_not_count() {
    let l = lab();
    let approvers = vec![approver(&l.alice)];
    let mut r = request(1, vec![]);
    r.rule.second_factor = true;
    let sig = qwarden_sign(&l.alice, &r.message(Decision::Approve).unwrap());
    let mut v = vote(&r, &approvers, Decision::Approve, sig);
    assert_eq!(
        tally::status(&r, &approvers, std::slice::from_ref(&v), now()).name(),
        "pending"
    );
    v.second_factor_step = Some(1);
    assert_eq!(
        tally::status(&r, &approvers, &[v], now()).name(),
        "approved"
    );
}
