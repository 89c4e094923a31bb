//! Agent capability manifests: good input parses to the expected values, bad input is refused with `file:line:col` and a hint.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use qwarden_policy::Manifest;
use qwarden_policy::diag::{Location, SourceError};
use qwarden_policy::host::HostPattern;
use qwarden_policy::manifest::{
    BackendRef, Budget, DeviceRequest, LimitsRequest, MAX_MANIFEST_BYTES, Registry, digest,
};
use time::macros::datetime;

const FILE: &str = "agents/circuit-helper.toml";

/// A manifest that uses every table and key.
const COMPLETE: &str = r#"# A complete manifest: every table and key.
expires = 2027-01-31T00:00:00Z

[agent]
name = "circuit-helper"
version = "1.4.0"
publisher = "tools@lab.example"
description = "Writes and runs small circuits."

[filesystem]
read = ["~/datasets", "src"]
write = ["out", "/tmp/qwarden-scratch"]
deny = ["~/datasets/private"]

[network]
allow = [
  "*.quantum.cloud.ibm.com",
  "api.ionq.co:443", "10.0.0.1:8080",
  "[::1]:8443",
]

[runtime]
install_packages = ["pypi", "crates"]
spawn_processes = true
devices = ["gpu", "gpu:1", "pci:10de:2330"]

[limits]
memory_mb = 4096
processes = 64
open_files = 1024
cpu_seconds = 3600

[qpu]
providers = ["ibm", "local"]
backends = ["ibm:ibm_brisbane", "ibm:ibm_torino", "local:*"]
max_shots = 4000

[qpu.budget]
shots = 100000
jobs = 25
"#;

/// The smallest valid manifest.
const MINIMAL: &str = r#"[agent]
name = "a"
version = "1"
publisher = "tools@lab.example"
"#;

fn parse(text: &str) -> Result<Manifest, Vec<SourceError>> {
    Manifest::parse(text, Path::new(FILE)).map_err(|e| e.errors)
}

fn ok(text: &str) -> Manifest {
    match parse(text) {
        Ok(m) => m,
        Err(errors) => panic!("expected the manifest to parse, got:\n{}", show(&errors)),
    }
}

