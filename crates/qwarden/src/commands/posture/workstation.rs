//! The checks about the machine and its profile: inventory, tier, sandbox, credentials, egress,
//! approvals and the last red-team run.

use std::path::{Path, PathBuf};

use qwarden_bundle::inventory::{self, Options};
use qwarden_policy::{HostPattern, Profile, Tier};
use qwarden_vault::scan::{Finding, ScanOptions, default_paths, scan_environment, scan_paths};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Check, Status, file_sha256, listed, modified, writable_by_others};
use crate::dirs::Dirs;

/// How old the last red-team run may be.
pub const REDTEAM_MAX_AGE_DAYS: i64 = 30;

/// How many drift changes, findings or job ids the evidence lists.
const LIST: usize = 5;

const INVENTORY: &str = "inventory";
const INVENTORY_TITLE: &str =
    "an inventory is recorded and hashed, and the machine has not drifted from it";

/// `STATE/inventory.json` exists, reads, and a fresh inventory over the same roots matches it.
pub fn inventory(dirs: &Dirs, profile: &Profile) -> Check {
    let path = dirs.state.join("inventory.json");
    // `inventory --write` does not make the directory, which a fresh workstation may not have.
    let write = match path.parent().filter(|d| !d.exists()) {
        Some(dir) => format!(
            "mkdir -p {} && qwarden inventory --write {}",
            dir.display(),
            path.display()
        ),
        None => format!("qwarden inventory --write {}", path.display()),
    };
    if !path.exists() {
        return Check::new(
            INVENTORY,
            INVENTORY_TITLE,
            Status::Fail,
            "no inventory is recorded".to_owned(),
        )
        .evidence(format!("looked for `{}`: not there", path.display()))
        .fix(write);
    }
    let recorded = match inventory::read(&path) {
        Ok(inv) => inv,
        Err(e) => {
            return Check::new(
                INVENTORY,
                INVENTORY_TITLE,
                Status::Fail,
                "the recorded inventory cannot be read".to_owned(),
            )
            .evidence(e.to_string())
            .fix(write);
        }
    };
    let digest = recorded
        .digest()
        .unwrap_or_else(|e| format!("(unknown: {e})"));
    let mut evidence = vec![format!("`{}`: sha256 {digest}", path.display())];
    if let Some(when) = modified(&path) {
        evidence.push(format!("recorded {when}"));
    }
    let roots: Vec<PathBuf> = recorded.search.roots.iter().map(PathBuf::from).collect();
    let depth = usize::try_from(recorded.search.max_depth).unwrap_or(inventory::DEFAULT_MAX_DEPTH);
    evidence.push(format!(
        "taken again over the same roots ({}), {depth} directories deep",
        recorded.search.roots.join(", ")
    ));
    let mut options = Options::new(profile.tier.to_string(), &dirs.home, roots);
    options.max_depth = depth;
    let fresh = inventory::collect(&options);
    let changes = inventory::diff(&recorded, &fresh);
    if changes.is_empty() {
        return Check {
            evidence,
            ..Check::new(
                INVENTORY,
                INVENTORY_TITLE,
                Status::Pass,
                "recorded, and the machine matches it".to_owned(),
            )
        };
    }
    evidence.extend(changes.iter().take(LIST).map(|c| format!("drift: {c}")));
    if changes.len() > LIST {
        evidence.push(format!("and {} more change(s)", changes.len() - LIST));
    }
    let mut rerecord = write;
    for root in &recorded.search.roots {
        rerecord.push_str(&format!(" --root {root}"));
    }
    rerecord.push_str(&format!(" --depth {depth}"));
    Check {
        evidence,
        ..Check::new(
            INVENTORY,
            INVENTORY_TITLE,
            Status::Warn,
            format!(
                "the machine drifted from the recorded inventory: {} change(s)",
                changes.len()
            ),
        )
    }
    .fix(format!(
        "review the changes, then record the machine as it is: {rerecord}"
    ))
}

const TIER: &str = "tier";
const TIER_TITLE: &str = "a workstation profile exists and sets the tier";

