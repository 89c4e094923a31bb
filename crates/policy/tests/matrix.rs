//! The tier permission matrix, cell by cell: through `PolicyEngine::decide`, and end to end through signed manifests, `Grant::compute` and `Grant::check`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use qwarden_policy::grant::{Action, Capability, Grant, GrantItem};
use qwarden_policy::manifest::Registry;
use qwarden_policy::matrix::{Decision, MATRIX, Outcome, PolicyEngine, PolicyError, Question};
use qwarden_policy::paths::PathContext;
use qwarden_policy::profile::Profile;
use qwarden_policy::signature::{self, AllowedSigners, SigningKey};
use qwarden_policy::tier::Tier;
use qwarden_policy::verified::VerifiedManifest;
use ssh_key::{Algorithm, LineEnding, PrivateKey};

const AGENT: &str = "circuit-helper";
const PUBLISHER: &str = "publisher@x";
const SF: Outcome = Outcome::NeedsApproval {
    second_factor: true,
};
const APPROVAL: Outcome = Outcome::NeedsApproval {
    second_factor: false,
};

/// Ids qwarden itself puts in decisions that no Cedar policy makes.
const SYNTHETIC: [&str; 5] = [
    "manifest.deny",
    "profile.limits",
    "qwarden.protected-path",
    "qwarden.default-deny",
    "qwarden.request-error",
];

fn engine() -> PolicyEngine {
    PolicyEngine::builtin().unwrap()
}

/// Every `@id` in the shipped matrix, in file order.
fn builtin_ids() -> Vec<String> {
    MATRIX
        .lines()
        .filter_map(|l| l.trim().strip_prefix("@id(\""))
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

#[track_caller]
fn assert_decision(d: &Decision, outcome: Outcome, policies: &[&str]) {
    let mut want: Vec<String> = policies.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(
        (d.outcome, &d.policies),
        (outcome, &want),
        "full decision: {d:#?}"
    );
    assert!(d.errors.is_empty(), "evaluation errors: {:?}", d.errors);
    assert_eq!(d.reasons.len(), d.policies.len());
    assert!(
        d.reasons.iter().all(|r| !r.is_empty()),
        "every deciding policy has a @reason: {d:?}"
    );
}

// =================================================================================================
// The matrix at the `decide` level.

fn session(prod_agents_enabled: bool) -> Question {
    Question::RunSession {
        prod_agents_enabled,
    }
}

fn read(requested: bool, credential_store: bool, kernel_interface: bool) -> Question {
    Question::ReadCode {
        scope: "/w/home/proj".into(),
        requested,
        credential_store,
        kernel_interface,
    }
}

fn write(requested: bool, credential_store: bool, system_path: bool) -> Question {
    Question::WriteCode {
        scope: "/w/home/proj/src".into(),
        requested,
        credential_store,
        system_path,
    }
}

fn connect(
    host: &str,
    requested: bool,
    allowlisted: bool,
    denylisted: bool,
    provider: bool,
) -> Question {
    Question::Connect {
        host: host.into(),
        requested,
        in_profile_allowlist: allowlisted,
        in_profile_denylist: denylisted,
        provider_endpoint: provider,
    }
}

fn job(
    backend: &str,
    kind: &str,
    configured: bool,
    shots: i64,
    max_shots: i64,
    budget_shots: i64,
) -> Question {
    Question::SubmitJob {
        backend: backend.into(),
        requested: true,
        provider_kind: kind.into(),
        provider_configured: configured,
        shots,
        max_shots,
        budget_shots,
    }
}

fn ibm_job(shots: i64) -> Question {
    job("ibm:ibm_brisbane", "ibm", true, shots, 1000, 5000)
}

fn unrequested(mut q: Question) -> Question {
    match &mut q {
        Question::ReadCode { requested, .. }
        | Question::WriteCode { requested, .. }
        | Question::Connect { requested, .. }
        | Question::SubmitJob { requested, .. }
        | Question::UseCredential { requested, .. }
        | Question::InstallPackages { requested, .. }
        | Question::AccessDevice { requested, .. }
        | Question::SpawnProcesses { requested } => *requested = false,
        Question::RunSession { .. } => panic!("a session is not requested by the manifest"),
    }
    q
}

fn credential(provider: &str, configured: bool, form: &str) -> Question {
    Question::UseCredential {
        provider: provider.into(),
        requested: true,
        provider_configured: configured,
        form: form.into(),
    }
}

fn packages(registry: &str, listed: bool) -> Question {
    Question::InstallPackages {
        registry: registry.into(),
        requested: true,
        profile_lists_registry: listed,
    }
}

fn device(requested: bool) -> Question {
    Question::AccessDevice {
        device: "gpu:0".into(),
        requested,
    }
}

struct Case {
    name: &'static str,
    tier: Tier,
    question: Question,
    outcome: Outcome,
    policies: &'static [&'static str],
}

/// Every cell of the matrix, allow and deny paths, for every tier.
fn cases() -> Vec<Case> {
    use Outcome::{Allow, Capture, Deny, Listed};
    use Tier::{Prod, Sandbox, Staging};
    let mut v = Vec::new();
    let mut c = |name, tier, question, outcome, policies| {
        v.push(Case {
            name,
            tier,
            question,
            outcome,
            policies,
        })
    };

    // Sessions.
    c(
        "session",
        Sandbox,
        session(false),
        Allow,
        &["session.allowed"],
    );
    c(
        "session",
        Staging,
        session(false),
        Allow,
        &["session.allowed"],
    );
    c(
        "session, prod not enabled",
        Prod,
        session(false),
        Deny,
        &["session.prod-not-enabled"],
    );
    c(
        "session, prod enabled",
        Prod,
        session(true),
        Allow,
        &["session.prod-opt-in"],
    );

    for tier in Tier::ALL {
        // Read project code: allow, allow, listed.
        let (o, p): (Outcome, &[&str]) = match tier {
            Sandbox | Staging => (Allow, &["read.allowed"]),
            Prod => (Listed, &["read.prod-review-only"]),
        };
        c("read", tier, read(true, false, false), o, p);
        c(
            "read, not requested",
            tier,
            unrequested(read(true, false, false)),
            Deny,
            &["manifest.not-requested"],
        );
        c(
            "read, credential store",
            tier,
            read(true, true, false),
            Deny,
            &["credentials.store-files"],
        );
        c(
            "read, kernel interface",
            tier,
            read(true, false, true),
            Deny,
            &["read.kernel-interface"],
        );

        // Write project code: allow, capture, deny.
        let (o, p): (Outcome, &[&str]) = match tier {
            Sandbox => (Allow, &["write.sandbox"]),
            Staging => (Capture, &["write.staging-pr-only"]),
            Prod => (Deny, &["write.prod-denied"]),
        };
        c("write", tier, write(true, false, false), o, p);
        let also_prod = |ids: &'static [&'static str], prod: &'static [&'static str]| {
            if tier == Prod { prod } else { ids }
        };
        c(
            "write, not requested",
            tier,
            unrequested(write(true, false, false)),
            Deny,
            also_prod(
                &["manifest.not-requested"],
                &["manifest.not-requested", "write.prod-denied"],
            ),
        );
        c(
            "write, credential store",
            tier,
            write(true, true, false),
            Deny,
            also_prod(
                &["credentials.store-files"],
                &["credentials.store-files", "write.prod-denied"],
            ),
        );
        c(
            "write, system path",
            tier,
            write(true, false, true),
            Deny,
            also_prod(
                &["write.system-path"],
                &["write.prod-denied", "write.system-path"],
            ),
        );

        // QPU jobs: deny, one approval, M-of-N + second factor; the local simulator everywhere.
        let (o, p): (Outcome, &[&str]) = match tier {
            Sandbox => (Deny, &["jobs.sandbox-no-qpu"]),
            Staging => (APPROVAL, &["jobs.staging-approval"]),
            Prod => (SF, &["jobs.prod-approval"]),
        };
        c("qpu job", tier, ibm_job(1000), o, p);
        c(
            "qpu job, ionq",
            tier,
            job("ionq:qpu.aria-1", "ionq", true, 1, 1000, 5000),
            o,
            p,
        );
        c(
            "local simulator job",
            tier,
            job("local:statevector", "local", true, 1000, 1000, 5000),
            Allow,
            &["jobs.local-simulator"],
        );
        let sandbox_too = |id: &'static [&'static str], with_sandbox: &'static [&'static str]| {
            if tier == Sandbox { with_sandbox } else { id }
        };
        c(
            "qpu job, not requested",
            tier,
            unrequested(ibm_job(10)),
            Deny,
            sandbox_too(
                &["manifest.not-requested"],
                &["jobs.sandbox-no-qpu", "manifest.not-requested"],
            ),
        );
        c(
            "qpu job, provider not configured",
            tier,
            job("nowhere:qpu", "unknown", false, 10, 1000, 5000),
            Deny,
            sandbox_too(
                &["jobs.provider-not-configured"],
                &["jobs.provider-not-configured", "jobs.sandbox-no-qpu"],
            ),
        );
        c(
            "qpu job, over max_shots",
            tier,
            ibm_job(1001),
            Deny,
            sandbox_too(
                &["jobs.max-shots"],
                &["jobs.max-shots", "jobs.sandbox-no-qpu"],
            ),
        );
        c(
            "qpu job, over the session budget",
            tier,
            job("ibm:ibm_brisbane", "ibm", true, 6000, 10_000, 5000),
            Deny,
            sandbox_too(
                &["jobs.session-budget"],
                &["jobs.sandbox-no-qpu", "jobs.session-budget"],
            ),
        );
        c(
            "qpu job, zero shots",
            tier,
            ibm_job(0),
            Deny,
            sandbox_too(
                &["jobs.positive-shots"],
                &["jobs.positive-shots", "jobs.sandbox-no-qpu"],
            ),
        );
        c(
            "local simulator job, over max_shots",
            tier,
            job("local:sv", "local", true, 1001, 1000, 5000),
            Deny,
            &["jobs.max-shots"],
        );
        c(
            "local simulator job, zero shots",
            tier,
            job("local:sv", "local", true, 0, 1000, 5000),
            Deny,
            &["jobs.positive-shots"],
        );

        // Credentials: an ephemeral handle only, on every tier.
        c(
            "credential handle",
            tier,
            credential("ibm", true, "handle"),
            Allow,
            &["credentials.handle-only"],
        );
        c(
            "credential plaintext",
            tier,
            credential("ibm", true, "plaintext"),
            Deny,
            &["credentials.no-plaintext"],
        );
        c(
            "credential, provider not configured",
            tier,
            credential("nowhere", false, "handle"),
            Deny,
            &["credentials.provider-not-configured"],
        );
        c(
            "credential, not requested",
            tier,
            unrequested(credential("ibm", true, "handle")),
            Deny,
            &["manifest.not-requested"],
        );

        // Packages: allow if asked, only listed registries, deny.
        let (listed, listed_p, unlisted, unlisted_p): (Outcome, &[&str], Outcome, &[&str]) =
            match tier {
                Sandbox => (Allow, &["packages.sandbox"], Allow, &["packages.sandbox"]),
                Staging => (
                    Allow,
                    &["packages.staging-listed-registry"],
                    Deny,
                    &["packages.staging-unlisted-registry"],
                ),
                Prod => (
                    Deny,
                    &["packages.prod-denied"],
                    Deny,
                    &["packages.prod-denied"],
                ),
            };
        c(
            "packages, registry listed",
            tier,
            packages("pypi", true),
            listed,
            listed_p,
        );
        c(
            "packages, registry not listed",
            tier,
            packages("npm", false),
            unlisted,
            unlisted_p,
        );
        c(
            "packages, not requested",
            tier,
            unrequested(packages("pypi", true)),
            Deny,
            also_prod(
                &["manifest.not-requested"],
                &["manifest.not-requested", "packages.prod-denied"],
            ),
        );

        // Devices: what the manifest lists; on prod with approval.
        let (o, p): (Outcome, &[&str]) = match tier {
            Sandbox | Staging => (Allow, &["devices.listed"]),
            Prod => (APPROVAL, &["devices.prod-approval"]),
        };
        c("device", tier, device(true), o, p);
        c(
            "device, not requested",
            tier,
            device(false),
            Deny,
            &["manifest.not-requested"],
        );

        // Network: manifest ∩ profile allowlist; prod provider endpoints only.
        let (o, p): (Outcome, &[&str]) = match tier {
            Sandbox | Staging => (Allow, &["network.profile-allowlist"]),
            Prod => (Allow, &["network.prod-provider-endpoint"]),
        };
        c(
            "connect, provider endpoint",
            tier,
            connect("api.ionq.co", true, true, false, true),
            o,
            p,
        );
        let (o, p): (Outcome, &[&str]) = match tier {
            Sandbox | Staging => (Allow, &["network.profile-allowlist"]),
            Prod => (Deny, &["network.prod-providers-only"]),
        };
        c(
            "connect, not a provider endpoint",
            tier,
            connect("pypi.org", true, true, false, false),
            o,
            p,
        );
        c(
            "connect, not in the profile allowlist",
            tier,
            connect("api.ionq.co", true, false, false, true),
            Deny,
            &["network.not-in-profile"],
        );
        c(
            "connect, in the profile deny list",
            tier,
            connect("api.ionq.co", true, true, true, true),
            Deny,
            &["network.profile-denylist"],
        );
        c(
            "connect, not requested",
            tier,
            unrequested(connect("api.ionq.co", true, true, false, true)),
            Deny,
            &["manifest.not-requested"],
        );

        // Child processes.
        c(
            "spawn processes",
            tier,
            Question::SpawnProcesses { requested: true },
            Allow,
            &["processes.allowed"],
        );
        c(
            "spawn processes, not requested",
            tier,
            Question::SpawnProcesses { requested: false },
            Deny,
            &["manifest.not-requested"],
        );
    }
    v
}