fn errors(text: &str) -> Vec<SourceError> {
    match parse(text) {
        Ok(m) => panic!("expected an error, the manifest parsed: {m:?}"),
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

/// The only error `text` has.
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

/// Asserts that `e` is at `expected` and that its message holds every one of `parts`.
#[track_caller]
fn assert_error(e: &SourceError, expected: Location, parts: &[&str]) {
    assert_eq!(e.at, expected, "wrong position for: {e}");
    for part in parts {
        assert!(e.message.contains(part), "`{part}` missing from: {e}");
    }
}

/// [`MINIMAL`] followed by `rest`.
fn with(rest: &str) -> String {
    format!("{MINIMAL}{rest}")
}

fn host(s: &str) -> HostPattern {
    s.parse().unwrap()
}

fn backend(provider: &str, backend: &str) -> BackendRef {
    BackendRef {
        provider: provider.into(),
        backend: backend.into(),
    }
}

// ------------------------------------------------------------------------------------------------
// Good input.

#[test]
fn complete_manifest_parses_into_the_expected_values() {
    let m = ok(COMPLETE);
    assert_eq!(m.source, Path::new(FILE));
    assert_eq!(m.digest, digest(COMPLETE.as_bytes()));
    assert!(m.digest.starts_with("sha256:") && m.digest.len() == 7 + 64);
    assert_eq!(m.expires, Some(datetime!(2027-01-31 00:00:00 UTC)));

    assert_eq!(m.agent.name, "circuit-helper");
    assert_eq!(m.agent.version, "1.4.0");
    assert_eq!(m.agent.publisher, "tools@lab.example");
    assert_eq!(
        m.agent.description.as_deref(),
        Some("Writes and runs small circuits.")
    );

    let values = |v: &[qwarden_policy::manifest::Located<String>]| {
        v.iter().map(|l| l.value.clone()).collect::<Vec<_>>()
    };
    assert_eq!(values(&m.filesystem.read), ["~/datasets", "src"]);
    assert_eq!(values(&m.filesystem.write), ["out", "/tmp/qwarden-scratch"]);
    assert_eq!(values(&m.filesystem.deny), ["~/datasets/private"]);
    assert_eq!(m.filesystem.read[1].at, loc(COMPLETE, "\"src\""));
    assert_eq!(m.filesystem.deny[0].at, at(13, 9));

    let network: Vec<_> = m.network.iter().map(|l| l.value.clone()).collect();
    assert_eq!(
        network,
        [
            host("*.quantum.cloud.ibm.com"),
            host("api.ionq.co:443"),
            host("10.0.0.1:8080"),
            host("[::1]:8443"),
        ]
    );
    assert_eq!(m.network[0].at, at(17, 3));
    assert_eq!(m.network[2].at, at(18, 22));
    assert_eq!(m.network[3].value.port(), Some(8443));
    assert!(m.network[0].value.is_wildcard());

    assert_eq!(
        m.runtime
            .install_packages
            .iter()
            .map(|l| l.value)
            .collect::<Vec<_>>(),
        [Registry::Pypi, Registry::Crates]
    );
    assert!(m.runtime.spawn_processes);
    assert_eq!(
        m.runtime
            .devices
            .iter()
            .map(|l| l.value)
            .collect::<Vec<_>>(),
        [
            DeviceRequest::AnyGpu,
            DeviceRequest::Gpu(1),
            DeviceRequest::Pci {
                vendor: 0x10de,
                device: 0x2330
            },
        ]
    );
    assert_eq!(m.runtime.devices[2].at, loc(COMPLETE, "\"pci:"));

    assert_eq!(
        m.limits,
        LimitsRequest {
            memory_mb: Some(4096),
            processes: Some(64),
            open_files: Some(1024),
            cpu_seconds: Some(3600),
        }
    );

    assert_eq!(values(&m.qpu.providers), ["ibm", "local"]);
    assert_eq!(
        m.qpu
            .backends
            .iter()
            .map(|l| l.value.clone())
            .collect::<Vec<_>>(),
        [
            backend("ibm", "ibm_brisbane"),
            backend("ibm", "ibm_torino"),
            backend("local", "*"),
        ]
    );
    assert_eq!(m.qpu.backends[1].at, loc(COMPLETE, "\"ibm:ibm_torino\""));
    assert_eq!(m.qpu.max_shots, 4000);
    assert_eq!(
        m.qpu.budget,
        Budget {
            shots: 100_000,
            jobs: 25
        }
    );
    assert!(
        m.qpu.backends[2]
            .value
            .covers(&backend("local", "statevector"))
    );
    assert!(
        !m.qpu.backends[0]
            .value
            .covers(&backend("ibm", "ibm_torino"))
    );
}

#[test]
fn minimal_manifest_takes_empty_defaults() {
    let m = ok(MINIMAL);
    assert_eq!(m.expires, None);
    assert_eq!(m.agent.description, None);
    assert!(m.filesystem.read.is_empty() && m.filesystem.write.is_empty());
    assert!(m.network.is_empty());
    assert!(!m.runtime.spawn_processes);
    assert_eq!(m.limits, LimitsRequest::default());
    assert!(m.qpu.providers.is_empty() && m.qpu.backends.is_empty());
    assert_eq!(m.qpu.max_shots, 0);
    assert_eq!(m.qpu.budget, Budget::default());
}

#[test]
fn crlf_line_endings_and_offsets_parse() {
    let text = COMPLETE
        .replace('\n', "\r\n")
        .replace("2027-01-31T00:00:00Z", "2027-01-31T02:00:00+02:00");
    let m = ok(&text);
    assert_eq!(m.expires, Some(datetime!(2027-01-31 00:00:00 UTC)));
    assert!(!m.is_expired(datetime!(2027-01-30 23:59:59 UTC)));
    assert!(m.is_expired(datetime!(2027-01-31 00:00:00 UTC)));
    // Columns count characters, and `\r` does not start a line.
    assert_eq!(m.network[2].at, at(18, 22));
}

/// The backends of the real IBM devices in `shared/fixtures/ibm/` (qiskit-ibm-runtime's fake
/// provider data), named in a manifest together with their `max_shots`.
#[test]
fn real_ibm_backends_from_the_fixtures_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/ibm");
    let mut names = Vec::new();
    let mut max_shots = u64::MAX;
    for entry in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the IBM fixtures in {}: {e}", dir.display()))
    {
        let path = entry.unwrap().path();
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(file_name.starts_with("conf_") && file_name.ends_with(".json")) {
            continue;
        }
        let conf: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        names.push(conf["backend_name"].as_str().unwrap().to_owned());
        max_shots = max_shots.min(conf["max_shots"].as_u64().unwrap());
    }
    names.sort();
    assert!(
        names.iter().any(|n| n == "ibm_brisbane") && names.iter().any(|n| n == "ibm_torino"),
        "{names:?}"
    );

    let backends = names
        .iter()
        .map(|n| format!("\"ibm:{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = with(&format!(
        "\n[qpu]\nproviders = [\"ibm\"]\nbackends = [{backends}]\nmax_shots = {max_shots}\n\n\
         [qpu.budget]\nshots = {}\njobs = 10\n",
        max_shots * 10
    ));
    let m = ok(&text);
    let parsed: Vec<_> = m.qpu.backends.iter().map(|b| b.value.clone()).collect();
    let expected: Vec<_> = names.iter().map(|n| backend("ibm", n)).collect();
    assert_eq!(parsed, expected);
    assert_eq!(m.qpu.max_shots, max_shots);
    for (b, n) in m.qpu.backends.iter().zip(&names) {
        assert_eq!(b.at, loc(&text, &format!("\"ibm:{n}\"")));
        assert_eq!(b.value.to_string(), format!("ibm:{n}"));
    }
}

#[test]
fn home_paths_of_the_user_are_accepted() {
    let m = ok(&with(
        "[filesystem]\nread = [\"~\", \"~/x\", \"/abs\", \"rel/../x\"]\n",
    ));
    assert_eq!(m.filesystem.read.len(), 4);
}

#[test]
fn a_manifest_of_exactly_the_size_limit_is_read() {
    let mut text = MINIMAL.to_owned();
    text.push('#');
    while text.len() < MAX_MANIFEST_BYTES {
        text.push('x');
    }
    assert_eq!(text.len(), MAX_MANIFEST_BYTES);
    ok(&text);
}

// ------------------------------------------------------------------------------------------------
// Bad input.

#[test]
fn malformed_toml_is_located() {
    let e = error("[agent]\nname = \"a\"\nversion = = \"1\"\npublisher = \"p\"\n");
    assert_eq!(e.at, at(3, 11), "{e}");
    assert!(e.hint.unwrap().contains("TOML"));

    let e = error("# comment\n\n[agent]\nname = \"abc\nversion = \"1\"\n");
    assert_eq!(e.at.line, 4, "{e}");
    assert!(e.message.contains("string"), "{e}");

    let e = error("[agent\nname = \"a\"\n");
    assert_eq!(e.at.line, 1, "{e}");

    let e = error(&with("[agent]\nname = \"b\"\n"));
    assert_eq!(e.at.line, 5, "{e}");
    assert!(e.message.contains("duplicate"), "{e}");

    let e = error(&format!("{MINIMAL}name = \"again\"\n"));
    assert_eq!(e.at, at(5, 1), "{e}");
}

#[test]
fn errors_show_as_file_line_col_then_the_hint() {
    let text = with("[limits]\nmemory_mb = 0\n");
    let e = error(&text);
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{FILE}:6:13: limits.memory_mb is 0\n  hint: ")),
        "{shown}"
    );
}

