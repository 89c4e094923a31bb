//! The workstation profile: what this machine is (its tier), which providers and approvers it has,
//! and the ceilings every agent grant is cut down to.
//!
//! `qwarden init` writes one with [`Profile::template`]; parsing is as strict as for manifests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diag::{self, LineIndex, SourceError};
use crate::host::HostPattern;
use crate::manifest::{Registry, is_name};
use crate::tier::Tier;

mod egress;

pub use egress::Egress;
use egress::RawEgress;

/// A parsed, validated workstation profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// The file it was read from (empty for a built-in default).
    pub source: PathBuf,
    /// This workstation's tier.
    pub tier: Tier,
    /// Whether agents may run at all on a prod workstation.
    pub allow_agents_on_prod: bool,
    /// Configured QPU providers.
    pub providers: Vec<Provider>,
    /// Humans who may approve gated actions.
    pub approvers: Vec<Approver>,
    /// Approval thresholds per tier.
    pub approvals: Approvals,
    /// How approval requests are announced and how long they wait.
    pub approval_notices: ApprovalNotices,
    /// Egress allow and deny lists.
    pub egress: Egress,
    /// Registries staging agents may install from.
    pub package_registries: Vec<Registry>,
    /// Default and maximum resource limits.
    pub limits: Limits,
    /// Where qwarden keeps its files.
    pub paths: Paths,
    /// How the audit ledger keeps checkpoints and which witnesses anchor it.
    pub ledger: LedgerSettings,
    /// How agent sessions are sandboxed on this workstation.
    pub sandbox: SandboxSettings,
}

/// The `[sandbox]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of sandbox settings")]
pub struct SandboxSettings {
    /// Extra paths every session sees read-only, typically toolchains installed in the home
    /// directory (`~/.rustup`, `~/.cargo/bin`, `~/.pyenv`). Credential stores inside stay hidden.
    #[serde(default)]
    pub read_only: Vec<String>,
    /// The lowest Landlock ABI a session accepts (1–6); `qwarden run --landlock-floor` overrides.
    #[serde(default = "default_landlock_min_abi")]
    pub landlock_min_abi: u32,
    /// Whether read-only opens are observed too (so reads outside the scopes are recorded);
    /// costs a round trip to the supervisor per open.
    #[serde(default = "default_true")]
    pub observe_reads: bool,
}

/// The newest Landlock ABI a profile may require.
pub const MAX_LANDLOCK_ABI: u32 = 6;

fn default_landlock_min_abi() -> u32 {
    3
}

fn default_true() -> bool {
    true
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            read_only: Vec::new(),
            landlock_min_abi: default_landlock_min_abi(),
            observe_reads: true,
        }
    }
}

/// The `[ledger]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of ledger settings")]
pub struct LedgerSettings {
    /// Keep a checkpoint in `checkpoints/` at least every this many entries.
    #[serde(default = "default_every_entries")]
    pub checkpoint_every_entries: u64,
    /// Keep a checkpoint at least this often (seconds) while events are appended.
    #[serde(default = "default_every_seconds")]
    pub checkpoint_every_seconds: u64,
    /// Witnesses that cosign the ledger's checkpoints.
    #[serde(default)]
    pub witnesses: Vec<WitnessSettings>,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings {
            checkpoint_every_entries: default_every_entries(),
            checkpoint_every_seconds: default_every_seconds(),
            witnesses: Vec::new(),
        }
    }
}

fn default_every_entries() -> u64 {
    10_000
}

fn default_every_seconds() -> u64 {
    60
}

/// A `[[ledger.witnesses]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with name, url and key")]
pub struct WitnessSettings {
    /// The witness's name (its key name).
    pub name: String,
    /// Its `add-checkpoint` base URL, e.g. `http://witness.lab.example:7380`.
    pub url: String,
    /// Its cosignature verification key (`name+hex+base64`).
    pub key: String,
}

/// What kind of service a provider is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[serde(expecting = "a provider kind")]
pub enum ProviderKind {
    /// IBM Quantum (Qiskit Runtime REST API).
    Ibm,
    /// IonQ (API v0.4).
    Ionq,
    /// Amazon Braket.
    Braket,
    /// The built-in simulator.
    Local,
}

impl ProviderKind {
    /// The kind's name as written in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Ibm => "ibm",
            ProviderKind::Ionq => "ionq",
            ProviderKind::Braket => "braket",
            ProviderKind::Local => "local",
        }
    }
}

