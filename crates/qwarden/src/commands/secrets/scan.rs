//! `qwarden secrets scan`: plaintext provider credentials on disk and in the environment.
//!
//! The scan itself is `qwarden_vault::scan`; this prints its [`Report`] as a table or JSON and
//! turns "something was found" into exit code 7. Only redacted previews are ever printed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use qwarden_vault::scan::{
    Finding, Report, ScanOptions, default_paths, scan_environment, scan_paths,
};

use crate::dirs::Dirs;
use crate::exit::{Code, Failure};
use crate::output::Table;

/// What to scan: the paths given, or the usual credential files in the home directory and the
/// current directory; and the environment unless `no_env`.
pub(super) struct Target {
    pub paths: Vec<PathBuf>,
    pub env: bool,
}

impl Target {
    pub(super) fn new(dirs: &Dirs, paths: Vec<PathBuf>, no_env: bool) -> Result<Target, Failure> {
        let paths = if paths.is_empty() {
            let mut p = default_paths(&dirs.home);
            let cwd = std::env::current_dir().map_err(|e| {
                Failure::invalid(anyhow!(
                    "cannot resolve the current directory: {e}\n  hint: cd to an existing directory, or name the paths to scan"
                ))
            })?;
            p.push(cwd);
            p
        } else {
            paths
        };
        Ok(Target {
            paths,
            env: !no_env,
        })
    }

    /// Scans the paths, then the environment. File findings come first (by path and
    /// position), then the environment's.
    pub(super) fn scan(&self) -> Result<Report, Failure> {
        let mut report =
            scan_paths(&self.paths, &ScanOptions::default()).map_err(Failure::invalid)?;
        if self.env {
            report.findings.extend(scan_environment(&environment()));
        }
        Ok(report)
    }
}

/// The environment's variables that are text (a variable that is not UTF-8 holds no key the
/// detectors know).
fn environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Where a finding is, for people: `FILE:LINE`, `FILE:LINE (cell N, line M)` in a notebook
/// (`output M` for a cell's output), or `environment (VAR)`.
pub(super) fn location(f: &Finding) -> String {
    match &f.path {
        None => match &f.key {
            Some(k) => format!("environment ({k})"),
            None => "environment".to_owned(),
        },
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

/// Prints what was skipped, and why.
pub(super) fn write_skipped(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    if report.skipped.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nnot scanned:")?;
    for s in &report.skipped {
        writeln!(out, "  {}: {}", s.path.display(), s.reason)?;
    }
    Ok(())
}

/// What to tell about an environment variable holding a key: it is not imported (there is no
/// file to rewrite), so unset it where it is set.
pub(super) fn environment_advice(f: &Finding) -> String {
    let var = f.key.as_deref().unwrap_or("the variable");
    format!(
        "unset {var} and remove it from where it is set (a shell startup file, a `.env` your tools \
         load), then open a new shell; if the key is not in the vault yet, store it first with \
         `qwarden secrets add {name} --provider {provider} --from-env {var}`",
        name = f.suggested_name(),
        provider = f.provider,
    )
}

/// `qwarden secrets scan`.
pub(super) fn run(
    dirs: &Dirs,
    paths: Vec<PathBuf>,
    json: bool,
    no_env: bool,
) -> Result<Code, Failure> {
    let target = Target::new(dirs, paths, no_env)?;
    let report = target.scan()?;
    let code = if report.findings.is_empty() {
        Code::Ok
    } else {
        Code::CredentialsFound
    };
    if json {
        crate::output::json(&report)?;
        return Ok(code);
    }
    let mut out = std::io::stdout().lock();
    let env_note = if target.env {
        " and the environment"
    } else {
        ""
    };
    if report.findings.is_empty() {
        writeln!(
            out,
            "no plaintext credentials in {} scanned file(s){env_note}",
            report.scanned_files
        )?;
        write_skipped(&mut out, &report)?;
        return Ok(code);
    }
    let mut table = Table::new(&["LOCATION", "PROVIDER", "KIND", "PREVIEW"]);
    for f in &report.findings {
        table.row(vec![
            location(f),
            f.provider.to_string(),
            f.kind.description().to_owned(),
            f.preview.clone(),
        ]);
    }
    table.write(&mut out)?;
    let in_files = report
        .findings
        .iter()
        .filter(|f| !f.is_environment())
        .count();
    let in_env = report.findings.len() - in_files;
    writeln!(
        out,
        "\n{} plaintext credential(s): {in_files} in files ({} scanned), {in_env} in the environment",
        report.findings.len(),
        report.scanned_files
    )?;
    if in_files > 0 {
        writeln!(
            out,
            "  move them into the vault: qwarden secrets import{}",
            shell_args(&target, dirs)
        )?;
    }
    for f in report.findings.iter().filter(|f| f.is_environment()) {
        writeln!(out, "  {}: {}", location(f), environment_advice(f))?;
    }
    write_skipped(&mut out, &report)?;
    Ok(code)
}

/// The paths of a scan given on the command line, for the `import` hint (nothing when the
/// defaults were used).
fn shell_args(target: &Target, dirs: &Dirs) -> String {
    let defaults = {
        let mut d = default_paths(&dirs.home);
        d.extend(std::env::current_dir().ok());
        d
    };
    if target.paths == defaults {
        return String::new();
    }
    target
        .paths
        .iter()
        .map(|p| format!(" {}", quote(p)))
        .collect()
}

/// A path quoted for a POSIX shell when it needs it.
fn quote(p: &Path) -> String {
    let s = p.display().to_string();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
