//! `qwarden secrets init|add|list|remove|rotate`: the credential vault in `STATE/vault`; and
//! `qwarden secrets scan|import`: plaintext credentials found on disk and moved into it.
//!
//! Values come from standard input, an environment variable or the terminal, never from the
//! command line; nothing here ever prints a value or any part of one (the scanner prints
//! redacted previews only).

mod import;
mod input;
mod scan;

use std::io::Write;
use std::path::{Path, PathBuf};

use qwarden_vault::store::IDENTITY_FILE_NAME;
use qwarden_vault::{Entry, Provider, Unlock, UnlockKind, Vault, VaultError};
use serde::Serialize;

use crate::cli::{ProviderArg, SecretsCommand};
use crate::dirs::Dirs;
use crate::exit::{Code, Failure};
use crate::output::Table;

/// The identity file override, for `init` (the `--identity` flag wins).
pub const IDENTITY_ENV: &str = "QWARDEN_VAULT_IDENTITY";

pub fn run(dirs: &Dirs, cmd: SecretsCommand) -> Result<Code, Failure> {
    match cmd {
        SecretsCommand::Init {
            identity,
            passphrase,
            work_factor,
        } => init(dirs, identity, passphrase, work_factor),
        SecretsCommand::Add {
            name,
            provider,
            from_env,
        } => add(dirs, &name, provider.into(), from_env.as_deref()),
        SecretsCommand::List { json } => list(dirs, json),
        SecretsCommand::Remove { name } => remove(dirs, &name),
        SecretsCommand::Rotate { name, from_env } => rotate(dirs, &name, from_env.as_deref()),
        SecretsCommand::Scan {
            paths,
            json,
            no_env,
        } => scan::run(dirs, paths, json, no_env),
        SecretsCommand::Import {
            paths,
            yes,
            json,
            no_env,
        } => import::run(dirs, paths, yes, json, no_env),
    }
}

impl From<ProviderArg> for Provider {
    fn from(p: ProviderArg) -> Provider {
        match p {
            ProviderArg::Ibm => Provider::Ibm,
            ProviderArg::Ionq => Provider::Ionq,
            ProviderArg::Aws => Provider::Aws,
            ProviderArg::Quantinuum => Provider::Quantinuum,
        }
    }
}

/// The vault directory: `STATE/vault`.
pub fn vault_dir(dirs: &Dirs) -> PathBuf {
    dirs.state.join("vault")
}

