//! `qwarden bundle`: list, show, verify, export, create and re-run reproducibility bundles. The
//! formats and checks are `qwarden_bundle`'s; this finds bundles and keys and prints.

use std::io::Write;
use std::path::Path;

use anyhow::anyhow;
use ed25519_dalek::VerifyingKey;
use qwarden_bundle::archive;
use qwarden_bundle::job::JobPredicate;
use qwarden_bundle::rerun::{self, Classification, RerunOptions};
use qwarden_bundle::store::Store;
use qwarden_bundle::verify::{self, Verification};
use qwarden_ledger::cas::{BlobStore, CasError, Digest, DirCas, MemCas};
use qwarden_ledger::event::{Event, JobSubmit, Timestamp};
use qwarden_ledger::note::NoteVerifier;
use serde::Serialize;

use crate::cli::{BundleCommand, BundleSource, LedgerArgs, RerunArgs};
use crate::dirs::Dirs;
use crate::exit::{Code, Failure};

/// Runs a `qwarden bundle` command.
pub fn run(dirs: &Dirs, cmd: BundleCommand) -> Result<Code, Failure> {
    match cmd {
        BundleCommand::List { session, json } => list(dirs, session.as_deref(), json),
        BundleCommand::Show { source, json } => show(dirs, &source, json),
        BundleCommand::Verify { source, json } => verify_cmd(dirs, &source, json),
        BundleCommand::Export { bundle, output } => export(dirs, &bundle, &output),
        BundleCommand::Create { job } => create(dirs, &job),
        BundleCommand::DiffEnv { bundle, json } => super::bundle_env::diff_env(dirs, &bundle, json),
        BundleCommand::Rerun(args) => match &args.session {
            Some(session) => super::bundle_env::rerun_session(dirs, session, &args),
            None => rerun_cmd(dirs, &args),
        },
    }
}

/// The objects a bundle is checked against: the workstation's CAS or an archive's.
pub(crate) enum Objects {
    /// `STATE/cas`.
    Dir(DirCas),
    /// An exported archive's objects.
    Archive(MemCas),
}

impl BlobStore for Objects {
    fn put(&mut self, bytes: &[u8]) -> Result<Digest, CasError> {
        match self {
            Objects::Dir(c) => c.put(bytes),
            Objects::Archive(c) => c.put(bytes),
        }
    }

    fn get(&self, digest: &Digest) -> Result<Vec<u8>, CasError> {
        match self {
            Objects::Dir(c) => c.get(digest),
            Objects::Archive(c) => c.get(digest),
        }
    }
}

/// A bundle found, with what checks it.
pub(crate) struct Loaded {
    /// `sha256:` of the envelope.
    pub id: String,
    /// The envelope's bytes.
    pub envelope: Vec<u8>,
    /// Where its objects are.
    pub objects: Objects,
    /// The workstation key that must have signed it.
    pub workstation: VerifyingKey,
    /// The ledger's key its proof must verify with.
    pub log: NoteVerifier,
    /// Whether it came from an archive.
    pub from_archive: bool,
}

fn cas(dirs: &Dirs) -> Result<DirCas, Failure> {
    DirCas::open(dirs.state.join("cas")).map_err(Failure::invalid)
}

fn workstation_key(dirs: &Dirs, arg: Option<&str>) -> Result<VerifyingKey, Failure> {
    if let Some(a) = arg {
        let text = if Path::new(a).exists() {
            std::fs::read_to_string(a)
                .map_err(|e| Failure::invalid(anyhow!("cannot read `{a}`: {e}")))?
        } else {
            a.to_owned()
        };
        return qwarden_bundle::key::parse_public(&text).map_err(Failure::invalid);
    }
    let path = qwarden_session::bundles::workstation_key_path(&dirs.state);
    if !path.exists() {
        return Err(Failure::invalid(anyhow!(
            "this workstation has no bundle key yet (`{}`): it has made no bundle\n  hint: to check a bundle from another workstation, pass --key with its `workstation.pub`",
            path.display()
        )));
    }
    qwarden_bundle::key::WorkstationKey::load(&path)
        .map(|k| k.verifying())
        .map_err(Failure::invalid)
}

fn log_key(dirs: &Dirs, arg: Option<&str>) -> Result<NoteVerifier, Failure> {
    let args = LedgerArgs {
        ledger: None,
        key: arg.map(str::to_owned),
    };
    super::audit::open_key(dirs, &args).map(|(_, v)| v)
}

