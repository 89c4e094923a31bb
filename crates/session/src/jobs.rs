//! The QPU job gateway in a session: the handles the agent gets, how the gateway checks them,
//! and its jobs as ledger events.

use std::sync::Mutex;
use std::sync::mpsc::SyncSender;

use qwarden_gateway::record::{Completed, JobSink, Refused, Submitted};
use qwarden_gateway::server::Authenticator;
use qwarden_ledger::cas::Digest;
use qwarden_ledger::event::{Credential, CredentialAction, Event, JobSubmit, Timestamp, Violation};
use qwarden_policy::Grant;
use qwarden_policy::profile::ProviderKind;
use qwarden_vault::handle::{Binding, Handle, HandleTable};

use crate::digest_of;
use crate::events::{Item, Queue};

/// What [`Handles::mint`] gives: the table, the agent's environment variables, the mint events.
pub type Minted = (Handles, Vec<(String, String)>, Vec<Event>);

/// The session's handles, one per granted provider, and the queue their events go to.
pub struct Handles {
    session: String,
    table: Mutex<HandleTable>,
    /// The granted providers' names in the profile.
    providers: Vec<String>,
    queue: Queue,
}

impl Handles {
    /// Mints one handle per provider the grant names. Returns them with the environment
    /// variable each goes in (`QWARDEN_GATEWAY_TOKEN` for the local provider,
    /// `QWARDEN_HANDLE_<NAME>` for the others) and the `credential` mint events, to be recorded
    /// once `session.start` is (see [`Handles::attach`]).
    pub fn mint(grant: &Grant, session: &str) -> Result<Minted, String> {
        let now = time::OffsetDateTime::now_utc();
        let mut table = HandleTable::new();
        let mut providers = Vec::new();
        let mut env = Vec::new();
        let mut events = Vec::new();
        for p in &grant.qpu.providers {
            let handle = table
                .mint(
                    Binding {
                        session: session.to_owned(),
                        agent: grant.agent.name.clone(),
                        provider: p.name.clone(),
                        manifest_digest: grant.manifest_digest.clone(),
                    },
                    now,
                )
                .map_err(|e| e.to_string())?;
            providers.push(p.name.clone());
            let var = if p.kind == ProviderKind::Local {
                "QWARDEN_GATEWAY_TOKEN".to_owned()
            } else {
                crate::providers::handle_var(&p.name)
            };
            events.push(credential(CredentialAction::Mint, &handle, &p.name));
            env.push((var, handle.expose().to_owned()));
        }
        Ok((
            Handles {
                session: session.to_owned(),
                table: Mutex::new(table),
                providers,
                queue: Queue::default(),
            },
            env,
            events,
        ))
    }

    /// Whether any provider was granted (else no gateway is needed).
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// From now on, uses, refusals and revocations go to `tx`.
    pub fn attach(&self, tx: SyncSender<Item>) {
        self.queue.attach(tx);
    }

    fn send(&self, e: Event) {
        self.queue.send(Item::Gateway(Box::new(e)));
    }

    /// Keeps the session's handles alive (the supervisor calls this while the agent runs).
    pub fn renew(&self) {
        if let Ok(mut t) = self.table.lock() {
            t.renew(&self.session, time::OffsetDateTime::now_utc());
        }
    }

    /// Revokes every handle (the session ended), records it, and lets go of the queue.
    pub fn revoke(&self) {
        let revoked = self
            .table
            .lock()
            .map(|mut t| t.revoke_session(&self.session))
            .unwrap_or_default();
        for (digest, provider) in revoked {
            self.send(Event::new(
                Timestamp::now(),
                Credential {
                    action: CredentialAction::Revoke,
                    handle_digest: digest_of(&digest),
                    provider,
                    expires: None,
                },
            ));
        }
        self.queue.close();
    }
}

fn credential(action: CredentialAction, handle: &Handle, provider: &str) -> Event {
    Event::new(
        Timestamp::now(),
        Credential {
            action,
            handle_digest: digest_of(&handle.digest()),
            provider: provider.to_owned(),
            expires: None,
        },
    )
}

impl Authenticator for Handles {
    fn check(&self, token: &str, provider: Option<&str>) -> Result<(), String> {
        self.check_at(token, provider, time::OffsetDateTime::now_utc())
    }
}

