//! `qwarden bundle diff-env`: how the environment a bundle's session ran in differs from the
//! one the same Python gives now.

use std::io::Write;

use anyhow::anyhow;
use qwarden_bundle::environment::{self, EnvChange};
use qwarden_bundle::verify;

use crate::dirs::Dirs;
use crate::exit::{Code, Failure};

/// `qwarden bundle diff-env`.
pub fn diff_env(dirs: &Dirs, bundle: &str, json: bool) -> Result<Code, Failure> {
    let loaded = super::bundle::load(dirs, bundle, None, None, false)?;
    let p = verify::open(&loaded.envelope, &loaded.workstation)
        .map_err(|e| Failure::verification(anyhow!("bundle {}: {e}", loaded.id)))?;
    let digest = p.environment.as_ref().map(|e| e.digest.clone()).ok_or_else(|| {
        Failure::invalid(anyhow!(
            "bundle {} records no environment manifest (no Python was found on the session's PATH)",
            loaded.id
        ))
    })?;
    let bytes = verify::fetch(&loaded.objects, &digest)
        .map_err(|e| Failure::verification(anyhow!("the environment manifest {digest}: {e}")))?;
    let recorded =
        environment::parse(&bytes, std::path::Path::new(&digest)).map_err(Failure::invalid)?;
    let current = environment::collect(
        std::path::Path::new(&recorded.python.prefix),
        &recorded.tier,
        None,
    )
    .map_err(Failure::invalid)?;
    let changes: Vec<EnvChange> = environment::drift(&recorded, &current);
    let code = if changes.is_empty() {
        Code::Ok
    } else {
        Code::Verification
    };
    if json {
        crate::output::json(&serde_json::json!({
            "bundle": loaded.id,
            "recorded": digest,
            "current": current.digest().unwrap_or_default(),
            "prefix": recorded.python.prefix,
            "drift": !changes.is_empty(),
            "changes": changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }))?;
        return Ok(code);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "environment of bundle {} ({}) against {} now",
        loaded.id, digest, recorded.python.prefix
    )?;
    if changes.is_empty() {
        writeln!(out, "no drift")?;
    }
    for c in &changes {
        writeln!(out, "  {c}")?;
    }
    Ok(code)
}

/// What the ledger recorded of a session, for re-running it.
struct RecordedSession {
    argv: Vec<String>,
    cwd: std::path::PathBuf,
    manifest_digest: String,
    environment: Option<String>,
    /// The write set: path → SHA-256 after (`None`: deleted).
    writes: std::collections::BTreeMap<String, Option<String>>,
}

fn hex_of(digest: &str) -> String {
    digest.trim_start_matches("sha256:").to_owned()
}

fn recorded_session(dirs: &Dirs, id: &str) -> Result<RecordedSession, Failure> {
    use qwarden_ledger::event::{Body, Payload};
    let (dir, verifier) = super::audit::open_key(
        dirs,
        &crate::cli::LedgerArgs {
            ledger: None,
            key: None,
        },
    )?;
    let reader =
        qwarden_ledger::reader::LogReader::open(&dir, &verifier).map_err(Failure::invalid)?;
    let cas =
        qwarden_ledger::cas::DirCas::open(dirs.state.join("cas")).map_err(Failure::invalid)?;
    let mut start = None;
    let mut environment = None;
    let mut writes = std::collections::BTreeMap::new();
    for item in reader.entries(0, reader.size()) {
        let (_, bytes) = item.map_err(Failure::invalid)?;
        let Ok(event) = qwarden_ledger::event::Event::from_jcs(&bytes) else {
            continue;
        };
        if event.session.as_deref() != Some(id) {
            continue;
        }
        let event = event.resolve(&cas).map_err(Failure::invalid)?;
        let details = match &event.details {
            Some(Payload::Inline(v)) => v.clone(),
            _ => serde_json::Value::Null,
        };
        match &event.body {
            Body::SessionStart(s) => {
                let argv: Vec<String> = details
                    .get("argv")
                    .cloned()
                    .and_then(|a| serde_json::from_value(a).ok())
                    .unwrap_or_default();
                let cwd = details
                    .get("cwd")
                    .and_then(serde_json::Value::as_str)
                    .map(std::path::PathBuf::from);
                start = Some((argv, cwd, s.manifest_digest.to_string()));
            }
            Body::SessionEnd(_) => {
                environment = details
                    .get("environment")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned);
            }
            Body::FileWrite(w)
                if details.get("observed").and_then(|o| o.as_str()) == Some("write-set") =>
            {
                writes.insert(
                    w.path.clone(),
                    w.sha256_after.map(|d| hex_of(&d.to_string())),
                );
            }
            _ => {}
        }
    }
    let (argv, cwd, manifest_digest) = start.ok_or_else(|| {
        Failure::invalid(anyhow!(
            "the ledger has no session `{id}`\n  hint: `qwarden audit search --kind session.start` lists the sessions"
        ))
    })?;
    let cwd = cwd
        .ok_or_else(|| Failure::invalid(anyhow!("session `{id}` recorded no working directory")))?;
    if argv.is_empty() {
        return Err(Failure::invalid(anyhow!(
            "session `{id}` recorded no command"
        )));
    }
    Ok(RecordedSession {
        argv,
        cwd,
        manifest_digest,
        environment,
        writes,
    })
}

