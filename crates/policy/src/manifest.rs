//! The agent capability manifest: what an agent asks to be allowed to do.
//!
//! A manifest is a TOML file signed by its publisher (see [`crate::signature`]). Parsing is strict:
//! unknown keys are refused, and every error names `file:line:col` and says how to fix it. Paths are
//! kept as written here; they are normalised against the workstation when the grant is computed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use toml::Spanned;

use crate::diag::{self, LineIndex, Location, SourceError};
use crate::host::HostPattern;

/// Manifests larger than this are refused before parsing.
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024;

/// The longest `agent.description` accepted.
const MAX_DESCRIPTION_BYTES: usize = 4096;

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was written in the manifest.
    #[serde(skip)]
    pub at: Location,
}

/// A parsed, validated capability manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// The file the manifest was read from.
    pub source: PathBuf,
    /// `sha256:<hex>` of the manifest's exact bytes: what the signature covers.
    pub digest: String,
    /// Who the agent is.
    pub agent: AgentIdentity,
    /// After this instant the manifest is refused.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
    /// File scopes.
    pub filesystem: FilesystemRequest,
    /// Hosts the agent wants to reach.
    pub network: Vec<Located<HostPattern>>,
    /// Runtime behaviours.
    pub runtime: RuntimeRequest,
    /// Resource limits the agent asks for (the profile caps them).
    pub limits: LimitsRequest,
    /// Quantum backends and shot limits.
    pub qpu: QpuRequest,
}

/// The `[agent]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentIdentity {
    /// Short machine name, e.g. `circuit-helper`.
    pub name: String,
    /// The agent's version as its publisher labels it.
    pub version: String,
    /// Who publishes the agent; also the principal its signature must verify for in allowed-signers.
    pub publisher: String,
    /// Free text for humans.
    pub description: Option<String>,
}

/// The `[filesystem]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct FilesystemRequest {
    /// Paths the agent may read.
    pub read: Vec<Located<String>>,
    /// Paths the agent may write (and read).
    pub write: Vec<Located<String>>,
    /// Paths carved out of the scopes above.
    pub deny: Vec<Located<String>>,
}

/// The `[runtime]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct RuntimeRequest {
    /// Registries the agent wants to install packages from.
    pub install_packages: Vec<Located<Registry>>,
    /// Whether the agent starts child processes.
    pub spawn_processes: bool,
    /// Devices the agent wants to open.
    pub devices: Vec<Located<DeviceRequest>>,
}

/// The `[limits]` table; absent values take the profile's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table of limits")]
pub struct LimitsRequest {
    /// Memory for the whole process tree, in MiB.
    pub memory_mb: Option<u64>,
    /// Number of processes and threads.
    pub processes: Option<u64>,
    /// Open file descriptors per process.
    pub open_files: Option<u64>,
    /// CPU time per process, in seconds.
    pub cpu_seconds: Option<u64>,
}

/// The `[qpu]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct QpuRequest {
    /// Providers the agent wants a credential handle for.
    pub providers: Vec<Located<String>>,
    /// Backends the agent wants to submit jobs to.
    pub backends: Vec<Located<BackendRef>>,
    /// Shots per job.
    pub max_shots: u64,
    /// Limits for the whole session.
    pub budget: Budget,
}

/// The session budget in `[qpu.budget]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table with `shots` and `jobs`")]
pub struct Budget {
    /// Total shots over the session.
    pub shots: u64,
    /// Total jobs over the session.
    pub jobs: u64,
}

/// A package registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[serde(expecting = "a registry name")]
pub enum Registry {
    /// The Python Package Index.
    Pypi,
    /// The npm registry.
    Npm,
    /// crates.io.
    Crates,
    /// conda channels on anaconda.org.
    Conda,
}

impl Registry {
    /// The registry's name as written in manifests and profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Registry::Pypi => "pypi",
            Registry::Npm => "npm",
            Registry::Crates => "crates",
            Registry::Conda => "conda",
        }
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device an agent asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceRequest {
    /// Every GPU (`gpu`).
    AnyGpu,
    /// One GPU by index (`gpu:0`).
    Gpu(u32),
    /// A PCI device by vendor and device id (`pci:10de:2330`).
    Pci {
        /// PCI vendor id.
        vendor: u16,
        /// PCI device id.
        device: u16,
    },
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceRequest::AnyGpu => f.write_str("gpu"),
            DeviceRequest::Gpu(n) => write!(f, "gpu:{n}"),
            DeviceRequest::Pci { vendor, device } => write!(f, "pci:{vendor:04x}:{device:04x}"),
        }
    }
}