impl Handles {
    /// [`Authenticator::check`] at `now`.
    fn check_at(
        &self,
        token: &str,
        provider: Option<&str>,
        now: time::OffsetDateTime,
    ) -> Result<(), String> {
        let digest = qwarden_vault::handle::digest(token);
        let result = {
            let table = self
                .table
                .lock()
                .map_err(|_| "the handle table is unusable".to_owned())?;
            let wanted: Vec<&str> = match provider {
                Some(name) if self.providers.iter().any(|p| p == name) => vec![name],
                Some(name) => {
                    return self.refuse(
                        &digest,
                        provider,
                        format!("provider `{name}` is not granted to this agent"),
                    );
                }
                None => self.providers.iter().map(String::as_str).collect(),
            };
            // Without a provider, a handle of any of the session's providers will do.
            let mut last = Err("no provider is granted to this agent".to_owned());
            for p in wanted {
                match table.check(token, p, &self.session, now) {
                    Ok(_) => {
                        last = Ok(());
                        break;
                    }
                    Err(e) => last = Err(e.to_string()),
                }
            }
            last
        };
        match result {
            Ok(()) => {
                self.send(Event::new(
                    Timestamp::now(),
                    Credential {
                        action: CredentialAction::Use,
                        handle_digest: digest_of(&digest),
                        provider: provider.unwrap_or("*").to_owned(),
                        expires: None,
                    },
                ));
                Ok(())
            }
            Err(why) => self.refuse(&digest, provider, why),
        }
    }
}

impl Handles {
    fn refuse(&self, digest: &str, provider: Option<&str>, why: String) -> Result<(), String> {
        self.send(Event::new(
            Timestamp::now(),
            Violation {
                attempted: format!(
                    "use a credential handle for {}",
                    provider.unwrap_or("the gateway")
                ),
                control: "gateway".into(),
                target: Some(format!("{digest}: {why}")),
                pid: None,
            },
        ));
        Err(why)
    }
}

/// The gateway's jobs as ledger events.
pub struct LedgerJobs {
    queue: Queue,
}

impl LedgerJobs {
    /// Feeding `tx`.
    pub fn new(tx: SyncSender<Item>) -> LedgerJobs {
        LedgerJobs {
            queue: Queue::new(tx),
        }
    }

    /// Lets go of the queue.
    pub fn close(&self) {
        self.queue.close();
    }

    fn send(&self, e: Event) {
        self.queue.send(Item::Gateway(Box::new(e)));
    }
}

impl JobSink for LedgerJobs {
    fn submitted(&self, job: Submitted) {
        self.send(submitted_event(job));
    }

    fn refused(&self, job: Refused) {
        self.send(refused_event(job));
    }

    fn completed(&self, job: Completed) {
        self.queue.send(Item::Completed(Box::new(job)));
    }
}

/// A submitted job as its `job.submit` ledger event (the seed, where there is one, in
/// `details.seed`).
pub fn submitted_event(job: Submitted) -> Event {
    let seed = job.seed;
    let event = Event::new(
        Timestamp::now(),
        JobSubmit {
            provider: job.provider,
            backend: job.backend,
            shots: job.shots,
            circuit_digest: digest_of(&job.circuit_digest),
            job_id: Some(job.job_id),
            calibration_digest: job.calibration_digest.as_deref().map(digest_of),
            request_digest: Some(digest_of(&job.request_digest)),
        },
    );
    match seed {
        Some(seed) => event.with_details(serde_json::json!({ "seed": seed })),
        None => event,
    }
}

/// A refused job as its `violation` ledger event (control `gateway`).
pub fn refused_event(job: Refused) -> Event {
    Event::new(
        Timestamp::now(),
        Violation {
            attempted: format!("submit a job to {}:{}", job.provider, job.backend),
            control: "gateway".into(),
            target: Some(job.reason),
            pid: None,
        },
    )
    .with_details(serde_json::json!({ "api": job.api }))
}

/// Calibration snapshots in the ledger's content-addressed store, named by their SHA-256.
pub struct CasCalibrations {
    dir: std::path::PathBuf,
}

impl CasCalibrations {
    /// The CAS at `dir`.
    pub fn new(dir: std::path::PathBuf) -> CasCalibrations {
        CasCalibrations { dir }
    }
}