/// Identity files a session must hide besides the configuration directory (which holds the
/// default one): the `QWARDEN_VAULT_IDENTITY` override and the file the vault records.
pub fn identity_files(dirs: &Dirs) -> Vec<PathBuf> {
    let recorded = Vault::open(&vault_dir(dirs))
        .ok()
        .and_then(|v| v.identity_file().map(Path::to_path_buf));
    std::env::var_os(IDENTITY_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .chain(recorded)
        .collect()
}

/// Maps a vault error to its exit code: a wrong key or a damaged file fails verification (6).
pub fn failure(e: VaultError) -> Failure {
    match e {
        VaultError::WrongPassphrase { .. }
        | VaultError::WrongIdentity { .. }
        | VaultError::Damaged { .. } => Failure::verification(e),
        VaultError::Encrypt { .. } => Failure::internal(e),
        _ => Failure::invalid(e),
    }
}

fn open(dirs: &Dirs) -> Result<Vault, Failure> {
    Vault::open(&vault_dir(dirs)).map_err(failure)
}

/// What unlocks `vault` for writing: its passphrase, or its identity file (which adding and
/// rotating do not read: the public recipient is in the vault).
pub fn unlock_for(dirs: &Dirs, vault: &Vault) -> Result<Unlock, Failure> {
    Ok(match vault.unlock_kind() {
        UnlockKind::Passphrase => Unlock::Passphrase(input::passphrase(false)?),
        UnlockKind::Identity => Unlock::IdentityFile(
            vault
                .identity_file()
                .map_or_else(|| dirs.config.join(IDENTITY_FILE_NAME), Path::to_path_buf),
        ),
    })
}

fn init(
    dirs: &Dirs,
    identity: Option<PathBuf>,
    passphrase: bool,
    work_factor: Option<u8>,
) -> Result<Code, Failure> {
    let dir = vault_dir(dirs);
    // Before asking for anything: `init` never touches an existing vault.
    if dir.join("vault.toml").exists() {
        return Err(failure(VaultError::AlreadyInitialized { dir }));
    }
    let mut out = std::io::stdout().lock();
    if passphrase {
        let p = input::passphrase(true)?;
        match work_factor {
            Some(w) => Vault::init_with_work_factor(&dir, &p, w),
            None => Vault::init(&dir, &Unlock::Passphrase(p)),
        }
        .map_err(failure)?;
        writeln!(
            out,
            "created a vault in `{}`, unlocked by a passphrase\n  add a secret: qwarden secrets add NAME --provider P < keyfile",
            dir.display()
        )?;
        return Ok(Code::Ok);
    }
    let path = identity
        .or_else(|| {
            std::env::var_os(IDENTITY_ENV)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| dirs.config.join(IDENTITY_FILE_NAME));
    let existed = path.exists();
    let vault = Vault::init(&dir, &Unlock::IdentityFile(path)).map_err(failure)?;
    let file = vault.identity_file().unwrap_or(Path::new("?")).display();
    let recipient = vault.recipient().unwrap_or("?");
    if existed {
        writeln!(
            out,
            "using the identity in `{file}` (public key {recipient})"
        )?;
    } else {
        writeln!(
            out,
            "wrote a new identity to `{file}` (public key {recipient})"
        )?;
    }
    writeln!(
        out,
        "created a vault in `{}`, unlocked by that identity\n  keep `{file}` outside every sandbox and back it up: without it no secret can be read\n  add a secret: qwarden secrets add NAME --provider P < keyfile",
        dir.display()
    )?;
    Ok(Code::Ok)
}

fn add(
    dirs: &Dirs,
    name: &str,
    provider: Provider,
    from_env: Option<&str>,
) -> Result<Code, Failure> {
    let vault = open(dirs)?;
    qwarden_vault::store::validate_name(name).map_err(failure)?;
    if vault.entry(name).is_ok() {
        return Err(failure(VaultError::Exists {
            name: name.to_owned(),
            dir: vault.dir().to_path_buf(),
        }));
    }
    let value = input::value(name, from_env)?;
    let unlock = unlock_for(dirs, &vault)?;
    let entry = vault
        .add(name, provider, &value, &unlock, None)
        .map_err(failure)?;
    writeln!(
        std::io::stdout().lock(),
        "added secret `{}` (provider {}) to `{}`",
        entry.name,
        entry.provider,
        vault.dir().display()
    )?;
    Ok(Code::Ok)
}

fn rotate(dirs: &Dirs, name: &str, from_env: Option<&str>) -> Result<Code, Failure> {
    let vault = open(dirs)?;
    let entry = vault.entry(name).map_err(failure)?;
    let value = input::value(name, from_env)?;
    let unlock = unlock_for(dirs, &vault)?;
    vault.rotate(name, &value, &unlock).map_err(failure)?;
    writeln!(
        std::io::stdout().lock(),
        "rotated secret `{name}` (provider {})\n  hint: revoke the old key at the provider if it is still valid",
        entry.provider
    )?;
    Ok(Code::Ok)
}

fn remove(dirs: &Dirs, name: &str) -> Result<Code, Failure> {
    let vault = open(dirs)?;
    let entry = vault.remove(name).map_err(failure)?;
    writeln!(
        std::io::stdout().lock(),
        "removed secret `{}` (provider {}) from `{}`",
        entry.name,
        entry.provider,
        vault.dir().display()
    )?;
    Ok(Code::Ok)
}

/// `list --json`: the vault and its secrets' metadata.
#[derive(Serialize)]
struct Listing<'a> {
    dir: &'a Path,
    unlock: UnlockKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient: Option<&'a str>,
    secrets: Vec<Entry>,
}

fn list(dirs: &Dirs, json: bool) -> Result<Code, Failure> {
    let vault = open(dirs)?;
    let secrets = vault.list().map_err(failure)?;
    if json {
        crate::output::json(&Listing {
            dir: vault.dir(),
            unlock: vault.unlock_kind(),
            recipient: vault.recipient(),
            secrets,
        })?;
        return Ok(Code::Ok);
    }
    let mut out = std::io::stdout().lock();
    if secrets.is_empty() {
        writeln!(
            out,
            "no secrets in `{}`\n  add one: qwarden secrets add NAME --provider P < keyfile",
            vault.dir().display()
        )?;
        return Ok(Code::Ok);
    }
    let day = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let mut table = Table::new(&["NAME", "PROVIDER", "CREATED", "ROTATED", "SOURCE"]);
    for e in secrets {
        table.row(vec![
            e.name,
            e.provider.to_string(),
            day(e.created),
            e.rotated.map_or_else(|| "-".to_owned(), day),
            e.source.unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    table.write(&mut out)?;
    Ok(Code::Ok)
}