#[test]
fn every_cell_decides_as_the_issue_says() {
    let engine = engine();
    for case in cases() {
        let d = engine.decide(AGENT, case.tier, &case.question);
        let mut want: Vec<String> = case.policies.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        assert_eq!(
            (d.outcome, &d.policies),
            (case.outcome, &want),
            "{} on {}: {d:#?}",
            case.name,
            case.tier
        );
        assert!(
            d.errors.is_empty(),
            "{} on {}: {:?}",
            case.name,
            case.tier,
            d.errors
        );
        assert_eq!(d.reasons.len(), d.policies.len());
    }
}

#[test]
fn every_builtin_policy_is_needed() {
    // Firecracker-style: a policy that never decides anything alone is dead weight or shadowed.
    let engine = engine();
    let ids = builtin_ids();
    assert_eq!(
        ids.len(),
        engine.len(),
        "every built-in policy carries an @id"
    );
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "built-in ids are unique");
    let mut sole = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for case in cases() {
        let d = engine.decide(AGENT, case.tier, &case.question);
        if let [only] = d.policies.as_slice() {
            sole.insert(only.clone());
        }
        seen.extend(d.policies);
    }
    for id in &ids {
        assert!(
            sole.contains(id),
            "built-in policy `{id}` never decides a request on its own"
        );
    }
    for id in &seen {
        assert!(
            ids.contains(id) || SYNTHETIC.contains(&id.as_str()),
            "decision names unknown policy `{id}`"
        );
    }
}

#[test]
fn a_blanket_user_permit_changes_no_outcome() {
    // Every denial in the matrix is a `forbid`, and every mode is on a permit, so a user permit that
    // allows everything neither widens a denial nor loosens a mode.
    let engine = PolicyEngine::load(&[(
        PathBuf::from("/etc/qwarden/policies/all.cedar"),
        "@id(\"user.everything\")\npermit (principal, action, resource);\n".into(),
    )])
    .unwrap();
    for case in cases() {
        let d = engine.decide(AGENT, case.tier, &case.question);
        assert_eq!(
            d.outcome, case.outcome,
            "{} on {}: {d:#?}",
            case.name, case.tier
        );
        if d.outcome == Outcome::Deny {
            let mut want: Vec<String> = case.policies.iter().map(|s| (*s).to_owned()).collect();
            want.sort();
            assert_eq!(d.policies, want, "{} on {}", case.name, case.tier);
        } else {
            assert!(d.policies.iter().any(|p| p == "user.everything"), "{d:?}");
        }
    }
}

#[test]
fn outcomes_order_from_least_to_most_strict() {
    use Outcome::{Allow, Capture, Deny, Listed};
    let order = [Allow, Listed, Capture, APPROVAL, SF, Deny];
    assert!(order.windows(2).all(|w| w[0] < w[1]));
    assert!(order[..5].iter().all(|o| o.is_granted()));
    assert!(!Deny.is_granted());
}

// =================================================================================================
// User policies.

fn user(file: &str, text: &str) -> Result<PolicyEngine, PolicyError> {
    PolicyEngine::load(&[(PathBuf::from(file), text.to_owned())])
}

#[track_caller]
fn load_err(file: &str, text: &str) -> String {
    match user(file, text) {
        Ok(_) => panic!("`{file}` should have been refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_user_forbid_beats_a_default_permit_and_is_named() {
    let engine = user(
        "/etc/qwarden/policies/egress.cedar",
        r#"
@id("site.no-pypi-on-staging")
@reason("staging mirrors packages internally")
forbid (principal, action == Qwarden::Action::"connect", resource == Qwarden::Host::"pypi.org")
when { context.tier == "staging" };
"#,
    )
    .unwrap();
    assert_eq!(
        engine.user_policies(),
        vec![(
            "site.no-pypi-on-staging".to_owned(),
            PathBuf::from("/etc/qwarden/policies/egress.cedar")
        )]
    );
    let pypi = connect("pypi.org", true, true, false, false);
    let d = engine.decide(AGENT, Tier::Staging, &pypi);
    assert_decision(&d, Outcome::Deny, &["site.no-pypi-on-staging"]);
    assert_eq!(
        d.reasons,
        vec!["staging mirrors packages internally".to_owned()]
    );
    // Only where it applies.
    assert_decision(
        &engine.decide(AGENT, Tier::Sandbox, &pypi),
        Outcome::Allow,
        &["network.profile-allowlist"],
    );
    let ionq = connect("api.ionq.co", true, true, false, true);
    assert_decision(
        &engine.decide(AGENT, Tier::Staging, &ionq),
        Outcome::Allow,
        &["network.profile-allowlist"],
    );

    // And end to end: the grant names the user's policy for the refused host.
    let fx = Fx::new();
    let m = fx.manifest("[network]\nallow = [\"pypi.org\", \"api.ionq.co\"]\n");
    let g = fx.grant(&m, &profile(Tier::Staging, &Opts::default()), &engine);
    let refused: Vec<&GrantItem> = g.refused().collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0].requested, "pypi.org");
    assert_eq!(
        refused[0].decision.policies,
        vec!["site.no-pypi-on-staging".to_owned()]
    );
    assert_eq!(g.network.allow, vec!["api.ionq.co".parse().unwrap()]);
}

#[test]
fn a_user_permit_cannot_widen_a_default_forbid() {
    let widen = [
        (
            "submit_job",
            "context.tier == \"sandbox\"",
            Tier::Sandbox,
            ibm_job(100),
            "jobs.sandbox-no-qpu",
        ),
        (
            "write_code",
            "context.tier == \"prod\"",
            Tier::Prod,
            write(true, false, false),
            "write.prod-denied",
        ),
        (
            "install_packages",
            "true",
            Tier::Prod,
            packages("pypi", true),
            "packages.prod-denied",
        ),
        (
            "install_packages",
            "true",
            Tier::Staging,
            packages("npm", false),
            "packages.staging-unlisted-registry",
        ),
        (
            "use_credential",
            "true",
            Tier::Staging,
            credential("ibm", true, "plaintext"),
            "credentials.no-plaintext",
        ),
        (
            "run_session",
            "true",
            Tier::Prod,
            session(false),
            "session.prod-not-enabled",
        ),
        (
            "read_code",
            "true",
            Tier::Sandbox,
            read(true, true, false),
            "credentials.store-files",
        ),
        (
            "connect",
            "true",
            Tier::Prod,
            connect("pypi.org", true, true, false, false),
            "network.prod-providers-only",
        ),
    ];
    for (action, when, tier, question, forbid) in widen {
        let text = format!(
            "@id(\"site.widen\")\n@reason(\"try to widen\")\npermit (principal, action == Qwarden::Action::\"{action}\", resource)\nwhen {{ {when} }};\n"
        );
        let engine = user("/p/widen.cedar", &text).unwrap();
        let d = engine.decide(AGENT, tier, &question);
        assert_decision(&d, Outcome::Deny, &[forbid]);
    }
}

#[test]
fn a_user_permit_with_a_mode_tightens_and_the_strictest_mode_wins() {
    let engine = user(
        "/p/tighten.cedar",
        r#"
@id("site.sandbox-writes-need-approval")
@mode("approval")
@reason("this sandbox is shared")
permit (principal, action == Qwarden::Action::"write_code", resource)
when { context.tier == "sandbox" };

@id("site.staging-writes-in-place")
@mode("allow")
@reason("an attempt to loosen PR-only")
permit (principal, action == Qwarden::Action::"write_code", resource)
when { context.tier == "staging" };

@id("site.staging-jobs-second-factor")
@mode("approval")
@second_factor("true")
@reason("staging jobs also need a TOTP code here")
permit (principal, action == Qwarden::Action::"submit_job", resource)
when { context.tier == "staging" };

@id("site.prod-jobs-no-second-factor")
@mode("approval")
@second_factor("false")
@reason("an attempt to drop the second factor")
permit (principal, action == Qwarden::Action::"submit_job", resource)
when { context.tier == "prod" };
"#,
    )
    .unwrap();
    let w = write(true, false, false);
    assert_decision(
        &engine.decide(AGENT, Tier::Sandbox, &w),
        APPROVAL,
        &["site.sandbox-writes-need-approval", "write.sandbox"],
    );
    assert_decision(
        &engine.decide(AGENT, Tier::Staging, &w),
        Outcome::Capture,
        &["site.staging-writes-in-place", "write.staging-pr-only"],
    );
    assert_decision(
        &engine.decide(AGENT, Tier::Staging, &ibm_job(10)),
        SF,
        &["jobs.staging-approval", "site.staging-jobs-second-factor"],
    );
    assert_decision(
        &engine.decide(AGENT, Tier::Prod, &ibm_job(10)),
        SF,
        &["jobs.prod-approval", "site.prod-jobs-no-second-factor"],
    );
    // A user permit that applies to the local simulator makes it need approval, too.
    let local = job("local:sv", "local", true, 10, 1000, 5000);
    assert_decision(
        &engine.decide(AGENT, Tier::Staging, &local),
        SF,
        &["jobs.local-simulator", "site.staging-jobs-second-factor"],
    );
}