/// One output file compared.
#[derive(serde::Serialize)]
struct FileComparison {
    path: String,
    /// SHA-256 the session left (`null`: it deleted the file).
    recorded: Option<String>,
    /// SHA-256 the re-run left.
    rerun: Option<String>,
    same: bool,
}

fn sha256_of_file(path: &std::path::Path) -> Option<String> {
    use sha2::Digest as _;
    let bytes = std::fs::read(path).ok()?;
    Some(hex::encode(sha2::Sha256::digest(bytes)))
}

/// The JSON summary `qwarden run --json` writes last on standard error.
fn run_summary(stderr: &str) -> Option<serde_json::Value> {
    let start = stderr
        .rfind("\n{\n")
        .map(|i| i + 1)
        .or_else(|| stderr.starts_with("{\n").then_some(0))?;
    serde_json::from_str(stderr.get(start..)?).ok()
}

/// `qwarden bundle rerun --session`: rebuilds the session's environment from its lock, runs its
/// command again under the same manifest, and compares the files written.
pub fn rerun_session(
    dirs: &Dirs,
    session: &str,
    args: &crate::cli::RerunArgs,
) -> Result<Code, Failure> {
    let (Some(agent), Some(wheels)) = (&args.agent, &args.wheels) else {
        return Err(Failure::usage(anyhow!(
            "--session needs --agent AGENT and --wheels DIR"
        )));
    };
    let agent = std::fs::canonicalize(agent)
        .map_err(|e| Failure::invalid(anyhow!("cannot read `{}`: {e}", agent.display())))?;
    let recorded = recorded_session(dirs, session)?;
    let digest = recorded.environment.clone().ok_or_else(|| {
        Failure::invalid(anyhow!(
            "session `{session}` recorded no environment manifest (no Python was on its PATH, or it ran before environments were recorded), so there is no lock to rebuild from"
        ))
    })?;
    let cas =
        qwarden_ledger::cas::DirCas::open(dirs.state.join("cas")).map_err(Failure::invalid)?;
    let bytes = verify::fetch(&cas, &digest)
        .map_err(|e| Failure::verification(anyhow!("the environment manifest {digest}: {e}")))?;
    let manifest =
        environment::parse(&bytes, std::path::Path::new(&digest)).map_err(Failure::invalid)?;
    // The rebuilt environment goes in the project, where the agent's read scope can see it
    // (as it saw the original); it is removed afterwards unless --keep-env.
    let target = recorded.cwd.join(format!(
        ".qwarden-rerun-{}",
        session.chars().take(16).collect::<String>()
    ));
    let python = manifest
        .python
        .base_interpreter
        .clone()
        .or_else(|| manifest.python.interpreter.clone())
        .ok_or_else(|| {
            Failure::invalid(anyhow!(
                "session `{session}`'s environment manifest names no interpreter to rebuild with"
            ))
        })?;
    // Wheels whose hash the lock could not record take it from the directory given; the check
    // after the rebuild is what vouches for them.
    let lock = environment::complete_lock(&manifest.pylock, wheels).map_err(Failure::invalid)?;
    let rebuilt = environment::rebuild(&lock.text, wheels, &target, std::path::Path::new(&python))
        .map_err(Failure::invalid)?;
    let cleanup = |keep: bool| {
        if !keep {
            let _ = std::fs::remove_dir_all(&target);
        }
    };
    let wrong = environment::check_installed(&manifest, &rebuilt.manifest);
    if !wrong.is_empty() {
        cleanup(false);
        return Err(Failure::verification(anyhow!(
            "the environment rebuilt from {} is not the one session {session} ran in:
  {}
  hint: give the wheels the session's environment was installed from",
            wheels.display(),
            wrong.join("\n  ")
        )));
    }
    let path = format!(
        "{}:{}",
        rebuilt.prefix.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let exe = std::env::current_exe().map_err(|e| Failure::internal(anyhow!(e)))?;
    let child = std::process::Command::new(exe)
        .arg("--state-dir")
        .arg(&dirs.state)
        .arg("--config-dir")
        .arg(&dirs.config)
        .arg("run")
        .arg("--agent")
        .arg(&agent)
        .arg("--json")
        .arg("--")
        .args(&recorded.argv)
        .current_dir(&recorded.cwd)
        .env("PATH", path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .output();
    cleanup(args.keep_env);
    let child = child.map_err(|e| Failure::internal(anyhow!("cannot start the re-run: {e}")))?;
    // The agent's own output goes to standard error: standard output is the report.
    let _ = std::io::stderr().lock().write_all(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    let summary = run_summary(&stderr).ok_or_else(|| {
        Failure::invalid(anyhow!(
            "the re-run session did not finish:\n{}",
            stderr.trim_end()
        ))
    })?;
    let rerun_id = summary
        .get("session")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let again = recorded_session(dirs, &rerun_id)?;
    if again.manifest_digest != recorded.manifest_digest {
        return Err(Failure::verification(anyhow!(
            "`{}` is not the manifest session {session} ran under (its digest is {}, the session recorded {})",
            agent.display(),
            again.manifest_digest,
            recorded.manifest_digest
        )));
    }
    let venv = target.display().to_string();
    let mut files = Vec::new();
    let mut paths: std::collections::BTreeSet<&String> = recorded.writes.keys().collect();
    paths.extend(again.writes.keys().filter(|p| !p.starts_with(&venv)));
    for p in paths {
        let before = recorded
            .writes
            .get(p)
            .cloned()
            .unwrap_or_else(|| sha256_of_file(std::path::Path::new(p)));
        // A file the re-run left as the session had left it is not in its write set: what is on
        // disk is what it produced.
        let after = match again.writes.get(p) {
            Some(h) => h.clone(),
            None => sha256_of_file(std::path::Path::new(p)),
        };
        files.push(FileComparison {
            path: p.clone(),
            same: before == after,
            recorded: before,
            rerun: after,
        });
    }
    let same = files.iter().all(|f| f.same);
    let code = if same { Code::Ok } else { Code::Verification };
    let verdict = if same { "reproduced" } else { "diverged" };
    if args.json {
        crate::output::json(&serde_json::json!({
            "session": session,
            "rerun_session": rerun_id,
            "environment": digest,
            "rebuilt": rebuilt.installed.iter().map(|w| &w.file).collect::<Vec<_>>(),
            "rebuilt_environment": rebuilt.manifest_digest,
            "exit_code": summary.get("exit_code"),
            "files": files,
            "verdict": verdict,
        }))?;
        return Ok(code);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "re-ran session {session} as {rerun_id}: `{}` in {}, with {} wheel(s) from {} rebuilt from its pylock",
        recorded.argv.join(" "),
        recorded.cwd.display(),
        rebuilt.installed.len(),
        wheels.display()
    )?;
    for f in &files {
        let show = |h: &Option<String>| {
            h.as_deref()
                .map_or("(absent)".to_owned(), |h| h.chars().take(16).collect())
        };
        writeln!(
            out,
            "  {} {}  recorded {} re-run {}",
            if f.same { "same     " } else { "DIFFERENT" },
            f.path,
            show(&f.recorded),
            show(&f.rerun)
        )?;
    }
    writeln!(out, "verdict: {verdict}")?;
    Ok(code)
}
