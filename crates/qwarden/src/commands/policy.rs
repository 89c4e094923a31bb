//! `qwarden policy explain|check|validate|show`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use qwarden_policy::grant::{Action, Capability};
use qwarden_policy::matrix::{MATRIX, SCHEMA};
use qwarden_policy::paths::PathContext;
use qwarden_policy::{Decision, Grant, Outcome, PolicyEngine, Profile, Tier};
use serde::Serialize;
use time::OffsetDateTime;

use crate::cli::{ActionArg, GrantArgs, PolicyCommand, TierArg};
use crate::commands::manifest::verified;
use crate::dirs::Dirs;
use crate::exit::{Code, Failure};
use crate::output::Table;

pub fn run(dirs: &Dirs, cmd: PolicyCommand) -> Result<Code, Failure> {
    match cmd {
        PolicyCommand::Explain { grant, json } => explain(dirs, &grant, json),
        PolicyCommand::Check {
            grant,
            action,
            resource,
            shots,
            form,
            json,
        } => check(dirs, &grant, action, resource, shots, form, json),
        PolicyCommand::Validate { policies } => validate(dirs, policies.as_deref()),
        PolicyCommand::Show { schema } => {
            std::io::stdout()
                .lock()
                .write_all(if schema { SCHEMA } else { MATRIX }.as_bytes())?;
            Ok(Code::Ok)
        }
    }
}

pub fn tier_of(t: TierArg) -> Tier {
    match t {
        TierArg::Sandbox => Tier::Sandbox,
        TierArg::Staging => Tier::Staging,
        TierArg::Prod => Tier::Prod,
    }
}

/// The current time (the clock is read in one place so a future `--at` flag has one place to go).
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A profile and where it came from.
pub struct LoadedProfile {
    pub profile: Profile,
    pub origin: String,
}

fn parse_profile(path: &Path) -> Result<Profile, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::invalid(anyhow!(
            "cannot read profile `{}`: {e}\n  hint: run `qwarden init`, or pass --profile FILE",
            path.display()
        ))
    })?;
    Profile::parse(&text, path).map_err(Failure::invalid)
}

/// The workstation profile: `--profile`, else the user's, else the system's, else the built-in one
/// for the requested tier. `--tier` then overrides the tier.
pub fn load_profile(
    dirs: &Dirs,
    explicit: Option<&Path>,
    tier: Option<TierArg>,
) -> Result<LoadedProfile, Failure> {
    let found = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => [
            dirs.config.join("profile.toml"),
            dirs.system.join("profile.toml"),
        ]
        .into_iter()
        .find(|p| p.exists()),
    };
    let mut loaded = match found {
        Some(path) => LoadedProfile {
            profile: parse_profile(&path)?,
            origin: path.display().to_string(),
        },
        None => {
            let t = tier.map_or(Tier::Sandbox, tier_of);
            LoadedProfile {
                profile: Profile::builtin(t),
                origin: format!(
                    "built-in {t} profile (no profile found; `qwarden init` writes one)"
                ),
            }
        }
    };
    if let Some(t) = tier {
        let t = tier_of(t);
        if t != loaded.profile.tier {
            loaded.origin = format!("{} with tier overridden to {t}", loaded.origin);
            loaded.profile.tier = t;
        }
    }
    Ok(loaded)
}

/// The profile, if one exists, only for reading its `paths`.
pub fn load_profile_for_paths(dirs: &Dirs) -> Result<Option<Profile>, Failure> {
    match [
        dirs.config.join("profile.toml"),
        dirs.system.join("profile.toml"),
    ]
    .into_iter()
    .find(|p| p.exists())
    {
        Some(p) => parse_profile(&p).map(Some),
        None => Ok(None),
    }
}

/// The built-in matrix plus the system's and the user's policy directories.
fn engine(
    dirs: &Dirs,
    profile: &Profile,
    explicit: Option<&Path>,
) -> Result<PolicyEngine, Failure> {
    let user = explicit
        .map(Path::to_path_buf)
        .or_else(|| profile.paths.policies.as_deref().map(|p| dirs.expand(p)))
        .unwrap_or_else(|| dirs.config.join("policies"));
    PolicyEngine::with_policy_dirs(&[dirs.system.join("policies"), user]).map_err(Failure::invalid)
}

pub struct Context {
    pub loaded: LoadedProfile,
    pub engine: PolicyEngine,
    pub paths: PathContext,
    pub private: Vec<PathBuf>,
    pub verified: qwarden_policy::VerifiedManifest,
}

pub fn context(dirs: &Dirs, args: &GrantArgs) -> Result<Context, Failure> {
    let loaded = load_profile(dirs, args.profile.as_deref(), args.tier)?;
    let engine = engine(dirs, &loaded.profile, args.policies.as_deref())?;
    let verified = verified(
        dirs,
        &args.trust,
        loaded.profile.paths.allowed_signers.as_deref(),
        &args.agent,
    )?;
    let project = match &args.project {
        Some(p) => p.clone(),
        None => std::env::current_dir()?,
    };
    let project = std::fs::canonicalize(&project).map_err(|e| {
        Failure::invalid(anyhow!(
            "cannot use project directory `{}`: {e}",
            project.display()
        ))
    })?;
    let paths = PathContext {
        home: dirs.home.clone(),
        project,
    };
    Ok(Context {
        loaded,
        engine,
        paths,
        private: dirs.private(),
        verified,
    })
}

