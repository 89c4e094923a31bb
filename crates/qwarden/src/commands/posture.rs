//! `qwarden posture`: this workstation scored against the safeguards checklist.
//!
//! Each check asks its question of the code that already answers it — the inventory, the
//! profile, `doctor`'s probes, the credential scanner, the ledger verifier, the bundle store and
//! the red-team scorecard — and reports a status, the evidence it looked at and the command that
//! fixes it. A report only reads: it writes nothing and records nothing in the ledger.
//!
//! Exit codes: 0 when no check fails (warnings do not fail), 6 when one does, 3 when the profile
//! itself cannot be read (nothing could be scored against it).

mod ledger;
mod render;
mod workstation;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::dirs::Dirs;
use crate::exit::{Code, Failure};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// The safeguard is in place.
    #[serde(rename = "pass")]
    Pass,
    /// The safeguard is missing or broken.
    #[serde(rename = "fail")]
    Fail,
    /// The safeguard holds, with something to look at.
    #[serde(rename = "warn")]
    Warn,
    /// The check does not apply here (the reason says why).
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl Status {
    /// The word the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::NotApplicable => "n/a",
        }
    }
}

/// One check of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// A stable id (`inventory`, `tier`, …).
    pub id: &'static str,
    /// What the check asks.
    pub title: &'static str,
    /// How it came out.
    pub status: Status,
    /// Why it has that status, in one line.
    pub reason: String,
    /// What was looked at and what was found: paths, digests, counts, dates.
    pub evidence: Vec<String>,
    /// The command (or the step) that fixes it; none when there is nothing to fix.
    pub fix: Option<String>,
}

impl Check {
    fn new(id: &'static str, title: &'static str, status: Status, reason: String) -> Check {
        Check {
            id,
            title,
            status,
            reason,
            evidence: Vec::new(),
            fix: None,
        }
    }

    /// Adds evidence (a message of several lines, an error and its hint, becomes one item per
    /// line in the report).
    fn evidence(mut self, text: impl Into<String>) -> Check {
        self.evidence.push(text.into());
        self
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// How many applicable checks pass.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Score {
    /// Checks that pass.
    pub passed: usize,
    /// Checks that apply here (all but `n/a`).
    pub applicable: usize,
}

/// The whole report, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The score.
    pub score: Score,
    /// Every check, in checklist order.
    pub checks: Vec<Check>,
}

impl Report {
    fn new(mut checks: Vec<Check>) -> Report {
        // One item per line, whichever way the evidence was added.
        for c in &mut checks {
            c.evidence = std::mem::take(&mut c.evidence)
                .iter()
                .flat_map(|e| e.lines())
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
        }
        let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
        let score = Score {
            passed: count(Status::Pass),
            applicable: checks.len() - count(Status::NotApplicable),
        };
        Report { score, checks }
    }

    /// How many checks have `status`.
    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// A path from the environment, as the commands that read it would take it.
fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The profile file in force, if there is one: `QWARDEN_PROFILE`, else the user's, else the
/// system's (the order `load_profile` reads them in).
fn profile_file(dirs: &Dirs, explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => [
            dirs.config.join("profile.toml"),
            dirs.system.join("profile.toml"),
        ]
        .into_iter()
        .find(|p| p.exists()),
    }
}

/// Runs `qwarden posture`.
pub fn run(dirs: &Dirs, json: bool, markdown: bool) -> Result<Code, Failure> {
    let explicit = env_path("QWARDEN_PROFILE");
    let loaded = super::policy::load_profile(dirs, explicit.as_deref(), None)?;
    let file = profile_file(dirs, explicit.as_deref());
    let profile = &loaded.profile;
    let now = super::policy::now();
    let facts = ledger::Ledger::gather(dirs, profile);
    let checks = vec![
        workstation::inventory(dirs, profile),
        workstation::tier(dirs, profile, file.as_deref()),
        ledger::signed_manifests(dirs, profile, &facts),
        workstation::sandbox(),
        workstation::credentials(dirs),
        ledger::ledger(&facts),
        ledger::bundles(dirs, &facts),
        workstation::egress(profile),
        workstation::approvals(profile, file.as_deref(), &dirs.state),
        workstation::redteam(dirs, profile, now),
    ];
    let report = Report::new(checks);
    if json {
        crate::output::json(&report)?;
    } else if markdown {
        render::markdown(&report, &loaded.origin, profile.tier, now)?;
    } else {
        render::table(&report)?;
    }
    Ok(if report.count(Status::Fail) == 0 {
        Code::Ok
    } else {
        Code::Verification
    })
}

/// Whether someone other than this user (or root) could rewrite `path`: it is writable by its
/// group or by everyone, or it belongs to another user. Returns what is wrong and the fix.
fn writable_by_others(path: &Path) -> Option<(String, String)> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path).ok()?;
    let (uid, _) = qwarden_sandbox::sys::ids();
    let mode = md.mode() & 0o7777;
    if md.uid() != uid && md.uid() != 0 {
        return Some((
            format!(
                "`{}` belongs to uid {}, neither this user (uid {uid}) nor root",
                path.display(),
                md.uid()
            ),
            format!("sudo chown {uid} {}", path.display()),
        ));
    }
    if mode & 0o022 != 0 {
        return Some((
            format!(
                "`{}` is writable by its group or by everyone (mode {mode:04o})",
                path.display()
            ),
            format!("chmod go-w {}", path.display()),
        ));
    }
    None
}

/// The SHA-256 of a file's bytes, in hex.
fn file_sha256(path: &Path) -> Option<String> {
    use sha2::Digest as _;
    let bytes = std::fs::read(path).ok()?;
    Some(hex::encode(sha2::Sha256::digest(bytes)))
}

/// A file's modification time, RFC 3339 in UTC.
fn modified(path: &Path) -> Option<String> {
    let t = time::OffsetDateTime::from(std::fs::metadata(path).ok()?.modified().ok()?);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// `items` joined with `, `, at most `max` of them, then how many more there are.
fn listed(items: &[String], max: usize) -> String {
    let mut text = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        text.push_str(&format!(" and {} more", items.len() - max));
    }
    text
}
