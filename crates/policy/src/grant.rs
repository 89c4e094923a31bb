//! The Grant: what a verified manifest gets on this workstation.
//!
//! Grant = manifest request ∩ the tier's matrix ∩ the workstation profile. Every requested item
//! appears in [`Grant::items`] with the decision and the policies that made it, so nothing asked for
//! is dropped silently.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::host::HostPattern;
use crate::manifest::{AgentIdentity, BackendRef, Budget, DeviceRequest, Manifest, Registry};
use crate::matrix::{Decision, Outcome, PolicyEngine, Question};
use crate::net::{DenyListEntry, HostOverride, IpRange};
use crate::paths::{PathContext, PathError};
use crate::profile::{Limits, Profile, ProviderKind, Threshold};
use crate::signature::Signer;
use crate::tier::Tier;
use crate::verified::VerifiedManifest;

/// Credential stores under the home directory: never readable or writable by an agent.
pub const CREDENTIAL_STORES: &[&str] = &[
    ".qiskit",
    ".aws",
    ".ssh",
    ".gnupg",
    ".qnx",
    ".azure",
    ".config/gcloud",
    ".config/gh",
    ".docker/config.json",
    ".kube",
    ".netrc",
    ".git-credentials",
    ".pypirc",
    ".cargo/credentials.toml",
    ".npmrc",
];

/// Paths inside a write scope that stay read-only, whether they exist yet or not.
pub const PROTECTED: &[&str] = &[
    ".git/hooks",
    ".git/config",
    ".git/info",
    // Files that make git read its configuration or hooks from elsewhere.
    ".git/commondir",
    ".git/config.worktree",
    ".git/modules",
    ".git/worktrees",
    // Common `core.hooksPath` targets.
    ".githooks",
    ".husky",
    ".gitmodules",
    ".github",
    ".gitlab-ci.yml",
    ".circleci",
    ".pre-commit-config.yaml",
    ".envrc",
    ".vscode",
    ".idea",
    ".cursor",
    ".claude",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".config/fish",
    ".inputrc",
    // Things the human's next login or command runs, when a scope holds the home directory.
    ".local/bin",
    ".cargo/bin",
    ".config/systemd",
    ".config/autostart",
];

/// System directories no agent may write to (unless the home directory is inside one).
const SYSTEM_DIRS: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc",
    "/root", "/run", "/sbin", "/srv", "/sys", "/usr", "/var",
];

/// Kernel interfaces: never granted as scopes.
const KERNEL_DIRS: &[&str] = &["/proc", "/sys", "/dev"];

/// The kind of capability an item is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Running a session at all.
    Session,
    /// A read scope.
    Read,
    /// A write scope.
    Write,
    /// A carve-out from the scopes.
    Deny,
    /// A host.
    Network,
    /// A provider credential.
    Credential,
    /// A backend.
    Backend,
    /// A package registry.
    Packages,
    /// A device.
    Device,
    /// Child processes.
    Processes,
    /// A resource limit.
    Limit,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Session => "session",
            Capability::Read => "read",
            Capability::Write => "write",
            Capability::Deny => "deny",
            Capability::Network => "network",
            Capability::Credential => "credential",
            Capability::Backend => "qpu backend",
            Capability::Packages => "packages",
            Capability::Device => "device",
            Capability::Processes => "processes",
            Capability::Limit => "limit",
        })
    }
}

/// One requested item and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantItem {
    /// What kind of capability.
    pub capability: Capability,
    /// What the manifest asked for, as written.
    pub requested: String,
    /// What is granted (possibly narrowed), or `None` if refused.
    pub granted: Option<String>,
    /// The decision and the policies that made it.
    pub decision: Decision,
    /// Anything else the reader should know (narrowing, capping, carve-outs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A granted path scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathGrant {
    /// The normalised path.
    pub path: PathBuf,
    /// `allow`, `listed` (prod reads) or `capture` (staging writes).
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Granted file-system scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct FilesystemGrant {
    /// Readable scopes.
    pub read: Vec<PathGrant>,
    /// Writable scopes (also readable).
    pub write: Vec<PathGrant>,
    /// Paths hidden inside the scopes: the manifest's carve-outs and every credential store.
    pub deny: Vec<PathBuf>,
    /// Paths inside write scopes that stay read-only, existing or not.
    pub protected: Vec<PathBuf>,
}

