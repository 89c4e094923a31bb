//! A scratch workstation for the red-team suite: configuration, state and ledger, a home with a
//! canary provider key, a project with a canary notebook, and a freshly made publisher key that
//! signs each attack's manifest. Sessions run through the real `qwarden run` of the binary given.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use qwarden_ledger::event::{Body, Event, Verdict};
use qwarden_ledger::home::LedgerHome;
use qwarden_ledger::reader::LogReader;

/// The lab's policy: noisy simulations wait for a human approval.
pub const GATE_POLICY: &str = r#"@id("redteam.noisy-needs-approval")
@mode("approval")
@reason("noisy simulations need a human approval in this lab")
permit (principal, action == Qwarden::Action::"submit_job", resource == Qwarden::Backend::"local:noisy");
"#;

/// The publisher principal the lab trusts.
pub const PUBLISHER: &str = "redteam@qwarden.invalid";

/// Why the lab could not be set up or a session could not be run.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A file could not be written.
    #[error("cannot prepare the red-team lab: {0}")]
    Setup(String),
    /// A qwarden command failed.
    #[error("`qwarden {command}` failed in the red-team lab: {reason}")]
    Command {
        /// The command.
        command: String,
        /// Its output.
        reason: String,
    },
}

/// One refusal or denial the ledger recorded for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `violation`, `net.decision` …
    pub kind: String,
    /// The control that acted (`seccomp`, `egress`, `gateway`, …).
    pub control: String,
    /// What was attempted (for a network denial, the host).
    pub attempted: String,
    /// On what.
    pub target: String,
}

/// What one session did.
#[derive(Debug, Clone)]
pub struct Session {
    /// The agent's standard output.
    pub stdout: String,
    /// qwarden's JSON summary.
    pub summary: serde_json::Value,
    /// The refusals the ledger recorded for it.
    pub recorded: Vec<Recorded>,
}

/// A scratch workstation.
pub struct Lab {
    dir: tempfile::TempDir,
    qwarden: PathBuf,
    tier: String,
    /// The canary secret planted in the fake provider key, the notebook and the environment.
    pub canary: String,
}

fn io(what: &str) -> impl Fn(std::io::Error) -> LabError + '_ {
    move |e| LabError::Setup(format!("{what}: {e}"))
}

impl Lab {
    /// A lab for `tier` whose sessions run `qwarden` (this binary).
    pub fn new(qwarden: &Path, tier: &str) -> Result<Lab, LabError> {
        let dir = tempfile::Builder::new()
            .prefix("qwarden-redteam-")
            .tempdir()
            .map_err(io("a temporary directory"))?;
        // Sessions may run as another user than the lab's owner (root dropping privileges):
        // the lab is world-traversable, its secrets only readable by their owner.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(io("the lab directory"))?;
        let mut canary = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut canary);
        let canary = format!(
            "qwarden-canary-{}",
            canary
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let lab = Lab {
            dir,
            qwarden: qwarden.to_path_buf(),
            tier: tier.to_owned(),
            canary,
        };
        lab.prepare()?;
        Ok(lab)
    }

    /// The lab's root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The fake home.
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    /// The project the agent works in.
    pub fn project(&self) -> PathBuf {
        self.root().join("project")
    }

    /// The lab's state directory.
    pub fn state(&self) -> PathBuf {
        self.root().join("state")
    }

    /// The lab's configuration directory.
    pub fn config(&self) -> PathBuf {
        self.root().join("config")
    }

    /// The tier.
    pub fn tier(&self) -> &str {
        &self.tier
    }

