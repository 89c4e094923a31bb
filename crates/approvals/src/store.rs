//! Requests, votes and second-factor enrolments on disk, under the state directory's
//! `approvals/` (outside every sandbox):
//!
//! ```text
//! approvals/requests/<id>/request.json          the request, written once
//! approvals/requests/<id>/votes/<n>-<name>.json each vote, written once
//! approvals/requests/<id>/outcome.json          what became of it (ran, failed, expired), once
//! approvals/totp/<name>.json                    an approver's TOTP secret and last used step
//! ```
//!
//! Files are created with `O_EXCL` and mode 0600 in 0700 directories; nothing is rewritten
//! except an approver's TOTP state (write-then-rename). Any process may add a vote (the human's
//! `qwarden approvals approve`) while another waits on the request (the session's gateway): the
//! directory is the meeting point, and every read verifies again.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use qwarden_policy::profile::Approver;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::request::ApprovalRequest;
use crate::tally::{self, Status, Vote};
use crate::totp::{self, TotpSecret, TotpState};

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory could not be read or written.
    #[error("{what} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No such request.
    #[error("there is no approval request `{0}`; `qwarden approvals list` shows the open ones")]
    NotFound(String),
    /// A stored file is not what it should be.
    #[error("`{}` is damaged: {why}; it was not written by qwarden, or was edited", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The request already has an outcome.
    #[error("request {0} has already been acted on")]
    AlreadyActed(String),
    /// The approver has no second factor enrolled.
    #[error(
        "approver {0} has no TOTP second factor enrolled; a human runs `qwarden approvals enroll {0}` and scans the code into an authenticator app"
    )]
    NotEnrolled(String),
    /// The second factor was refused.
    #[error(transparent)]
    Totp(#[from] totp::TotpError),
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// `ran`, `failed`, `denied` or `expired`.
    pub result: String,
    /// Details: the provider's job id, the failure's reason.
    pub detail: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// An approver's enrolled second factor.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Enrolment {
    secret: String,
    state: TotpState,
}

