//! The session's approval gate: where the gateway holds jobs the tier says need approval, and
//! what of it goes to the ledger.
//!
//! Ledger entries: a request is a `policy.decision` (`needs-approval`) naming the request, its
//! digests, expiry, rule and how approvers were told (a failed notification is recorded there,
//! never fatal); its end is a `job.status` (`submitted` when approved and sent, `failed` when
//! denied, expired or not runnable) with the reason. Votes are recorded by `qwarden approvals`
//! itself (`approval`), refused votes as `violation`s with control `approvals`.

use std::sync::Arc;

use qwarden_approvals::notify::WebhookConfig;
use qwarden_approvals::store::Store;
use qwarden_approvals::{Action, ApprovalRequest, Subject};
use qwarden_gateway::gate::{Gate, GateConfig, GateSink};
use qwarden_ledger::event::{Event, JobState, JobStatus, PolicyDecision, PolicyOutcome, Timestamp};
use qwarden_policy::Grant;
use qwarden_policy::profile::{ApprovalNotices, Approver, Threshold};

use crate::events::{Item, Queue};

/// What a session needs to gate jobs: the profile's approvers, this tier's threshold and how
/// requests are announced.
#[derive(Debug, Clone)]
pub struct Approvals {
    /// The profile's approvers.
    pub approvers: Vec<Approver>,
    /// This tier's threshold.
    pub threshold: Threshold,
    /// Announcements and waiting time.
    pub notices: ApprovalNotices,
}

/// Records the gate's events through the session's recorder.
pub struct LedgerGate {
    queue: Queue,
}

impl LedgerGate {
    /// Feeding the session's recorder.
    pub fn new(queue: Queue) -> LedgerGate {
        LedgerGate { queue }
    }

    /// Lets go of the queue.
    pub fn close(&self) {
        self.queue.close();
    }
}

fn resource(request: &ApprovalRequest) -> (String, String) {
    match &request.action {
        Action::QpuJob(j) => (j.provider.clone(), j.backend.clone()),
        Action::Other { action, resource } => (action.clone(), resource.clone()),
    }
}

impl GateSink for LedgerGate {
    fn requested(&self, request: &ApprovalRequest, notified: &[String]) {
        let (provider, backend) = resource(request);
        let event = Event::new(
            Timestamp::now(),
            PolicyDecision {
                action: "submit_job".into(),
                resource: format!("{provider}:{backend}"),
                outcome: PolicyOutcome::NeedsApproval,
                policies: Vec::new(),
                reasons: vec![format!(
                    "held for approval request {}: {}",
                    request.id,
                    request.action.describe()
                )],
            },
        )
        .with_session(&request.subject.session)
        .with_agent(&request.subject.agent)
        .with_details(serde_json::json!({
            "request_id": request.id,
            "request_digest": request.digest().ok(),
            "action_digest": request.action_digest,
            "expires": request.describe().get("expires").cloned(),
            "rule": request.rule,
            "excluded_keys": request.excluded_keys,
            "notified": notified,
        }));
        self.queue.send(Item::Gateway(Box::new(event)));
    }

    fn ended(&self, request: &ApprovalRequest, result: &str, detail: &str) {
        let (provider, backend) = resource(request);
        let event = Event::new(
            Timestamp::now(),
            JobStatus {
                provider,
                backend,
                job_id: request.id.clone(),
                state: if result == "ran" {
                    JobState::Submitted
                } else {
                    JobState::Failed
                },
                provider_state: Some(format!("approval-{result}")),
                calibration_digest: None,
            },
        )
        .with_session(&request.subject.session)
        .with_agent(&request.subject.agent)
        .with_details(serde_json::json!({"request_id": request.id, "detail": detail}));
        self.queue.send(Item::Gateway(Box::new(event)));
    }
}