#[derive(Serialize)]
struct Explanation<'a> {
    profile: &'a str,
    grant: &'a Grant,
    grant_digest: String,
}

fn explain(dirs: &Dirs, args: &GrantArgs, json: bool) -> Result<Code, Failure> {
    let cx = context(dirs, args)?;
    let grant = Grant::compute(
        &cx.verified,
        &cx.loaded.profile,
        &cx.engine,
        &cx.paths,
        &cx.private,
    )
    .map_err(Failure::invalid)?;
    if json {
        crate::output::json(&Explanation {
            profile: &cx.loaded.origin,
            grant: &grant,
            grant_digest: grant.digest(),
        })?;
        return Ok(Code::Ok);
    }
    let mut out = std::io::stdout().lock();
    let m = cx.verified.manifest();
    writeln!(
        out,
        "agent      {} {} — {}",
        m.agent.name,
        m.agent.version,
        m.agent.description.as_deref().unwrap_or("")
    )?;
    writeln!(out, "manifest   {} ({})", m.source.display(), m.digest)?;
    writeln!(
        out,
        "signed by  {} ({} {})",
        grant.signer.principal, grant.signer.algorithm, grant.signer.fingerprint
    )?;
    writeln!(out, "tier       {}", grant.tier)?;
    writeln!(out, "profile    {}", cx.loaded.origin)?;
    writeln!(out)?;
    let mut table = Table::new(&["CAPABILITY", "REQUESTED", "GRANTED", "DECIDED BY"]);
    for item in &grant.items {
        let granted = match &item.granted {
            None => "REFUSED".to_owned(),
            Some(g) => match item.decision.outcome {
                Outcome::Allow => g.clone(),
                other => format!("{g} — {other}"),
            },
        };
        let mut decided = item.decision.policies.join(", ");
        if let Some(note) = &item.note {
            decided = format!("{decided} ({note})");
        }
        table.row(vec![
            item.capability.to_string(),
            item.requested.clone(),
            granted,
            decided,
        ]);
    }
    table.write(&mut out)?;
    writeln!(out)?;
    if !grant.filesystem.deny.is_empty() {
        writeln!(out, "hidden inside the scopes:")?;
        for d in &grant.filesystem.deny {
            writeln!(out, "  {}", d.display())?;
        }
    }
    if !grant.filesystem.protected.is_empty() {
        writeln!(
            out,
            "read-only inside write scopes: {} paths (git hooks and config, CI files, shell rc files, editor and agent config)",
            grant.filesystem.protected.len()
        )?;
    }
    let net = &grant.network;
    let exempt = qwarden_policy::BUILTIN_DENY
        .len()
        .saturating_sub(net.builtin_deny.len());
    writeln!(
        out,
        "egress: {} allow pattern(s); deny wins: {} from the profile, {} built-in ({exempt} exempt); default deny",
        net.allow.len(),
        net.deny.len(),
        net.builtin_deny.len(),
    )?;
    if !net.allow_ranges.is_empty() {
        let ranges: Vec<String> = net.allow_ranges.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "egress may reach non-public addresses in: {}",
            ranges.join(", ")
        )?;
    }
    for o in &net.overrides {
        writeln!(out, "egress host override: {o}")?;
    }
    let l = grant.limits;
    writeln!(
        out,
        "limits: {} MiB memory, {} processes, {} open files, {} s CPU",
        l.memory_mb, l.processes, l.open_files, l.cpu_seconds
    )?;
    if let Some(t) = grant.approvals {
        let n = cx.loaded.profile.approvers.len();
        writeln!(
            out,
            "approvals: {} of {n} configured approver(s) per gated job",
            t.threshold
        )?;
        if n < t.threshold as usize {
            writeln!(
                out,
                "warning: the profile lists too few approvers; gated jobs will wait forever until [[approvers]] are added"
            )?;
        }
    }
    let refused: Vec<_> = grant.refused().collect();
    if refused.is_empty() {
        writeln!(
            out,
            "everything requested is granted (possibly narrowed or gated, as shown)"
        )?;
    } else {
        writeln!(out, "{} requested item(s) refused:", refused.len())?;
        for item in refused {
            writeln!(
                out,
                "  {} `{}`: {}",
                item.capability,
                item.requested,
                item.decision.reasons.join("; ")
            )?;
        }
    }
    if grant
        .items
        .iter()
        .any(|i| i.capability == Capability::Session && i.granted.is_none())
    {
        writeln!(
            out,
            "no session can start for this agent on this workstation"
        )?;
    }
    writeln!(out, "grant digest {}", grant.digest())?;
    Ok(Code::Ok)
}