#[test]
fn a_policy_that_fails_strict_validation_is_fatal_and_names_its_file() {
    let unknown_attribute = load_err(
        "/home/u/.config/qwarden/policies/typo.cedar",
        "@id(\"site.typo\")\nforbid (principal, action == Qwarden::Action::\"connect\", resource)\nwhen { context.nonexistent };\n",
    );
    assert!(
        unknown_attribute.contains("/home/u/.config/qwarden/policies/typo.cedar"),
        "{unknown_attribute}"
    );
    assert!(
        unknown_attribute.contains("site.typo"),
        "{unknown_attribute}"
    );
    assert!(
        unknown_attribute.contains("nonexistent"),
        "{unknown_attribute}"
    );

    let type_error = load_err(
        "/p/types.cedar",
        "@id(\"site.types\")\nforbid (principal, action == Qwarden::Action::\"submit_job\", resource)\nwhen { context.shots == \"x\" };\n",
    );
    assert!(type_error.contains("/p/types.cedar"), "{type_error}");
    assert!(type_error.contains("site.types"), "{type_error}");

    // An attribute that exists on some actions only, on a policy that applies to all of them.
    let partial = load_err(
        "/p/partial.cedar",
        "@id(\"site.partial\")\nforbid (principal, action, resource)\nwhen { context.shots > 10 };\n",
    );
    assert!(partial.contains("/p/partial.cedar"), "{partial}");

    // An entity type the schema does not know.
    let entity = load_err(
        "/p/entity.cedar",
        "@id(\"site.entity\")\nforbid (principal, action, resource == Qwarden::Server::\"x\");\n",
    );
    assert!(entity.contains("/p/entity.cedar"), "{entity}");

    // A good file beside a bad one does not get loaded on its own: the whole load fails.
    let both = PolicyEngine::load(&[
        (
            PathBuf::from("/p/good.cedar"),
            "@id(\"site.good\")\nforbid (principal, action, resource) when { false };\n".into(),
        ),
        (
            PathBuf::from("/p/bad.cedar"),
            "@id(\"site.bad\")\nforbid (principal, action, resource) when { context.nope };\n"
                .into(),
        ),
    ]);
    let e = both.unwrap_err();
    assert!(matches!(e, PolicyError::Invalid(_)), "{e:?}");
    assert!(e.to_string().contains("/p/bad.cedar"), "{e}");
}

#[test]
fn a_syntax_error_reports_line_and_column() {
    let text =
        "@id(\"site.ok\")\nforbid (principal, action, resource)\nwhen { context.tier == };\n";
    let e = user("/p/syntax.cedar", text).unwrap_err();
    let PolicyError::Parse { path, message } = &e else {
        panic!("expected a parse error, got {e:?}")
    };
    assert_eq!(path, Path::new("/p/syntax.cedar"));
    // Line 3, column 24: the `}` where the right-hand operand of `==` should be.
    assert!(message.starts_with("3:24: "), "{message}");
    assert!(message.contains("`}`"), "{message}");
    assert!(e.to_string().starts_with("/p/syntax.cedar: "), "{e}");
}

#[test]
fn qwarden_policy_rules_are_enforced_at_load() {
    let cases: [(&str, &str, &str); 7] = [
        (
            "unknown annotation",
            "@id(\"site.x\")\n@mdoe(\"approval\")\npermit (principal, action == Qwarden::Action::\"read_code\", resource);\n",
            "unknown annotation `@mdoe`",
        ),
        (
            "template",
            "@id(\"site.t\")\npermit (principal == ?principal, action == Qwarden::Action::\"read_code\", resource);\n",
            "templates are not supported",
        ),
        (
            "duplicate of a built-in id",
            "@id(\"read.allowed\")\nforbid (principal, action, resource) when { false };\n",
            "already used",
        ),
        (
            "duplicate inside one file",
            "@id(\"site.same\")\nforbid (principal, action, resource) when { false };\n@id(\"site.same\")\nforbid (principal, action, resource) when { false };\n",
            "already used",
        ),
        (
            "forbid with a mode",
            "@id(\"site.fm\")\n@mode(\"approval\")\nforbid (principal, action == Qwarden::Action::\"read_code\", resource);\n",
            "a `forbid` cannot carry @mode",
        ),
        (
            "bad mode value",
            "@id(\"site.bm\")\n@mode(\"maybe\")\npermit (principal, action == Qwarden::Action::\"read_code\", resource);\n",
            "`@mode(\"maybe\")` is not a valid value",
        ),
        (
            "bad second factor value",
            "@id(\"site.sf\")\n@mode(\"approval\")\n@second_factor(\"yes\")\npermit (principal, action == Qwarden::Action::\"read_code\", resource);\n",
            "`@second_factor(\"yes\")` is not a valid value",
        ),
    ];
    for (name, text, expected) in cases {
        let e = user("/p/rules.cedar", text).unwrap_err();
        assert!(matches!(e, PolicyError::Rule { .. }), "{name}: {e:?}");
        let msg = e.to_string();
        assert!(msg.contains(expected), "{name}: {msg}");
        assert!(msg.starts_with("/p/rules.cedar: "), "{name}: {msg}");
    }
    // Duplicates across two files are caught too, naming the second file.
    let e = PolicyEngine::load(&[
        (
            PathBuf::from("/p/a.cedar"),
            "@id(\"site.dup\")\nforbid (principal, action, resource) when { false };\n".into(),
        ),
        (
            PathBuf::from("/p/b.cedar"),
            "@id(\"site.dup\")\nforbid (principal, action, resource) when { false };\n".into(),
        ),
    ])
    .unwrap_err();
    assert!(
        e.to_string().starts_with("/p/b.cedar: policy `site.dup`"),
        "{e}"
    );
}

#[test]
fn unnamed_user_policies_are_named_after_their_file() {
    let engine = user(
        "/p/site.cedar",
        "forbid (principal, action == Qwarden::Action::\"spawn_processes\", resource) when { context.tier == \"prod\" };\n",
    )
    .unwrap();
    assert_eq!(
        engine.user_policies(),
        vec![("site.cedar#0".to_owned(), PathBuf::from("/p/site.cedar"))]
    );
    let d = engine.decide(
        AGENT,
        Tier::Prod,
        &Question::SpawnProcesses { requested: true },
    );
    assert_eq!(
        (d.outcome, d.policies),
        (Outcome::Deny, vec!["site.cedar#0".to_owned()])
    );
}

#[test]
fn a_policy_dir_loads_cedar_files_only_and_may_be_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let builtin = engine().len();

    let missing = PolicyEngine::with_policy_dir(&tmp.path().join("does-not-exist")).unwrap();
    assert_eq!(missing.len(), builtin);
    assert!(missing.user_policies().is_empty());
    assert!(!missing.is_empty());

    let dir = tmp.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    let empty = PolicyEngine::with_policy_dir(&dir).unwrap();
    assert_eq!(empty.len(), builtin);

    std::fs::write(
        dir.join("b-net.cedar"),
        "@id(\"site.no-pypi\")\n@reason(\"no pypi here\")\nforbid (principal, action == Qwarden::Action::\"connect\", resource == Qwarden::Host::\"pypi.org\");\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("a-jobs.cedar"),
        "@id(\"site.jobs\")\n@mode(\"approval\")\npermit (principal, action == Qwarden::Action::\"submit_job\", resource);\n",
    )
    .unwrap();
    // Neither of these is a policy file, and both would fail to load if they were read.
    std::fs::write(dir.join("README.md"), "not cedar at all {").unwrap();
    std::fs::write(
        dir.join("old.cedar.disabled"),
        "permit (principal, action, resource) when { context.nope };",
    )
    .unwrap();
    let loaded = PolicyEngine::with_policy_dir(&dir).unwrap();
    assert_eq!(loaded.len(), builtin + 2);
    assert_eq!(
        loaded.user_policies(),
        vec![
            ("site.jobs".to_owned(), dir.join("a-jobs.cedar")),
            ("site.no-pypi".to_owned(), dir.join("b-net.cedar")),
        ]
    );
    assert_decision(
        &loaded.decide(
            AGENT,
            Tier::Sandbox,
            &connect("pypi.org", true, true, false, false),
        ),
        Outcome::Deny,
        &["site.no-pypi"],
    );

    // A broken `*.cedar` file in the directory is fatal and named.
    std::fs::write(
        dir.join("c-broken.cedar"),
        "@id(\"site.broken\")\nforbid (principal, action, resource) when { context.nope };\n",
    )
    .unwrap();
    let e = PolicyEngine::with_policy_dir(&dir).unwrap_err();
    assert!(
        e.to_string()
            .contains(&dir.join("c-broken.cedar").display().to_string()),
        "{e}"
    );
}

// =================================================================================================
// End to end: a signed manifest, a parsed profile, real paths.

struct Fx {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    project: PathBuf,
    key: PathBuf,
    signers: AllowedSigners,
}

impl Fx {
    fn new() -> Fx {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let home = root.join("home");
        let project = home.join("proj");
        for d in [
            ".qiskit",
            ".aws",
            ".ssh",
            ".config/qwarden",
            ".local/state/qwarden",
            "proj/src/secret",
            "proj/.git/hooks",
            "proj/.github/workflows",
        ] {
            std::fs::create_dir_all(home.join(d)).unwrap();
        }
        std::fs::write(
            home.join(".qiskit/qiskit-ibm.json"),
            "{\"token\": \"not-for-agents\"}",
        )
        .unwrap();
        std::fs::write(
            home.join(".aws/credentials"),
            "[default]\naws_secret_access_key = x\n",
        )
        .unwrap();
        std::fs::write(project.join("src/main.py"), "print('hi')\n").unwrap();
        std::os::unix::fs::symlink(home.join(".qiskit"), project.join("link-to-qiskit")).unwrap();
        std::os::unix::fs::symlink(project.join(".git/hooks"), project.join("hooks-link")).unwrap();

        let key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519).unwrap();
        let key_path = root.join("publisher_ed25519");
        key.write_openssh_file(&key_path, LineEnding::LF).unwrap();
        let public = key.public_key().to_openssh().unwrap();
        let text = format!(
            "{PUBLISHER} namespaces=\"{}\" {public}\n",
            signature::MANIFEST_NAMESPACE
        );
        let signers = AllowedSigners::parse(&text, &root.join("allowed_signers")).unwrap();
        Fx {
            _tmp: tmp,
            root,
            home,
            project,
            key: key_path,
            signers,
        }
    }

    fn ctx(&self) -> PathContext {
        PathContext {
            home: self.home.clone(),
            project: self.project.clone(),
        }
    }

    fn private_dirs(&self) -> Vec<PathBuf> {
        vec![
            self.home.join(".config/qwarden"),
            self.home.join(".local/state/qwarden"),
        ]
    }

    /// Writes, signs and verifies a manifest whose `[agent]` table is filled in and whose body is
    /// `body`.
    fn manifest(&self, body: &str) -> VerifiedManifest {
        let text = format!(
            "expires = 2099-01-01T00:00:00Z\n\n[agent]\nname = \"{AGENT}\"\nversion = \"1.0.0\"\npublisher = \"{PUBLISHER}\"\n\n{body}"
        );
        let path = self.root.join("agent.toml");
        std::fs::write(&path, &text).unwrap();
        let sig = signature::sign(
            text.as_bytes(),
            signature::MANIFEST_NAMESPACE,
            &SigningKey::File {
                path: self.key.clone(),
                passphrase: None,
            },
        )
        .unwrap();
        std::fs::write(self.root.join("agent.toml.sig"), &sig).unwrap();
        let now = time::macros::datetime!(2030-01-01 0:00 UTC);
        let verified = VerifiedManifest::load(&path, &self.signers, now).unwrap();
        assert_eq!(verified.signer().principal, PUBLISHER);
        verified
    }

    fn grant(&self, m: &VerifiedManifest, profile: &Profile, engine: &PolicyEngine) -> Grant {
        Grant::compute(m, profile, engine, &self.ctx(), &self.private_dirs()).unwrap()
    }

    fn check(
        &self,
        m: &VerifiedManifest,
        profile: &Profile,
        engine: &PolicyEngine,
        action: Action,
    ) -> Decision {
        Grant::check(
            m,
            profile,
            engine,
            &self.ctx(),
            &self.private_dirs(),
            &action,
        )
        .unwrap()
    }
}

