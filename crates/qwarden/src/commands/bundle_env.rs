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