/// Finds `what` (an archive path, a bundle id or a job id) and its keys.
pub(crate) fn load(
    dirs: &Dirs,
    what: &str,
    key: Option<&str>,
    log: Option<&str>,
    archive_keys: bool,
) -> Result<Loaded, Failure> {
    let path = Path::new(what);
    if what.ends_with(".tar") || path.is_file() {
        let a = archive::read(path).map_err(Failure::invalid)?;
        let (workstation, log) = if archive_keys {
            let w = a
                .workstation_pub
                .as_deref()
                .ok_or_else(|| Failure::invalid(anyhow!("`{what}` carries no workstation.pub")))?;
            let l = a
                .log_vkey
                .as_deref()
                .ok_or_else(|| Failure::invalid(anyhow!("`{what}` carries no log.vkey")))?;
            (
                workstation_key(dirs, Some(w))?,
                super::audit::note_verifier(l)?,
            )
        } else {
            (workstation_key(dirs, key)?, log_key(dirs, log)?)
        };
        return Ok(Loaded {
            id: qwarden_bundle::job::sha256(&a.envelope),
            envelope: a.envelope,
            objects: Objects::Archive(a.objects),
            workstation,
            log,
            from_archive: true,
        });
    }
    let summary = Store::new(&dirs.state)
        .find(what)
        .map_err(Failure::invalid)?;
    let store = cas(dirs)?;
    let envelope = verify::fetch(&store, &summary.id).map_err(|e| {
        Failure::verification(anyhow!(
            "bundle {}: its envelope is missing from the store or was modified: {e}",
            summary.id
        ))
    })?;
    Ok(Loaded {
        id: summary.id,
        envelope,
        objects: Objects::Dir(store),
        workstation: workstation_key(dirs, key)?,
        log: log_key(dirs, log)?,
        from_archive: false,
    })
}

fn load_source(dirs: &Dirs, s: &BundleSource) -> Result<Loaded, Failure> {
    load(
        dirs,
        &s.bundle,
        s.key.as_deref(),
        s.log_key.as_deref(),
        s.archive_keys,
    )
}

fn list(dirs: &Dirs, session: Option<&str>, json: bool) -> Result<Code, Failure> {
    let store = Store::new(&dirs.state);
    let all = match session {
        Some(s) => store.of_session(s),
        None => store.list(),
    }
    .map_err(Failure::invalid)?;
    if json {
        crate::output::json(&all)?;
        return Ok(Code::Ok);
    }
    let mut out = std::io::stdout().lock();
    if all.is_empty() {
        writeln!(
            out,
            "no bundles yet: a bundle is made when a job's results reach the gateway (`qwarden run`) or by `qwarden submit`"
        )?;
        return Ok(Code::Ok);
    }
    let mut table =
        crate::output::Table::new(&["BUNDLE", "JOB", "BACKEND", "SHOTS", "SESSION", "COMPLETED"]);
    for s in &all {
        table.row(vec![
            s.id.trim_start_matches("sha256:")
                .chars()
                .take(16)
                .collect(),
            s.job_id.clone(),
            s.backend.clone(),
            s.shots.to_string(),
            s.session.clone(),
            s.completed.clone(),
        ]);
    }
    table.write(&mut out)?;
    Ok(Code::Ok)
}

fn verified(loaded: &Loaded) -> Result<(Verification, JobPredicate), Failure> {
    let v = verify::verify(
        &loaded.envelope,
        &loaded.objects,
        &loaded.workstation,
        &loaded.log,
    );
    match v.predicate.clone() {
        Some(p) if v.is_valid() => Ok((v, p)),
        _ => Err(Failure::verification(anyhow!(
            "bundle {} does not verify:\n{}\n  hint: `qwarden bundle verify {}` shows every check",
            loaded.id,
            failed(&v),
            loaded.id
        ))),
    }
}

fn failed(v: &Verification) -> String {
    v.checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("  {}: {}", c.what, c.detail))
        .collect::<Vec<_>>()
        .join("\n")
}