#[test]
fn unknown_keys_are_refused_in_every_table() {
    // (table header to put the key under, or "" for the top level; the key)
    let cases = [
        ("", "colour"),
        ("[agent]", "nickname"),
        ("[filesystem]", "exec"),
        ("[network]", "deny"),
        ("[runtime]", "shell"),
        ("[limits]", "gpu_mb"),
        ("[qpu]", "priority"),
        ("[qpu.budget]", "dollars"),
    ];
    for (table, key) in cases {
        let line = format!("{key} = 1\n");
        let text = if table.is_empty() {
            format!("# top\n{line}{COMPLETE}")
        } else {
            let header = format!("{table}\n");
            COMPLETE.replacen(&header, &format!("{header}{line}"), 1)
        };
        assert_ne!(text, COMPLETE);
        let e = error(&text);
        assert_error(
            &e,
            loc(&text, &line),
            &[&format!("unknown field `{key}`"), "expected"],
        );
        assert!(e.hint.unwrap().contains("remove the key"), "{table}");
    }
}

#[test]
fn a_top_level_key_after_a_table_belongs_to_the_table() {
    let text = format!("{MINIMAL}expires = 2027-01-31T00:00:00Z\n");
    let e = error(&text);
    assert_error(&e, at(5, 1), &["unknown field `expires`"]);
    assert!(e.hint.unwrap().contains("[table]"));
}

