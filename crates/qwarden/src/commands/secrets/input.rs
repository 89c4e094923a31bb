//! Where secret values and the vault passphrase come from: standard input, an environment
//! variable, or the terminal with echo off. Never the command line, which every process can read.

use std::io::{IsTerminal, Read};

use anyhow::anyhow;
use qwarden_vault::Secret;
use zeroize::Zeroizing;

use crate::exit::Failure;

/// The passphrase variable, for automation and tests.
pub const PASSPHRASE_ENV: &str = "QWARDEN_VAULT_PASSPHRASE";

/// The largest value read from standard input (a provider key is far smaller).
const MAX_VALUE: usize = 64 * 1024;

/// The value of secret `name`: from `$VAR` with `--from-env VAR`, else standard input (typed with
/// echo off when it is a terminal). One trailing newline is dropped; an empty value is refused.
pub fn value(name: &str, from_env: Option<&str>) -> Result<Secret, Failure> {
    let value = match from_env {
        Some(var) => Zeroizing::new(std::env::var(var).map_err(|_| {
            Failure::invalid(anyhow!(
                "environment variable `{var}` is not set (or not UTF-8)\n  hint: export it, or pipe the value on standard input instead of --from-env"
            ))
        })?),
        None if std::io::stdin().is_terminal() => Zeroizing::new(
            rpassword::prompt_password(format!("value of secret `{name}` (not shown): "))
                .map_err(|e| Failure::invalid(anyhow!("cannot read the value from the terminal: {e}")))?,
        ),
        None => read_stdin()?,
    };
    let trimmed = value
        .strip_suffix("\r\n")
        .or_else(|| value.strip_suffix('\n'))
        .unwrap_or(&value);
    if trimmed.is_empty() {
        let source = from_env.map_or_else(|| "standard input".to_owned(), |v| format!("`{v}`"));
        return Err(Failure::invalid(anyhow!(
            "the value of secret `{name}` from {source} is empty\n  hint: pipe the provider's key in, e.g. `qwarden secrets add {name} --provider P < keyfile`"
        )));
    }
    Ok(Secret::new(trimmed))
}

/// Reads standard input whole into a buffer allocated once (no stray copies from growth).
fn read_stdin() -> Result<Zeroizing<String>, Failure> {
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_VALUE + 1));
    std::io::stdin()
        .lock()
        .take(u64::try_from(MAX_VALUE + 1).unwrap_or(u64::MAX))
        .read_to_end(&mut buf)
        .map_err(|e| Failure::invalid(anyhow!("cannot read the value from standard input: {e}")))?;
    if buf.len() > MAX_VALUE {
        return Err(Failure::invalid(anyhow!(
            "the value on standard input is over {MAX_VALUE} bytes\n  hint: store the provider's key itself, not a whole file"
        )));
    }
    let text = std::str::from_utf8(&buf).map_err(|_| {
        Failure::invalid(anyhow!(
            "the value on standard input is not UTF-8 text\n  hint: provider keys are text; check what was piped in"
        ))
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// The vault passphrase: `QWARDEN_VAULT_PASSPHRASE`, else asked on the terminal with echo off
/// (twice when `confirm`, for a new vault).
pub fn passphrase(confirm: bool) -> Result<Secret, Failure> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Secret::new(p));
    }
    let prompt = |text: &str| {
        rpassword::prompt_password(text).map(Secret::new).map_err(|e| {
            Failure::invalid(anyhow!(
                "the vault is locked by a passphrase and there is no terminal to ask for it ({e})\n  hint: run on a terminal, or set {PASSPHRASE_ENV}"
            ))
        })
    };
    let first = prompt("vault passphrase: ")?;
    if confirm {
        let second = prompt("vault passphrase again: ")?;
        if first != second {
            return Err(Failure::invalid(anyhow!(
                "the two passphrases differ; nothing was written\n  hint: run the command again"
            )));
        }
    }
    Ok(first)
}
