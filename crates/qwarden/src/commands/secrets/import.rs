//! `qwarden secrets import`: moves the plaintext keys `scan` finds into the vault.
//!
//! The order never loses a value: every value goes into the vault first; a file is rewritten
//! (atomically, by `qwarden_vault::scan::rewrite_many`, which refuses a file that changed since
//! the scan) only when every value found in it is stored; a value whose file could not be
//! rewritten stays in the vault and in the file, and the command says so. Then the rewritten
//! files and the credentials directories get private permissions, and the provider-side
//! rotation step is printed once per provider. Environment variables have no file to rewrite:
//! they are reported with the advice to unset them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use qwarden_vault::scan::{
    Finding, Report, Skipped, assign_names, credential_dirs, fix_permissions, placeholder,
    rewrite_many, rotation_advice,
};
use qwarden_vault::{Provider, Vault, VaultError};
use serde::Serialize;

use super::scan::{Target, environment_advice, location, write_skipped};
use crate::dirs::Dirs;
use crate::exit::{Code, Failure};
use crate::output::Table;

/// What happened to one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Status {
    /// In the vault, and the file holds the placeholder instead.
    Moved,
    /// In the vault, but the file still holds the value.
    StoredFileUnchanged,
    /// Not in the vault; the file is unchanged.
    NotStored,
}

impl Status {
    fn as_str(&self) -> &'static str {
        match self {
            Status::Moved => "moved",
            Status::StoredFileUnchanged => "stored, file unchanged",
            Status::NotStored => "not stored",
        }
    }
}

/// One finding from a file and what became of it.
#[derive(Serialize)]
struct Item<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    /// The vault name.
    name: &'a str,
    /// What the file now holds in place of the value (when it was rewritten).
    #[serde(skip_serializing_if = "Option::is_none")]
    placeholder: Option<String>,
    status: Status,
    /// Why it was not moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// An environment variable holding a key: reported, not imported.
#[derive(Serialize)]
struct EnvItem<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    advice: String,
}

/// A permission change, in octal.
#[derive(Serialize)]
struct ModeChange {
    path: PathBuf,
    before: String,
    after: String,
}

/// The provider-side step for the keys of one provider that are now in the vault.
#[derive(Serialize)]
struct Rotation {
    provider: Provider,
    names: Vec<String>,
    advice: &'static str,
    then: Vec<String>,
}

/// `import --json`.
#[derive(Serialize)]
struct Outcome<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    vault: Option<&'a Path>,
    imported: Vec<Item<'a>>,
    environment: Vec<EnvItem<'a>>,
    permissions: Vec<ModeChange>,
    warnings: Vec<String>,
    rotation: Vec<Rotation>,
    scanned_files: usize,
    skipped: &'a [Skipped],
}