fn show(dirs: &Dirs, source: &BundleSource, json: bool) -> Result<Code, Failure> {
    let loaded = load_source(dirs, source)?;
    let p = verify::open(&loaded.envelope, &loaded.workstation)
        .map_err(|e| Failure::verification(anyhow!("bundle {}: {e}", loaded.id)))?;
    if json {
        crate::output::json(&serde_json::json!({ "id": loaded.id, "predicate": p }))?;
        return Ok(Code::Ok);
    }
    let mut out = std::io::stdout().lock();
    let j = &p.job;
    writeln!(out, "bundle     {}", loaded.id)?;
    writeln!(
        out,
        "job        {} on {}:{} via the {} API, {} shots{}",
        j.job_id,
        j.provider,
        j.backend,
        j.api,
        j.shots,
        j.seed.map(|s| format!(", seed {s}")).unwrap_or_default()
    )?;
    writeln!(out, "submitted  {}", j.submitted)?;
    writeln!(out, "completed  {}", j.completed)?;
    writeln!(
        out,
        "session    {} (agent {}, tier {})",
        p.session.id, p.session.agent, p.session.tier
    )?;
    writeln!(
        out,
        "circuit    {} ({:?})",
        p.circuit.digest, p.circuit.format
    )?;
    writeln!(
        out,
        "calibration {}",
        p.calibration
            .as_ref()
            .map_or("none".to_owned(), |c| c.digest.clone())
    )?;
    writeln!(out, "noise      {:?}", p.noise_model)?;
    writeln!(
        out,
        "environment {}",
        p.environment
            .as_ref()
            .map_or("not recorded".to_owned(), |e| e.digest.clone())
    )?;
    writeln!(
        out,
        "ledger     entry {} of {}",
        p.ledger.index, p.ledger.origin
    )?;
    for (i, counts) in p.counts.iter().enumerate() {
        let mut rows: Vec<(&String, &u64)> = counts.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let shown: Vec<String> = rows
            .iter()
            .take(8)
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        let more = rows.len().saturating_sub(8);
        writeln!(
            out,
            "counts[{i}]  {}{}",
            shown.join(" "),
            if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            }
        )?;
    }
    Ok(Code::Ok)
}

fn verify_cmd(dirs: &Dirs, source: &BundleSource, json: bool) -> Result<Code, Failure> {
    let loaded = load_source(dirs, source)?;
    let v = verify::verify(
        &loaded.envelope,
        &loaded.objects,
        &loaded.workstation,
        &loaded.log,
    );
    let code = if v.is_valid() {
        Code::Ok
    } else {
        Code::Verification
    };
    if json {
        crate::output::json(&serde_json::json!({
            "bundle": loaded.id,
            "valid": v.is_valid(),
            "checks": v.checks,
        }))?;
        return Ok(code);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "bundle {}", loaded.id)?;
    for c in &v.checks {
        writeln!(
            out,
            "  {} {:<20} {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.what,
            c.detail
        )?;
    }
    if loaded.from_archive && source.archive_keys {
        writeln!(
            out,
            "note: checked with the keys inside the archive; compare them with ones you trust"
        )?;
    }
    writeln!(
        out,
        "{}",
        if v.is_valid() {
            "valid"
        } else {
            "NOT VALID: the bundle was changed, signed by another key, or its objects are missing"
        }
    )?;
    Ok(code)
}

fn export(dirs: &Dirs, what: &str, output: &Path) -> Result<Code, Failure> {
    let loaded = load(dirs, what, None, None, false)?;
    let (_, p) = verified(&loaded)?;
    let vkey = log_key(dirs, None)?.to_vkey();
    archive::export(
        &loaded.envelope,
        &p,
        &loaded.objects,
        &qwarden_bundle::key::public_line(&loaded.workstation),
        &vkey,
        output,
    )
    .map_err(Failure::invalid)?;
    writeln!(
        std::io::stdout().lock(),
        "wrote bundle {} (job {}) to {}",
        loaded.id,
        p.job.job_id,
        output.display()
    )?;
    Ok(Code::Ok)
}

fn create(dirs: &Dirs, job: &str) -> Result<Code, Failure> {
    let profile = crate::commands::policy::load_profile(dirs, None, None)?.profile;
    let made = qwarden_session::bundles::create_from_ledger(
        &dirs.state,
        crate::record::checkpoint_policy(&profile),
        job,
    )
    .map_err(|e| Failure::invalid(anyhow!(e)))?;
    writeln!(
        std::io::stdout().lock(),
        "bundle {} for job {}",
        made.id,
        made.predicate.job.job_id
    )?;
    Ok(Code::Ok)
}

#[derive(Serialize)]
struct RerunOutput<'a> {
    report: &'a rerun::RerunReport,
    verdict: String,
    ledger_index: Option<u64>,
}

