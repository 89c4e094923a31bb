//! Exit codes and the error type that carries one.

use std::fmt;

/// The process exit codes, as documented in `qwarden --help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Success; for `policy check`, allowed.
    Ok = 0,
    /// A bug or an environment problem qwarden cannot blame on its input.
    Internal = 1,
    /// A flag combination clap cannot check on its own (a required `--resource`, say).
    Usage = 2,
    /// Invalid input: malformed files, unknown names, missing files.
    Invalid = 3,
    /// The policy refused.
    Denied = 4,
    /// The action needs human approval first.
    NeedsApproval = 5,
    /// A signature, signer or expiry check failed; for `inventory diff`, the inventories differ
    /// (drift).
    Verification = 6,
    /// `secrets scan` found plaintext credentials.
    CredentialsFound = 7,
}

/// An error with the exit code it should produce.
#[derive(Debug)]
pub struct Failure {
    code: Code,
    error: anyhow::Error,
}

impl Failure {
    /// A usage error.
    pub fn usage(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: Code::Usage,
            error: error.into(),
        }
    }

    /// Invalid input.
    pub fn invalid(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: Code::Invalid,
            error: error.into(),
        }
    }

    /// Refused by policy.
    pub fn denied(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: Code::Denied,
            error: error.into(),
        }
    }

    /// Failed verification.
    pub fn verification(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: Code::Verification,
            error: error.into(),
        }
    }

    /// Internal error.
    pub fn internal(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: Code::Internal,
            error: error.into(),
        }
    }

    /// The exit code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// Whether this is a write to a closed pipe (`qwarden … | head`), which exits quietly.
    pub fn is_broken_pipe(&self) -> bool {
        self.error
            .chain()
            .filter_map(|e| e.downcast_ref::<std::io::Error>())
            .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for Failure {
    /// The error and its causes, joined by `: `. The library errors already quote their cause in
    /// their own message (and keep it as `source()`), so a cause whose text is already shown is
    /// skipped instead of being printed twice.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.error.to_string();
        for cause in self.error.chain().skip(1) {
            let cause = cause.to_string();
            if !text.contains(&cause) {
                text.push_str(": ");
                text.push_str(&cause);
            }
        }
        f.write_str(&text)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::internal(e)
    }
}
