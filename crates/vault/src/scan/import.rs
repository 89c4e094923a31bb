//! Moving findings into the vault: naming them ([`assign_names`]), replacing each value in its
//! file with a placeholder ([`rewrite`], [`rewrite_many`]), tightening permissions
//! ([`fix_permissions`]) and saying what to do at the provider ([`rotation_advice`]).
//!
//! The CLI's `qwarden secrets import` puts each finding's [`Finding::secret`] in the vault
//! under its assigned name *first*, and only then rewrites the file with
//! [`placeholder`]`(name)`, so the value always exists somewhere. A rewrite never loses data:
//! it replaces exactly the value's bytes, refuses a file that changed since the scan (its
//! SHA-256 is taken at scan time) or whose bytes at the span are not the value, writes a
//! temporary file in the same directory (mode 0600 from its creation), flushes it to disk and
//! renames it over the original, so on any error the original is untouched. The new file keeps
//! the owner's permission bits and loses the group's and others'. In a JSON file (a saved
//! Qiskit account, a notebook) the placeholder goes inside the JSON string, escaped, and the
//! result is checked to still be JSON.

use std::collections::HashSet;
use std::fs::{self, File, Metadata, OpenOptions, Permissions};
use std::io::{self, Read as _, Write as _};
use std::ops::Range;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::secret::{Provider, Secret};

use super::ScanError;
use super::finding::{Encoding, Finding, FindingKind};
use super::json;

/// How a placeholder written by [`rewrite`] starts. The scanner never reports a value that
/// starts with it.
pub const PLACEHOLDER_PREFIX: &str = "qwarden-vault:";

/// The placeholder for the vault entry `name`: `qwarden-vault:<name>`.
pub fn placeholder(name: &str) -> String {
    format!("{PLACEHOLDER_PREFIX}{name}")
}

/// A vault name for each finding, in order: its [`Finding::suggested_name`], with `-2`, `-3`…
/// when that name is already used in this import for a different value or `is_taken` (the
/// vault already has it). Findings of the same kind with the same value (one key in a `.env`
/// and in a notebook) share a name.
pub fn assign_names(findings: &[Finding], is_taken: impl Fn(&str) -> bool) -> Vec<String> {
    let mut named: Vec<(FindingKind, Secret, String)> = Vec::new();
    let mut used: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(findings.len());
    for f in findings {
        let same = named
            .iter()
            .find(|(k, v, _)| *k == f.kind && v.expose() == f.value.expose());
        if let Some((_, _, name)) = same {
            out.push(name.clone());
            continue;
        }
        let base = f.suggested_name();
        let mut name = base.clone();
        let mut n = 2u32;
        while used.contains(&name) || is_taken(&name) {
            name = format!("{base}-{n}");
            n = n.saturating_add(1);
        }
        used.insert(name.clone());
        named.push((f.kind, f.value.clone(), name.clone()));
        out.push(name);
    }
    out
}

/// What a rewrite did to one finding's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rewritten {
    /// The file.
    pub path: PathBuf,
    /// Where the value was (bytes, in the file as scanned).
    pub span: Range<usize>,
    /// Where the placeholder is now (bytes, in the rewritten file).
    pub placeholder_span: Range<usize>,
    /// The file's permission bits now.
    pub mode: u32,
    /// The file's permission bits before.
    pub previous_mode: u32,
}

/// Replaces the finding's value in its file with `placeholder` (normally
/// [`placeholder`]`(name)`), atomically; see the module documentation for the guarantees.
///
/// A rewrite changes the file, so the other findings of the same scan in that file no longer
/// match it and are refused: rewrite several values of one file together with
/// [`rewrite_many`].
pub fn rewrite(finding: &Finding, placeholder: &str) -> Result<Rewritten, ScanError> {
    let path = file_of(finding)?;
    let done = rewrite_in_place(path, &[(finding, placeholder)])?;
    let placeholder_span = done.spans.into_iter().next().unwrap_or_default();
    Ok(Rewritten {
        path: path.to_path_buf(),
        span: finding.span.clone(),
        placeholder_span,
        mode: done.mode,
        previous_mode: done.previous_mode,
    })
}

/// One rewrite to make: a finding and the placeholder to put in place of its value.
pub type Edit<'a> = (&'a Finding, &'a str);

/// The outcome of [`rewrite_many`] for one file.
#[derive(Debug)]
pub struct FileRewrite {
    /// The file (`None` for findings from the environment, which are refused).
    pub path: Option<PathBuf>,
    /// What was rewritten in it, one entry per edit in the order given; or why the file was
    /// left as it was.
    pub result: Result<Vec<Rewritten>, ScanError>,
}

