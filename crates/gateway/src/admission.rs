//! Job admission: is this job, as submitted, within the grant?
//!
//! A job names a provider and a backend and carries one or more circuits, each with a shot
//! count that may come from several places: the circuit itself (a sampler PUB's own shots), the
//! request's `default_shots` or `shots`, or the provider's default when the request says nothing.
//! The caller resolves every circuit's count the way the provider would and says where it came
//! from; admission checks, in order:
//! 1. the backend is in the grant (a provider wildcard `ibm:*` covers every backend of `ibm`),
//! 2. the grant's outcome for it: `deny` refuses, `needs-approval` refuses until the approvals
//!    gate exists (with a reason that says so),
//! 3. every circuit's shots are at most `max_shots`,
//! 4. the session budget: jobs so far + 1 ≤ `budget.jobs`, shots so far + this job's ≤
//!    `budget.shots`.
//!
//! An admitted job holds its share of the budget ([`Admitted`]); if the provider then refuses
//! the job, [`Admission::release`] gives it back, so a failed submission costs nothing.

use std::fmt;
use std::sync::Mutex;

use qwarden_policy::Outcome;
use qwarden_policy::grant::QpuGrant;
use qwarden_policy::manifest::BackendRef;

/// Where a circuit's shot count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShotSource {
    /// The circuit's own count (a sampler PUB's third element, a native job's `shots`).
    Circuit,
    /// The request's default for all its circuits (`params.shots` / `default_shots`, IonQ `shots`).
    Request,
    /// Nothing was given: the provider's default.
    ProviderDefault,
    /// Twirling options (`num_randomizations × shots_per_randomization`), which run more shots
    /// than the circuit's own count when they are larger.
    Twirling,
}

impl fmt::Display for ShotSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShotSource::Circuit => "the circuit's own shots",
            ShotSource::Request => "the request's default shots",
            ShotSource::ProviderDefault => "the provider's default shots",
            ShotSource::Twirling => {
                "the request's twirling randomizations × shots per randomization"
            }
        })
    }
}

/// One circuit's shots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shots {
    /// How many.
    pub count: u64,
    /// From where.
    pub source: ShotSource,
}

/// A job as admission sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    /// The provider's name in the workstation profile (`ibm`, `ionq`, `local`).
    pub provider: String,
    /// The backend at that provider.
    pub backend: String,
    /// Every circuit's shots.
    pub circuits: Vec<Shots>,
}

impl JobRequest {
    /// The job's total shots.
    pub fn total_shots(&self) -> u64 {
        self.circuits
            .iter()
            .fold(0u64, |t, c| t.saturating_add(c.count))
    }
}

/// Why a job was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The backend is not in the grant.
    #[error(
        "backend {backend} is not granted to this agent (granted: {granted}); ask for it in the manifest's [qpu] backends"
    )]
    BackendNotGranted {
        /// `provider:backend`.
        backend: String,
        /// What is granted, for the message.
        granted: String,
    },
    /// The tier's rule refuses jobs on this backend.
    #[error(
        "jobs on {backend} are denied on this workstation's tier; `qwarden policy explain` shows the policy that decides it, and a local backend (`local:statevector`) is allowed on every tier"
    )]
    Denied {
        /// `provider:backend`.
        backend: String,
    },
    /// The tier needs human approval (the caller holds the job for it if it has a gate, see
    /// [`Admission::admit_for_approval`]).
    #[error(
        "jobs on {backend} need human approval on this workstation's tier, and no approval gate is available: the job is refused"
    )]
    NeedsApproval {
        /// `provider:backend`.
        backend: String,
        /// Whether each approval needs a second factor too.
        second_factor: bool,
    },
    /// A job without circuits.
    #[error("the job has no circuits")]
    Empty,
    /// One circuit asks for more shots than a job may have.
    #[error("circuit {index} asks for {count} shots ({from}), over the grant's max_shots of {max}")]
    TooManyShots {
        /// Which circuit (0-based).
        index: usize,
        /// Its shots.
        count: u64,
        /// From where.
        from: ShotSource,
        /// The limit.
        max: u64,
    },
    /// The session's shot budget would be exceeded.
    #[error(
        "the job's {requested} shots exceed what is left of the session's shot budget ({left} of {budget})"
    )]
    ShotBudget {
        /// This job's shots.
        requested: u64,
        /// Left before it.
        left: u64,
        /// The budget.
        budget: u64,
    },
    /// The session's job budget is used up.
    #[error("the session's budget of {budget} jobs is used up")]
    JobBudget {
        /// The budget.
        budget: u64,
    },
}