const DEVICE_HINT: &str =
    "write `gpu`, `gpu:N` or `pci:VVVV:DDDD` (vendor and device id in hex, as `lspci -nn` shows)";

impl FromStr for DeviceRequest {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeviceRequest::parse(s).ok_or_else(|| format!("`{s}` is not a device: {DEVICE_HINT}"))
    }
}

impl DeviceRequest {
    fn parse(s: &str) -> Option<DeviceRequest> {
        if s == "gpu" {
            return Some(DeviceRequest::AnyGpu);
        }
        if let Some(n) = s.strip_prefix("gpu:") {
            // Digits only: `u32::from_str` would also take `+0`.
            return n
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| n.parse().ok().map(DeviceRequest::Gpu))
                .flatten();
        }
        if let Some(ids) = s.strip_prefix("pci:") {
            let parsed = ids.split_once(':').and_then(|(v, d)| {
                let hex4 = |x: &str| {
                    (x.len() == 4 && x.bytes().all(|b| b.is_ascii_hexdigit()))
                        .then(|| u16::from_str_radix(x, 16).ok())
                        .flatten()
                };
                Some((hex4(v)?, hex4(d)?))
            });
            return parsed.map(|(vendor, device)| DeviceRequest::Pci { vendor, device });
        }
        None
    }
}

impl Serialize for DeviceRequest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A backend named as `provider:backend`; the backend may be `*` for every backend of the provider.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendRef {
    /// The provider's name in the workstation profile.
    pub provider: String,
    /// The backend's name at that provider, or `*`.
    pub backend: String,
}

impl BackendRef {
    /// Whether this reference names `backend` of `provider` (directly or through `*`).
    pub fn covers(&self, other: &BackendRef) -> bool {
        self.provider == other.provider && (self.backend == "*" || self.backend == other.backend)
    }
}

impl fmt::Display for BackendRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.backend)
    }
}

const BACKEND_HINT: &str = "write `provider:backend`, e.g. `ibm:ibm_brisbane` or `local:*`";

impl FromStr for BackendRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BackendRef::parse(s).map_err(|problem| format!("{problem}: {BACKEND_HINT}"))
    }
}