/// A `[[providers]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provider {
    /// Name agents use in manifests (`ibm`, `ionq-prod`, …).
    pub name: String,
    /// Which API it speaks.
    pub kind: ProviderKind,
    /// Base URLs of its API.
    pub endpoints: Vec<String>,
    /// The hosts of those URLs, as patterns.
    pub endpoint_hosts: Vec<HostPattern>,
    /// Name of its secret in the qwarden vault.
    pub vault: Option<String>,
    /// IBM: the instance's CRN, which every runtime call names (`Service-CRN`).
    pub instance: Option<String>,
    /// A PEM file of certificate authorities trusted for this provider's endpoints in addition
    /// to the public roots (a lab's internal CA in front of an air-gapped mirror).
    pub ca_file: Option<String>,
}

/// An `[[approvers]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approver {
    /// Who this is.
    pub name: String,
    /// Their OpenSSH public key, as in `authorized_keys`.
    pub key: String,
    /// Roles, e.g. `approver`, `admin`.
    pub roles: Vec<String>,
}

/// Approval thresholds for the tiers that gate actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Approvals {
    /// Staging.
    pub staging: Threshold,
    /// Prod.
    pub prod: Threshold,
}

impl Approvals {
    /// The threshold for `tier` (sandbox gates nothing behind approval and uses staging's numbers if
    /// a user policy asks for approval there).
    pub fn for_tier(&self, tier: Tier) -> Threshold {
        match tier {
            Tier::Sandbox | Tier::Staging => self.staging,
            Tier::Prod => self.prod,
        }
    }
}

/// The `[approvals]` settings besides thresholds: where requests are announced and how long
/// they wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalNotices {
    /// A webhook URL that gets a JSON POST per request (Slack, Teams and ntfy accept it).
    pub webhook: Option<String>,
    /// The ntfy topic, when the webhook is an ntfy server's root URL.
    pub webhook_topic: Option<String>,
    /// Whether to raise a desktop notification where a session bus exists.
    pub desktop: bool,
    /// How long a request waits for its approvers, in minutes.
    pub ttl_minutes: u32,
}

impl Default for ApprovalNotices {
    fn default() -> ApprovalNotices {
        ApprovalNotices {
            webhook: None,
            webhook_topic: None,
            desktop: true,
            ttl_minutes: 60,
        }
    }
}

/// How many distinct approvers must approve, and how many denials end a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table with `threshold` and optionally `deny_threshold`")]
pub struct Threshold {
    /// Distinct approvals needed.
    pub threshold: u32,
    /// Denials that end the request.
    #[serde(default = "one")]
    pub deny_threshold: u32,
}

fn one() -> u32 {
    1
}

/// Resource limits: a manifest may ask for less, never more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table of limits")]
pub struct Limits {
    /// Memory for the whole process tree, in MiB.
    pub memory_mb: u64,
    /// Number of processes and threads.
    pub processes: u64,
    /// Open file descriptors per process.
    pub open_files: u64,
    /// CPU time per process, in seconds.
    pub cpu_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 8192,
            processes: 512,
            open_files: 4096,
            cpu_seconds: 4 * 3600,
        }
    }
}

/// The `[paths]` table; `~` is expanded when used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table of paths")]
pub struct Paths {
    /// Where the ledger, vault, bundles and approvals live.
    pub state_dir: Option<String>,
    /// The OpenSSH allowed-signers file trusted for manifests.
    pub allowed_signers: Option<String>,
    /// A directory of extra Cedar policies (`*.cedar`).
    pub policies: Option<String>,
}

/// A profile that could not be read or is invalid.
pub type ProfileError = crate::manifest::ManifestError;

/// Profiles larger than this are refused before parsing.
pub const MAX_PROFILE_BYTES: usize = 256 * 1024;

// ------------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table")]
struct RawProfile {
    tier: Spanned<String>,
    #[serde(default)]
    agents: RawAgents,
    #[serde(default)]
    providers: Vec<Spanned<RawProvider>>,
    #[serde(default)]
    approvers: Vec<Spanned<RawApprover>>,
    approvals: Option<RawApprovals>,
    #[serde(default)]
    egress: RawEgress,
    #[serde(default)]
    packages: RawPackages,
    limits: Option<RawLimits>,
    #[serde(default)]
    paths: Paths,
    #[serde(default)]
    ledger: LedgerSettings,
    #[serde(default)]
    sandbox: RawSandbox,
}

/// `[sandbox]` as written, with a position for the ABI check.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table of sandbox settings")]
struct RawSandbox {
    #[serde(default)]
    read_only: Vec<String>,
    landlock_min_abi: Option<Spanned<u32>>,
    observe_reads: Option<bool>,
}