/// The gate for a session of `grant`, storing requests under `state_dir/approvals`; `excluded`
/// are the keys that may not approve ([`excluded_keys`]).
pub fn gate(
    grant: &Grant,
    session: &str,
    state_dir: &std::path::Path,
    approvals: &Approvals,
    excluded: &[String],
    sink: Arc<LedgerGate>,
) -> Result<Gate, String> {
    let store = Store::open(state_dir.join("approvals")).map_err(|e| e.to_string())?;
    let webhook = approvals.notices.webhook.as_ref().map(|url| WebhookConfig {
        url: url.clone(),
        topic: approvals.notices.webhook_topic.clone(),
    });
    Ok(Gate::new(
        GateConfig {
            store,
            approvers: approvals.approvers.clone(),
            threshold: approvals.threshold.threshold,
            deny_threshold: approvals.threshold.deny_threshold,
            subject: Subject {
                session: session.to_owned(),
                agent: grant.agent.name.clone(),
                manifest_digest: grant.manifest_digest.clone(),
                tier: grant.tier.to_string(),
            },
            requested_by: grant.agent.name.clone(),
            excluded_keys: excluded.to_vec(),
            ttl: time::Duration::minutes(i64::from(approvals.notices.ttl_minutes.max(1))),
            webhook,
            desktop: approvals.notices.desktop,
        },
        sink,
    ))
}

/// The devices a session may bind after approvals: those the tier allows outright are in the
/// spec already; those it gates are added here once approved.
#[derive(Debug, Default)]
pub struct DeviceApprovals {
    /// Approved devices for this session.
    pub approved: Vec<qwarden_policy::manifest::DeviceRequest>,
    /// What to tell the human (requests made or still waiting).
    pub warnings: Vec<String>,
    /// Ledger entries, recorded once the session has started.
    pub events: Vec<Event>,
}

/// Device access the tier gates (`devices.prod-approval`): each device needs an approved request
/// for this agent and manifest (`Action::Other { action: "access_device" }`, made before any
/// session, so its subject names no session). An approved, unused request lets this session bind
/// the device and is used up; otherwise a request is made (or the waiting one named) and the
/// session runs without the device, saying how to get it approved.
pub fn devices(
    grant: &Grant,
    session: &str,
    state_dir: &std::path::Path,
    approvals: Option<&Approvals>,
    excluded: &[String],
) -> DeviceApprovals {
    use qwarden_approvals::store::Outcome as Settled;
    use qwarden_approvals::{Rule, Status};
    let mut out = DeviceApprovals::default();
    let gated: Vec<_> = grant
        .devices
        .iter()
        .filter_map(|d| match d.outcome {
            qwarden_policy::Outcome::NeedsApproval { second_factor } => {
                Some((d.device, second_factor))
            }
            _ => None,
        })
        .collect();
    if gated.is_empty() {
        return out;
    }
    let Some(approvals) = approvals else {
        out.warnings.extend(gated.iter().map(|(d, _)| {
            format!("device {d} needs approval on this tier and the profile lists no approvers: it is left out")
        }));
        return out;
    };
    let store = match Store::open(state_dir.join("approvals")) {
        Ok(s) => s,
        Err(e) => {
            out.warnings
                .push(format!("gated devices are left out: {e}"));
            return out;
        }
    };
    let now = time::OffsetDateTime::now_utc();
    let subject = Subject {
        session: String::new(),
        agent: grant.agent.name.clone(),
        manifest_digest: grant.manifest_digest.clone(),
        tier: grant.tier.to_string(),
    };
    let existing = store.list().unwrap_or_default();
    for (device, second_factor) in gated {
        let action = Action::Other {
            action: "access_device".into(),
            resource: device.to_string(),
        };
        let mine: Vec<&ApprovalRequest> = existing
            .iter()
            .filter(|r| r.matches(&action, &subject))
            .filter(|r| store.outcome(&r.id).ok().flatten().is_none())
            .collect();
        let mut waiting = None;
        let mut granted = None;
        for r in mine {
            let votes = store.votes(&r.id).unwrap_or_default();
            match qwarden_approvals::tally::status(r, &approvals.approvers, &votes, now) {
                Status::Approved { approved_by } => granted = Some((r, approved_by)),
                Status::Pending { .. } => waiting = Some(r),
                Status::Denied { .. } | Status::Expired => {}
            }
        }
        if let Some((r, approved_by)) = granted {
            // Used once: this session.
            if store
                .settle(
                    &r.id,
                    &Settled {
                        result: "ran".into(),
                        detail: format!("device bound in session {session}"),
                        at: now,
                    },
                )
                .is_ok()
            {
                out.approved.push(device);
                out.events.push(
                    Event::new(
                        Timestamp::now(),
                        PolicyDecision {
                            action: "access_device".into(),
                            resource: device.to_string(),
                            outcome: PolicyOutcome::Allow,
                            policies: Vec::new(),
                            reasons: vec![format!(
                                "approved by {} (request {})",
                                approved_by.join(", "),
                                r.id
                            )],
                        },
                    )
                    .with_details(serde_json::json!({"request_id": r.id})),
                );
            }
            continue;
        }
        let request = match waiting {
            Some(r) => r.clone(),
            None => {
                let made = ApprovalRequest::new(
                    action,
                    subject.clone(),
                    grant.agent.name.clone(),
                    Rule {
                        threshold: approvals.threshold.threshold.max(1),
                        deny_threshold: approvals.threshold.deny_threshold.max(1),
                        second_factor,
                    },
                    excluded.to_vec(),
                    now,
                    time::Duration::minutes(i64::from(approvals.notices.ttl_minutes.max(1))),
                )
                .map_err(|e| e.to_string())
                .and_then(|r| store.create(&r).map(|()| r).map_err(|e| e.to_string()));
                match made {
                    Ok(r) => {
                        out.events.push(
                            Event::new(
                                Timestamp::now(),
                                PolicyDecision {
                                    action: "access_device".into(),
                                    resource: device.to_string(),
                                    outcome: PolicyOutcome::NeedsApproval,
                                    policies: Vec::new(),
                                    reasons: vec![format!("approval request {} made", r.id)],
                                },
                            )
                            .with_details(serde_json::json!({
                                "request_id": r.id,
                                "request_digest": r.digest().ok(),
                                "action_digest": r.action_digest,
                            })),
                        );
                        r
                    }
                    Err(e) => {
                        out.warnings
                            .push(format!("device {device} is left out: {e}"));
                        continue;
                    }
                }
            }
        };
        out.warnings.push(format!(
            "device {device} needs approval and is left out of this session: approval request {} (`qwarden approvals show {}`); run again once it is approved",
            request.id, request.id
        ));
    }
    out
}