/// Rewrites several findings, each file once with all of its values (atomically, as
/// [`rewrite`]). Files are independent: the result is one entry per file, in the order the
/// files first appear in `edits`, and a file that fails is left as it was while the others
/// are rewritten.
pub fn rewrite_many(edits: &[Edit<'_>]) -> Vec<FileRewrite> {
    let mut groups: Vec<(Option<&Path>, Vec<Edit<'_>>)> = Vec::new();
    for (f, p) in edits {
        let path = f.path.as_deref();
        match groups.iter_mut().find(|(g, _)| *g == path) {
            Some((_, list)) => list.push((f, p)),
            None => groups.push((path, vec![(f, p)])),
        }
    }
    groups
        .into_iter()
        .map(|(path, list)| FileRewrite {
            path: path.map(Path::to_path_buf),
            result: rewrite_group(path, &list),
        })
        .collect()
}

/// The edits of one file, together.
fn rewrite_group(path: Option<&Path>, edits: &[Edit<'_>]) -> Result<Vec<Rewritten>, ScanError> {
    let Some((first, _)) = edits.first() else {
        return Ok(Vec::new());
    };
    let path = path.ok_or_else(|| not_a_file(first))?;
    let done = rewrite_in_place(path, edits)?;
    Ok(edits
        .iter()
        .zip(done.spans)
        .map(|((f, _), placeholder_span)| Rewritten {
            path: path.to_path_buf(),
            span: f.span.clone(),
            placeholder_span,
            mode: done.mode,
            previous_mode: done.previous_mode,
        })
        .collect())
}

/// The content of a file with the findings' values replaced by the placeholders, without
/// touching the disk; every finding must come from a scan of exactly `content`. [`rewrite`]
/// and [`rewrite_many`] are this plus the atomic write.
pub fn rewrite_content(
    content: &[u8],
    edits: &[Edit<'_>],
) -> Result<Zeroizing<Vec<u8>>, ScanError> {
    apply(content, edits).map(|a| a.content)
}

fn file_of(f: &Finding) -> Result<&Path, ScanError> {
    f.path.as_deref().ok_or_else(|| not_a_file(f))
}

fn not_a_file(f: &Finding) -> ScanError {
    ScanError::NotAFile {
        key: f.key.clone().unwrap_or_default(),
    }
}

/// The placeholder characters: safe unquoted in shell, INI, YAML and `.env` files and inside
/// any quoted string.
fn check_placeholder(p: &str) -> Result<(), ScanError> {
    let reason = if p.is_empty() {
        "is empty"
    } else if p.len() > 256 {
        "is longer than 256 characters"
    } else if !p
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        "has characters other than letters, digits, `.`, `_`, `:` and `-`"
    } else {
        return Ok(());
    };
    Err(ScanError::BadPlaceholder { reason })
}

/// New content, and where each placeholder landed in it (in the order of the edits).
struct Applied {
    content: Zeroizing<Vec<u8>>,
    spans: Vec<Range<usize>>,
}

/// Checks every edit against `content` and builds the new content.
fn apply(content: &[u8], edits: &[Edit<'_>]) -> Result<Applied, ScanError> {
    let digest: [u8; 32] = Sha256::digest(content).into();
    let mut order: Vec<(usize, &Finding, &str)> = Vec::with_capacity(edits.len());
    for (i, (f, p)) in edits.iter().enumerate() {
        let path = file_of(f)?.to_path_buf();
        check_placeholder(p)?;
        if f.digest != Some(digest) {
            return Err(ScanError::Changed { path });
        }
        let mismatch = || ScanError::SpanMismatch {
            path: path.clone(),
            span: f.span.clone(),
        };
        let at = content.get(f.span.clone()).ok_or_else(mismatch)?;
        let holds = match f.encoding {
            Encoding::Raw => at == f.value.expose().as_bytes(),
            Encoding::JsonString => {
                !at.contains(&b'"')
                    && json::decode(at, 0..at.len())
                        .is_some_and(|d| d.text.as_slice() == f.value.expose().as_bytes())
            }
        };
        if !holds {
            return Err(mismatch());
        }
        order.push((i, f, p));
    }
    order.sort_by_key(|(_, f, _)| f.span.start);
    for pair in order.windows(2) {
        if let [(_, a, _), (_, b, _)] = pair
            && a.span.end > b.span.start
        {
            return Err(ScanError::Overlap {
                path: file_of(b)?.to_path_buf(),
                first: a.span.clone(),
                second: b.span.clone(),
            });
        }
    }
    let mut out = Zeroizing::new(Vec::with_capacity(content.len() + 64 * edits.len()));
    let mut spans = vec![0..0; edits.len()];
    let mut last = 0;
    for (i, f, p) in &order {
        out.extend_from_slice(content.get(last..f.span.start).unwrap_or_default());
        let text = match f.encoding {
            Encoding::Raw => (*p).to_owned(),
            Encoding::JsonString => json::escape(p),
        };
        let start = out.len();
        out.extend_from_slice(text.as_bytes());
        if let Some(s) = spans.get_mut(*i) {
            *s = start..out.len();
        }
        last = f.span.end;
    }
    out.extend_from_slice(content.get(last..).unwrap_or_default());
    let json_file = order.iter().any(|(_, f, _)| {
        f.encoding == Encoding::JsonString || f.file_kind.is_some_and(|k| k.is_json())
    });
    if json_file && json::is_valid(content) && !json::is_valid(&out) {
        let path = order
            .first()
            .and_then(|(_, f, _)| f.path.clone())
            .unwrap_or_default();
        return Err(ScanError::WouldBreakJson { path });
    }
    Ok(Applied {
        content: out,
        spans,
    })
}

/// What [`rewrite_in_place`] did.
struct Done {
    spans: Vec<Range<usize>>,
    mode: u32,
    previous_mode: u32,
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> ScanError + 'a {
    move |source| ScanError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Opens a file (or directory) without following a link, and checks that it is the one
/// `listed` describes.
fn open_listed(path: &Path, listed: &Metadata, flags: i32) -> Result<File, ScanError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | flags)
        .open(path)
        .map_err(io_err(path, "open"))?;
    let opened = file.metadata().map_err(io_err(path, "inspect"))?;
    if opened.dev() != listed.dev() || opened.ino() != listed.ino() {
        return Err(ScanError::Changed {
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

/// Lists `path`, refusing links, non-files and files with other names (hard links).
fn list_file(path: &Path) -> Result<Metadata, ScanError> {
    let listed = fs::symlink_metadata(path).map_err(io_err(path, "inspect"))?;
    if listed.file_type().is_symlink() {
        return Err(ScanError::Symlink {
            path: path.to_path_buf(),
        });
    }
    if !listed.is_file() {
        return Err(ScanError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    if listed.nlink() > 1 {
        return Err(ScanError::HardLinks {
            path: path.to_path_buf(),
            links: listed.nlink(),
        });
    }
    Ok(listed)
}

fn read_listed(path: &Path, listed: &Metadata) -> Result<Zeroizing<Vec<u8>>, ScanError> {
    let mut file = open_listed(path, listed, 0)?;
    let mut content = Zeroizing::new(Vec::with_capacity(
        usize::try_from(listed.len()).unwrap_or(0).saturating_add(1),
    ));
    file.read_to_end(&mut content)
        .map_err(io_err(path, "read"))?;
    Ok(content)
}

/// A temporary file, removed when dropped unless it was renamed into place.
struct Temp {
    path: PathBuf,
    armed: bool,
}

impl Drop for Temp {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: the original is untouched either way.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Creates a new temporary file next to `path`, mode 0600.
fn temp_beside(path: &Path) -> Result<(Temp, File), ScanError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempt = 0;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.qwarden-{}-{n}.tmp", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
        {
            Ok(file) => {
                return Ok((
                    Temp {
                        path: tmp,
                        armed: true,
                    },
                    file,
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => attempt += 1,
            Err(e) => return Err(io_err(path, "create a temporary file beside")(e)),
        }
    }
}

/// The atomic rewrite of one file.
fn rewrite_in_place(path: &Path, edits: &[Edit<'_>]) -> Result<Done, ScanError> {
    let listed = list_file(path)?;
    let content = read_listed(path, &listed)?;
    let Applied {
        content: new,
        spans,
    } = apply(&content, edits)?;
    let previous_mode = listed.mode() & 0o7777;
    let mode = previous_mode & 0o700;

    let (mut temp, mut file) = temp_beside(path)?;
    file.write_all(&new)
        .map_err(io_err(path, "write the new content of"))?;
    let created = file
        .metadata()
        .map_err(io_err(path, "inspect the temporary file for"))?;
    if created.uid() != listed.uid() || created.gid() != listed.gid() {
        std::os::unix::fs::fchown(&file, Some(listed.uid()), Some(listed.gid()))
            .map_err(io_err(path, "give the new file the owner of"))?;
    }
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(io_err(path, "set the permissions of the new"))?;
    file.sync_all()
        .map_err(io_err(path, "flush the new content of"))?;
    drop(file);

    #[cfg(test)]
    if tests::fail_before_rename() {
        return Err(io_err(path, "replace")(io::Error::other(
            "injected failure",
        )));
    }
    // The last check before the swap: the file is still the one scanned, unchanged.
    let again = list_file(path)?;
    let unchanged = again.dev() == listed.dev()
        && again.ino() == listed.ino()
        && read_listed(path, &again)?.as_slice() == content.as_slice();
    if !unchanged {
        return Err(ScanError::Changed {
            path: path.to_path_buf(),
        });
    }
    fs::rename(&temp.path, path).map_err(io_err(path, "replace"))?;
    temp.armed = false;
    // Make the rename durable. The new content is already in place, so a failure here is not
    // an error of the rewrite.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(Done {
        spans,
        mode,
        previous_mode,
    })
}

/// A permission change made by [`fix_permissions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PermissionChange {
    /// The file or directory.
    pub path: PathBuf,
    /// Its permission bits before.
    pub before: u32,
    /// Its permission bits now.
    pub after: u32,
}

/// Makes a file that holds (or held) credentials 0600 (keeping the owner's execute bit, for
/// scripts) and a credentials directory (`~/.qiskit`, `~/.aws`, `~/.qnx`) 0700. `None` if it
/// already was. Refuses symbolic links; never follows one.
pub fn fix_permissions(path: &Path) -> Result<Option<PermissionChange>, ScanError> {
    let listed = fs::symlink_metadata(path).map_err(io_err(path, "inspect"))?;
    let before = listed.mode() & 0o7777;
    let (after, flags) = if listed.file_type().is_symlink() {
        return Err(ScanError::Symlink {
            path: path.to_path_buf(),
        });
    } else if listed.is_dir() {
        (0o700, libc::O_DIRECTORY)
    } else if listed.is_file() {
        (0o600 | (before & 0o100), 0)
    } else {
        return Err(ScanError::NotRegular {
            path: path.to_path_buf(),
        });
    };
    if before == after {
        return Ok(None);
    }
    let file = open_listed(path, &listed, flags)?;
    file.set_permissions(Permissions::from_mode(after))
        .map_err(io_err(path, "change the permissions of"))?;
    Ok(Some(PermissionChange {
        path: path.to_path_buf(),
        before,
        after,
    }))
}

/// The credentials directories under `home` that exist (`~/.qiskit`, `~/.aws`, `~/.qnx`,
/// `~/.qnx/auth`), for [`fix_permissions`].
pub fn credential_dirs(home: &Path) -> Vec<PathBuf> {
    [".qiskit", ".aws", ".qnx", ".qnx/auth"]
        .into_iter()
        .map(|d| home.join(d))
        .filter(|d| fs::symlink_metadata(d).is_ok_and(|m| m.is_dir()))
        .collect()
}

/// What to do at the provider now that a key was on disk in plaintext: anything that could
/// read the file (a backup, a synced folder, an agent before qwarden) may have copied it, so
/// the key moved into the vault should be replaced by a new one and the old one revoked.
pub fn rotation_advice(provider: Provider) -> &'static str {
    match provider {
        Provider::Ibm => {
            "IBM Quantum Platform: create a new API key at https://cloud.ibm.com/iam/apikeys \
             (Manage > Access (IAM) > API keys), store it with `qwarden secrets rotate`, check \
             that a job runs, then delete the old key on the same page. A legacy IBM Quantum \
             token (128 hex characters) belongs to the retired ibm_quantum channel: move to an \
             IBM Cloud API key."
        }
        Provider::Ionq => {
            "IonQ: create a new API key at https://cloud.ionq.com/settings/keys, store it with \
             `qwarden secrets rotate`, check that a job runs, then revoke the old key on the \
             same page."
        }
        Provider::Aws => {
            "AWS: in IAM (console > IAM > Users > Security credentials, or `aws iam \
             create-access-key`), create a new access key, store it with `qwarden secrets \
             rotate`, deactivate the old key (`aws iam update-access-key --status Inactive`), \
             check that nothing breaks, then delete it (`aws iam delete-access-key`). For \
             temporary credentials (ASIA…), revoke the role's active sessions (IAM > Roles > \
             Revoke sessions); they also expire on their own."
        }
        Provider::Quantinuum => {
            "Quantinuum Nexus: sign out of every session and revoke the tokens in your account \
             settings at https://nexus.quantinuum.com (or reset your password, which revokes \
             them), change the password if it was on disk, then log in again through qwarden \
             so the new tokens go into the vault."
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    thread_local! {
        static FAIL_BEFORE_RENAME: Cell<bool> = const { Cell::new(false) };
    }

    /// Makes the next rewrite on this thread fail after writing its temporary file.
    pub(crate) fn inject_failure_before_rename() {
        FAIL_BEFORE_RENAME.with(|f| f.set(true));
    }

    pub(super) fn fail_before_rename() -> bool {
        FAIL_BEFORE_RENAME.with(|f| f.replace(false))
    }
}