/// The approvals directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `id` is a request id (`apr-` and 16 lower-case hex digits): ids become paths.
pub fn is_request_id(id: &str) -> bool {
    id.strip_prefix("apr-")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Whether `name` is usable in a file name (approver names come from the profile).
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.')
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StoreError> {
    let bytes = std::fs::read(path).map_err(io("cannot read", path))?;
    serde_json::from_slice(&bytes).map_err(|e| StoreError::Damaged {
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}

impl Store {
    /// The store at `root` (usually `<state>/approvals`), made if missing.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        for d in [root.join("requests"), root.join("totp")] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&d)
                .map_err(io("cannot create", &d))?;
        }
        Ok(Store { root })
    }

    fn dir(&self, id: &str) -> Result<PathBuf, StoreError> {
        if !is_request_id(id) {
            return Err(StoreError::NotFound(id.to_owned()));
        }
        Ok(self.root.join("requests").join(id))
    }

    /// Stores a new request.
    pub fn create(&self, request: &ApprovalRequest) -> Result<(), StoreError> {
        let dir = self.dir(&request.id)?;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(io("cannot create", &dir))?;
        let votes = dir.join("votes");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&votes)
            .map_err(io("cannot create", &votes))?;
        let path = dir.join("request.json");
        let bytes = serde_json::to_vec_pretty(request).map_err(|e| StoreError::Damaged {
            path: path.clone(),
            why: e.to_string(),
        })?;
        write_new(&path, &bytes).map_err(io("cannot write", &path))
    }

    /// A request, checked for consistency (its action digest is its action's).
    pub fn get(&self, id: &str) -> Result<ApprovalRequest, StoreError> {
        let path = self.dir(id)?.join("request.json");
        if !path.exists() {
            return Err(StoreError::NotFound(id.to_owned()));
        }
        let request: ApprovalRequest = read_json(&path)?;
        if request.id != id || !request.is_consistent() {
            return Err(StoreError::Damaged {
                path,
                why: "its id or action digest does not match its contents".into(),
            });
        }
        Ok(request)
    }

    /// Every stored request, oldest first (damaged ones are left out).
    pub fn list(&self) -> Result<Vec<ApprovalRequest>, StoreError> {
        let dir = self.root.join("requests");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(io("cannot read", &dir))? {
            let e = e.map_err(io("cannot read", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(r) = self.get(&name) {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// A request's votes, in the order they were cast.
    pub fn votes(&self, id: &str) -> Result<Vec<Vote>, StoreError> {
        let dir = self.dir(id)?.join("votes");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(io("cannot read", &dir))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files.iter().map(|p| read_json(p)).collect()
    }

    /// Records a vote (already verified by the caller with [`tally::verify`]).
    pub fn cast(&self, id: &str, vote: &Vote) -> Result<(), StoreError> {
        if !safe_name(&vote.approver) {
            return Err(StoreError::Damaged {
                path: PathBuf::from(&vote.approver),
                why: "an approver's name must be letters, digits, `-`, `_` or `.`".into(),
            });
        }
        let dir = self.dir(id)?.join("votes");
        let bytes = serde_json::to_vec_pretty(vote).map_err(|e| StoreError::Damaged {
            path: dir.clone(),
            why: e.to_string(),
        })?;
        // The sequence number orders votes; create_new settles a race for the same number.
        for n in 0..10_000u32 {
            let path = dir.join(format!("{n:04}-{}.json", vote.approver));
            match write_new(&path, &bytes) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("cannot write", &path)(e)),
            }
        }
        Err(StoreError::Damaged {
            path: dir,
            why: "too many votes".into(),
        })
    }

    /// Where the request stands at `now`, counting only votes that verify against `approvers`.
    pub fn status(
        &self,
        id: &str,
        approvers: &[Approver],
        now: OffsetDateTime,
    ) -> Result<(ApprovalRequest, Status), StoreError> {
        let request = self.get(id)?;
        let votes = self.votes(id)?;
        let status = tally::status(&request, approvers, &votes, now);
        Ok((request, status))
    }

    /// Records what became of a request, once: a second call fails, so an approved job runs at
    /// most once.
    pub fn settle(&self, id: &str, outcome: &Outcome) -> Result<(), StoreError> {
        let path = self.dir(id)?.join("outcome.json");
        let bytes = serde_json::to_vec_pretty(outcome).map_err(|e| StoreError::Damaged {
            path: path.clone(),
            why: e.to_string(),
        })?;
        write_new(&path, &bytes).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                StoreError::AlreadyActed(id.to_owned())
            } else {
                io("cannot write", &path)(e)
            }
        })
    }

    /// What became of a request, if anything yet.
    pub fn outcome(&self, id: &str) -> Result<Option<Outcome>, StoreError> {
        let path = self.dir(id)?.join("outcome.json");
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }

    fn totp_path(&self, approver: &str) -> Result<PathBuf, StoreError> {
        if !safe_name(approver) {
            return Err(StoreError::NotEnrolled(approver.to_owned()));
        }
        Ok(self.root.join("totp").join(format!("{approver}.json")))
    }

    /// Enrols (or re-enrols) `approver` with a new TOTP secret; returns it for the authenticator.
    pub fn enroll(&self, approver: &str) -> Result<TotpSecret, StoreError> {
        let path = self.totp_path(approver)?;
        let secret = TotpSecret::generate()?;
        self.save_enrolment(
            &path,
            &Enrolment {
                secret: secret.to_base32(),
                state: TotpState::default(),
            },
        )?;
        Ok(secret)
    }

    fn save_enrolment(&self, path: &Path, e: &Enrolment) -> Result<(), StoreError> {
        let tmp = path.with_extension("json.new");
        let _ = std::fs::remove_file(&tmp);
        let bytes = serde_json::to_vec(e).map_err(|err| StoreError::Damaged {
            path: path.to_path_buf(),
            why: err.to_string(),
        })?;
        write_new(&tmp, &bytes).map_err(io("cannot write", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io("cannot replace", path))
    }

    /// Checks `approver`'s TOTP `code` at `unix_secs`; a code (time step) used before is refused.
    /// Returns the accepted time step.
    pub fn check_totp(
        &self,
        approver: &str,
        code: &str,
        unix_secs: u64,
    ) -> Result<u64, StoreError> {
        let path = self.totp_path(approver)?;
        if !path.exists() {
            return Err(StoreError::NotEnrolled(approver.to_owned()));
        }
        let mut e: Enrolment = read_json(&path)?;
        let secret = TotpSecret::from_base32(&e.secret)?;
        let step = totp::verify(&secret, code, unix_secs, &mut e.state)?;
        self.save_enrolment(&path, &e)?;
        Ok(step)
    }
}
