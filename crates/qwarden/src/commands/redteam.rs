//! `qwarden redteam`: runs the red-team suite (`qwarden_redteam`) against this binary's own
//! sessions and prints the scorecard.

use std::io::Write;

use anyhow::anyhow;
use qwarden_redteam::catalogue::ATTACKS;
use qwarden_redteam::scorecard::{self, Finding, LEDGER_TAMPERING};

use crate::cli::TierArg;
use crate::exit::{Code, Failure};

/// Where the last full run's scorecard is kept, for `qwarden posture`.
pub fn last_run_path(dirs: &crate::dirs::Dirs) -> std::path::PathBuf {
    dirs.state.join("redteam").join("last.json")
}

/// Keeps the scorecard of a full run (every attack) in `STATE/redteam/last.json`, atomically.
/// A run of chosen attacks is not a red-team run of the workstation, so it is not kept. Failing
/// to keep it is a warning: the run itself happened and was printed.
fn remember(dirs: &crate::dirs::Dirs, findings: &[Finding], full: bool, failed: usize) {
    if !full {
        return;
    }
    let mut tiers: Vec<&str> = findings.iter().map(|f| f.tier.as_str()).collect();
    tiers.dedup();
    let record = serde_json::json!({
        "time": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "tiers": tiers,
        "attacks": findings.len(),
        "failed": failed,
        "held": failed == 0,
        "findings": findings,
    });
    let path = last_run_path(dirs);
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&record).unwrap_or_default())
                .and_then(|()| std::fs::rename(&tmp, &path))
        });
    if let Err(e) = written {
        let _ = writeln!(
            std::io::stderr().lock(),
            "qwarden: warning: cannot keep the scorecard in `{}`: {e}",
            path.display()
        );
    }
}

fn tier_name(t: TierArg) -> &'static str {
    match t {
        TierArg::Sandbox => "sandbox",
        TierArg::Staging => "staging",
        TierArg::Prod => "prod",
    }
}

/// Runs `qwarden redteam`.
pub fn run(
    dirs: &crate::dirs::Dirs,
    tier: Option<TierArg>,
    only: &[String],
    list: bool,
    json: bool,
) -> Result<Code, Failure> {
    let known: Vec<&str> = ATTACKS
        .iter()
        .map(|a| a.id)
        .chain([LEDGER_TAMPERING])
        .collect();
    if let Some(unknown) = only.iter().find(|o| !known.contains(&o.as_str())) {
        return Err(Failure::usage(anyhow!(
            "no attack `{unknown}`; the attacks are: {}",
            known.join(", ")
        )));
    }
    if list {
        let mut out = std::io::stdout().lock();
        for a in ATTACKS {
            writeln!(
                out,
                "{}\n  an agent would: {}\n  stopped by: {}",
                a.id, a.agent_would, a.stopped_by
            )?;
        }
        writeln!(
            out,
            "{LEDGER_TAMPERING}\n  an agent would: rewrite the audit log afterwards to hide what it did\n  stopped by: the Merkle tree and signed checkpoints (`qwarden audit verify`)"
        )?;
        return Ok(Code::Ok);
    }
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(anyhow!("cannot find the qwarden binary: {e}")))?;
    let tiers: Vec<&str> = match tier {
        Some(t) => vec![tier_name(t)],
        None => vec!["sandbox", "staging", "prod"],
    };
    let mut findings: Vec<Finding> = Vec::new();
    for t in tiers {
        if !json {
            let _ = writeln!(
                std::io::stderr().lock(),
                "qwarden: attacking a scratch {t} workstation…"
            );
        }
        findings.extend(scorecard::run(&exe, t, only).map_err(|e| Failure::internal(anyhow!(e)))?);
    }
    let failed = findings.iter().filter(|f| !f.held()).count();
    remember(dirs, &findings, only.is_empty(), failed);
    let code = if failed == 0 {
        Code::Ok
    } else {
        Code::Verification
    };
    if json {
        crate::output::json(&serde_json::json!({
            "held": failed == 0,
            "attacks": findings.len(),
            "failed": failed,
            "findings": findings,
        }))?;
        return Ok(code);
    }
    let mut table = crate::output::Table::new(&[
        "TIER", "ATTACK", "BLOCKED", "RECORDED", "CONTROL", "EVIDENCE",
    ]);
    for f in &findings {
        let yes = |b: bool| if b { "yes" } else { "NO" }.to_owned();
        table.row(vec![
            f.tier.clone(),
            f.attack.to_owned(),
            yes(f.blocked),
            yes(f.recorded),
            f.control.clone(),
            f.evidence.chars().take(100).collect(),
        ]);
    }
    let mut out = std::io::stdout().lock();
    table.write(&mut out)?;
    writeln!(
        out,
        "{} of {} attacks blocked and recorded{}",
        findings.len() - failed,
        findings.len(),
        if failed == 0 {
            ""
        } else {
            ": THE CONTROLS DID NOT ALL HOLD"
        }
    )?;
    Ok(code)
}

/// Runs `qwarden demo`.
pub fn demo() -> Result<Code, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(anyhow!("cannot find the qwarden binary: {e}")))?;
    let ok = qwarden_redteam::demo::run(&exe, &mut std::io::stdout().lock())
        .map_err(|e| Failure::internal(anyhow!(e)))?;
    Ok(if ok { Code::Ok } else { Code::Verification })
}