/// `[limits]` as written, with positions for the zero check.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table of limits")]
struct RawLimits {
    memory_mb: Spanned<u64>,
    processes: Spanned<u64>,
    open_files: Spanned<u64>,
    cpu_seconds: Spanned<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table")]
struct RawAgents {
    #[serde(default)]
    allow_on_prod: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table with `name`, `kind`, `endpoints`, `vault` and, for IBM, `instance`")]
struct RawProvider {
    name: Spanned<String>,
    kind: ProviderKind,
    #[serde(default)]
    endpoints: Vec<Spanned<String>>,
    vault: Option<String>,
    instance: Option<Spanned<String>>,
    ca_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table with `name`, `key` and `roles`")]
struct RawApprover {
    name: Spanned<String>,
    key: Spanned<String>,
    #[serde(default = "default_roles")]
    roles: Vec<String>,
}

fn default_roles() -> Vec<String> {
    vec!["approver".into()]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table")]
struct RawApprovals {
    staging: Option<Spanned<Threshold>>,
    prod: Option<Spanned<Threshold>>,
    webhook: Option<Spanned<String>>,
    webhook_topic: Option<String>,
    desktop: Option<bool>,
    ttl_minutes: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table")]
struct RawPackages {
    #[serde(default)]
    registries: Vec<Registry>,
}

const DEFAULT_STAGING: Threshold = Threshold {
    threshold: 1,
    deny_threshold: 1,
};
const DEFAULT_PROD: Threshold = Threshold {
    threshold: 2,
    deny_threshold: 1,
};

impl Profile {
    /// Parses and validates profile `text`, read from `file`.
    pub fn parse(text: &str, file: &Path) -> Result<Profile, ProfileError> {
        let err = |e: SourceError| ProfileError { errors: vec![e] };
        if text.len() > MAX_PROFILE_BYTES {
            return Err(err(SourceError::at_span(
                file,
                "",
                None,
                format!("the profile is {} bytes; the limit is {MAX_PROFILE_BYTES}", text.len()),
                Some("a workstation profile lists providers, approvers and hosts; keep data elsewhere".into()),
            )));
        }
        let raw: RawProfile =
            toml::from_str(text).map_err(|e| err(diag::from_toml(file, text, &e)))?;
        let index = LineIndex::new(text);
        let mut errors = Vec::new();
        let mut fail = |span: std::ops::Range<usize>, msg: String, hint: &str| {
            errors.push(index.error(file, Some(span), msg, hint));
        };

        let tier = match raw.tier.get_ref().parse::<Tier>() {
            Ok(t) => t,
            Err(e) => {
                fail(
                    raw.tier.span(),
                    e.to_string(),
                    "set `tier = \"sandbox\"`, `\"staging\"` or `\"prod\"`",
                );
                Tier::Prod
            }
        };

        let mut names = BTreeSet::new();
        let mut providers = Vec::new();
        for p in raw.providers {
            let span = p.span();
            let p = p.into_inner();
            let name = p.name.get_ref().clone();
            if !is_name(&name) {
                fail(
                    p.name.span(),
                    format!("`{name}` is not a provider name"),
                    "use lower-case letters, digits, `-` and `_`",
                );
            }
            if !names.insert(name.clone()) {
                fail(
                    p.name.span(),
                    format!("provider `{name}` is listed twice"),
                    "give each [[providers]] entry its own name",
                );
            }
            let mut endpoint_hosts = Vec::new();
            for e in &p.endpoints {
                match endpoint_host(e.get_ref()) {
                    Ok(h) => endpoint_hosts.push(h),
                    Err(msg) => fail(
                        e.span(),
                        msg,
                        "write the API's base URL, e.g. `https://quantum.cloud.ibm.com`",
                    ),
                }
            }
            if p.kind != ProviderKind::Local {
                if p.endpoints.is_empty() {
                    fail(
                        span.clone(),
                        format!("provider `{name}` has no endpoints"),
                        "list the provider's API base URLs in `endpoints`",
                    );
                }
                if p.vault.as_deref().is_none_or(str::is_empty) {
                    fail(
                        span,
                        format!("provider `{name}` names no vault secret"),
                        "add `vault = \"NAME\"`, the secret `qwarden secrets add NAME` stores",
                    );
                }
            }
            if let Some(instance) = &p.instance {
                let crn = instance.get_ref();
                if p.kind != ProviderKind::Ibm {
                    fail(
                        instance.span(),
                        format!("provider `{name}` is not an IBM provider and has no instance"),
                        "remove `instance`; only `kind = \"ibm\"` providers name an instance CRN",
                    );
                } else if !crn.starts_with("crn:") || crn.bytes().any(|b| !b.is_ascii_graphic()) {
                    fail(
                        instance.span(),
                        format!("`{crn}` is not an instance CRN"),
                        "copy the instance's CRN from IBM Quantum Platform: `crn:v1:bluemix:public:quantum-computing:<region>:a/<account>:<instance>::`",
                    );
                }
            }
            providers.push(Provider {
                name,
                kind: p.kind,
                endpoints: p.endpoints.into_iter().map(Spanned::into_inner).collect(),
                endpoint_hosts,
                vault: p.vault,
                instance: p.instance.map(Spanned::into_inner),
                ca_file: p.ca_file,
            });
        }

        let mut approver_names = BTreeSet::new();
        let mut approvers = Vec::new();
        for a in raw.approvers {
            let a = a.into_inner();
            let name = a.name.get_ref();
            if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
                fail(
                    a.name.span(),
                    format!("`{name}` is not an approver name"),
                    "give the approver a short name without control characters, e.g. `alice`",
                );
            }
            if !approver_names.insert(a.name.get_ref().clone()) {
                fail(
                    a.name.span(),
                    format!("approver `{}` is listed twice", a.name.get_ref()),
                    "give each [[approvers]] entry its own name",
                );
            }
            if let Err(e) = ssh_key::PublicKey::from_openssh(a.key.get_ref()) {
                fail(
                    a.key.span(),
                    format!("approver `{}` has an unreadable key: {e}", a.name.get_ref()),
                    "paste one line of the approver's `.pub` file, e.g. `ssh-ed25519 AAAA… alice@lab`",
                );
            }
            if a.roles.is_empty() {
                fail(
                    a.name.span(),
                    format!("approver `{}` has no roles", a.name.get_ref()),
                    "add `roles = [\"approver\"]`",
                );
            }
            approvers.push(Approver {
                name: a.name.into_inner(),
                key: a.key.into_inner(),
                roles: a.roles,
            });
        }

        let mut approval_notices = ApprovalNotices::default();
        if let Some(a) = &raw.approvals {
            if let Some(w) = &a.webhook {
                let url = w.get_ref();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    fail(
                        w.span(),
                        "approvals.webhook is not an http(s) URL".to_owned(),
                        "give the receiver's URL, e.g. `https://hooks.slack.com/services/…` or `https://ntfy.sh/`",
                    );
                }
                approval_notices.webhook = Some(url.clone());
            }
            approval_notices.webhook_topic = a.webhook_topic.clone();
            approval_notices.desktop = a.desktop.unwrap_or(true);
            if let Some(t) = &a.ttl_minutes {
                if *t.get_ref() == 0 || *t.get_ref() > 7 * 24 * 60 {
                    fail(
                        t.span(),
                        format!("approvals.ttl_minutes is {}", t.get_ref()),
                        "give a wait of 1 minute to 7 days (10080)",
                    );
                }
                approval_notices.ttl_minutes = *t.get_ref();
            }
        }
        let approvals = match raw.approvals {
            None => Approvals {
                staging: DEFAULT_STAGING,
                prod: DEFAULT_PROD,
            },
            Some(a) => {
                let mut threshold = |tier: &str,
                                     t: Option<Spanned<Threshold>>,
                                     default: Threshold| {
                    let Some(t) = t else { return default };
                    let at = t.span();
                    let t = t.into_inner();
                    if t.threshold == 0 || t.deny_threshold == 0 {
                        fail(
                            at,
                            format!("approvals.{tier} has a zero threshold"),
                            "approvals need at least one approver (and one denial ends a request by default)",
                        );
                    } else if tier == "prod" && t.threshold < 2 {
                        fail(
                            at,
                            format!("approvals.prod.threshold is {}", t.threshold),
                            "prod needs M-of-N approvals with M of at least 2 distinct approvers",
                        );
                    }
                    t
                };
                Approvals {
                    staging: threshold("staging", a.staging, DEFAULT_STAGING),
                    prod: threshold("prod", a.prod, DEFAULT_PROD),
                }
            }
        };

        let egress = egress::parse(raw.egress, &mut fail);

        let sandbox = SandboxSettings {
            read_only: raw.sandbox.read_only,
            landlock_min_abi: match raw.sandbox.landlock_min_abi {
                None => default_landlock_min_abi(),
                Some(v) => {
                    if *v.get_ref() > MAX_LANDLOCK_ABI {
                        fail(
                            v.span(),
                            format!("sandbox.landlock_min_abi is {}", v.get_ref()),
                            "give a Landlock ABI from 0 (accept a kernel without Landlock) to 6",
                        );
                    }
                    v.into_inner()
                }
            },
            observe_reads: raw.sandbox.observe_reads.unwrap_or(true),
        };

        let limits = match raw.limits {
            None => Limits::default(),
            Some(l) => {
                let mut positive = |key: &str, v: Spanned<u64>| {
                    if *v.get_ref() == 0 {
                        fail(
                            v.span(),
                            format!("limits.{key} is 0"),
                            "give positive limits, or remove the table to take the defaults",
                        );
                    }
                    v.into_inner()
                };
                Limits {
                    memory_mb: positive("memory_mb", l.memory_mb),
                    processes: positive("processes", l.processes),
                    open_files: positive("open_files", l.open_files),
                    cpu_seconds: positive("cpu_seconds", l.cpu_seconds),
                }
            }
        };

        if errors.is_empty() {
            Ok(Profile {
                source: file.to_path_buf(),
                tier,
                allow_agents_on_prod: raw.agents.allow_on_prod,
                providers,
                approvers,
                approvals,
                approval_notices,
                egress,
                package_registries: raw.packages.registries,
                limits,
                paths: raw.paths,
                ledger: raw.ledger,
                sandbox,
            })
        } else {
            Err(ProfileError {
                errors: diag::sorted_and_capped(errors),
            })
        }
    }

    /// The provider called `name`.
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The built-in profile for `tier`: what `qwarden init --tier TIER` writes, parsed.
    pub fn builtin(tier: Tier) -> Profile {
        match Profile::parse(&Profile::template(tier), Path::new("<built-in profile>")) {
            Ok(p) => p,
            // The templates are tested to parse for every tier; this arm keeps the function total.
            Err(_) => Profile {
                source: PathBuf::new(),
                tier,
                allow_agents_on_prod: false,
                providers: Vec::new(),
                approvers: Vec::new(),
                approvals: Approvals {
                    staging: DEFAULT_STAGING,
                    prod: DEFAULT_PROD,
                },
                approval_notices: ApprovalNotices::default(),
                egress: Egress::default(),
                package_registries: Vec::new(),
                limits: Limits::default(),
                paths: Paths::default(),
                ledger: LedgerSettings::default(),
                sandbox: SandboxSettings::default(),
            },
        }
    }

    /// The commented TOML text `qwarden init --tier TIER` writes.
    pub fn template(tier: Tier) -> String {
        let egress_allow = match tier {
            Tier::Sandbox | Tier::Staging => {
                r#"[
  # Provider APIs (reached through the qwarden gateway, which holds the real keys).
  "quantum.cloud.ibm.com", "*.quantum.cloud.ibm.com", "iam.cloud.ibm.com",
  "api.ionq.co",
  # Package registries and source hosting.
  "pypi.org", "files.pythonhosted.org",
  "registry.npmjs.org",
  "crates.io", "index.crates.io", "static.crates.io",
  "github.com", "codeload.github.com", "objects.githubusercontent.com",
]"#
            }
            Tier::Prod => {
                r#"[
  # prod reaches provider endpoints only.
  "quantum.cloud.ibm.com", "*.quantum.cloud.ibm.com", "iam.cloud.ibm.com",
  "api.ionq.co",
]"#
            }
        };
        let registries = match tier {
            Tier::Staging => r#"["pypi"]"#,
            Tier::Sandbox | Tier::Prod => "[]",
        };
        format!(
            r#"# qwarden workstation profile.
# Format reference: README.md, "Workstation profile". Unknown keys are refused.

# sandbox | staging | prod. Decides which column of the permission matrix applies.
tier = "{tier}"

[agents]
# On a prod workstation `qwarden run` refuses to start agents unless this is true.
allow_on_prod = false

# QPU providers. Agents name them in their manifests; their keys live in the qwarden vault and
# never enter a sandbox.
[[providers]]
name = "local"
kind = "local"

# IBM: the runtime API first, then IBM Cloud IAM; `instance` is the CRN of your IBM Quantum
# Platform instance (jobs go to IBM only once it is set).
[[providers]]
name = "ibm"
kind = "ibm"
endpoints = ["https://quantum.cloud.ibm.com", "https://iam.cloud.ibm.com"]
vault = "ibm"
# instance = "crn:v1:bluemix:public:quantum-computing:us-east:a/<account>:<instance>::"

[[providers]]
name = "ionq"
kind = "ionq"
endpoints = ["https://api.ionq.co"]
vault = "ionq"

# People who may approve gated actions, by OpenSSH public key:
# [[approvers]]
# name = "alice"
# key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… alice@lab.example"
# roles = ["approver"]

[approvals]
staging = {{ threshold = 1, deny_threshold = 1 }}
prod = {{ threshold = 2, deny_threshold = 1 }}
# Announce requests: a JSON POST that Slack, Teams and ntfy accept, and a desktop notification.
# webhook = "https://ntfy.sh/"
# webhook_topic = "qwarden-approvals"
desktop = true
ttl_minutes = 60

[egress]
# Hosts any agent on this workstation may be granted (a manifest asks; this caps).
allow = {egress_allow}
# Hosts no agent may reach, whatever else allows them.
deny = []
# qwarden also refuses file-sharing, paste, tunnel, request-capture and object-storage hosts that a
# broad allow pattern would sweep in (README.md, "Built-in deny list"). Lift an entry by writing it
# exactly as listed, e.g. exempt = ["*.s3.amazonaws.com"] for a lab whose agents use S3.
exempt = []
# The proxy never connects to loopback, private, link-local, carrier-grade NAT or cloud-metadata
# addresses unless a range here contains the address, e.g. allow_ranges = ["127.0.0.1/32",
# "10.20.0.0/16"]. A cloud-metadata address (169.254.169.254) opens only through a range that is
# exactly that one address.
allow_ranges = []

# Host -> address overrides for tests and air-gapped labs: the proxy connects to the address instead
# of resolving the name. The address must still pass allow_ranges (a loopback one needs an entry).
# [egress.hosts]
# "api.quantum.ibm.com" = "127.0.0.1:8443"

[packages]
# Registries staging agents may install from (sandbox follows the manifest; prod never installs).
registries = {registries}

[limits]
# Defaults and ceilings for every agent session.
memory_mb = 8192
processes = 512
open_files = 4096
cpu_seconds = 14400

[ledger]
# The audit ledger keeps a signed checkpoint at least this often; witnesses cosign them.
checkpoint_every_entries = 10000
checkpoint_every_seconds = 60
# [[ledger.witnesses]]
# name = "witness.lab.example"
# url = "http://witness.lab.example:7380"
# key = "witness.lab.example+0123abcd+BASE64KEY"

[sandbox]
# Toolchains outside the system directories that every session sees read-only, e.g.
# read_only = ["~/.rustup", "~/.cargo/bin", "~/.pyenv"]
read_only = []
# Refuse to run on kernels whose Landlock ABI is below this (`qwarden run --landlock-floor` overrides).
landlock_min_abi = 3
# Observe read-only opens too, so that reads outside the scopes are recorded.
observe_reads = true

[paths]
# Defaults: state in $XDG_STATE_HOME/qwarden, trust and policies in this directory.
# state_dir = "~/.local/state/qwarden"
# allowed_signers = "~/.config/qwarden/allowed_signers"
# policies = "~/.config/qwarden/policies"
"#
        )
    }
}

/// The host pattern of an endpoint URL (`https://host[:port][/path]`).
fn endpoint_host(url: &str) -> Result<HostPattern, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("endpoint `{url}` is not an http(s) URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') || authority.contains('*') {
        return Err(format!(
            "endpoint `{url}` must name a single host without credentials"
        ));
    }
    authority
        .parse::<HostPattern>()
        .map_err(|e| format!("endpoint `{url}`: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn every_template_parses() {
        for tier in Tier::ALL {
            let p = Profile::parse(&Profile::template(tier), Path::new("t.toml")).unwrap();
            assert_eq!(p.tier, tier);
            assert_eq!(
                Profile::builtin(tier),
                Profile {
                    source: "<built-in profile>".into(),
                    ..p
                }
            );
        }
    }

    #[test]
    fn endpoint_hosts_come_from_urls() {
        assert_eq!(
            endpoint_host("https://api.ionq.co/v0.4")
                .unwrap()
                .to_string(),
            "api.ionq.co"
        );
        assert_eq!(
            endpoint_host("http://127.0.0.1:8787").unwrap().to_string(),
            "127.0.0.1:8787"
        );
        assert!(endpoint_host("ftp://x.example").is_err());
        assert!(endpoint_host("https://user@x.example").is_err());
    }
}