/// `qwarden secrets import`.
pub(super) fn run(
    dirs: &Dirs,
    paths: Vec<PathBuf>,
    yes: bool,
    json: bool,
    no_env: bool,
) -> Result<Code, Failure> {
    let target = Target::new(dirs, paths, no_env)?;
    let report = target.scan()?;
    let (files, envs): (Vec<&Finding>, Vec<&Finding>) =
        report.findings.iter().partition(|f| !f.is_environment());
    let environment: Vec<EnvItem<'_>> = envs
        .iter()
        .map(|f| EnvItem {
            finding: f,
            advice: environment_advice(f),
        })
        .collect();
    if files.is_empty() {
        let outcome = Outcome {
            vault: None,
            imported: Vec::new(),
            environment,
            permissions: Vec::new(),
            warnings: Vec::new(),
            rotation: Vec::new(),
            scanned_files: report.scanned_files,
            skipped: &report.skipped,
        };
        if json {
            crate::output::json(&outcome)?;
        } else {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "no plaintext credentials in {} scanned file(s): nothing to import",
                report.scanned_files
            )?;
            write_rest(&mut out, &outcome, &report)?;
        }
        return Ok(Code::Ok);
    }

    // Before asking anything: a missing or unusable vault stops here, with nothing changed.
    let vault = super::open(dirs)?;
    let found: Vec<Finding> = files.iter().map(|f| (*f).clone()).collect();
    let names = assign_names(&found, |n| vault.entry(n).is_ok());
    if !yes && !confirm(&vault, &found, &names)? {
        writeln!(
            std::io::stderr().lock(),
            "import cancelled; nothing was changed"
        )?;
        return Ok(Code::Ok);
    }
    let unlock = super::unlock_for(dirs, &vault)?;

    // 1. Every value into the vault (once per name: a key found twice shares one). After the
    //    first failure nothing more is stored: the cause (a wrong passphrase, a full disk) is
    //    likely to fail the rest too.
    let mut stored: HashMap<&str, Result<(), String>> = HashMap::new();
    let mut first_error: Option<VaultError> = None;
    for (f, name) in found.iter().zip(&names) {
        if stored.contains_key(name.as_str()) {
            continue;
        }
        let result = if first_error.is_some() {
            Err("not attempted after the error above".to_owned())
        } else {
            let source = format!(
                "imported from {}:{}",
                f.path.as_deref().unwrap_or(Path::new("?")).display(),
                f.line
            );
            match vault.add(name, f.provider, &f.secret(), &unlock, Some(&source)) {
                Ok(_) => Ok(()),
                Err(e) => {
                    let text = e.to_string();
                    first_error = Some(e);
                    Err(text)
                }
            }
        };
        stored.insert(name, result);
    }
    if stored.values().all(Result::is_err)
        && let Some(e) = first_error
    {
        // Nothing stored, nothing rewritten: the vault's own error says it best.
        return Err(super::failure(e));
    }

    // 2. Rewrite each file whose values are all in the vault.
    let is_stored = |name: &str| stored.get(name).is_some_and(Result::is_ok);
    let blocked: HashSet<&Path> = found
        .iter()
        .zip(&names)
        .filter(|(_, n)| !is_stored(n))
        .filter_map(|(f, _)| f.path.as_deref())
        .collect();
    let placeholders: Vec<String> = names.iter().map(|n| placeholder(n)).collect();
    let edits: Vec<(&Finding, &str)> = found
        .iter()
        .zip(&placeholders)
        .filter(|(f, _)| f.path.as_deref().is_some_and(|p| !blocked.contains(p)))
        .map(|(f, p)| (f, p.as_str()))
        .collect();
    let mut rewritten: HashMap<PathBuf, Result<u32, String>> = HashMap::new();
    for file in rewrite_many(&edits) {
        let Some(path) = file.path else { continue };
        let result = file
            .result
            .map(|r| r.first().map_or(0, |w| w.previous_mode & 0o7777))
            .map_err(|e| e.to_string());
        rewritten.insert(path, result);
    }

    // 3. Private permissions for the rewritten files and the credentials directories.
    let mut permissions = Vec::new();
    let mut warnings = Vec::new();
    let mut files_done: Vec<(&PathBuf, u32)> = rewritten
        .iter()
        .filter_map(|(p, r)| r.as_ref().ok().map(|m| (p, *m)))
        .collect();
    files_done.sort();
    for (path, before) in files_done {
        match fix_permissions(path) {
            Ok(change) => {
                let after = change.map_or_else(|| mode_of(path).unwrap_or(before), |c| c.after);
                if after != before {
                    permissions.push(ModeChange {
                        path: path.clone(),
                        before: format!("{before:04o}"),
                        after: format!("{after:04o}"),
                    });
                }
            }
            Err(e) => warnings.push(e.to_string()),
        }
    }
    for dir in credential_dirs(&dirs.home) {
        match fix_permissions(&dir) {
            Ok(Some(c)) => permissions.push(ModeChange {
                path: c.path,
                before: format!("{:04o}", c.before),
                after: format!("{:04o}", c.after),
            }),
            Ok(None) => {}
            Err(e) => warnings.push(e.to_string()),
        }
    }

    // 4. What happened to each finding.
    let mut imported = Vec::with_capacity(found.len());
    for ((f, name), ph) in found.iter().zip(&names).zip(&placeholders) {
        let path = f.path.as_deref().unwrap_or(Path::new(""));
        let (status, error) = match stored.get(name.as_str()) {
            Some(Err(e)) => (Status::NotStored, Some(e.clone())),
            None => (
                Status::NotStored,
                Some("not attempted after the error above".to_owned()),
            ),
            Some(Ok(())) => match rewritten.get(path) {
                Some(Ok(_)) => (Status::Moved, None),
                Some(Err(e)) => (
                    Status::StoredFileUnchanged,
                    Some(format!(
                        "{e}; the value is in the vault as `{name}` too: replace it in the file with `{ph}` by hand, or `qwarden secrets remove {name}` and import again"
                    )),
                ),
                None => (
                    Status::StoredFileUnchanged,
                    Some(format!(
                        "another value in `{}` could not be stored, so the file was left as it was; this one is in the vault as `{name}` too: replace it in the file with `{ph}` by hand, or `qwarden secrets remove {name}` and import again",
                        path.display()
                    )),
                ),
            },
        };
        imported.push(Item {
            finding: f,
            name,
            placeholder: (status == Status::Moved).then(|| ph.clone()),
            status,
            error,
        });
    }

    // 5. Rotation, once per provider whose keys are now in the vault.
    let mut by_provider: BTreeMap<Provider, Vec<String>> = BTreeMap::new();
    for item in imported.iter().filter(|i| i.status != Status::NotStored) {
        let names = by_provider.entry(item.finding.provider).or_default();
        if !names.iter().any(|n| n == item.name) {
            names.push(item.name.to_owned());
        }
    }
    let rotation: Vec<Rotation> = by_provider
        .into_iter()
        .map(|(provider, names)| Rotation {
            provider,
            advice: rotation_advice(provider),
            then: names
                .iter()
                .map(|n| format!("qwarden secrets rotate {n} < new-key.txt"))
                .collect(),
            names,
        })
        .collect();

    let failed = imported
        .iter()
        .filter(|i| i.status != Status::Moved)
        .count();
    let total = imported.len();
    let outcome = Outcome {
        vault: Some(vault.dir()),
        imported,
        environment,
        permissions,
        warnings,
        rotation,
        scanned_files: report.scanned_files,
        skipped: &report.skipped,
    };
    if json {
        crate::output::json(&outcome)?;
    } else {
        write_text(&vault, &outcome, &report)?;
    }
    if failed == 0 {
        return Ok(Code::Ok);
    }
    let error = anyhow!(
        "{failed} of {total} credential(s) were not moved (see above); the files left unchanged still hold them\n  hint: fix the cause and run `qwarden secrets import` again"
    );
    Err(match first_error.map(super::failure).map(|f| f.code()) {
        Some(Code::Verification) => Failure::verification(error),
        Some(Code::Internal) => Failure::internal(error),
        _ => Failure::invalid(error),
    })
}

