//! Staging's review mode: the agent writes to a copy, a human reviews a branch or a patch.
//!
//! In the staging tier an agent's writes must not land in the working tree. [`ReviewCopy::create`]
//! copies a write scope (including its `.git`, so the agent can run git) to a scratch directory
//! that the sandbox mounts at the scope's path, and snapshots the copy: that snapshot is exactly
//! what the agent was given. When the session ends, [`ReviewCopy::finish`] turns the copy's
//! changes into something a human reviews and merges:
//!
//! - if the scope is in a git work tree, a branch `qwarden/<session id>` holding one commit whose
//!   parent is the commit HEAD named when the copy was made (no parent if HEAD was unborn), and
//!   whose tree is that commit's tree with the agent's changes applied. It is built with plumbing
//!   and a temporary index file: the working tree, the user's index, HEAD and every other ref
//!   stay untouched; only new objects and the new branch (with its reflog) are written;
//! - otherwise a git-style binary patch `<patch dir>/<session id>.patch` with paths relative to
//!   the scope, which `git apply` (and, for text files, `patch -p1`) applies in the scope.
//!
//! # Which changes are applied
//!
//! The changes are [`diff`] of the snapshot taken at copy time and one taken now, with paths
//! mapped back from the copy to the scope. Every change lands in exactly one list of the
//! [`ReviewOutcome`]:
//! - `refused`: at or under one of [`FinishOptions::protected`] (checked first);
//! - `ignored`: not applied because git does not or should not carry it: anything with a `.git`
//!   path component (the copy's repository, nested repositories), changes [`diff`] could not
//!   verify (unreadable entries; they carry a note), directories themselves (git tracks files),
//!   fifos and other special files, permission changes git cannot express (anything but the user
//!   exec bit), changes that leave the file as it is in the base commit, deletions of files the
//!   base commit does not have, paths inside submodules, paths git refuses to store (`git~1`,
//!   `.git.`, a symlinked `.gitmodules`…; git itself is asked), and new files that the
//!   repository's ignore rules (its `.gitignore` files as they were in the original scope and
//!   `.git/info/exclude`) exclude;
//! - `files`: everything else, which the commit or patch contains.
//!
//! A file's content is read from the copy when the branch or patch is built and must still hash
//! to the digest in the snapshot, else [`ReviewError::ContentChanged`]: finish only after every
//! process of the session has exited.
//!
//! # Concurrent changes to the original
//!
//! The user may keep working in the scope while the agent works on the copy. On a branch this is
//! harmless: its parent is the commit the agent started from, so `git merge` does a three-way
//! merge. Note that a file that had uncommitted changes when the copy was made and that the agent
//! then changed carries those changes into the commit too (the commit holds the whole file). A
//! patch is built against the scope as it is when [`ReviewCopy::finish`] runs, so it applies
//! there; files that changed in the scope since the copy was made are listed as `stale` because
//! their hunks also undo those changes.
//!
//! # Cost
//!
//! Creating a review copy reads and writes the whole scope once (or shares extents where the
//! filesystem can) and hashes it once; finishing re-hashes only what changed (see
//! [`Snapshot::refresh`]) and runs one short `git hash-object` per changed file plus a handful of
//! other git commands.

mod copy;
mod git;

use crate::writeset::{Change, EntryKind, Op, Snapshot, WriteSetError, diff};
use git::{BlobSource, Git, IndexEntry, args, chomp, parse_index};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The prefix of review branch names: `qwarden/<session id>`.
pub const BRANCH_PREFIX: &str = "qwarden/";

/// Why a review copy could not be made, finished or discarded.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The write scope does not exist.
    #[error(
        "write scope `{}` does not exist; create it or remove it from the grant",
        scope.display()
    )]
    ScopeMissing {
        /// The scope.
        scope: PathBuf,
    },
    /// The write scope is not a directory.
    #[error(
        "write scope `{}` is not a directory; review mode copies directory scopes only",
        scope.display()
    )]
    ScopeNotDirectory {
        /// The scope.
        scope: PathBuf,
    },
    /// The review copy's directory already has something in it.
    #[error(
        "review copy directory `{}` exists and is not empty; pass a new or empty directory",
        copy.display()
    )]
    CopyNotEmpty {
        /// The copy's directory.
        copy: PathBuf,
    },
    /// The review copy would be inside the scope, or the scope inside the copy.
    #[error(
        "review copy directory `{}` overlaps write scope `{}`; put the copy outside the scope",
        copy.display(),
        scope.display()
    )]
    CopyOverlapsScope {
        /// The scope.
        scope: PathBuf,
        /// The copy's directory.
        copy: PathBuf,
    },
    /// A filesystem operation failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Snapshotting the copy failed.
    #[error(transparent)]
    Snapshot(#[from] WriteSetError),
    /// There is no `git` on `PATH`.
    #[error("cannot run `git`: {source}; review mode needs git, install it and put it on PATH")]
    GitNotFound {
        /// The underlying error.
        source: io::Error,
    },
    /// A git command could not be started or fed.
    #[error("cannot run `{command}` in `{}`: {source}", dir.display())]
    GitSpawn {
        /// The command.
        command: String,
        /// Where it ran.
        dir: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A git command failed.
    #[error("`{command}` failed in `{}` ({status}): {stderr}", dir.display())]
    GitFailed {
        /// The command.
        command: String,
        /// Where it ran.
        dir: PathBuf,
        /// How it exited.
        status: String,
        /// What it said on standard error.
        stderr: String,
    },
    /// The session id cannot name a branch or a patch file.
    #[error("session id `{id}` cannot name a review branch or patch: {reason}")]
    InvalidSessionId {
        /// The id.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The review branch exists already.
    #[error(
        "branch `{branch}` already exists in `{}`; nothing was changed. Merge or delete it \
         (`git -C {} branch -D {branch}`) or use a new session id",
        repo.display(),
        shell_quote(repo)
    )]
    BranchExists {
        /// The repository.
        repo: PathBuf,
        /// The branch.
        branch: String,
    },
    /// The patch file exists already.
    #[error(
        "patch `{}` already exists; nothing was changed. Move it away or use a new session id",
        path.display()
    )]
    PatchExists {
        /// The patch file.
        path: PathBuf,
    },
    /// A file in the copy no longer has the content the snapshot recorded.
    #[error(
        "`{}` in the review copy changed while the review was being built (expected {expected}, \
         read {found}); make sure every process of the session has exited, then finish again",
        path.display()
    )]
    ContentChanged {
        /// The file in the copy.
        path: PathBuf,
        /// The digest in the snapshot.
        expected: String,
        /// The digest of what was read.
        found: String,
    },
}

