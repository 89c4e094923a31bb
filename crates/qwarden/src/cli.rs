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
  6  verification failed (manifest unsigned, expired or untrusted; ledger or proof tampered;
     wrong vault passphrase or identity; damaged vault file)
  7  plaintext credentials found (`secrets scan`)
`qwarden inventory diff` exits 6 when the two inventories differ (drift), 0 when they do not.
`qwarden run` exits with the agent's own exit code (128 + N when a signal N killed it) once the
session ran; codes 1-6 above mean no session started.";

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
    /// Read, verify, prove and export the tamper-evident audit ledger.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Run a tlog-witness that cosigns other ledgers' checkpoints.
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// Keep provider secrets in qwarden's encrypted vault, outside every sandbox. Values are
    /// read from standard input, never from the command line, and never printed.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Review and answer the approval requests that gated actions wait on: approvals are SSH
    /// signatures by the profile's approvers over the exact request, plus a TOTP code where the
    /// tier asks for a second factor.
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// Run a command as the agent, in a sandbox built from its grant, recording everything in the
    /// audit ledger. Exits with the agent's exit code.
    Run(RunArgs),
    /// Run an OpenQASM 2/3 circuit on the local backend (statevector, density matrix, noisy
    /// trajectories; noise from a calibration snapshot) and print its counts.
    Submit(SubmitArgs),
    /// Take the workstation inventory: tier, host, OS, kernel, CPU, PCI devices and their
    /// drivers (GPUs and FPGAs flagged), vendor kernel modules, every Python environment with its
    /// quantum SDKs checked against their RECORD hashes, and which provider configuration files
    /// exist (never their content). `inventory diff` shows the drift between two.
    Inventory(InventoryArgs),
    /// List, show, verify, export and re-run the reproducibility bundle each job leaves: a signed
    /// in-toto statement of the circuit, calibration, environment, seeds, results and the
    /// ledger proof of the job's submission.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// A guided tour in about a minute, on a scratch staging workstation: an agent does real
    /// work in a sandbox, a job waits for (and gets) your approval, three attacks are refused and
    /// recorded, and the ledger and a reproducibility bundle are verified. Touches nothing of
    /// yours. Exit 0 when every step did what it should.
    Demo,
    /// Run the built-in red-team suite: simulated agent attacks (credential theft, exfiltration,
    /// sandbox escapes, job-gateway abuse, ledger tampering, …), each in a real session on a
    /// scratch workstation with planted canaries, and report for each whether it was blocked,
    /// whether the ledger recorded it, and by which control. Exit 0 when every attack was
    /// blocked and recorded, 6 otherwise.
    Redteam {
        /// The tier to attack [default: all three]
        #[arg(long, value_enum)]
        tier: Option<TierArg>,
        /// Run only these attacks (repeat; `qwarden redteam --list` names them).
        #[arg(long = "attack", value_name = "ID")]
        attacks: Vec<String>,
        /// List the attacks and what stops each, without running them.
        #[arg(long)]
        list: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Score this workstation against the safeguards checklist: inventory, tier, signed
    /// manifests, sandbox, plaintext credentials, ledger, bundles, egress, approvals and the last
    /// red-team run, each with its status, evidence and fix. Exit 0 when no check fails, 6 when
    /// one does.
    Posture {
        /// Print JSON.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// Print a Markdown report to paste into a ticket.
        #[arg(long)]
        markdown: bool,
    },
    /// Probe what this machine offers the sandbox (user namespaces, Landlock, seccomp, overlay,
    /// cgroups) with a real minimal sandbox, and print the fix for anything missing.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
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

/// Where a bundle comes from and which keys check it.
#[derive(Debug, Args)]
pub struct BundleSource {
    /// A bundle id (or 8+ hex digits of one), a job id, or an exported `.tar` archive.
    pub bundle: String,
    /// The workstation's public key (an `ssh-ed25519` line, or a file holding one) [default: this
    /// workstation's own]
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// The ledger's verification key (a vkey string or a file holding one) [default: derived from
    /// this workstation's ledger signing key]
    #[arg(long, value_name = "VKEY")]
    pub log_key: Option<String>,
    /// For an archive: trust the two keys inside it. This only shows the archive is consistent
    /// with itself; compare the keys with ones you got from the workstation's owner.
    #[arg(long)]
    pub archive_keys: bool,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// List this workstation's bundles, oldest first.
    List {
        /// Only the bundles of this session.
        #[arg(long, value_name = "ID")]
        session: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what a bundle says: the job, circuit, calibration, environment, counts and ledger
    /// entry (its signature is checked first).
    Show {
        #[command(flatten)]
        source: BundleSource,
        /// Print the verified in-toto statement as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify a bundle offline: the workstation's signature, every object it names, the ledger
    /// inclusion proof of the job's submission, and that the bundle says what the ledger
    /// recorded. Exit 0 valid, 6 not.
    Verify {
        #[command(flatten)]
        source: BundleSource,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a bundle with every object it names and the keys to check it as one tar archive.
    Export {
        /// A bundle id (or 8+ hex digits of one) or a job id.
        bundle: String,
        /// The archive to write.
        #[arg(short, long, value_name = "FILE.tar")]
        output: PathBuf,
    },
    /// Make the bundle of a job recorded in the ledger whose results are in the store but which
    /// has no bundle yet (a session that ended before it was made, a manual `qwarden submit`).
    Create {
        /// The job id.
        job: String,
    },
    /// Show how the environment a bundle's session ran in differs from the one the same Python
    /// now gives. Exit 0 no drift, 6 drift.
    DiffEnv {
        /// A bundle id (or 8+ hex digits of one) or a job id.
        bundle: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-run a bundle's job on the local simulator with its archived circuit, calibration and
    /// seed and say whether it reproduces: local jobs must give identical counts; provider jobs
    /// are compared as distributions (TVD, Hellinger fidelity, a shot-noise threshold plus the
    /// drift allowance) and called reproduced, drifted or diverged. The verdict is signed and
    /// recorded in the ledger. Exit 0 reproduced or drifted, 6 diverged or not verifiable.
    Rerun(RerunArgs),
}

/// `qwarden bundle rerun`.
#[derive(Debug, Args)]
pub struct RerunArgs {
    /// A bundle id (or 8+ hex digits of one), a job id, or an exported `.tar` archive.
    #[arg(required_unless_present = "session", conflicts_with = "session")]
    pub bundle: Option<String>,
    /// Re-run a whole session instead: rebuild its Python environment from the recorded
    /// `pylock.toml`, offline, from the wheels in --wheels; run its command again in a sandbox
    /// under the same signed manifest (--agent); and compare the files it wrote with the ones
    /// the session wrote. Exit 0 the same, 6 different.
    #[arg(long, value_name = "ID", requires_all = ["agent", "wheels"])]
    pub session: Option<String>,
    /// The agent manifest the session ran under (with --session; its digest must match).
    #[arg(long, value_name = "AGENT", requires = "session")]
    pub agent: Option<PathBuf>,
    /// The wheels to rebuild the session's environment from (with --session).
    #[arg(long, value_name = "DIR", requires = "session")]
    pub wheels: Option<PathBuf>,
    /// Keep the rebuilt environment afterwards (with --session).
    #[arg(long, requires = "session")]
    pub keep_env: bool,
    /// The drift allowance, as a total variation distance.
    #[arg(long, default_value_t = 0.1)]
    pub drift: f64,
    /// Re-run with this seed instead of the archived one.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also re-run with today's calibration snapshot (IBM properties or IonQ characterization
    /// JSON) and show how much of the difference it explains.
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
    /// The workstation's public key [default: this workstation's own]
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// The ledger's verification key [default: this workstation's]
    #[arg(long, value_name = "VKEY")]
    pub log_key: Option<String>,
    /// For an archive: trust the two keys inside it.
    #[arg(long)]
    pub archive_keys: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `qwarden inventory`: take one, or with `diff` compare two.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InventoryArgs {
    #[command(subcommand)]
    pub command: Option<InventoryCommand>,
    /// Write the inventory's canonical JSON (RFC 8785) to FILE, atomically, and print its
    /// SHA-256 as `sha256sum` does.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Print the inventory as JSON (with --write: the file and its SHA-256).
    #[arg(long)]
    pub json: bool,
    /// Search for venvs, conda environments and `.env` files under DIR; repeat for more
    /// [default: the current directory and $HOME]
    #[arg(long = "root", value_name = "DIR")]
    pub roots: Vec<PathBuf>,
    /// How many directories deep the search goes under each root.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=32))]
    pub depth: u32,
    /// The workstation profile whose tier is recorded [default: CONFIG_DIR/profile.toml, else /etc/qwarden/profile.toml, else built-in]
    #[arg(long, env = "QWARDEN_PROFILE", value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Show the drift from OLD to NEW: host, kernel, devices and drivers, vendor modules, Python
    /// environments, quantum SDKs added, removed or changed in place, installed files modified
    /// or missing, provider configuration files. Exit 0 no drift, 6 drift, 3 unreadable.
    Diff {
        /// The older inventory (a `--write` file or `--json` output).
        old: PathBuf,
        /// The newer inventory.
        new: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The circuit (OpenQASM 2.0 or 3).
    pub file: PathBuf,
    /// The local backend.
    #[arg(long, value_enum, default_value_t = LocalBackend::Statevector)]
    pub backend: LocalBackend,
    /// A calibration snapshot: IBM backend properties JSON or an IonQ characterization.
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
    /// Shots.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub shots: u64,
    /// Seed: the same circuit, seed and calibration give the same counts on any machine [default: random, printed]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (0: all cores); the counts do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The local backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LocalBackend {
    /// Ideal statevector.
    #[value(name = "local:statevector")]
    Statevector,
    /// Density matrix (exact; noisy with --calibration).
    #[value(name = "local:density")]
    Density,
    /// Noisy statevector trajectories.
    #[value(name = "local:trajectories")]
    Trajectories,
    /// Noise from --calibration: density matrix when it fits, trajectories otherwise.
    #[value(name = "local:noisy")]
    Noisy,
}

impl LocalBackend {
    /// As the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            LocalBackend::Statevector => "local:statevector",
            LocalBackend::Density => "local:density",
            LocalBackend::Trajectories => "local:trajectories",
            LocalBackend::Noisy => "local:noisy",
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub grant: GrantArgs,
    /// Print the session summary as JSON (on stderr, like the table: stdout is the agent's).
    #[arg(long)]
    pub json: bool,
    /// Print no summary.
    #[arg(long, short, conflicts_with = "json")]
    pub quiet: bool,
    /// Run even where the kernel offers no isolation at all (neither user namespaces nor
    /// Landlock). The choice is recorded in the ledger.
    #[arg(long)]
    pub allow_unsandboxed: bool,
    /// Accept a Landlock ABI down to N, overriding the profile's `[sandbox] landlock_min_abi`
    /// (0 accepts a kernel without Landlock).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=6))]
    pub landlock_floor: Option<u32>,
    /// Do not use namespaces: Landlock and seccomp only, as on machines without user namespaces
    /// (recorded as degraded in the ledger). For trying the fallback; weaker than the default.
    #[arg(long)]
    pub no_namespaces: bool,
    /// Print the sandbox plan (mounts, Landlock rules, environment, limits) and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
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

/// Which ledger and which key to trust.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// The ledger directory [default: STATE_DIR/ledger]
    #[arg(long, value_name = "DIR")]
    pub ledger: Option<PathBuf>,
    /// The log's verification key, as a vkey string or a file holding one [default: derived from
    /// this workstation's signing key, else DIR/log.vkey]
    #[arg(long, value_name = "VKEY")]
    pub key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the whole ledger: every entry, tile and checkpoint. Exit 0 valid, 6 tampered,
    /// 3 unreadable.
    Verify {
        #[command(flatten)]
        ledger: LedgerArgs,
        /// A witness's cosignature key (vkey or file); report how far the log is anchored.
        #[arg(long, value_name = "VKEY")]
        witness: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a `c2sp.org/tlog-proof@v1` receipt for one entry.
    Prove {
        #[command(flatten)]
        ledger: LedgerArgs,
        /// The entry's index.
        index: u64,
        /// Write the proof here instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check a tlog-proof offline, without the ledger. Exit 0 valid, 6 invalid.
    VerifyProof {
        /// The proof file.
        file: PathBuf,
        /// The log's verification key (vkey or file).
        #[arg(long, value_name = "VKEY")]
        key: String,
        /// A witness's cosignature key (vkey or file).
        #[arg(long, value_name = "VKEY")]
        witness: Vec<String>,
        /// The entry, if the proof does not carry it.
        #[arg(long, value_name = "FILE")]
        entry: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the consistency proof between two sizes of the log (base64 hashes, one per line).
    Consistency {
        #[command(flatten)]
        ledger: LedgerArgs,
        /// The older size.
        #[arg(long)]
        from: u64,
        /// The newer size [default: the latest]
        #[arg(long)]
        to: Option<u64>,
    },
    /// Push the latest checkpoint to the witnesses in the profile's `[[ledger.witnesses]]` and
    /// keep their cosignatures. Exit 0 all cosigned, 6 a witness shows the log was truncated or
    /// forked since it cosigned, 1 a witness could not be reached or failed otherwise.
    Push {
        #[command(flatten)]
        ledger: LedgerArgs,
    },
    /// Print the log's verification key.
    Key {
        #[command(flatten)]
        ledger: LedgerArgs,
    },
    /// Print one entry.
    Show {
        #[command(flatten)]
        ledger: LedgerArgs,
        /// The entry's index.
        index: u64,
        /// Print the entry's canonical JSON unchanged.
        #[arg(long)]
        json: bool,
    },
    /// Print the last entries, and with -f keep printing new ones.
    Tail {
        #[command(flatten)]
        ledger: LedgerArgs,
        /// How many entries.
        #[arg(short = 'n', default_value_t = 10)]
        lines: u64,
        /// Keep printing entries as they are appended.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Print the entries' canonical JSON.
        #[arg(long)]
        json: bool,
    },
    /// Find entries by session, kind and time.
    Search {
        #[command(flatten)]
        ledger: LedgerArgs,
        /// Only this session.
        #[arg(long)]
        session: Option<String>,
        /// Only this kind (e.g. `exec`, `net.decision`, `policy.decision`).
        #[arg(long)]
        kind: Option<String>,
        /// Only entries at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Print the entries' canonical JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export entries as OCSF JSON lines for a SIEM.
    Export {
        #[command(flatten)]
        ledger: LedgerArgs,
        /// The format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Ocsf)]
        format: ExportFormat,
        /// Start at this index.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Keep exporting entries as they are appended.
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// OCSF 1.x events, one JSON object per line.
    Ocsf,
}

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Serve the tlog-witness `add-checkpoint` endpoint.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: std::net::SocketAddr,
        /// The witness's directory (its key and the latest checkpoint of each log).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Name of the witness (its key name) when the key is first made.
        #[arg(long)]
        name: Option<String>,
        /// A log to witness: its verification key (vkey or file). Repeat for more logs.
        #[arg(long, value_name = "VKEY", required = true)]
        log: Vec<String>,
    },
}

/// `qwarden approvals …`: approval requests in STATE_DIR/approvals.
#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List approval requests and where each stands.
    List {
        /// Include requests that have been acted on.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a request in human terms (circuit, backend, shots, cost, who asked), or with
    /// --message the exact text to sign: `qwarden approvals show ID --message approve >
    /// req.txt && ssh-keygen -Y sign -n qwarden-approval -f KEY req.txt`.
    Show {
        /// The request's id (`apr-…`).
        id: String,
        /// Print the text an approver signs for this decision instead.
        #[arg(long, value_enum, value_name = "DECISION")]
        message: Option<DecisionArg>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a request: sign it with a key (or a public key loaded in ssh-agent), or hand in a
    /// signature made elsewhere with `ssh-keygen -Y sign -n qwarden-approval`.
    Approve {
        /// The request's id.
        id: String,
        #[command(flatten)]
        vote: VoteArgs,
        /// The approver's current TOTP code, where the tier asks for a second factor.
        #[arg(long, value_name = "CODE")]
        totp: Option<String>,
    },
    /// Deny a request (one denial ends it unless the profile's deny_threshold says otherwise).
    Deny {
        /// The request's id.
        id: String,
        #[command(flatten)]
        vote: VoteArgs,
    },
    /// Enrol an approver's TOTP second factor; prints the otpauth:// URI for an authenticator
    /// app. Re-enrolling replaces the old secret.
    Enroll {
        /// The approver's name in the profile.
        name: String,
    },
}

/// How a vote is signed.
#[derive(Debug, Args)]
pub struct VoteArgs {
    /// The approver's private key (or public key, to sign with ssh-agent).
    #[arg(
        long,
        short = 'k',
        value_name = "KEY",
        required_unless_present = "signature"
    )]
    pub key: Option<PathBuf>,
    /// A file holding the key's passphrase (or set QWARDEN_KEY_PASSPHRASE).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub passphrase_file: Option<PathBuf>,
    /// A signature made with `ssh-keygen -Y sign -n qwarden-approval` over the text
    /// `qwarden approvals show ID --message DECISION` prints.
    #[arg(long, value_name = "FILE", conflicts_with = "key")]
    pub signature: Option<PathBuf>,
}

/// An approver's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecisionArg {
    /// Approve.
    Approve,
    /// Deny.
    Deny,
}

/// `qwarden secrets …`: the credential vault in STATE_DIR/vault.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Create the vault. By default it is unlocked by an age identity file (created 0600 at
    /// CONFIG_DIR/vault-identity.txt if absent); with --passphrase, by a passphrase read from
    /// QWARDEN_VAULT_PASSPHRASE or asked on the terminal.
    Init {
        /// The identity file to create or use [env: QWARDEN_VAULT_IDENTITY] [default: CONFIG_DIR/vault-identity.txt]
        #[arg(long, value_name = "FILE", conflicts_with = "passphrase")]
        identity: Option<PathBuf>,
        /// Unlock the vault with a passphrase instead of an identity file.
        #[arg(long)]
        passphrase: bool,
        /// scrypt work factor (log2 N) for a passphrase vault; each step doubles the work
        /// [default: about one second on this machine]
        #[arg(long, value_name = "N", requires = "passphrase", value_parser = clap::value_parser!(u8).range(10..=22))]
        work_factor: Option<u8>,
    },
    /// Add a secret; its value is read from standard input (one trailing newline dropped), or
    /// typed with echo off on a terminal. Refuses an existing name: use `rotate`.
    Add {
        /// The secret's name: 1-64 of a-z, 0-9, `.`, `_`, `-` (name it after the provider, e.g.
        /// `ibm`, to make it the one sessions use).
        name: String,
        /// Whose credential it is.
        #[arg(long, value_enum)]
        provider: ProviderArg,
        /// Read the value from this environment variable instead of standard input.
        #[arg(long, value_name = "VAR")]
        from_env: Option<String>,
    },
    /// List the secrets: name, provider, dates and source; never a value.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a secret.
    Remove {
        /// The secret's name.
        name: String,
    },
    /// Replace a secret's value (read like `add`), keeping its name, provider and creation date.
    Rotate {
        /// The secret's name.
        name: String,
        /// Read the value from this environment variable instead of standard input.
        #[arg(long, value_name = "VAR")]
        from_env: Option<String>,
    },
    // `secrets scan` and `secrets import` (the plaintext-credential scanner) go below this line.
    /// Find provider keys in plaintext: saved Qiskit accounts, `~/.aws/credentials`, Nexus
    /// tokens, `.env` files, shell startup files, notebooks and scripts, and the environment.
    /// Prints where each is with a redacted preview, never a value. Exits 0 when nothing is
    /// found and 7 when something is, so scripts and CI can gate on it.
    Scan {
        /// Files and directories to scan [default: the usual credential files in your home
        /// directory, and the current directory]
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Print the report as JSON (findings with redacted previews, skipped paths).
        #[arg(long)]
        json: bool,
        /// Do not check the environment variables.
        #[arg(long)]
        no_env: bool,
    },
    /// Move the plaintext keys `scan` finds into the vault: each value is stored first (named
    /// after its provider and kind, source `imported from FILE:LINE`), then replaced in its
    /// file by `qwarden-vault:NAME`; the files become 0600 and ~/.qiskit, ~/.aws, ~/.qnx 0700.
    /// Prints how to rotate each key at its provider. Asks for confirmation on a terminal;
    /// elsewhere needs --yes. Environment variables are reported, not imported.
    Import {
        /// Files and directories to scan [default: as `scan`]
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Import without asking for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Print the result as JSON (never a value).
        #[arg(long)]
        json: bool,
        /// Do not check the environment variables.
        #[arg(long)]
        no_env: bool,
    },
}

/// The providers a secret can belong to.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProviderArg {
    /// IBM Quantum (IBM Cloud API key or IBM Quantum token).
    Ibm,
    /// IonQ.
    Ionq,
    /// Amazon Web Services (Braket).
    Aws,
    /// Quantinuum (Nexus).
    Quantinuum,
}