/// The permission bits of `path` (without following a link).
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| m.mode() & 0o7777)
}

/// Asks on the terminal whether to go ahead; refuses when there is no terminal.
fn confirm(vault: &Vault, found: &[Finding], names: &[String]) -> Result<bool, Failure> {
    let files: Vec<&Path> = {
        let mut seen = HashSet::new();
        found
            .iter()
            .filter_map(|f| f.path.as_deref())
            .filter(|p| seen.insert(*p))
            .collect()
    };
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(anyhow!(
            "`secrets import` would move {} credential(s) into the vault and rewrite {} file(s), and there is no terminal to confirm on; nothing was changed\n  hint: review them with `qwarden secrets scan`, then run `qwarden secrets import --yes`",
            found.len(),
            files.len()
        )));
    }
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "these credentials will be stored in the vault `{}`:",
        vault.dir().display()
    )?;
    let mut table = Table::new(&["LOCATION", "KIND", "PREVIEW", "NAME"]);
    for (f, name) in found.iter().zip(names) {
        table.row(vec![
            location(f),
            f.kind.description().to_owned(),
            f.preview.clone(),
            name.clone(),
        ]);
    }
    table.write(&mut err)?;
    writeln!(
        err,
        "and replaced by `qwarden-vault:NAME` in these files, which become readable by you only:"
    )?;
    for p in &files {
        writeln!(err, "  {}", p.display())?;
    }
    write!(err, "continue? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// The human-readable result.
fn write_text(vault: &Vault, outcome: &Outcome<'_>, report: &Report) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let moved = outcome
        .imported
        .iter()
        .filter(|i| i.status == Status::Moved)
        .count();
    writeln!(
        out,
        "moved {moved} of {} credential(s) into the vault `{}`:",
        outcome.imported.len(),
        vault.dir().display()
    )?;
    let mut table = Table::new(&["LOCATION", "PROVIDER", "KIND", "PREVIEW", "NAME", "RESULT"]);
    for i in &outcome.imported {
        table.row(vec![
            location(i.finding),
            i.finding.provider.to_string(),
            i.finding.kind.description().to_owned(),
            i.finding.preview.clone(),
            i.name.to_owned(),
            i.status.as_str().to_owned(),
        ]);
    }
    table.write(&mut out)?;
    let problems: Vec<&Item<'_>> = outcome
        .imported
        .iter()
        .filter(|i| i.error.is_some())
        .collect();
    if !problems.is_empty() {
        writeln!(out, "\nnot moved:")?;
        for i in problems {
            writeln!(
                out,
                "  {}: {}",
                location(i.finding),
                i.error.as_deref().unwrap_or("")
            )?;
        }
    }
    if moved > 0 {
        writeln!(
            out,
            "\neach moved value was replaced by `qwarden-vault:NAME` in its file"
        )?;
    }
    if !outcome.permissions.is_empty() {
        writeln!(out, "\npermissions:")?;
        for c in &outcome.permissions {
            writeln!(out, "  {}: {} -> {}", c.path.display(), c.before, c.after)?;
        }
    }
    for w in &outcome.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    if !outcome.rotation.is_empty() {
        writeln!(
            out,
            "\nrotate these keys now: they were on disk in plaintext, and anything that could read the files (a backup, a synced folder, an agent) may have copied them"
        )?;
        for r in &outcome.rotation {
            writeln!(out, "  {}", r.advice)?;
            for cmd in &r.then {
                writeln!(out, "    then: {cmd}")?;
            }
        }
    }
    write_rest(&mut out, outcome, report)?;
    Ok(())
}

/// The environment findings and what was not scanned.
fn write_rest(out: &mut impl Write, outcome: &Outcome<'_>, report: &Report) -> Result<(), Failure> {
    if !outcome.environment.is_empty() {
        writeln!(
            out,
            "\nin the environment (not imported: there is no file to rewrite):"
        )?;
        for e in &outcome.environment {
            writeln!(
                out,
                "  {}: {} {}: {}",
                location(e.finding),
                e.finding.kind.description(),
                e.finding.preview,
                e.advice
            )?;
        }
    }
    write_skipped(out, report)?;
    Ok(())
}