/// Something in the scope that was not copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The path in the scope.
    pub path: PathBuf,
    /// Why it was not copied.
    pub reason: String,
}

/// What [`ReviewCopy::finish`] needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishOptions {
    /// The session id: names the branch `qwarden/<id>` and the patch `<id>.patch`. ASCII letters,
    /// digits, `-`, `_` and `.`; starts with a letter or digit; at most 128 characters.
    pub session_id: String,
    /// Who made the changes, for the commit message.
    pub agent: String,
    /// Absolute paths in the original scope's coordinates: a change at or under one of them is
    /// refused, not applied, and listed.
    pub protected: Vec<PathBuf>,
    /// Where a patch is written when the scope is not in a git repository (created if missing).
    pub patch_dir: PathBuf,
}

/// The result of [`ReviewCopy::finish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewOutcome {
    /// Nothing to review: no branch or patch was made. Refused and ignored changes are still
    /// listed (an attempt to write a protected path matters even when nothing else changed).
    NoChanges {
        /// Changes to protected paths, not applied.
        refused: Vec<Change>,
        /// Changes not applied for the reasons in the module documentation.
        ignored: Vec<Change>,
    },
    /// The changes are on a new branch.
    Branch {
        /// The repository's top directory.
        repo: PathBuf,
        /// The branch name, `qwarden/<session id>`.
        branch: String,
        /// The commit's object id.
        commit: String,
        /// The changes the commit contains (paths in the scope).
        files: Vec<Change>,
        /// Changes to protected paths, not applied.
        refused: Vec<Change>,
        /// Changes not applied for the reasons in the module documentation.
        ignored: Vec<Change>,
    },
    /// The changes are in a patch file.
    Patch {
        /// The patch file.
        path: PathBuf,
        /// The scope it applies to (its paths are relative to it).
        scope: PathBuf,
        /// The changes the patch contains (paths in the scope).
        files: Vec<Change>,
        /// Changes to protected paths, not applied.
        refused: Vec<Change>,
        /// Changes not applied for the reasons in the module documentation.
        ignored: Vec<Change>,
        /// Paths that changed in the scope since the copy was made: the patch was built against
        /// their current content, so its hunks for them also undo those changes.
        stale: Vec<PathBuf>,
    },
}

impl ReviewOutcome {
    /// The changes that were refused because they touch protected paths.
    pub fn refused(&self) -> &[Change] {
        match self {
            ReviewOutcome::NoChanges { refused, .. }
            | ReviewOutcome::Branch { refused, .. }
            | ReviewOutcome::Patch { refused, .. } => refused,
        }
    }

    /// The changes that were not applied for the reasons in the module documentation.
    pub fn ignored(&self) -> &[Change] {
        match self {
            ReviewOutcome::NoChanges { ignored, .. }
            | ReviewOutcome::Branch { ignored, .. }
            | ReviewOutcome::Patch { ignored, .. } => ignored,
        }
    }

    /// The changes the branch or patch contains (none for [`ReviewOutcome::NoChanges`]).
    pub fn files(&self) -> &[Change] {
        match self {
            ReviewOutcome::NoChanges { .. } => &[],
            ReviewOutcome::Branch { files, .. } | ReviewOutcome::Patch { files, .. } => files,
        }
    }