struct Opts {
    allow_on_prod: bool,
    registries: &'static str,
    allow: &'static str,
    deny: &'static str,
    /// More of the `[egress]` table (and its sub-tables), after `deny`.
    egress: &'static str,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            allow_on_prod: true,
            registries: r#"["pypi"]"#,
            allow: r#"["quantum.cloud.ibm.com", "*.quantum.cloud.ibm.com", "iam.cloud.ibm.com", "api.ionq.co", "pypi.org"]"#,
            deny: r#"["blocked.quantum.cloud.ibm.com"]"#,
            egress: "",
        }
    }
}

fn profile(tier: Tier, o: &Opts) -> Profile {
    let text = format!(
        r#"tier = "{tier}"

[agents]
allow_on_prod = {}

[[providers]]
name = "local"
kind = "local"

[[providers]]
name = "ibm"
kind = "ibm"
endpoints = ["https://quantum.cloud.ibm.com", "https://iam.cloud.ibm.com"]
vault = "ibm"

[[providers]]
name = "ionq"
kind = "ionq"
endpoints = ["https://api.ionq.co/v0.4"]
vault = "ionq"

[approvals]
staging = {{ threshold = 1 }}
prod = {{ threshold = 3, deny_threshold = 1 }}

[egress]
allow = {}
deny = {}
{}
[packages]
registries = {}

[limits]
memory_mb = 4096
processes = 256
open_files = 1024
cpu_seconds = 3600
"#,
        o.allow_on_prod, o.allow, o.deny, o.egress, o.registries
    );
    Profile::parse(&text, Path::new("/etc/qwarden/profile.toml")).unwrap()
}

/// One expected grant item: capability, what was requested, and the decision.
type Want = (Capability, &'static str, Outcome, &'static [&'static str]);

const KITCHEN_SINK: &str = r#"
[filesystem]
read = ["~/proj", "~", "~/.qiskit", "link-to-qiskit", "/proc"]
write = ["src", "/usr/local/share/qw", "~/.aws/credentials"]
deny = ["src/secret"]

[network]
allow = ["*.ibm.com", "api.ionq.co:443", "evil.example.com", "blocked.quantum.cloud.ibm.com", "pypi.org"]

[runtime]
install_packages = ["pypi", "npm"]
spawn_processes = true
devices = ["gpu:0"]

[limits]
memory_mb = 999999
processes = 64

[qpu]
providers = ["local", "ibm", "nowhere"]
backends = ["local:*", "ibm:ibm_brisbane", "nowhere:qpu"]
max_shots = 1000

[qpu.budget]
shots = 5000
jobs = 10
"#;

fn kitchen_sink_expectations(tier: Tier) -> Vec<Want> {
    use Capability as C;
    use Outcome::{Allow, Capture, Deny, Listed};
    let prod = tier == Tier::Prod;
    let pick = |sandbox: Want, staging: Want, p: Want| match tier {
        Tier::Sandbox => sandbox,
        Tier::Staging => staging,
        Tier::Prod => p,
    };
    let read_ok: (Outcome, &'static [&'static str]) = if prod {
        (Listed, &["read.prod-review-only"])
    } else {
        (Allow, &["read.allowed"])
    };
    let net_ok: (Outcome, &'static [&'static str]) = if prod {
        (Allow, &["network.prod-provider-endpoint"])
    } else {
        (Allow, &["network.profile-allowlist"])
    };
    let not_endpoint: (Outcome, &'static [&'static str]) = if prod {
        (Deny, &["network.prod-providers-only"])
    } else {
        (Allow, &["network.profile-allowlist"])
    };
    vec![
        pick(
            (C::Session, "<session>", Allow, &["session.allowed"]),
            (C::Session, "<session>", Allow, &["session.allowed"]),
            (C::Session, "<session>", Allow, &["session.prod-opt-in"]),
        ),
        (C::Deny, "src/secret", Allow, &["manifest.deny"]),
        (C::Read, "~/proj", read_ok.0, read_ok.1),
        (C::Read, "~", read_ok.0, read_ok.1),
        (C::Read, "~/.qiskit", Deny, &["credentials.store-files"]),
        (
            C::Read,
            "link-to-qiskit",
            Deny,
            &["credentials.store-files"],
        ),
        (C::Read, "/proc", Deny, &["read.kernel-interface"]),
        pick(
            (C::Write, "src", Allow, &["write.sandbox"]),
            (C::Write, "src", Capture, &["write.staging-pr-only"]),
            (C::Write, "src", Deny, &["write.prod-denied"]),
        ),
        if prod {
            (
                C::Write,
                "/usr/local/share/qw",
                Deny,
                &["write.prod-denied", "write.system-path"],
            )
        } else {
            (
                C::Write,
                "/usr/local/share/qw",
                Deny,
                &["write.system-path"],
            )
        },
        if prod {
            (
                C::Write,
                "~/.aws/credentials",
                Deny,
                &["credentials.store-files", "write.prod-denied"],
            )
        } else {
            (
                C::Write,
                "~/.aws/credentials",
                Deny,
                &["credentials.store-files"],
            )
        },
        // `*.ibm.com` meets three profile entries: iam.cloud.ibm.com, quantum.cloud.ibm.com and
        // *.quantum.cloud.ibm.com (in that order).
        (C::Network, "*.ibm.com", net_ok.0, net_ok.1),
        (C::Network, "*.ibm.com", net_ok.0, net_ok.1),
        (C::Network, "*.ibm.com", not_endpoint.0, not_endpoint.1),
        // ionq is configured on the workstation but this manifest does not ask for it, so on prod
        // its endpoint is not one of the agent's providers.
        (
            C::Network,
            "api.ionq.co:443",
            not_endpoint.0,
            not_endpoint.1,
        ),
        if prod {
            (
                C::Network,
                "evil.example.com",
                Deny,
                &["network.not-in-profile", "network.prod-providers-only"],
            )
        } else {
            (
                C::Network,
                "evil.example.com",
                Deny,
                &["network.not-in-profile"],
            )
        },
        if prod {
            (
                C::Network,
                "blocked.quantum.cloud.ibm.com",
                Deny,
                &["network.profile-denylist", "network.prod-providers-only"],
            )
        } else {
            (
                C::Network,
                "blocked.quantum.cloud.ibm.com",
                Deny,
                &["network.profile-denylist"],
            )
        },
        (C::Network, "pypi.org", not_endpoint.0, not_endpoint.1),
        (C::Credential, "local", Allow, &["credentials.handle-only"]),
        (C::Credential, "ibm", Allow, &["credentials.handle-only"]),
        (
            C::Credential,
            "nowhere",
            Deny,
            &["credentials.provider-not-configured"],
        ),
        (C::Backend, "local:*", Allow, &["jobs.local-simulator"]),
        pick(
            (
                C::Backend,
                "ibm:ibm_brisbane",
                Deny,
                &["jobs.sandbox-no-qpu"],
            ),
            (
                C::Backend,
                "ibm:ibm_brisbane",
                APPROVAL,
                &["jobs.staging-approval"],
            ),
            (C::Backend, "ibm:ibm_brisbane", SF, &["jobs.prod-approval"]),
        ),
        pick(
            (
                C::Backend,
                "nowhere:qpu",
                Deny,
                &["jobs.provider-not-configured", "jobs.sandbox-no-qpu"],
            ),
            (
                C::Backend,
                "nowhere:qpu",
                Deny,
                &["jobs.provider-not-configured"],
            ),
            (
                C::Backend,
                "nowhere:qpu",
                Deny,
                &["jobs.provider-not-configured"],
            ),
        ),
        pick(
            (C::Packages, "pypi", Allow, &["packages.sandbox"]),
            (
                C::Packages,
                "pypi",
                Allow,
                &["packages.staging-listed-registry"],
            ),
            (C::Packages, "pypi", Deny, &["packages.prod-denied"]),
        ),
        pick(
            (C::Packages, "npm", Allow, &["packages.sandbox"]),
            (
                C::Packages,
                "npm",
                Deny,
                &["packages.staging-unlisted-registry"],
            ),
            (C::Packages, "npm", Deny, &["packages.prod-denied"]),
        ),
        if prod {
            (C::Device, "gpu:0", APPROVAL, &["devices.prod-approval"])
        } else {
            (C::Device, "gpu:0", Allow, &["devices.listed"])
        },
        (
            C::Processes,
            "spawn child processes",
            Allow,
            &["processes.allowed"],
        ),
        (C::Limit, "memory_mb = 999999", Allow, &["profile.limits"]),
        (C::Limit, "processes = 64", Allow, &["profile.limits"]),
    ]
}

/// What an item says was requested; the session's wording is free text naming the agent.
fn label(item: &GrantItem) -> &str {
    if item.capability == Capability::Session {
        assert!(item.requested.contains(AGENT), "{item:?}");
        "<session>"
    } else {
        item.requested.as_str()
    }
}

#[test]
fn kitchen_sink_manifest_every_item_is_decided_and_nothing_is_dropped() {
    let fx = Fx::new();
    let m = fx.manifest(KITCHEN_SINK);
    let engine = engine();
    for tier in Tier::ALL {
        let g = fx.grant(&m, &profile(tier, &Opts::default()), &engine);
        assert_eq!(g.tier, tier);
        let want = kitchen_sink_expectations(tier);
        let got: Vec<(Capability, &str, Outcome, &[String])> = g
            .items
            .iter()
            .map(|i| {
                (
                    i.capability,
                    label(i),
                    i.decision.outcome,
                    i.decision.policies.as_slice(),
                )
            })
            .collect();
        assert_eq!(got.len(), want.len(), "{tier}: {got:#?}");
        for (g_item, (cap, req, outcome, policies)) in g.items.iter().zip(&want) {
            let mut p: Vec<String> = policies.iter().map(|s| (*s).to_owned()).collect();
            p.sort();
            assert_eq!(
                (
                    g_item.capability,
                    label(g_item),
                    g_item.decision.outcome,
                    &g_item.decision.policies
                ),
                (*cap, *req, *outcome, &p),
                "{tier}: {g_item:#?}"
            );
            assert_eq!(
                g_item.granted.is_some(),
                outcome.is_granted(),
                "{tier}: {g_item:#?}"
            );
        }

        // No silent drops: every requested thing has at least one item, and nothing else does.
        let requested: BTreeSet<(String, String)> = [
            (Capability::Session, "<session>"),
            (Capability::Deny, "src/secret"),
            (Capability::Read, "~/proj"),
            (Capability::Read, "~"),
            (Capability::Read, "~/.qiskit"),
            (Capability::Read, "link-to-qiskit"),
            (Capability::Read, "/proc"),
            (Capability::Write, "src"),
            (Capability::Write, "/usr/local/share/qw"),
            (Capability::Write, "~/.aws/credentials"),
            (Capability::Network, "*.ibm.com"),
            (Capability::Network, "api.ionq.co:443"),
            (Capability::Network, "evil.example.com"),
            (Capability::Network, "blocked.quantum.cloud.ibm.com"),
            (Capability::Network, "pypi.org"),
            (Capability::Credential, "local"),
            (Capability::Credential, "ibm"),
            (Capability::Credential, "nowhere"),
            (Capability::Backend, "local:*"),
            (Capability::Backend, "ibm:ibm_brisbane"),
            (Capability::Backend, "nowhere:qpu"),
            (Capability::Packages, "pypi"),
            (Capability::Packages, "npm"),
            (Capability::Device, "gpu:0"),
            (Capability::Processes, "spawn child processes"),
            (Capability::Limit, "memory_mb = 999999"),
            (Capability::Limit, "processes = 64"),
        ]
        .into_iter()
        .map(|(c, r)| (c.to_string(), r.to_owned()))
        .collect();
        assert_eq!(requested.len(), 27);
        // One item per requested thing, except `*.ibm.com`, which the profile splits into three.
        assert_eq!(g.items.len(), requested.len() + 2, "{tier}");
        let itemised: BTreeSet<(String, String)> = g
            .items
            .iter()
            .map(|i| (i.capability.to_string(), label(i).to_owned()))
            .collect();
        assert_eq!(itemised, requested, "{tier}");

        // Every refusal carries the policy that refused it and why.
        let refused: Vec<&GrantItem> = g.refused().collect();
        assert_eq!(
            refused.len(),
            want.iter().filter(|w| !w.2.is_granted()).count(),
            "{tier}"
        );
        for r in &refused {
            assert_eq!(r.decision.outcome, Outcome::Deny);
            assert!(
                !r.decision.policies.is_empty() && !r.decision.reasons.is_empty(),
                "{r:#?}"
            );
            assert!(
                !r.decision
                    .policies
                    .iter()
                    .any(|p| p.starts_with("qwarden.")),
                "{r:#?}"
            );
        }
    }
}