/// A profile file is in force (not the built-in one), and only its owner may change it.
pub fn tier(dirs: &Dirs, profile: &Profile, file: Option<&Path>) -> Check {
    let Some(file) = file else {
        return Check::new(
            TIER,
            TIER_TITLE,
            Status::Fail,
            format!(
                "no workstation profile: the built-in {} profile applies",
                profile.tier
            ),
        )
        .evidence(format!(
            "looked for `{}` and `{}` (QWARDEN_PROFILE is not set): neither exists",
            dirs.config.join("profile.toml").display(),
            dirs.system.join("profile.toml").display()
        ))
        .fix("qwarden init --tier sandbox|staging|prod");
    };
    let mut check = Check::new(
        TIER,
        TIER_TITLE,
        Status::Pass,
        format!("`{}` sets tier {}", file.display(), profile.tier),
    );
    if let Some(digest) = file_sha256(file) {
        check = check.evidence(format!("`{}`: sha256 {digest}", file.display()));
    }
    if let Some((problem, fix)) = writable_by_others(file) {
        check.status = Status::Fail;
        check.reason = "someone else could change the profile".to_owned();
        check = check.evidence(problem).fix(fix);
    }
    check
}

const SANDBOX: &str = "sandbox";
const SANDBOX_TITLE: &str = "sessions are isolated on this machine";

/// `doctor`'s probes: full isolation passes, the degraded mode warns, nothing fails.
pub fn sandbox() -> Check {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            return Check::new(
                SANDBOX,
                SANDBOX_TITLE,
                Status::Fail,
                format!("cannot find the qwarden executable to probe with: {e}"),
            )
            .fix("qwarden doctor");
        }
    };
    let probes = qwarden_session::doctor(&(exe, vec![super::super::SANDBOX_INIT.to_owned()]));
    let ok = |feature: &str| probes.iter().any(|p| p.feature == feature && p.ok);
    let fix_of = |feature: &str| {
        probes
            .iter()
            .find(|p| p.feature == feature)
            .and_then(|p| p.fix.clone())
    };
    let evidence: Vec<String> = probes
        .iter()
        .filter(|p| {
            [
                "user namespaces",
                "Landlock",
                "seccomp user notification",
                "degraded mode",
            ]
            .contains(&p.feature)
        })
        .map(|p| {
            format!(
                "{}: {} ({})",
                p.feature,
                if p.ok { "ok" } else { "missing" },
                p.detail
            )
        })
        .collect();
    let (status, reason, fix) = if ok("user namespaces") {
        (
            Status::Pass,
            "a real sandbox starts with namespaces, Landlock and seccomp".to_owned(),
            None,
        )
    } else if ok("degraded mode") {
        (
            Status::Warn,
            "only the degraded mode works: Landlock and seccomp without namespaces".to_owned(),
            fix_of("user namespaces"),
        )
    } else {
        let fixes: Vec<String> = probes
            .iter()
            .filter(|p| !p.ok)
            .filter_map(|p| p.fix.clone())
            .collect();
        (
            Status::Fail,
            "no isolation works: sessions cannot start".to_owned(),
            (!fixes.is_empty()).then(|| fixes.join("; ")),
        )
    };
    let check = Check {
        evidence,
        ..Check::new(SANDBOX, SANDBOX_TITLE, status, reason)
    };
    match fix {
        Some(f) => check.fix(f),
        None => check,
    }
}

const CREDENTIALS: &str = "credentials";
const CREDENTIALS_TITLE: &str = "no plaintext provider keys in the usual places";

/// Where a finding is: `FILE:LINE` (with the notebook cell), or the environment variable.
fn location(f: &Finding) -> String {
    match &f.path {
        None => format!("environment ({})", f.key.as_deref().unwrap_or("a variable")),
        Some(p) => {
            let mut s = format!("{}:{}", p.display(), f.line);
            if let Some(c) = f.cell {
                let place = if c.output { "output" } else { "line" };
                s.push_str(&format!(" (cell {}, {place} {})", c.cell, c.line));
            }
            s
        }
    }
}

