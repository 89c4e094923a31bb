//! The tier permission matrix, as Cedar policies validated against a Cedar schema.
//!
//! The defaults ship inside the binary (`cedar/matrix.cedar`, `cedar/qwarden.cedarschema`). Users may add
//! policies in a directory of `*.cedar` files. Everything is validated in Cedar's strict mode when it
//! is loaded, and any error or warning is fatal: Cedar skips a policy that fails at evaluation, so an
//! unvalidated `forbid` would fail open. A decision that still hits an evaluation error is a denial.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, Policy, PolicyId,
    PolicySet, Request as CedarRequest, Schema, ValidationMode, Validator,
};
use serde::Serialize;
use serde_json::json;

use crate::tier::Tier;

/// The Cedar schema every request and policy is validated against.
pub const SCHEMA: &str = include_str!("../cedar/qwarden.cedarschema");
/// The default permission matrix.
pub const MATRIX: &str = include_str!("../cedar/matrix.cedar");

/// Id prefixes of qwarden's own decisions (`qwarden.default-deny`, `manifest.deny`,
/// `profile.limits`): a user policy may not take them, so the audit log stays unambiguous.
const RESERVED_PREFIXES: [&str; 3] = ["qwarden.", "manifest.", "profile."];

/// Annotation keys a policy may carry.
const ANNOTATIONS: [&str; 4] = ["id", "mode", "second_factor", "reason"];

/// What an allowed action is subject to, from least to most strict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Outcome {
    /// Allowed outright.
    Allow,
    /// Allowed, and listed in the session summary for review.
    Listed,
    /// Allowed into a copy; the changes become a branch for review.
    Capture,
    /// Held until enough humans approve.
    NeedsApproval {
        /// Whether approvers must also give a second factor.
        second_factor: bool,
    },
    /// Refused.
    Deny,
}

impl Outcome {
    /// Whether the action may go ahead in some form (possibly after approval).
    pub fn is_granted(self) -> bool {
        self != Outcome::Deny
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Allow => "allow",
            Outcome::Listed => "allow (listed for review)",
            Outcome::Capture => "allow (captured for review)",
            Outcome::NeedsApproval {
                second_factor: false,
            } => "needs approval",
            Outcome::NeedsApproval {
                second_factor: true,
            } => "needs approval + second factor",
            Outcome::Deny => "deny",
        })
    }
}

/// A decision with the policies that made it, ready for `policy explain` and the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// What happens.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Ids of the policies that decided.
    pub policies: Vec<String>,
    /// Their `@reason`s, in the same order.
    pub reasons: Vec<String>,
    /// Evaluation errors (each one turned the decision into a denial).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// One question for the matrix: may `agent` do this on a workstation of `tier`?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// Start a session at all.
    RunSession {
        /// The profile's `agents.allow_on_prod`.
        prod_agents_enabled: bool,
    },
    /// Read files under `scope`.
    ReadCode {
        /// The normalised path.
        scope: String,
        /// The manifest asks for it.
        requested: bool,
        /// It is or lies inside a credential store.
        credential_store: bool,
        /// It is `/proc`, `/sys` or `/dev`, or inside one.
        kernel_interface: bool,
    },
    /// Write files under `scope`.
    WriteCode {
        /// The normalised path.
        scope: String,
        /// The manifest asks for it.
        requested: bool,
        /// It is or lies inside a credential store.
        credential_store: bool,
        /// It is a system directory, inside one or above one.
        system_path: bool,
    },
    /// Connect to hosts matching `host`.
    Connect {
        /// The host pattern.
        host: String,
        /// The manifest asks for it.
        requested: bool,
        /// The profile's egress allowlist covers it.
        in_profile_allowlist: bool,
        /// The profile's egress deny list, or an entry of the built-in deny list that the profile
        /// does not exempt, covers it.
        in_profile_denylist: bool,
        /// A configured provider's endpoint covers it.
        provider_endpoint: bool,
    },
    /// Submit a job of `shots` shots to `backend`.
    SubmitJob {
        /// `provider:backend`.
        backend: String,
        /// The manifest asks for it.
        requested: bool,
        /// The provider's kind (`local` for the built-in simulator).
        provider_kind: String,
        /// The profile configures the provider.
        provider_configured: bool,
        /// Shots asked for.
        shots: i64,
        /// The manifest's per-job limit.
        max_shots: i64,
        /// The manifest's session shot budget.
        budget_shots: i64,
    },
    /// Use a credential for `provider` in the given form.
    UseCredential {
        /// The provider's name.
        provider: String,
        /// The manifest asks for it.
        requested: bool,
        /// The profile configures the provider.
        provider_configured: bool,
        /// `handle` or `plaintext`.
        form: String,
    },
    /// Install packages from `registry`.
    InstallPackages {
        /// The registry's name.
        registry: String,
        /// The manifest asks for it.
        requested: bool,
        /// The profile lists it for staging.
        profile_lists_registry: bool,
    },
    /// Open `device`.
    AccessDevice {
        /// The device as written in the manifest.
        device: String,
        /// The manifest asks for it.
        requested: bool,
    },
    /// Start child processes.
    SpawnProcesses {
        /// The manifest asks for it.
        requested: bool,
    },
}