#[test]
fn kitchen_sink_grant_contents_per_tier() {
    let fx = Fx::new();
    let m = fx.manifest(KITCHEN_SINK);
    let engine = engine();
    let (home, project) = (&fx.home, &fx.project);
    let h = |s: &str| s.parse::<qwarden_policy::host::HostPattern>().unwrap();
    for tier in Tier::ALL {
        let g = fx.grant(&m, &profile(tier, &Opts::default()), &engine);
        assert!(g.session.outcome.is_granted());
        assert_eq!(g.manifest_digest, m.manifest().digest);
        assert_eq!(g.signer.principal, PUBLISHER);

        // File system.
        let read_outcome = if tier == Tier::Prod {
            Outcome::Listed
        } else {
            Outcome::Allow
        };
        let reads: Vec<(PathBuf, Outcome)> = g
            .filesystem
            .read
            .iter()
            .map(|r| (r.path.clone(), r.outcome))
            .collect();
        assert_eq!(
            reads,
            vec![
                (project.clone(), read_outcome),
                (home.clone(), read_outcome)
            ],
            "{tier}"
        );
        let writes: Vec<(PathBuf, Outcome)> = g
            .filesystem
            .write
            .iter()
            .map(|w| (w.path.clone(), w.outcome))
            .collect();
        match tier {
            Tier::Sandbox => assert_eq!(writes, vec![(project.join("src"), Outcome::Allow)]),
            Tier::Staging => assert_eq!(writes, vec![(project.join("src"), Outcome::Capture)]),
            Tier::Prod => assert!(writes.is_empty(), "{writes:?}"),
        }
        // `~` is granted, so every credential store and qwarden's own dirs are hidden inside it,
        // as is the manifest's own carve-out.
        for hidden in [
            ".qiskit",
            ".aws",
            ".ssh",
            ".gnupg",
            ".netrc",
            ".config/qwarden",
            ".local/state/qwarden",
        ] {
            assert!(
                g.filesystem.deny.contains(&home.join(hidden)),
                "{tier}: {hidden} not hidden: {:?}",
                g.filesystem.deny
            );
        }
        assert!(g.filesystem.deny.contains(&project.join("src/secret")));
        let home_item = g.items.iter().find(|i| i.requested == "~").unwrap();
        assert!(
            home_item
                .note
                .as_deref()
                .unwrap()
                .contains("credential stores inside stay hidden"),
            "{home_item:?}"
        );
        if tier == Tier::Prod {
            assert!(g.filesystem.protected.is_empty());
        } else {
            assert!(
                g.filesystem
                    .protected
                    .contains(&project.join("src/.git/hooks"))
            );
            assert!(
                g.filesystem
                    .protected
                    .contains(&project.join("src/.github"))
            );
        }

        // Network: narrowed to the profile; the deny list rides along for the proxy.
        let allow = match tier {
            Tier::Sandbox | Tier::Staging => vec![
                h("iam.cloud.ibm.com"),
                h("quantum.cloud.ibm.com"),
                h("*.quantum.cloud.ibm.com"),
                h("api.ionq.co:443"),
                h("pypi.org"),
            ],
            Tier::Prod => vec![h("iam.cloud.ibm.com"), h("quantum.cloud.ibm.com")],
        };
        assert_eq!(g.network.allow, allow, "{tier}");
        assert_eq!(g.network.deny, vec![h("blocked.quantum.cloud.ibm.com")]);
        let narrowed: Vec<&GrantItem> = g
            .items
            .iter()
            .filter(|i| i.note.as_deref() == Some("narrowed to the profile's allowlist"))
            .collect();
        assert!(
            narrowed
                .iter()
                .all(|i| i.requested == "*.ibm.com" || i.requested == "api.ionq.co:443")
        );

        // QPU.
        let providers: Vec<&str> = g.qpu.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(providers, vec!["local", "ibm"]);
        let backends: Vec<(String, Outcome)> = g
            .qpu
            .backends
            .iter()
            .map(|b| (b.backend.to_string(), b.outcome))
            .collect();
        match tier {
            Tier::Sandbox => {
                assert_eq!(backends, vec![("local:*".to_owned(), Outcome::Allow)]);
                assert_eq!(g.approvals, None);
            }
            Tier::Staging => {
                assert_eq!(
                    backends,
                    vec![
                        ("local:*".to_owned(), Outcome::Allow),
                        ("ibm:ibm_brisbane".to_owned(), APPROVAL)
                    ]
                );
                assert_eq!(g.approvals.unwrap().threshold, 1);
            }
            Tier::Prod => {
                assert_eq!(
                    backends,
                    vec![
                        ("local:*".to_owned(), Outcome::Allow),
                        ("ibm:ibm_brisbane".to_owned(), SF)
                    ]
                );
                assert_eq!(g.approvals.unwrap().threshold, 3);
            }
        }
        assert_eq!(g.qpu.max_shots, 1000);

        // Packages, devices, processes.
        let registries = match tier {
            Tier::Sandbox => vec![Registry::Pypi, Registry::Npm],
            Tier::Staging => vec![Registry::Pypi],
            Tier::Prod => vec![],
        };
        assert_eq!(g.packages, registries);
        let devices: Vec<(String, Outcome)> = g
            .devices
            .iter()
            .map(|d| (d.device.to_string(), d.outcome))
            .collect();
        let device_outcome = if tier == Tier::Prod {
            APPROVAL
        } else {
            Outcome::Allow
        };
        assert_eq!(devices, vec![("gpu:0".to_owned(), device_outcome)]);
        assert!(g.spawn_processes);

        // Limits: the manifest may ask for less than the profile, never more.
        assert_eq!(g.limits.memory_mb, 4096);
        assert_eq!(g.limits.processes, 64);
        assert_eq!(g.limits.open_files, 1024);
        assert_eq!(g.limits.cpu_seconds, 3600);
        let mem = g
            .items
            .iter()
            .find(|i| i.requested == "memory_mb = 999999")
            .unwrap();
        assert_eq!(mem.granted.as_deref(), Some("memory_mb = 4096"));
        assert_eq!(mem.note.as_deref(), Some("capped at the profile's 4096"));
        let procs = g
            .items
            .iter()
            .find(|i| i.requested == "processes = 64")
            .unwrap();
        assert_eq!(
            (procs.granted.as_deref(), procs.note.as_deref()),
            (Some("processes = 64"), None)
        );

        // The digest is stable and tier-dependent.
        assert_eq!(
            g.digest(),
            fx.grant(&m, &profile(tier, &Opts::default()), &engine)
                .digest()
        );
        assert!(g.digest().starts_with("sha256:"));
    }
}

#[test]
fn prod_without_allow_on_prod_denies_the_session() {
    let fx = Fx::new();
    let m = fx.manifest("[filesystem]\nread = [\"~/proj\"]\n");
    let engine = engine();
    let p = profile(
        Tier::Prod,
        &Opts {
            allow_on_prod: false,
            ..Opts::default()
        },
    );
    let g = fx.grant(&m, &p, &engine);
    assert_decision(&g.session, Outcome::Deny, &["session.prod-not-enabled"]);
    let refused: Vec<&GrantItem> = g.refused().collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].capability, Capability::Session);
    assert_decision(
        &fx.check(&m, &p, &engine, Action::RunSession),
        Outcome::Deny,
        &["session.prod-not-enabled"],
    );

    let enabled = profile(Tier::Prod, &Opts::default());
    assert_decision(
        &fx.grant(&m, &enabled, &engine).session,
        Outcome::Allow,
        &["session.prod-opt-in"],
    );
    for tier in [Tier::Sandbox, Tier::Staging] {
        // allow_on_prod means nothing below prod.
        let p = profile(
            tier,
            &Opts {
                allow_on_prod: false,
                ..Opts::default()
            },
        );
        assert_decision(
            &fx.grant(&m, &p, &engine).session,
            Outcome::Allow,
            &["session.allowed"],
        );
    }
}

#[test]
fn check_file_actions_per_tier() {
    let fx = Fx::new();
    let m = fx
        .manifest("[filesystem]\nread = [\"~/proj\"]\nwrite = [\".\"]\ndeny = [\"src/secret\"]\n");
    let engine = engine();
    for tier in Tier::ALL {
        let p = profile(tier, &Opts::default());
        let check = |a: Action| fx.check(&m, &p, &engine, a);
        let (read_o, read_p): (Outcome, &[&str]) = match tier {
            Tier::Prod => (Outcome::Listed, &["read.prod-review-only"]),
            _ => (Outcome::Allow, &["read.allowed"]),
        };
        assert_decision(&check(Action::Read("src/main.py".into())), read_o, read_p);
        assert_decision(
            &check(Action::Read("~/proj/README.md".into())),
            read_o,
            read_p,
        );
        let (write_o, write_p): (Outcome, &[&str]) = match tier {
            Tier::Sandbox => (Outcome::Allow, &["write.sandbox"]),
            Tier::Staging => (Outcome::Capture, &["write.staging-pr-only"]),
            Tier::Prod => (Outcome::Deny, &["write.prod-denied"]),
        };
        assert_decision(&check(Action::Write("src/new.py".into())), write_o, write_p);

        // Outside every scope.
        assert_decision(
            &check(Action::Read("~/other/notes.txt".into())),
            Outcome::Deny,
            &["manifest.not-requested"],
        );
        let outside_write: &[&str] = if tier == Tier::Prod {
            &["manifest.not-requested", "write.prod-denied"]
        } else {
            &["manifest.not-requested"]
        };
        assert_decision(
            &check(Action::Write("~/other/notes.txt".into())),
            Outcome::Deny,
            outside_write,
        );

        // The manifest's carve-out.
        assert_decision(
            &check(Action::Read("src/secret/key.pem".into())),
            Outcome::Deny,
            &["manifest.not-requested"],
        );
        assert_decision(
            &check(Action::Write("src/secret/key.pem".into())),
            Outcome::Deny,
            outside_write,
        );

        // Credential stores, including through a symlink inside the project.
        assert_decision(
            &check(Action::Read("~/.qiskit/qiskit-ibm.json".into())),
            Outcome::Deny,
            &["credentials.store-files", "manifest.not-requested"],
        );
        assert_decision(
            &check(Action::Read("link-to-qiskit/qiskit-ibm.json".into())),
            Outcome::Deny,
            &["credentials.store-files", "manifest.not-requested"],
        );

        // Kernel interfaces and system paths.
        assert_decision(
            &check(Action::Read("/proc/1/environ".into())),
            Outcome::Deny,
            &["manifest.not-requested", "read.kernel-interface"],
        );
        let etc: &[&str] = if tier == Tier::Prod {
            &[
                "manifest.not-requested",
                "write.prod-denied",
                "write.system-path",
            ]
        } else {
            &["manifest.not-requested", "write.system-path"]
        };
        assert_decision(
            &check(Action::Write("/etc/passwd".into())),
            Outcome::Deny,
            etc,
        );
    }
}

