//! The command line, as clap types. Parsing only; the work happens in `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (for `policy check`: allowed)
  1  internal error
  2  usage error
  3  invalid input (malformed manifest, profile or policy; unknown tier; file not found)
  4  denied by policy
  5  needs approval (`policy check`)
  6  verification failed (unsigned, tampered, expired or untrusted manifest)";

/// Guard between autonomous AI agents and a quantum workstation.
///
/// Agents declare what they need in a signed capability manifest; the workstation's tier and its
/// permission matrix decide what they get.
#[derive(Debug, Parser)]
#[command(name = "qwarden", version, after_long_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub dirs: DirArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where qwarden finds its configuration and keeps its state.
#[derive(Debug, Args)]
pub struct DirArgs {
    /// Configuration directory [default: $XDG_CONFIG_HOME/qwarden]
    #[arg(long, global = true, env = "QWARDEN_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// State directory [default: $XDG_STATE_HOME/qwarden]
    #[arg(long, global = true, env = "QWARDEN_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a workstation profile to the configuration directory (never overwrites one).
    Init(InitArgs),
    /// Sign, verify and check agent capability manifests.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Explain what an agent is granted, and check single actions.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write one page per command into a directory.
    Man {
        /// Write `qwarden.1`, `qwarden-init.1`, … here instead of printing `qwarden.1`.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The workstation's tier.
    #[arg(long, value_enum, default_value_t = TierArg::Sandbox)]
    pub tier: TierArg,
    /// Print the profile instead of writing it.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Sign a manifest: writes MANIFEST.sig (OpenSSH SSHSIG, namespace `qwarden-manifest`).
    ///
    /// KEY is an OpenSSH private key file, or a public key file whose private half is loaded in
    /// ssh-agent ($SSH_AUTH_SOCK). The result verifies with
    /// `ssh-keygen -Y verify -n qwarden-manifest -I PUBLISHER -f allowed_signers -s MANIFEST.sig`.
    Sign {
        /// The private key (or public key, to sign with ssh-agent).
        #[arg(long, short = 'k', value_name = "KEY")]
        key: PathBuf,
        /// A file holding the key's passphrase (or set QWARDEN_KEY_PASSPHRASE).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// The manifest to sign.
        manifest: PathBuf,
    },
    /// Verify a manifest's signature against an OpenSSH allowed-signers file.
    Verify {
        #[command(flatten)]
        trust: TrustArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The manifest (its signature is read from MANIFEST.sig).
        manifest: PathBuf,
    },
    /// Check that a manifest is well formed, without checking its signature.
    Lint {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The manifest.
        manifest: PathBuf,
    },
}

/// Where trusted signers come from.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// OpenSSH allowed-signers file [default: the profile's paths.allowed_signers, else CONFIG_DIR/allowed_signers]
    #[arg(long, env = "QWARDEN_ALLOWED_SIGNERS", value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
}

/// What the grant is computed against.
#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The agent's capability manifest (signature in AGENT.sig).
    #[arg(long, value_name = "AGENT")]
    pub agent: PathBuf,
    /// The workstation profile [default: CONFIG_DIR/profile.toml, else /etc/qwarden/profile.toml, else built-in]
    #[arg(long, env = "QWARDEN_PROFILE", value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Evaluate as if the workstation had this tier.
    #[arg(long, value_enum)]
    pub tier: Option<TierArg>,
    /// Directory of extra Cedar policies [default: the profile's paths.policies, else CONFIG_DIR/policies]
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,
    /// Project directory relative manifest paths are resolved against [default: current directory]
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    #[command(flatten)]
    pub trust: TrustArgs,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show what an agent is granted on this workstation: each capability, requested vs granted, and
    /// the policy that decided.
    Explain {
        #[command(flatten)]
        grant: GrantArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Decide one action: allow (exit 0), deny (exit 4) or needs approval (exit 5).
    Check {
        #[command(flatten)]
        grant: GrantArgs,
        /// The action.
        #[arg(long, value_enum)]
        action: ActionArg,
        /// What it acts on: a path, `host[:port]`, `provider:backend`, a provider, a registry or a
        /// device (not needed for run-session and spawn-processes).
        #[arg(long, value_name = "RESOURCE")]
        resource: Option<String>,
        /// Shots, for submit-job.
        #[arg(long)]
        shots: Option<u64>,
        /// Credential form, for use-credential.
        #[arg(long, value_parser = ["handle", "plaintext"], default_value = "handle")]
        form: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate the Cedar policies in a directory together with the built-in matrix.
    Validate {
        /// Directory of `*.cedar` files [default: the profile's paths.policies, else CONFIG_DIR/policies]
        #[arg(long, value_name = "DIR")]
        policies: Option<PathBuf>,
    },
    /// Print the built-in Cedar schema and permission matrix.
    Show {
        /// Print the schema instead of the matrix.
        #[arg(long)]
        schema: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TierArg {
    Sandbox,
    Staging,
    Prod,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ActionArg {
    RunSession,
    Read,
    Write,
    Connect,
    SubmitJob,
    UseCredential,
    InstallPackages,
    AccessDevice,
    SpawnProcesses,
}
