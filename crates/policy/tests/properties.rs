//! Property tests over generated host patterns and manifests, driven by a small deterministic PRNG.
//!
//! Generation is hand-rolled (SplitMix64 with fixed seeds) rather than pulled from `proptest`, to keep
//! the dev-dependency tree small; every failure message prints the generated input, and the seeds are
//! fixed, so a failure reproduces exactly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use qwarden_policy::Manifest;
use qwarden_policy::diag::Location;
use qwarden_policy::host::HostPattern;
use qwarden_policy::manifest::{
    AgentIdentity, BackendRef, Budget, DeviceRequest, FilesystemRequest, LimitsRequest, Located,
    QpuRequest, Registry, RuntimeRequest, digest,
};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// SplitMix64: tiny, fast and good enough to drive generators.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn string(&mut self, alphabet: &[char], min: usize, max: usize) -> String {
        let len = min + self.below(max - min + 1);
        (0..len).map(|_| *self.pick(alphabet)).collect()
    }
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

// ------------------------------------------------------------------------------------------------
// Host patterns.

/// A few labels, so generated names often share suffixes and cover each other.
const LABELS: &[&str] = &[
    "a", "b", "api", "quantum", "ibm", "eu-de", "x1", "_srv", "cloud",
];
const TLDS: &[&str] = &["com", "co", "example", "internal", "xn--p1ai"];
const PORTS: &[u16] = &[443, 80, 8443];

/// A name of 1 to 4 labels under a TLD, in random case and sometimes with a trailing dot.
fn gen_name(rng: &mut Rng) -> String {
    let mut labels: Vec<String> = (0..rng.range(0, 3))
        .map(|_| {
            if rng.chance(85) {
                (*rng.pick(LABELS)).to_owned()
            } else {
                let inner = chars("abcdefghijklmnopqrstuvwxyz0123456789-_");
                let edge = chars("abcdefghijklmnopqrstuvwxyz0123456789");
                let mut s = rng.string(&edge, 1, 1);
                s.push_str(&rng.string(&inner, 0, 8));
                s.push_str(&rng.string(&edge, 1, 1));
                s
            }
        })
        .collect();
    labels.push((*rng.pick(LABELS)).to_owned());
    labels.push((*rng.pick(TLDS)).to_owned());
    let mut name = labels.join(".");
    if rng.chance(20) {
        name = name.to_ascii_uppercase();
    }
    if rng.chance(10) {
        name.push('.');
    }
    name
}

/// The text of a random valid pattern: a name, a wildcard, an IPv4 or IPv6 literal, maybe a port.
fn gen_pattern_text(rng: &mut Rng) -> String {
    let port = if rng.chance(40) {
        Some(if rng.chance(70) {
            *rng.pick(PORTS)
        } else {
            rng.range(1, 65535) as u16
        })
    } else {
        None
    };
    let with_port = |host: String| match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    match rng.below(10) {
        0 => with_port(std::net::Ipv4Addr::from((rng.next() as u32).to_be_bytes()).to_string()),
        1 => {
            // Mostly short, zero-heavy addresses, so the canonical form differs from what is written.
            let mut groups = [0u16; 8];
            for g in groups.iter_mut() {
                if rng.chance(40) {
                    *g = rng.next() as u16;
                }
            }
            let written = groups
                .iter()
                .map(|g| {
                    if rng.chance(30) {
                        format!("{g:04X}")
                    } else {
                        format!("{g:x}")
                    }
                })
                .collect::<Vec<_>>()
                .join(":");
            match port {
                Some(p) => format!("[{written}]:{p}"),
                None if rng.chance(50) => format!("[{written}]"),
                None => written,
            }
        }
        2..=4 => with_port(format!("*.{}", gen_name(rng))),
        _ => with_port(gen_name(rng)),
    }
}

fn gen_pattern(rng: &mut Rng) -> HostPattern {
    let text = gen_pattern_text(rng);
    text.parse()
        .unwrap_or_else(|e| panic!("generated `{text}` should parse: {e}"))
}

/// A pattern from a small world (`a`/`b` labels over `x.com`, two ports) where patterns often cover
/// one another, or, one time in four, any generated pattern.
fn gen_related_pattern(rng: &mut Rng) -> HostPattern {
    if rng.chance(25) {
        return gen_pattern(rng);
    }
    let mut name = String::new();
    for _ in 0..rng.range(0, 3) {
        name.push_str(rng.pick::<&str>(&["a.", "b."]));
    }
    name.push_str("x.com");
    if rng.chance(40) {
        name = format!("*.{name}");
    }
    match rng.below(6) {
        0..=2 => {}
        3 | 4 => name.push_str(":443"),
        _ => name.push_str(":80"),
    }
    name.parse()
        .unwrap_or_else(|e| panic!("generated `{name}` should parse: {e}"))
}