#[test]
fn protected_paths_stay_read_only_inside_write_scopes() {
    let fx = Fx::new();
    let m = fx.manifest("[filesystem]\nwrite = [\".\"]\n");
    let engine = engine();
    for tier in [Tier::Sandbox, Tier::Staging] {
        let p = profile(tier, &Opts::default());
        let g = fx.grant(&m, &p, &engine);
        for rel in [
            ".git/hooks",
            ".git/config",
            ".github",
            ".gitlab-ci.yml",
            ".vscode",
            ".claude",
            ".envrc",
        ] {
            assert!(
                g.filesystem.protected.contains(&fx.project.join(rel)),
                "{tier}: {rel}"
            );
        }
        for path in [
            ".git/hooks/pre-commit",
            ".git/config",
            ".github/workflows/ci.yml",
            ".gitlab-ci.yml",
            ".vscode/settings.json",
            ".claude/settings.json",
            ".pre-commit-config.yaml",
            "~/proj/.git/hooks/post-checkout",
        ] {
            let d = fx.check(&m, &p, &engine, Action::Write(path.into()));
            assert_decision(&d, Outcome::Deny, &["qwarden.protected-path"]);
        }
        // A symlink elsewhere in the project does not launder a protected path.
        let d = fx.check(&m, &p, &engine, Action::Write("hooks-link/pre-push".into()));
        assert_decision(&d, Outcome::Deny, &["qwarden.protected-path"]);
        let d = fx.check(
            &m,
            &p,
            &engine,
            Action::Write("src/../.git/./hooks/pre-push".into()),
        );
        assert_decision(&d, Outcome::Deny, &["qwarden.protected-path"]);
        // Reading them is fine, and so is writing elsewhere in .git.
        let read_ok: &[&str] = &["read.allowed"];
        assert_decision(
            &fx.check(&m, &p, &engine, Action::Read(".git/config".into())),
            Outcome::Allow,
            read_ok,
        );
        let w = fx.check(
            &m,
            &p,
            &engine,
            Action::Write(".git/objects/ab/cdef".into()),
        );
        assert!(w.outcome.is_granted(), "{w:?}");
    }
}

#[test]
fn a_write_scope_over_home_protects_the_rc_files_and_the_project() {
    // Writing `~` must not make `~/.bashrc` or the project's `.git/hooks` writable.
    let fx = Fx::new();
    let m = fx.manifest("[filesystem]\nwrite = [\"~\"]\n");
    let engine = engine();
    let p = profile(Tier::Sandbox, &Opts::default());
    let g = fx.grant(&m, &p, &engine);
    assert!(g.filesystem.protected.contains(&fx.home.join(".bashrc")));
    assert!(
        g.filesystem
            .protected
            .contains(&fx.project.join(".git/hooks")),
        "{:?}",
        g.filesystem.protected
    );
    for path in [
        "~/.bashrc",
        "~/.zshrc",
        "~/.config/fish/config.fish",
        ".git/hooks/pre-commit",
        ".github/workflows/x.yml",
    ] {
        assert_decision(
            &fx.check(&m, &p, &engine, Action::Write(path.into())),
            Outcome::Deny,
            &["qwarden.protected-path"],
        );
    }
    // Credential stores inside the write scope are hidden, and refused on check.
    assert!(g.filesystem.deny.contains(&fx.home.join(".ssh")));
    assert_decision(
        &fx.check(
            &m,
            &p,
            &engine,
            Action::Write("~/.ssh/authorized_keys".into()),
        ),
        Outcome::Deny,
        &["credentials.store-files"],
    );
    assert_decision(
        &fx.check(
            &m,
            &p,
            &engine,
            Action::Read("~/.config/qwarden/profile.toml".into()),
        ),
        Outcome::Deny,
        &["credentials.store-files"],
    );
}

#[test]
fn a_write_scope_above_home_protects_the_home_rc_files_on_check_too() {
    let fx = Fx::new();
    // The temp root is the parent of home, and is not a system directory.
    let m = fx.manifest(&format!(
        "[filesystem]\nwrite = [\"{}\"]\n",
        fx.root.display()
    ));
    let engine = engine();
    let p = profile(Tier::Sandbox, &Opts::default());
    let g = fx.grant(&m, &p, &engine);
    assert_eq!(g.filesystem.write.len(), 1);
    assert!(g.filesystem.protected.contains(&fx.home.join(".bashrc")));
    assert_decision(
        &fx.check(&m, &p, &engine, Action::Write("~/.bashrc".into())),
        Outcome::Deny,
        &["qwarden.protected-path"],
    );
}

#[test]
fn credential_stores_are_recognised_through_a_symlinked_home() {
    // `$HOME` is often reached through a symlink (`/home` → `/var/home`); the stores must still be
    // recognised once scopes are resolved to where they really point.
    let fx = Fx::new();
    let link = fx.root.join("home-link");
    std::os::unix::fs::symlink(&fx.home, &link).unwrap();
    let ctx = PathContext {
        home: link.clone(),
        project: link.join("proj"),
    };
    let private = vec![link.join(".config/qwarden")];
    let m = fx.manifest("[filesystem]\nread = [\"~/.qiskit\", \"~\", \"~/.config/qwarden\"]\nwrite = [\"~/.aws\"]\n");
    let engine = engine();
    let p = profile(Tier::Sandbox, &Opts::default());
    let g = Grant::compute(&m, &p, &engine, &ctx, &private).unwrap();
    let refused: Vec<&str> = g.refused().map(|i| i.requested.as_str()).collect();
    assert_eq!(
        refused,
        vec!["~/.qiskit", "~/.config/qwarden", "~/.aws"],
        "{:#?}",
        g.items
    );
    for r in g.refused() {
        assert_eq!(
            r.decision.policies,
            vec!["credentials.store-files".to_owned()]
        );
    }
    // The granted `~` hides the stores at the paths the sandbox will see.
    assert!(
        g.filesystem.deny.contains(&fx.home.join(".qiskit")),
        "{:?}",
        g.filesystem.deny
    );
    assert!(
        g.filesystem.deny.contains(&fx.home.join(".config/qwarden")),
        "{:?}",
        g.filesystem.deny
    );
    let d = Grant::check(
        &m,
        &p,
        &engine,
        &ctx,
        &private,
        &Action::Read("~/.qiskit/qiskit-ibm.json".into()),
    )
    .unwrap();
    assert!(
        d.policies.contains(&"credentials.store-files".to_owned()),
        "{d:?}"
    );
}

#[test]
fn check_agrees_with_the_grant_when_a_scope_is_refused() {
    // The scope `/` is refused for reading (it contains /proc) and for writing (a system path); a
    // path under it must not be reported as allowed by `check` when the grant does not include it.
    let fx = Fx::new();
    let m = fx.manifest("[filesystem]\nread = [\"/\"]\nwrite = [\"/\"]\n");
    let engine = engine();
    let p = profile(Tier::Sandbox, &Opts::default());
    let g = fx.grant(&m, &p, &engine);
    assert!(
        g.filesystem.read.is_empty() && g.filesystem.write.is_empty(),
        "{:?}",
        g.filesystem
    );
    let refused: Vec<(&str, Vec<String>)> = g
        .refused()
        .map(|i| (i.requested.as_str(), i.decision.policies.clone()))
        .collect();
    assert_eq!(
        refused,
        vec![
            ("/", vec!["read.kernel-interface".to_owned()]),
            ("/", vec!["write.system-path".to_owned()])
        ]
    );
    let r = fx.check(
        &m,
        &p,
        &engine,
        Action::Read(fx.project.join("src/main.py").display().to_string()),
    );
    assert_eq!(r.outcome, Outcome::Deny, "{r:?}");
    let w = fx.check(
        &m,
        &p,
        &engine,
        Action::Write(fx.project.join("src/main.py").display().to_string()),
    );
    assert_eq!(w.outcome, Outcome::Deny, "{w:?}");

    // On prod a write scope is refused, so it does not become readable through `check` either.
    let m = fx.manifest("[filesystem]\nwrite = [\"src\"]\n");
    let p = profile(Tier::Prod, &Opts::default());
    let g = fx.grant(&m, &p, &engine);
    assert!(g.filesystem.read.is_empty() && g.filesystem.write.is_empty());
    let r = fx.check(&m, &p, &engine, Action::Read("src/main.py".into()));
    assert_eq!(r.outcome, Outcome::Deny, "{r:?}");
}

#[test]
fn system_paths_and_kernel_interfaces_are_refused_as_scopes() {
    let fx = Fx::new();
    let m = fx.manifest(
        "[filesystem]\nread = [\"/proc\", \"/sys/kernel\", \"/dev\", \"/etc\"]\nwrite = [\"/etc\", \"/usr/lib\", \"/var/tmp/x\", \"/\", \"/tmp/qwarden-test-scratch\"]\n",
    );
    let engine = engine();
    let g = fx.grant(&m, &profile(Tier::Sandbox, &Opts::default()), &engine);
    let by: Vec<(Capability, &str, Option<&str>, Vec<String>)> = g
        .items
        .iter()
        .skip(1)
        .map(|i| {
            (
                i.capability,
                i.requested.as_str(),
                i.granted.as_deref(),
                i.decision.policies.clone(),
            )
        })
        .collect();
    let kernel = vec!["read.kernel-interface".to_owned()];
    let system = vec!["write.system-path".to_owned()];
    assert_eq!(
        by,
        vec![
            (Capability::Read, "/proc", None, kernel.clone()),
            (Capability::Read, "/sys/kernel", None, kernel.clone()),
            (Capability::Read, "/dev", None, kernel),
            (
                Capability::Read,
                "/etc",
                Some("/etc"),
                vec!["read.allowed".to_owned()]
            ),
            (Capability::Write, "/etc", None, system.clone()),
            (Capability::Write, "/usr/lib", None, system.clone()),
            (Capability::Write, "/var/tmp/x", None, system.clone()),
            (Capability::Write, "/", None, system),
            (
                Capability::Write,
                "/tmp/qwarden-test-scratch",
                Some("/tmp/qwarden-test-scratch"),
                vec!["write.sandbox".to_owned()]
            ),
        ]
    );
}

