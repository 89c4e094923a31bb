//! `qwarden init`: write a workstation profile, never over an existing one.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

use anyhow::anyhow;
use qwarden_policy::Profile;

use crate::cli::InitArgs;
use crate::commands::policy::tier_of;
use crate::dirs::Dirs;
use crate::exit::{Code, Failure};

const POLICIES_README: &str = "\
Cedar policies in this directory (*.cedar) are added to qwarden's built-in permission matrix.
They are validated against the schema (`qwarden policy show --schema`) in strict mode when loaded;
any error is fatal. A `forbid` always wins; a `permit` can only add conditions (@mode), never widen
what the matrix forbids. Check them with `qwarden policy validate`.
";

const ALLOWED_SIGNERS_HEADER: &str = "\
# OpenSSH allowed-signers file: whose manifest signatures this workstation trusts.
# One line per publisher key (see ssh-keygen(1), ALLOWED SIGNERS), for example:
# tools@lab.example namespaces=\"qwarden-manifest\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...
";

pub fn run(dirs: &Dirs, args: &InitArgs) -> Result<Code, Failure> {
    let tier = tier_of(args.tier);
    let text = Profile::template(tier);
    if args.print {
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(Code::Ok);
    }
    let profile_path = dirs.config.join("profile.toml");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dirs.config)
        .map_err(|e| {
            Failure::invalid(anyhow!(
                "cannot create `{}`: {e}\n  hint: pass --config-dir with a writable directory",
                dirs.config.display()
            ))
        })?;
    if profile_path.exists() {
        return Err(Failure::invalid(anyhow!(
            "a profile already exists at `{}`; it was left unchanged\n  hint: edit it (its tier is set by `tier = …`), or move it away and run `qwarden init` again",
            profile_path.display()
        )));
    }
    write_new(&profile_path, &text, 0o600)?;
    let mut created = vec![profile_path.clone()];
    let signers = dirs.config.join("allowed_signers");
    if !signers.exists() {
        write_new(&signers, ALLOWED_SIGNERS_HEADER, 0o644)?;
        created.push(signers);
    }
    let policies = dirs.config.join("policies");
    if !policies.exists() {
        std::fs::DirBuilder::new().mode(0o755).create(&policies)?;
        write_new(&policies.join("README"), POLICIES_README, 0o644)?;
        created.push(policies);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "wrote a {tier} workstation profile:")?;
    for p in created {
        writeln!(out, "  {}", p.display())?;
    }
    writeln!(out, "next:")?;
    writeln!(
        out,
        "  - add the keys of trusted manifest publishers to allowed_signers"
    )?;
    if tier != qwarden_policy::Tier::Sandbox {
        writeln!(
            out,
            "  - list the people who approve QPU jobs under [[approvers]] in profile.toml ({tier} gates jobs on their approval)"
        )?;
    }
    writeln!(
        out,
        "  - see what an agent gets: `qwarden policy explain --agent AGENT.toml`"
    )?;
    Ok(Code::Ok)
}

/// Writes `text` to a new file atomically (temp file, fsync, rename without replacing).
fn write_new(path: &std::path::Path, text: &str, mode: u32) -> Result<(), Failure> {
    let dir = path.parent().unwrap_or_else(|| std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map_err(|e| {
        Failure::invalid(anyhow!(
            "cannot create `{}`: {}; it was left unchanged",
            path.display(),
            e.error
        ))
    })?;
    Ok(())
}