/// Granted egress: everything the egress proxy needs to decide a connection.
///
/// A host is refused when `deny` or `builtin_deny` matches it, else allowed when `allow` does. An
/// allowed host's addresses (resolved by the proxy, or taken from `overrides`) must be public
/// unicast unless a range in `allow_ranges` contains them; a cloud-metadata address only through a
/// range that is exactly that one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct NetworkGrant {
    /// Hosts the agent may reach.
    pub allow: Vec<HostPattern>,
    /// Hosts it may not reach even if `allow` matches (the profile's deny list).
    pub deny: Vec<HostPattern>,
    /// Hosts it may not reach even if `allow` matches: [`crate::net::BUILTIN_DENY`] less the
    /// entries the profile exempts.
    pub builtin_deny: Vec<HostPattern>,
    /// Address ranges the proxy may connect to although they are loopback, private, link-local,
    /// carrier-grade NAT or cloud metadata (the profile's `egress.allow_ranges`).
    pub allow_ranges: Vec<IpRange>,
    /// Hosts the proxy connects to at a fixed address instead of resolving them (the profile's
    /// `[egress.hosts]`). They grant nothing: the host must still be allowed.
    pub overrides: Vec<HostOverride>,
}

/// A granted provider (the agent gets an ephemeral handle for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderGrant {
    /// The provider's name.
    pub name: String,
    /// Its kind.
    pub kind: ProviderKind,
}

/// A granted backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendGrant {
    /// `provider:backend`.
    pub backend: BackendRef,
    /// The provider's kind.
    pub kind: ProviderKind,
    /// `allow`, or `needs-approval`.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Granted QPU access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct QpuGrant {
    /// Providers with a credential handle.
    pub providers: Vec<ProviderGrant>,
    /// Backends jobs may go to.
    pub backends: Vec<BackendGrant>,
    /// Shots per job.
    pub max_shots: u64,
    /// Session totals.
    pub budget: Budget,
}

/// A granted device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceGrant {
    /// The device.
    pub device: DeviceRequest,
    /// `allow`, or `needs-approval` on prod.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What an agent may do in a session on this workstation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The workstation's tier.
    pub tier: Tier,
    /// The agent.
    pub agent: AgentIdentity,
    /// `sha256:` digest of the manifest the grant came from.
    pub manifest_digest: String,
    /// Who signed the manifest.
    pub signer: Signer,
    /// When the manifest expires.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
    /// May a session start at all.
    pub session: Decision,
    /// File scopes.
    pub filesystem: FilesystemGrant,
    /// Egress.
    pub network: NetworkGrant,
    /// Quantum providers and backends.
    pub qpu: QpuGrant,
    /// Registries the agent may install from.
    pub packages: Vec<Registry>,
    /// Devices.
    pub devices: Vec<DeviceGrant>,
    /// May the agent start child processes.
    pub spawn_processes: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Approvals each gated action (a job, a device on prod) needs, if anything is gated.
    pub approvals: Option<Threshold>,
    /// Every requested item with its decision.
    pub items: Vec<GrantItem>,
}

/// A grant that could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// A manifest path could not be resolved.
    #[error(
        "{file}:{line}:{col}: {source}\n  hint: fix the path in the manifest, or create what it points through"
    )]
    Path {
        /// The manifest.
        file: PathBuf,
        /// Line of the path.
        line: usize,
        /// Column of the path.
        col: usize,
        /// What went wrong.
        source: PathError,
    },
}

/// An action to check against a grant, as `qwarden policy check` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a session.
    RunSession,
    /// Read a path.
    Read(String),
    /// Write a path.
    Write(String),
    /// Connect to `host[:port]`.
    Connect(String),
    /// Submit `shots` shots to `provider:backend`.
    SubmitJob {
        /// The backend.
        backend: String,
        /// Shots.
        shots: u64,
    },
    /// Use the credential of a provider (in the given form: `handle` or `plaintext`).
    UseCredential {
        /// The provider.
        provider: String,
        /// `handle` or `plaintext`.
        form: String,
    },
    /// Install from a registry.
    InstallPackages(String),
    /// Open a device.
    AccessDevice(String),
    /// Start child processes.
    SpawnProcesses,
}

/// An action that `qwarden policy check` could not interpret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CheckError(pub String);

