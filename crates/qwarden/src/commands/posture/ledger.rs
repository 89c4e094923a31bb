//! The checks that read the audit ledger: signed manifests, the ledger itself, and bundles.
//!
//! The ledger is verified once, exactly as `qwarden audit verify` does it (the key derived from
//! this workstation's signing key, every entry a canonical event with its stored payloads
//! intact, the profile's witnesses), and its entries are read only when it verifies.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use qwarden_ledger::cas::DirCas;
use qwarden_ledger::event::{Body, Event, JobState};
use qwarden_ledger::home::LedgerHome;
use qwarden_ledger::reader::LogReader;
use qwarden_ledger::verify;
use qwarden_policy::Profile;
use qwarden_policy::signature::AllowedSigners;

use super::{Check, Status, env_path, listed, writable_by_others};
use crate::cli::LedgerArgs;
use crate::dirs::Dirs;

/// How many problems, publishers or job ids the evidence lists.
const LIST: usize = 5;

/// Where `source` marks a job that a bundle re-run recorded (it is the bundle's, not a new job).
const RERUN_SOURCE: &str = "qwarden bundle rerun";

/// A job the ledger recorded.
pub struct Job {
    /// The provider's job id.
    id: String,
    /// Whether a `job.status` entry stored its results (what `bundle create` needs).
    results: bool,
}

/// What the verified ledger says.
pub struct Facts {
    dir: PathBuf,
    origin: String,
    size: u64,
    checkpoints: usize,
    /// The profile's witnesses, by name; or why they could not be read.
    witnesses: Result<Vec<String>, String>,
    /// The largest cosigned size and who cosigned it.
    anchor: Option<(u64, Vec<String>)>,
    /// `(session, manifest digest)` of every `session.start`.
    sessions: Vec<(String, String)>,
    /// `session.start` entries that could not be read back.
    unread_sessions: usize,
    /// Jobs submitted, not counting bundle re-runs, in ledger order.
    jobs: Vec<Job>,
    /// `job.submit` entries without a provider job id.
    without_id: usize,
}

/// The workstation's ledger, as the checks see it.
pub enum Ledger {
    /// There is no ledger yet (a fresh workstation).
    Absent,
    /// There is one, but it does not verify or cannot be read: what is wrong.
    Broken {
        /// The ledger directory.
        dir: PathBuf,
        /// Everything found wrong, the first first.
        problems: Vec<String>,
    },
    /// It verifies.
    Verified(Box<Facts>),
}

/// The content-addressed store beside a ledger, when it exists (opening one creates it, and a
/// report writes nothing).
fn cas_beside(dir: &Path) -> Option<DirCas> {
    let root = dir.parent()?.join("cas");
    root.is_dir().then(|| DirCas::open(root).ok()).flatten()
}

impl Ledger {
    /// Finds, verifies and reads the ledger under the state directory.
    pub fn gather(dirs: &Dirs, profile: &Profile) -> Ledger {
        let home = LedgerHome::new(&dirs.state);
        let dir = home.dir.clone();
        let broken = |problems: Vec<String>| Ledger::Broken {
            dir: dir.clone(),
            problems,
        };
        let has_checkpoints = dir.join("checkpoint").exists()
            || std::fs::read_dir(dir.join("checkpoints")).is_ok_and(|mut d| d.next().is_some());
        if !has_checkpoints {
            if dir.join("tile").exists() {
                return broken(vec![
                    "the ledger holds entries but no checkpoint: the latest checkpoint was deleted"
                        .to_owned(),
                ]);
            }
            if !dir.exists() && home.key.exists() {
                return broken(vec![format!(
                    "the ledger's signing key `{}` exists but the ledger directory is gone",
                    home.key.display()
                )]);
            }
            return Ledger::Absent;
        }
        let args = LedgerArgs {
            ledger: None,
            key: None,
        };
        let (dir, verifier) = match crate::commands::audit::open_key(dirs, &args) {
            Ok(k) => k,
            Err(e) => return broken(vec![e.to_string()]),
        };
        let cas = cas_beside(&dir);
        let report = match verify::verify(&dir, &verifier, |_, bytes| {
            crate::commands::audit::check_entry(cas.as_ref(), bytes)
        }) {
            Ok(r) => r,
            Err(e) => return broken(vec![e.to_string()]),
        };
        let configs = crate::commands::audit::witness_configs(profile);
        let verifiers: Vec<_> = configs
            .as_ref()
            .map(|c| c.iter().map(|w| w.verifier.clone()).collect())
            .unwrap_or_default();
        let anchor = if verifiers.is_empty() {
            None
        } else {
            qwarden_ledger::witness::client::anchors(&dir, &verifier, &verifiers)
                .ok()
                .and_then(|mut a| a.pop())
                .map(|a| (a.size, a.witnesses.into_iter().map(|(n, _)| n).collect()))
        };
        let mut problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        if let Some((witnessed, _)) = &anchor
            && *witnessed > report.size
        {
            problems.insert(0, format!("the log was truncated below a witnessed size: witnesses cosigned size {witnessed}, the log now claims {}", report.size));
        }
        if !problems.is_empty() {
            return broken(problems);
        }
        let mut facts = Facts {
            dir: dir.clone(),
            origin: report.origin,
            size: report.size,
            checkpoints: report.checkpoints,
            witnesses: configs
                .map(|c| c.into_iter().map(|w| w.name).collect())
                .map_err(|e| e.to_string()),
            anchor,
            sessions: Vec::new(),
            unread_sessions: 0,
            jobs: Vec::new(),
            without_id: 0,
        };
        if let Err(e) = facts.read(&verifier, cas.as_ref()) {
            return broken(vec![e]);
        }
        Ledger::Verified(Box::new(facts))
    }
}

