//! `qwarden run`: one guarded agent session.

use std::io::Write;
use std::path::PathBuf;

use anyhow::anyhow;
use qwarden_gateway::upstream::ibm::IbmEndpoints;
use qwarden_gateway::upstream::ionq::KeySource;
use qwarden_policy::Grant;
use qwarden_policy::grant::CREDENTIAL_STORES;
use qwarden_session::{Options, SessionError, Summary, providers};

use crate::cli::RunArgs;
use crate::commands::policy::context;
use crate::dirs::Dirs;
use crate::exit::{Code, Failure};
use crate::record::checkpoint_policy;

/// Runs the session; returns the agent's exit code.
pub fn run(dirs: &Dirs, args: &RunArgs) -> Result<u8, Failure> {
    let cx = context(dirs, &args.grant)?;
    let profile = &cx.loaded.profile;
    let grant = Grant::compute(&cx.verified, profile, &cx.engine, &cx.paths, &cx.private)
        .map_err(Failure::invalid)?;
    // The agent starts where the human is, when that is inside the project; else at its root.
    let here = std::env::current_dir()?;
    let here = std::fs::canonicalize(&here).unwrap_or(here);
    let cwd = if here.starts_with(&cx.paths.project) {
        here
    } else {
        cx.paths.project.clone()
    };
    let credential_stores: Vec<PathBuf> = CREDENTIAL_STORES
        .iter()
        .map(|s| dirs.home.join(s))
        .chain(cx.private.iter().cloned())
        .collect();
    let system_paths: Vec<PathBuf> = profile
        .sandbox
        .read_only
        .iter()
        .map(|p| dirs.expand(p))
        .filter_map(|p| std::fs::canonicalize(&p).ok())
        .collect();
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(anyhow!("cannot find the qwarden executable: {e}")))?;
    let (ionq, ibm) = if args.dry_run {
        (None, None)
    } else {
        upstreams(dirs, profile, &grant)?
    };
    let opts = Options {
        argv: args.command.clone(),
        cwd,
        home: dirs.home.clone(),
        state_dir: dirs.state.clone(),
        credential_stores,
        system_paths,
        landlock_min_abi: args
            .landlock_floor
            .unwrap_or(profile.sandbox.landlock_min_abi),
        observe_reads: profile.sandbox.observe_reads,
        checkpoints: checkpoint_policy(profile),
        init: (exe, vec![super::SANDBOX_INIT.to_owned()]),
        allow_unsandboxed: args.allow_unsandboxed,
        force_isolation: args
            .no_namespaces
            .then_some(qwarden_sandbox::plan::Isolation::LandlockOnly),
        host_env: std::env::vars().collect(),
        witnesses: super::audit::witness_configs(profile)?,
        ionq,
        ibm,
        // With approvers in the profile, jobs that need approval wait for them; without, they are
        // refused (nobody could approve them).
        approvals: (!profile.approvers.is_empty()).then(|| providers_approvals(profile)),
    };
    if args.dry_run {
        let plan = qwarden_session::plan(&grant, &opts).map_err(session_failure)?;
        crate::output::json(&plan)?;
        return Ok(Code::Ok as u8);
    }
    let summary = qwarden_session::run(&grant, &opts).map_err(session_failure)?;
    if args.json {
        let mut err = std::io::stderr().lock();
        serde_json::to_writer_pretty(&mut err, &summary)
            .map_err(|e| Failure::internal(anyhow!(e)))?;
        writeln!(err)?;
    } else if !args.quiet {
        print_summary(&summary)?;
    }
    Ok(u8::try_from(summary.exit_code).unwrap_or(125))
}

fn session_failure(e: SessionError) -> Failure {
    match e {
        SessionError::NotGranted(_) => Failure::denied(e),
        SessionError::Plan(_) | SessionError::CommandNotFound(_) => Failure::invalid(e),
        SessionError::NoIsolation(_) => Failure::denied(e),
        other => Failure::internal(other),
    }
}

/// `s` with control characters escaped: paths and commands come from the agent, and a file name
/// holding terminal escapes must not rewrite the human's screen or clipboard.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Like [`printable`], keeping line breaks.
fn printable_lines(s: &str) -> String {
    s.lines().map(printable).collect::<Vec<_>>().join("\n")
}

fn print_summary(s: &Summary) -> std::io::Result<()> {
    let mut out = std::io::stderr().lock();
    writeln!(out)?;
    writeln!(
        out,
        "qwarden session {} — agent {} on a {} workstation",
        s.session, s.agent, s.tier
    )?;
    let c = &s.counts;
    for (k, v) in [
        ("exit code", s.exit_code.to_string()),
        (
            "duration",
            format!("{:.3} s", s.duration_ms as f64 / 1000.0),
        ),
        ("isolation", s.isolation.clone()),
        ("commands run", c.execs.to_string()),
        ("files written", c.file_writes.to_string()),
        ("denials", c.violations.to_string()),
        (
            "network",
            format!("{} allowed, {} denied", c.net_allowed, c.net_denied),
        ),
        (
            "QPU jobs",
            match c.bundles {
                0 => c.jobs.to_string(),
                b => format!(
                    "{} ({b} reproducibility bundle(s): `qwarden bundle list`)",
                    c.jobs
                ),
            },
        ),
        (
            "ledger",
            format!(
                "entries {}..={}, checkpoint at size {} ({}…)",
                s.ledger_first,
                s.ledger_last,
                s.checkpoint_size,
                s.checkpoint_root.get(..16).unwrap_or("")
            ),
        ),
    ] {
        writeln!(out, "  {k:<14} {v}")?;
    }
    if !s.write_set.is_empty() {
        writeln!(out, "write set:")?;
        for w in s.write_set.iter().take(50) {
            writeln!(out, "  {:<6} {}", w.op, printable(&w.path))?;
        }
        if s.write_set.len() > 50 {
            writeln!(
                out,
                "  … and {} more (see `qwarden audit search --session {}`)",
                s.write_set.len() - 50,
                s.session
            )?;
        }
    }
    if !s.denials.is_empty() {
        writeln!(out, "denied:")?;
        for d in s.denials.iter().take(20) {
            writeln!(
                out,
                "  {} {} [{}]",
                printable(&d.attempted),
                printable(d.target.as_deref().unwrap_or("")),
                d.control
            )?;
        }
        if s.denials.len() > 20 {
            writeln!(out, "  … and {} more", s.denials.len() - 20)?;
        }
    }
    for r in &s.reviews {
        writeln!(out, "{}", printable_lines(r))?;
    }
    for w in &s.witnessed {
        writeln!(out, "witness: {}", printable(w))?;
    }
    for w in &s.warnings {
        writeln!(out, "warning: {}", printable(w))?;
    }
    Ok(())
}

