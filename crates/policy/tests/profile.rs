//! Workstation profiles: the templates and good input parse to the expected values, bad input is refused with `file:line:col` and a hint.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use qwarden_policy::diag::{Location, SourceError};
use qwarden_policy::host::HostPattern;
use qwarden_policy::manifest::Registry;
use qwarden_policy::net::{BUILTIN_DENY, HostOverride, IpRange, builtin_deny};
use qwarden_policy::profile::{Limits, MAX_PROFILE_BYTES, ProviderKind, Threshold};
use qwarden_policy::{Profile, Tier};

const FILE: &str = "/etc/qwarden/profile.toml";

const ALICE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICElsT5/1MhRd5PziPiEuPb2d3EMR92R6ORNeJ9RzAEe alice@lab.example";
const BOB: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNBhr6WTqW/jW7xAFCXgfetlOsF2mYzLMs3O0SKFBQMowhdIe1EigaIs4CXLxyI0ZYsKfgAFQdLU6pVAXF3rVqE= bob@lab.example";

/// A profile that uses every table and key.
fn complete() -> String {
    format!(
        r#"tier = "staging"

[agents]
allow_on_prod = true

[[providers]]
name = "local"
kind = "local"

[[providers]]
name = "ibm"
kind = "ibm"
endpoints = ["https://quantum.cloud.ibm.com/api/v1", "https://iam.cloud.ibm.com"]
vault = "ibm-prod"

[[providers]]
name = "ionq-test"
kind = "ionq"
endpoints = ["http://127.0.0.1:8787"]
vault = "ionq"

[[approvers]]
name = "alice"
key = "{ALICE}"
roles = ["approver", "admin"]

[[approvers]]
name = "bob"
key = "{BOB}"

[approvals]
staging = {{ threshold = 1 }}
prod = {{ threshold = 3, deny_threshold = 2 }}

[egress]
allow = ["*.quantum.cloud.ibm.com", "pypi.org:443"]
deny = ["169.254.169.254", "metadata.google.internal"]
exempt = ["*.s3.amazonaws.com", "gist.github.com", "*.S3.amazonaws.com."]
allow_ranges = ["127.0.0.1", "10.20.0.0/16", "fd00::/8", "169.254.169.254/32", "127.0.0.1/32"]

[egress.hosts]
"api.quantum.ibm.com" = "127.0.0.1:8443"
"IAM.cloud.ibm.com." = "[::1]:8444"
"api.ionq.co" = "10.20.0.5"

[packages]
registries = ["pypi", "npm"]

[limits]
memory_mb = 2048
processes = 128
open_files = 512
cpu_seconds = 600

[paths]
state_dir = "/var/lib/qwarden"
allowed_signers = "~/.config/qwarden/allowed_signers"
policies = "/etc/qwarden/policies"
"#
    )
}

fn parse(text: &str) -> Result<Profile, Vec<SourceError>> {
    Profile::parse(text, Path::new(FILE)).map_err(|e| e.errors)
}

fn ok(text: &str) -> Profile {
    match parse(text) {
        Ok(p) => p,
        Err(errors) => panic!("expected the profile to parse, got:\n{}", show(&errors)),
    }
}

fn errors(text: &str) -> Vec<SourceError> {
    match parse(text) {
        Ok(p) => panic!("expected an error, the profile parsed: {p:?}"),
        Err(errors) => {
            for e in &errors {
                assert_eq!(e.file, Path::new(FILE), "{e}");
                let hint = e.hint.as_deref().unwrap_or_default();
                assert!(!hint.trim().is_empty(), "error without a hint: {e}");
            }
            errors
        }
    }
}

fn error(text: &str) -> SourceError {
    let errors = errors(text);
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one error:\n{}",
        show(&errors)
    );
    errors.into_iter().next().unwrap()
}