/// Everything a decision depends on.
struct Evaluation<'a> {
    manifest: &'a Manifest,
    profile: &'a Profile,
    engine: &'a PolicyEngine,
    paths: &'a PathContext,
    private_dirs: &'a [PathBuf],
}

impl Grant {
    /// Computes the grant for `verified` on a workstation described by `profile`, with `engine`
    /// deciding. `private_dirs` are qwarden's own config and state directories, which are treated as
    /// credential stores.
    pub fn compute(
        verified: &VerifiedManifest,
        profile: &Profile,
        engine: &PolicyEngine,
        paths: &PathContext,
        private_dirs: &[PathBuf],
    ) -> Result<Grant, GrantError> {
        let manifest = verified.manifest();
        let ev = Evaluation {
            manifest,
            profile,
            engine,
            paths,
            private_dirs,
        };
        let mut items = Vec::new();
        let session = ev.decide(&Question::RunSession {
            prod_agents_enabled: profile.allow_agents_on_prod,
        });
        items.push(GrantItem {
            capability: Capability::Session,
            requested: format!("{} {}", manifest.agent.name, manifest.agent.version),
            granted: session.outcome.is_granted().then(|| "yes".to_owned()),
            decision: session.clone(),
            note: None,
        });
        let filesystem = ev.filesystem(&mut items)?;
        let network = ev.network(&mut items);
        let qpu = ev.qpu(&mut items);
        let packages = ev.packages(&mut items);
        let devices = ev.devices(&mut items);
        let spawn_processes = ev.processes(&mut items);
        let limits = ev.limits(&mut items);
        let approvals = items
            .iter()
            .any(|i| {
                i.granted.is_some() && matches!(i.decision.outcome, Outcome::NeedsApproval { .. })
            })
            .then(|| profile.approvals.for_tier(profile.tier));
        Ok(Grant {
            tier: profile.tier,
            agent: manifest.agent.clone(),
            manifest_digest: manifest.digest.clone(),
            signer: verified.signer().clone(),
            expires: manifest.expires,
            session,
            filesystem,
            network,
            qpu,
            packages,
            devices,
            spawn_processes,
            limits,
            approvals,
            items,
        })
    }

    /// `sha256:` digest of the grant's JSON form: what the audit log records.
    pub fn digest(&self) -> String {
        crate::manifest::digest(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// Items the manifest asked for that were refused.
    pub fn refused(&self) -> impl Iterator<Item = &GrantItem> {
        self.items.iter().filter(|i| i.granted.is_none())
    }

    /// Decides one concrete action for the agent of `verified` on this workstation.
    pub fn check(
        verified: &VerifiedManifest,
        profile: &Profile,
        engine: &PolicyEngine,
        paths: &PathContext,
        private_dirs: &[PathBuf],
        action: &Action,
    ) -> Result<Decision, CheckError> {
        let ev = Evaluation {
            manifest: verified.manifest(),
            profile,
            engine,
            paths,
            private_dirs,
        };
        ev.check(action)
    }
}

fn inside(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir)
}

impl Evaluation<'_> {
    fn decide(&self, q: &Question) -> Decision {
        self.engine
            .decide(&self.manifest.agent.name, self.profile.tier, q)
    }

    fn resolve(&self, raw: &crate::manifest::Located<String>) -> Result<PathBuf, GrantError> {
        self.paths
            .resolve(&raw.value)
            .map_err(|source| GrantError::Path {
                file: self.manifest.source.clone(),
                line: raw.at.line,
                col: raw.at.col,
                source,
            })
    }

    /// `dir` as given and, if different, where it really points: scopes are compared after their
    /// symlinks are resolved, so a store or a home reached through a symlink must be too.
    fn spellings(&self, dir: &Path) -> Vec<PathBuf> {
        let mut out = vec![dir.to_path_buf()];
        if let Ok(real) = self.paths.resolve(&dir.to_string_lossy())
            && real != dir
        {
            out.push(real);
        }
        out
    }

    fn credential_stores(&self) -> Vec<PathBuf> {
        CREDENTIAL_STORES
            .iter()
            .map(|s| self.paths.home.join(s))
            .chain(self.private_dirs.iter().cloned())
            .flat_map(|s| self.spellings(&s))
            .collect()
    }

