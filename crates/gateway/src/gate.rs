//! The approval gate: jobs the tier says need approval wait here, and run only once the right
//! humans have signed off on exactly them.
//!
//! When admission says a job needs approval ([`crate::admission::Refusal::NeedsApproval`]), the
//! provider API holds it: [`Gate::hold`] writes an [`ApprovalRequest`] for the job as it will be
//! sent to the approvals store, tells the approvers, and gives the API an id to answer the agent
//! with (a queued IBM job, a submitted IonQ job, a `202` from the native API). Whenever the agent
//! asks about that job, the API calls [`Gate::check`]: while the request is pending the job stays
//! queued; once it is approved the API sends the held job (exactly the bytes the approvers saw
//! the digest of) and reports back with [`Gate::finish`]; a denied or expired request fails the
//! job with the reason. Nothing waits on a timer: the session keeps running, and the decision is
//! taken the next time the agent looks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use qwarden_approvals::notify::{self, Notice, WebhookConfig};
use qwarden_approvals::store::{Outcome, Store};
use qwarden_approvals::tally::Status;
use qwarden_approvals::{Action, ApprovalRequest, JobAction, Rule, Subject};
use qwarden_policy::profile::Approver;
use time::OffsetDateTime;

use crate::admission::{Admission, Admitted};

/// How the gate is set up for a session.
pub struct GateConfig {
    /// The approvals store (`<state>/approvals`).
    pub store: Store,
    /// The profile's approvers.
    pub approvers: Vec<Approver>,
    /// Approvals needed and denials that end a request, for this tier.
    pub threshold: u32,
    /// Denials that end a request.
    pub deny_threshold: u32,
    /// For whom jobs run.
    pub subject: Subject,
    /// Who asks (the agent's name).
    pub requested_by: String,
    /// Keys that may not approve: the manifest signer's and those readable from the sandbox.
    pub excluded_keys: Vec<String>,
    /// How long a request waits.
    pub ttl: time::Duration,
    /// Where to tell approvers.
    pub webhook: Option<WebhookConfig>,
    /// Whether to try a desktop notification.
    pub desktop: bool,
}

/// A job waiting for approval.
#[derive(Debug, Clone)]
pub struct Held {
    /// The approval request's id.
    pub request_id: String,
    /// What was asked.
    pub action: JobAction,
    /// Its share of the budget.
    pub admitted: Admitted,
    /// The job as it will be sent.
    pub body: Vec<u8>,
    /// What became of it.
    pub state: HeldState,
}

/// Where a held job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldState {
    /// Waiting for approvers.
    Waiting,
    /// Approved; the API is sending it.
    Releasing,
    /// Sent: the provider's (or local backend's) job id.
    Sent(String),
    /// Will not run, and why.
    Refused(String),
}

impl Held {
    /// The held job as it goes to the provider.
    pub fn outgoing(&self) -> Outgoing {
        Outgoing {
            backend: self.action.backend.clone(),
            circuit_digest: self.action.circuit_digest.clone(),
            request_digest: self.action.request_digest.clone(),
            forwarded: self.body.clone(),
        }
    }
}

/// A job as it goes to a provider: what its record needs and the exact bytes sent.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The backend.
    pub backend: String,
    /// `sha256:` of its circuit(s).
    pub circuit_digest: String,
    /// `sha256:` of the request the agent sent.
    pub request_digest: String,
    /// The body sent to the provider.
    pub forwarded: Vec<u8>,
}

/// Where a held provider job stands, for the provider API to answer from.
#[derive(Debug)]
pub enum Resolved<E> {
    /// Still waiting for approval request `request_id`.
    Waiting {
        /// The request.
        request_id: String,
    },
    /// It will not run, and why.
    Refused {
        /// Why.
        reason: String,
    },
    /// At the provider as this job id.
    Sent(String),
    /// Approved, but sending it failed.
    Failed(E),
}

/// The provider's answer about job `real` with the id swapped for `held`, the id the agent
/// knows the job by.
pub fn swap_id(body: &[u8], real: &str, held: &str) -> hyper::body::Bytes {
    hyper::body::Bytes::from(String::from_utf8_lossy(body).replace(real, held))
}

/// What the API should do with a held job now.
#[derive(Debug, Clone)]
pub enum Check {
    /// Keep it queued: approvals so far, and how many it needs.
    Waiting {
        /// The request.
        request_id: String,
        /// Approvals so far.
        approved: usize,
        /// Approvals needed.
        needed: u32,
    },
    /// Approved just now: send it, then call [`Gate::finish`].
    Release(Box<Held>),
    /// Already sent, as this job id.
    Sent(String),
    /// It will not run: why (denied, expired, changed, failed). Its budget has been given back.
    Refused {
        /// Why.
        reason: String,
    },
}

