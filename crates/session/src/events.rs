//! Observations and write-set changes as audit events, and the recorder thread.

use std::path::Path;
use std::sync::mpsc::Receiver;

use qwarden_ledger::cas::{Digest, DirCas};
use qwarden_ledger::event::{
    EnvChange, EnvVar, Event, Exec, ExitStatus, FileOp, FileWrite, Payload, Timestamp, Violation,
};
use qwarden_ledger::home::LedgerHome;
use qwarden_ledger::log::CheckpointPolicy;
use qwarden_sandbox::observe::{Observation, WriteOp};
use qwarden_sandbox::writeset::{Change, Op};

use crate::summary::{Counts, Denial};

/// What goes to the recorder: an event made by the supervisor, or an observation.
#[derive(Debug)]
pub enum Item {
    /// A finished event (session and agent already set).
    Event(Box<Event>),
    /// Something the observer saw.
    Observed(Observation),
    /// A decision of the egress proxy.
    Net(Box<qwarden_egress::Decision>),
    /// An event of the job gateway or the session's handles (the recorder adds the session and
    /// the agent).
    Gateway(Box<Event>),
    /// A job's results: the recorder makes its bundle once its submission is in the log.
    Completed(Box<qwarden_gateway::record::Completed>),
}

/// What the recorder saw while the agent ran.
#[derive(Debug, Default)]
pub struct Recorded {
    /// The ledger index of the first entry recorded.
    pub first_index: Option<u64>,
    /// Totals.
    pub counts: Counts,
    /// The first commands run (argv joined), for the summary.
    pub commands: Vec<String>,
    /// The first denials, for the summary.
    pub denials: Vec<Denial>,
    /// Refusals per (attempted, control).
    pub per_kind: std::collections::BTreeMap<(String, String), u64>,
}

const MAX_BATCH: usize = 4096;
/// How long the recorder waits for more events before committing a batch.
const LINGER: std::time::Duration = std::time::Duration::from_millis(50);
const SUMMARY_COMMANDS: usize = 200;
const SUMMARY_DENIALS: usize = 1000;
/// Refusals of one kind recorded one by one; past this they are counted and recorded once at
/// the end, so a flood of refused calls cannot fill the disk.
const PER_KIND: u64 = 1000;

fn digest(s: &Option<String>) -> Option<Digest> {
    s.as_deref().and_then(|d| d.parse().ok())
}

/// An observation as an event (without session and agent).
pub fn observation(o: &Observation) -> Event {
    let body: qwarden_ledger::event::Body = match o {
        Observation::Exec {
            pid,
            argv,
            cwd,
            path,
            sha256,
        } => Exec {
            pid: *pid,
            argv: Payload::Inline(argv.clone()),
            cwd: cwd.clone(),
            path: path.clone(),
            sha256: digest(sha256),
        }
        .into(),
        Observation::Write { pid, op, path } => {
            let (op, new_path) = match op {
                WriteOp::Modify | WriteOp::Truncate => (FileOp::Modify, None),
                WriteOp::Create => (FileOp::Create, None),
                WriteOp::Delete => (FileOp::Delete, None),
                WriteOp::Rename { to } => (FileOp::Rename, Some(to.display().to_string())),
            };
            FileWrite {
                op,
                path: path.display().to_string(),
                new_path,
                size: None,
                sha256_before: None,
                sha256_after: None,
                pid: Some(*pid),
            }
            .into()
        }
        Observation::Denied {
            pid,
            attempted,
            control,
            target,
        } => Violation {
            attempted: attempted.clone(),
            control: (*control).to_owned(),
            target: target.clone(),
            pid: Some(*pid),
        }
        .into(),
    };
    let e = Event::new(Timestamp::now(), body);
    if matches!(o, Observation::Write { .. }) {
        // Intent, seen before the kernel ran the call; the write set at the end is authoritative.
        e.with_details(serde_json::json!({ "observed": "intent" }))
    } else {
        e
    }
}

/// A write-set change as the authoritative `file.write` event.
pub fn file_write(c: &Change) -> Event {
    let op = match c.op {
        Op::Create => FileOp::Create,
        Op::Modify => FileOp::Modify,
        Op::Delete => FileOp::Delete,
    };
    Event::new(
        Timestamp::now(),
        FileWrite {
            op,
            path: c.path.display().to_string(),
            new_path: None,
            size: c.size,
            sha256_before: digest(&c.sha256_before),
            sha256_after: digest(&c.sha256_after),
            pid: None,
        },
    )
    .with_details(serde_json::json!({ "observed": "write-set" }))
}

