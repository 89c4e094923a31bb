//! `qwarden doctor`: probe the sandbox features of this machine.

use std::io::Write;

use anyhow::anyhow;

use crate::exit::{Code, Failure};

/// Prints each feature, what was found and the fix; exits 4 when no isolation works at all.
pub fn run(json: bool) -> Result<Code, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(anyhow!("cannot find the qwarden executable: {e}")))?;
    let probes = qwarden_session::doctor(&(exe, vec![super::SANDBOX_INIT.to_owned()]));
    let usable = probes
        .iter()
        .any(|p| (p.feature == "user namespaces" || p.feature == "degraded mode") && p.ok);
    if json {
        crate::output::json(&probes)?;
    } else {
        let mut out = std::io::stdout().lock();
        for p in &probes {
            writeln!(
                out,
                "{:<4} {:<26} {}",
                if p.ok { "ok" } else { "MISS" },
                p.feature,
                p.detail
            )?;
            if let Some(fix) = &p.fix {
                writeln!(out, "     {:<26} fix: {fix}", "")?;
            }
        }
    }
    Ok(if usable { Code::Ok } else { Code::Denied })
}