    /// Writes `text` to `path`, making its directories.
    pub fn write(&self, path: &Path, text: &str) -> Result<(), LabError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("a lab directory"))?;
        }
        std::fs::write(path, text).map_err(io("a lab file"))
    }

    fn prepare(&self) -> Result<(), LabError> {
        for d in [
            self.home(),
            self.project().join("src"),
            self.state(),
            self.config(),
        ] {
            std::fs::create_dir_all(&d).map_err(io("a lab directory"))?;
        }
        self.qwarden(&["init", "--tier", &self.tier])?;
        if self.tier == "prod" {
            let profile = self.config().join("profile.toml");
            let text = std::fs::read_to_string(&profile).map_err(io("the lab profile"))?;
            self.write(
                &profile,
                &text.replace("allow_on_prod = false", "allow_on_prod = true"),
            )?;
        }
        // The canaries: a provider key where qiskit keeps it, a notebook the agent may read but
        // not change, and (see `session`) an environment variable.
        self.write(
            &self.home().join(".qiskit/qiskit-ibm.json"),
            &format!(
                "{{\"default-ibm-quantum-platform\": {{\"channel\": \"ibm_quantum_platform\", \"token\": \"{}\"}}}}\n",
                self.canary
            ),
        )?;
        self.write(
            &self.project().join("notebooks/analysis.ipynb"),
            &format!(
                "{{\"cells\": [{{\"cell_type\": \"markdown\", \"metadata\": {{}}, \"source\": [\"{}\"]}}], \"metadata\": {{}}, \"nbformat\": 4, \"nbformat_minor\": 5}}\n",
                self.canary
            ),
        )?;
        self.write(&self.project().join("src/circuit.py"), "print('bell')\n")?;
        // Jobs a human must approve: the lab's policy gates noisy simulations (on prod every QPU
        // job is gated too), and one approver is listed, whose key nobody in the lab holds.
        self.write(
            &self.project().join("src/lima.json"),
            crate::catalogue::LIMA,
        )?;
        self.write(&self.config().join("policies/redteam.cedar"), GATE_POLICY)?;
        let approver =
            ssh_key::PrivateKey::random(&mut rand_core::OsRng, ssh_key::Algorithm::Ed25519)
                .map_err(|e| LabError::Setup(format!("an approver key: {e}")))?;
        let profile_path = self.config().join("profile.toml");
        let mut profile = std::fs::read_to_string(&profile_path).map_err(io("the lab profile"))?;
        profile = profile.replace("desktop = true", "desktop = false");
        profile.push_str(&format!(
            "\n[[approvers]]\nname = \"absent\"\nkey = \"{}\"\nroles = [\"approver\"]\n",
            approver
                .public_key()
                .to_openssh()
                .map_err(|e| LabError::Setup(format!("an approver key: {e}")))?
        ));
        self.write(&profile_path, &profile)?;
        // The publisher's key, made here, trusted only by this lab.
        let key = ssh_key::PrivateKey::random(&mut rand_core::OsRng, ssh_key::Algorithm::Ed25519)
            .map_err(|e| LabError::Setup(format!("a publisher key: {e}")))?;
        let private = key
            .to_openssh(ssh_key::LineEnding::LF)
            .map_err(|e| LabError::Setup(format!("a publisher key: {e}")))?;
        let public = key
            .public_key()
            .to_openssh()
            .map_err(|e| LabError::Setup(format!("a publisher key: {e}")))?;
        let key_path = self.root().join("publisher");
        self.write(&key_path, &private)?;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("the publisher key"))?;
        self.write(
            &self.root().join("allowed_signers"),
            &format!("{PUBLISHER} {public}\n"),
        )?;
        Ok(())
    }

    /// `qwarden ARGS` in the lab (its configuration, state and home).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.qwarden);
        c.arg("--config-dir")
            .arg(self.config())
            .arg("--state-dir")
            .arg(self.state())
            .args(args)
            .env("HOME", self.home())
            .env_remove("QWARDEN_PROFILE")
            .env_remove("QWARDEN_CONFIG_DIR")
            .env_remove("QWARDEN_STATE_DIR")
            .stdin(Stdio::null());
        c
    }

    /// Runs `qwarden ARGS` in the lab; an error unless it succeeds.
    pub fn qwarden(&self, args: &[&str]) -> Result<std::process::Output, LabError> {
        let out = self.command(args).output().map_err(|e| LabError::Command {
            command: args.join(" "),
            reason: e.to_string(),
        })?;
        if !out.status.success() {
            return Err(LabError::Command {
                command: args.join(" "),
                reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(out)
    }

    /// Writes the agent manifest `body` (everything after `[agent]`) and signs it.
    pub fn manifest(&self, name: &str, body: &str) -> Result<PathBuf, LabError> {
        let path = self.project().join("agent.toml");
        self.write(
            &path,
            &format!(
                "[agent]\nname = \"{name}\"\nversion = \"1.0.0\"\npublisher = \"{PUBLISHER}\"\ndescription = \"a red-team agent\"\n\n{body}"
            ),
        )?;
        let key = self.root().join("publisher");
        let (key, manifest) = (key.to_string_lossy(), path.to_string_lossy());
        self.qwarden(&["manifest", "sign", "--key", &key, &manifest])?;
        Ok(path)
    }

    /// Writes `files` (relative to the project), then runs `argv` as an agent with manifest
    /// `body` in a session, and returns what it printed and what the ledger recorded.
    pub fn session(
        &self,
        name: &str,
        body: &str,
        files: &[(&str, &str)],
        argv: &[&str],
    ) -> Result<Session, LabError> {
        for (rel, text) in files {
            self.write(&self.project().join(rel), text)?;
        }
        let manifest = self.manifest(name, body)?;
        let signers = self.root().join("allowed_signers");
        let mut args = vec![
            "run".to_owned(),
            "--agent".to_owned(),
            manifest.to_string_lossy().into_owned(),
            "--allowed-signers".to_owned(),
            signers.to_string_lossy().into_owned(),
            "--project".to_owned(),
            self.project().to_string_lossy().into_owned(),
            "--json".to_owned(),
            "--".to_owned(),
        ];
        args.extend(argv.iter().map(|a| (*a).to_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self
            .command(&refs)
            .current_dir(self.project())
            // The canary environment variable: a provider key an agent would look for.
            .env("QISKIT_IBM_TOKEN", &self.canary)
            .output()
            .map_err(|e| LabError::Command {
                command: "run".into(),
                reason: e.to_string(),
            })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let summary = summary(&stderr).ok_or_else(|| LabError::Command {
            command: format!("run -- {}", argv.join(" ")),
            reason: format!("no session summary: {}", stderr.trim()),
        })?;
        let id = summary
            .get("session")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(Session {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            recorded: self.recorded(&id)?,
            summary,
        })
    }

    /// The refusals recorded for session `id`.
    pub fn recorded(&self, id: &str) -> Result<Vec<Recorded>, LabError> {
        let home = LedgerHome::new(&self.state());
        let verifier = home
            .verifier()
            .map_err(|e| LabError::Setup(format!("the lab ledger: {e}")))?;
        let reader = LogReader::open(&home.dir, &verifier)
            .map_err(|e| LabError::Setup(format!("the lab ledger: {e}")))?;
        let mut out = Vec::new();
        for item in reader.entries(0, reader.size()) {
            let (_, bytes) = item.map_err(|e| LabError::Setup(format!("the lab ledger: {e}")))?;
            let Ok(event) = Event::from_jcs(&bytes) else {
                continue;
            };
            if event.session.as_deref() != Some(id) {
                continue;
            }
            match event.body {
                Body::Violation(v) => out.push(Recorded {
                    kind: "violation".into(),
                    control: v.control,
                    attempted: v.attempted,
                    target: v.target.unwrap_or_default(),
                }),
                Body::PolicyDecision(d)
                    if d.outcome == qwarden_ledger::event::PolicyOutcome::NeedsApproval =>
                {
                    out.push(Recorded {
                        kind: "policy.decision".into(),
                        control: "approvals".into(),
                        attempted: format!("{} {}", d.action, d.resource),
                        target: d.reasons.join("; "),
                    });
                }
                Body::NetDecision(n) if n.verdict != Verdict::Allow => out.push(Recorded {
                    kind: "net.decision".into(),
                    control: "egress".into(),
                    attempted: format!("{} {}:{}", n.protocol, n.host, n.port),
                    target: n.rule.unwrap_or_default(),
                }),
                _ => {}
            }
        }
        Ok(out)
    }

    /// Runs `qwarden audit verify` on a copy of the lab's ledger after `tamper` changed it; true
    /// when verification failed (the tampering was caught).
    pub fn tampered_ledger_is_caught(
        &self,
        tamper: impl Fn(&Path) -> std::io::Result<()>,
    ) -> Result<bool, LabError> {
        let copy = self.root().join("ledger-copy");
        copy_dir(&self.state().join("ledger"), &copy).map_err(io("a copy of the ledger"))?;
        tamper(&copy).map_err(io("tampering with the copy"))?;
        let vkey = std::fs::read_to_string(self.state().join("ledger/log.vkey"))
            .map_err(io("the ledger key"))?;
        let copy_text = copy.to_string_lossy().into_owned();
        let out = self
            .command(&[
                "audit",
                "verify",
                "--ledger",
                &copy_text,
                "--key",
                vkey.trim(),
            ])
            .output()
            .map_err(|e| LabError::Command {
                command: "audit verify".into(),
                reason: e.to_string(),
            })?;
        Ok(out.status.code() == Some(6))
    }
}

/// The JSON summary `qwarden run --json` writes last on standard error.
pub fn summary(stderr: &str) -> Option<serde_json::Value> {
    let start = stderr
        .rfind("\n{\n")
        .map(|i| i + 1)
        .or_else(|| stderr.starts_with("{\n").then_some(0))?;
    serde_json::from_str(stderr.get(start..)?).ok()
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
