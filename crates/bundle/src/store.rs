//! Where a workstation keeps its bundles: the envelopes and every object they name live in the
//! ledger's content-addressed store (`STATE/cas`); `STATE/bundles/refs/<hex>.json` lists them,
//! one small summary per bundle, so `bundle list` need not open every envelope.
//!
//! A summary is only an index: everything it says is checked again from the signed envelope
//! when a bundle is shown, verified or re-run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::job::Made;

/// The summary of a stored bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// `sha256:<hex>` of the envelope: the bundle's id.
    pub id: String,
    /// The provider's job id.
    pub job_id: String,
    /// `provider:backend`.
    pub backend: String,
    /// Total shots.
    pub shots: u64,
    /// The session.
    pub session: String,
    /// The agent.
    pub agent: String,
    /// When the job completed.
    pub completed: String,
}

/// Why the bundle store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No bundle matches.
    #[error(
        "no bundle matches `{0}`\n  hint: `qwarden bundle list` shows the bundles; give a bundle id (or a prefix of 8+ hex digits) or a job id"
    )]
    NotFound(String),
    /// More than one bundle matches.
    #[error("`{0}` matches more than one bundle; give more of the id")]
    Ambiguous(String),
}

/// The bundle index under a state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store of `state_dir` (`STATE/bundles`).
    pub fn new(state_dir: &Path) -> Store {
        Store {
            dir: state_dir.join("bundles"),
        }
    }

    /// `STATE/bundles`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the workstation's public key is published.
    pub fn public_key_path(&self) -> PathBuf {
        self.dir.join("workstation.pub")
    }

    fn refs(&self) -> PathBuf {
        self.dir.join("refs")
    }

    /// Records `made` (its envelope is already in the CAS).
    pub fn add(&self, made: &Made) -> Result<Summary, StoreError> {
        let p = &made.predicate;
        let summary = Summary {
            id: made.id.clone(),
            job_id: p.job.job_id.clone(),
            backend: format!("{}:{}", p.job.provider, p.job.backend),
            shots: p.job.shots,
            session: p.session.id.clone(),
            agent: p.session.agent.clone(),
            completed: p.job.completed.clone(),
        };
        let refs = self.refs();
        std::fs::create_dir_all(&refs).map_err(|source| StoreError::Io {
            action: "create",
            path: refs.clone(),
            source,
        })?;
        let hex = made.id.trim_start_matches("sha256:");
        let path = refs.join(format!("{hex}.json"));
        let tmp = refs.join(format!(".{hex}.{}", std::process::id()));
        let bytes = serde_json::to_vec(&summary).unwrap_or_default();
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| StoreError::Io {
                action: "write",
                path,
                source,
            })?;
        Ok(summary)
    }

    /// Every bundle, oldest completion first.
    pub fn list(&self) -> Result<Vec<Summary>, StoreError> {
        let refs = self.refs();
        let entries = match std::fs::read_dir(&refs) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StoreError::Io {
                    action: "list",
                    path: refs,
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            // An unreadable summary is skipped: the envelope in the CAS is the record.
            let summary = qwarden_ledger::durable::read_bounded(&path, 64 << 10)
                .ok()
                .and_then(|b| serde_json::from_slice::<Summary>(&b).ok());
            if let Some(s) = summary {
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.completed.cmp(&b.completed).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The bundle named by `what`: a bundle id (`sha256:<hex>` or hex, or a prefix of at least 8
    /// hex digits) or a job id.
    pub fn find(&self, what: &str) -> Result<Summary, StoreError> {
        let all = self.list()?;
        let hex = what.trim_start_matches("sha256:").to_ascii_lowercase();
        let by_id: Vec<&Summary> = if hex.len() >= 8 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            all.iter()
                .filter(|s| s.id.trim_start_matches("sha256:").starts_with(&hex))
                .collect()
        } else {
            Vec::new()
        };
        let by_job: Vec<&Summary> = all.iter().filter(|s| s.job_id == what).collect();
        let found: Vec<&Summary> = if by_id.is_empty() { by_job } else { by_id };
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(StoreError::NotFound(what.chars().take(80).collect())),
            _ => Err(StoreError::Ambiguous(what.chars().take(80).collect())),
        }
    }

    /// The bundles of session `session`.
    pub fn of_session(&self, session: &str) -> Result<Vec<Summary>, StoreError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|s| s.session == session)
            .collect())
    }
}