#[test]
fn missing_agent_fields_are_named() {
    for field in ["name", "version", "publisher"] {
        let text = format!(
            "# header\n\n{}",
            MINIMAL
                .lines()
                .filter(|l| !l.starts_with(field))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        );
        let e = error(&text);
        // serde reports a missing field at the table it is missing from.
        assert_error(&e, at(3, 1), &[&format!("missing field `{field}`")]);
        assert!(e.hint.unwrap().contains("add the field"));
    }
    let e = error("# no agent\n[limits]\nmemory_mb = 1\n");
    assert_error(&e, at(1, 1), &["missing field `agent`"]);
}

#[test]
fn bad_agent_names_are_refused() {
    let too_long = "a".repeat(65);
    for bad in [
        "Circuit-Helper",
        "circuit helper",
        "-helper",
        "_helper",
        "",
        "hélper",
        "a/b",
        too_long.as_str(),
    ] {
        let text = MINIMAL.replace("name = \"a\"", &format!("name = \"{bad}\""));
        let e = error(&text);
        assert_error(&e, at(2, 8), &[&format!("`{bad}`"), "agent name"]);
        assert!(e.hint.unwrap().contains("lower-case"));
    }
    ok(&MINIMAL.replace("name = \"a\"", &format!("name = \"{}\"", "a".repeat(64))));
    ok(&MINIMAL.replace("name = \"a\"", "name = \"0-circuit_helper\""));
}

#[test]
fn bad_versions_are_refused() {
    for bad in ["", "1 2", "1\\t2", "1\\u001b", &"1".repeat(65)] {
        let text = MINIMAL.replace("version = \"1\"", &format!("version = \"{bad}\""));
        let e = error(&text);
        assert_error(&e, at(3, 11), &["not a valid version"]);
    }
}

#[test]
fn publishers_with_spaces_commas_or_wildcards_are_refused() {
    for bad in [
        "tools @lab.example",
        "tools@lab.example,evil@x",
        "*@lab.example",
        "tools?@lab.example",
        "!tools@lab.example",
        "tools\\\"@lab.example",
        "tools\\t@lab.example",
        "tools\\u0007@lab.example",
        "",
    ] {
        let text = MINIMAL.replace(
            "publisher = \"tools@lab.example\"",
            &format!("publisher = \"{bad}\""),
        );
        let e = error(&text);
        assert_error(&e, at(4, 13), &["is not a valid publisher"]);
        assert!(e.hint.unwrap().contains("allowed-signers"), "{bad}");
    }
}

#[test]
fn descriptions_with_control_characters_are_refused() {
    let e = error(&with("description = \"hi\\u001b[2J\"\n"));
    assert_error(&e, at(5, 15), &["description"]);
    ok(&with("description = \"\"\"line one\n\tline two\"\"\"\n"));
    let e = error(&with(&format!("description = \"{}\"\n", "x".repeat(5000))));
    assert_error(&e, at(5, 15), &["too long"]);
}

#[test]
fn expires_needs_a_time_and_an_offset() {
    for bad in [
        "2027-01-31T00:00:00",
        "2027-01-31",
        "00:00:00",
        "2027-01-31 12:30:00",
    ] {
        let text = format!("# header\nexpires = {bad}\n{MINIMAL}");
        let e = error(&text);
        assert_error(
            &e,
            at(2, 11),
            &["has no time zone", &bad[..bad.len().min(10)]],
        );
        assert!(e.hint.unwrap().contains("expires = 2027-01-31T00:00:00Z"));
    }
    let text = format!("expires = \"2027-01-31T00:00:00Z\"\n{MINIMAL}");
    assert_error(&error(&text), at(1, 11), &["invalid type", "datetime"]);
}