fn show(errors: &[SourceError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Line and column (1-based, in characters) of the `nth` occurrence of `needle` in `text`.
fn nth_loc(text: &str, needle: &str, nth: usize) -> Location {
    let offset = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{needle}` occurs fewer than {} times", nth + 1))
        .0;
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Location {
        line: before.matches('\n').count() + 1,
        col: before[line_start..].chars().count() + 1,
    }
}

fn loc(text: &str, needle: &str) -> Location {
    nth_loc(text, needle, 0)
}

fn at(line: usize, col: usize) -> Location {
    Location { line, col }
}

#[track_caller]
fn assert_error(e: &SourceError, expected: Location, parts: &[&str]) {
    assert_eq!(e.at, expected, "wrong position for: {e}");
    for part in parts {
        assert!(e.message.contains(part), "`{part}` missing from: {e}");
    }
}

#[track_caller]
fn assert_hint(e: &SourceError, part: &str) {
    let hint = e.hint.as_deref().unwrap_or_default();
    assert!(
        hint.contains(part),
        "`{part}` missing from the hint of: {e}"
    );
}

/// `tier = "sandbox"` followed by `rest`.
fn with(rest: &str) -> String {
    format!("tier = \"sandbox\"\n{rest}")
}

fn host(s: &str) -> HostPattern {
    s.parse().unwrap()
}

fn range(s: &str) -> IpRange {
    s.parse().unwrap()
}

// ------------------------------------------------------------------------------------------------
// Good input.

#[test]
fn every_template_parses_with_the_expected_values() {
    for tier in Tier::ALL {
        let text = Profile::template(tier);
        let p = ok(&text);
        assert_eq!(p.tier, tier);
        assert_eq!(p.source, Path::new(FILE));
        assert!(!p.allow_agents_on_prod);
        let names: Vec<_> = p.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["local", "ibm", "ionq"]);
        assert_eq!(p.provider("local").unwrap().kind, ProviderKind::Local);
        let ibm = p.provider("ibm").unwrap();
        assert_eq!(ibm.kind, ProviderKind::Ibm);
        assert_eq!(ibm.vault.as_deref(), Some("ibm"));
        assert_eq!(
            ibm.endpoint_hosts,
            [host("quantum.cloud.ibm.com"), host("iam.cloud.ibm.com")]
        );
        assert!(p.approvers.is_empty());
        assert_eq!(p.approvals.staging.threshold, 1);
        assert_eq!(p.approvals.prod.threshold, 2);
        assert_eq!(p.approvals.for_tier(Tier::Prod), p.approvals.prod);
        assert_eq!(p.limits, Limits::default());
        assert!(p.egress.deny.is_empty());
        assert!(p.egress.exempt.is_empty());
        assert!(p.egress.allow_ranges.is_empty());
        assert!(p.egress.hosts.is_empty());
        assert_eq!(p.egress.builtin_deny(), builtin_deny());
        for a in &p.egress.allow {
            assert!(
                p.egress.builtin_denials(a).is_empty(),
                "{tier}: the template allows {a}, which the built-in deny list refuses"
            );
        }
        assert!(p.egress.allow.contains(&host("*.quantum.cloud.ibm.com")));
        assert_eq!(
            p.egress.allow.contains(&host("pypi.org")),
            tier != Tier::Prod,
            "{tier}"
        );
        let registries = if tier == Tier::Staging {
            vec![Registry::Pypi]
        } else {
            vec![]
        };
        assert_eq!(p.package_registries, registries);
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
fn templates_with_their_commented_paths_enabled_parse() {
    for tier in Tier::ALL {
        let text = Profile::template(tier)
            .replace("# state_dir", "state_dir")
            .replace("# allowed_signers", "allowed_signers")
            .replace("# policies", "policies");
        let p = ok(&text);
        assert_eq!(p.paths.state_dir.as_deref(), Some("~/.local/state/qwarden"));
        assert!(p.paths.allowed_signers.is_some() && p.paths.policies.is_some());
    }
}

#[test]
fn templates_with_their_egress_examples_enabled_parse() {
    for tier in Tier::ALL {
        let template = Profile::template(tier);
        let text = template
            .replace("exempt = []", "exempt = [\"*.s3.amazonaws.com\"]")
            .replace("allow_ranges = []", "allow_ranges = [\"127.0.0.1/32\"]")
            .replace("# [egress.hosts]", "[egress.hosts]")
            .replace("# \"api.quantum", "\"api.quantum");
        assert_ne!(text, template);
        let p = ok(&text);
        assert_eq!(p.egress.exempt, [host("*.s3.amazonaws.com")], "{tier}");
        assert_eq!(p.egress.allow_ranges, [range("127.0.0.1/32")]);
        assert_eq!(
            p.egress.hosts,
            [HostOverride::new("api.quantum.ibm.com", "127.0.0.1:8443").unwrap()]
        );
        assert_eq!(p.egress.builtin_deny().len(), BUILTIN_DENY.len() - 1);
        assert!(
            !p.egress
                .builtin_deny()
                .contains(&host("*.s3.amazonaws.com"))
        );
        assert!(p.egress.builtin_deny().contains(&host("s3.amazonaws.com")));
    }
}

#[test]
fn complete_profile_parses_into_the_expected_values() {
    let p = ok(&complete());
    assert_eq!(p.tier, Tier::Staging);
    assert!(p.allow_agents_on_prod);
    let ibm = p.provider("ibm").unwrap();
    assert_eq!(
        ibm.endpoints,
        [
            "https://quantum.cloud.ibm.com/api/v1",
            "https://iam.cloud.ibm.com"
        ]
    );
    assert_eq!(ibm.vault.as_deref(), Some("ibm-prod"));
    let ionq = p.provider("ionq-test").unwrap();
    assert_eq!(ionq.kind, ProviderKind::Ionq);
    assert_eq!(ionq.endpoint_hosts, [host("127.0.0.1:8787")]);
    assert!(p.provider("braket").is_none());

    assert_eq!(p.approvers.len(), 2);
    assert_eq!(p.approvers[0].name, "alice");
    assert_eq!(p.approvers[0].key, ALICE);
    assert_eq!(p.approvers[0].roles, ["approver", "admin"]);
    assert_eq!(p.approvers[1].roles, ["approver"], "the default role");
    assert_eq!(
        p.approvals.staging,
        Threshold {
            threshold: 1,
            deny_threshold: 1
        }
    );
    assert_eq!(
        p.approvals.prod,
        Threshold {
            threshold: 3,
            deny_threshold: 2
        }
    );
    assert_eq!(p.approvals.for_tier(Tier::Sandbox), p.approvals.staging);
    assert_eq!(
        p.egress.allow,
        [host("*.quantum.cloud.ibm.com"), host("pypi.org:443")]
    );
    assert_eq!(
        p.egress.deny,
        [host("169.254.169.254"), host("metadata.google.internal")]
    );
    assert_eq!(
        p.egress.exempt,
        [host("*.s3.amazonaws.com"), host("gist.github.com")],
        "written twice, kept once"
    );
    assert_eq!(
        p.egress.allow_ranges,
        [
            range("127.0.0.1/32"),
            range("10.20.0.0/16"),
            range("fd00::/8"),
            range("169.254.169.254/32"),
        ]
    );
    assert!(p.egress.allow_ranges[3].is_single_address());
    let hosts: Vec<String> = p.egress.hosts.iter().map(ToString::to_string).collect();
    assert_eq!(
        hosts,
        [
            "api.quantum.ibm.com → 127.0.0.1:8443",
            "iam.cloud.ibm.com → [::1]:8444",
            "api.ionq.co → 10.20.0.5",
        ],
        "in file order, names in lower case"
    );
    let builtin = p.egress.builtin_deny();
    assert_eq!(builtin.len(), BUILTIN_DENY.len() - 2);
    assert!(!builtin.contains(&host("gist.github.com")));
    assert!(builtin.contains(&host("gist.githubusercontent.com")));
    assert!(
        p.egress
            .builtin_denials(&host("bucket.s3.amazonaws.com"))
            .is_empty()
    );
    let ngrok = p.egress.builtin_denials(&host("abc.ngrok.io:443"));
    assert_eq!(ngrok.len(), 1);
    assert_eq!(
        (ngrok[0].pattern, ngrok[0].service, ngrok[0].kind),
        ("*.ngrok.io", "ngrok", "tunnel")
    );
    assert_eq!(p.package_registries, [Registry::Pypi, Registry::Npm]);
    assert_eq!(
        p.limits,
        Limits {
            memory_mb: 2048,
            processes: 128,
            open_files: 512,
            cpu_seconds: 600
        }
    );
    assert_eq!(p.paths.state_dir.as_deref(), Some("/var/lib/qwarden"));
    assert_eq!(p.paths.policies.as_deref(), Some("/etc/qwarden/policies"));
}

#[test]
fn a_bare_tier_is_a_whole_profile() {
    let p = ok("tier = \"prod\"\n");
    assert_eq!(p.tier, Tier::Prod);
    assert!(p.providers.is_empty() && p.egress.allow.is_empty());
    assert_eq!(p.approvals.prod.threshold, 2);
    assert_eq!(p.limits, Limits::default());
}

// ------------------------------------------------------------------------------------------------
// Bad input.

#[test]
fn unknown_tiers_name_the_three_valid_ones() {
    for bad in ["dev", "Prod", "production", ""] {
        let text = format!("# profile\ntier = \"{bad}\"\n");
        let e = error(&text);
        assert_error(
            &e,
            at(2, 8),
            &[&format!("`{bad}`"), "`sandbox`", "`staging`", "`prod`"],
        );
        assert_hint(&e, "tier = \"sandbox\"");
    }
    let e = error("# profile\n[agents]\nallow_on_prod = true\n");
    assert_error(&e, at(1, 1), &["missing field `tier`"]);
    let e = error("tier = 3\n");
    assert_error(&e, at(1, 8), &["invalid type"]);
}

#[test]
fn unknown_keys_are_refused_in_every_table() {
    let text = complete();
    let cases = [
        ("tier = \"staging\"\n", "colour = 1\n"),
        ("[agents]\n", "allow_on_staging = true\n"),
        ("[[providers]]\nname = \"ibm\"\n", "region = \"eu-de\"\n"),
        ("[[approvers]]\nname = \"bob\"\n", "email = \"bob@lab\"\n"),
        ("[approvals]\n", "sandbox = { threshold = 1 }\n"),
        ("[egress]\n", "proxy = \"x\"\n"),
        ("[packages]\n", "mirrors = []\n"),
        ("[limits]\n", "gpu_mb = 1\n"),
        ("[paths]\n", "cache_dir = \"/tmp\"\n"),
    ];
    for (after, line) in cases {
        assert!(text.contains(after), "{after}");
        let bad = text.replacen(after, &format!("{after}{line}"), 1);
        let key = line.split(' ').next().unwrap();
        let e = error(&bad);
        assert_error(&e, loc(&bad, line), &[&format!("unknown field `{key}`")]);
        assert_hint(&e, "remove the key");
    }
    // Inside an inline table.
    let bad = text.replace(
        "staging = { threshold = 1 }",
        "staging = { threshold = 1, quorum = 2 }",
    );
    let e = error(&bad);
    assert_error(&e, loc(&bad, "quorum"), &["unknown field `quorum`"]);
}

#[test]
fn duplicate_providers_are_refused_at_the_second_name() {
    let text = with(
        "[[providers]]\nname = \"local\"\nkind = \"local\"\n\n[[providers]]\nname = \"local\"\nkind = \"local\"\n",
    );
    let e = error(&text);
    assert_error(&e, at(7, 8), &["provider `local` is listed twice"]);
    assert_hint(&e, "its own name");
}

#[test]
fn remote_providers_need_endpoints_and_a_vault_secret() {
    let text = with(
        "\n[[providers]]\nname = \"ibm\"\nkind = \"ibm\"\n\n[[providers]]\nname = \"ionq\"\nkind = \"ionq\"\nendpoints = [\"https://api.ionq.co\"]\nvault = \"\"\n\n[[providers]]\nname = \"braket\"\nkind = \"braket\"\nvault = \"aws\"\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 4, "{}", show(&errors));
    let ibm = at(3, 1);
    assert_error(&errors[0], ibm, &["provider `ibm` has no endpoints"]);
    assert_hint(&errors[0], "endpoints");
    assert_error(&errors[1], ibm, &["provider `ibm` names no vault secret"]);
    assert_hint(&errors[1], "vault = ");
    assert_error(
        &errors[2],
        nth_loc(&text, "[[providers]]", 1),
        &["provider `ionq` names no vault secret"],
    );
    assert_error(
        &errors[3],
        nth_loc(&text, "[[providers]]", 2),
        &["provider `braket` has no endpoints"],
    );
    // The local simulator needs neither.
    ok(&with("[[providers]]\nname = \"sim\"\nkind = \"local\"\n"));
}

#[test]
fn bad_provider_names_and_kinds_are_refused() {
    let e = error(&with(
        "[[providers]]\nname = \"IBM Quantum\"\nkind = \"local\"\n",
    ));
    assert_error(&e, at(3, 8), &["`IBM Quantum` is not a provider name"]);
    let e = error(&with("[[providers]]\nname = \"ibm\"\nkind = \"ibmq\"\n"));
    assert_error(
        &e,
        at(4, 8),
        &["unknown variant `ibmq`", "`ibm`", "`local`"],
    );
}

#[test]
fn endpoints_must_be_http_urls_of_one_host() {
    let bad = [
        ("ftp://quantum.cloud.ibm.com", "not an http(s) URL"),
        ("quantum.cloud.ibm.com", "not an http(s) URL"),
        ("HTTPS://quantum.cloud.ibm.com", "not an http(s) URL"),
        (
            "https://user:pw@quantum.cloud.ibm.com",
            "without credentials",
        ),
        ("https://*.quantum.cloud.ibm.com", "single host"),
        ("https://", "empty"),
        ("https://quantum.cloud.ibm.com:0/api", "port"),
    ];
    let list = bad
        .iter()
        .map(|(u, _)| format!("  \"{u}\",\n"))
        .collect::<String>();
    let text = with(&format!(
        "[[providers]]\nname = \"ibm\"\nkind = \"ibm\"\nvault = \"ibm\"\nendpoints = [\n{list}]\n"
    ));
    let errors = errors(&text);
    assert_eq!(errors.len(), bad.len(), "{}", show(&errors));
    for (i, (e, (url, reason))) in errors.iter().zip(bad).enumerate() {
        assert_error(e, at(7 + i, 3), &[&format!("`{url}`"), reason]);
        assert_hint(e, "https://quantum.cloud.ibm.com");
    }
}

#[test]
fn approvers_need_a_readable_key_and_a_unique_name() {
    let text = with(&format!(
        "[[approvers]]\nname = \"alice\"\nkey = \"{ALICE}\"\n\n\
         [[approvers]]\nname = \"mallory\"\nkey = \"ssh-ed25519 AAAAnotbase64!! mallory@x\"\n\n\
         [[approvers]]\nname = \"alice\"\nkey = \"{BOB}\"\n\n\
         [[approvers]]\nname = \"carol\"\nkey = \"\"\nroles = []\n"
    ));
    let errors = errors(&text);
    assert_eq!(errors.len(), 4, "{}", show(&errors));
    assert_error(
        &errors[0],
        at(8, 7),
        &["approver `mallory` has an unreadable key"],
    );
    assert_hint(&errors[0], "ssh-ed25519");
    assert_error(&errors[1], at(11, 8), &["approver `alice` is listed twice"]);
    assert_error(&errors[2], at(15, 8), &["approver `carol` has no roles"]);
    assert_error(
        &errors[3],
        at(16, 7),
        &["approver `carol` has an unreadable key"],
    );

    let e = error(&with(&format!(
        "[[approvers]]\nname = \"\"\nkey = \"{ALICE}\"\n"
    )));
    assert_error(&e, at(3, 8), &["not an approver name"]);
}

#[test]
fn zero_thresholds_are_refused_where_they_are_written() {
    let text = with(
        "[approvals]\nstaging = { threshold = 0 }\nprod = { threshold = 2, deny_threshold = 0 }\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{}", show(&errors));
    assert_error(
        &errors[0],
        at(3, 11),
        &["approvals.staging has a zero threshold"],
    );
    assert_error(
        &errors[1],
        at(4, 8),
        &["approvals.prod has a zero threshold"],
    );
    assert_hint(&errors[0], "at least one approver");

    // A zero prod threshold is one error, not two.
    let text = with("[approvals]\nprod = { threshold = 0 }\n");
    assert_error(&error(&text), at(3, 8), &["zero threshold"]);

    let text = with("[approvals]\nstaging = { threshold = -1 }\n");
    assert_error(&error(&text), at(3, 25), &["-1"]);
}

#[test]
fn a_prod_threshold_of_one_is_refused() {
    let text = with(
        "\n[approvals]\nstaging = { threshold = 1 }\nprod = { threshold = 1, deny_threshold = 1 }\n",
    );
    let e = error(&text);
    assert_error(&e, at(5, 8), &["approvals.prod.threshold is 1"]);
    assert_hint(&e, "at least 2");

    let text = "tier = \"prod\"\n[approvals.prod]\nthreshold = 1\n";
    assert_error(&error(text), at(2, 1), &["approvals.prod.threshold is 1"]);

    let p = ok(&with("[approvals]\nprod = { threshold = 2 }\n"));
    assert_eq!(p.approvals.prod.deny_threshold, 1, "the default");
    let p = ok(&with("[approvals]\nstaging = { threshold = 2 }\n"));
    assert_eq!(p.approvals.prod.threshold, 2, "the default");
    assert_eq!(p.approvals.staging.threshold, 2);
}

#[test]
fn bad_egress_patterns_point_at_the_array_element() {
    let text = with(
        "[egress]\nallow = [\"pypi.org\", \"*\", \"https://pypi.org\"]\ndeny = [\n  \"*.com\",\n  \"10.0.0.1:0\",\n  \"[169.254.169.254]\",\n]\n",
    );
    let errors = errors(&text);
    let expected = [
        (loc(&text, "\"*\""), "egress.allow", "every host"),
        (loc(&text, "\"https:"), "egress.allow", "not a URL"),
        (at(5, 3), "egress.deny", "two labels"),
        (at(6, 3), "egress.deny", "port"),
        (at(7, 3), "egress.deny", "IPv6"),
    ];
    assert_eq!(errors.len(), expected.len(), "{}", show(&errors));
    for (e, (place, key, reason)) in errors.iter().zip(expected) {
        assert_error(e, place, &[key, reason]);
        assert_hint(e, "*.domain");
    }
}

#[test]
fn exempt_entries_must_be_on_the_built_in_list() {
    let text = with(
        "[egress]\nexempt = [\n  \"mybucket.s3.amazonaws.com\",\n  \"*.ngrok.io:443\",\n  \"pypi.org\",\n  \"*\",\n  \"*.ngrok.io\",\n]\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 4, "{}", show(&errors));
    assert_error(
        &errors[0],
        at(4, 3),
        &[
            "egress.exempt",
            "`mybucket.s3.amazonaws.com`",
            "not an entry of the built-in deny list",
        ],
    );
    assert_hint(&errors[0], "e.g. `*.s3.amazonaws.com`");
    assert_hint(&errors[0], "README.md");
    assert_error(&errors[1], at(5, 3), &["`*.ngrok.io:443`", "not an entry"]);
    assert_hint(&errors[1], "`*.ngrok.io`");
    assert_error(&errors[2], at(6, 3), &["`pypi.org`", "not an entry"]);
    assert_hint(&errors[2], "needs no exemption");
    assert_hint(&errors[2], "qwarden policy explain --json");
    assert_error(&errors[3], at(7, 3), &["egress.exempt", "every host"]);
}

#[test]
fn bad_address_ranges_point_at_the_element_and_say_what_to_write() {
    let text = with(
        "[egress]\nallow_ranges = [\"10.0.0.0/8\", \"10.0.0.1/8\", \"10.0.0.0/33\", \"localhost\", \"[::1]/128\", \"fd00::1/8\"]\n",
    );
    let errors = errors(&text);
    let expected = [
        (
            "\"10.0.0.1/8\"",
            "bits are set after the first 8",
            "`10.0.0.0/8`",
        ),
        ("\"10.0.0.0/33\"", "`/33`", "`10.0.0.0/32`"),
        (
            "\"localhost\"",
            "not an IPv4 or IPv6 address",
            "`10.0.0.0/8`",
        ),
        ("\"[::1]", "without brackets", "`::1`"),
        ("\"fd00::1/8\"", "bits are set", "`fd00::/8`"),
    ];
    assert_eq!(errors.len(), expected.len(), "{}", show(&errors));
    for (e, (needle, what, fix)) in errors.iter().zip(expected) {
        assert_error(e, loc(&text, needle), &["egress.allow_ranges", what]);
        assert_hint(e, fix);
    }
    assert_eq!(errors[0].at, at(3, 31));
}

#[test]
fn bad_host_overrides_point_at_the_key_or_the_value() {
    let text = with(concat!(
        "[egress.hosts]\n",
        "\"*.quantum.ibm.com\" = \"127.0.0.1\"\n",
        "\"api.ionq.co\" = \"localhost:8443\"\n",
        "\"127.0.0.1\" = \"10.0.0.1\"\n",
        "\"x.example:443\" = \"10.0.0.1\"\n",
        "\"Lab.Example.com\" = \"10.0.0.1\"\n",
        "\"lab.example.com.\" = \"::1\"\n",
        "\"y.example\" = \"127.0.0.1:0\"\n",
        "\"z.example\" = 8443\n",
        "gw.lab = \"10.0.0.2\"\n",
    ));
    let errors = errors(&text);
    let expected: [(Location, &[&str], &str); 8] = [
        (at(3, 1), &["`*.quantum.ibm.com`", "wildcard"], "each host"),
        (
            loc(&text, "\"localhost:8443\""),
            &["`localhost:8443`", "not an IP address"],
            "`[::1]:8443`",
        ),
        (
            at(5, 1),
            &["`127.0.0.1`", "an address, not a host name"],
            "host name",
        ),
        (
            at(6, 1),
            &["`x.example:443`", "port"],
            "`\"x.example\" = \"ADDRESS:443\"`",
        ),
        (
            at(8, 1),
            &["`lab.example.com` is listed twice"],
            "one address per host",
        ),
        (loc(&text, "\"127.0.0.1:0\""), &["port 0"], "1 to 65535"),
        (
            loc(&text, "8443\n"),
            &["`z.example`", "not a string"],
            "quoted",
        ),
        (
            at(11, 1),
            &["`gw.lab…`", "nested tables"],
            "quote the host name",
        ),
    ];
    assert_eq!(errors.len(), expected.len(), "{}", show(&errors));
    for (e, (place, parts, hint)) in errors.iter().zip(expected) {
        assert_error(e, place, parts);
        assert!(e.message.starts_with("egress.hosts: "), "{e}");
        assert_hint(e, hint);
    }
    // A repeated key is already refused by TOML.
    let text = with("[egress.hosts]\n\"a.example\" = \"::1\"\n\"a.example\" = \"::2\"\n");
    assert_error(&error(&text), at(4, 1), &["duplicate key"]);
}

