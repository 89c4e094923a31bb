//! Votes and what they add up to.
//!
//! A vote is an SSHSIG signature, in namespace [`NAMESPACE`], over the request's
//! [`message`](ApprovalRequest::message) for its decision. It counts only if:
//! - its key is an approver's in the workstation profile, with the `approver` or `admin` role;
//! - the signature verifies for this request's digest and this decision (a signature over another
//!   request, another digest or the other decision does not);
//! - the key is not one the request excludes (the requester's own, or one readable from its
//!   sandbox);
//! - for an approval under a rule with a second factor, a TOTP code was checked when it was cast.
//!
//! Votes are counted once per approver (by name and by key: the same person signing twice, or two
//! names sharing a key, count once). Denials reaching the deny threshold end the request, even
//! after approvals; approvals reaching the threshold approve it; a request past its expiry is
//! expired whatever its votes.

use std::collections::BTreeSet;

use qwarden_policy::profile::Approver;
use qwarden_policy::signature::{self, AllowedSigners, SignatureError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::request::{ApprovalRequest, Decision, NAMESPACE};

/// Roles that may approve.
pub const APPROVING_ROLES: [&str; 2] = ["approver", "admin"];

/// A vote as stored: who, what, the signature, and the second factor's step if one was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    /// The approver's name in the profile.
    pub approver: String,
    /// Their key's fingerprint (`SHA256:…`).
    pub fingerprint: String,
    /// Approve or deny.
    pub decision: Decision,
    /// The armored SSHSIG.
    pub signature: String,
    /// The TOTP time step accepted with it, if a code was given.
    pub second_factor_step: Option<u64>,
    /// When it was cast.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Why a vote does not count.
#[derive(Debug, thiserror::Error)]
pub enum VoteError {
    /// The signing key belongs to no approver.
    #[error(
        "the signature's key is not an approver's: add the person under [[approvers]] in the workstation profile with role \"approver\", or sign with an approver's key"
    )]
    NotAnApprover,
    /// The signature does not verify for this request and decision.
    #[error(
        "the signature does not verify for request {id} ({decision}): it was made over another request, digest or decision, or it is forged; sign the text `qwarden approvals show {id} --message {decision}` prints"
    )]
    BadSignature {
        /// The request.
        id: String,
        /// The decision.
        decision: &'static str,
    },
    /// The signature is unreadable.
    #[error("the signature is not an SSH signature: {0}")]
    Malformed(String),
    /// The key may not approve this request.
    #[error(
        "approver {approver}'s key ({fingerprint}) may not vote on this request: it is the requester's own key or a key readable from the requester's sandbox"
    )]
    Excluded {
        /// The approver.
        approver: String,
        /// The key.
        fingerprint: String,
    },
    /// The request is past its expiry.
    #[error("request {0} has expired; the agent must ask again")]
    Expired(String),
    /// The request has been decided.
    #[error("request {id} is already {status}")]
    Closed {
        /// The request.
        id: String,
        /// Approved or denied.
        status: &'static str,
    },
    /// The rule needs a TOTP code with each approval.
    #[error(
        "request {0} needs a second factor: pass the approver's current TOTP code (--totp CODE)"
    )]
    SecondFactorMissing(String),
    /// The request cannot be canonicalized.
    #[error("{0}")]
    Request(String),
}

/// Who signed a vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The approver's name.
    pub approver: String,
    /// Their key's fingerprint.
    pub fingerprint: String,
}

/// Checks that `armored` is a vote by one of `approvers` for `decision` on `request`.
pub fn verify(
    request: &ApprovalRequest,
    approvers: &[Approver],
    decision: Decision,
    armored: &str,
    now: OffsetDateTime,
) -> Result<Signed, VoteError> {
    let message = request
        .message(decision)
        .map_err(|e| VoteError::Request(e.to_string()))?;
    let mut bad_signature = false;
    for a in approvers.iter().filter(|a| {
        a.roles
            .iter()
            .any(|r| APPROVING_ROLES.contains(&r.as_str()))
    }) {
        // The approver's key as an allowed-signers line for this one namespace.
        let line = format!("{} namespaces=\"{NAMESPACE}\" {}", a.name, a.key);
        let Ok(signers) = AllowedSigners::parse(&line, std::path::Path::new("workstation profile"))
        else {
            continue;
        };
        match signature::verify(
            message.as_bytes(),
            armored,
            NAMESPACE,
            &a.name,
            &signers,
            now,
        ) {
            Ok(signer) => {
                if request.excluded_keys.contains(&signer.fingerprint) {
                    return Err(VoteError::Excluded {
                        approver: a.name.clone(),
                        fingerprint: signer.fingerprint,
                    });
                }
                return Ok(Signed {
                    approver: a.name.clone(),
                    fingerprint: signer.fingerprint,
                });
            }
            Err(SignatureError::BadSignature) => bad_signature = true,
            Err(
                e @ (SignatureError::Malformed { .. }
                | SignatureError::WrongNamespace { .. }
                | SignatureError::UnsupportedKey { .. }),
            ) => return Err(VoteError::Malformed(e.to_string())),
            Err(_) => {}
        }
    }
    if bad_signature {
        return Err(VoteError::BadSignature {
            id: request.id.clone(),
            decision: decision.as_str(),
        });
    }
    Err(VoteError::NotAnApprover)
}

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Waiting for approvers.
    Pending {
        /// Who has approved so far.
        approved_by: Vec<String>,
        /// How many approvals it needs in all.
        needed: u32,
    },
    /// Approved by enough distinct approvers.
    Approved {
        /// Who.
        approved_by: Vec<String>,
    },
    /// Denied.
    Denied {
        /// Who.
        denied_by: Vec<String>,
    },
    /// Past its expiry without being approved.
    Expired,
}

impl Status {
    /// One word.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Pending { .. } => "pending",
            Status::Approved { .. } => "approved",
            Status::Denied { .. } => "denied",
            Status::Expired => "expired",
        }
    }
}

/// What `votes` add up to at `now`. Every vote is verified again (a vote file edited after it
/// was cast counts for nothing).
pub fn status(
    request: &ApprovalRequest,
    approvers: &[Approver],
    votes: &[Vote],
    now: OffsetDateTime,
) -> Status {
    let mut approved_by: Vec<String> = Vec::new();
    let mut denied_by: Vec<String> = Vec::new();
    let mut keys_approving = BTreeSet::new();
    let mut keys_denying = BTreeSet::new();
    for v in votes {
        let Ok(signed) = verify(request, approvers, v.decision, &v.signature, now) else {
            continue;
        };
        if signed.approver != v.approver || signed.fingerprint != v.fingerprint {
            continue;
        }
        match v.decision {
            Decision::Approve => {
                if request.rule.second_factor && v.second_factor_step.is_none() {
                    continue;
                }
                if !approved_by.contains(&signed.approver)
                    && keys_approving.insert(signed.fingerprint)
                {
                    approved_by.push(signed.approver);
                }
            }
            Decision::Deny => {
                if !denied_by.contains(&signed.approver) && keys_denying.insert(signed.fingerprint)
                {
                    denied_by.push(signed.approver);
                }
            }
        }
    }
    let count = |v: &Vec<String>| u32::try_from(v.len()).unwrap_or(u32::MAX);
    if count(&denied_by) >= request.rule.deny_threshold.max(1) {
        return Status::Denied { denied_by };
    }
    if now >= request.expires {
        return Status::Expired;
    }
    if count(&approved_by) >= request.rule.threshold.max(1) {
        return Status::Approved { approved_by };
    }
    Status::Pending {
        approved_by,
        needed: request.rule.threshold,
    }
}