/// The sandbox's environment as an `env.change` event (sensitive values are hashed by the ledger).
pub fn env_change(env: &[(String, String)]) -> Event {
    Event::new(
        Timestamp::now(),
        EnvChange {
            changes: Payload::Inline(env.iter().map(|(k, v)| EnvVar::set(k.clone(), v)).collect()),
            pid: None,
        },
    )
}

/// The agent's wait status as the ledger's exit record.
pub fn exit_status(status: Option<i32>) -> ExitStatus {
    match status {
        Some(s) if s & 0x7f == 0 => ExitStatus {
            code: Some((s >> 8) & 0xff),
            signal: None,
        },
        Some(s) => ExitStatus {
            code: None,
            signal: Some(s & 0x7f),
        },
        None => ExitStatus {
            code: None,
            signal: None,
        },
    }
}

/// Records observations until the channel closes, in batches: one batch per wake-up, so a burst
/// of execs costs one round of fsyncs.
pub fn record_all(
    rx: &Receiver<Item>,
    state: &Path,
    checkpoints: CheckpointPolicy,
    session: &str,
    agent: &str,
    bundler: &mut crate::bundles::Bundler,
) -> Result<Recorded, String> {
    let ledger = LedgerHome::new(state)
        .open(checkpoints)
        .map_err(|e| e.to_string())?;
    let mut cas = DirCas::open(state.join("cas")).map_err(|e| e.to_string())?;
    let mut rec = Recorded::default();
    while let Ok(first) = rx.recv() {
        // Group commit: gather what arrives within LINGER of the first item, so a build that
        // execs a compiler per file costs one round of fsyncs per few milliseconds, not per exec.
        let deadline = std::time::Instant::now() + LINGER;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(o) => batch.push(o),
                Err(_) => break,
            }
        }
        let mut entries = Vec::with_capacity(batch.len());
        // (offset in `entries`, provider, job id) of each job submission in the batch.
        let mut submissions = Vec::new();
        let mut completions = Vec::new();
        for item in &batch {
            let e = match item {
                Item::Completed(c) => {
                    completions.push(c);
                    continue;
                }
                Item::Event(e) => (**e).clone(),
                Item::Observed(o) => {
                    if !rec.count(o) {
                        continue;
                    }
                    observation(o).with_session(session).with_agent(agent)
                }
                Item::Gateway(e) => {
                    rec.count_gateway(e);
                    (**e).clone().with_session(session).with_agent(agent)
                }
                Item::Net(d) => {
                    if !rec.count_net(d) {
                        continue;
                    }
                    crate::net::event(d).with_session(session).with_agent(agent)
                }
            };
            if let qwarden_ledger::event::Body::JobSubmit(j) = &e.body
                && let Some(id) = &j.job_id
            {
                submissions.push((entries.len(), j.provider.clone(), id.clone()));
            }
            entries.push(encode(e, &mut cas, session, agent)?);
        }
        if !entries.is_empty() {
            let first = ledger.append_all(&entries).map_err(|e| e.to_string())?;
            rec.first_index.get_or_insert(first);
            for (offset, provider, id) in submissions {
                if let Some(entry) = entries.get(offset) {
                    bundler.submitted(&provider, &id, first + offset as u64, entry.clone());
                }
            }
        }
        // Bundles prove their submission against the checkpoint just written, so they are made
        // only now, and recorded in a batch of their own.
        let mut made = Vec::new();
        for c in completions {
            let status = bundler
                .complete(&ledger, &mut cas, c)
                .with_session(session)
                .with_agent(agent);
            if let Some(qwarden_ledger::event::Payload::Inline(d)) = &status.details
                && d.get("bundle").is_some()
            {
                rec.counts.bundles += 1;
            }
            made.push(encode(status, &mut cas, session, agent)?);
        }
        if !made.is_empty() {
            ledger.append_all(&made).map_err(|e| e.to_string())?;
        }
    }
    // One entry per kind of refusal that was too frequent to record one by one.
    let mut flooded = Vec::new();
    for ((attempted, control), n) in &rec.per_kind {
        if *n > PER_KIND {
            let e = Event::new(
                Timestamp::now(),
                Violation {
                    attempted: format!(
                        "{attempted} ({} more times, not recorded one by one)",
                        n - PER_KIND
                    ),
                    control: control.clone(),
                    target: None,
                    pid: None,
                },
            )
            .with_session(session)
            .with_agent(agent);
            flooded.push(encode(e, &mut cas, session, agent)?);
        }
    }
    if !flooded.is_empty() {
        let first = ledger.append_all(&flooded).map_err(|e| e.to_string())?;
        rec.first_index.get_or_insert(first);
    }
    Ok(rec)
}