#[test]
fn network_is_the_manifest_cut_down_to_the_profile() {
    let fx = Fx::new();
    let engine = engine();
    let m = fx.manifest("[network]\nallow = [\"*.ibm.com\"]\n");
    let p = profile(
        Tier::Staging,
        &Opts {
            allow: r#"["*.quantum.cloud.ibm.com"]"#,
            deny: "[]",
            ..Opts::default()
        },
    );
    let g = fx.grant(&m, &p, &engine);
    assert_eq!(g.items.len(), 2);
    let item = &g.items[1];
    assert_eq!(item.requested, "*.ibm.com");
    assert_eq!(item.granted.as_deref(), Some("*.quantum.cloud.ibm.com"));
    assert_eq!(
        item.note.as_deref(),
        Some("narrowed to the profile's allowlist")
    );
    assert_decision(
        &item.decision,
        Outcome::Allow,
        &["network.profile-allowlist"],
    );
    assert_eq!(
        g.network.allow,
        vec!["*.quantum.cloud.ibm.com".parse().unwrap()]
    );

    // Check a concrete host: inside both lists, inside the manifest only, inside the profile only.
    let check = |host: &str| fx.check(&m, &p, &engine, Action::Connect(host.into()));
    assert_decision(
        &check("eu-de.quantum.cloud.ibm.com:443"),
        Outcome::Allow,
        &["network.profile-allowlist"],
    );
    assert_decision(
        &check("www.ibm.com"),
        Outcome::Deny,
        &["network.not-in-profile"],
    );
    assert_decision(
        &check("quantum.cloud.ibm.com"),
        Outcome::Deny,
        &["network.not-in-profile"],
    );
    let m2 = fx.manifest("[network]\nallow = [\"api.ionq.co\"]\n");
    let d = fx.check(
        &m2,
        &p,
        &engine,
        Action::Connect("x.quantum.cloud.ibm.com".into()),
    );
    assert_decision(&d, Outcome::Deny, &["manifest.not-requested"]);
    let e = Grant::check(
        &m,
        &p,
        &engine,
        &fx.ctx(),
        &[],
        &Action::Connect("*.ibm.com".into()),
    )
    .unwrap_err();
    assert!(e.to_string().contains("is a pattern"), "{e}");

    // The manifest narrower than the profile keeps the manifest's pattern.
    let m3 = fx.manifest("[network]\nallow = [\"api.quantum.cloud.ibm.com:443\"]\n");
    let g3 = fx.grant(&m3, &p, &engine);
    assert_eq!(
        g3.items[1].granted.as_deref(),
        Some("api.quantum.cloud.ibm.com:443")
    );
    assert_eq!(g3.items[1].note, None);
}

#[test]
fn the_built_in_deny_list_refuses_at_grant_time_unless_exempt() {
    use qwarden_policy::host::HostPattern;
    use qwarden_policy::net::{BUILTIN_DENY, HostOverride, builtin_deny};
    let h = |s: &str| s.parse::<HostPattern>().unwrap();
    let fx = Fx::new();
    let engine = engine();
    let m = fx.manifest(
        "[network]\nallow = [\"*.ngrok.io\", \"x.s3.amazonaws.com\", \"braket.us-east-1.amazonaws.com\", \"*.amazonaws.com\", \"pastebin.com\", \"pypi.org\"]\n",
    );
    let broad = Opts {
        allow: r#"["*.ngrok.io", "*.amazonaws.com", "pastebin.com", "pypi.org"]"#,
        ..Opts::default()
    };
    let denied = |policies: &[&str]| policies.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
    for tier in [Tier::Sandbox, Tier::Staging] {
        let p = profile(tier, &broad);
        let g = fx.grant(&m, &p, &engine);
        let refused: Vec<(&str, Vec<String>)> = g
            .refused()
            .map(|i| (i.requested.as_str(), i.decision.policies.clone()))
            .collect();
        assert_eq!(
            refused,
            [
                ("*.ngrok.io", denied(&["network.profile-denylist"])),
                ("x.s3.amazonaws.com", denied(&["network.profile-denylist"])),
                ("pastebin.com", denied(&["network.profile-denylist"])),
            ],
            "{tier}"
        );
        let ngrok = g
            .items
            .iter()
            .find(|i| i.requested == "*.ngrok.io")
            .unwrap();
        assert!(
            ngrok.decision.reasons[0].contains("qwarden's built-in list"),
            "{:?}",
            ngrok.decision.reasons
        );
        assert_eq!(
            ngrok.note.as_deref(),
            Some(
                "on qwarden's built-in deny list: `*.ngrok.io` (ngrok, tunnel); the profile can lift it with [egress] exempt = [\"*.ngrok.io\"]"
            )
        );
        let s3 = g
            .items
            .iter()
            .find(|i| i.requested == "x.s3.amazonaws.com")
            .unwrap();
        assert!(
            s3.note
                .as_deref()
                .unwrap()
                .contains("`*.s3.amazonaws.com` (Amazon S3, object-storage)"),
            "{s3:?}"
        );
        // Granted, with a word about what the deny list still refuses under it.
        assert_eq!(
            g.network.allow,
            [
                h("braket.us-east-1.amazonaws.com"),
                h("*.amazonaws.com"),
                h("pypi.org")
            ]
        );
        let amazon = g
            .items
            .iter()
            .find(|i| i.requested == "*.amazonaws.com")
            .unwrap();
        let note = amazon.note.as_deref().unwrap();
        assert!(
            note.contains("built-in deny entries still refuse hosts under it"),
            "{note}"
        );
        let braket = g
            .items
            .iter()
            .find(|i| i.requested == "braket.us-east-1.amazonaws.com")
            .unwrap();
        assert_eq!(braket.note, None);
        // Everything the proxy needs rides along.
        assert_eq!(g.network.builtin_deny, builtin_deny());
        assert_eq!(g.network.deny, [h("blocked.quantum.cloud.ibm.com")]);
        assert!(g.network.allow_ranges.is_empty() && g.network.overrides.is_empty());
        // `policy check` agrees, for concrete hosts.
        let check = |host: &str| fx.check(&m, &p, &engine, Action::Connect(host.into()));
        assert_decision(
            &check("abc.ngrok.io:443"),
            Outcome::Deny,
            &["network.profile-denylist"],
        );
        assert_decision(
            &check("bucket.s3.amazonaws.com:443"),
            Outcome::Deny,
            &["network.profile-denylist"],
        );
        assert_decision(
            &check("braket.us-east-1.amazonaws.com:443"),
            Outcome::Allow,
            &["network.profile-allowlist"],
        );
    }

    // On prod, the deny list and the provider rule both refuse.
    let g = fx.grant(&m, &profile(Tier::Prod, &broad), &engine);
    let ngrok = g
        .items
        .iter()
        .find(|i| i.requested == "*.ngrok.io")
        .unwrap();
    assert_decision(
        &ngrok.decision,
        Outcome::Deny,
        &["network.profile-denylist", "network.prod-providers-only"],
    );

    // Exempting entries lifts exactly them; ranges and overrides reach the grant.
    let exempt = Opts {
        egress: "exempt = [\"*.s3.amazonaws.com\", \"pastebin.com\"]\nallow_ranges = [\"127.0.0.1\", \"10.20.0.0/16\"]\n\n[egress.hosts]\n\"api.ionq.co\" = \"127.0.0.1:8443\"\n",
        ..broad
    };
    let p = profile(Tier::Sandbox, &exempt);
    let g = fx.grant(&m, &p, &engine);
    let refused: Vec<&str> = g.refused().map(|i| i.requested.as_str()).collect();
    assert_eq!(refused, ["*.ngrok.io"]);
    assert_eq!(
        g.network.allow,
        [
            h("x.s3.amazonaws.com"),
            h("braket.us-east-1.amazonaws.com"),
            h("*.amazonaws.com"),
            h("pastebin.com"),
            h("pypi.org")
        ]
    );
    assert_eq!(g.network.builtin_deny.len(), BUILTIN_DENY.len() - 2);
    assert!(!g.network.builtin_deny.contains(&h("*.s3.amazonaws.com")));
    assert!(!g.network.builtin_deny.contains(&h("pastebin.com")));
    assert!(g.network.builtin_deny.contains(&h("s3.amazonaws.com")));
    assert!(g.network.builtin_deny.contains(&h("*.ngrok.io")));
    assert_eq!(
        g.network.allow_ranges,
        [
            "127.0.0.1/32".parse().unwrap(),
            "10.20.0.0/16".parse().unwrap()
        ]
    );
    assert_eq!(
        g.network.overrides,
        [HostOverride::new("api.ionq.co", "127.0.0.1:8443").unwrap()]
    );
    assert_decision(
        &fx.check(
            &m,
            &p,
            &engine,
            Action::Connect("bucket.s3.amazonaws.com:443".into()),
        ),
        Outcome::Allow,
        &["network.profile-allowlist"],
    );
    // The grant's JSON (what the audit log digests) carries the new fields.
    let json = serde_json::to_value(&g.network).unwrap();
    assert_eq!(
        json["allow_ranges"],
        serde_json::json!(["127.0.0.1/32", "10.20.0.0/16"])
    );
    assert_eq!(
        json["overrides"],
        serde_json::json!([{ "host": "api.ionq.co", "address": "127.0.0.1", "port": 8443 }])
    );
    assert_eq!(
        json["builtin_deny"].as_array().unwrap().len(),
        BUILTIN_DENY.len() - 2
    );
}

#[test]
fn network_deny_list_and_prod_provider_endpoints() {
    let fx = Fx::new();
    let engine = engine();
    let m = fx.manifest("[network]\nallow = [\"*.quantum.cloud.ibm.com\", \"quantum.cloud.ibm.com\", \"pypi.org\", \"api.ionq.co\"]\n[qpu]\nproviders = [\"ibm\", \"ionq\"]\n");
    // On prod, an endpoint counts only for providers the manifest asks for.
    let no_providers = fx.manifest("[network]\nallow = [\"api.ionq.co\"]\n");
    assert_decision(
        &fx.check(
            &no_providers,
            &profile(Tier::Prod, &Opts::default()),
            &engine,
            Action::Connect("api.ionq.co:443".into()),
        ),
        Outcome::Deny,
        &["network.prod-providers-only"],
    );
    for tier in Tier::ALL {
        let p = profile(tier, &Opts::default());
        let check = |host: &str| fx.check(&m, &p, &engine, Action::Connect(host.into()));
        let blocked: &[&str] = if tier == Tier::Prod {
            &["network.prod-providers-only", "network.profile-denylist"]
        } else {
            &["network.profile-denylist"]
        };
        assert_decision(
            &check("blocked.quantum.cloud.ibm.com"),
            Outcome::Deny,
            blocked,
        );
        let (o, pol): (Outcome, &[&str]) = match tier {
            Tier::Prod => (Outcome::Allow, &["network.prod-provider-endpoint"]),
            _ => (Outcome::Allow, &["network.profile-allowlist"]),
        };
        assert_decision(&check("quantum.cloud.ibm.com:443"), o, pol);
        assert_decision(&check("api.ionq.co:443"), o, pol);
        let (o, pol): (Outcome, &[&str]) = match tier {
            Tier::Prod => (Outcome::Deny, &["network.prod-providers-only"]),
            _ => (Outcome::Allow, &["network.profile-allowlist"]),
        };
        assert_decision(&check("pypi.org"), o, pol);
        assert_decision(&check("us-east.quantum.cloud.ibm.com"), o, pol);
        // An IAM endpoint of a configured provider that the manifest does not ask for.
        assert_decision(
            &check("iam.cloud.ibm.com"),
            Outcome::Deny,
            &["manifest.not-requested"],
        );
    }
    // A deny-list entry that covers a host the manifest asks for, as a wildcard.
    let p = profile(
        Tier::Sandbox,
        &Opts {
            deny: r#"["*.quantum.cloud.ibm.com"]"#,
            ..Opts::default()
        },
    );
    let g = fx.grant(&m, &p, &engine);
    let refused: Vec<(&str, Vec<String>)> = g
        .refused()
        .map(|i| (i.requested.as_str(), i.decision.policies.clone()))
        .collect();
    assert_eq!(
        refused,
        vec![(
            "*.quantum.cloud.ibm.com",
            vec!["network.profile-denylist".to_owned()]
        )]
    );
}