impl Question {
    /// The Cedar action, resource and context of this question.
    fn parts(&self, tier: Tier) -> (&'static str, &'static str, String, serde_json::Value) {
        let t = tier.as_str();
        match self {
            Question::RunSession {
                prod_agents_enabled,
            } => (
                "run_session",
                "Workstation",
                "local".into(),
                json!({ "tier": t, "prod_agents_enabled": prod_agents_enabled }),
            ),
            Question::ReadCode {
                scope,
                requested,
                credential_store,
                kernel_interface,
            } => (
                "read_code",
                "Scope",
                scope.clone(),
                json!({ "tier": t, "requested": requested, "credential_store": credential_store, "kernel_interface": kernel_interface }),
            ),
            Question::WriteCode {
                scope,
                requested,
                credential_store,
                system_path,
            } => (
                "write_code",
                "Scope",
                scope.clone(),
                json!({ "tier": t, "requested": requested, "credential_store": credential_store, "system_path": system_path }),
            ),
            Question::Connect {
                host,
                requested,
                in_profile_allowlist,
                in_profile_denylist,
                provider_endpoint,
            } => (
                "connect",
                "Host",
                host.clone(),
                json!({ "tier": t, "requested": requested, "in_profile_allowlist": in_profile_allowlist, "in_profile_denylist": in_profile_denylist, "provider_endpoint": provider_endpoint }),
            ),
            Question::SubmitJob {
                backend,
                requested,
                provider_kind,
                provider_configured,
                shots,
                max_shots,
                budget_shots,
            } => (
                "submit_job",
                "Backend",
                backend.clone(),
                json!({ "tier": t, "requested": requested, "provider_kind": provider_kind, "provider_configured": provider_configured, "shots": shots, "max_shots": max_shots, "budget_shots": budget_shots }),
            ),
            Question::UseCredential {
                provider,
                requested,
                provider_configured,
                form,
            } => (
                "use_credential",
                "Provider",
                provider.clone(),
                json!({ "tier": t, "requested": requested, "provider_configured": provider_configured, "form": form }),
            ),
            Question::InstallPackages {
                registry,
                requested,
                profile_lists_registry,
            } => (
                "install_packages",
                "Registry",
                registry.clone(),
                json!({ "tier": t, "requested": requested, "profile_lists_registry": profile_lists_registry }),
            ),
            Question::AccessDevice { device, requested } => (
                "access_device",
                "Device",
                device.clone(),
                json!({ "tier": t, "requested": requested }),
            ),
            Question::SpawnProcesses { requested } => (
                "spawn_processes",
                "Workstation",
                "local".into(),
                json!({ "tier": t, "requested": requested }),
            ),
        }
    }
}

/// Where a policy came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Builtin,
    User(PathBuf),
}

/// A policy set that failed to load.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy file could not be read.
    #[error(
        "cannot read policy file `{path}`: {source}\n  hint: check the file exists and is readable, or remove it from the policy directory"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Cedar could not parse a policy file.
    #[error(
        "{path}: not valid Cedar: {message}\n  hint: see https://docs.cedarpolicy.com/policies/syntax-policy.html for the syntax"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// Cedar's explanation, with line and column.
        message: String,
    },
    /// A policy broke one of qwarden's rules for policies.
    #[error("{path}: policy `{policy}`: {message}\n  hint: {hint}")]
    Rule {
        /// The file.
        path: PathBuf,
        /// The policy's id.
        policy: String,
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// Strict validation against the schema failed.
    #[error("policy validation failed; no policy was loaded:\n{0}")]
    Invalid(String),
    /// The built-in schema or matrix is broken (a bug in qwarden).
    #[error("the built-in policy set is broken: {0}")]
    Builtin(String),
}