    /// What the human does next: the exact commands to review and merge (or drop) the changes,
    /// with paths quoted for a POSIX shell, followed by the refused paths if any.
    pub fn instructions(&self) -> String {
        let mut text = String::new();
        match self {
            ReviewOutcome::NoChanges { .. } => {
                text.push_str("The agent left no changes to review.\n");
            }
            ReviewOutcome::Branch {
                repo,
                branch,
                commit,
                files,
                ..
            } => {
                let repo = shell_quote(repo);
                let _ = write!(
                    text,
                    "The agent's changes ({} file{}) are on branch {branch} (commit {commit}).\n\
                     Review them:\n    git -C {repo} log -p HEAD..{branch}\n\
                     Merge them:\n    git -C {repo} merge {branch}\n\
                     Or drop them:\n    git -C {repo} branch -D {branch}\n",
                    files.len(),
                    if files.len() == 1 { "" } else { "s" },
                );
            }
            ReviewOutcome::Patch {
                path,
                scope,
                files,
                stale,
                ..
            } => {
                let patch = shell_quote(path);
                let _ = write!(
                    text,
                    "The agent's changes ({} file{}) are in the patch {}.\n\
                     Review it:\n    git apply --stat {patch}\n    less {patch}\n\
                     Apply it:\n    git -C {} apply {patch}\n",
                    files.len(),
                    if files.len() == 1 { "" } else { "s" },
                    path.display(),
                    shell_quote(scope),
                );
                if !stale.is_empty() {
                    text.push_str(
                        "These files changed in the scope while the agent worked; their hunks \
                         also undo those changes, review them closely:\n",
                    );
                    for path in stale {
                        let _ = writeln!(text, "    {}", path.display());
                    }
                }
            }
        }
        let refused = self.refused();
        if !refused.is_empty() {
            text.push_str("Refused (protected paths; not applied):\n");
            for change in refused {
                let _ = writeln!(text, "    {} {}", change.op.as_str(), change.path.display());
            }
        }
        text
    }
}

/// The git repository a scope is in, as it was when the copy was made.
#[derive(Clone, Debug)]
struct Repo {
    /// `git rev-parse --show-toplevel`.
    toplevel: PathBuf,
    /// `git rev-parse --show-prefix`: the scope's path in the repository, with a trailing `/`
    /// (empty at the top).
    prefix: Vec<u8>,
    /// The commit HEAD named, if HEAD was born.
    head: Option<String>,
}

/// A scratch copy of one write scope for staging's review mode.
#[derive(Clone, Debug)]
pub struct ReviewCopy {
    scope: PathBuf,
    scope_real: PathBuf,
    copy: PathBuf,
    given: Snapshot,
    skipped: Vec<Skipped>,
    repo: Option<Repo>,
}

