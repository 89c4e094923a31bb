//! An approval request: exactly what will run, who asked, and until when it may be approved.
//!
//! Two digests, both SHA-256 over RFC 8785 (JCS) canonical JSON:
//! - the **action digest** covers what will run and for whom ([`Action`] and [`Subject`]): the
//!   gateway recomputes it from the job it is about to send and runs the job only if it equals
//!   the approved one, so a request changed after approval (more shots, another backend) runs
//!   nothing;
//! - the **request digest** covers the whole request (the action digest, its id, who asked,
//!   when, the expiry and the thresholds), and is what approvers sign: a signature for one
//!   request is worth nothing for another, even one asking for the same action.
//!
//! Approvers sign [`ApprovalRequest::message`], a short text naming the request, its digest and
//! the decision, in the SSHSIG namespace [`NAMESPACE`], so `ssh-keygen -Y sign -n
//! qwarden-approval` output is accepted and approvers can sign from any machine.

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

/// The SSHSIG namespace of approvals and denials.
pub const NAMESPACE: &str = "qwarden-approval";

/// How long a request waits for its approvers unless the caller says otherwise.
pub const DEFAULT_TTL: time::Duration = time::Duration::hours(1);

/// A QPU job, as it will be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobAction {
    /// The provider's name in the profile.
    pub provider: String,
    /// The backend at that provider.
    pub backend: String,
    /// `sha256:` of the circuit(s) as submitted.
    pub circuit_digest: String,
    /// Total shots.
    pub shots: u64,
    /// The provider's cost estimate, if it gave one (e.g. IBM's `cost`, in seconds).
    pub cost_estimate: Option<String>,
    /// `sha256:` of the provider request body exactly as it will be forwarded.
    pub request_digest: String,
    /// The circuit in human terms (qubits, gates), for approvers.
    pub summary: String,
}

/// What an approval is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// A QPU job.
    QpuJob(JobAction),
    /// Another gated action (prod device access, a data export), named as the tier matrix names
    /// it.
    Other {
        /// The matrix's action (`use_device`, `export_data`).
        action: String,
        /// What it acts on.
        resource: String,
    },
}

impl Action {
    /// One line for humans.
    pub fn describe(&self) -> String {
        match self {
            Action::QpuJob(j) => format!(
                "{} shots on {}:{} ({}){}",
                j.shots,
                j.provider,
                j.backend,
                j.summary,
                j.cost_estimate
                    .as_deref()
                    .map(|c| format!(", cost estimate {c}"))
                    .unwrap_or_default()
            ),
            Action::Other { action, resource } => format!("{action} {resource}"),
        }
    }
}

/// For whom the action runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// The session id.
    pub session: String,
    /// The agent's name.
    pub agent: String,
    /// `sha256:` of the agent's signed manifest.
    pub manifest_digest: String,
    /// The workstation's tier.
    pub tier: String,
}

/// How many approvers must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Distinct approvals needed.
    pub threshold: u32,
    /// Distinct denials that end the request.
    pub deny_threshold: u32,
    /// Whether each approval needs a TOTP code too.
    pub second_factor: bool,
}

/// An approval request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// `apr-` and 16 random hex digits.
    pub id: String,
    /// What will run.
    pub action: Action,
    /// For whom.
    pub subject: Subject,
    /// `sha256:` over the canonical action and subject.
    pub action_digest: String,
    /// Who asked (the agent, or the human's user name for a human's request).
    pub requested_by: String,
    /// When it was asked.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it stops being approvable.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// The thresholds.
    pub rule: Rule,
    /// SHA256 fingerprints (`SHA256:…`) of keys that may not approve: the key that signed the
    /// requester's manifest and every SSH key readable from the requester's sandbox.
    pub excluded_keys: Vec<String>,
}

/// Why a request could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The operating system's random source failed.
    #[error("cannot make a request id: the operating system's random source failed: {0}")]
    Random(String),
    /// Serialization failed.
    #[error("cannot canonicalize the request: {0}")]
    Canonical(String),
}

/// `sha256:<hex>` of the JCS canonical form of `value`.
pub fn canonical_digest(value: &impl Serialize) -> Result<String, RequestError> {
    let text = serde_json_canonicalizer::to_string(value)
        .map_err(|e| RequestError::Canonical(e.to_string()))?;
    Ok(format!("sha256:{:x}", Sha256::digest(text.as_bytes())))
}

/// The action digest of `action` for `subject`.
pub fn action_digest(action: &Action, subject: &Subject) -> Result<String, RequestError> {
    canonical_digest(&serde_json::json!({"action": action, "subject": subject}))
}

/// How an approver decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Let it run.
    Approve,
    /// Do not.
    Deny,
}

impl Decision {
    /// As written in the signed message.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }
}