/// Shots and jobs used so far in the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Shots admitted.
    pub shots: u64,
    /// Jobs admitted.
    pub jobs: u64,
}

/// The session's job admission: the grant and the budget used so far.
#[derive(Debug)]
pub struct Admission {
    grant: QpuGrant,
    used: Mutex<Usage>,
}

/// An admitted job's share of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an admitted job either goes ahead or is released"]
pub struct Admitted {
    /// Its shots.
    pub shots: u64,
}

impl Admission {
    /// Admission under `grant`, with nothing used yet.
    pub fn new(grant: QpuGrant) -> Admission {
        Admission {
            grant,
            used: Mutex::new(Usage::default()),
        }
    }

    /// What has been used so far.
    pub fn used(&self) -> Usage {
        self.used.lock().map(|u| *u).unwrap_or_default()
    }

    /// Whether `provider:backend` is in the grant at all (whatever the tier's rule for it): the
    /// provider APIs show an agent only the backends it was granted.
    pub fn covers(&self, provider: &str, backend: &str) -> bool {
        let wanted = BackendRef {
            provider: provider.to_owned(),
            backend: backend.to_owned(),
        };
        // The most specific entry decides: a backend a policy forbids by name is not shown even
        // when a wildcard covers it.
        match self.grant.backends.iter().find(|b| b.backend == wanted) {
            Some(named) => named.outcome != Outcome::Deny,
            None => self
                .grant
                .backends
                .iter()
                .any(|b| b.backend.covers(&wanted)),
        }
    }

    /// Checks `job` and, if it is admitted, takes its share of the budget.
    pub fn admit(&self, job: &JobRequest) -> Result<Admitted, Refusal> {
        let wanted = BackendRef {
            provider: job.provider.clone(),
            backend: job.backend.clone(),
        };
        let name = format!("{}:{}", job.provider, job.backend);
        // A backend granted by name (a policy decided it on its own) before any wildcard.
        let granted = self
            .grant
            .backends
            .iter()
            .find(|b| b.backend == wanted)
            .or_else(|| {
                self.grant
                    .backends
                    .iter()
                    .find(|b| b.backend.covers(&wanted))
            })
            .ok_or_else(|| Refusal::BackendNotGranted {
                backend: name.clone(),
                granted: self.granted_list(),
            })?;
        match granted.outcome {
            Outcome::Deny => return Err(Refusal::Denied { backend: name }),
            Outcome::NeedsApproval { second_factor } => {
                return Err(Refusal::NeedsApproval {
                    backend: name,
                    second_factor,
                });
            }
            Outcome::Allow | Outcome::Listed | Outcome::Capture => {}
        }
        self.take(job)
    }

    /// Admits a job the tier says needs approval, to be held until it is approved: every check
    /// of [`Admission::admit`] but the approval itself (a backend the tier denies, or one not
    /// granted, is still refused), and the job takes its share of the budget while it waits.
    pub fn admit_for_approval(&self, job: &JobRequest) -> Result<Admitted, Refusal> {
        match self.admit(job) {
            Err(Refusal::NeedsApproval { .. }) => self.take(job),
            other => other,
        }
    }