#[test]
fn zero_limits_name_the_key_at_its_value() {
    // The comment mentions `[limits]` first: the errors must point at the values.
    let text = with(
        "# see [limits] below\n[limits]\nmemory_mb = 0\nprocesses = 512\nopen_files = 4096\ncpu_seconds = 0\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{}", show(&errors));
    assert_error(&errors[0], at(4, 13), &["limits.memory_mb is 0"]);
    assert_error(&errors[1], at(7, 15), &["limits.cpu_seconds is 0"]);

    let e = error(&with("\n[limits]\nmemory_mb = 1024\n"));
    assert_error(&e, at(3, 1), &["missing field `processes`"]);
}

#[test]
fn wrong_value_types_are_refused() {
    let cases = [
        (
            with("[agents]\nallow_on_prod = \"yes\"\n"),
            at(3, 17),
            "invalid type",
        ),
        (with("providers = 1\n"), at(2, 13), "invalid type"),
        (
            with("[egress]\nallow = \"pypi.org\"\n"),
            at(3, 9),
            "invalid type",
        ),
        (
            with("[packages]\nregistries = [\"pip\"]\n"),
            at(3, 15),
            "unknown variant `pip`",
        ),
        (with("[approvals]\nprod = 2\n"), at(3, 8), "`threshold`"),
        (with("limits = 3\n"), at(2, 10), "limits"),
        (with("[paths]\nstate_dir = 1\n"), at(3, 13), "invalid type"),
    ];
    for (text, place, part) in cases {
        let e = error(&text);
        assert_error(&e, place, &[part]);
        assert!(
            !e.message.contains("struct") && !e.message.contains("Raw"),
            "{e}"
        );
    }
}