#[test]
fn jobs_shots_budget_and_providers() {
    let fx = Fx::new();
    let engine = engine();
    let m = fx.manifest(
        "[qpu]\nproviders = [\"local\", \"ibm\", \"ionq\"]\nbackends = [\"local:*\", \"ibm:ibm_brisbane\", \"ionq:*\"]\nmax_shots = 1000\n[qpu.budget]\nshots = 5000\njobs = 5\n",
    );
    for tier in Tier::ALL {
        let p = profile(tier, &Opts::default());
        let check = |backend: &str, shots: u64| {
            fx.check(
                &m,
                &p,
                &engine,
                Action::SubmitJob {
                    backend: backend.into(),
                    shots,
                },
            )
        };
        let (o, pol): (Outcome, &[&str]) = match tier {
            Tier::Sandbox => (Outcome::Deny, &["jobs.sandbox-no-qpu"]),
            Tier::Staging => (APPROVAL, &["jobs.staging-approval"]),
            Tier::Prod => (SF, &["jobs.prod-approval"]),
        };
        assert_decision(&check("ibm:ibm_brisbane", 1000), o, pol);
        assert_decision(&check("ionq:qpu.forte-1", 1), o, pol);
        assert_decision(
            &check("local:statevector", 1000),
            Outcome::Allow,
            &["jobs.local-simulator"],
        );
        let with_sandbox = |id: &'static str| -> Vec<&'static str> {
            if tier == Tier::Sandbox {
                vec![id, "jobs.sandbox-no-qpu"]
            } else {
                vec![id]
            }
        };
        assert_decision(
            &check("ibm:ibm_brisbane", 1001),
            Outcome::Deny,
            &with_sandbox("jobs.max-shots"),
        );
        assert_decision(
            &check("ibm:ibm_brisbane", 0),
            Outcome::Deny,
            &with_sandbox("jobs.positive-shots"),
        );
        assert_decision(
            &check("ibm:ibm_kyiv", 10),
            Outcome::Deny,
            &with_sandbox("manifest.not-requested"),
        );
        assert_decision(
            &check("local:sv", u64::MAX),
            Outcome::Deny,
            &["jobs.max-shots", "jobs.session-budget"],
        );
        assert_decision(&check("braket:sv1", 10), Outcome::Deny, &{
            let mut v = with_sandbox("jobs.provider-not-configured");
            v.push("manifest.not-requested");
            v
        });
        assert!(
            Grant::check(
                &m,
                &p,
                &engine,
                &fx.ctx(),
                &[],
                &Action::SubmitJob {
                    backend: "ibm:*".into(),
                    shots: 1
                }
            )
            .is_err()
        );

        // Credentials: a handle on every tier, never plaintext.
        let cred = |provider: &str, form: &str| {
            fx.check(
                &m,
                &p,
                &engine,
                Action::UseCredential {
                    provider: provider.into(),
                    form: form.into(),
                },
            )
        };
        assert_decision(
            &cred("ibm", "handle"),
            Outcome::Allow,
            &["credentials.handle-only"],
        );
        assert_decision(
            &cred("ibm", "plaintext"),
            Outcome::Deny,
            &["credentials.no-plaintext"],
        );
        assert_decision(
            &cred("local", "plaintext"),
            Outcome::Deny,
            &["credentials.no-plaintext"],
        );
        assert_decision(
            &cred("braket", "handle"),
            Outcome::Deny,
            &[
                "credentials.provider-not-configured",
                "manifest.not-requested",
            ],
        );
        assert!(
            Grant::check(
                &m,
                &p,
                &engine,
                &fx.ctx(),
                &[],
                &Action::UseCredential {
                    provider: "ibm".into(),
                    form: "env".into()
                }
            )
            .is_err()
        );
    }

    // A per-job limit above the session budget is refused when the manifest is read, so no grant
    // can ever carry one.
    let text = "[agent]\nname = \"a\"\nversion = \"1\"\npublisher = \"p@x\"\n[qpu]\nproviders = [\"ibm\"]\nbackends = [\"ibm:ibm_brisbane\"]\nmax_shots = 10000\n[qpu.budget]\nshots = 5000\njobs = 5\n";
    let err = qwarden_policy::Manifest::parse(text, std::path::Path::new("over.toml")).unwrap_err();
    assert!(
        err.to_string().contains("larger than the session budget"),
        "{err}"
    );
}

#[test]
fn packages_per_tier_and_registry_listing() {
    let fx = Fx::new();
    let engine = engine();
    let m = fx.manifest("[runtime]\ninstall_packages = [\"pypi\", \"conda\"]\n");
    let none = fx.manifest("[runtime]\nspawn_processes = false\n");
    for tier in Tier::ALL {
        let p = profile(tier, &Opts::default());
        let check = |r: &str| fx.check(&m, &p, &engine, Action::InstallPackages(r.into()));
        let (o, pol): (Outcome, &[&str]) = match tier {
            Tier::Sandbox => (Outcome::Allow, &["packages.sandbox"]),
            Tier::Staging => (Outcome::Allow, &["packages.staging-listed-registry"]),
            Tier::Prod => (Outcome::Deny, &["packages.prod-denied"]),
        };
        assert_decision(&check("pypi"), o, pol);
        let (o, pol): (Outcome, &[&str]) = match tier {
            Tier::Sandbox => (Outcome::Allow, &["packages.sandbox"]),
            Tier::Staging => (Outcome::Deny, &["packages.staging-unlisted-registry"]),
            Tier::Prod => (Outcome::Deny, &["packages.prod-denied"]),
        };
        assert_decision(&check("conda"), o, pol);
        // Not in the manifest.
        let npm = check("npm");
        assert_eq!(npm.outcome, Outcome::Deny);
        assert!(
            npm.policies.contains(&"manifest.not-requested".to_owned()),
            "{npm:?}"
        );
        assert!(
            Grant::check(
                &m,
                &p,
                &engine,
                &fx.ctx(),
                &[],
                &Action::InstallPackages("cpan".into())
            )
            .is_err()
        );
        // A manifest that asks for nothing gets nothing and no items.
        let g = fx.grant(&none, &p, &engine);
        assert!(g.packages.is_empty() && !g.spawn_processes);
        assert_eq!(g.items.len(), 1, "only the session: {:#?}", g.items);
        assert_decision(
            &fx.check(&none, &p, &engine, Action::SpawnProcesses),
            Outcome::Deny,
            &["manifest.not-requested"],
        );
    }
    // Listing a registry on a prod profile does not open installs there.
    let mut p = profile(Tier::Prod, &Opts::default());
    p.package_registries = vec![Registry::Pypi, Registry::Conda];
    let g = fx.grant(&m, &p, &engine);
    assert!(g.packages.is_empty());
    assert_eq!(
        g.refused()
            .filter(|i| i.decision.policies == ["packages.prod-denied"])
            .count(),
        2
    );
    // An empty staging list refuses every registry.
    let g = fx.grant(
        &m,
        &profile(
            Tier::Staging,
            &Opts {
                registries: "[]",
                ..Opts::default()
            },
        ),
        &engine,
    );
    assert!(g.packages.is_empty());
    assert_eq!(
        g.refused()
            .filter(|i| i.decision.policies == ["packages.staging-unlisted-registry"])
            .count(),
        2
    );
}

#[test]
fn devices_listed_and_prod_approval() {
    let fx = Fx::new();
    let engine = engine();
    let m = fx.manifest("[runtime]\ndevices = [\"gpu:0\", \"pci:10de:2330\"]\n");
    let any = fx.manifest("[runtime]\ndevices = [\"gpu\"]\n");
    for tier in Tier::ALL {
        let p = profile(tier, &Opts::default());
        let (o, pol): (Outcome, &[&str]) = match tier {
            Tier::Prod => (APPROVAL, &["devices.prod-approval"]),
            _ => (Outcome::Allow, &["devices.listed"]),
        };
        let g = fx.grant(&m, &p, &engine);
        assert_eq!(g.devices.len(), 2);
        assert!(g.devices.iter().all(|d| d.outcome == o));
        let check = |m: &VerifiedManifest, d: &str| {
            fx.check(m, &p, &engine, Action::AccessDevice(d.into()))
        };
        assert_decision(&check(&m, "gpu:0"), o, pol);
        assert_decision(&check(&m, "pci:10de:2330"), o, pol);
        assert_decision(
            &check(&m, "gpu:1"),
            Outcome::Deny,
            &["manifest.not-requested"],
        );
        assert_decision(
            &check(&m, "pci:8086:1234"),
            Outcome::Deny,
            &["manifest.not-requested"],
        );
        assert_decision(&check(&any, "gpu:3"), o, pol);
        assert_decision(
            &check(&any, "pci:10de:2330"),
            Outcome::Deny,
            &["manifest.not-requested"],
        );
        assert!(
            Grant::check(
                &m,
                &p,
                &engine,
                &fx.ctx(),
                &[],
                &Action::AccessDevice("/dev/nvidia0".into())
            )
            .is_err()
        );
    }
}

// =================================================================================================
// Policies about one backend hold when the manifest asks for its provider's wildcard.

#[test]
fn a_policy_about_one_backend_holds_under_a_wildcard_request() {
    let fx = Fx::new();
    let engine = user(
        "lab.cedar",
        r#"@id("lab.no-brisbane")
@reason("ibm_brisbane is reserved for calibration runs")
forbid (principal, action == Qwarden::Action::"submit_job", resource == Qwarden::Backend::"ibm:ibm_brisbane");

@id("lab.noisy-needs-approval")
@mode("approval")
@reason("noisy simulations are expensive")
permit (principal, action == Qwarden::Action::"submit_job", resource == Qwarden::Backend::"local:noisy");
"#,
    )
    .unwrap();
    assert_eq!(engine.named_backends(), ["ibm:ibm_brisbane", "local:noisy"]);
    let m = fx.manifest(
        "[qpu]\nproviders = [\"local\", \"ibm\"]\nbackends = [\"local:*\", \"ibm:*\"]\nmax_shots = 1000\n\n[qpu.budget]\nshots = 5000\njobs = 10\n",
    );
    for tier in [Tier::Staging, Tier::Prod] {
        let g = fx.grant(&m, &profile(tier, &Opts::default()), &engine);
        let outcome = |name: &str| {
            g.qpu
                .backends
                .iter()
                .find(|b| b.backend.to_string() == name)
                .map(|b| b.outcome)
        };
        // The named backends are decided on their own, whatever the wildcard allows.
        assert_eq!(outcome("ibm:ibm_brisbane"), Some(Outcome::Deny), "{tier}");
        assert!(
            matches!(outcome("local:noisy"), Some(Outcome::NeedsApproval { .. })),
            "{tier}: {:?}",
            outcome("local:noisy")
        );
        assert_eq!(outcome("local:*"), Some(Outcome::Allow), "{tier}");
        let item = g
            .items
            .iter()
            .find(|i| i.requested == "ibm:ibm_brisbane (through ibm:*)")
            .unwrap_or_else(|| panic!("{tier}: {:#?}", g.items));
        assert!(item.granted.is_none());
        assert!(
            item.decision
                .reasons
                .iter()
                .any(|r| r.contains("reserved for calibration")),
            "{:?}",
            item.decision.reasons
        );
    }
    // Asked for by name, a backend is decided as asked: nothing is added.
    let named = fx.manifest(
        "[qpu]\nproviders = [\"local\"]\nbackends = [\"local:noisy\"]\nmax_shots = 1000\n\n[qpu.budget]\nshots = 5000\njobs = 10\n",
    );
    let g = fx.grant(&named, &profile(Tier::Staging, &Opts::default()), &engine);
    assert_eq!(g.qpu.backends.len(), 1);
}