/// The loaded, validated policy set and its schema.
#[derive(Debug)]
pub struct PolicyEngine {
    schema: Schema,
    policies: PolicySet,
    entities: Entities,
    origins: BTreeMap<String, Origin>,
}

impl PolicyEngine {
    /// Every backend (`provider:backend`) a policy names in its resource scope
    /// (`resource == Qwarden::Backend::"ibm:ibm_brisbane"`, `resource in …`). A grant for
    /// `provider:*` is decided once for the wildcard, so it also decides each of these on its own:
    /// a policy about one backend must hold however the manifest asked for it.
    pub fn named_backends(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .policies
            .policies()
            .filter_map(|p| match p.resource_constraint() {
                cedar_policy::ResourceConstraint::Eq(uid)
                | cedar_policy::ResourceConstraint::In(uid)
                | cedar_policy::ResourceConstraint::IsIn(_, uid) => Some(uid),
                _ => None,
            })
            .filter(|uid| uid.type_name().basename() == "Backend")
            .map(|uid| uid.id().unescaped().to_owned())
            .filter(|name| {
                name.split_once(':')
                    .is_some_and(|(_, b)| !b.is_empty() && b != "*")
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The built-in matrix alone.
    pub fn builtin() -> Result<PolicyEngine, PolicyError> {
        PolicyEngine::load(&[])
    }

    /// The built-in matrix plus every `*.cedar` file in `dir` (sorted by name). A missing directory
    /// adds nothing.
    pub fn with_policy_dir(dir: &Path) -> Result<PolicyEngine, PolicyError> {
        PolicyEngine::with_policy_dirs(&[dir.to_path_buf()])
    }

    /// The built-in matrix plus every `*.cedar` file in each of `dirs`, in order (files sorted by
    /// name within a directory). Missing directories add nothing.
    pub fn with_policy_dirs(dirs: &[PathBuf]) -> Result<PolicyEngine, PolicyError> {
        let mut files = Vec::new();
        for dir in dirs {
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(PolicyError::Read {
                        path: dir.clone(),
                        source,
                    });
                }
            };
            let mut in_dir = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|source| PolicyError::Read {
                    path: dir.clone(),
                    source,
                })?;
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "cedar") {
                    let text =
                        std::fs::read_to_string(&path).map_err(|source| PolicyError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    in_dir.push((path, text));
                }
            }
            in_dir.sort();
            files.extend(in_dir);
        }
        PolicyEngine::load(&files)
    }

    /// The built-in matrix plus user policy files given as `(path, text)`.
    pub fn load(user: &[(PathBuf, String)]) -> Result<PolicyEngine, PolicyError> {
        let (schema, warnings) = Schema::from_cedarschema_str(SCHEMA)
            .map_err(|e| PolicyError::Builtin(e.to_string()))?;
        if let Some(w) = warnings.into_iter().next() {
            return Err(PolicyError::Builtin(w.to_string()));
        }
        let mut policies = PolicySet::new();
        let mut origins = BTreeMap::new();
        add_file(
            &mut policies,
            &mut origins,
            Path::new("<built-in matrix>"),
            MATRIX,
            Origin::Builtin,
        )
        .map_err(|e| PolicyError::Builtin(e.to_string()))?;
        for (path, text) in user {
            add_file(
                &mut policies,
                &mut origins,
                path,
                text,
                Origin::User(path.clone()),
            )?;
        }
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        let mut problems: Vec<String> = result
            .validation_errors()
            .map(|e| {
                format!(
                    "  {}: error: {e}",
                    where_is(&origins, user, e.policy_id(), e)
                )
            })
            .collect();
        problems.extend(result.validation_warnings().map(|w| {
            format!(
                "  {}: warning treated as error: {w}",
                where_is(&origins, user, w.policy_id(), w)
            )
        }));
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(problems.join("\n")));
        }
        let entities = schema
            .action_entities()
            .map_err(|e| PolicyError::Builtin(e.to_string()))?;
        Ok(PolicyEngine {
            schema,
            policies,
            entities,
            origins,
        })
    }

    /// Number of policies loaded (built-in and user).
    pub fn len(&self) -> usize {
        self.policies.policies().count()
    }

    /// Whether no policy is loaded (never true: the matrix is always there).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids of the policies loaded from user files, with their files.
    pub fn user_policies(&self) -> Vec<(String, PathBuf)> {
        self.origins
            .iter()
            .filter_map(|(id, o)| match o {
                Origin::User(p) => Some((id.clone(), p.clone())),
                Origin::Builtin => None,
            })
            .collect()
    }

    /// Asks the matrix whether `agent` may do `question` on a `tier` workstation.
    pub fn decide(&self, agent: &str, tier: Tier, question: &Question) -> Decision {
        let (action, resource_type, resource, context) = question.parts(tier);
        match self.authorize(agent, action, resource_type, &resource, context) {
            Ok(d) => d,
            Err(message) => Decision {
                outcome: Outcome::Deny,
                policies: vec!["qwarden.request-error".into()],
                reasons: vec!["the request could not be evaluated, so it is refused".into()],
                errors: vec![message],
            },
        }
    }

    fn authorize(
        &self,
        agent: &str,
        action: &str,
        resource_type: &str,
        resource: &str,
        context: serde_json::Value,
    ) -> Result<Decision, String> {
        let uid = |ty: &str, id: &str| {
            EntityUid::from_str(&format!("Qwarden::{ty}::{}", json!(id))).map_err(|e| e.to_string())
        };
        let action_uid = uid("Action", action)?;
        let context = Context::from_json_value(context, Some((&self.schema, &action_uid)))
            .map_err(|e| e.to_string())?;
        let request = CedarRequest::new(
            uid("Agent", agent)?,
            action_uid,
            uid(resource_type, resource)?,
            context,
            Some(&self.schema),
        )
        .map_err(|e| e.to_string())?;
        let response = Authorizer::new().is_authorized(&request, &self.policies, &self.entities);
        let diagnostics = response.diagnostics();
        let errors: Vec<String> = diagnostics.errors().map(ToString::to_string).collect();
        let mut ids: Vec<&PolicyId> = diagnostics.reason().collect();
        ids.sort();
        let policies: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        let reasons = ids
            .iter()
            .map(|id| match self.policies.annotation(id, "reason") {
                Some(r) => r.to_owned(),
                None => match self.origins.get(&id.to_string()) {
                    Some(Origin::User(p)) => format!("user policy `{id}` in {}", p.display()),
                    _ => format!("policy `{id}`"),
                },
            })
            .collect();
        if !errors.is_empty() {
            return Ok(Decision {
                outcome: Outcome::Deny,
                policies,
                reasons,
                errors,
            });
        }
        if response.decision() == CedarDecision::Deny {
            if policies.is_empty() {
                return Ok(Decision {
                    outcome: Outcome::Deny,
                    policies: vec!["qwarden.default-deny".into()],
                    reasons: vec!["no policy permits this on this tier".into()],
                    errors,
                });
            }
            return Ok(Decision {
                outcome: Outcome::Deny,
                policies,
                reasons,
                errors,
            });
        }
        let outcome = ids
            .iter()
            .map(|id| {
                let second_factor = self.policies.annotation(id, "second_factor") == Some("true");
                match self.policies.annotation(id, "mode") {
                    Some("listed") => Outcome::Listed,
                    Some("capture") => Outcome::Capture,
                    Some("approval") => Outcome::NeedsApproval { second_factor },
                    _ => Outcome::Allow,
                }
            })
            .max()
            .unwrap_or(Outcome::Allow);
        Ok(Decision {
            outcome,
            policies,
            reasons,
            errors,
        })
    }
}

