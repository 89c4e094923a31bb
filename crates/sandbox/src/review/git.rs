//! Running `git` so that nothing outside qwarden's control changes what it does.
//!
//! Every command:
//! - starts from an environment with every inherited `GIT_*` variable removed (a stray
//!   `GIT_DIR`, `GIT_INDEX_FILE` or `GIT_CONFIG_COUNT` in the supervisor's environment must not
//!   redirect it), then sets only the variables below;
//! - ignores the system and the user's global configuration (`GIT_CONFIG_NOSYSTEM=1`,
//!   `GIT_CONFIG_GLOBAL=/dev/null`, git ≥ 2.32) so that, for example, a `commit.gpgSign = true`
//!   or a `core.hooksPath` in `~/.gitconfig` neither breaks nor hooks into it; the repository's
//!   own configuration still applies (it is the user's repository), except for the settings
//!   overridden with `-c` on the command line, which wins over every file:
//!   `core.hooksPath=/dev/null` (no hook runs: `update-ref` would otherwise run the
//!   `reference-transaction` hook), `commit.gpgSign=false`, `core.fsmonitor=false`,
//!   `core.splitIndex=false` and `index.sparse=false` (a temporary index must not leave shared
//!   index files behind or come out sparse), `gc.auto=0` and `maintenance.auto=false`;
//! - runs with `LC_ALL=C` (messages are matched in English), `GIT_TERMINAL_PROMPT=0` and
//!   `GIT_OPTIONAL_LOCKS=0` (no opportunistic rewrite of the user's index).
//!
//! Paths go to git NUL-terminated on standard input, never as arguments, so any byte string
//! works; the one command that parses them as pathspecs (`check-ignore`) gets them prefixed with
//! `./`, which turns off pathspec magic (`:(exclude)x` is a file name there).

use super::ReviewError;
use sha2::{Digest as _, Sha256};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// Configuration forced on every git command (see the module documentation).
const FORCED_CONFIG: &[&str] = &[
    "core.hooksPath=/dev/null",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "core.fsmonitor=false",
    "core.splitIndex=false",
    "index.sparse=false",
    "gc.auto=0",
    "maintenance.auto=false",
];

/// The identity of qwarden's commits, so that no user configuration is needed.
pub(super) const IDENTITY: &[(&str, &str)] = &[
    ("GIT_AUTHOR_NAME", "qwarden"),
    ("GIT_AUTHOR_EMAIL", "qwarden@localhost"),
    ("GIT_COMMITTER_NAME", "qwarden"),
    ("GIT_COMMITTER_EMAIL", "qwarden@localhost"),
];

/// What a finished git command returned.
pub(super) struct Output {
    pub(super) status: ExitStatus,
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
}