impl ReviewCopy {
    /// Copies the directory `scope` (everything below it, `.git` included) into `copy`, which
    /// must not exist yet or be an empty directory, and snapshots the copy. Regular files are
    /// copied with [`std::fs::copy`] (`copy_file_range`, so extents are shared where the
    /// filesystem can), symlinks as symlinks; permission bits and the mtimes of files and
    /// directories are preserved (not ownership, xattrs or hard links); fifos, sockets, devices,
    /// nested mount points and unreadable entries are skipped and listed in
    /// [`ReviewCopy::skipped`]. Finds out now whether the scope is in a git work tree, and the
    /// commit HEAD names (the review branch's parent).
    ///
    /// # Errors
    ///
    /// A missing or non-directory scope, a non-empty copy directory, a copy inside the scope
    /// (or the reverse), no `git` on `PATH`, a failing git command other than "not a git
    /// repository", or an I/O error while copying. On error, whatever was copied is removed.
    pub fn create(scope: &Path, copy: &Path) -> Result<ReviewCopy, ReviewError> {
        let scope = absolute(scope)?;
        match fs::metadata(&scope) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(ReviewError::ScopeNotDirectory { scope }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(ReviewError::ScopeMissing { scope });
            }
            Err(source) => {
                return Err(ReviewError::Io {
                    action: "examine the write scope",
                    path: scope,
                    source,
                });
            }
        }
        let scope_real = fs::canonicalize(&scope).map_err(|source| ReviewError::Io {
            action: "resolve the write scope",
            path: scope.clone(),
            source,
        })?;
        let copy = absolute(copy)?;
        let created = prepare_copy_dir(&copy)?;
        let cleanup = |copy: &Path| {
            if created {
                let _ = copy::remove_tree(copy);
            } else if let Ok(listing) = fs::read_dir(copy) {
                for item in listing.flatten() {
                    let _ = copy::remove_tree(&item.path());
                }
            }
        };
        let result = (|| {
            let copy_real = fs::canonicalize(&copy).map_err(|source| ReviewError::Io {
                action: "resolve the review copy directory",
                path: copy.clone(),
                source,
            })?;
            if copy_real.starts_with(&scope_real) || scope_real.starts_with(&copy_real) {
                return Err(ReviewError::CopyOverlapsScope {
                    scope: scope.clone(),
                    copy: copy.clone(),
                });
            }
            let repo = detect_repo(&scope)?;
            let mut skipped = Vec::new();
            copy::copy_tree(&scope, &copy, &mut skipped)?;
            let given = Snapshot::take(std::slice::from_ref(&copy))?;
            Ok((repo, skipped, given))
        })();
        match result {
            Ok((repo, skipped, given)) => Ok(ReviewCopy {
                scope,
                scope_real,
                copy,
                given,
                skipped,
                repo,
            }),
            Err(err) => {
                cleanup(&copy);
                Err(err)
            }
        }
    }

    /// The write scope (absolute).
    pub fn scope(&self) -> &Path {
        &self.scope
    }

    /// The copy (absolute): what the sandbox mounts at the scope's path.
    pub fn copy(&self) -> &Path {
        &self.copy
    }

    /// The snapshot of the copy taken right after copying: what the agent was given.
    pub fn given(&self) -> &Snapshot {
        &self.given
    }

    /// What was not copied, and why.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// The top directory of the git work tree the scope is in, if it is in one.
    pub fn repo_root(&self) -> Option<&Path> {
        self.repo.as_ref().map(|repo| repo.toplevel.as_path())
    }

    /// The commit HEAD named when the copy was made (the review branch's parent), if the scope
    /// is in a git work tree whose HEAD was born.
    pub fn base_commit(&self) -> Option<&str> {
        self.repo.as_ref().and_then(|repo| repo.head.as_deref())
    }

    /// Turns the copy's changes into a review branch or a patch (see the module documentation).
    /// The copy is left as it is: [`ReviewCopy::discard`] removes it.
    ///
    /// # Errors
    ///
    /// An invalid session id, an existing branch or patch of that name (nothing is changed
    /// then), a failing git command (with its command line and stderr), a file in the copy that
    /// changed after it was snapshotted, or an I/O error.
    pub fn finish(&self, options: &FinishOptions) -> Result<ReviewOutcome, ReviewError> {
        validate_session_id(&options.session_id)?;
        let now = self.given.refresh(std::slice::from_ref(&self.copy))?;
        let sorted = self.sort(diff(&self.given, &now), &options.protected);
        match &self.repo {
            Some(repo) => self.finish_branch(repo, options, sorted),
            None => self.finish_patch(options, sorted),
        }
    }

    /// Removes the copy.
    ///
    /// # Errors
    ///
    /// The copy could not be removed (even after making its directories writable).
    pub fn discard(self) -> Result<(), ReviewError> {
        copy::remove_tree(&self.copy)
    }

    /// Maps changes back to the scope and sorts them into refused, ignored and candidates.
    fn sort(&self, changes: Vec<Change>, protected: &[PathBuf]) -> Sorted {
        let mut sorted = Sorted::default();
        for mut change in changes {
            let Ok(relative) = change.path.strip_prefix(&self.copy).map(Path::to_path_buf) else {
                // The snapshot only has paths below the copy; nothing else can appear.
                continue;
            };
            change.path = self.scope.join(&relative);
            let real = self.scope_real.join(&relative);
            if protected
                .iter()
                .any(|path| change.path.starts_with(path) || real.starts_with(path))
            {
                sorted.refused.push(change);
                continue;
            }
            let in_git_dir = relative.components().any(|component| {
                matches!(component, Component::Normal(name)
                    if name.as_bytes().eq_ignore_ascii_case(b".git"))
            });
            if in_git_dir || change.note.is_some() {
                sorted.ignored.push(change);
                continue;
            }
            let writable = |kind: Option<EntryKind>| {
                matches!(kind, Some(EntryKind::File | EntryKind::Symlink))
            };
            let action = match change.op {
                Op::Create | Op::Modify if writable(Some(change.kind)) => Action::Write,
                Op::Delete if writable(Some(change.kind)) => Action::Remove,
                // A file or symlink that became a directory or a special file.
                Op::Modify if writable(change.kind_before()) => Action::Remove,
                _ => {
                    sorted.ignored.push(change);
                    continue;
                }
            };
            sorted.candidates.push(Candidate {
                change,
                relative,
                action,
            });
        }
        sorted
    }

    fn finish_branch(
        &self,
        repo: &Repo,
        options: &FinishOptions,
        sorted: Sorted,
    ) -> Result<ReviewOutcome, ReviewError> {
        let Sorted {
            candidates,
            refused,
            mut ignored,
        } = sorted;
        let branch = format!("{BRANCH_PREFIX}{}", options.session_id);
        let refname = format!("refs/heads/{branch}");
        let git = Git::new(&repo.toplevel);
        let branch_exists = || ReviewError::BranchExists {
            repo: repo.toplevel.clone(),
            branch: branch.clone(),
        };
        let show_ref = args(["show-ref", "--verify", "--quiet", refname.as_str()]);
        let shown = git.output(&show_ref, b"")?;
        match shown.status.code() {
            Some(0) => return Err(branch_exists()),
            Some(1) => {}
            _ => return Err(git.failure(&show_ref, &shown)),
        }

        let temp = TempDir::new()?;
        let indexed = git.with_env("GIT_INDEX_FILE", temp.path().join("index"));
        if let Some(head) = &repo.head {
            indexed.run(&args(["read-tree", head.as_str()]), b"")?;
        }
        let index = parse_index(&indexed.run(&args(["ls-files", "--stage", "-z"]), b"")?);
        let submodules: Vec<&Vec<u8>> = index
            .iter()
            .filter(|(_, entry)| entry.mode == "160000")
            .map(|(path, _)| path)
            .collect();

        let in_repo = |relative: &Path| {
            let mut path = repo.prefix.clone();
            path.extend_from_slice(relative.as_os_str().as_bytes());
            path
        };
        let excluded = excluded_by_ignore_rules(
            &git,
            candidates
                .iter()
                .filter(|candidate| candidate.action == Action::Write)
                .map(|candidate| in_repo(&candidate.relative))
                .filter(|path| !index.contains_key(path)),
        )?;
        let storable = storable_paths(&git, &temp, &candidates, &in_repo)?;

        let mut files = Vec::new();
        let mut removals: Vec<Vec<u8>> = Vec::new();
        let mut additions: Vec<(String, String, Vec<u8>)> = Vec::new();
        for candidate in candidates {
            let path = in_repo(&candidate.relative);
            if candidate.action == Action::Write && !storable.contains(&path) {
                ignored.push(candidate.change);
                continue;
            }
            let in_submodule = submodules.iter().any(|submodule| {
                path.strip_prefix(submodule.as_slice())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
            });
            if in_submodule {
                ignored.push(candidate.change);
                continue;
            }
            match candidate.action {
                Action::Remove => {
                    if index.contains_key(&path) {
                        removals.push(path);
                        files.push(candidate.change);
                    } else {
                        ignored.push(candidate.change);
                    }
                }
                Action::Write => {
                    if excluded.contains(&path) {
                        ignored.push(candidate.change);
                        continue;
                    }
                    let (mode, oid) = self.write_blob(&git, &candidate)?;
                    let current = IndexEntry {
                        mode: mode.to_owned(),
                        oid,
                    };
                    if index.get(&path) == Some(&current) {
                        ignored.push(candidate.change);
                    } else {
                        additions.push((current.mode, current.oid, path));
                        files.push(candidate.change);
                    }
                }
            }
        }
        if files.is_empty() {
            return Ok(ReviewOutcome::NoChanges { refused, ignored });
        }

        if !removals.is_empty() {
            indexed.run(
                &args(["update-index", "--force-remove", "-z", "--stdin"]),
                &nul_joined(removals.iter().map(Vec::as_slice)),
            )?;
        }
        if !additions.is_empty() {
            let mut records = Vec::new();
            for (mode, oid, path) in &additions {
                records.extend_from_slice(format!("{mode} {oid}\t").as_bytes());
                records.extend_from_slice(path);
                records.push(0);
            }
            indexed.run(&args(["update-index", "-z", "--index-info"]), &records)?;
        }
        let tree = indexed.run_line(&args(["write-tree"]), b"")?;

        let message = commit_message(options, &self.scope, repo, &files, &refused);
        let mut commit_tree = args(["commit-tree", tree.as_str()]);
        if let Some(head) = &repo.head {
            commit_tree.extend(args(["-p", head.as_str()]));
        }
        commit_tree.extend(args(["-F", "-"]));
        let commit = git.with_identity().run_line(&commit_tree, &message)?;

        let update_ref = args([
            "update-ref",
            "-m",
            &format!("qwarden: review branch for session {}", options.session_id),
            refname.as_str(),
            commit.as_str(),
            "",
        ]);
        let updated = git.with_identity().output(&update_ref, b"")?;
        if !updated.status.success() {
            if String::from_utf8_lossy(&updated.stderr).contains("already exists") {
                return Err(branch_exists());
            }
            return Err(git.failure(&update_ref, &updated));
        }
        Ok(ReviewOutcome::Branch {
            repo: repo.toplevel.clone(),
            branch,
            commit,
            files,
            refused,
            ignored,
        })
    }

    fn finish_patch(
        &self,
        options: &FinishOptions,
        sorted: Sorted,
    ) -> Result<ReviewOutcome, ReviewError> {
        let Sorted {
            candidates,
            refused,
            mut ignored,
        } = sorted;
        let patch_path = options
            .patch_dir
            .join(format!("{}.patch", options.session_id));
        if fs::symlink_metadata(&patch_path).is_ok() {
            return Err(ReviewError::PatchExists { path: patch_path });
        }

        let temp = TempDir::new()?;
        let git_dir = temp.path().join("objects.git");
        Git::new(temp.path()).run(
            &[
                OsString::from("init"),
                OsString::from("--quiet"),
                OsString::from("--bare"),
                OsString::from("--template="),
                git_dir.clone().into_os_string(),
            ],
            b"",
        )?;
        let git = Git::new(temp.path()).with_env("GIT_DIR", &git_dir);
        let scope_relative = |relative: &Path| relative.as_os_str().as_bytes().to_vec();
        let storable = storable_paths(&git, &temp, &candidates, &scope_relative)?;

        let mut files = Vec::new();
        let mut stale = Vec::new();
        let mut before_records = Vec::new();
        let mut after_records = Vec::new();
        for candidate in candidates {
            if candidate.action == Action::Write
                && !storable.contains(candidate.relative.as_os_str().as_bytes())
            {
                ignored.push(candidate.change);
                continue;
            }
            let original = self.scope.join(&candidate.relative);
            let expected_before = match candidate.change.kind_before() {
                Some(EntryKind::File | EntryKind::Symlink) => {
                    candidate.change.sha256_before.as_deref()
                }
                _ => None,
            };
            let before = original_blob(&git, &original)?;
            let unchanged_original = match (&before, expected_before) {
                (Some((_, _, digest)), Some(expected)) => digest == expected,
                (None, None) => true,
                _ => false,
            };
            if !unchanged_original {
                stale.push(original.clone());
            }
            let after = match candidate.action {
                Action::Write => {
                    let (mode, oid) = self.write_blob(&git, &candidate)?;
                    Some((mode, oid))
                }
                Action::Remove => None,
            };
            let same = match (&before, &after) {
                (Some((before_mode, before_oid, _)), Some((after_mode, after_oid))) => {
                    before_mode == after_mode && before_oid == after_oid
                }
                (None, None) => true,
                _ => false,
            };
            if same {
                stale.retain(|path| *path != original);
                ignored.push(candidate.change);
                continue;
            }
            let relative = candidate.relative.as_os_str().as_bytes();
            if let Some((mode, oid, _)) = &before {
                push_index_record(&mut before_records, mode, oid, relative);
            }
            if let Some((mode, oid)) = &after {
                push_index_record(&mut after_records, mode, oid, relative);
            }
            files.push(candidate.change);
        }
        if files.is_empty() {
            return Ok(ReviewOutcome::NoChanges { refused, ignored });
        }

        let tree = |name: &str, records: &[u8]| -> Result<String, ReviewError> {
            let indexed = git.with_env("GIT_INDEX_FILE", temp.path().join(name));
            if !records.is_empty() {
                indexed.run(&args(["update-index", "-z", "--index-info"]), records)?;
            }
            indexed.run_line(&args(["write-tree"]), b"")
        };
        let before_tree = tree("before.index", &before_records)?;
        let after_tree = tree("after.index", &after_records)?;
        let patch = git.run(
            &args([
                "diff-tree",
                "-r",
                "-p",
                "--binary",
                "--full-index",
                "--no-renames",
                "--no-color",
                "--no-ext-diff",
                "--no-textconv",
                before_tree.as_str(),
                after_tree.as_str(),
            ]),
            b"",
        )?;

        fs::create_dir_all(&options.patch_dir).map_err(|source| ReviewError::Io {
            action: "create the patch directory",
            path: options.patch_dir.clone(),
            source,
        })?;
        write_new_file(&patch_path, &patch)?;
        Ok(ReviewOutcome::Patch {
            path: patch_path,
            scope: self.scope.clone(),
            files,
            refused,
            ignored,
            stale,
        })
    }

    /// Writes the copy's version of a candidate as a blob, checking it still has the digest the
    /// snapshot recorded; returns its git mode and object id.
    fn write_blob(
        &self,
        git: &Git,
        candidate: &Candidate,
    ) -> Result<(&'static str, String), ReviewError> {
        let path = self.copy.join(&candidate.relative);
        let expected = candidate.change.sha256_after.clone().unwrap_or_default();
        let (mode, written) = match candidate.change.kind {
            EntryKind::Symlink => {
                let target = fs::read_link(&path).map_err(|source| ReviewError::Io {
                    action: "read a symlink in the review copy",
                    path: path.clone(),
                    source,
                })?;
                let written = git.write_blob(BlobSource::Bytes(target.as_os_str().as_bytes()))?;
                ("120000", written)
            }
            _ => {
                let mut file = open_regular(&path)?;
                let written = git.write_blob(BlobSource::File(&mut file))?;
                (git_mode(&candidate.change), written)
            }
        };
        let (oid, found) = written;
        if found != expected {
            return Err(ReviewError::ContentChanged {
                path,
                expected,
                found,
            });
        }
        Ok((mode, oid))
    }
}