/// Keys that may not approve this agent's requests: the one that signed its manifest (it speaks
/// for the requester) and every SSH key the agent can read in its scopes (it could sign with
/// them). Found by name (`*.pub`, `id_*`, `authorized_keys`, `*.pem`, `*.key`) in a bounded walk
/// of the read scopes; credential stores such as `~/.ssh` are hidden from sessions anyway.
pub fn excluded_keys(grant: &Grant) -> Vec<String> {
    const MAX_ENTRIES: usize = 20_000;
    const MAX_DEPTH: usize = 8;
    const MAX_KEY_FILE: u64 = 64 * 1024;
    let mut keys = vec![grant.signer.fingerprint.clone()];
    let mut seen = 0usize;
    let mut stack: Vec<(std::path::PathBuf, usize)> = grant
        .filesystem
        .read
        .iter()
        .map(|r| (r.path.clone(), 0))
        .collect();
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            seen += 1;
            if seen > MAX_ENTRIES {
                return dedup(keys);
            }
            let Ok(kind) = e.file_type() else { continue };
            let path = e.path();
            if kind.is_dir() {
                if depth < MAX_DEPTH {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let candidate = name.ends_with(".pub")
                || name.starts_with("id_")
                || name == "authorized_keys"
                || name.ends_with(".pem")
                || name.ends_with(".key");
            if !candidate || e.metadata().map_or(true, |m| m.len() > MAX_KEY_FILE) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(&path) {
                keys.extend(qwarden_policy::signature::key_fingerprints(&text));
            }
        }
    }
    dedup(keys)
}

fn dedup(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys.dedup();
    keys
}