#[test]
fn expires_accepts_every_toml_offset_date_time() {
    for (written, instant) in [
        // TOML 1.1 lets the seconds be left out.
        ("2027-01-31T00:00Z", datetime!(2027-01-31 00:00:00 UTC)),
        ("2027-01-31 01:30+01:30", datetime!(2027-01-31 00:00:00 UTC)),
        (
            "2027-01-31T00:00:00.123456789-00:00",
            datetime!(2027-01-31 00:00:00.123456789 UTC),
        ),
        (
            "1979-05-27T00:32:00.999999-07:00",
            datetime!(1979-05-27 07:32:00.999999 UTC),
        ),
    ] {
        let m = ok(&format!("expires = {written}\n{MINIMAL}"));
        assert_eq!(m.expires, Some(instant), "{written}");
    }
    for bad in ["2027-01-31T23:59:60Z", "9999-12-31T23:59:59-23:59"] {
        let e = error(&format!("expires = {bad}\n{MINIMAL}"));
        assert_error(&e, at(1, 11), &["not a valid instant"]);
        assert!(e.hint.unwrap().contains("2027-01-31T00:00:00Z"));
    }
}

#[test]
fn bad_host_patterns_point_at_the_array_element() {
    let text = with(
        r#"
[network]
allow = [
  "api.ionq.co",
  "https://api.ionq.co",
  "*", "*.quantum.ibm.com", "*.com",
  "api.ionq.co:99999",
  "api.ionq.co:0", "api.ionq.co/v0.4",
  "[api.ionq.co]:443",
  "2130706433",
]
"#,
    );
    let errors = errors(&text);
    let expected = [
        ("\"https://api.ionq.co\"", "not a URL"),
        ("\"*\"", "every host"),
        ("\"*.com\"", "two labels"),
        ("\"api.ionq.co:99999\"", "port"),
        ("\"api.ionq.co:0\"", "port"),
        ("\"api.ionq.co/v0.4\"", "not a URL"),
        ("\"[api.ionq.co]:443\"", "IPv6"),
        ("\"2130706433\"", "IPv4"),
    ];
    assert_eq!(errors.len(), expected.len(), "{}", show(&errors));
    for (e, (needle, reason)) in errors.iter().zip(expected) {
        let pattern = needle.trim_matches('"');
        assert_error(e, loc(&text, needle), &[&format!("`{pattern}`"), reason]);
        assert!(e.hint.as_deref().unwrap().contains("*.example.com"));
    }
}

#[test]
fn bad_device_strings_are_refused() {
    let bad = [
        "gpu:",
        "gpu:-1",
        "gpu:+1",
        "gpu:99999999999",
        "GPU",
        "tpu",
        "pci:10de",
        "pci:10de:23",
        "pci:10de:zzzz",
        "pci:+0de:2330",
        "pci:10de:2330:1",
    ];
    let list = bad
        .iter()
        .map(|d| format!("  \"{d}\",\n"))
        .collect::<String>();
    let text = with(&format!("[runtime]\ndevices = [\n{list}]\n"));
    let errors = errors(&text);
    assert_eq!(errors.len(), bad.len(), "{}", show(&errors));
    for (i, (e, d)) in errors.iter().zip(bad).enumerate() {
        assert_error(e, at(7 + i, 3), &[&format!("`{d}` is not a device")]);
        assert!(e.hint.as_deref().unwrap().contains("pci:VVVV:DDDD"));
    }
}

#[test]
fn bad_backend_refs_are_refused() {
    for (bad, reason) in [
        ("ibm", "does not name a provider"),
        ("IBM:ibm_brisbane", "not a provider name"),
        (":ibm_brisbane", "not a provider name"),
        ("ibm:", "not a backend name"),
        ("ibm:ibm brisbane", "not a backend name"),
        ("ibm:**", "not a backend name"),
        ("ibm:ibm_*", "not a backend name"),
    ] {
        let text = with(&format!(
            "[qpu]\nproviders = [\"ibm\"]\nbackends = [\"{bad}\"]\nmax_shots = 10\nbudget = {{ shots = 10, jobs = 1 }}\n"
        ));
        let e = error(&text);
        assert_error(&e, at(7, 13), &[reason]);
        assert!(e.hint.unwrap().contains("ibm:ibm_brisbane"), "{bad}");
    }
}