    /// Paths that stay read-only inside `write_scopes`: the protected names under each scope, and
    /// under the home and project directories when a scope contains them.
    fn protected(&self, write_scopes: &[PathBuf]) -> Vec<PathBuf> {
        let anchors: Vec<PathBuf> = self
            .spellings(&self.paths.home)
            .into_iter()
            .chain(self.spellings(&self.paths.project))
            .collect();
        let mut protected = Vec::new();
        for w in write_scopes {
            protected.extend(PROTECTED.iter().map(|p| w.join(p)));
            for a in anchors.iter().filter(|a| inside(a, w)) {
                protected.extend(PROTECTED.iter().map(|p| a.join(p)));
            }
        }
        protected.sort();
        protected.dedup();
        protected
    }

    /// Whether `p` is a credential store or lies inside one.
    fn in_credential_store(&self, p: &Path) -> bool {
        self.credential_stores().iter().any(|s| inside(p, s))
    }

    fn kernel_interface(p: &Path) -> bool {
        KERNEL_DIRS
            .iter()
            .any(|k| inside(p, Path::new(k)) || inside(Path::new(k), p))
    }

    fn system_path(&self, p: &Path) -> bool {
        if self
            .spellings(&self.paths.home)
            .iter()
            .any(|h| inside(p, h))
        {
            return false;
        }
        p == Path::new("/") || SYSTEM_DIRS.iter().any(|d| inside(p, Path::new(d)))
    }

    fn read_question(&self, scope: &Path, requested: bool) -> Question {
        Question::ReadCode {
            scope: scope.display().to_string(),
            requested,
            credential_store: self.in_credential_store(scope),
            kernel_interface: Self::kernel_interface(scope),
        }
    }

    fn write_question(&self, scope: &Path, requested: bool) -> Question {
        Question::WriteCode {
            scope: scope.display().to_string(),
            requested,
            credential_store: self.in_credential_store(scope),
            system_path: self.system_path(scope),
        }
    }

    fn filesystem(&self, items: &mut Vec<GrantItem>) -> Result<FilesystemGrant, GrantError> {
        let fs = &self.manifest.filesystem;
        let mut grant = FilesystemGrant::default();
        for d in &fs.deny {
            let path = self.resolve(d)?;
            items.push(GrantItem {
                capability: Capability::Deny,
                requested: d.value.clone(),
                granted: Some(path.display().to_string()),
                decision: Decision {
                    outcome: Outcome::Allow,
                    policies: vec!["manifest.deny".into()],
                    reasons: vec!["the manifest carves this path out of its own scopes".into()],
                    errors: Vec::new(),
                },
                note: Some("hidden from the agent".into()),
            });
            grant.deny.push(path);
        }
        for (raw, write) in fs
            .read
            .iter()
            .map(|r| (r, false))
            .chain(fs.write.iter().map(|w| (w, true)))
        {
            let path = self.resolve(raw)?;
            let question = if write {
                self.write_question(&path, true)
            } else {
                self.read_question(&path, true)
            };
            let decision = self.decide(&question);
            let granted = decision.outcome.is_granted();
            let mut note = None;
            if granted {
                let hidden: Vec<String> = self
                    .credential_stores()
                    .into_iter()
                    .filter(|s| inside(s, &path))
                    .map(|s| s.display().to_string())
                    .collect();
                if !hidden.is_empty() {
                    note = Some(format!(
                        "credential stores inside stay hidden: {}",
                        hidden.join(", ")
                    ));
                }
                let pg = PathGrant {
                    path: path.clone(),
                    outcome: decision.outcome,
                };
                if write {
                    grant.write.push(pg);
                } else {
                    grant.read.push(pg);
                }
            }
            items.push(GrantItem {
                capability: if write {
                    Capability::Write
                } else {
                    Capability::Read
                },
                requested: raw.value.clone(),
                granted: granted.then(|| path.display().to_string()),
                decision,
                note,
            });
        }
        // Credential stores under any granted scope are hidden, and so is qwarden's own state.
        let scopes: Vec<PathBuf> = grant
            .read
            .iter()
            .chain(&grant.write)
            .map(|g| g.path.clone())
            .collect();
        for store in self.credential_stores() {
            if scopes.iter().any(|s| inside(&store, s)) && !grant.deny.contains(&store) {
                grant.deny.push(store);
            }
        }
        let writes: Vec<PathBuf> = grant.write.iter().map(|w| w.path.clone()).collect();
        grant.protected = self.protected(&writes);
        grant.deny.sort();
        grant.deny.dedup();
        Ok(grant)
    }