    /// Shots and budget, and the job's share taken.
    fn take(&self, job: &JobRequest) -> Result<Admitted, Refusal> {
        if job.circuits.is_empty() {
            return Err(Refusal::Empty);
        }
        let max = self.grant.max_shots;
        if let Some((index, c)) = job.circuits.iter().enumerate().find(|(_, c)| c.count > max) {
            return Err(Refusal::TooManyShots {
                index,
                count: c.count,
                from: c.source,
                max,
            });
        }
        let shots = job.total_shots();
        let budget = self.grant.budget;
        let mut used = self.used.lock().map_err(|_| Refusal::JobBudget {
            budget: budget.jobs,
        })?;
        if used.jobs >= budget.jobs {
            return Err(Refusal::JobBudget {
                budget: budget.jobs,
            });
        }
        let left = budget.shots.saturating_sub(used.shots);
        if shots > left {
            return Err(Refusal::ShotBudget {
                requested: shots,
                left,
                budget: budget.shots,
            });
        }
        used.jobs += 1;
        used.shots += shots;
        Ok(Admitted { shots })
    }

    /// Gives an admitted job's budget back (the provider refused it, or it never left).
    pub fn release(&self, admitted: Admitted) {
        if let Ok(mut used) = self.used.lock() {
            used.jobs = used.jobs.saturating_sub(1);
            used.shots = used.shots.saturating_sub(admitted.shots);
        }
    }

