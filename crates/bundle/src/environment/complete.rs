//! Completing a recorded lock with the hashes of wheels given later, for a re-run.
//!
//! A lock taken from an installed environment often cannot name its wheels' hashes (the
//! installer kept none), so it is written not installable (see the module documentation of
//! [`crate::environment`]). To re-run such a session, the person re-running it supplies the
//! wheels: [`complete_lock`] names each missing wheel's hash as found in the directory given.
//! Those hashes are only as good as the directory, so they are never trusted alone: after the
//! rebuild, [`check_installed`] requires every package to have installed exactly the files the
//! session's environment had (the digest of its `RECORD` rows), which a different wheel of the
//! same name cannot do.

use std::path::Path;

use super::{EnvironmentError, EnvironmentManifest, wheel};
use crate::environment::lock::MAX_WHEEL_BYTES;

/// A lock completed by [`complete_lock`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedLock {
    /// The lock's text, installable if every missing wheel was found.
    pub text: String,
    /// The packages whose wheel hash was taken from the wheel directory.
    pub completed: Vec<String>,
}

fn lock_error(reason: String) -> EnvironmentError {
    EnvironmentError::Lock {
        reason,
        hint: "give the pylock.toml recorded with the session".to_owned(),
    }
}

/// `lock` with every package that has no source but names its wheel (`[packages.tool.qwarden]
/// wheel`) given that wheel from `wheels`, with its SHA-256 and size.
pub fn complete_lock(lock: &str, wheels: &Path) -> Result<CompletedLock, EnvironmentError> {
    let mut doc: toml::Table = lock
        .parse()
        .map_err(|e: toml::de::Error| lock_error(format!("it is not TOML: {e}")))?;
    let mut completed = Vec::new();
    let mut still_missing = Vec::new();
    let packages = doc
        .get_mut("packages")
        .and_then(toml::Value::as_array_mut)
        .ok_or_else(|| lock_error("it has no [[packages]]".into()))?;
    for package in packages.iter_mut() {
        let Some(table) = package.as_table_mut() else {
            return Err(lock_error("a [[packages]] entry is not a table".into()));
        };
        let has_source = ["wheels", "sdist", "archive", "directory", "vcs"]
            .iter()
            .any(|k| table.contains_key(*k));
        if has_source {
            continue;
        }
        let name = table
            .get("name")
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let file = table
            .get("tool")
            .and_then(|t| t.get("qwarden"))
            .and_then(|q| q.get("wheel"))
            .and_then(toml::Value::as_str)
            .map(str::to_owned);
        let Some(file) = file.filter(|f| wheel::parse_file_name(f).is_some() && !f.contains('/'))
        else {
            still_missing.push(name);
            continue;
        };
        let path = wheels.join(&file);
        // A link is followed, as wheel directories often hold links; `hash_file` refuses
        // anything that is not a regular file in the end.
        if !path.is_file() {
            return Err(EnvironmentError::WheelMissing {
                package: name,
                file,
                dir: wheels.to_path_buf(),
            });
        }
        let digest = wheel::hash_file(&path, MAX_WHEEL_BYTES, &[]).map_err(|source| {
            EnvironmentError::Io {
                action: "read",
                path: path.clone(),
                source,
            }
        })?;
        let mut hashes = toml::Table::new();
        let sha256 = digest.hashes.get("sha256").cloned().unwrap_or_default();
        hashes.insert("sha256".into(), sha256.into());
        let mut entry = toml::Table::new();
        let absolute = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        entry.insert("name".into(), file.into());
        entry.insert("path".into(), absolute.display().to_string().into());
        entry.insert(
            "size".into(),
            i64::try_from(digest.size).unwrap_or(i64::MAX).into(),
        );
        entry.insert("hashes".into(), hashes.into());
        table.insert("wheels".into(), toml::Value::Array(vec![entry.into()]));
        if let Some(q) = table
            .get_mut("tool")
            .and_then(|t| t.get_mut("qwarden"))
            .and_then(toml::Value::as_table_mut)
        {
            q.remove("not-installable");
            q.insert(
                "wheel-hash-from".into(),
                "the wheel directory of a re-run".into(),
            );
        }
        completed.push(name);
    }
    if let Some(q) = doc
        .get_mut("tool")
        .and_then(|t| t.get_mut("qwarden"))
        .and_then(toml::Value::as_table_mut)
    {
        q.remove("not-installable");
        if !still_missing.is_empty() {
            q.insert(
                "not-installable".into(),
                toml::Value::Array(still_missing.iter().cloned().map(Into::into).collect()),
            );
        }
        let ambiguous = q.contains_key("ambiguous");
        q.insert(
            "installable".into(),
            (still_missing.is_empty() && !ambiguous).into(),
        );
    }
    let text = toml::to_string(&doc).map_err(|e| lock_error(format!("cannot write it: {e}")))?;
    Ok(CompletedLock { text, completed })
}

/// Every package of `recorded` that `rebuilt` lacks, has at another version, or installed with
/// other files (their `RECORD` rows' digest): empty when the rebuilt environment holds what the
/// recorded one held.
pub fn check_installed(
    recorded: &EnvironmentManifest,
    rebuilt: &EnvironmentManifest,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for d in &recorded.distributions {
        match rebuilt
            .distributions
            .iter()
            .find(|r| r.name == d.name && r.version == d.version)
        {
            None => wrong.push(format!("{} {} was not installed", d.name, d.version)),
            Some(r) if r.files_sha256 != d.files_sha256 => wrong.push(format!(
                "{} {} installed other files than the session's environment had (the wheel is not the one it was installed from)",
                d.name, d.version
            )),
            Some(_) => {}
        }
    }
    wrong
}