/// What the gate reports, for the ledger.
pub trait GateSink: Send + Sync {
    /// A request was made and approvers were told (`notified`: one line per channel).
    fn requested(&self, request: &ApprovalRequest, notified: &[String]);
    /// A request ended: approved and sent, denied, expired, or failed.
    fn ended(&self, request: &ApprovalRequest, result: &str, detail: &str);
}

/// The session's approval gate.
pub struct Gate {
    config: GateConfig,
    sink: Arc<dyn GateSink>,
    held: Mutex<HashMap<String, Held>>,
}

impl Gate {
    /// A gate with `config`, reporting to `sink`.
    pub fn new(config: GateConfig, sink: Arc<dyn GateSink>) -> Gate {
        Gate {
            config,
            sink,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// Holds a job (admitted with [`crate::admission::Admission::admit_for_approval`]) under
    /// `job_id`, the id the API answers the agent with. Returns the request.
    pub fn hold(
        &self,
        job_id: &str,
        action: JobAction,
        admitted: Admitted,
        body: Vec<u8>,
        second_factor: bool,
    ) -> Result<ApprovalRequest, String> {
        let c = &self.config;
        let request = ApprovalRequest::new(
            Action::QpuJob(action.clone()),
            c.subject.clone(),
            c.requested_by.clone(),
            Rule {
                threshold: c.threshold.max(1),
                deny_threshold: c.deny_threshold.max(1),
                second_factor,
            },
            c.excluded_keys.clone(),
            OffsetDateTime::now_utc(),
            c.ttl,
        )
        .map_err(|e| e.to_string())?;
        c.store
            .create(&request)
            .map_err(|e| format!("cannot store the approval request: {e}"))?;
        if let Ok(mut held) = self.held.lock() {
            held.insert(
                job_id.to_owned(),
                Held {
                    request_id: request.id.clone(),
                    action,
                    admitted,
                    body,
                    state: HeldState::Waiting,
                },
            );
        }
        let notified = self.notify(&request);
        self.sink.requested(&request, &notified);
        Ok(request)
    }

    fn notify(&self, request: &ApprovalRequest) -> Vec<String> {
        let c = &self.config;
        if c.webhook.is_none() && !c.desktop {
            return Vec::new();
        }
        let notice = Notice {
            request_id: request.id.clone(),
            title: format!("qwarden: approval needed ({})", request.subject.agent),
            summary: format!(
                "agent {} asks to run {} on a {} workstation",
                request.subject.agent,
                request.action.describe(),
                request.subject.tier
            ),
            approve_command: format!("qwarden approvals show {}", request.id),
            expires: request
                .expires
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        };
        notify::notify_all(c.webhook.as_ref(), c.desktop, &notice)
            .into_iter()
            .map(|o| match o.result {
                Ok(m) => format!("{}: {m}", o.channel),
                Err(e) => format!("{}: failed: {e}", o.channel),
            })
            .collect()
    }

    /// Whether `job_id` is a held job of this gate.
    pub fn holds(&self, job_id: &str) -> bool {
        self.held.lock().is_ok_and(|h| h.contains_key(job_id))
    }

    /// What to do with held job `job_id` now (`None`: not a held job). A job that will not run
    /// gives its budget back to `admission`, once.
    pub fn check(&self, job_id: &str, admission: &Admission) -> Option<Check> {
        let mut held = self.held.lock().ok()?;
        let h = held.get_mut(job_id)?;
        match &h.state {
            HeldState::Sent(id) => return Some(Check::Sent(id.clone())),
            HeldState::Refused(reason) => {
                return Some(Check::Refused {
                    reason: reason.clone(),
                });
            }
            HeldState::Releasing => {
                return Some(Check::Waiting {
                    request_id: h.request_id.clone(),
                    approved: 0,
                    needed: 0,
                });
            }
            HeldState::Waiting => {}
        }
        let c = &self.config;
        let (request, status) =
            match c
                .store
                .status(&h.request_id, &c.approvers, OffsetDateTime::now_utc())
            {
                Ok(s) => s,
                Err(e) => {
                    let reason = format!("the approval request cannot be read: {e}");
                    h.state = HeldState::Refused(reason.clone());
                    admission.release(h.admitted);
                    return Some(Check::Refused { reason });
                }
            };
        let refuse = |h: &mut Held, result: &str, reason: String| {
            let _ = c.store.settle(
                &h.request_id,
                &Outcome {
                    result: result.to_owned(),
                    detail: reason.clone(),
                    at: OffsetDateTime::now_utc(),
                },
            );
            self.sink.ended(&request, result, &reason);
            h.state = HeldState::Refused(reason.clone());
            admission.release(h.admitted);
            Check::Refused { reason }
        };
        match status {
            Status::Pending {
                approved_by,
                needed,
            } => Some(Check::Waiting {
                request_id: h.request_id.clone(),
                approved: approved_by.len(),
                needed,
            }),
            Status::Denied { denied_by } => Some(refuse(
                h,
                "denied",
                format!(
                    "approval request {} was denied by {}",
                    request.id,
                    denied_by.join(", ")
                ),
            )),
            Status::Expired => Some(refuse(
                h,
                "expired",
                format!(
                    "approval request {} expired before enough approvers signed",
                    request.id
                ),
            )),
            Status::Approved { .. } => {
                // What runs must be exactly what was approved.
                if !request.matches(&Action::QpuJob(h.action.clone()), &c.subject) {
                    return Some(refuse(
                        h,
                        "failed",
                        format!(
                            "the job no longer matches approval request {}: it is not run",
                            request.id
                        ),
                    ));
                }
                h.state = HeldState::Releasing;
                Some(Check::Release(Box::new(h.clone())))
            }
        }
    }

    /// [`Gate::check`] for a provider job: one approved just now is sent with `send` (which
    /// records it, or gives its budget back when it fails) and reported with [`Gate::finish`].
    pub async fn resolve<E: std::fmt::Display>(
        &self,
        job_id: &str,
        admission: &Admission,
        send: impl AsyncFnOnce(Outgoing, Admitted) -> Result<String, E>,
    ) -> Option<Resolved<E>> {
        Some(match self.check(job_id, admission)? {
            Check::Waiting { request_id, .. } => Resolved::Waiting { request_id },
            Check::Refused { reason } => Resolved::Refused { reason },
            Check::Sent(real) => Resolved::Sent(real),
            Check::Release(h) => match send(h.outgoing(), h.admitted).await {
                Ok(real) => {
                    self.finish(job_id, Ok(real.clone()));
                    Resolved::Sent(real)
                }
                Err(e) => {
                    self.finish(job_id, Err(e.to_string()));
                    Resolved::Failed(e)
                }
            },
        })
    }

    /// Reports what became of a released job: `Ok(job id)` once sent, `Err(reason)` if sending
    /// failed (then the caller gives its budget back).
    pub fn finish(&self, job_id: &str, result: Result<String, String>) {
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        let Some(h) = held.get_mut(job_id) else {
            return;
        };
        let (state, outcome, detail) = match &result {
            Ok(id) => (HeldState::Sent(id.clone()), "ran", format!("job {id}")),
            Err(e) => (HeldState::Refused(e.clone()), "failed", e.clone()),
        };
        let _ = self.config.store.settle(
            &h.request_id,
            &Outcome {
                result: outcome.to_owned(),
                detail: detail.clone(),
                at: OffsetDateTime::now_utc(),
            },
        );
        if let Ok(request) = self.config.store.get(&h.request_id) {
            self.sink.ended(&request, outcome, &detail);
        }
        h.state = state;
    }

    /// The approvals of a request, for the record of the job it released.
    pub fn approvers_of(&self, request_id: &str) -> Vec<String> {
        let c = &self.config;
        c.store
            .status(request_id, &c.approvers, OffsetDateTime::now_utc())
            .ok()
            .and_then(|(_, s)| match s {
                Status::Approved { approved_by } => Some(approved_by),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Expires every request still waiting (the session is ending).
    pub fn close(&self) {
        let Ok(mut held) = self.held.lock() else {
            return;
        };
        for h in held.values_mut() {
            if h.state != HeldState::Waiting {
                continue;
            }
            let reason = "the session ended before the job was approved".to_owned();
            let _ = self.config.store.settle(
                &h.request_id,
                &Outcome {
                    result: "expired".into(),
                    detail: reason.clone(),
                    at: OffsetDateTime::now_utc(),
                },
            );
            if let Ok(request) = self.config.store.get(&h.request_id) {
                self.sink.ended(&request, "expired", &reason);
            }
            h.state = HeldState::Refused(reason);
        }
    }
}