/// A change to apply, with its path relative to the scope.
struct Candidate {
    change: Change,
    relative: PathBuf,
    action: Action,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Put the copy's file or symlink at the path.
    Write,
    /// Remove the file or symlink at the path.
    Remove,
}

#[derive(Default)]
struct Sorted {
    candidates: Vec<Candidate>,
    refused: Vec<Change>,
    ignored: Vec<Change>,
}

fn absolute(path: &Path) -> Result<PathBuf, ReviewError> {
    std::path::absolute(path).map_err(|source| ReviewError::Io {
        action: "make absolute",
        path: path.to_path_buf(),
        source,
    })
}

/// Makes sure `copy` is an empty directory; returns whether it was created.
fn prepare_copy_dir(copy: &Path) -> Result<bool, ReviewError> {
    match fs::read_dir(copy) {
        Ok(mut listing) => {
            if listing.next().is_some() {
                return Err(ReviewError::CopyNotEmpty {
                    copy: copy.to_path_buf(),
                });
            }
            Ok(false)
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = copy.parent() {
                fs::create_dir_all(parent).map_err(|source| ReviewError::Io {
                    action: "create the parent of the review copy",
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            fs::DirBuilder::new()
                .mode(0o700)
                .create(copy)
                .map_err(|source| ReviewError::Io {
                    action: "create the review copy directory",
                    path: copy.to_path_buf(),
                    source,
                })?;
            Ok(true)
        }
        Err(source) => Err(ReviewError::Io {
            action: "open the review copy directory",
            path: copy.to_path_buf(),
            source,
        }),
    }
}

/// Whether `scope` is in a git work tree: its top, the scope's prefix in it and HEAD's commit.
fn detect_repo(scope: &Path) -> Result<Option<Repo>, ReviewError> {
    let git = Git::new(scope);
    let toplevel_args = args(["rev-parse", "--show-toplevel"]);
    let toplevel = git.output(&toplevel_args, b"")?;
    if !toplevel.status.success() {
        if String::from_utf8_lossy(&toplevel.stderr).contains("not a git repository") {
            return Ok(None);
        }
        return Err(git.failure(&toplevel_args, &toplevel));
    }
    let toplevel = PathBuf::from(OsString::from_vec(chomp(&toplevel.stdout).to_vec()));
    let prefix = chomp(&git.run(&args(["rev-parse", "--show-prefix"]), b"")?).to_vec();
    let head_args = args(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]);
    let head = git.output(&head_args, b"")?;
    let head = match head.status.code() {
        Some(0) => Some(String::from_utf8_lossy(&head.stdout).trim().to_owned()),
        // HEAD names a branch that has no commit yet.
        Some(1) => None,
        _ => return Err(git.failure(&head_args, &head)),
    };
    Ok(Some(Repo {
        toplevel,
        prefix,
        head,
    }))
}

/// The paths (repository-relative) that the repository's ignore rules exclude.
fn excluded_by_ignore_rules(
    git: &Git,
    paths: impl Iterator<Item = Vec<u8>>,
) -> Result<BTreeSet<Vec<u8>>, ReviewError> {
    let paths: Vec<Vec<u8>> = paths.collect();
    if paths.is_empty() {
        return Ok(BTreeSet::new());
    }
    // `check-ignore` parses its input as pathspecs; a leading `./` turns pathspec magic off, so
    // that a file named `:(exclude)x` is checked as that file. It answers with the same spelling.
    let mut input = Vec::new();
    for path in &paths {
        input.extend_from_slice(b"./");
        input.extend_from_slice(path);
        input.push(0);
    }
    let check = args(["check-ignore", "--no-index", "-z", "--stdin"]);
    let output = git.output(&check, &input)?;
    match output.status.code() {
        // 0: some are ignored, 1: none is.
        Some(0 | 1) => Ok(output
            .stdout
            .split(|byte| *byte == 0)
            .filter_map(|path| path.strip_prefix(b"./"))
            .map(<[u8]>::to_vec)
            .collect()),
        _ => Err(git.failure(&check, &output)),
    }
}

/// The paths of the `Write` candidates (as `path_of` spells them) that git agrees to store.
///
/// `git update-index` silently drops paths that git refuses to track (`verify_path`: a `.git`
/// component in any spelling git treats as one, such as `.GIT`, NTFS's `git~1` or `.git.`, or a
/// symlinked `.gitmodules`), so instead of re-implementing those rules they are asked of git: the
/// paths go into a scratch index (with the empty blob, which need not exist) and whatever
/// `ls-files` lists afterwards is storable.
fn storable_paths(
    git: &Git,
    temp: &TempDir,
    candidates: &[Candidate],
    path_of: &dyn Fn(&Path) -> Vec<u8>,
) -> Result<BTreeSet<Vec<u8>>, ReviewError> {
    let mut records = Vec::new();
    let mut empty_blob = None;
    for candidate in candidates {
        if candidate.action != Action::Write {
            continue;
        }
        let oid = match &empty_blob {
            Some(oid) => oid,
            // Computed, not written (no `-w`): the probe index is never turned into a tree.
            None => empty_blob.insert(git.run_line(&args(["hash-object", "--stdin"]), b"")?),
        };
        push_index_record(
            &mut records,
            git_mode(&candidate.change),
            oid,
            &path_of(&candidate.relative),
        );
    }
    if records.is_empty() {
        return Ok(BTreeSet::new());
    }
    let probe = git.with_env("GIT_INDEX_FILE", temp.path().join("probe.index"));
    probe.run(&args(["update-index", "-z", "--index-info"]), &records)?;
    let listed = probe.run(&args(["ls-files", "-z"]), b"")?;
    Ok(listed
        .split(|byte| *byte == 0)
        .filter(|path| !path.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// The git mode of a change's new file or symlink: `120000`, `100755` if the owner may execute
/// it, else `100644`.
fn git_mode(change: &Change) -> &'static str {
    if change.kind == EntryKind::Symlink {
        "120000"
    } else if change.mode_after.unwrap_or(0) & 0o100 != 0 {
        "100755"
    } else {
        "100644"
    }
}

/// The original scope's file or symlink at `path` as a blob: (git mode, object id, sha256).
fn original_blob(git: &Git, path: &Path) -> Result<Option<(String, String, String)>, ReviewError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ReviewError::Io {
                action: "examine a file in the write scope",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path).map_err(|source| ReviewError::Io {
            action: "read a symlink in the write scope",
            path: path.to_path_buf(),
            source,
        })?;
        let (oid, digest) = git.write_blob(BlobSource::Bytes(target.as_os_str().as_bytes()))?;
        return Ok(Some(("120000".to_owned(), oid, digest)));
    }
    if !meta.is_file() {
        return Ok(None);
    }
    let mut file = open_regular(path)?;
    let mode = if meta.mode() & 0o100 != 0 {
        "100755"
    } else {
        "100644"
    };
    let (oid, digest) = git.write_blob(BlobSource::File(&mut file))?;
    Ok(Some((mode.to_owned(), oid, digest)))
}

/// Opens a regular file for reading without following a symlink or blocking on a fifo.
fn open_regular(path: &Path) -> Result<File, ReviewError> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| ReviewError::Io {
            action: "open",
            path: path.to_path_buf(),
            source,
        })?;
    let meta = file.metadata().map_err(|source| ReviewError::Io {
        action: "examine",
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(ReviewError::Io {
            action: "read",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file any more"),
        });
    }
    Ok(file)
}

fn push_index_record(records: &mut Vec<u8>, mode: &str, oid: &str, path: &[u8]) {
    records.extend_from_slice(format!("{mode} {oid}\t").as_bytes());
    records.extend_from_slice(path);
    records.push(0);
}

fn nul_joined<'a>(items: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut joined = Vec::new();
    for item in items {
        joined.extend_from_slice(item);
        joined.push(0);
    }
    joined
}