/// The granted IonQ and IBM providers, with their keys coming from the vault. The vault is
/// unlocked now (a passphrase is asked before the agent starts); a missing vault or key is
/// reported to the agent, in its provider's error shape, when it submits.
fn upstreams(
    dirs: &Dirs,
    profile: &qwarden_policy::Profile,
    grant: &Grant,
) -> Result<(Option<providers::Ionq>, Option<providers::Ibm>), Failure> {
    use qwarden_policy::profile::ProviderKind;
    let granted = |kind: ProviderKind| {
        grant
            .qpu
            .providers
            .iter()
            .find(|p| p.kind == kind)
            .and_then(|g| profile.provider(&g.name))
            .filter(|p| !p.endpoints.is_empty())
    };
    let (ionq, ibm) = (granted(ProviderKind::Ionq), granted(ProviderKind::Ibm));
    if ionq.is_none() && ibm.is_none() {
        return Ok((None, None));
    }
    let dir = super::secrets::vault_dir(dirs);
    let unlock = match qwarden_vault::Vault::open(&dir) {
        Ok(v) => Some(std::sync::Arc::new(super::secrets::unlock_for(dirs, &v)?)),
        Err(_) => None,
    };
    let keys = |p: &qwarden_policy::profile::Provider| -> std::sync::Arc<dyn KeySource> {
        std::sync::Arc::new(VaultKeys {
            dir: dir.clone(),
            unlock: unlock.clone(),
            name: p.vault.clone().unwrap_or_else(|| p.name.clone()),
        })
    };
    let ca = |p: &qwarden_policy::profile::Provider| -> Result<Option<Vec<u8>>, Failure> {
        let Some(file) = &p.ca_file else {
            return Ok(None);
        };
        let path = dirs.expand(file);
        std::fs::read(&path).map(Some).map_err(|e| {
            Failure::invalid(anyhow!(
                "provider `{}`: cannot read its ca_file `{}`: {e}; fix the path in the workstation profile or remove `ca_file`",
                p.name,
                path.display()
            ))
        })
    };
    let root = |url: &str, api: &str| {
        let url = url.trim_end_matches('/');
        if url.ends_with(api) {
            url.to_owned()
        } else {
            format!("{url}{api}")
        }
    };
    let ionq = match ionq {
        Some(p) => Some(providers::Ionq {
            provider: p.name.clone(),
            base_url: root(
                p.endpoints.first().map(String::as_str).unwrap_or_default(),
                "/v0.4",
            ),
            ca_pem: ca(p)?,
            keys: keys(p),
        }),
        None => None,
    };
    let ibm = match ibm {
        // The runtime API first, then IAM (IBM Cloud's own when only one endpoint is listed).
        Some(p) => Some(providers::Ibm {
            provider: p.name.clone(),
            endpoints: IbmEndpoints {
                runtime_url: root(
                    p.endpoints.first().map(String::as_str).unwrap_or_default(),
                    "/api/v1",
                ),
                iam_url: p
                    .endpoints
                    .get(1)
                    .map(|u| u.trim_end_matches('/').to_owned())
                    .unwrap_or_else(|| "https://iam.cloud.ibm.com".to_owned()),
                instance_crn: p.instance.clone().unwrap_or_default(),
            },
            ca_pem: ca(p)?,
            keys: keys(p),
        }),
        None => None,
    };
    Ok((ionq, ibm))
}

/// The profile's approvers, this tier's threshold and how requests are announced.
fn providers_approvals(profile: &qwarden_policy::Profile) -> qwarden_session::approvals::Approvals {
    qwarden_session::approvals::Approvals {
        approvers: profile.approvers.clone(),
        threshold: profile.approvals.for_tier(profile.tier),
        notices: profile.approval_notices.clone(),
    }
}

/// A provider's key, read from the vault when the gateway needs it.
struct VaultKeys {
    dir: PathBuf,
    unlock: Option<std::sync::Arc<qwarden_vault::Unlock>>,
    name: String,
}

impl KeySource for VaultKeys {
    fn key(&self, provider: &str) -> Result<qwarden_vault::Secret, String> {
        let Some(unlock) = &self.unlock else {
            return Err(format!(
                "the workstation has no qwarden vault with a key for `{provider}`; a human runs `qwarden secrets init` and `qwarden secrets add {}`",
                self.name
            ));
        };
        qwarden_vault::Vault::open(&self.dir)
            .and_then(|v| v.get(&self.name, unlock))
            .map_err(|e| format!("the key for `{provider}` is not available: {e}"))
    }
}
