//! The session summary printed at exit (`qwarden run` table or `--json`).

use serde::Serialize;

use qwarden_ledger::event::SessionSummary;
use qwarden_sandbox::review::ReviewOutcome;
use qwarden_sandbox::writeset::{Change, Op};

/// Totals for a session.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// Programs executed.
    pub execs: u64,
    /// Write intents seen by the observer.
    pub write_intents: u64,
    /// Files in the final write set.
    pub file_writes: u64,
    /// Network connections allowed.
    pub net_allowed: u64,
    /// Network connections denied.
    pub net_denied: u64,
    /// QPU jobs.
    pub jobs: u64,
    /// Reproducibility bundles made for them.
    pub bundles: u64,
    /// Refused attempts.
    pub violations: u64,
}

impl Counts {
    /// As the `session.end` event's summary.
    pub fn to_event(self) -> SessionSummary {
        SessionSummary {
            execs: self.execs,
            file_reads: 0,
            file_writes: self.file_writes,
            net_allowed: self.net_allowed,
            net_denied: self.net_denied,
            policy_denials: 0,
            jobs: self.jobs,
            approvals: 0,
            violations: self.violations,
        }
    }
}

/// One refused attempt.
#[derive(Debug, Clone, Serialize)]
pub struct Denial {
    /// What was attempted.
    pub attempted: String,
    /// Which control refused it.
    pub control: String,
    /// On what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// One file in the write set.
#[derive(Debug, Clone, Serialize)]
pub struct WriteSetEntry {
    /// `create`, `modify` or `delete`.
    pub op: &'static str,
    /// The path.
    pub path: String,
    /// Size after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Digest before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_before: Option<String>,
    /// Digest after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_after: Option<String>,
}

impl From<&Change> for WriteSetEntry {
    fn from(c: &Change) -> Self {
        WriteSetEntry {
            op: match c.op {
                Op::Create => "create",
                Op::Modify => "modify",
                Op::Delete => "delete",
            },
            path: c.path.display().to_string(),
            size: c.size,
            sha256_before: c.sha256_before.clone(),
            sha256_after: c.sha256_after.clone(),
        }
    }
}

/// What a session did, for the human at the terminal and for `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The session id.
    pub session: String,
    /// The agent.
    pub agent: String,
    /// The workstation tier.
    pub tier: String,
    /// How the agent was isolated.
    pub isolation: String,
    /// The agent's exit code (128 + signal when killed): qwarden's own.
    pub exit_code: i32,
    /// Wall time of the whole session.
    pub duration_ms: u64,
    /// Totals.
    pub counts: Counts,
    /// Commands run (the first 200).
    pub commands: Vec<String>,
    /// Refused attempts.
    pub denials: Vec<Denial>,
    /// The final write set.
    pub write_set: Vec<WriteSetEntry>,
    /// Review branches or patches, with how to review them.
    pub reviews: Vec<String>,
    /// Things that could not be applied.
    pub warnings: Vec<String>,
    /// Ledger index of `session.start`.
    pub ledger_first: u64,
    /// Ledger index of `session.end`.
    pub ledger_last: u64,
    /// Size of the signed checkpoint kept at the end.
    pub checkpoint_size: u64,
    /// Its root hash, hex.
    pub checkpoint_root: String,
    /// Witnesses that cosigned that checkpoint.
    pub witnessed: Vec<String>,
}

/// The human instructions for a review outcome.
pub fn review_line(o: &ReviewOutcome) -> Option<String> {
    match o {
        ReviewOutcome::NoChanges { .. } => None,
        other => Some(other.instructions()),
    }
}