    fn connect_question(&self, host: &HostPattern, requested: bool) -> Question {
        Question::Connect {
            host: host.to_string(),
            requested,
            in_profile_allowlist: self.profile.egress.allow.iter().any(|a| a.covers(host)),
            // The profile's own deny list, or a built-in entry the profile does not exempt.
            in_profile_denylist: self.profile.egress.deny.iter().any(|d| d.covers(host))
                || !self.profile.egress.builtin_denials(host).is_empty(),
            // Only the endpoints of providers this manifest asks for: on prod an agent reaches its
            // own providers, not every provider the workstation has.
            provider_endpoint: self
                .profile
                .providers
                .iter()
                .filter(|p| {
                    self.manifest
                        .qpu
                        .providers
                        .iter()
                        .any(|r| r.value == p.name)
                })
                .flat_map(|p| &p.endpoint_hosts)
                .any(|e| e.covers(host)),
        }
    }

    fn network(&self, items: &mut Vec<GrantItem>) -> NetworkGrant {
        let egress = &self.profile.egress;
        let mut grant = NetworkGrant {
            allow: Vec::new(),
            deny: egress.deny.clone(),
            builtin_deny: egress.builtin_deny(),
            allow_ranges: egress.allow_ranges.clone(),
            overrides: egress.hosts.clone(),
        };
        for m in &self.manifest.network {
            let mut candidates: Vec<HostPattern> = self
                .profile
                .egress
                .allow
                .iter()
                .filter_map(|a| a.intersect(&m.value))
                .collect();
            candidates.sort();
            candidates.dedup();
            if candidates.is_empty() {
                // Nothing in the profile overlaps: ask about the pattern as requested so the refusal
                // names the right policy.
                candidates.push(m.value.clone());
            }
            for c in candidates {
                let decision = self.decide(&self.connect_question(&c, true));
                let granted = decision.outcome.is_granted();
                if granted && !grant.allow.contains(&c) {
                    grant.allow.push(c.clone());
                }
                items.push(GrantItem {
                    capability: Capability::Network,
                    requested: m.value.to_string(),
                    granted: granted.then(|| c.to_string()),
                    note: self.network_note(&c, granted, c != m.value),
                    decision,
                });
            }
        }
        grant
    }