/// `qwarden: changes by <agent> in session <id>`, a blank line, one `A|M|D <path>` line per
/// file (repository-relative), and the refused paths if any.
fn commit_message(
    options: &FinishOptions,
    scope: &Path,
    repo: &Repo,
    files: &[Change],
    refused: &[Change],
) -> Vec<u8> {
    let agent: String = options
        .agent
        .chars()
        .map(|ch| if ch.is_control() { '?' } else { ch })
        .collect();
    let mut message = format!(
        "qwarden: changes by {agent} in session {}\n\n",
        options.session_id
    )
    .into_bytes();
    let line = |message: &mut Vec<u8>, prefix: &str, path: &Path| {
        message.extend_from_slice(prefix.as_bytes());
        let relative = path.strip_prefix(scope).unwrap_or(path);
        let mut in_repo = repo.prefix.clone();
        in_repo.extend_from_slice(relative.as_os_str().as_bytes());
        // Control characters in a path would break the message's lines.
        message.extend(
            in_repo
                .iter()
                .map(|byte| if byte.is_ascii_control() { b'?' } else { *byte }),
        );
        message.push(b'\n');
    };
    for change in files {
        let letter = match change.op {
            Op::Create => "A ",
            Op::Modify => "M ",
            Op::Delete => "D ",
        };
        line(&mut message, letter, &change.path);
    }
    if !refused.is_empty() {
        message.extend_from_slice(b"\nRefused (protected paths; not applied):\n");
        for change in refused {
            line(&mut message, "  ", &change.path);
        }
    }
    message
}