fn check(
    dirs: &Dirs,
    args: &GrantArgs,
    action: ActionArg,
    resource: Option<String>,
    shots: Option<u64>,
    form: String,
    json: bool,
) -> Result<Code, Failure> {
    let need = |what: &str| {
        resource.clone().ok_or_else(|| {
            Failure::usage(anyhow!(
                "--resource is required for this action: give {what}"
            ))
        })
    };
    let action = match action {
        ActionArg::RunSession => Action::RunSession,
        ActionArg::SpawnProcesses => Action::SpawnProcesses,
        ActionArg::Read => Action::Read(need("a path")?),
        ActionArg::Write => Action::Write(need("a path")?),
        ActionArg::Connect => Action::Connect(need("a host, e.g. `api.quantum.ibm.com:443`")?),
        ActionArg::SubmitJob => Action::SubmitJob {
            backend: need("a backend, e.g. `ibm:ibm_brisbane`")?,
            shots: shots
                .ok_or_else(|| Failure::usage(anyhow!("--shots is required for submit-job")))?,
        },
        ActionArg::UseCredential => Action::UseCredential {
            provider: need("a provider name, e.g. `ibm`")?,
            form,
        },
        ActionArg::InstallPackages => {
            Action::InstallPackages(need("a registry: `pypi`, `npm`, `crates` or `conda`")?)
        }
        ActionArg::AccessDevice => {
            Action::AccessDevice(need("a device: `gpu`, `gpu:N` or `pci:VVVV:DDDD`")?)
        }
    };
    let cx = context(dirs, args)?;
    let decision = Grant::check(
        &cx.verified,
        &cx.loaded.profile,
        &cx.engine,
        &cx.paths,
        &cx.private,
        &action,
    )
    .map_err(Failure::invalid)?;
    let (action_name, resource_name) = describe(&action);
    let event = crate::record::policy_event(
        &cx.verified.manifest().agent.name,
        action_name,
        &resource_name,
        &decision,
        serde_json::json!({
            "manifest_digest": cx.verified.manifest().digest,
            "tier": cx.loaded.profile.tier.as_str(),
            "source": "qwarden policy check",
        }),
    );
    if let Err(e) = crate::record::record(dirs, &cx.loaded.profile, &event) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "qwarden: warning: this decision was not recorded in the audit ledger: {e:#}"
        );
    }
    let code = match decision.outcome {
        Outcome::Deny => Code::Denied,
        Outcome::NeedsApproval { .. } => Code::NeedsApproval,
        Outcome::Allow | Outcome::Listed | Outcome::Capture => Code::Ok,
    };
    let printed = if json {
        crate::output::json(&decision)
    } else {
        print_decision(&decision, &cx.loaded.profile)
    };
    match printed {
        // The exit code is the answer: a reader that stopped reading (`… | head -0`) must not turn
        // a denial into success.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(code),
    }
}

/// The action's name and resource as the audit log records them.
fn describe(action: &Action) -> (&'static str, String) {
    match action {
        Action::RunSession => ("run-session", "workstation".into()),
        Action::SpawnProcesses => ("spawn-processes", "workstation".into()),
        Action::Read(p) => ("read", p.clone()),
        Action::Write(p) => ("write", p.clone()),
        Action::Connect(h) => ("connect", h.clone()),
        Action::SubmitJob { backend, shots } => {
            ("submit-job", format!("{backend} ({shots} shots)"))
        }
        Action::UseCredential { provider, form } => {
            ("use-credential", format!("{provider} ({form})"))
        }
        Action::InstallPackages(r) => ("install-packages", r.clone()),
        Action::AccessDevice(d) => ("access-device", d.clone()),
    }
}

fn print_decision(d: &Decision, profile: &Profile) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let what = match d.outcome {
        Outcome::NeedsApproval { second_factor } => {
            let t = profile.approvals.for_tier(profile.tier);
            format!(
                "needs approval: {} distinct approver(s){}",
                t.threshold,
                if second_factor {
                    " and a second factor"
                } else {
                    ""
                }
            )
        }
        other => other.to_string(),
    };
    writeln!(out, "{what}")?;
    for (id, reason) in d.policies.iter().zip(&d.reasons) {
        writeln!(out, "  {id}: {reason}")?;
    }
    for e in &d.errors {
        writeln!(out, "  evaluation error: {e}")?;
    }
    Ok(())
}

fn validate(dirs: &Dirs, explicit: Option<&Path>) -> Result<Code, Failure> {
    let profile = load_profile_for_paths(dirs)?.unwrap_or_else(|| Profile::builtin(Tier::Sandbox));
    let engine = engine(dirs, &profile, explicit)?;
    let mut out = std::io::stdout().lock();
    let user = engine.user_policies();
    writeln!(
        out,
        "valid: {} policies ({} built-in, {} from files)",
        engine.len(),
        engine.len() - user.len(),
        user.len()
    )?;
    for (id, file) in user {
        writeln!(out, "  {id}  ({})", file.display())?;
    }
    Ok(Code::Ok)
}