#[test]
fn every_error_is_reported_in_file_order() {
    let text = with(
        "[egress]\nallow = [\"*\"]\n\n[[providers]]\nname = \"x\"\nkind = \"ibm\"\n\n[approvals]\nprod = { threshold = 1 }\n",
    );
    let errors = errors(&text);
    let lines: Vec<_> = errors.iter().map(|e| e.at.line).collect();
    assert_eq!(lines, [3, 5, 5, 10], "{}", show(&errors));
}

#[test]
fn oversized_profiles_are_refused_before_parsing() {
    let mut text = "tier = \"prod\"\n".to_owned();
    text.push_str(&"#".repeat(MAX_PROFILE_BYTES + 1 - text.len()));
    let e = error(&text);
    assert_error(
        &e,
        at(1, 1),
        &[&(MAX_PROFILE_BYTES + 1).to_string(), "limit"],
    );
    text.truncate(MAX_PROFILE_BYTES);
    ok(&text);
}

#[test]
fn sandbox_settings_are_read_and_checked() {
    let p = ok(&with(
        "[sandbox]\nread_only = [\"~/.rustup\"]\nlandlock_min_abi = 5\nobserve_reads = false\n",
    ));
    assert_eq!(p.sandbox.read_only, vec!["~/.rustup".to_owned()]);
    assert_eq!(p.sandbox.landlock_min_abi, 5);
    assert!(!p.sandbox.observe_reads);
    let defaults = ok(&with(""));
    assert_eq!(defaults.sandbox.landlock_min_abi, 3);
    assert!(defaults.sandbox.observe_reads);

    let bad = with("[sandbox]\nlandlock_min_abi = 9\n");
    let e = error(&bad);
    assert_error(&e, loc(&bad, "9"), &["sandbox.landlock_min_abi is 9"]);
    assert_hint(&e, "from 0");

    let bad = with("[sandbox]\nmount_home = true\n");
    let e = error(&bad);
    assert_error(&e, loc(&bad, "mount_home"), &["unknown field `mount_home`"]);
}