#[test]
fn backends_must_name_a_listed_provider() {
    let text = with(
        "[qpu]\nproviders = [\"ibm\", \"Bad Name\"]\nbackends = [\"ibm:ibm_torino\", \"ionq:qpu.aria-1\"]\nmax_shots = 10\nbudget = { shots = 10, jobs = 1 }\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{}", show(&errors));
    assert_error(
        &errors[0],
        loc(&text, "\"Bad Name\""),
        &["not a provider name"],
    );
    assert_error(
        &errors[1],
        loc(&text, "\"ionq:"),
        &["`ionq:qpu.aria-1`", "provider `ionq`", "qpu.providers"],
    );
    assert!(
        errors[1]
            .hint
            .as_deref()
            .unwrap()
            .contains("add the provider")
    );
}

#[test]
fn backends_need_max_shots_and_a_budget() {
    let text = with("\n[qpu]\nproviders = [\"ibm\"]\nbackends = [\"ibm:ibm_torino\"]\n");
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{}", show(&errors));
    let qpu = loc(&text, "[qpu]");
    assert_error(&errors[0], qpu, &["max_shots"]);
    assert_error(&errors[1], qpu, &["budget"]);
    assert!(errors[0].hint.as_deref().unwrap().contains("max_shots = N"));
    assert!(errors[1].hint.as_deref().unwrap().contains("[qpu.budget]"));

    let text = with(
        "\n[qpu]\nproviders = [\"ibm\"]\nbackends = [\"ibm:ibm_torino\"]\n\n[qpu.budget]\nshots = 1\njobs = 1\n",
    );
    assert_error(&error(&text), loc(&text, "[qpu]"), &["no max_shots"]);

    // Without backends neither is needed.
    ok(&with("[qpu]\nproviders = [\"local\"]\n"));
}

#[test]
fn zero_limits_are_refused_where_they_are_written() {
    // The comments name the keys first: the errors must point at the values, not the comments.
    let text = with(
        "# memory_mb = 0 would starve the agent; so would processes = 0.\n\
         [limits]\nmemory_mb = 0\nprocesses = 1\nopen_files=0\ncpu_seconds = 0\n\n\
         [qpu]\nproviders = [\"local\"]\nbackends = [\"local:*\"]\nmax_shots = 0\n\n\
         [qpu.budget]\nshots = 0\njobs = 0\n",
    );
    let errors = errors(&text);
    let expected = [
        (at(7, 13), "limits.memory_mb is 0"),
        (at(9, 12), "limits.open_files is 0"),
        (at(10, 15), "limits.cpu_seconds is 0"),
        (at(15, 13), "qpu.max_shots is 0"),
        (loc(&text, "[qpu.budget]"), "qpu.budget.shots is 0"),
        (loc(&text, "[qpu.budget]"), "qpu.budget.jobs is 0"),
    ];
    assert_eq!(errors.len(), expected.len(), "{}", show(&errors));
    for (e, (place, message)) in errors.iter().zip(expected) {
        assert_error(e, place, &[message]);
    }
}

#[test]
fn paths_into_other_homes_and_empty_paths_are_refused() {
    let text = with(
        "[filesystem]\nread = [\"~/ok\", \"~otheruser/x\"]\nwrite = [\"\"]\ndeny = [\"~root\"]\n",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 3, "{}", show(&errors));
    assert_error(
        &errors[0],
        loc(&text, "\"~otheruser"),
        &["filesystem.read", "`~otheruser/x`", "another user's home"],
    );
    assert_error(
        &errors[1],
        loc(&text, "\"\""),
        &["filesystem.write", "empty path"],
    );
    assert_error(
        &errors[2],
        loc(&text, "\"~root\""),
        &["filesystem.deny", "another user's home"],
    );
    assert!(errors[0].hint.as_deref().unwrap().contains("~/"));

    let e = error(&with("[filesystem]\nread = [\"a\\u0000b\"]\n"));
    assert_error(&e, at(6, 9), &["NUL"]);
}