/// `secrets scan` with its defaults: the usual credential files in the home directory, the
/// current directory, and the environment. Only where and what is reported, never a value.
pub fn credentials(dirs: &Dirs) -> Check {
    let mut paths = default_paths(&dirs.home);
    paths.extend(std::env::current_dir().ok());
    let scanned = scan_paths(&paths, &ScanOptions::default());
    let mut report = match scanned {
        Ok(r) => r,
        Err(e) => {
            return Check::new(
                CREDENTIALS,
                CREDENTIALS_TITLE,
                Status::Warn,
                "the scan could not run".to_owned(),
            )
            .evidence(e.to_string())
            .fix("qwarden secrets scan");
        }
    };
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    report.findings.extend(scan_environment(&env));
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let mut evidence = vec![format!(
        "scanned {} file(s) under {} and the environment",
        report.scanned_files,
        shown.join(", ")
    )];
    if !report.skipped.is_empty() {
        evidence.push(format!(
            "{} path(s) not read (links, special files, unreadable)",
            report.skipped.len()
        ));
    }
    if report.findings.is_empty() {
        return Check {
            evidence,
            ..Check::new(
                CREDENTIALS,
                CREDENTIALS_TITLE,
                Status::Pass,
                "no plaintext provider keys found".to_owned(),
            )
        };
    }
    for f in report.findings.iter().take(LIST) {
        evidence.push(format!(
            "{}: {} {}",
            location(f),
            f.provider,
            f.kind.description()
        ));
    }
    if report.findings.len() > LIST {
        evidence.push(format!("and {} more", report.findings.len() - LIST));
    }
    let in_env: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.is_environment())
        .filter_map(|f| f.key.clone())
        .collect();
    let in_files = report.findings.len()
        - report
            .findings
            .iter()
            .filter(|f| f.is_environment())
            .count();
    let mut fixes = Vec::new();
    if in_files > 0 {
        fixes.push("qwarden secrets import".to_owned());
    }
    if !in_env.is_empty() {
        fixes.push(format!(
            "unset {} where it is set (store it first with `qwarden secrets add NAME --provider P --from-env VAR`)",
            in_env.join(", ")
        ));
    }
    Check {
        evidence,
        ..Check::new(
            CREDENTIALS,
            CREDENTIALS_TITLE,
            Status::Fail,
            format!(
                "{} plaintext provider key(s): {in_files} in files, {} in the environment",
                report.findings.len(),
                in_env.len()
            ),
        )
    }
    .fix(fixes.join("; then "))
}

const EGRESS: &str = "egress";
const EGRESS_TITLE: &str = "egress is an allowlist (default deny) without catch-all patterns";

/// Second-level labels registries sell names under (`co.uk`, `com.au`, …): a wildcard on such
/// a suffix matches every site registered there.
const REGISTRY_LABELS: [&str; 14] = [
    "ac", "co", "com", "edu", "gob", "go", "gov", "ltd", "mil", "ne", "net", "nic", "or", "org",
];

/// Domains where anyone can publish a site of their own under a subdomain.
const SHARED_HOSTING: [&str; 14] = [
    "github.io",
    "gitlab.io",
    "herokuapp.com",
    "appspot.com",
    "web.app",
    "firebaseapp.com",
    "vercel.app",
    "netlify.app",
    "pages.dev",
    "workers.dev",
    "azurewebsites.net",
    "cloudfront.net",
    "glitch.me",
    "onrender.com",
];

/// The suffix of a `*.` pattern, without its port.
fn wildcard_suffix(p: &HostPattern) -> Option<String> {
    if !p.is_wildcard() {
        return None;
    }
    let text = p.to_string();
    let host = text.split(':').next().unwrap_or(&text);
    host.strip_prefix("*.").map(str::to_owned)
}

/// Whether `suffix` is a public suffix of the `co.uk` kind.
fn is_public_suffix(suffix: &str) -> bool {
    match suffix.split('.').collect::<Vec<_>>().as_slice() {
        [second, tld] => {
            REGISTRY_LABELS.contains(second)
                && tld.len() == 2
                && tld.bytes().all(|b| b.is_ascii_alphabetic())
        }
        _ => false,
    }
}