fn rerun_cmd(dirs: &Dirs, args: &RerunArgs) -> Result<Code, Failure> {
    let loaded = load(
        dirs,
        args.bundle.as_deref().unwrap_or_default(),
        args.key.as_deref(),
        args.log_key.as_deref(),
        args.archive_keys,
    )?;
    let (_, p) = verified(&loaded)?;
    let today = match &args.calibration {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| Failure::invalid(anyhow!("cannot read `{}`: {e}", path.display())))?,
        ),
        None => None,
    };
    let opts = RerunOptions {
        drift: args.drift,
        seed: args.seed,
        today,
        threads: 0,
        memory_limit: qwarden_gateway::local::memory_limit(),
    };
    let report = rerun::rerun(&p, &loaded.id, &loaded.objects, &opts).map_err(|e| match e {
        rerun::RerunError::Options(_) => Failure::usage(anyhow!(e)),
        other => Failure::invalid(anyhow!(other)),
    })?;
    let (verdict, index) = record_verdict(dirs, &report, &loaded, &p)?;
    let code = if report.classification == Classification::Diverged {
        Code::Verification
    } else {
        Code::Ok
    };
    if args.json {
        crate::output::json(&RerunOutput {
            report: &report,
            verdict,
            ledger_index: index,
        })?;
        return Ok(code);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "re-ran job {} ({} comparison) on {} with seed {}",
        report.job_id, report.comparison, report.backend, report.seed
    )?;
    for (i, c) in report.circuits.iter().enumerate() {
        writeln!(
            out,
            "  circuit {i}: {} shots, TVD {:.4} (shot noise ≤ {:.4}, with drift ≤ {:.4}), Hellinger fidelity {:.4}: {}",
            c.shots,
            c.tvd,
            c.shot_noise_threshold,
            c.drift_threshold,
            c.hellinger_fidelity,
            c.classification
        )?;
        if let Some(t) = &c.today {
            writeln!(
                out,
                "    with today's calibration: TVD {:.4}, Hellinger fidelity {:.4}: {}",
                t.tvd, t.hellinger_fidelity, t.classification
            )?;
        }
    }
    if let Some(x) = report.explained_by_today {
        writeln!(
            out,
            "today's calibration explains {:.0}% of the difference",
            x * 100.0
        )?;
    }
    writeln!(
        out,
        "verdict: {} (signed statement {verdict}{})",
        report.classification,
        index
            .map(|i| format!(", ledger entry {i}"))
            .unwrap_or_default()
    )?;
    Ok(code)
}

/// Signs the verdict, stores it, and records the re-run in the ledger as the local job it is,
/// with the verdict in its details.
fn record_verdict(
    dirs: &Dirs,
    report: &rerun::RerunReport,
    loaded: &Loaded,
    p: &JobPredicate,
) -> Result<(String, Option<u64>), Failure> {
    let key = qwarden_session::bundles::workstation_key(&dirs.state)
        .map_err(|e| Failure::invalid(anyhow!("cannot sign the verdict: {e}")))?;
    let envelope =
        rerun::sign_verdict(report, &loaded.envelope, &key).map_err(Failure::internal)?;
    let bytes = serde_json::to_vec_pretty(&envelope).map_err(|e| Failure::internal(anyhow!(e)))?;
    let mut store = cas(dirs)?;
    let verdict = store.put(&bytes).map_err(Failure::invalid)?.to_string();
    let shots = report.circuits.iter().map(|c| c.shots).sum();
    let event = Event::new(
        Timestamp::now(),
        JobSubmit {
            provider: "local".into(),
            backend: report.backend.trim_start_matches("local:").to_owned(),
            shots,
            circuit_digest: p
                .circuit
                .digest
                .parse()
                .map_err(|e| Failure::invalid(anyhow!("{e}")))?,
            job_id: Some(format!(
                "rerun-{}",
                verdict
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(20)
                    .collect::<String>()
            )),
            calibration_digest: report.calibration.as_deref().and_then(|c| c.parse().ok()),
            request_digest: None,
        },
    )
    .with_details(serde_json::json!({
        "source": "qwarden bundle rerun",
        "rerun_of": loaded.id,
        "job": p.job.job_id,
        "verdict": report.classification.to_string(),
        "statement": verdict,
        "seed": report.seed,
    }));
    let profile = crate::commands::policy::load_profile(dirs, None, None)?.profile;
    let index = match crate::record::record(dirs, &profile, &event) {
        Ok(i) => Some(i),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "qwarden: warning: the re-run was not recorded in the audit ledger: {e:#}"
            );
            None
        }
    };
    Ok((verdict, index))
}
