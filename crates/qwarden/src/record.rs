//! Recording decisions in the workstation's audit ledger.

use qwarden_ledger::cas::DirCas;
use qwarden_ledger::event::{Event, PolicyDecision, PolicyOutcome, Timestamp};
use qwarden_ledger::home::LedgerHome;
use qwarden_ledger::log::CheckpointPolicy;
use qwarden_policy::{Decision, Outcome, Profile};

use crate::dirs::Dirs;

/// The ledger's checkpoint schedule from the profile.
pub fn checkpoint_policy(profile: &Profile) -> CheckpointPolicy {
    CheckpointPolicy {
        every_entries: profile.ledger.checkpoint_every_entries.max(1),
        every: std::time::Duration::from_secs(profile.ledger.checkpoint_every_seconds),
    }
}

/// Appends `event` to the ledger under the state directory (making the ledger and its key on first
/// use); returns its index once it is durable.
pub fn record(dirs: &Dirs, profile: &Profile, event: &Event) -> anyhow::Result<u64> {
    let state = &dirs.state;
    let ledger = LedgerHome::new(state).open(checkpoint_policy(profile))?;
    let mut cas = DirCas::open(state.join("cas"))?;
    let bytes = event.to_jcs(&mut cas)?;
    Ok(ledger.append(bytes)?)
}

/// A policy decision as an audit event.
pub fn policy_event(
    agent: &str,
    action: &str,
    resource: &str,
    decision: &Decision,
    details: serde_json::Value,
) -> Event {
    let outcome = match decision.outcome {
        Outcome::Allow => PolicyOutcome::Allow,
        Outcome::Listed => PolicyOutcome::Listed,
        Outcome::Capture => PolicyOutcome::Capture,
        Outcome::NeedsApproval { .. } => PolicyOutcome::NeedsApproval,
        Outcome::Deny => PolicyOutcome::Deny,
    };
    let mut reasons = decision.reasons.clone();
    reasons.extend(
        decision
            .errors
            .iter()
            .map(|e| format!("evaluation error: {e}")),
    );
    Event::new(
        Timestamp::now(),
        PolicyDecision {
            action: action.to_owned(),
            resource: resource.to_owned(),
            outcome,
            policies: decision.policies.clone(),
            reasons,
        },
    )
    .with_agent(agent)
    .with_details(details)
}