/// The profile's `[egress]`: the proxy refuses everything its allowlist does not match, so the
/// question is whether the allowlist is a real list.
pub fn egress(profile: &Profile) -> Check {
    let e = &profile.egress;
    let wildcards = e.allow.iter().filter(|p| p.is_wildcard()).count();
    let mut evidence = vec![
        format!(
            "allow: {} pattern(s), {wildcards} of them wildcards{}",
            e.allow.len(),
            if e.allow.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    listed(
                        &e.allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        8
                    )
                )
            }
        ),
        format!(
            "deny: {} pattern(s); built-in deny list: {} entries in force, {} exempt",
            e.deny.len(),
            e.builtin_deny().len(),
            e.exempt.len()
        ),
        "default: deny (the proxy refuses every host the allowlist does not match)".to_owned(),
    ];
    if !e.allow_ranges.is_empty() {
        evidence.push(format!(
            "non-public address ranges the proxy may reach: {}",
            e.allow_ranges
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let catch_all: Vec<String> = e
        .allow
        .iter()
        .filter(|p| wildcard_suffix(p).is_some_and(|s| is_public_suffix(&s)))
        .map(ToString::to_string)
        .collect();
    let shared: Vec<String> = e
        .allow
        .iter()
        .filter(|p| wildcard_suffix(p).is_some_and(|s| SHARED_HOSTING.contains(&s.as_str())))
        .map(ToString::to_string)
        .collect();
    let reopened: Vec<String> = e
        .exempt
        .iter()
        .filter(|x| e.allow.iter().any(|a| a.intersect(x).is_some()))
        .map(ToString::to_string)
        .collect();
    let every_address: Vec<String> = e
        .allow_ranges
        .iter()
        .filter(|r| r.prefix() == 0)
        .map(ToString::to_string)
        .collect();
    let source = profile.source.display().to_string();
    let mut concerns = Vec::new();
    if !shared.is_empty() {
        concerns.push(format!(
            "wildcards over shared hosting where anyone can publish a site: {}",
            shared.join(", ")
        ));
    }
    if !reopened.is_empty() {
        concerns.push(format!(
            "built-in deny entries exempted and reachable through the allowlist: {}",
            reopened.join(", ")
        ));
    }
    if !every_address.is_empty() {
        concerns.push(format!(
            "address checks lifted for every address: {}",
            every_address.join(", ")
        ));
    }
    if !catch_all.is_empty() {
        let reason = format!(
            "the allowlist admits every site under a public suffix: {}",
            catch_all.join(", ")
        );
        evidence.push(reason.clone());
        evidence.extend(concerns);
        return Check {
            evidence,
            ..Check::new(EGRESS, EGRESS_TITLE, Status::Fail, reason)
        }
        .fix(format!(
            "replace {} in [egress] allow in `{source}` with the hosts agents need",
            catch_all.join(", ")
        ));
    }
    if concerns.is_empty() {
        return Check {
            evidence,
            ..Check::new(
                EGRESS,
                EGRESS_TITLE,
                Status::Pass,
                "an allowlist with default deny, and no catch-all pattern".to_owned(),
            )
        };
    }
    let reason = concerns.join("; ");
    evidence.extend(concerns);
    Check {
        evidence,
        ..Check::new(EGRESS, EGRESS_TITLE, Status::Warn, reason)
    }
    .fix(format!(
        "narrow [egress] in `{source}` to the hosts and ranges agents need"
    ))
}

const APPROVALS: &str = "approvals";
const APPROVALS_TITLE: &str = "the profile lists the approvers the tier's rule needs";

/// Staging and prod gate QPU jobs on approvals: the profile must list at least as many distinct
/// approvers (role `approver` or `admin`) as the tier's threshold.
pub fn approvals(profile: &Profile, file: Option<&Path>, state: &Path) -> Check {
    if profile.tier == Tier::Sandbox {
        return Check::new(
            APPROVALS,
            APPROVALS_TITLE,
            Status::NotApplicable,
            "a sandbox workstation gates nothing behind approvals (QPU jobs are refused there)"
                .to_owned(),
        );
    }
    let needed = profile.approvals.for_tier(profile.tier).threshold.max(1);
    let mut names = Vec::new();
    let mut keys = Vec::new();
    for a in profile.approvers.iter().filter(|a| {
        a.roles
            .iter()
            .any(|r| qwarden_approvals::tally::APPROVING_ROLES.contains(&r.as_str()))
    }) {
        // Votes count once per person and once per key, so neither a repeated name nor a shared
        // key adds an approver.
        let key: String = a
            .key
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        if !names.contains(&a.name) && !keys.contains(&key) {
            names.push(a.name.clone());
            keys.push(key);
        }
    }
    let have = u32::try_from(names.len()).unwrap_or(u32::MAX);
    let mut evidence = vec![format!(
        "{} rule: {needed} distinct approval(s) per gated job",
        profile.tier
    )];
    evidence.push(if names.is_empty() {
        "approvers with role approver or admin: none".to_owned()
    } else {
        format!(
            "approvers with role approver or admin: {} ({})",
            names.len(),
            listed(&names, 8)
        )
    });
    // Prod asks each approver for a TOTP code as well: an approver who never enrolled one
    // cannot approve there.
    let enrolled: Vec<&String> = if profile.tier == Tier::Prod {
        names
            .iter()
            .filter(|n| {
                state
                    .join("approvals/totp")
                    .join(format!("{n}.json"))
                    .is_file()
            })
            .collect()
    } else {
        names.iter().collect()
    };
    if profile.tier == Tier::Prod {
        evidence.push(format!(
            "enrolled a second factor (TOTP): {} of {}",
            enrolled.len(),
            names.len()
        ));
    }
    let can_vote = u32::try_from(enrolled.len()).unwrap_or(u32::MAX);
    if have >= needed && can_vote >= needed {
        return Check {
            evidence,
            ..Check::new(
                APPROVALS,
                APPROVALS_TITLE,
                Status::Pass,
                format!("{have} approver(s) for a rule needing {needed}"),
            )
        };
    }
    if have >= needed {
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !enrolled.contains(n))
            .cloned()
            .collect();
        return Check {
            evidence,
            ..Check::new(
                APPROVALS,
                APPROVALS_TITLE,
                Status::Fail,
                format!(
                    "prod needs a second factor from each of {needed} approver(s), and only {can_vote} enrolled one"
                ),
            )
        }
        .fix(format!(
            "qwarden approvals enroll NAME, for {}",
            listed(&missing, 8)
        ));
    }
    let where_ = file.map_or_else(
        || "a workstation profile (`qwarden init`)".to_owned(),
        |f| format!("`{}`", f.display()),
    );
    Check {
        evidence,
        ..Check::new(
            APPROVALS,
            APPROVALS_TITLE,
            Status::Fail,
            format!(
                "{have} approver(s) for a rule needing {needed}: gated jobs can never be approved"
            ),
        )
    }
    .fix(format!(
        "add approvers under [[approvers]] (name, key, roles = [\"approver\"]) in {where_}"
    ))
}

const REDTEAM: &str = "redteam";
const REDTEAM_TITLE: &str = "the red-team suite ran in the last 30 days and every attack was held";

/// What `qwarden redteam` keeps of its last full run.
#[derive(Deserialize)]
struct LastRun {
    time: String,
    #[serde(default)]
    tiers: Vec<String>,
    attacks: u64,
    failed: u64,
    held: bool,
}

/// `STATE/redteam/last.json`: present, at most 30 days old, held, with attacks in it.
pub fn redteam(dirs: &Dirs, profile: &Profile, now: OffsetDateTime) -> Check {
    let path = super::super::redteam::last_run_path(dirs);
    let fail = |reason: String, evidence: String| {
        Check::new(REDTEAM, REDTEAM_TITLE, Status::Fail, reason)
            .evidence(evidence)
            .fix("qwarden redteam")
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(
                "the red-team suite has not run here".to_owned(),
                format!("looked for `{}`: not there", path.display()),
            );
        }
        Err(e) => {
            return fail(
                "the last red-team scorecard cannot be read".to_owned(),
                format!("`{}`: {e}", path.display()),
            );
        }
    };
    let last: LastRun = match serde_json::from_slice(&bytes) {
        Ok(l) => l,
        Err(e) => {
            return fail(
                "the last red-team scorecard is not one `qwarden redteam` wrote".to_owned(),
                format!("`{}`: {e}", path.display()),
            );
        }
    };
    let when = match OffsetDateTime::parse(&last.time, &Rfc3339) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                "the last red-team scorecard has no readable time".to_owned(),
                format!("`{}`: time `{}`: {e}", path.display(), last.time),
            );
        }
    };
    let age = now - when;
    let evidence = vec![
        format!("`{}`", path.display()),
        format!(
            "ran {} ({} day(s) ago), tiers {}: {} attack(s), {} not held",
            last.time,
            age.whole_days(),
            if last.tiers.is_empty() {
                "(none)".to_owned()
            } else {
                last.tiers.join(", ")
            },
            last.attacks,
            last.failed
        ),
    ];
    let problem = if age > time::Duration::days(REDTEAM_MAX_AGE_DAYS) {
        Some(format!(
            "the last run is {} days old (more than {REDTEAM_MAX_AGE_DAYS})",
            age.whole_days()
        ))
    } else if age < -time::Duration::hours(1) {
        Some("the last run is dated in the future".to_owned())
    } else if !last.held || last.failed > 0 {
        Some(format!(
            "{} of {} attack(s) got through or went unrecorded",
            last.failed, last.attacks
        ))
    } else if last.attacks == 0 {
        Some("the last run held no attacks".to_owned())
    } else {
        None
    };
    if let Some(reason) = problem {
        return Check {
            evidence,
            ..Check::new(REDTEAM, REDTEAM_TITLE, Status::Fail, reason)
        }
        .fix("qwarden redteam");
    }
    let tier = profile.tier.to_string();
    if !last.tiers.contains(&tier) {
        return Check {
            evidence,
            ..Check::new(
                REDTEAM,
                REDTEAM_TITLE,
                Status::Warn,
                format!("held, but did not attack this workstation's tier ({tier})"),
            )
        }
        .fix(format!("qwarden redteam --tier {tier}"));
    }
    Check {
        evidence,
        ..Check::new(
            REDTEAM,
            REDTEAM_TITLE,
            Status::Pass,
            format!(
                "{} attack(s) held {} day(s) ago",
                last.attacks,
                age.whole_days()
            ),
        )
    }
}