/// An event's entry; one the log refuses (an impossible field from a hostile process, say) is
/// recorded as a `violation` naming the problem instead of being lost with its batch.
fn encode(e: Event, cas: &mut DirCas, session: &str, agent: &str) -> Result<Vec<u8>, String> {
    match e.to_jcs(cas) {
        Ok(bytes) => Ok(bytes),
        Err(err) => Event::new(
            Timestamp::now(),
            Violation {
                attempted: format!("an action that could not be recorded as it was: {err}"),
                control: "recorder".into(),
                target: None,
                pid: None,
            },
        )
        .with_session(session)
        .with_agent(agent)
        .to_jcs(cas)
        .map_err(|e| e.to_string()),
    }
}

impl Recorded {
    /// Counts a gateway event: jobs, and refusals as violations.
    fn count_gateway(&mut self, e: &Event) {
        match e.kind() {
            qwarden_ledger::event::Kind::JobSubmit => self.counts.jobs += 1,
            qwarden_ledger::event::Kind::Violation => self.counts.violations += 1,
            _ => {}
        }
    }

    /// Counts an egress decision; false when it is a refusal seen so often already that it is
    /// only counted (a DNS-tunnel attempt is a flood of refused names).
    fn count_net(&mut self, d: &qwarden_egress::Decision) -> bool {
        if d.allowed {
            self.counts.net_allowed += 1;
            return true;
        }
        self.counts.net_denied += 1;
        let attempted = format!("{} to a host the grant does not allow", d.via.as_str());
        let n = self
            .per_kind
            .entry((attempted.clone(), "egress".to_owned()))
            .or_insert(0);
        *n += 1;
        if self.denials.len() < SUMMARY_DENIALS {
            self.denials.push(Denial {
                attempted: format!("{} {}:{}", d.via.as_str(), d.host, d.port),
                control: "egress".into(),
                target: Some(d.rule.clone()),
            });
        }
        *n <= PER_KIND
    }

    /// Counts `o`; false when it is a refusal seen so often already that it is only counted.
    fn count(&mut self, o: &Observation) -> bool {
        match o {
            Observation::Exec { argv, .. } => {
                self.counts.execs += 1;
                if self.commands.len() < SUMMARY_COMMANDS {
                    self.commands.push(argv.join(" "));
                }
                true
            }
            Observation::Write { .. } => {
                self.counts.write_intents += 1;
                true
            }
            Observation::Denied {
                attempted,
                control,
                target,
                ..
            } => {
                self.counts.violations += 1;
                let n = self
                    .per_kind
                    .entry((attempted.clone(), (*control).to_owned()))
                    .or_insert(0);
                *n += 1;
                if self.denials.len() < SUMMARY_DENIALS {
                    self.denials.push(Denial {
                        attempted: attempted.clone(),
                        control: (*control).to_owned(),
                        target: target.clone(),
                    });
                }
                *n <= PER_KIND
            }
        }
    }
}

/// A handle on the recorder's queue that its owner can let go of (so the recorder finishes once
/// every producer has), shared by the egress proxy's and the gateway's reporters.
#[derive(Debug, Default)]
pub struct Queue(std::sync::Mutex<Option<std::sync::mpsc::SyncSender<Item>>>);

impl Queue {
    /// A queue feeding `tx`.
    pub fn new(tx: std::sync::mpsc::SyncSender<Item>) -> Queue {
        Queue(std::sync::Mutex::new(Some(tx)))
    }

    /// From now on, items go to `tx`.
    pub fn attach(&self, tx: std::sync::mpsc::SyncSender<Item>) {
        if let Ok(mut t) = self.0.lock() {
            *t = Some(tx);
        }
    }

    /// Sends `item`; blocks while the queue is full (back-pressure, never a drop). After
    /// [`Queue::close`], items are discarded.
    pub fn send(&self, item: Item) {
        let tx = self.0.lock().ok().and_then(|t| t.clone());
        if let Some(tx) = tx {
            let _ = tx.send(item);
        }
    }

    /// Lets go of the queue.
    pub fn close(&self) {
        if let Ok(mut t) = self.0.lock() {
            t.take();
        }
    }
}