/// `file:line:col (policy `id`)` for a validation problem, the position taken from the problem's
/// first source label.
fn where_is(
    origins: &BTreeMap<String, Origin>,
    user: &[(PathBuf, String)],
    id: &PolicyId,
    problem: &dyn miette::Diagnostic,
) -> String {
    let offset = problem
        .labels()
        .and_then(|mut l| l.next())
        .map(|l| l.offset());
    let (file, text) = match origins.get(&id.to_string()) {
        Some(Origin::User(p)) => (
            p.display().to_string(),
            user.iter().find(|(q, _)| q == p).map(|(_, t)| t.as_str()),
        ),
        Some(Origin::Builtin) => ("<built-in matrix>".to_owned(), Some(MATRIX)),
        None => return format!("policy `{id}`"),
    };
    match (offset, text) {
        (Some(o), Some(t)) => {
            let l = crate::diag::Location::of_offset(t, o);
            format!("{file}:{}:{} (policy `{id}`)", l.line, l.col)
        }
        _ => format!("{file} (policy `{id}`)"),
    }
}

/// Parses one file's policies, names them by `@id` (or `file#N`), checks qwarden's own rules and adds
/// them to `set`.
fn add_file(
    set: &mut PolicySet,
    origins: &mut BTreeMap<String, Origin>,
    path: &Path,
    text: &str,
    origin: Origin,
) -> Result<(), PolicyError> {
    let parsed = PolicySet::from_str(text).map_err(|e| PolicyError::Parse {
        path: path.to_path_buf(),
        message: render_parse_error(text, &e),
    })?;
    let rule = |policy: &str, message: String, hint: &str| PolicyError::Rule {
        path: path.to_path_buf(),
        policy: policy.to_owned(),
        message,
        hint: hint.to_owned(),
    };
    if let Some(t) = parsed.templates().next() {
        return Err(rule(
            t.id().as_ref(),
            "templates are not supported".into(),
            "write a static policy without `?principal` or `?resource` slots",
        ));
    }
    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut policies: Vec<&Policy> = parsed.policies().collect();
    // Cedar numbers unnamed policies `policy0`, `policy1`, … in file order.
    policies.sort_by_key(|p| {
        p.id()
            .to_string()
            .trim_start_matches("policy")
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    for (n, policy) in policies.into_iter().enumerate() {
        let id = policy
            .annotation("id")
            .map_or_else(|| format!("{file_name}#{n}"), str::to_owned);
        for (key, value) in policy.annotations() {
            if !ANNOTATIONS.contains(&key) {
                return Err(rule(
                    &id,
                    format!("unknown annotation `@{key}`"),
                    "qwarden reads @id, @mode, @second_factor and @reason; remove or rename it",
                ));
            }
            let ok = match key {
                "mode" => ["allow", "listed", "capture", "approval"].contains(&value),
                "second_factor" => ["true", "false"].contains(&value),
                "id" => !value.is_empty() && !value.chars().any(char::is_whitespace),
                _ => true,
            };
            if !ok {
                return Err(rule(
                    &id,
                    format!("`@{key}(\"{value}\")` is not a valid value"),
                    match key {
                        "mode" => "use @mode(\"allow\"), \"listed\", \"capture\" or \"approval\"",
                        "second_factor" => "use @second_factor(\"true\") or \"false\"",
                        _ => "give the policy an @id without spaces",
                    },
                ));
            }
        }
        if policy.annotation("mode").is_some() && policy.effect() == cedar_policy::Effect::Forbid {
            return Err(rule(
                &id,
                "a `forbid` cannot carry @mode".into(),
                "@mode describes what a `permit` allows; remove it",
            ));
        }
        if origin != Origin::Builtin && RESERVED_PREFIXES.iter().any(|p| id.starts_with(p)) {
            return Err(rule(
                &id,
                "this @id uses a prefix qwarden reserves for its own decisions".into(),
                "start user policy ids with your own prefix, e.g. `lab.`",
            ));
        }
        if origins.contains_key(&id) {
            return Err(rule(
                &id,
                "this policy id is already used".into(),
                "give every policy a unique @id (built-in ids are listed by `qwarden policy show`)",
            ));
        }
        set.add(policy.new_id(PolicyId::new(&id)))
            .map_err(|e| rule(&id, e.to_string(), "give every policy a unique @id"))?;
        origins.insert(id, origin.clone());
    }
    Ok(())
}

/// Cedar's parse errors with line:col, without terminal styling.
fn render_parse_error(text: &str, e: &cedar_policy::ParseErrors) -> String {
    use miette::Diagnostic;
    let at = e
        .labels()
        .and_then(|mut l| l.next())
        .map(|l| l.offset())
        .map(|o| {
            let l = crate::diag::Location::of_offset(text, o);
            format!("{}:{}: ", l.line, l.col)
        });
    format!("{}{e}", at.unwrap_or_default())
}