    fn granted_list(&self) -> String {
        let names: Vec<String> = self
            .grant
            .backends
            .iter()
            .filter(|b| b.outcome != Outcome::Deny)
            .map(|b| b.backend.to_string())
            .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use qwarden_policy::grant::BackendGrant;
    use qwarden_policy::manifest::Budget;
    use qwarden_policy::profile::ProviderKind;

    fn backend(r: &str, outcome: Outcome) -> BackendGrant {
        let (provider, backend) = r.split_once(':').unwrap();
        BackendGrant {
            backend: BackendRef {
                provider: provider.into(),
                backend: backend.into(),
            },
            kind: ProviderKind::Local,
            outcome,
        }
    }

    fn admission() -> Admission {
        Admission::new(QpuGrant {
            providers: vec![],
            backends: vec![
                backend("local:*", Outcome::Allow),
                backend(
                    "ibm:ibm_lima",
                    Outcome::NeedsApproval {
                        second_factor: false,
                    },
                ),
                backend("ionq:qpu.aria-1", Outcome::Deny),
            ],
            max_shots: 1000,
            budget: Budget {
                shots: 2500,
                jobs: 3,
            },
        })
    }

    fn job(provider: &str, backend: &str, shots: &[(u64, ShotSource)]) -> JobRequest {
        JobRequest {
            provider: provider.into(),
            backend: backend.into(),
            circuits: shots
                .iter()
                .map(|(count, source)| Shots {
                    count: *count,
                    source: *source,
                })
                .collect(),
        }
    }

    #[test]
    fn a_job_within_the_grant_is_admitted_and_counted() {
        let a = admission();
        let ok = a
            .admit(&job(
                "local",
                "statevector",
                &[(1000, ShotSource::Circuit), (500, ShotSource::Request)],
            ))
            .unwrap();
        assert_eq!(ok.shots, 1500);
        assert_eq!(
            a.used(),
            Usage {
                shots: 1500,
                jobs: 1
            }
        );
    }

    #[test]
    fn every_rule_refuses_with_its_reason() {
        let a = admission();
        let e = a
            .admit(&job("ibm", "ibm_brisbane", &[(1, ShotSource::Circuit)]))
            .unwrap_err();
        assert!(matches!(e, Refusal::BackendNotGranted { .. }));
        assert!(e.to_string().contains("local:*"), "{e}");
        assert_eq!(
            a.admit(&job("ibm", "ibm_lima", &[(1, ShotSource::Circuit)])),
            Err(Refusal::NeedsApproval {
                backend: "ibm:ibm_lima".into(),
                second_factor: false,
            })
        );
        // Held for approval instead: every other check still applies, and it takes budget.
        let held = a
            .admit_for_approval(&job("ibm", "ibm_lima", &[(3, ShotSource::Circuit)]))
            .unwrap();
        assert_eq!(held.shots, 3);
        assert_eq!(a.used(), Usage { shots: 3, jobs: 1 });
        assert!(matches!(
            a.admit_for_approval(&job("ionq", "qpu.aria-1", &[(1, ShotSource::Circuit)])),
            Err(Refusal::Denied { .. })
        ));
        assert!(matches!(
            a.admit_for_approval(&job("ibm", "ibm_lima", &[(1_000_000, ShotSource::Circuit)])),
            Err(Refusal::TooManyShots { .. })
        ));
        a.release(held);
        assert_eq!(
            a.admit(&job("ionq", "qpu.aria-1", &[(1, ShotSource::Circuit)])),
            Err(Refusal::Denied {
                backend: "ionq:qpu.aria-1".into()
            })
        );
        assert_eq!(a.admit(&job("local", "x", &[])), Err(Refusal::Empty));
        for source in [
            ShotSource::Circuit,
            ShotSource::Request,
            ShotSource::ProviderDefault,
        ] {
            let e = a
                .admit(&job(
                    "local",
                    "x",
                    &[(10, ShotSource::Circuit), (1001, source)],
                ))
                .unwrap_err();
            assert_eq!(
                e,
                Refusal::TooManyShots {
                    index: 1,
                    count: 1001,
                    from: source,
                    max: 1000
                }
            );
            assert!(e.to_string().contains(&source.to_string()), "{e}");
        }
        assert_eq!(a.used(), Usage::default(), "refused jobs cost nothing");
    }

    #[test]
    fn budgets_run_out_and_released_jobs_give_back() {
        let a = admission();
        let first = a
            .admit(&job("local", "x", &[(1000, ShotSource::Circuit)]))
            .unwrap();
        let _second = a
            .admit(&job("local", "x", &[(1000, ShotSource::Circuit)]))
            .unwrap();
        assert_eq!(
            a.admit(&job("local", "x", &[(600, ShotSource::Circuit)])),
            Err(Refusal::ShotBudget {
                requested: 600,
                left: 500,
                budget: 2500
            })
        );
        a.release(first);
        let _third = a
            .admit(&job("local", "x", &[(600, ShotSource::Circuit)]))
            .unwrap();
        let _fourth = a
            .admit(&job("local", "x", &[(1, ShotSource::Circuit)]))
            .unwrap();
        assert_eq!(
            a.admit(&job("local", "x", &[(1, ShotSource::Circuit)])),
            Err(Refusal::JobBudget { budget: 3 })
        );
    }

    #[test]
    fn a_backend_a_policy_named_is_decided_before_its_wildcard() {
        let a = Admission::new(QpuGrant {
            providers: vec![],
            backends: vec![
                backend("local:*", Outcome::Allow),
                backend(
                    "local:noisy",
                    Outcome::NeedsApproval {
                        second_factor: false,
                    },
                ),
                backend("ibm:*", Outcome::Allow),
                backend("ibm:ibm_brisbane", Outcome::Deny),
            ],
            max_shots: 1000,
            budget: Budget {
                shots: 2500,
                jobs: 3,
            },
        });
        let job = |provider: &str, backend: &str| JobRequest {
            provider: provider.into(),
            backend: backend.into(),
            circuits: vec![Shots {
                count: 10,
                source: ShotSource::Circuit,
            }],
        };
        assert!(matches!(
            a.admit(&job("local", "noisy")),
            Err(Refusal::NeedsApproval { .. })
        ));
        assert!(a.admit(&job("local", "density")).is_ok());
        assert!(matches!(
            a.admit(&job("ibm", "ibm_brisbane")),
            Err(Refusal::Denied { .. })
        ));
        assert!(a.admit(&job("ibm", "ibm_torino")).is_ok());
        // A backend forbidden by name is not shown to the agent either.
        assert!(!a.covers("ibm", "ibm_brisbane"));
        assert!(a.covers("ibm", "ibm_torino") && a.covers("local", "noisy"));
    }
}