#[test]
fn every_error_is_reported_in_file_order() {
    // Tables in an unusual order, so validation order differs from file order.
    let text = r#"[qpu]
providers = ["ibm"]
backends = ["ionq:aria"]
max_shots = 0
budget = { shots = 1, jobs = 1 }

[network]
allow = ["*"]

[agent]
name = "Bad Name"
version = "1"
publisher = "a b"

[limits]
processes = 0
"#;
    let errors = errors(text);
    let lines: Vec<_> = errors.iter().map(|e| e.at.line).collect();
    assert_eq!(lines, [3, 4, 8, 11, 13, 16], "{}", show(&errors));
    let mut sorted = errors
        .iter()
        .map(|e| (e.at.line, e.at.col))
        .collect::<Vec<_>>();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        errors
            .iter()
            .map(|e| (e.at.line, e.at.col))
            .collect::<Vec<_>>()
    );
    // The whole report names every error.
    let report = Manifest::parse(text, Path::new(FILE))
        .unwrap_err()
        .to_string();
    assert_eq!(report.matches(&format!("{FILE}:")).count(), 6, "{report}");
    assert_eq!(report.matches("\n  hint: ").count(), 6, "{report}");
}

#[test]
fn huge_error_lists_are_capped() {
    let list = "\"*\",\n".repeat(300);
    let text = with(&format!("[network]\nallow = [\n{list}]\n"));
    let errors = errors(&text);
    assert_eq!(errors.len(), 101);
    assert_eq!(errors[0].at, at(7, 1));
    assert_eq!(errors[99].at, at(106, 1));
    assert_error(&errors[100], at(107, 1), &["200 more errors"]);
}

#[test]
fn oversized_manifests_are_refused_before_parsing() {
    let mut text = MINIMAL.to_owned();
    text.push_str(&"#".repeat(MAX_MANIFEST_BYTES + 1 - text.len()));
    let e = error(&text);
    assert_error(
        &e,
        at(1, 1),
        &[&(MAX_MANIFEST_BYTES + 1).to_string(), "limit"],
    );
    // Not even valid TOML is looked at.
    let e = error(&"[".repeat(MAX_MANIFEST_BYTES + 10));
    assert_error(&e, at(1, 1), &["limit"]);
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let text = format!("x = {}{}\n", "[".repeat(50_000), "]".repeat(50_000));
    let e = error(&text);
    assert!(e.message.contains("recursion"), "{e}");
    let text = format!("x = {}1{}\n", "{a=".repeat(50_000), "}".repeat(50_000));
    error(&text);
    let text = format!("[{}a]\n", "a.".repeat(50_000));
    error(&text);
}

#[test]
fn wrong_value_types_are_refused() {
    let cases = [
        (
            MINIMAL.replace("name = \"a\"", "name = 1"),
            at(2, 8),
            "invalid type",
        ),
        (
            with("[runtime]\nspawn_processes = \"yes\"\n"),
            at(6, 19),
            "invalid type",
        ),
        (
            with("[runtime]\ninstall_packages = [\"pip\"]\n"),
            at(6, 21),
            "unknown variant `pip`",
        ),
        (
            with("[network]\nallow = \"x.example\"\n"),
            at(6, 9),
            "invalid type",
        ),
        (with("[limits]\nmemory_mb = -1\n"), at(6, 13), "-1"),
        (with("[limits]\nmemory_mb = 1.5\n"), at(6, 13), "1.5"),
        (
            with("[limits]\nmemory_mb = 18446744073709551616\n"),
            at(6, 13),
            "18446744073709551616",
        ),
        (
            with("[qpu]\nmax_shots = \"4000\"\n"),
            at(6, 13),
            "invalid type",
        ),
        (with("[qpu]\nbudget = 3\n"), at(6, 10), "shots"),
        (format!("agent = 1\n{}", ""), at(1, 9), "`name`"),
        (with("[filesystem]\nread = [1]\n"), at(6, 9), "invalid type"),
    ];
    for (text, place, part) in cases {
        let e = error(&text);
        assert_error(&e, place, &[part]);
        // No Rust type names leak into messages.
        assert!(
            !e.message.contains("struct") && !e.message.contains("Raw"),
            "{e}"
        );
    }
}

#[test]
fn control_characters_from_the_file_are_escaped_when_shown() {
    let text = MINIMAL.replace("name = \"a\"", "name = \"\\u001b]0;pwned\\u0007\"");
    let e = error(&text);
    let shown = e.to_string();
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown:?}"
    );
    assert!(shown.contains("\\u{1b}]0;pwned\\u{7}"), "{shown}");
}