/// Concrete hosts that `p` matches: itself if exact, a few subdomains if a wildcard.
fn members(p: &HostPattern, rng: &mut Rng) -> Vec<(String, u16)> {
    let port = p.port().unwrap_or(*rng.pick(PORTS));
    let shown = p.to_string();
    let host = match p.port() {
        Some(port) => shown.strip_suffix(&format!(":{port}")).unwrap().to_owned(),
        None => shown,
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    match host.strip_prefix("*.") {
        Some(suffix) => vec![
            (format!("x.{suffix}"), port),
            (format!("{}.{suffix}", gen_name(rng)), port),
        ],
        None => vec![(host, port)],
    }
}

#[test]
fn host_patterns_round_trip_through_display() {
    let mut rng = Rng(0x5eed_0001);
    for _ in 0..5000 {
        let text = gen_pattern_text(&mut rng);
        let p: HostPattern = text
            .parse()
            .unwrap_or_else(|e| panic!("generated `{text}` should parse: {e}"));
        let shown = p.to_string();
        let again: HostPattern = shown
            .parse()
            .unwrap_or_else(|e| panic!("`{shown}` (from `{text}`) should parse: {e}"));
        assert_eq!(again, p, "`{text}` shows as `{shown}`");
        assert_eq!(again.to_string(), shown, "display is stable for `{text}`");
        assert_eq!(
            shown,
            shown.to_ascii_lowercase(),
            "names show in lower case"
        );
        // Every pattern matches its own members.
        for (host, port) in members(&p, &mut rng) {
            assert!(p.matches(&host, port), "`{p}` should match {host}:{port}");
        }
    }
}

#[test]
fn covers_is_reflexive_transitive_and_agrees_with_matches() {
    let mut rng = Rng(0x5eed_0002);
    for round in 0..6 {
        let pool: Vec<HostPattern> = (0..60).map(|_| gen_related_pattern(&mut rng)).collect();
        let mut covering_pairs = 0;
        for a in &pool {
            assert!(a.covers(a), "`{a}` covers itself");
            for b in &pool {
                if !a.covers(b) {
                    continue;
                }
                covering_pairs += 1;
                for (host, port) in members(b, &mut rng) {
                    assert!(
                        a.matches(&host, port),
                        "`{a}` covers `{b}` but does not match its member {host}:{port}"
                    );
                }
                for c in &pool {
                    if b.covers(c) {
                        assert!(a.covers(c), "`{a}` ⊇ `{b}` ⊇ `{c}` but not `{a}` ⊇ `{c}`");
                    }
                }
            }
        }
        // The pool is built so that coverage is common; otherwise the checks above prove little.
        assert!(
            covering_pairs > pool.len() * 3,
            "round {round}: {covering_pairs}"
        );
    }
}

#[test]
fn intersections_are_covered_by_both_sides() {
    let mut rng = Rng(0x5eed_0003);
    let mut found = 0;
    for _ in 0..40 {
        let pool: Vec<HostPattern> = (0..50).map(|_| gen_related_pattern(&mut rng)).collect();
        for a in &pool {
            for b in &pool {
                let i = a.intersect(b);
                assert_eq!(i, b.intersect(a), "intersection is symmetric: `{a}`, `{b}`");
                if a.covers(b) {
                    assert_eq!(i.as_ref(), Some(b), "`{a}` covers `{b}`");
                }
                if let Some(i) = i {
                    found += 1;
                    assert!(a.covers(&i), "`{a}` ∩ `{b}` = `{i}`, not covered by `{a}`");
                    assert!(b.covers(&i), "`{a}` ∩ `{b}` = `{i}`, not covered by `{b}`");
                    for (host, port) in members(&i, &mut rng) {
                        assert!(a.matches(&host, port) && b.matches(&host, port));
                    }
                }
            }
        }
    }
    assert!(found > 1000, "{found}");
}

// ------------------------------------------------------------------------------------------------
// Manifests: generated values → TOML → parsed values.

/// Characters for free text: quotes, backslashes, TOML syntax and non-ASCII included.
const TEXT: &str = "abcXYZ019 _-./\\\"'#=[]{},:;@~*é€😀\t";

fn gen_expires(rng: &mut Rng) -> OffsetDateTime {
    let date = Date::from_calendar_date(
        rng.range(1970, 2200) as i32,
        Month::try_from(rng.range(1, 12) as u8).unwrap(),
        rng.range(1, 28) as u8,
    )
    .unwrap();
    let nanos = if rng.chance(50) {
        0
    } else {
        rng.range(0, 999_999_999) as u32
    };
    let time = Time::from_hms_nano(
        rng.range(0, 23) as u8,
        rng.range(0, 59) as u8,
        rng.range(0, 59) as u8,
        nanos,
    )
    .unwrap();
    let minutes = rng.range(0, 2 * 1439) as i32 - 1439;
    let offset = if rng.chance(40) {
        UtcOffset::UTC
    } else {
        UtcOffset::from_whole_seconds(minutes * 60).unwrap()
    };
    PrimitiveDateTime::new(date, time).assume_offset(offset)
}

fn located<T>(value: T) -> Located<T> {
    Located {
        value,
        at: Location::default(),
    }
}

fn gen_path(rng: &mut Rng) -> String {
    let tail = rng.string(&chars(TEXT), 1, 24);
    match rng.below(4) {
        0 => "~".to_owned(),
        1 => format!("~/{tail}"),
        2 => format!("/{tail}"),
        // Relative paths must not start with `~` (that would name another user's home).
        _ => format!("p{tail}"),
    }
}

fn gen_manifest(rng: &mut Rng) -> Manifest {
    let name_chars = chars("abcdefghijklmnopqrstuvwxyz0123456789-_");
    let first = chars("abcdefghijklmnopqrstuvwxyz0123456789");
    let agent = AgentIdentity {
        name: rng.string(&first, 1, 1) + &rng.string(&name_chars, 0, 63),
        version: rng.string(&chars("0123456789.abc-+_é"), 1, 32),
        publisher: rng.string(&chars("abcxyz019@.-_+=/é😀"), 1, 40),
        description: rng
            .chance(60)
            .then(|| rng.string(&chars(&format!("{TEXT}\n")), 0, 200)),
    };
    let paths = |rng: &mut Rng| (0..rng.below(4)).map(|_| located(gen_path(rng))).collect();
    let filesystem = FilesystemRequest {
        read: paths(rng),
        write: paths(rng),
        deny: paths(rng),
    };
    let network = (0..rng.below(6))
        .map(|_| located(gen_pattern(rng)))
        .collect();
    let registries = [
        Registry::Pypi,
        Registry::Npm,
        Registry::Crates,
        Registry::Conda,
    ];
    let runtime = RuntimeRequest {
        install_packages: (0..rng.below(4))
            .map(|_| located(*rng.pick(&registries)))
            .collect(),
        spawn_processes: rng.chance(50),
        devices: (0..rng.below(4))
            .map(|_| {
                located(match rng.below(3) {
                    0 => DeviceRequest::AnyGpu,
                    1 => DeviceRequest::Gpu(rng.next() as u32),
                    _ => DeviceRequest::Pci {
                        vendor: rng.next() as u16,
                        device: rng.next() as u16,
                    },
                })
            })
            .collect(),
    };
    // TOML integers are signed 64-bit.
    let limit = |rng: &mut Rng| rng.chance(50).then(|| rng.range(1, i64::MAX as u64));
    let limits = LimitsRequest {
        memory_mb: limit(rng),
        processes: limit(rng),
        open_files: limit(rng),
        cpu_seconds: limit(rng),
    };
    let providers: Vec<String> = (0..rng.below(4))
        .map(|_| rng.string(&first, 1, 1) + &rng.string(&name_chars, 0, 10))
        .collect();
    let backend_chars = chars("abcABZ019_-.");
    let backends: Vec<Located<BackendRef>> = if providers.is_empty() {
        Vec::new()
    } else {
        (0..rng.below(4))
            .map(|_| {
                located(BackendRef {
                    provider: rng.pick(&providers).clone(),
                    backend: if rng.chance(20) {
                        "*".to_owned()
                    } else {
                        rng.string(&backend_chars, 1, 30)
                    },
                })
            })
            .collect()
    };
    let needs_limits = !backends.is_empty() || rng.chance(30);
    let qpu = QpuRequest {
        providers: providers.into_iter().map(located).collect(),
        backends,
        max_shots: if needs_limits {
            rng.range(1, 1_000_000)
        } else {
            0
        },
        budget: if needs_limits {
            Budget {
                shots: rng.range(1, i64::MAX as u64),
                jobs: rng.range(1, 10_000),
            }
        } else {
            Budget::default()
        },
    };
    Manifest {
        source: Default::default(),
        digest: String::new(),
        agent,
        expires: rng.chance(50).then(|| gen_expires(rng)),
        filesystem,
        network,
        runtime,
        limits,
        qpu,
    }
}

/// A TOML basic string holding `s`, with escapes chosen at random where there is a choice.
fn quote(s: &str, rng: &mut Rng) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' if rng.chance(50) => out.push_str("\\t"),
            c if c.is_control() && c != '\t' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if !c.is_ascii() && rng.chance(30) => {
                out.push_str(&format!("\\U{:08X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML array of `items`, on one line or one item a line, sometimes with comments.
fn array(items: Vec<String>, rng: &mut Rng) -> String {
    if rng.chance(50) {
        format!("[{}]", items.join(", "))
    } else {
        let mut out = String::from("[ # items\n");
        for item in items {
            out.push_str(&format!("    {item},\n"));
            if rng.chance(20) {
                out.push_str("    # a comment line\n");
            }
        }
        out.push(']');
        out
    }
}

/// The manifest's values as TOML text: what a publisher would write to get `m`.
fn to_toml(m: &Manifest, rng: &mut Rng) -> String {
    let mut out = String::from("# generated\n");
    let quoted =
        |items: &[String], rng: &mut Rng| array(items.iter().map(|s| quote(s, rng)).collect(), rng);
    let strings = |v: &[Located<String>]| v.iter().map(|l| l.value.clone()).collect::<Vec<_>>();
    if let Some(e) = m.expires {
        let text = e
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        out.push_str(&format!("expires = {text}\n"));
    }
    out.push_str("\n[agent]\n");
    out.push_str(&format!("name = {}\n", quote(&m.agent.name, rng)));
    out.push_str(&format!("version = {}\n", quote(&m.agent.version, rng)));
    out.push_str(&format!("publisher = {}\n", quote(&m.agent.publisher, rng)));
    if let Some(d) = &m.agent.description {
        out.push_str(&format!("description = {}\n", quote(d, rng)));
    }
    out.push_str("\n[filesystem]\n");
    out.push_str(&format!(
        "read = {}\n",
        quoted(&strings(&m.filesystem.read), rng)
    ));
    out.push_str(&format!(
        "write = {}\n",
        quoted(&strings(&m.filesystem.write), rng)
    ));
    out.push_str(&format!(
        "deny = {}\n",
        quoted(&strings(&m.filesystem.deny), rng)
    ));
    out.push_str("\n[network]\n");
    let hosts: Vec<_> = m.network.iter().map(|h| h.value.to_string()).collect();
    out.push_str(&format!("allow = {}\n", quoted(&hosts, rng)));
    out.push_str("\n[runtime]\n");
    let registries: Vec<_> = m
        .runtime
        .install_packages
        .iter()
        .map(|r| r.value.to_string())
        .collect();
    out.push_str(&format!(
        "install_packages = {}\n",
        quoted(&registries, rng)
    ));
    out.push_str(&format!(
        "spawn_processes = {}\n",
        m.runtime.spawn_processes
    ));
    let devices: Vec<_> = m
        .runtime
        .devices
        .iter()
        .map(|d| d.value.to_string())
        .collect();
    out.push_str(&format!("devices = {}\n", quoted(&devices, rng)));
    out.push_str("\n[limits]\n");
    for (key, value) in [
        ("memory_mb", m.limits.memory_mb),
        ("processes", m.limits.processes),
        ("open_files", m.limits.open_files),
        ("cpu_seconds", m.limits.cpu_seconds),
    ] {
        if let Some(v) = value {
            out.push_str(&format!("{key} = {v}\n"));
        }
    }
    out.push_str("\n[qpu]\n");
    out.push_str(&format!(
        "providers = {}\n",
        quoted(&strings(&m.qpu.providers), rng)
    ));
    let backends: Vec<_> = m.qpu.backends.iter().map(|b| b.value.to_string()).collect();
    out.push_str(&format!("backends = {}\n", quoted(&backends, rng)));
    if m.qpu.max_shots != 0 {
        out.push_str(&format!("max_shots = {}\n", m.qpu.max_shots));
    }
    let budget = m.qpu.budget;
    if budget != Budget::default() {
        if rng.chance(50) {
            out.push_str(&format!(
                "budget = {{ shots = {}, jobs = {} }}\n",
                budget.shots, budget.jobs
            ));
        } else {
            out.push_str(&format!(
                "\n[qpu.budget]\njobs = {}\nshots = {}\n",
                budget.jobs, budget.shots
            ));
        }
    }
    out
}

/// `m` without what depends on the text it came from.
fn values(m: &Manifest) -> Manifest {
    fn strip<T: Clone>(v: &[Located<T>]) -> Vec<Located<T>> {
        v.iter().map(|l| located(l.value.clone())).collect()
    }
    Manifest {
        source: Default::default(),
        digest: String::new(),
        agent: m.agent.clone(),
        expires: m.expires,
        filesystem: FilesystemRequest {
            read: strip(&m.filesystem.read),
            write: strip(&m.filesystem.write),
            deny: strip(&m.filesystem.deny),
        },
        network: strip(&m.network),
        runtime: RuntimeRequest {
            install_packages: strip(&m.runtime.install_packages),
            spawn_processes: m.runtime.spawn_processes,
            devices: strip(&m.runtime.devices),
        },
        limits: m.limits,
        qpu: QpuRequest {
            providers: strip(&m.qpu.providers),
            backends: strip(&m.qpu.backends),
            max_shots: m.qpu.max_shots,
            budget: m.qpu.budget,
        },
    }
}

/// The text from `at` to the end of its line.
fn text_at(text: &str, at: Location) -> &str {
    let line = text.split('\n').nth(at.line - 1).unwrap();
    let start = line
        .char_indices()
        .nth(at.col - 1)
        .map_or(line.len(), |(i, _)| i);
    &line[start..]
}

#[test]
fn generated_manifests_parse_to_the_generated_values() {
    let mut rng = Rng(0x5eed_0004);
    for case in 0..400 {
        let generated = gen_manifest(&mut rng);
        let text = to_toml(&generated, &mut rng);
        let parsed = Manifest::parse(&text, Path::new("gen.toml")).unwrap_or_else(|e| {
            panic!("case {case}: generated manifest refused:\n{e}\n---\n{text}")
        });
        assert_eq!(parsed.digest, digest(text.as_bytes()));
        assert_eq!(
            values(&parsed),
            values(&generated),
            "case {case}: values differ for\n{text}"
        );
        // Every located value points at its quoted text in the file.
        for (at, first) in parsed
            .network
            .iter()
            .map(|h| (h.at, h.value.to_string()))
            .chain(
                parsed
                    .qpu
                    .backends
                    .iter()
                    .map(|b| (b.at, b.value.to_string())),
            )
            .chain(
                parsed
                    .runtime
                    .devices
                    .iter()
                    .map(|d| (d.at, d.value.to_string())),
            )
        {
            assert!(
                text_at(&text, at).starts_with(&format!("\"{first}\"")),
                "case {case}: {at:?} should point at `{first}` in\n{text}"
            );
        }
        // And the values written again, differently formatted, parse to the same values.
        let again = to_toml(&parsed, &mut rng);
        let reparsed = Manifest::parse(&again, Path::new("gen.toml")).unwrap();
        assert_eq!(values(&reparsed), values(&parsed), "case {case}");
    }
}

#[test]
fn mutated_manifests_never_panic() {
    let mut rng = Rng(0x5eed_0005);
    let noise = chars("\"'[]{}=.,:#\\\n\t *~0é😀\u{0}\u{1b}\r");
    for _ in 0..60 {
        let base = to_toml(&gen_manifest(&mut rng), &mut rng);
        for _ in 0..40 {
            let mut chars: Vec<char> = base.chars().collect();
            for _ in 0..rng.range(1, 4) {
                let i = rng.below(chars.len() + 1);
                match rng.below(3) {
                    0 if i < chars.len() => {
                        chars.remove(i);
                    }
                    1 if i < chars.len() => chars[i] = *rng.pick(&noise),
                    _ => chars.insert(i, *rng.pick(&noise)),
                }
            }
            let text: String = chars.into_iter().collect();
            if let Err(e) = Manifest::parse(&text, Path::new("m.toml")) {
                assert!(!e.errors.is_empty());
                for err in &e.errors {
                    assert!(err.at.line >= 1 && err.at.col >= 1, "{err}");
                    assert!(err.at.line <= text.split('\n').count(), "{err}");
                    assert!(err.hint.is_some(), "{err}");
                }
            }
        }
    }
}