impl Facts {
    /// Reads the sessions and jobs out of the entries.
    fn read(
        &mut self,
        verifier: &qwarden_ledger::note::NoteVerifier,
        cas: Option<&DirCas>,
    ) -> Result<(), String> {
        let reader = LogReader::open(&self.dir, verifier).map_err(|e| e.to_string())?;
        let mut completed = BTreeSet::new();
        let mut jobs: Vec<String> = Vec::new();
        for item in reader.entries(0, reader.size()) {
            let (_, bytes) = item.map_err(|e| e.to_string())?;
            let Ok(event) = Event::from_jcs(&bytes) else {
                continue;
            };
            let event = match cas {
                Some(cas) if !event.is_resolved() => event.resolve(cas).unwrap_or(event),
                _ => event,
            };
            let source = event
                .details
                .as_ref()
                .and_then(|d| d.inline())
                .and_then(|d| d.get("source"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            match &event.body {
                Body::SessionStart(s) => self.sessions.push((
                    event.session.clone().unwrap_or_default(),
                    s.manifest_digest.to_string(),
                )),
                Body::Stored { kind, .. } if *kind == qwarden_ledger::event::Kind::SessionStart => {
                    self.unread_sessions += 1;
                }
                Body::JobSubmit(j) if source.as_deref() != Some(RERUN_SOURCE) => match &j.job_id {
                    Some(id) if !jobs.contains(id) => jobs.push(id.clone()),
                    Some(_) => {}
                    None => self.without_id += 1,
                },
                Body::JobStatus(j) if j.state == JobState::Completed => {
                    let stored = event
                        .details
                        .as_ref()
                        .and_then(|d| d.inline())
                        .is_some_and(|d| d.get("results").is_some());
                    if stored {
                        completed.insert(j.job_id.clone());
                    }
                }
                _ => {}
            }
        }
        self.jobs = jobs
            .into_iter()
            .map(|id| Job {
                results: completed.contains(&id),
                id,
            })
            .collect();
        Ok(())
    }
}

const SIGNED: &str = "signed-manifests";
const SIGNED_TITLE: &str = "agents run only manifests signed by publishers this workstation trusts";

/// The allowed-signers file: `QWARDEN_ALLOWED_SIGNERS`, the profile's `paths.allowed_signers`,
/// else `CONFIG_DIR/allowed_signers` (the order `manifest verify` and `run` use).
fn allowed_signers_path(dirs: &Dirs, profile: &Profile) -> PathBuf {
    env_path("QWARDEN_ALLOWED_SIGNERS")
        .or_else(|| {
            profile
                .paths
                .allowed_signers
                .as_deref()
                .map(|p| dirs.expand(p))
        })
        .unwrap_or_else(|| dirs.config.join("allowed_signers"))
}

/// The principals of each trusted key, as written.
fn principals(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .map(|p| p.trim_matches('"').to_owned())
        .collect()
}

/// The allowed-signers file exists, trusts a publisher and only its owner may change it; every
/// recorded session started under a manifest digest.
pub fn signed_manifests(dirs: &Dirs, profile: &Profile, ledger: &Ledger) -> Check {
    let path = allowed_signers_path(dirs, profile);
    let add = format!(
        "add each trusted publisher's key to `{}`: PRINCIPAL namespaces=\"qwarden-manifest\" ssh-ed25519 AAAA…",
        path.display()
    );
    let signers = match AllowedSigners::load(&path) {
        Ok(s) => s,
        Err(e) => {
            return Check::new(
                SIGNED,
                SIGNED_TITLE,
                Status::Fail,
                "the allowed-signers file cannot be read: no manifest can be verified".to_owned(),
            )
            // The error's first line says what is wrong; its hint is this check's fix.
            .evidence(e.to_string().lines().next().unwrap_or_default().to_owned())
            .fix(add);
        }
    };
    let mut evidence = Vec::new();
    let mut worst = Status::Pass;
    let mut reasons = Vec::new();
    let mut fix = None;
    if signers.is_empty() {
        evidence.push(format!("`{}` trusts no publisher key", path.display()));
        worst = Status::Warn;
        reasons.push("no publisher is trusted yet, so no agent can start".to_owned());
        fix = Some(add);
    } else {
        evidence.push(format!(
            "`{}` trusts {} publisher key(s): {}",
            path.display(),
            signers.len(),
            listed(&principals(&path), LIST)
        ));
    }
    if let Some((problem, chmod)) = writable_by_others(&path) {
        evidence.push(problem);
        worst = Status::Fail;
        reasons.insert(0, "someone else could add a publisher".to_owned());
        fix = Some(chmod);
    }
    match ledger {
        Ledger::Absent => evidence.push("no sessions recorded yet (there is no ledger)".to_owned()),
        Ledger::Broken { .. } => {
            evidence.push("sessions not counted: the ledger does not verify".to_owned());
            if worst == Status::Pass {
                worst = Status::Warn;
            }
            reasons.push("the recorded sessions cannot be vouched for (see `ledger`)".to_owned());
        }
        Ledger::Verified(f) => {
            let manifests: BTreeSet<&str> = f.sessions.iter().map(|(_, d)| d.as_str()).collect();
            evidence.push(format!(
                "{} session(s) recorded, each started under a manifest digest ({} distinct manifest(s)); a session starts only after its manifest's signature verifies against the allowed signers",
                f.sessions.len(),
                manifests.len()
            ));
            if f.unread_sessions > 0 {
                evidence.push(format!(
                    "session.start entries that could not be read back from the content-addressed store: {}",
                    f.unread_sessions
                ));
                if worst == Status::Pass {
                    worst = Status::Warn;
                }
                reasons.push("some session starts could not be read".to_owned());
            }
        }
    }
    let reason = if reasons.is_empty() {
        format!(
            "{} trusted publisher key(s); sessions start only under verified manifests",
            signers.len()
        )
    } else {
        reasons.join("; ")
    };
    let check = Check {
        evidence,
        ..Check::new(SIGNED, SIGNED_TITLE, worst, reason)
    };
    match fix {
        Some(f) => check.fix(f),
        None => check,
    }
}

const LEDGER: &str = "ledger";
const LEDGER_TITLE: &str = "the audit ledger verifies and a witness anchors it";

/// `audit verify`'s answer, and whether a witness the profile names cosigned a checkpoint.
pub fn ledger(ledger: &Ledger) -> Check {
    let f = match ledger {
        Ledger::Absent => {
            return Check::new(
                LEDGER,
                LEDGER_TITLE,
                Status::NotApplicable,
                "no ledger yet: a fresh workstation (the first recorded decision or session creates it)"
                    .to_owned(),
            );
        }
        Ledger::Broken { dir, problems } => {
            let mut check = Check::new(
                LEDGER,
                LEDGER_TITLE,
                Status::Fail,
                format!(
                    "the ledger does not verify: {}",
                    problems.first().map_or("", String::as_str)
                ),
            )
            .evidence(format!("`{}`", dir.display()));
            for p in problems.iter().take(LIST) {
                check = check.evidence(p.clone());
            }
            if problems.len() > LIST {
                check = check.evidence(format!("and {} more problem(s)", problems.len() - LIST));
            }
            return check.fix(
                "investigate with `qwarden audit verify` (it names every problem); then restore the ledger from a copy a witness vouches for, or move it away to start a new one",
            );
        }
        Ledger::Verified(f) => f,
    };
    let mut evidence = vec![
        format!("`{}`, origin {}", f.dir.display(), f.origin),
        format!(
            "{} entries and {} checkpoint(s) recomputed and checked: valid",
            f.size, f.checkpoints
        ),
    ];
    let witnesses = match &f.witnesses {
        Ok(w) => w,
        Err(e) => {
            evidence.push(e.clone());
            return Check {
                evidence,
                ..Check::new(
                    LEDGER,
                    LEDGER_TITLE,
                    Status::Warn,
                    "the ledger verifies, but the profile's witnesses cannot be read".to_owned(),
                )
            }
            .fix("paste the key `qwarden witness serve` prints into [[ledger.witnesses]] in the profile");
        }
    };
    if witnesses.is_empty() {
        evidence.push("the profile configures no witness".to_owned());
        return Check {
            evidence,
            ..Check::new(
                LEDGER,
                LEDGER_TITLE,
                Status::Warn,
                "the ledger verifies, but nothing outside this workstation anchors it".to_owned(),
            )
        }
        .fix("run a witness on another machine (`qwarden witness serve --dir DIR --log \"$(qwarden audit key)\"`), add it under [[ledger.witnesses]] in the profile, then `qwarden audit push`");
    }
    evidence.push(format!(
        "witnesses in the profile: {}",
        witnesses.join(", ")
    ));
    match &f.anchor {
        Some((size, by)) => {
            evidence.push(format!(
                "cosigned up to size {size} by {}; entries after it not witnessed yet: {}",
                by.join(", "),
                f.size.saturating_sub(*size)
            ));
            Check {
                evidence,
                ..Check::new(
                    LEDGER,
                    LEDGER_TITLE,
                    Status::Pass,
                    format!("verifies, and a witness cosigned size {size}"),
                )
            }
        }
        None => {
            evidence
                .push("no kept checkpoint carries a cosignature from these witnesses".to_owned());
            Check {
                evidence,
                ..Check::new(
                    LEDGER,
                    LEDGER_TITLE,
                    Status::Warn,
                    "the ledger verifies, but no witness has cosigned a checkpoint yet".to_owned(),
                )
            }
            .fix("qwarden audit push")
        }
    }
}

const BUNDLES: &str = "bundles";
const BUNDLES_TITLE: &str = "every recorded job has a reproducibility bundle";

/// Every `job.submit` (bundle re-runs aside) has a bundle in the store, by job id.
pub fn bundles(dirs: &Dirs, ledger: &Ledger) -> Check {
    let f = match ledger {
        Ledger::Absent => {
            return Check::new(
                BUNDLES,
                BUNDLES_TITLE,
                Status::NotApplicable,
                "no jobs: there is no ledger yet".to_owned(),
            );
        }
        Ledger::Broken { .. } => {
            return Check::new(
                BUNDLES,
                BUNDLES_TITLE,
                Status::Warn,
                "not checked: the ledger does not verify (see `ledger`)".to_owned(),
            );
        }
        Ledger::Verified(f) => f,
    };
    let mut evidence = Vec::new();
    if f.without_id > 0 {
        evidence.push(format!(
            "{} submission(s) without a provider job id are not counted",
            f.without_id
        ));
    }
    if f.jobs.is_empty() {
        return Check {
            evidence,
            ..Check::new(
                BUNDLES,
                BUNDLES_TITLE,
                Status::NotApplicable,
                "no jobs recorded in the ledger".to_owned(),
            )
        };
    }
    let store = qwarden_bundle::store::Store::new(&dirs.state);
    let bundled: BTreeSet<String> = match store.list() {
        Ok(all) => all.into_iter().map(|s| s.job_id).collect(),
        Err(e) => {
            evidence.push(e.to_string());
            return Check {
                evidence,
                ..Check::new(
                    BUNDLES,
                    BUNDLES_TITLE,
                    Status::Warn,
                    "the bundle store cannot be read".to_owned(),
                )
            }
            .fix("qwarden bundle list");
        }
    };
    let missing: Vec<&Job> = f.jobs.iter().filter(|j| !bundled.contains(&j.id)).collect();
    evidence.insert(
        0,
        format!(
            "{} job(s) in the ledger (bundle re-runs aside); {} bundle(s) in `{}`",
            f.jobs.len(),
            bundled.len(),
            store.dir().display()
        ),
    );
    if missing.is_empty() {
        return Check {
            evidence,
            ..Check::new(
                BUNDLES,
                BUNDLES_TITLE,
                Status::Pass,
                format!("all {} job(s) have a bundle", f.jobs.len()),
            )
        };
    }
    // Jobs with recorded results first: `bundle create` can make theirs.
    let mut ids: Vec<String> = missing
        .iter()
        .filter(|j| j.results)
        .map(|j| j.id.clone())
        .collect();
    let no_results: Vec<String> = missing
        .iter()
        .filter(|j| !j.results)
        .map(|j| j.id.clone())
        .collect();
    ids.extend(no_results.iter().cloned());
    evidence.push(format!("without a bundle: {}", listed(&ids, LIST)));
    if !no_results.is_empty() {
        evidence.push(format!(
            "{} of them have no results recorded (the agent never fetched them), so there is nothing to bundle",
            no_results.len()
        ));
    }
    Check {
        evidence,
        ..Check::new(
            BUNDLES,
            BUNDLES_TITLE,
            Status::Warn,
            format!(
                "{} of {} job(s) have no bundle",
                missing.len(),
                f.jobs.len()
            ),
        )
    }
    .fix("qwarden bundle create JOB (for each job listed)")
}