impl BackendRef {
    /// Parses `provider:backend`; the error says what is wrong, without the hint.
    fn parse(s: &str) -> Result<BackendRef, String> {
        let (provider, backend) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` does not name a provider"))?;
        if !is_name(provider) {
            return Err(format!(
                "`{provider}` is not a provider name (lower-case letters, digits, `-`, `_`)"
            ));
        }
        let backend_ok = backend == "*"
            || (!backend.is_empty()
                && backend.len() <= 128
                && backend
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')));
        if !backend_ok {
            return Err(format!(
                "`{backend}` is not a backend name (letters, digits, `_`, `-`, `.`, or `*` alone)"
            ));
        }
        Ok(BackendRef {
            provider: provider.to_owned(),
            backend: backend.to_owned(),
        })
    }
}

impl Serialize for BackendRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Names of agents and providers: lower-case ASCII letters and digits, `-` and `_`, at most 64.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// A manifest that could not be read or is invalid; holds every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// The problems, in file order.
    pub errors: Vec<SourceError>,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------------
// The file as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table")]
struct RawManifest {
    expires: Option<Spanned<toml::value::Datetime>>,
    agent: RawAgent,
    #[serde(default)]
    filesystem: RawFilesystem,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    runtime: RawRuntime,
    #[serde(default)]
    limits: RawLimits,
    qpu: Option<Spanned<RawQpu>>,
}

/// `[limits]` as written, with positions for the zero check.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table of limits")]
struct RawLimits {
    memory_mb: Option<Spanned<u64>>,
    processes: Option<Spanned<u64>>,
    open_files: Option<Spanned<u64>>,
    cpu_seconds: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table with `name`, `version` and `publisher`")]
struct RawAgent {
    name: Spanned<String>,
    version: Spanned<String>,
    publisher: Spanned<String>,
    description: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table")]
struct RawFilesystem {
    #[serde(default)]
    read: Vec<Spanned<String>>,
    #[serde(default)]
    write: Vec<Spanned<String>>,
    #[serde(default)]
    deny: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table")]
struct RawNetwork {
    #[serde(default)]
    allow: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table")]
struct RawRuntime {
    #[serde(default)]
    install_packages: Vec<Spanned<Registry>>,
    #[serde(default)]
    spawn_processes: bool,
    #[serde(default)]
    devices: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table")]
struct RawQpu {
    #[serde(default)]
    providers: Vec<Spanned<String>>,
    #[serde(default)]
    backends: Vec<Spanned<String>>,
    max_shots: Option<Spanned<u64>>,
    budget: Option<Spanned<Budget>>,
}

impl Manifest {
    /// Parses and validates manifest `text`, read from `file` (used in error messages).
    pub fn parse(text: &str, file: &Path) -> Result<Manifest, ManifestError> {
        let one = |e: SourceError| ManifestError { errors: vec![e] };
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(one(SourceError::at_span(
                file,
                "",
                None,
                format!(
                    "the manifest is {} bytes; the limit is {MAX_MANIFEST_BYTES}",
                    text.len()
                ),
                Some("a capability manifest lists scopes and hosts; keep data elsewhere".into()),
            )));
        }
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| one(diag::from_toml(file, text, &e)))?;
        let mut v = Validator {
            file,
            index: LineIndex::new(text),
            errors: Vec::new(),
        };
        let manifest = v.manifest(raw);
        if v.errors.is_empty() {
            Ok(Manifest {
                source: file.to_path_buf(),
                digest: digest(text.as_bytes()),
                ..manifest
            })
        } else {
            Err(ManifestError {
                errors: diag::sorted_and_capped(v.errors),
            })
        }
    }

    /// Whether the manifest has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }
}

/// The instant a TOML offset date-time names. Built from its parts rather than by re-parsing its
/// text, because TOML 1.1 lets the seconds be left out (`2027-01-31T00:00Z`), which RFC 3339 does not.
fn instant(dt: &toml::value::Datetime) -> Result<OffsetDateTime, String> {
    let (Some(date), Some(clock), Some(offset)) = (dt.date, dt.time, dt.offset) else {
        return Err("it is not a full date-time with an offset".into());
    };
    let month = time::Month::try_from(date.month).map_err(|e| e.to_string())?;
    let date = time::Date::from_calendar_date(i32::from(date.year), month, date.day)
        .map_err(|e| e.to_string())?;
    let clock = time::Time::from_hms_nano(
        clock.hour,
        clock.minute,
        clock.second.unwrap_or(0),
        clock.nanosecond.unwrap_or(0),
    )
    .map_err(|e| e.to_string())?;
    let minutes = match offset {
        toml::value::Offset::Z => 0,
        toml::value::Offset::Custom { minutes } => i32::from(minutes),
    };
    let offset = time::UtcOffset::from_whole_seconds(minutes * 60).map_err(|e| e.to_string())?;
    let instant = time::PrimitiveDateTime::new(date, clock).assume_offset(offset);
    // Later code compares and converts this instant in UTC; make sure that stays in range.
    instant
        .checked_to_offset(time::UtcOffset::UTC)
        .ok_or_else(|| "it is out of range in UTC".to_owned())?;
    Ok(instant)
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

const EXPIRES_HINT: &str =
    "write a full date-time with an offset, e.g. `expires = 2027-01-31T00:00:00Z`";

const HOST_HINT: &str = "write a host name (`api.example.com`), a wildcard over its subdomains \
                         (`*.example.com`), or either with a port (`api.example.com:443`)";

struct Validator<'a> {
    file: &'a Path,
    index: LineIndex<'a>,
    errors: Vec<SourceError>,
}

impl Validator<'_> {
    fn error(&mut self, span: std::ops::Range<usize>, message: String, hint: &str) {
        let e = self.index.error(self.file, Some(span), message, hint);
        self.errors.push(e);
    }

    fn at(&self, span: &std::ops::Range<usize>) -> Location {
        self.index.location(span.start)
    }

    fn manifest(&mut self, raw: RawManifest) -> Manifest {
        let agent = self.agent(raw.agent);
        let expires = raw.expires.and_then(|d| self.expires(d));
        let filesystem = FilesystemRequest {
            read: self.paths(raw.filesystem.read, "read"),
            write: self.paths(raw.filesystem.write, "write"),
            deny: self.paths(raw.filesystem.deny, "deny"),
        };
        let network = raw
            .network
            .allow
            .into_iter()
            .filter_map(|h| {
                let span = h.span();
                match h.get_ref().parse::<HostPattern>() {
                    Ok(p) => Some(Located {
                        value: p,
                        at: self.at(&span),
                    }),
                    Err(e) => {
                        self.error(span, e.to_string(), HOST_HINT);
                        None
                    }
                }
            })
            .collect();
        let runtime = RuntimeRequest {
            install_packages: raw
                .runtime
                .install_packages
                .into_iter()
                .map(|r| Located {
                    at: self.at(&r.span()),
                    value: r.into_inner(),
                })
                .collect(),
            spawn_processes: raw.runtime.spawn_processes,
            devices: raw
                .runtime
                .devices
                .into_iter()
                .filter_map(|d| {
                    let span = d.span();
                    match DeviceRequest::parse(d.get_ref()) {
                        Some(value) => Some(Located {
                            value,
                            at: self.at(&span),
                        }),
                        None => {
                            self.error(
                                span,
                                format!("`{}` is not a device", d.get_ref()),
                                DEVICE_HINT,
                            );
                            None
                        }
                    }
                })
                .collect(),
        };
        let limits = self.limits(raw.limits);
        let qpu = raw.qpu.map(|q| self.qpu(q)).unwrap_or_default();
        Manifest {
            source: PathBuf::new(),
            digest: String::new(),
            agent,
            expires,
            filesystem,
            network,
            runtime,
            limits,
            qpu,
        }
    }

    fn agent(&mut self, raw: RawAgent) -> AgentIdentity {
        if !is_name(raw.name.get_ref()) {
            self.error(
                raw.name.span(),
                format!("`{}` is not a valid agent name", raw.name.get_ref()),
                "use lower-case letters, digits, `-` and `_`, starting with a letter or digit, at most 64 characters",
            );
        }
        let version = raw.version.get_ref();
        if version.is_empty()
            || version.len() > 64
            || version.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            self.error(
                raw.version.span(),
                format!("`{version}` is not a valid version"),
                "write a version without spaces, at most 64 characters, e.g. `1.2.0`",
            );
        }
        let publisher = raw.publisher.get_ref();
        if publisher.is_empty()
            || publisher.len() > 256
            || publisher.chars().any(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, ',' | '"' | '*' | '?' | '!')
            })
        {
            self.error(
                raw.publisher.span(),
                format!("`{publisher}` is not a valid publisher"),
                "the publisher is the principal in the allowed-signers file, e.g. `tools@lab.example`: no spaces, commas, quotes or wildcards",
            );
        }
        if let Some(d) = &raw.description {
            let text = d.get_ref();
            if text.len() > MAX_DESCRIPTION_BYTES
                || text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                self.error(
                    d.span(),
                    "agent.description is too long or holds control characters".into(),
                    "write at most 4096 bytes of plain text (newlines and tabs are fine)",
                );
            }
        }
        AgentIdentity {
            name: raw.name.into_inner(),
            version: raw.version.into_inner(),
            publisher: raw.publisher.into_inner(),
            description: raw.description.map(Spanned::into_inner),
        }
    }

    fn expires(&mut self, d: Spanned<toml::value::Datetime>) -> Option<OffsetDateTime> {
        let span = d.span();
        let dt = d.into_inner();
        if dt.offset.is_none() || dt.time.is_none() {
            self.error(
                span,
                format!("`expires = {dt}` has no time zone"),
                EXPIRES_HINT,
            );
            return None;
        }
        match instant(&dt) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(
                    span,
                    format!("`expires = {dt}` is not a valid instant: {e}"),
                    EXPIRES_HINT,
                );
                None
            }
        }
    }

    fn paths(&mut self, raw: Vec<Spanned<String>>, key: &str) -> Vec<Located<String>> {
        let mut out = Vec::with_capacity(raw.len());
        for p in raw {
            let span = p.span();
            let s = p.into_inner();
            let problem = if s.is_empty() {
                Some("an empty path".to_owned())
            } else if s.contains('\0') {
                Some("a path with a NUL byte".to_owned())
            } else if s.len() > 4096 {
                Some("a path longer than 4096 bytes".to_owned())
            } else if s.starts_with('~') && !(s == "~" || s.starts_with("~/")) {
                Some(format!("`{s}` names another user's home"))
            } else {
                None
            };
            match problem {
                Some(problem) => self.error(
                    span,
                    format!("filesystem.{key} has {problem}"),
                    "write an absolute path, a path relative to the project, or one starting with `~/`",
                ),
                None => out.push(Located {
                    at: self.at(&span),
                    value: s,
                }),
            }
        }
        out
    }

    fn limits(&mut self, raw: RawLimits) -> LimitsRequest {
        // serde already proved each value is a non-negative integer; zero would starve the agent.
        let mut check = |key: &str, value: Option<Spanned<u64>>| {
            let value = value?;
            if *value.get_ref() == 0 {
                self.error(
                    value.span(),
                    format!("limits.{key} is 0"),
                    "leave the key out to take the profile's default, or give a positive number",
                );
            }
            Some(value.into_inner())
        };
        LimitsRequest {
            memory_mb: check("memory_mb", raw.memory_mb),
            processes: check("processes", raw.processes),
            open_files: check("open_files", raw.open_files),
            cpu_seconds: check("cpu_seconds", raw.cpu_seconds),
        }
    }

    fn qpu(&mut self, raw: Spanned<RawQpu>) -> QpuRequest {
        let table_span = raw.span();
        let raw = raw.into_inner();
        let mut providers: Vec<Located<String>> = Vec::new();
        for p in raw.providers {
            let span = p.span();
            if !is_name(p.get_ref()) {
                self.error(
                    span,
                    format!("`{}` is not a provider name", p.get_ref()),
                    "use the provider's name from the workstation profile, e.g. `ibm`, `ionq` or `local`",
                );
            } else {
                providers.push(Located {
                    at: self.at(&span),
                    value: p.into_inner(),
                });
            }
        }
        let mut backends = Vec::new();
        for b in raw.backends {
            let span = b.span();
            match BackendRef::parse(b.get_ref()) {
                Ok(r) => {
                    if !providers.iter().any(|p| p.value == r.provider) {
                        self.error(
                            span.clone(),
                            format!(
                                "backend `{r}` names provider `{}`, which qpu.providers does not list",
                                r.provider
                            ),
                            "add the provider to qpu.providers, or remove the backend",
                        );
                    }
                    backends.push(Located {
                        value: r,
                        at: self.at(&span),
                    });
                }
                Err(e) => self.error(span, e, BACKEND_HINT),
            }
        }
        let max_shots = match (&raw.max_shots, backends.is_empty()) {
            (Some(s), _) if *s.get_ref() == 0 => {
                self.error(
                    s.span(),
                    "qpu.max_shots is 0".into(),
                    "give the most shots one job may use, e.g. `max_shots = 4000`",
                );
                0
            }
            (Some(s), _) => *s.get_ref(),
            (None, true) => 0,
            (None, false) => {
                self.error(
                    table_span.clone(),
                    "[qpu] lists backends but no max_shots".into(),
                    "add `max_shots = N`, the most shots one job may use",
                );
                0
            }
        };
        let budget = match (raw.budget, backends.is_empty()) {
            (Some(b), _) => {
                let span = b.span();
                let b = b.into_inner();
                for (key, value) in [("shots", b.shots), ("jobs", b.jobs)] {
                    if value == 0 {
                        self.error(
                            span.clone(),
                            format!("qpu.budget.{key} is 0"),
                            "give positive `shots` and `jobs` totals for the session",
                        );
                    }
                }
                if b.shots > 0 && max_shots > b.shots {
                    self.error(
                        span,
                        format!(
                            "qpu.max_shots ({max_shots}) is larger than the session budget qpu.budget.shots ({})",
                            b.shots
                        ),
                        "a single job can never use more than the whole session; lower max_shots or raise the budget",
                    );
                }
                b
            }
            (None, true) => Budget::default(),
            (None, false) => {
                self.error(
                    table_span,
                    "[qpu] lists backends but no session budget".into(),
                    "add `[qpu.budget]` with `shots = N` and `jobs = N` for the whole session",
                );
                Budget::default()
            }
        };
        QpuRequest {
            providers,
            backends,
            max_shots,
            budget,
        }
    }
}