/// Checks that the id can name a branch (`qwarden/<id>`) and a file (`<id>.patch`).
fn validate_session_id(id: &str) -> Result<(), ReviewError> {
    let invalid = |reason| {
        Err(ReviewError::InvalidSessionId {
            id: id.to_owned(),
            reason,
        })
    };
    if id.is_empty() || id.len() > 128 {
        return invalid("it must be 1 to 128 characters long");
    }
    if !id
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
    {
        return invalid("it may only contain ASCII letters, digits, '-', '_' and '.'");
    }
    if !id.starts_with(|ch: char| ch.is_ascii_alphanumeric()) {
        return invalid("it must start with a letter or a digit");
    }
    if id.contains("..") || id.ends_with('.') || id.ends_with(".lock") {
        return invalid("it must not contain '..' or end with '.' or '.lock'");
    }
    Ok(())
}

/// `path` quoted for a POSIX shell (single quotes; `'` as `'\''`).
fn shell_quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    if !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&byte))
    {
        return text.into_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Creates `path` (which must not exist) with `bytes`, removing it again if writing fails.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), ReviewError> {
    use std::io::Write as _;
    let mut file = match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            return Err(ReviewError::PatchExists {
                path: path.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(ReviewError::Io {
                action: "create the patch",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if let Err(source) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        let _ = fs::remove_file(path);
        return Err(ReviewError::Io {
            action: "write the patch",
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(())
}

/// A private temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, ReviewError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        let mut last = None;
        for _ in 0..64 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.subsec_nanos());
            let path = base.join(format!(
                "qwarden-review-{}-{}-{nanos}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(TempDir(path)),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last = Some(err),
                Err(source) => {
                    return Err(ReviewError::Io {
                        action: "create a temporary directory in",
                        path: base,
                        source,
                    });
                }
            }
        }
        Err(ReviewError::Io {
            action: "create a temporary directory in",
            path: base,
            source: last.unwrap_or_else(|| io::Error::other("no free name")),
        })
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