/// A git invocation context: the directory it runs in (`git -C`) and extra environment.
#[derive(Clone, Debug)]
pub(super) struct Git {
    dir: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl Git {
    /// Git running in `dir`.
    pub(super) fn new(dir: &Path) -> Git {
        Git {
            dir: dir.to_path_buf(),
            env: Vec::new(),
        }
    }

    /// The same, with one more environment variable.
    pub(super) fn with_env(&self, key: &str, value: impl AsRef<OsStr>) -> Git {
        let mut git = self.clone();
        git.env
            .push((OsString::from(key), value.as_ref().to_os_string()));
        git
    }

    /// The same, committing as qwarden.
    pub(super) fn with_identity(&self) -> Git {
        let mut git = self.clone();
        for (key, value) in IDENTITY {
            git.env.push((OsString::from(key), OsString::from(value)));
        }
        git
    }

    fn command(&self, args: &[OsString]) -> Command {
        let mut command = Command::new("git");
        for (key, _) in std::env::vars_os() {
            if key.as_bytes().starts_with(b"GIT_") {
                command.env_remove(key);
            }
        }
        command
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("LC_ALL", "C")
            .env("LANGUAGE", "C");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.arg("-C").arg(&self.dir);
        for setting in FORCED_CONFIG {
            command.arg("-c").arg(setting);
        }
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// `git <args>` as shown in error messages.
    fn describe(&self, args: &[OsString]) -> String {
        let mut text = String::from("git");
        for arg in args {
            text.push(' ');
            let arg = arg.to_string_lossy();
            if arg.is_empty() {
                text.push_str("\"\"");
            } else {
                text.push_str(&arg);
            }
        }
        text
    }

    fn spawn_error(&self, args: &[OsString], source: io::Error) -> ReviewError {
        if source.kind() == io::ErrorKind::NotFound {
            ReviewError::GitNotFound { source }
        } else {
            ReviewError::GitSpawn {
                command: self.describe(args),
                dir: self.dir.clone(),
                source,
            }
        }
    }

    /// The error for a command that exited unsuccessfully.
    pub(super) fn failure(&self, args: &[OsString], output: &Output) -> ReviewError {
        ReviewError::GitFailed {
            command: self.describe(args),
            dir: self.dir.clone(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        }
    }

    /// Runs `git <args>` with `stdin` as its standard input and returns whatever it returned;
    /// only failing to start it (or to feed it) is an error.
    pub(super) fn output(&self, args: &[OsString], stdin: &[u8]) -> Result<Output, ReviewError> {
        let mut child = self
            .command(args)
            .spawn()
            .map_err(|source| self.spawn_error(args, source))?;
        let pipe = child.stdin.take();
        // Feed stdin from another thread while this one collects stdout and stderr, so that
        // neither side can fill a pipe and wait for the other.
        let (output, fed) = std::thread::scope(|scope| {
            let writer = match pipe {
                Some(mut pipe) if !stdin.is_empty() => Some(
                    std::thread::Builder::new()
                        .name("qwarden-git-stdin".to_owned())
                        .spawn_scoped(scope, move || {
                            // A command that exits without reading all of its input says why
                            // itself (its status and stderr), so a broken pipe here is ignored.
                            let _ = pipe.write_all(stdin);
                        }),
                ),
                // Closing stdin right away: the command sees an empty input.
                other => {
                    drop(other);
                    None
                }
            };
            let output = child.wait_with_output();
            let fed = match writer {
                None => Ok(()),
                Some(Ok(handle)) => {
                    let _ = handle.join();
                    Ok(())
                }
                Some(Err(err)) => Err(err),
            };
            (output, fed)
        });
        let output = output.map_err(|source| self.spawn_error(args, source))?;
        fed.map_err(|source| self.spawn_error(args, source))?;
        Ok(Output {
            status: output.status,
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }

    /// Runs `git <args>` and returns its standard output; a non-zero exit is an error.
    pub(super) fn run(&self, args: &[OsString], stdin: &[u8]) -> Result<Vec<u8>, ReviewError> {
        let output = self.output(args, stdin)?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(self.failure(args, &output))
        }
    }

    /// Runs `git <args>` and returns its standard output as one trimmed line.
    pub(super) fn run_line(&self, args: &[OsString], stdin: &[u8]) -> Result<String, ReviewError> {
        let stdout = self.run(args, stdin)?;
        Ok(String::from_utf8_lossy(&stdout).trim().to_owned())
    }

    /// Writes a blob (`git hash-object -w --no-filters --stdin`) from `source`, streamed, and
    /// returns its object id with the SHA-256 of the bytes that were fed to it. No clean filter,
    /// end-of-line conversion or LFS hook runs: the blob holds exactly these bytes.
    pub(super) fn write_blob(
        &self,
        source: BlobSource<'_>,
    ) -> Result<(String, String), ReviewError> {
        let args = args(["hash-object", "-w", "--no-filters", "--stdin"]);
        let mut child = self
            .command(&args)
            .spawn()
            .map_err(|source| self.spawn_error(&args, source))?;
        let mut hasher = Sha256::new();
        let mut feed_error = None;
        if let Some(mut pipe) = child.stdin.take() {
            let fed = match source {
                BlobSource::Bytes(bytes) => {
                    hasher.update(bytes);
                    pipe.write_all(bytes)
                }
                BlobSource::File(file) => stream(file, &mut pipe, &mut hasher),
            };
            if let Err(err) = fed {
                feed_error = Some(err);
            }
        }
        let output = child
            .wait_with_output()
            .map_err(|source| self.spawn_error(&args, source))?;
        let output = Output {
            status: output.status,
            stdout: output.stdout,
            stderr: output.stderr,
        };
        if !output.status.success() {
            return Err(self.failure(&args, &output));
        }
        if let Some(source) = feed_error {
            return Err(ReviewError::GitSpawn {
                command: self.describe(&args),
                dir: self.dir.clone(),
                source,
            });
        }
        let oid = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        Ok((oid, format!("sha256:{}", hex::encode(hasher.finalize()))))
    }
}

/// Where a blob's bytes come from.
pub(super) enum BlobSource<'a> {
    /// Bytes in memory (a symlink target).
    Bytes(&'a [u8]),
    /// An open regular file, read to its end.
    File(&'a mut File),
}

/// Copies `file` to `out` in 64 KiB chunks, hashing what it copies. Reading errors are returned
/// as they are; the caller's digest check catches short or changed content.
fn stream(file: &mut File, out: &mut impl Write, hasher: &mut Sha256) -> io::Result<()> {
    let mut buffer = vec![0_u8; crate::writeset::HASH_BUFFER_SIZE];
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        let Some(chunk) = buffer.get(..read) else {
            return Ok(());
        };
        hasher.update(chunk);
        out.write_all(chunk)?;
    }
}

/// Command-line arguments from anything path- or string-like.
pub(super) fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    items
        .into_iter()
        .map(|item| item.as_ref().to_os_string())
        .collect()
}

/// `bytes` without one trailing line feed.
pub(super) fn chomp(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\n").unwrap_or(bytes)
}

/// One entry of `git ls-files --stage -z`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct IndexEntry {
    pub(super) mode: String,
    pub(super) oid: String,
}

/// Parses `git ls-files --stage -z` output: `<mode> <oid> <stage>\t<path>\0`…
pub(super) fn parse_index(listing: &[u8]) -> std::collections::BTreeMap<Vec<u8>, IndexEntry> {
    let mut entries = std::collections::BTreeMap::new();
    for record in listing.split(|byte| *byte == 0) {
        let Some(tab) = record.iter().position(|byte| *byte == b'\t') else {
            continue;
        };
        let (meta, path) = record.split_at(tab);
        let path = path.get(1..).unwrap_or_default();
        let mut fields = meta.split(|byte| *byte == b' ');
        let (Some(mode), Some(oid)) = (fields.next(), fields.next()) else {
            continue;
        };
        entries.insert(
            path.to_vec(),
            IndexEntry {
                mode: String::from_utf8_lossy(mode).into_owned(),
                oid: String::from_utf8_lossy(oid).into_owned(),
            },
        );
    }
    entries
}
