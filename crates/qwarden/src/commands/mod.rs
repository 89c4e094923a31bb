//! One module per command group; each returns the exit code or a [`Failure`].

mod approvals;
pub mod audit;
mod bundle;
mod bundle_env;
mod doctor;
mod init;
mod inventory;
mod manifest;
mod policy;
mod posture;
mod redteam;
mod run;
pub mod secrets;
mod submit;
mod witness;

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::dirs::Dirs;
use crate::exit::{Code, Failure};

/// The hidden first argument that makes this binary the sandbox's init.
pub const SANDBOX_INIT: &str = "__sandbox-init";

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Completions { shell } => {
            // clap_complete panics when its writer fails, so render into memory and let a closed
            // pipe (`qwarden completions bash | head`) surface as an error like everywhere else.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "qwarden", &mut script);
            std::io::stdout().lock().write_all(&script)?;
            Ok(Code::Ok as u8)
        }
        Command::Man { out_dir } => man(out_dir.as_deref()).map(|c| c as u8),
        command => {
            let mut dirs = Dirs::resolve(&cli.dirs)?;
            // The profile's `paths.state_dir` applies unless a flag or the environment chose one;
            // resolved once, so every command reads and writes the same ledger.
            if !dirs.state_explicit
                && let Some(state) =
                    policy::load_profile_for_paths(&dirs)?.and_then(|p| p.paths.state_dir)
            {
                dirs.state = dirs.expand(&state);
            }
            let code = match command {
                Command::Init(args) => init::run(&dirs, &args),
                Command::Manifest(cmd) => manifest::run(&dirs, cmd),
                Command::Policy(cmd) => policy::run(&dirs, cmd),
                Command::Audit(cmd) => audit::run(&dirs, cmd),
                Command::Witness(cmd) => witness::run(cmd),
                Command::Secrets(cmd) => secrets::run(&dirs, cmd),
                Command::Approvals(cmd) => approvals::run(&dirs, cmd),
                Command::Run(args) => return run::run(&dirs, &args),
                Command::Inventory(args) => inventory::run(&dirs, args),
                Command::Bundle(cmd) => bundle::run(&dirs, cmd),
                Command::Posture { json, markdown } => posture::run(&dirs, json, markdown),
                Command::Doctor { json } => doctor::run(json),
                Command::Demo => redteam::demo(),
                Command::Redteam {
                    tier,
                    attacks,
                    list,
                    json,
                } => redteam::run(&dirs, tier, &attacks, list, json),
                Command::Submit(args) => submit::run(&dirs, &args),
                Command::Completions { .. } | Command::Man { .. } => Ok(Code::Ok),
            };
            code.map(|c| c as u8)
        }
    }
}

fn man(out_dir: Option<&std::path::Path>) -> Result<Code, Failure> {
    let cmd = Cli::command();
    let Some(dir) = out_dir else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout().lock())?;
        return Ok(Code::Ok);
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::invalid(anyhow::anyhow!("cannot create `{}`: {e}", dir.display())))?;
    // Building propagates the global options, the version and each subcommand's full bin name
    // (`qwarden policy explain`, shown in SYNOPSIS) before the subcommands are cloned into pages.
    let mut cmd = cmd;
    cmd.build();
    let mut pages = Vec::new();
    collect_pages(cmd, "qwarden", &mut pages);
    for (name, page) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(page).render(&mut buf)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, buf).map_err(|e| {
            Failure::invalid(anyhow::anyhow!("cannot write `{}`: {e}", path.display()))
        })?;
        writeln!(std::io::stdout().lock(), "{}", path.display())?;
    }
    Ok(Code::Ok)
}

/// Every command and subcommand, named `qwarden-manifest-sign` etc., for one man page each.
fn collect_pages(cmd: clap::Command, name: &str, out: &mut Vec<(String, clap::Command)>) {
    let cmd = cmd.name(name.to_owned());
    let subs: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .cloned()
        .collect();
    out.push((name.to_owned(), cmd));
    for sub in subs {
        let sub_name = format!("{name}-{}", sub.get_name());
        collect_pages(sub, &sub_name, out);
    }
}