    /// What a reader of a network item should know: that it was narrowed, which built-in deny
    /// entries refuse it, or which still apply under a granted pattern.
    fn network_note(&self, host: &HostPattern, granted: bool, narrowed: bool) -> Option<String> {
        let entry = |e: &DenyListEntry| format!("`{}` ({}, {})", e.pattern, e.service, e.kind);
        let mut parts = Vec::new();
        if granted {
            if narrowed {
                parts.push("narrowed to the profile's allowlist".to_owned());
            }
            let under: Vec<&DenyListEntry> = crate::net::builtin_deny_parsed()
                .iter()
                .filter(|(p, _)| !self.profile.egress.exempt.contains(p))
                .filter(|(p, _)| p.intersect(host).is_some())
                .map(|(_, e)| *e)
                .collect();
            if let Some(first) = under.first() {
                parts.push(format!(
                    "{} built-in deny entr{} still refuse hosts under it, e.g. {}",
                    under.len(),
                    if under.len() == 1 { "y" } else { "ies" },
                    entry(first)
                ));
            }
        } else {
            let denials = self.profile.egress.builtin_denials(host);
            if !denials.is_empty() {
                let names: Vec<String> = denials.iter().map(|e| entry(e)).collect();
                let quoted: Vec<String> = denials
                    .iter()
                    .map(|e| format!("\"{}\"", e.pattern))
                    .collect();
                parts.push(format!(
                    "on qwarden's built-in deny list: {}; the profile can lift it with [egress] exempt = [{}]",
                    names.join(", "),
                    quoted.join(", ")
                ));
            }
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    fn submit_question(&self, backend: &BackendRef, shots: u64, requested: bool) -> Question {
        let provider = self.profile.provider(&backend.provider);
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Question::SubmitJob {
            backend: backend.to_string(),
            requested,
            provider_kind: provider.map_or("unknown", |p| p.kind.as_str()).to_owned(),
            provider_configured: provider.is_some(),
            shots: clamp(shots),
            max_shots: clamp(self.manifest.qpu.max_shots),
            budget_shots: clamp(self.manifest.qpu.budget.shots),
        }
    }

    fn qpu(&self, items: &mut Vec<GrantItem>) -> QpuGrant {
        let q = &self.manifest.qpu;
        let mut grant = QpuGrant {
            max_shots: q.max_shots,
            budget: q.budget,
            ..QpuGrant::default()
        };
        for p in &q.providers {
            let decision = self.decide(&Question::UseCredential {
                provider: p.value.clone(),
                requested: true,
                provider_configured: self.profile.provider(&p.value).is_some(),
                form: "handle".into(),
            });
            let granted = decision.outcome.is_granted();
            if let (true, Some(provider)) = (granted, self.profile.provider(&p.value)) {
                grant.providers.push(ProviderGrant {
                    name: provider.name.clone(),
                    kind: provider.kind,
                });
            }
            items.push(GrantItem {
                capability: Capability::Credential,
                requested: p.value.clone(),
                granted: granted.then(|| "15-minute gateway handle".to_owned()),
                decision,
                note: None,
            });
        }
        for b in &q.backends {
            let decision = self.decide(&self.submit_question(&b.value, q.max_shots, true));
            let granted = decision.outcome.is_granted();
            let kind = self.profile.provider(&b.value.provider).map(|p| p.kind);
            if let (true, Some(kind)) = (granted, kind) {
                grant.backends.push(BackendGrant {
                    backend: b.value.clone(),
                    kind,
                    outcome: decision.outcome,
                });
            }
            let note = match (granted, decision.outcome) {
                (true, Outcome::NeedsApproval { .. }) => {
                    let t = self.profile.approvals.for_tier(self.profile.tier);
                    let approvers = self.profile.approvers.len();
                    Some(if approvers < t.threshold as usize {
                        format!(
                            "each job needs {} approval(s) but the profile lists {approvers} approver(s): add [[approvers]] or no job can run",
                            t.threshold
                        )
                    } else {
                        format!(
                            "each job held for {} of {approvers} approvers; up to {} shots per job",
                            t.threshold, q.max_shots
                        )
                    })
                }
                (true, _) => Some(format!("up to {} shots per job", q.max_shots)),
                (false, _) => None,
            };
            let wildcard = (b.value.backend == "*").then_some(decision.outcome);
            items.push(GrantItem {
                capability: Capability::Backend,
                requested: b.value.to_string(),
                granted: granted.then(|| b.value.to_string()),
                decision,
                note,
            });
            if let (Some(outcome), Some(kind)) = (wildcard.filter(|_| granted), kind) {
                self.named_under_wildcard(&b.value, outcome, kind, &mut grant, items);
            }
        }
        grant
    }

    /// The backends a policy names that the granted wildcard `wildcard` covers, each decided on
    /// its own: where a policy makes one stricter than the wildcard (a `forbid`, an approval),
    /// the grant holds that backend with its own outcome, which the gateway applies before the
    /// wildcard's. Backends the manifest names itself are decided as requested already.
    fn named_under_wildcard(
        &self,
        wildcard: &BackendRef,
        outcome: Outcome,
        kind: crate::profile::ProviderKind,
        grant: &mut QpuGrant,
        items: &mut Vec<GrantItem>,
    ) {
        let q = &self.manifest.qpu;
        for name in self.engine.named_backends() {
            let Some((provider, backend)) = name.split_once(':') else {
                continue;
            };
            let named = BackendRef {
                provider: provider.to_owned(),
                backend: backend.to_owned(),
            };
            if !wildcard.covers(&named) || q.backends.iter().any(|r| r.value == named) {
                continue;
            }
            let decision = self.decide(&self.submit_question(&named, q.max_shots, true));
            if decision.outcome == outcome {
                continue;
            }
            let granted = decision.outcome.is_granted();
            grant.backends.push(BackendGrant {
                backend: named.clone(),
                kind,
                outcome: if granted {
                    decision.outcome
                } else {
                    Outcome::Deny
                },
            });
            items.push(GrantItem {
                capability: Capability::Backend,
                requested: format!("{named} (through {wildcard})"),
                granted: granted.then(|| named.to_string()),
                decision,
                note: Some(format!(
                    "a policy decides {named} on its own, whatever {wildcard} allows"
                )),
            });
        }
    }

    fn registry_question(&self, registry: Registry, requested: bool) -> Question {
        Question::InstallPackages {
            registry: registry.as_str().into(),
            requested,
            profile_lists_registry: self.profile.package_registries.contains(&registry),
        }
    }

    fn packages(&self, items: &mut Vec<GrantItem>) -> Vec<Registry> {
        let mut granted_list = Vec::new();
        for r in &self.manifest.runtime.install_packages {
            let decision = self.decide(&self.registry_question(r.value, true));
            let granted = decision.outcome.is_granted();
            if granted && !granted_list.contains(&r.value) {
                granted_list.push(r.value);
            }
            items.push(GrantItem {
                capability: Capability::Packages,
                requested: r.value.to_string(),
                granted: granted.then(|| r.value.to_string()),
                decision,
                note: None,
            });
        }
        granted_list
    }

    fn devices(&self, items: &mut Vec<GrantItem>) -> Vec<DeviceGrant> {
        let mut out = Vec::new();
        for d in &self.manifest.runtime.devices {
            let decision = self.decide(&Question::AccessDevice {
                device: d.value.to_string(),
                requested: true,
            });
            let granted = decision.outcome.is_granted();
            if granted {
                out.push(DeviceGrant {
                    device: d.value,
                    outcome: decision.outcome,
                });
            }
            items.push(GrantItem {
                capability: Capability::Device,
                requested: d.value.to_string(),
                granted: granted.then(|| d.value.to_string()),
                decision,
                note: None,
            });
        }
        out
    }

    fn processes(&self, items: &mut Vec<GrantItem>) -> bool {
        if !self.manifest.runtime.spawn_processes {
            return false;
        }
        let decision = self.decide(&Question::SpawnProcesses { requested: true });
        let granted = decision.outcome.is_granted();
        items.push(GrantItem {
            capability: Capability::Processes,
            requested: "spawn child processes".into(),
            granted: granted.then(|| "yes".to_owned()),
            decision,
            note: None,
        });
        granted
    }

    fn limits(&self, items: &mut Vec<GrantItem>) -> Limits {
        let ceiling = self.profile.limits;
        let asked = self.manifest.limits;
        let mut out = ceiling;
        let fields: [(&str, Option<u64>, u64, &mut u64); 4] = [
            (
                "memory_mb",
                asked.memory_mb,
                ceiling.memory_mb,
                &mut out.memory_mb,
            ),
            (
                "processes",
                asked.processes,
                ceiling.processes,
                &mut out.processes,
            ),
            (
                "open_files",
                asked.open_files,
                ceiling.open_files,
                &mut out.open_files,
            ),
            (
                "cpu_seconds",
                asked.cpu_seconds,
                ceiling.cpu_seconds,
                &mut out.cpu_seconds,
            ),
        ];
        for (name, asked, ceiling, slot) in fields {
            let Some(asked) = asked else { continue };
            *slot = asked.min(ceiling);
            items.push(GrantItem {
                capability: Capability::Limit,
                requested: format!("{name} = {asked}"),
                granted: Some(format!("{name} = {}", *slot)),
                decision: Decision {
                    outcome: Outcome::Allow,
                    policies: vec!["profile.limits".into()],
                    reasons: vec![
                        "a manifest may ask for less than the profile's [limits], never more"
                            .into(),
                    ],
                    errors: Vec::new(),
                },
                note: (asked > ceiling).then(|| format!("capped at the profile's {ceiling}")),
            });
        }
        out
    }

    fn check(&self, action: &Action) -> Result<Decision, CheckError> {
        let fs = &self.manifest.filesystem;
        let resolve_all =
            |list: &[crate::manifest::Located<String>]| -> Result<Vec<PathBuf>, CheckError> {
                list.iter()
                    .map(|l| {
                        self.paths
                            .resolve(&l.value)
                            .map_err(|e| CheckError(e.to_string()))
                    })
                    .collect()
            };
        let question = match action {
            Action::RunSession => Question::RunSession {
                prod_agents_enabled: self.profile.allow_agents_on_prod,
            },
            Action::Read(p) | Action::Write(p) => {
                let path = self
                    .paths
                    .resolve(p)
                    .map_err(|e| CheckError(e.to_string()))?;
                let denied = resolve_all(&fs.deny)?.iter().any(|d| inside(&path, d));
                let reading = matches!(action, Action::Read(_));
                // Judge the scopes around the path as the grant does: a refused scope grants
                // nothing under it (write scopes are also readable).
                let mut scopes: Vec<(PathBuf, bool)> = Vec::new();
                if reading {
                    scopes.extend(resolve_all(&fs.read)?.into_iter().map(|s| (s, false)));
                }
                scopes.extend(resolve_all(&fs.write)?.into_iter().map(|s| (s, true)));
                let mut granted_writes = Vec::new();
                let mut in_granted_scope = false;
                let mut refusal = None;
                for (scope, write) in scopes {
                    let decision = self.decide(&if write {
                        self.write_question(&scope, true)
                    } else {
                        self.read_question(&scope, true)
                    });
                    let covers = inside(&path, &scope);
                    if decision.outcome.is_granted() {
                        in_granted_scope |= covers;
                        if write {
                            granted_writes.push(scope);
                        }
                    } else if covers && refusal.is_none() {
                        refusal = Some(decision);
                    }
                }
                if let (false, false, Some(refusal)) = (denied, in_granted_scope, refusal) {
                    return Ok(refusal);
                }
                if reading {
                    self.read_question(&path, !denied && in_granted_scope)
                } else {
                    let q = self.write_question(&path, !denied && in_granted_scope);
                    let protected = self
                        .protected(&granted_writes)
                        .iter()
                        .any(|p| inside(&path, p));
                    if protected {
                        return Ok(Decision {
                            outcome: Outcome::Deny,
                            policies: vec!["qwarden.protected-path".into()],
                            reasons: vec![
                                "this path is protected inside write scopes (git hooks and config, CI files, shell rc files, editor and agent config)".into(),
                            ],
                            errors: Vec::new(),
                        });
                    }
                    q
                }
            }
            Action::Connect(target) => {
                let host: HostPattern = target
                    .parse()
                    .map_err(|e: crate::host::HostPatternError| CheckError(e.to_string()))?;
                if host.is_wildcard() {
                    return Err(CheckError(format!(
                        "`{target}` is a pattern; check one concrete host, e.g. `api.quantum.ibm.com:443`"
                    )));
                }
                let requested = self.manifest.network.iter().any(|m| m.value.covers(&host));
                self.connect_question(&host, requested)
            }
            Action::SubmitJob { backend, shots } => {
                let b: BackendRef = backend.parse().map_err(CheckError)?;
                if b.backend == "*" {
                    return Err(CheckError(format!(
                        "`{backend}` is a pattern; check one backend, e.g. `ibm:ibm_brisbane`"
                    )));
                }
                let requested = self
                    .manifest
                    .qpu
                    .backends
                    .iter()
                    .any(|m| m.value.covers(&b));
                self.submit_question(&b, *shots, requested)
            }
            Action::UseCredential { provider, form } => {
                if form != "handle" && form != "plaintext" {
                    return Err(CheckError(format!(
                        "`{form}` is not a credential form: use `handle` or `plaintext`"
                    )));
                }
                Question::UseCredential {
                    provider: provider.clone(),
                    requested: self
                        .manifest
                        .qpu
                        .providers
                        .iter()
                        .any(|p| &p.value == provider),
                    provider_configured: self.profile.provider(provider).is_some(),
                    form: form.clone(),
                }
            }
            Action::InstallPackages(r) => {
                let registry: Registry =
                    serde_json::from_value(serde_json::Value::String(r.clone())).map_err(|_| {
                        CheckError(format!(
                            "`{r}` is not a registry: use `pypi`, `npm`, `crates` or `conda`"
                        ))
                    })?;
                let requested = self
                    .manifest
                    .runtime
                    .install_packages
                    .iter()
                    .any(|x| x.value == registry);
                self.registry_question(registry, requested)
            }
            Action::AccessDevice(d) => {
                let device: DeviceRequest = d.parse().map_err(CheckError)?;
                let requested = self.manifest.runtime.devices.iter().any(|x| {
                    x.value == device
                        || (x.value == DeviceRequest::AnyGpu
                            && matches!(device, DeviceRequest::Gpu(_)))
                });
                Question::AccessDevice {
                    device: device.to_string(),
                    requested,
                }
            }
            Action::SpawnProcesses => Question::SpawnProcesses {
                requested: self.manifest.runtime.spawn_processes,
            },
        };
        Ok(self.decide(&question))
    }
}
