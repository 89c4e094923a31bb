//! The errors of [`super`]: each says what failed, where, and how to fix it.

use std::path::PathBuf;

/// An error collecting, reading or rebuilding an environment.
#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    /// A file system operation failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No Python interpreter to pick.
    #[error(
        "no `python3` on PATH (`{path}`) and VIRTUAL_ENV names no venv\n  hint: install Python 3 (Debian: `apt-get install python3`) or activate a venv"
    )]
    NoPython {
        /// The `PATH` searched.
        path: String,
    },
    /// The directory is not a Python environment.
    #[error(
        "`{path}` is not a Python environment: {reason}\n  hint: give the prefix of a venv or a Python installation (the directory holding `bin/python3`)"
    )]
    NotAnEnvironment {
        /// The directory.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The file is not a manifest this version reads.
    #[error(
        "`{path}` is not a qwarden environment manifest: {reason}\n  hint: make one with `environment::collect`"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line and column where the JSON says.
        reason: String,
    },
    /// The manifest could not be put in canonical form.
    #[error("cannot put the environment manifest in canonical JSON form: {0}")]
    Canonical(String),
    /// The lock is not a `pylock.toml` this version installs.
    #[error("the lock is not a valid pylock.toml: {reason}\n  hint: {hint}")]
    Lock {
        /// What is wrong.
        reason: String,
        /// How to fix it.
        hint: String,
    },
    /// The lock is valid, and cannot be installed here as it is.
    #[error("the lock cannot be installed here: {reason}\n  hint: {hint}")]
    Refused {
        /// Why.
        reason: String,
        /// How to fix it.
        hint: String,
    },
    /// A locked package's wheel is not in the wheel directory.
    #[error(
        "the wheel `{file}` of `{package}` is not in `{dir}`\n  hint: put that exact file there (`pip download --no-deps` or `pip wheel --no-deps` on a machine with the source), then rebuild"
    )]
    WheelMissing {
        /// The package.
        package: String,
        /// The wheel's file name.
        file: String,
        /// The wheel directory.
        dir: PathBuf,
    },
    /// A wheel's bytes are not the ones the lock names.
    #[error(
        "the wheel `{path}` of `{package}` does not match the lock: its {algorithm} is {actual}, and the lock says {expected}\n  hint: the file was changed or is another build; nothing was installed; put the wheel that was locked there"
    )]
    HashMismatch {
        /// The package.
        package: String,
        /// The wheel.
        path: PathBuf,
        /// `sha256`, `sha384`, `sha512` or `size`.
        algorithm: String,
        /// What the lock says.
        expected: String,
        /// What the file has.
        actual: String,
    },
    /// The target of a rebuild already exists.
    #[error(
        "`{0}` already exists\n  hint: a rebuild makes a new environment; give a path that does not exist yet"
    )]
    TargetExists(PathBuf),
    /// A step that runs Python failed.
    #[error("cannot {step}: `{command}` {status}{output}\n  hint: {hint}")]
    Python {
        /// What was being done.
        step: &'static str,
        /// The command.
        command: String,
        /// How it ended.
        status: String,
        /// The end of what it printed, on a new line, or nothing.
        output: String,
        /// How to fix it.
        hint: String,
    },
    /// The rebuilt environment is not what the lock says.
    #[error(
        "the environment rebuilt at `{target}` does not match the lock:\n  {}\n  hint: it was left there to look at; remove it before rebuilding",
        problems.join("\n  ")
    )]
    Verify {
        /// The new environment.
        target: PathBuf,
        /// Each difference.
        problems: Vec<String>,
    },
}