impl ApprovalRequest {
    /// A new request for `action` by `subject`, made at `now`, open for `ttl`.
    pub fn new(
        action: Action,
        subject: Subject,
        requested_by: impl Into<String>,
        rule: Rule,
        excluded_keys: Vec<String>,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<ApprovalRequest, RequestError> {
        let mut id = [0u8; 8];
        OsRng
            .try_fill_bytes(&mut id)
            .map_err(|e| RequestError::Random(e.to_string()))?;
        let action_digest = action_digest(&action, &subject)?;
        // Whole seconds: what RFC 3339 in the stored request keeps.
        let now = now.replace_nanosecond(0).unwrap_or(now);
        Ok(ApprovalRequest {
            id: format!("apr-{}", hex::encode(id)),
            action,
            subject,
            action_digest,
            requested_by: requested_by.into(),
            created: now,
            expires: now + ttl,
            rule,
            excluded_keys,
        })
    }

    /// The request digest approvers sign.
    pub fn digest(&self) -> Result<String, RequestError> {
        canonical_digest(self)
    }

    /// Whether the stored action digest is the digest of the stored action: a request whose
    /// action was edited on disk is refused.
    pub fn is_consistent(&self) -> bool {
        action_digest(&self.action, &self.subject).is_ok_and(|d| d == self.action_digest)
    }

    /// Whether `action` for `subject`, as about to run, is exactly what this request approved.
    pub fn matches(&self, action: &Action, subject: &Subject) -> bool {
        action_digest(action, subject).is_ok_and(|d| d == self.action_digest)
    }

    /// The text an approver signs to `decision` this request.
    pub fn message(&self, decision: Decision) -> Result<String, RequestError> {
        Ok(format!(
            "qwarden-approval v1\nrequest {}\ndigest {}\ndecision {}\n",
            self.id,
            self.digest()?,
            decision.as_str()
        ))
    }

    /// The request in human terms, for approvers to read before they sign.
    pub fn describe(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "action": self.action.describe(),
            "agent": self.subject.agent,
            "session": self.subject.session,
            "tier": self.subject.tier,
            "requested_by": self.requested_by,
            "created": self.created.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "expires": self.expires.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "needs": format!(
                "{} approval(s){}; {} denial(s) end it",
                self.rule.threshold,
                if self.rule.second_factor { " with a TOTP code each" } else { "" },
                self.rule.deny_threshold
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    pub(crate) fn job(shots: u64) -> Action {
        Action::QpuJob(JobAction {
            provider: "ibm".into(),
            backend: "ibm_torino".into(),
            circuit_digest: format!("sha256:{}", "a".repeat(64)),
            shots,
            cost_estimate: Some("12 s".into()),
            request_digest: format!("sha256:{}", "b".repeat(64)),
            summary: "2 qubits, 3 gates".into(),
        })
    }

    pub(crate) fn subject() -> Subject {
        Subject {
            session: "20261127T100000Z-abc".into(),
            agent: "circuit-helper".into(),
            manifest_digest: format!("sha256:{}", "c".repeat(64)),
            tier: "prod".into(),
        }
    }

    fn request() -> ApprovalRequest {
        ApprovalRequest::new(
            job(1000),
            subject(),
            "circuit-helper",
            Rule {
                threshold: 2,
                deny_threshold: 1,
                second_factor: true,
            },
            vec![],
            OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
            DEFAULT_TTL,
        )
        .unwrap()
    }

    #[test]
    fn the_action_digest_binds_what_runs() {
        let r = request();
        assert!(r.is_consistent());
        assert!(r.matches(&job(1000), &subject()));
        assert!(!r.matches(&job(1001), &subject()), "more shots");
        let mut other = subject();
        other.session = "another".into();
        assert!(!r.matches(&job(1000), &other), "another session");
        let mut edited = r.clone();
        edited.action = job(5000);
        assert!(
            !edited.is_consistent(),
            "an edited action no longer matches its digest"
        );
    }

    #[test]
    fn the_request_digest_covers_every_field_and_survives_a_round_trip() {
        let r = request();
        let d = r.digest().unwrap();
        let back: ApprovalRequest =
            serde_json::from_str(&serde_json::to_string_pretty(&r).unwrap()).unwrap();
        assert_eq!(back.digest().unwrap(), d);
        let mut later = r.clone();
        later.expires += time::Duration::seconds(1);
        assert_ne!(later.digest().unwrap(), d);
        let mut fewer = r.clone();
        fewer.rule.threshold = 1;
        assert_ne!(fewer.digest().unwrap(), d);
        let again = ApprovalRequest::new(
            job(1000),
            subject(),
            "circuit-helper",
            r.rule,
            vec![],
            r.created,
            DEFAULT_TTL,
        )
        .unwrap();
        assert_eq!(again.action_digest, r.action_digest);
        assert_ne!(again.id, r.id);
        assert_ne!(
            again.digest().unwrap(),
            d,
            "another request for the same action"
        );
    }

    #[test]
    fn the_signed_message_names_request_digest_and_decision() {
        let r = request();
        let m = r.message(Decision::Approve).unwrap();
        assert_eq!(
            m,
            format!(
                "qwarden-approval v1\nrequest {}\ndigest {}\ndecision approve\n",
                r.id,
                r.digest().unwrap()
            )
        );
        assert_ne!(m, r.message(Decision::Deny).unwrap());
        assert!(
            r.describe()["action"]
                .as_str()
                .unwrap()
                .contains("1000 shots on ibm:ibm_torino")
        );
    }
}