impl qwarden_gateway::upstream::ionq::CalibrationStore for CasCalibrations {
    fn put(&self, bytes: &[u8]) -> String {
        use qwarden_ledger::cas::BlobStore as _;
        // The digest names the snapshot whether or not it could be stored; a failure to store
        // it shows as a missing blob when the bundle is checked.
        let digest = Digest::of(bytes);
        if let Ok(mut cas) = qwarden_ledger::cas::DirCas::open(&self.dir) {
            let _ = cas.put(bytes);
        }
        digest.to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use qwarden_ledger::event::Body;

    /// Handles of one session for `ibm` and `ionq`, with their texts, and the queue's far end.
    fn handles() -> (Handles, String, String, std::sync::mpsc::Receiver<Item>) {
        let now = time::OffsetDateTime::now_utc();
        let mut table = HandleTable::new();
        let mut mint = |provider: &str| {
            table
                .mint(
                    Binding {
                        session: "s1".into(),
                        agent: "a".into(),
                        provider: provider.into(),
                        manifest_digest: "sha256:00".into(),
                    },
                    now,
                )
                .unwrap()
                .expose()
                .to_owned()
        };
        let (ibm, ionq) = (mint("ibm"), mint("ionq"));
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        let h = Handles {
            session: "s1".into(),
            table: Mutex::new(table),
            providers: vec!["ibm".into(), "ionq".into()],
            queue: Queue::new(tx),
        };
        (h, ibm, ionq, rx)
    }

    /// The events sent so far: (kind, attempted/action, target).
    fn events(rx: &std::sync::mpsc::Receiver<Item>) -> Vec<String> {
        rx.try_iter()
            .map(|i| match i {
                Item::Gateway(e) => match &e.body {
                    Body::Violation(v) => {
                        format!("violation {}", v.target.clone().unwrap_or_default())
                    }
                    Body::Credential(c) => format!("credential {:?} {}", c.action, c.provider),
                    _ => "other".into(),
                },
                _ => "other".into(),
            })
            .collect()
    }

    #[test]
    fn a_live_handle_for_its_provider_is_accepted_and_its_use_recorded() {
        let (h, ibm, _, rx) = handles();
        assert_eq!(h.check(&ibm, Some("ibm")), Ok(()));
        assert_eq!(h.check(&ibm, None), Ok(()));
        assert_eq!(events(&rx), ["credential Use ibm", "credential Use *"]);
    }

    #[test]
    fn every_misuse_is_refused_and_recorded() {
        let (h, ibm, ionq, rx) = handles();
        let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(16);
        let expired = h.check_at(&ibm, Some("ibm"), later).unwrap_err();
        assert!(expired.contains("expired"), "{expired}");
        let other = h.check(&ionq, Some("ibm")).unwrap_err();
        assert!(other.contains("not `ibm`"), "{other}");
        let ungranted = h.check(&ibm, Some("braket")).unwrap_err();
        assert!(ungranted.contains("not granted"), "{ungranted}");
        // Another session's handle: another supervisor's table never saw it.
        let (elsewhere, foreign, _, _) = handles();
        drop(elsewhere);
        let unknown = h.check(&foreign, Some("ibm")).unwrap_err();
        assert!(unknown.contains("unknown"), "{unknown}");
        h.revoke();
        let revoked = {
            // Revocation lets go of the queue; a fresh one sees the refusal.
            let (tx, rx2) = std::sync::mpsc::sync_channel(8);
            h.attach(tx);
            let e = h.check(&ibm, Some("ibm")).unwrap_err();
            assert_eq!(events(&rx2).len(), 1);
            e
        };
        assert!(revoked.contains("revoked"), "{revoked}");
        let seen = events(&rx);
        assert_eq!(
            seen.iter().filter(|e| e.starts_with("violation")).count(),
            4,
            "{seen:#?}"
        );
        assert!(
            seen.iter().all(|e| !e.contains(&ibm) && !e.contains(&ionq)),
            "handles are never recorded: {seen:#?}"
        );
        assert_eq!(
            seen.iter()
                .filter(|e| e.starts_with("credential Revoke"))
                .count(),
            2
        );
    }
}
