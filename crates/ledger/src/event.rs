//! Audit events: what the ledger records, and the exact bytes it records them as.
//!
//! Every log entry is one [`Event`] written as RFC 8785 canonical JSON ([`crate::jcs`]): one
//! JSON object, no whitespace, members sorted, so the same event is always the same bytes and the
//! log's hashes cover exactly what this page describes. [`Event::to_jcs`] writes an entry and
//! [`Event::from_jcs`] reads one back, strictly: an unknown kind or field, a missing field, a
//! value of the wrong type, a plain-text secret, or bytes that are not exactly what `to_jcs` would
//! write for the event they decode to (whitespace, member order, escapes, `null` for an absent
//! field, duplicate names) are all errors.
//!
//! # Envelope
//!
//! Every entry has these members; a kind's own fields sit beside them in the same object.
//!
//! | member | type | meaning |
//! |---|---|---|
//! | `v` | integer | schema version, always `1` for this schema ([`SCHEMA_VERSION`]) |
//! | `time` | string | when it happened: RFC 3339 in UTC with exactly nine fraction digits, `2026-05-01T12:00:00.000000123Z` ([`Timestamp`]) |
//! | `kind` | string | which event, from the table below ([`Kind`]) |
//! | `session` | string, optional | the session id, 1–128 bytes |
//! | `agent` | string, optional | the agent's name, 1–256 bytes |
//! | `details` | any JSON, optional | free-form context (e.g. a provider's response); subject to offloading and redaction like any payload |
//! | `body` | CAS reference, optional | present only when the kind's fields were too large for one entry and live in the CAS; then no kind field appears |
//!
//! Nanoseconds, not microseconds: that is what Linux clocks give, nothing is lost converting
//! from `SystemTime`, and a fixed width of nine digits means one canonical spelling per instant
//! and text order equal to time order. OCSF export converts to milliseconds.
//!
//! # Kinds
//!
//! Digests are `sha256:<64 lower-case hex>` ([`Digest`]); "ref" means the field may be a CAS
//! reference instead (see [Large payloads](#large-payloads)); a `?` marks an optional field,
//! which is left out (never `null`) when absent.
//!
//! | kind | fields | meaning |
//! |---|---|---|
//! | `session.start` | `manifest_digest`, `grant_digest`, `env_digest`: digest; `tier`: string; `isolation`?: string | A session began under this signed manifest and this grant, in an environment with this digest, on a workstation of this tier, isolated as described (e.g. `namespaces+landlock+seccomp`, or the degraded mode and why). |
//! | `session.end` | `exit`: `{"code": i32}`, `{"signal": i32}` or `{}` (unknown); `summary`: `{execs, file_reads, file_writes, net_allowed, net_denied, policy_denials, jobs, approvals, violations}` (counts); `write_set_digest`?: digest | The session ended: how its agent exited, what it did in total, and the digest of the write set handed to review. |
//! | `exec` | `pid`: u32; `argv`: list of strings (ref); `cwd`, `path`: string; `sha256`?: digest | A process in the sandbox executed `path` (resolved, absolute) with `argv` in `cwd`; `sha256` is the executable's digest when it could be read. |
//! | `file.write` | `op`: `create`/`modify`/`delete`/`rename`; `path`: string; `new_path`?: string (rename only, required there); `size`?: u64 (not for delete); `sha256_before`?: digest (not for create); `sha256_after`?: digest (not for delete); `pid`?: u32 | A file in a write scope changed. For a rename `path` is the old name. |
//! | `file.read` | `path`, `observer`: string; `pid`?: u32; `sha256`?: digest | A read that some mechanism saw (`observer` names it, e.g. `seccomp-notify`); reads are logged only where observed. |
//! | `env.change` | `changes`: list (ref) of `{"op":"set","name","value"}`, `{"op":"set","name","value_sha256"}` or `{"op":"unset","name"}`; `pid`?: u32 | Environment variables set or removed for the sandbox; see [Secrets](#secrets). |
//! | `net.decision` | `host`: string; `port`: u16; `address`?: IP address; `protocol`: string (`tcp`, `udp`, `dns`…); `verdict`: `allow`/`deny`; `rule`?: string; `bytes_up`, `bytes_down`, `duration_ms`: u64 | The egress proxy decided a connection to `host:port` (resolved to `address`) by `rule`, and how much went each way for how long. |
//! | `policy.decision` | `action`, `resource`: string; `outcome`: `allow`/`listed`/`capture`/`needs-approval`/`deny`; `policies`, `reasons`: lists of strings | The policy engine decided `action` on `resource`; `policies` are the ones that decided it, `reasons` any explanation or evaluation errors. |
//! | `job.submit` | `provider`, `backend`: string; `shots`: u64; `circuit_digest`: digest; `job_id`?: string; `calibration_digest`?, `request_digest`?: digest | A QPU job went to a provider's backend; `job_id` is the provider's id once known, `calibration_digest` the snapshot captured with it (the snapshot itself goes to the CAS), `request_digest` what approvals were bound to. |
//! | `job.status` | `provider`, `backend`, `job_id`: string; `state`: `submitted`/`queued`/`running`/`completed`/`failed`/`cancelled`; `provider_state`?: string; `calibration_digest`?: digest | A job changed state (`provider_state` is the provider's own word for it). |
//! | `approval` | `request_id`, `approver`: string; `decision`: `approve`/`reject`; `request_digest`?: digest | An approver approved or rejected a request. |
//! | `credential` | `action`: `mint`/`use`/`revoke`; `handle_digest`: digest; `provider`: string; `expires`?: time | A credential handle for `provider` was minted, used or revoked. Only the handle's SHA-256 is recorded, never the handle. |
//! | `violation` | `attempted`, `control`: string; `target`?: string; `pid`?: u32 | Something was attempted and `control` (e.g. `landlock`, `seccomp`, `egress`, `gateway`) blocked it. |
//!
//! Integers must be at most 2^53 − 1 so that any JSON reader gets them exactly.
//!
//! # Large payloads
//!
//! `exec.argv`, `env.change.changes` and `details` are payloads ([`Payload`]): when one's
//! canonical JSON is over 4 KiB ([`INLINE_LIMIT`]) `to_jcs` puts it in the content-addressed
//! store ([`crate::cas`]) and writes `{"cas": "sha256:<hex>", "size": N}` in its place. A
//! `details` value that happens to have exactly that shape is always stored, so a reference in
//! the log is always a reference. Calibration snapshots are stored by whoever captures them
//! (`BlobStore::put`) and named by `calibration_digest`.
//!
//! An entry must fit one `tlog-tiles` entry, at most 65535 bytes ([`MAX_ENTRY_SIZE`]). If even
//! after offloading payloads the entry is larger (say, a thousand reasons), the kind's fields
//! go to the CAS as one canonical JSON object (with its `kind`) and the entry keeps only the
//! envelope and `"body": {"cas": …, "size": …}`. The envelope is bounded, so this always fits.
//!
//! [`Event::from_jcs`] returns an entry as logged, references and all; [`Event::resolve`]
//! fetches them from a store (which checks each blob's hash) and returns the full event.
//!
//! # Secrets
//!
//! The value of an environment variable with a sensitive name is never stored, in the log or in
//! the CAS: `to_jcs` replaces it by `value_sha256`, the SHA-256 of its UTF-8 bytes, and
//! `from_jcs` rejects an entry that has a plain `value` for such a name. The same applies inside
//! `details`: every string under a member with a sensitive name becomes its digest. A hash lets
//! an investigator check whether a known leaked key was set, without the log holding it; note that
//! a low-entropy password could be guessed from its hash, which is why real provider keys never
//! enter a sandbox at all (agents get vault handles). Secrets that an agent passes on a command
//! line are recorded in `argv` as given.
//!
//! A name is sensitive ([`is_sensitive_name`]) when, compared upper-case:
//!
//! | rule | examples |
//! |---|---|
//! | it is `QISKIT_IBM_TOKEN`, `IONQ_API_KEY` or `DATABASE_URL` | |
//! | it starts with `AWS_` | `AWS_ACCESS_KEY_ID`, `AWS_SESSION_TOKEN`, `AWS_PROFILE` |
//! | it contains `TOKEN`, `SECRET`, `PASSWORD`, `PASSWD`, `PASSPHRASE`, `CREDENTIAL` or `PRIVATE` | `GITHUB_TOKEN`, `clientSecret`, `PGPASSWORD`, `GOOGLE_APPLICATION_CREDENTIALS`, `SSH_PRIVATE_KEY` |
//! | one of its words (split at `_`, `-`, `.`) ends in `KEY` or `KEYS` | `IONQ_API_KEY`, `OPENAI_APIKEY`, `x-api-key`, `apiKey` — but not `KEYBOARD`, `KEYMAP`, `XKB_KEYMAP`, `KEYRING_BACKEND` |
//! | one of its words is `AUTH`, `AUTHORIZATION`, `COOKIE`, `DSN`, `PASS`, `PAT` or `PWD` | `HTTP_AUTHORIZATION`, `SENTRY_DSN`, `SMTP_PASS`, `GH_PAT`, `MYSQL_PWD` — but the names `PWD` and `OLDPWD` (working directories) are not sensitive |
//!
//! The rule errs towards hashing: a false positive costs a readable value, a false negative a
//! leaked secret. It is part of schema version 1; changing it means a new version.

use crate::cas::{BlobStore, CasError, Digest};
use crate::jcs::{self, JcsError};
use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// The schema version this code writes and reads (the `v` member).
pub const SCHEMA_VERSION: u64 = 1;

/// A payload whose canonical JSON is longer than this many bytes goes to the CAS.
pub const INLINE_LIMIT: usize = 4096;

/// The largest entry the log holds: a `tlog-tiles` entry is at most 65535 bytes.
pub const MAX_ENTRY_SIZE: usize = 65535;

/// The longest session id, in bytes.
pub const MAX_SESSION_LEN: usize = 128;

/// The longest agent name, in bytes.
pub const MAX_AGENT_LEN: usize = 256;

/// Members of the envelope; no kind may use these names for its fields.
const ENVELOPE: [&str; 7] = ["v", "time", "kind", "session", "agent", "details", "body"];

/// Why an event could not be written, read or resolved.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The bytes are not JSON (or not JSON that canonical form allows).
    #[error("entry is not valid JSON: {0}")]
    Json(#[source] JcsError),
    /// The entry is not a JSON object.
    #[error("entry is not a JSON object")]
    NotAnObject,
    /// The entry is longer than a log entry may be.
    #[error("entry is {size} bytes, more than the {max} bytes one log entry can hold")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The entry was written by a schema this code does not know.
    #[error(
        "entry has schema version `{found}`, but this qwarden reads version {SCHEMA_VERSION}; read it with a newer qwarden"
    )]
    Version {
        /// What the entry says.
        found: String,
    },
    /// A required envelope member is absent.
    #[error("entry has no `{field}` member")]
    Missing {
        /// The member's name.
        field: &'static str,
    },
    /// An envelope member has the wrong type or an invalid value.
    #[error("entry member `{field}` is invalid: {reason}")]
    Envelope {
        /// The member's name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The `kind` is not one this schema defines.
    #[error("unknown event kind `{kind}`; known kinds are {}", Kind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))]
    UnknownKind {
        /// The kind as written (cut to 80 characters).
        kind: String,
    },
    /// The kind's fields do not match its schema.
    #[error("`{kind}` event is invalid: {reason}")]
    Body {
        /// The event's kind.
        kind: Kind,
        /// What is wrong (missing, unknown or mistyped field).
        reason: String,
    },
    /// A time that is not in the schema's format or range.
    #[error("time `{value}` is invalid: {reason}")]
    Time {
        /// The time as written (cut to 80 characters).
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A plain-text value where the schema requires its hash.
    #[error(
        "`{name}` has a sensitive name but its value is in plain text; only its `sha256:` digest may be stored"
    )]
    PlainSecret {
        /// The variable or member name.
        name: String,
    },
    /// The bytes decode to an event, but are not the bytes that event is written as.
    #[error(
        "entry is not in canonical form (RFC 8785 JSON exactly as qwarden writes it): first difference at byte {offset}"
    )]
    NotCanonical {
        /// The first byte that differs from the canonical encoding.
        offset: usize,
    },
    /// A payload that should have gone to the CAS is inline.
    #[error(
        "`{field}` is {size} bytes inline, over the {INLINE_LIMIT}-byte limit; it must be a CAS reference"
    )]
    InlineTooLarge {
        /// The payload field.
        field: &'static str,
        /// Its canonical size.
        size: usize,
    },
    /// A referenced blob is not what the reference promises.
    #[error("blob `{digest}` is not a valid payload: {reason}")]
    Blob {
        /// The blob's digest.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// The event could not be put in canonical JSON.
    #[error("cannot write the event as canonical JSON: {0}")]
    Encode(#[source] JcsError),
    /// The content store failed.
    #[error(transparent)]
    Cas(#[from] CasError),
}

/// Keeps error messages short when the input is long or hostile.
fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    let mut out = printable(&s.chars().take(MAX).collect::<String>());
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

/// Text from an entry as it may appear in an error message: control characters escaped, so that
/// a hostile entry cannot send escape sequences to the terminal that shows the error.
fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// A point in time, UTC, with nanoseconds; years 0000–9999.
///
/// Written `YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ`: RFC 3339, always nine fraction digits and `Z`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp(OffsetDateTime::now_utc())
    }

    /// The time `nanos` nanoseconds after 1970-01-01T00:00:00Z.
    pub fn from_unix_nanos(nanos: i128) -> Result<Timestamp, EventError> {
        let err = |reason: &str| EventError::Time {
            value: nanos.to_string(),
            reason: reason.to_owned(),
        };
        let t =
            OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| err("out of range"))?;
        if !(0..=9999).contains(&t.year()) {
            return Err(err("outside the years 0000–9999"));
        }
        Ok(Timestamp(t))
    }

    /// Nanoseconds since 1970-01-01T00:00:00Z.
    pub fn unix_nanos(&self) -> i128 {
        self.0.unix_timestamp_nanos()
    }

    /// Milliseconds since 1970-01-01T00:00:00Z, rounded down.
    pub fn unix_millis(&self) -> i64 {
        i64::try_from(self.unix_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.nanosecond()
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl FromStr for Timestamp {
    type Err = EventError;

    fn from_str(s: &str) -> Result<Timestamp, EventError> {
        let err = |reason: &str| EventError::Time {
            value: shorten(s),
            reason: reason.to_owned(),
        };
        let format = "expected `YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ` (UTC, nine fraction digits)";
        let b = s.as_bytes();
        let seps = [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (29, b'Z'),
        ];
        if b.len() != 30 || seps.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
            return Err(err(format));
        }
        let num = |from: usize, to: usize| -> Option<u32> {
            let digits = b.get(from..to)?;
            digits.iter().try_fold(0u32, |acc, &d| {
                d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
            })
        };
        let field = |from, to| num(from, to).ok_or_else(|| err(format));
        let (year, month, day) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
        let (hour, minute, second, nanos) = (
            field(11, 13)?,
            field(14, 16)?,
            field(17, 19)?,
            field(20, 29)?,
        );
        let not_a_time = |_| err("not a valid date and time");
        let month = u8::try_from(month)
            .map_err(|_| err(format))
            .and_then(|m| Month::try_from(m).map_err(not_a_time))?;
        let narrow = |v: u32| u8::try_from(v).map_err(|_| err(format));
        let year = i32::try_from(year).map_err(|_| err(format))?;
        let date = Date::from_calendar_date(year, month, narrow(day)?).map_err(not_a_time)?;
        let time = Time::from_hms_nano(narrow(hour)?, narrow(minute)?, narrow(second)?, nanos)
            .map_err(not_a_time)?;
        Ok(Timestamp(PrimitiveDateTime::new(date, time).assume_utc()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// Which event an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `session.start`
    SessionStart,
    /// `session.end`
    SessionEnd,
    /// `exec`
    Exec,
    /// `file.write`
    FileWrite,
    /// `file.read`
    FileRead,
    /// `env.change`
    EnvChange,
    /// `net.decision`
    NetDecision,
    /// `policy.decision`
    PolicyDecision,
    /// `job.submit`
    JobSubmit,
    /// `job.status`
    JobStatus,
    /// `approval`
    Approval,
    /// `credential`
    Credential,
    /// `violation`
    Violation,
}

impl Kind {
    /// Every kind, in schema order.
    pub const ALL: [Kind; 13] = [
        Kind::SessionStart,
        Kind::SessionEnd,
        Kind::Exec,
        Kind::FileWrite,
        Kind::FileRead,
        Kind::EnvChange,
        Kind::NetDecision,
        Kind::PolicyDecision,
        Kind::JobSubmit,
        Kind::JobStatus,
        Kind::Approval,
        Kind::Credential,
        Kind::Violation,
    ];

    /// The kind as written in entries, e.g. `session.start`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::SessionStart => "session.start",
            Kind::SessionEnd => "session.end",
            Kind::Exec => "exec",
            Kind::FileWrite => "file.write",
            Kind::FileRead => "file.read",
            Kind::EnvChange => "env.change",
            Kind::NetDecision => "net.decision",
            Kind::PolicyDecision => "policy.decision",
            Kind::JobSubmit => "job.submit",
            Kind::JobStatus => "job.status",
            Kind::Approval => "approval",
            Kind::Credential => "credential",
            Kind::Violation => "violation",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = EventError;

    fn from_str(s: &str) -> Result<Kind, EventError> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| EventError::UnknownKind { kind: shorten(s) })
    }
}

/// Where a payload moved to the CAS now lives: written `{"cas": "sha256:<hex>", "size": N}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobRef {
    /// The digest of the payload's canonical JSON.
    #[serde(rename = "cas")]
    pub digest: Digest,
    /// Its length in bytes.
    pub size: u64,
}

/// A field that is either inline or, when large, a reference to the CAS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload<T> {
    /// The value itself.
    Inline(T),
    /// The value's canonical JSON is in the CAS.
    Stored(BlobRef),
}

impl<T> Payload<T> {
    /// The value, if inline.
    pub fn inline(&self) -> Option<&T> {
        match self {
            Payload::Inline(v) => Some(v),
            Payload::Stored(_) => None,
        }
    }

    /// The reference, if stored.
    pub fn stored(&self) -> Option<&BlobRef> {
        match self {
            Payload::Inline(_) => None,
            Payload::Stored(r) => Some(r),
        }
    }
}

impl<T> From<T> for Payload<T> {
    fn from(v: T) -> Payload<T> {
        Payload::Inline(v)
    }
}

impl<T: Serialize> Serialize for Payload<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Inline(v) => v.serialize(s),
            Payload::Stored(r) => r.serialize(s),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Payload<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Payload<T>, D::Error> {
        let v = Value::deserialize(d)?;
        if is_ref_shaped(&v) {
            BlobRef::deserialize(v)
                .map(Payload::Stored)
                .map_err(de::Error::custom)
        } else {
            T::deserialize(v)
                .map(Payload::Inline)
                .map_err(de::Error::custom)
        }
    }
}

/// Whether `v` looks like a CAS reference: an object with exactly `cas` and `size`.
fn is_ref_shaped(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == 2 && m.contains_key("cas") && m.contains_key("size"))
}

/// Allowed or denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// `allow`
    Allow,
    /// `deny`
    Deny,
}

/// `session.start`: a session began.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionStart {
    /// Digest of the agent capability manifest.
    pub manifest_digest: Digest,
    /// Digest of the grant the policy produced.
    pub grant_digest: Digest,
    /// Digest of the environment manifest.
    pub env_digest: Digest,
    /// The workstation tier, e.g. `sandbox`, `staging`, `prod`.
    pub tier: String,
    /// How the session is isolated, including any degraded mode and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
}

/// How a process ended: by exit code, by signal, or unknown (both absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitStatus {
    /// The exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// The signal that killed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

/// What a session did, in counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSummary {
    /// Programs executed.
    pub execs: u64,
    /// Observed file reads.
    pub file_reads: u64,
    /// File writes.
    pub file_writes: u64,
    /// Connections allowed.
    pub net_allowed: u64,
    /// Connections denied.
    pub net_denied: u64,
    /// Policy decisions that denied.
    pub policy_denials: u64,
    /// QPU jobs submitted.
    pub jobs: u64,
    /// Approvals given or refused.
    pub approvals: u64,
    /// Violations blocked.
    pub violations: u64,
}

/// `session.end`: a session ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEnd {
    /// How the agent exited.
    pub exit: ExitStatus,
    /// What the session did.
    pub summary: SessionSummary,
    /// Digest of the write set handed to review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_set_digest: Option<Digest>,
}

/// `exec`: a program was executed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exec {
    /// The process id.
    pub pid: u32,
    /// The arguments, program name first.
    pub argv: Payload<Vec<String>>,
    /// The working directory.
    pub cwd: String,
    /// The resolved, absolute path of the executable.
    pub path: String,
    /// The executable's digest, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
}

/// What happened to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOp {
    /// `create`
    Create,
    /// `modify`
    Modify,
    /// `delete`
    Delete,
    /// `rename`
    Rename,
}

/// `file.write`: a file changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWrite {
    /// What happened.
    pub op: FileOp,
    /// The file (for a rename, its old name).
    pub path: String,
    /// The new name (renames only, and required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_path: Option<String>,
    /// The size afterwards, in bytes (not for deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The digest before (not for creates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256_before: Option<Digest>,
    /// The digest afterwards (not for deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256_after: Option<Digest>,
    /// The process that did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// `file.read`: a read that some mechanism observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRead {
    /// The file.
    pub path: String,
    /// What observed the read, e.g. `seccomp-notify`.
    pub observer: String,
    /// The process that read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The file's digest, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
}

/// An environment variable's recorded value.
#[derive(Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// The value as set (only for names that are not sensitive).
    Plain(String),
    /// The SHA-256 of the value's UTF-8 bytes.
    Hashed(Digest),
}

/// One change to the environment.
#[derive(Clone, PartialEq, Eq)]
pub enum EnvVar {
    /// A variable was set.
    Set {
        /// Its name.
        name: String,
        /// Its value, or the value's hash.
        value: EnvValue,
    },
    /// A variable was removed.
    Unset {
        /// Its name.
        name: String,
    },
}

impl EnvVar {
    /// A variable set to `value`; the value is replaced by its hash if the name is sensitive.
    pub fn set(name: impl Into<String>, value: &str) -> EnvVar {
        let name = name.into();
        let value = if is_sensitive_name(&name) {
            EnvValue::Hashed(Digest::of(value.as_bytes()))
        } else {
            EnvValue::Plain(value.to_owned())
        };
        EnvVar::Set { name, value }
    }

    /// A variable removed.
    pub fn unset(name: impl Into<String>) -> EnvVar {
        EnvVar::Unset { name: name.into() }
    }

    /// The variable's name.
    pub fn name(&self) -> &str {
        match self {
            EnvVar::Set { name, .. } | EnvVar::Unset { name } => name,
        }
    }
}

impl fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvVar::Set {
                name,
                value: EnvValue::Plain(v),
            } if !is_sensitive_name(name) => write!(f, "set {name}={v:?}"),
            EnvVar::Set {
                name,
                value: EnvValue::Plain(_),
            } => write!(f, "set {name}=<redacted>"),
            EnvVar::Set {
                name,
                value: EnvValue::Hashed(d),
            } => write!(f, "set {name} ({d})"),
            EnvVar::Unset { name } => write!(f, "unset {name}"),
        }
    }
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvValue::Plain(_) => f.write_str("Plain(<value>)"),
            EnvValue::Hashed(d) => write!(f, "Hashed({d})"),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EnvOp {
    Set,
    Unset,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvVarRepr {
    op: EnvOp,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value_sha256: Option<Digest>,
}

impl Serialize for EnvVar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let repr = match self {
            EnvVar::Set {
                name,
                value: EnvValue::Plain(v),
            } => EnvVarRepr {
                op: EnvOp::Set,
                name: name.clone(),
                value: Some(v.clone()),
                value_sha256: None,
            },
            EnvVar::Set {
                name,
                value: EnvValue::Hashed(d),
            } => EnvVarRepr {
                op: EnvOp::Set,
                name: name.clone(),
                value: None,
                value_sha256: Some(*d),
            },
            EnvVar::Unset { name } => EnvVarRepr {
                op: EnvOp::Unset,
                name: name.clone(),
                value: None,
                value_sha256: None,
            },
        };
        repr.serialize(s)
    }
}

impl<'de> Deserialize<'de> for EnvVar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EnvVar, D::Error> {
        let r = EnvVarRepr::deserialize(d)?;
        match (r.op, r.value, r.value_sha256) {
            (EnvOp::Set, Some(v), None) => Ok(EnvVar::Set {
                name: r.name,
                value: EnvValue::Plain(v),
            }),
            (EnvOp::Set, None, Some(h)) => Ok(EnvVar::Set {
                name: r.name,
                value: EnvValue::Hashed(h),
            }),
            (EnvOp::Set, _, _) => Err(de::Error::custom(format_args!(
                "setting `{}` needs exactly one of `value` and `value_sha256`",
                shorten(&r.name)
            ))),
            (EnvOp::Unset, None, None) => Ok(EnvVar::Unset { name: r.name }),
            (EnvOp::Unset, _, _) => Err(de::Error::custom(format_args!(
                "unsetting `{}` takes no value",
                shorten(&r.name)
            ))),
        }
    }
}

/// `env.change`: environment variables set or removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvChange {
    /// The changes, in order.
    pub changes: Payload<Vec<EnvVar>>,
    /// The process whose environment changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// `net.decision`: the egress proxy decided a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetDecision {
    /// The host asked for.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The address it resolved to (and was pinned to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
    /// `tcp`, `udp`, `dns`…
    pub protocol: String,
    /// Allowed or denied.
    pub verdict: Verdict,
    /// The rule that decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Bytes sent by the sandbox.
    pub bytes_up: u64,
    /// Bytes received by the sandbox.
    pub bytes_down: u64,
    /// How long the connection lasted, in milliseconds.
    pub duration_ms: u64,
}

/// What the policy engine decided (the same outcomes as `qwarden policy check`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyOutcome {
    /// `allow`
    Allow,
    /// `listed`: allowed, and listed in the session summary for review.
    Listed,
    /// `capture`: allowed into a copy that becomes a branch for review.
    Capture,
    /// `needs-approval`: held until enough humans approve.
    NeedsApproval,
    /// `deny`
    Deny,
}

impl PolicyOutcome {
    /// Whether the action may go ahead (possibly in a restricted form) without waiting.
    pub fn is_allowed(self) -> bool {
        matches!(
            self,
            PolicyOutcome::Allow | PolicyOutcome::Listed | PolicyOutcome::Capture
        )
    }
}

/// `policy.decision`: the policy engine decided an action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDecision {
    /// The action, e.g. `job.submit`.
    pub action: String,
    /// What it acts on, e.g. `ibm/ibm_torino`.
    pub resource: String,
    /// What was decided.
    pub outcome: PolicyOutcome,
    /// The policies that decided it.
    pub policies: Vec<String>,
    /// Explanations and evaluation errors.
    pub reasons: Vec<String>,
}

/// `job.submit`: a QPU job was submitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSubmit {
    /// The provider, e.g. `ibm`, `ionq`, `local`.
    pub provider: String,
    /// The backend.
    pub backend: String,
    /// The number of shots.
    pub shots: u64,
    /// Digest of the circuit as submitted.
    pub circuit_digest: Digest,
    /// The provider's job id, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Digest of the calibration snapshot captured with the job (the snapshot is in the CAS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_digest: Option<Digest>,
    /// Digest of the request that approvals were bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_digest: Option<Digest>,
}

/// A job's state, normalised across providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// `submitted`
    Submitted,
    /// `queued`
    Queued,
    /// `running`
    Running,
    /// `completed`
    Completed,
    /// `failed`
    Failed,
    /// `cancelled`
    Cancelled,
}

/// `job.status`: a job changed state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobStatus {
    /// The provider.
    pub provider: String,
    /// The backend.
    pub backend: String,
    /// The provider's job id.
    pub job_id: String,
    /// The normalised state.
    pub state: JobState,
    /// The provider's own word for the state, e.g. `DONE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_state: Option<String>,
    /// Digest of the calibration snapshot in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_digest: Option<Digest>,
}

/// An approver's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// `approve`
    Approve,
    /// `reject`
    Reject,
}

/// `approval`: an approver answered a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The request's id.
    pub request_id: String,
    /// Who answered (name or key fingerprint).
    pub approver: String,
    /// The answer.
    pub decision: ApprovalDecision,
    /// Digest of the request that was approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_digest: Option<Digest>,
}

/// What happened to a credential handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialAction {
    /// `mint`
    Mint,
    /// `use`
    Use,
    /// `revoke`
    Revoke,
}

/// `credential`: a credential handle was minted, used or revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// What happened.
    pub action: CredentialAction,
    /// The SHA-256 of the handle; the handle itself is never recorded.
    pub handle_digest: Digest,
    /// The provider the handle stands for.
    pub provider: String,
    /// When the handle expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
}

impl Credential {
    /// An event for `handle`, recording only its hash.
    pub fn for_handle(
        action: CredentialAction,
        handle: &str,
        provider: impl Into<String>,
        expires: Option<Timestamp>,
    ) -> Credential {
        Credential {
            action,
            handle_digest: Digest::of(handle.as_bytes()),
            provider: provider.into(),
            expires,
        }
    }
}

/// `violation`: a control blocked an attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Violation {
    /// What was attempted, e.g. `connect 169.254.169.254:80`.
    pub attempted: String,
    /// The control that blocked it, e.g. `landlock`, `seccomp`, `egress`, `gateway`.
    pub control: String,
    /// The object of the attempt, e.g. a path or host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The process that tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// An event's kind-specific fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `session.start`
    SessionStart(SessionStart),
    /// `session.end`
    SessionEnd(SessionEnd),
    /// `exec`
    Exec(Exec),
    /// `file.write`
    FileWrite(FileWrite),
    /// `file.read`
    FileRead(FileRead),
    /// `env.change`
    EnvChange(EnvChange),
    /// `net.decision`
    NetDecision(NetDecision),
    /// `policy.decision`
    PolicyDecision(PolicyDecision),
    /// `job.submit`
    JobSubmit(JobSubmit),
    /// `job.status`
    JobStatus(JobStatus),
    /// `approval`
    Approval(Approval),
    /// `credential`
    Credential(Credential),
    /// `violation`
    Violation(Violation),
    /// The fields were too large for one entry and are in the CAS ([`Event::resolve`]).
    Stored {
        /// The event's kind.
        kind: Kind,
        /// Where its fields are.
        blob: BlobRef,
    },
}

impl Body {
    /// The event's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Body::SessionStart(_) => Kind::SessionStart,
            Body::SessionEnd(_) => Kind::SessionEnd,
            Body::Exec(_) => Kind::Exec,
            Body::FileWrite(_) => Kind::FileWrite,
            Body::FileRead(_) => Kind::FileRead,
            Body::EnvChange(_) => Kind::EnvChange,
            Body::NetDecision(_) => Kind::NetDecision,
            Body::PolicyDecision(_) => Kind::PolicyDecision,
            Body::JobSubmit(_) => Kind::JobSubmit,
            Body::JobStatus(_) => Kind::JobStatus,
            Body::Approval(_) => Kind::Approval,
            Body::Credential(_) => Kind::Credential,
            Body::Violation(_) => Kind::Violation,
            Body::Stored { kind, .. } => *kind,
        }
    }
}

macro_rules! body_from {
    ($($t:ident),*) => {$(
        impl From<$t> for Body {
            fn from(b: $t) -> Body {
                Body::$t(b)
            }
        }
    )*};
}
body_from!(
    SessionStart,
    SessionEnd,
    Exec,
    FileWrite,
    FileRead,
    EnvChange,
    NetDecision,
    PolicyDecision,
    JobSubmit,
    JobStatus,
    Approval,
    Credential,
    Violation
);

/// One audit event: the envelope (time, session, agent, details) and the kind's fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// When it happened.
    pub time: Timestamp,
    /// The session it belongs to.
    pub session: Option<String>,
    /// The agent's name.
    pub agent: Option<String>,
    /// The kind and its fields.
    pub body: Body,
    /// Free-form context.
    pub details: Option<Payload<Value>>,
}

impl Event {
    /// An event with no session, agent or details.
    pub fn new(time: Timestamp, body: impl Into<Body>) -> Event {
        Event {
            time,
            session: None,
            agent: None,
            body: body.into(),
            details: None,
        }
    }

    /// The same event in session `session`.
    #[must_use]
    pub fn with_session(mut self, session: impl Into<String>) -> Event {
        self.session = Some(session.into());
        self
    }

    /// The same event by agent `agent`.
    #[must_use]
    pub fn with_agent(mut self, agent: impl Into<String>) -> Event {
        self.agent = Some(agent.into());
        self
    }

    /// The same event with `details`.
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Event {
        self.details = Some(Payload::Inline(details));
        self
    }

    /// The event's kind.
    pub fn kind(&self) -> Kind {
        self.body.kind()
    }

    /// Whether every payload and the body are inline (nothing to fetch from the CAS).
    pub fn is_resolved(&self) -> bool {
        let payloads_inline = match &self.body {
            Body::Stored { .. } => false,
            Body::Exec(e) => e.argv.inline().is_some(),
            Body::EnvChange(e) => e.changes.inline().is_some(),
            _ => true,
        };
        payloads_inline && self.details.as_ref().is_none_or(|d| d.inline().is_some())
    }

    /// The log entry for this event: canonical JSON, secrets hashed, payloads over
    /// [`INLINE_LIMIT`] moved to `cas`, and at most [`MAX_ENTRY_SIZE`] bytes.
    pub fn to_jcs(&self, cas: &mut impl BlobStore) -> Result<Vec<u8>, EventError> {
        let mut e = self.clone();
        e.redact();
        e.validate()?;
        e.offload_payloads(cas)?;
        let bytes = e.encode()?;
        if bytes.len() <= MAX_ENTRY_SIZE {
            return Ok(bytes);
        }
        let kind = e.kind();
        if let Body::Stored { .. } = e.body {
            return Err(EventError::TooLarge {
                size: bytes.len(),
                max: MAX_ENTRY_SIZE,
            });
        }
        let mut fields = body_map(&e.body)?;
        fields.insert("kind".to_owned(), Value::String(kind.as_str().to_owned()));
        let blob = jcs::to_vec(&Value::Object(fields)).map_err(EventError::Encode)?;
        let digest = cas.put(&blob)?;
        e.body = Body::Stored {
            kind,
            blob: BlobRef {
                digest,
                size: blob.len() as u64,
            },
        };
        let bytes = e.encode()?;
        if bytes.len() > MAX_ENTRY_SIZE {
            return Err(EventError::TooLarge {
                size: bytes.len(),
                max: MAX_ENTRY_SIZE,
            });
        }
        Ok(bytes)
    }

    /// Reads a log entry, strictly (see the module documentation). References to the CAS are
    /// returned as they are; [`Event::resolve`] fetches them.
    pub fn from_jcs(bytes: &[u8]) -> Result<Event, EventError> {
        if bytes.len() > MAX_ENTRY_SIZE {
            return Err(EventError::TooLarge {
                size: bytes.len(),
                max: MAX_ENTRY_SIZE,
            });
        }
        let Value::Object(mut map) = jcs::parse(bytes).map_err(EventError::Json)? else {
            return Err(EventError::NotAnObject);
        };
        let version = map.remove("v").ok_or(EventError::Missing { field: "v" })?;
        if version.as_u64() != Some(SCHEMA_VERSION) {
            return Err(EventError::Version {
                found: shorten(&version.to_string()),
            });
        }
        let time = match map.remove("time") {
            Some(Value::String(s)) => s.parse()?,
            Some(_) => return Err(envelope("time", "not a string")),
            None => return Err(EventError::Missing { field: "time" }),
        };
        let kind: Kind = match map.remove("kind") {
            Some(Value::String(s)) => s.parse()?,
            Some(_) => return Err(envelope("kind", "not a string")),
            None => return Err(EventError::Missing { field: "kind" }),
        };
        let session = optional_string(&mut map, "session")?;
        let agent = optional_string(&mut map, "agent")?;
        let details = match map.remove("details") {
            Some(v) => Some(
                Payload::<Value>::deserialize(v)
                    .map_err(|e| envelope("details", &e.to_string()))?,
            ),
            None => None,
        };
        let body = match map.remove("body") {
            Some(v) => {
                if let Some(extra) = map.keys().next() {
                    return Err(EventError::Body {
                        kind,
                        reason: format!(
                            "a stored body leaves no fields in the entry, but it has `{}`",
                            shorten(extra)
                        ),
                    });
                }
                let blob = BlobRef::deserialize(v).map_err(|e| envelope("body", &e.to_string()))?;
                Body::Stored { kind, blob }
            }
            None => parse_body(kind, map)?,
        };
        let event = Event {
            time,
            session,
            agent,
            body,
            details,
        };
        event.validate()?;
        event.check_inline_sizes()?;
        let canonical = event.encode()?;
        if canonical != bytes {
            let offset = canonical
                .iter()
                .zip(bytes)
                .position(|(a, b)| a != b)
                .unwrap_or(canonical.len().min(bytes.len()));
            return Err(EventError::NotCanonical { offset });
        }
        Ok(event)
    }

    /// The same event with every CAS reference replaced by what it refers to, each blob checked
    /// against its digest and size.
    pub fn resolve(&self, cas: &impl BlobStore) -> Result<Event, EventError> {
        let mut e = self.clone();
        if let Body::Stored { kind, blob } = e.body {
            let Value::Object(mut fields) = fetch(cas, &blob)? else {
                return Err(EventError::Blob {
                    digest: blob.digest,
                    reason: "the stored body is not a JSON object".into(),
                });
            };
            match fields.remove("kind") {
                Some(Value::String(k)) if k == kind.as_str() => {}
                other => {
                    let found =
                        other.map_or_else(|| "no kind".to_owned(), |v| shorten(&v.to_string()));
                    return Err(EventError::Blob {
                        digest: blob.digest,
                        reason: format!(
                            "the stored body is of kind {found}, but the entry says `{kind}`"
                        ),
                    });
                }
            }
            e.body = parse_body(kind, fields)?;
        }
        match &mut e.body {
            Body::Exec(x) => resolve_payload(&mut x.argv, cas)?,
            Body::EnvChange(x) => resolve_payload(&mut x.changes, cas)?,
            _ => {}
        }
        if let Some(d) = &mut e.details {
            resolve_payload(d, cas)?;
        }
        e.validate()?;
        Ok(e)
    }

    /// Replaces secrets by their hashes.
    fn redact(&mut self) {
        if let Body::EnvChange(EnvChange {
            changes: Payload::Inline(vars),
            ..
        }) = &mut self.body
        {
            for var in vars.iter_mut() {
                if let EnvVar::Set { name, value } = var
                    && let EnvValue::Plain(plain) = value
                    && is_sensitive_name(name)
                {
                    *value = EnvValue::Hashed(Digest::of(plain.as_bytes()));
                }
            }
        }
        if let Some(Payload::Inline(details)) = &mut self.details {
            redact_json(details, false, 0);
        }
    }

    /// Moves payloads over the inline limit (and ref-shaped `details`) to `cas`.
    fn offload_payloads(&mut self, cas: &mut impl BlobStore) -> Result<(), EventError> {
        match &mut self.body {
            Body::Exec(x) => offload(&mut x.argv, cas, false)?,
            Body::EnvChange(x) => offload(&mut x.changes, cas, false)?,
            _ => {}
        }
        if let Some(d) = &mut self.details {
            offload(d, cas, true)?;
        }
        Ok(())
    }

    /// The canonical bytes of the event exactly as it is (nothing offloaded or redacted).
    fn encode(&self) -> Result<Vec<u8>, EventError> {
        let mut map = match &self.body {
            Body::Stored { blob, .. } => {
                let mut m = Map::new();
                m.insert("body".to_owned(), to_value(blob)?);
                m
            }
            other => body_map(other)?,
        };
        map.insert("v".to_owned(), Value::from(SCHEMA_VERSION));
        map.insert("time".to_owned(), Value::String(self.time.to_string()));
        map.insert(
            "kind".to_owned(),
            Value::String(self.kind().as_str().to_owned()),
        );
        if let Some(s) = &self.session {
            map.insert("session".to_owned(), Value::String(s.clone()));
        }
        if let Some(a) = &self.agent {
            map.insert("agent".to_owned(), Value::String(a.clone()));
        }
        if let Some(d) = &self.details {
            map.insert("details".to_owned(), to_value(d)?);
        }
        jcs::to_vec(&Value::Object(map)).map_err(EventError::Encode)
    }

    /// Checks the rules that the types alone do not enforce.
    fn validate(&self) -> Result<(), EventError> {
        let text = |field: &'static str, value: &str, max: usize| {
            if value.is_empty() || value.len() > max {
                Err(envelope(
                    field,
                    &format!("must be 1 to {max} bytes, not {}", value.len()),
                ))
            } else {
                Ok(())
            }
        };
        if let Some(s) = &self.session {
            text("session", s, MAX_SESSION_LEN)?;
        }
        if let Some(a) = &self.agent {
            text("agent", a, MAX_AGENT_LEN)?;
        }
        if let Some(Payload::Inline(Value::Null)) = &self.details {
            return Err(envelope("details", "is null; leave it out instead"));
        }
        if let Some(Payload::Inline(d)) = &self.details
            && let Some(name) = plain_secret_in(d, None, 0)
        {
            return Err(EventError::PlainSecret {
                name: shorten(&name),
            });
        }
        let kind = self.kind();
        let invalid = |reason: String| EventError::Body { kind, reason };
        let nonempty = |pairs: &[(&str, &str)]| match pairs.iter().find(|(_, v)| v.is_empty()) {
            Some((field, _)) => Err(invalid(format!("`{field}` is empty"))),
            None => Ok(()),
        };
        match &self.body {
            Body::SessionStart(b) => nonempty(&[("tier", &b.tier)])?,
            Body::SessionEnd(b) => {
                if b.exit.code.is_some() && b.exit.signal.is_some() {
                    return Err(invalid(
                        "`exit` has both a code and a signal; a process ends by one or the other"
                            .into(),
                    ));
                }
            }
            Body::Exec(b) => {
                nonempty(&[("cwd", &b.cwd), ("path", &b.path)])?;
                if b.argv.inline().is_some_and(Vec::is_empty) {
                    return Err(invalid(
                        "`argv` is empty; it holds at least the program name".into(),
                    ));
                }
            }
            Body::FileWrite(b) => {
                nonempty(&[("path", &b.path)])?;
                let rule = match b.op {
                    FileOp::Rename if b.new_path.is_none() => Some("a rename needs `new_path`"),
                    FileOp::Create | FileOp::Modify | FileOp::Delete if b.new_path.is_some() => {
                        Some("only a rename has `new_path`")
                    }
                    FileOp::Create if b.sha256_before.is_some() => {
                        Some("a created file has no `sha256_before`")
                    }
                    FileOp::Delete if b.sha256_after.is_some() || b.size.is_some() => {
                        Some("a deleted file has no `sha256_after` or `size`")
                    }
                    _ => None,
                };
                if let Some(rule) = rule {
                    return Err(invalid(rule.to_owned()));
                }
                if b.new_path.as_deref() == Some("") {
                    return Err(invalid("`new_path` is empty".into()));
                }
            }
            Body::FileRead(b) => nonempty(&[("path", &b.path), ("observer", &b.observer)])?,
            Body::EnvChange(b) => {
                for var in b.changes.inline().into_iter().flatten() {
                    let name = var.name();
                    if name.is_empty() || name.contains('=') || name.contains('\0') {
                        return Err(invalid(format!(
                            "`{}` is not a variable name",
                            shorten(name)
                        )));
                    }
                    if let EnvVar::Set {
                        value: EnvValue::Plain(_),
                        ..
                    } = var
                        && is_sensitive_name(name)
                    {
                        return Err(EventError::PlainSecret {
                            name: shorten(name),
                        });
                    }
                }
            }
            Body::NetDecision(b) => nonempty(&[("host", &b.host), ("protocol", &b.protocol)])?,
            Body::PolicyDecision(b) => {
                nonempty(&[("action", &b.action), ("resource", &b.resource)])?
            }
            Body::JobSubmit(b) => {
                nonempty(&[("provider", &b.provider), ("backend", &b.backend)])?;
                if b.job_id.as_deref() == Some("") {
                    return Err(invalid("`job_id` is empty".into()));
                }
            }
            Body::JobStatus(b) => nonempty(&[
                ("provider", &b.provider),
                ("backend", &b.backend),
                ("job_id", &b.job_id),
            ])?,
            Body::Approval(b) => {
                nonempty(&[("request_id", &b.request_id), ("approver", &b.approver)])?
            }
            Body::Credential(b) => nonempty(&[("provider", &b.provider)])?,
            Body::Violation(b) => {
                nonempty(&[("attempted", &b.attempted), ("control", &b.control)])?
            }
            Body::Stored { .. } => {}
        }
        Ok(())
    }

    /// On read: inline payloads must be small enough that `to_jcs` would have kept them inline.
    fn check_inline_sizes(&self) -> Result<(), EventError> {
        let check = |field: &'static str, value: Value| -> Result<(), EventError> {
            let size = jcs::to_vec(&value).map_err(EventError::Encode)?.len();
            if size > INLINE_LIMIT {
                Err(EventError::InlineTooLarge { field, size })
            } else {
                Ok(())
            }
        };
        match &self.body {
            Body::Exec(Exec {
                argv: Payload::Inline(v),
                ..
            }) => check("argv", to_value(v)?)?,
            Body::EnvChange(EnvChange {
                changes: Payload::Inline(v),
                ..
            }) => check("changes", to_value(v)?)?,
            _ => {}
        }
        if let Some(Payload::Inline(d)) = &self.details {
            check("details", d.clone())?;
        }
        Ok(())
    }
}

fn envelope(field: &'static str, reason: &str) -> EventError {
    EventError::Envelope {
        field,
        reason: printable(reason),
    }
}

fn optional_string(
    map: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, EventError> {
    match map.remove(field) {
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(envelope(field, "not a string")),
        None => Ok(None),
    }
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, EventError> {
    serde_json::to_value(v).map_err(|e| {
        EventError::Encode(JcsError::Parse {
            reason: e.to_string(),
        })
    })
}

/// The kind's fields as a JSON object (no envelope members).
fn body_map(body: &Body) -> Result<Map<String, Value>, EventError> {
    let v = match body {
        Body::SessionStart(b) => to_value(b)?,
        Body::SessionEnd(b) => to_value(b)?,
        Body::Exec(b) => to_value(b)?,
        Body::FileWrite(b) => to_value(b)?,
        Body::FileRead(b) => to_value(b)?,
        Body::EnvChange(b) => to_value(b)?,
        Body::NetDecision(b) => to_value(b)?,
        Body::PolicyDecision(b) => to_value(b)?,
        Body::JobSubmit(b) => to_value(b)?,
        Body::JobStatus(b) => to_value(b)?,
        Body::Approval(b) => to_value(b)?,
        Body::Credential(b) => to_value(b)?,
        Body::Violation(b) => to_value(b)?,
        Body::Stored { blob, .. } => to_value(blob)?,
    };
    match v {
        Value::Object(m) if !m.keys().any(|k| ENVELOPE.contains(&k.as_str())) => Ok(m),
        _ => Err(EventError::Encode(JcsError::Parse {
            reason: format!("the `{}` fields are not an object", body.kind()),
        })),
    }
}

/// Decodes a kind's fields, rejecting unknown and missing ones.
fn parse_body(kind: Kind, fields: Map<String, Value>) -> Result<Body, EventError> {
    fn de<T: DeserializeOwned>(kind: Kind, v: Value) -> Result<T, EventError> {
        serde_json::from_value(v).map_err(|e| EventError::Body {
            kind,
            reason: printable(&e.to_string()),
        })
    }
    let v = Value::Object(fields);
    Ok(match kind {
        Kind::SessionStart => Body::SessionStart(de(kind, v)?),
        Kind::SessionEnd => Body::SessionEnd(de(kind, v)?),
        Kind::Exec => Body::Exec(de(kind, v)?),
        Kind::FileWrite => Body::FileWrite(de(kind, v)?),
        Kind::FileRead => Body::FileRead(de(kind, v)?),
        Kind::EnvChange => Body::EnvChange(de(kind, v)?),
        Kind::NetDecision => Body::NetDecision(de(kind, v)?),
        Kind::PolicyDecision => Body::PolicyDecision(de(kind, v)?),
        Kind::JobSubmit => Body::JobSubmit(de(kind, v)?),
        Kind::JobStatus => Body::JobStatus(de(kind, v)?),
        Kind::Approval => Body::Approval(de(kind, v)?),
        Kind::Credential => Body::Credential(de(kind, v)?),
        Kind::Violation => Body::Violation(de(kind, v)?),
    })
}

/// Moves an inline payload to `cas` if it is over the limit (or, with `if_ref_shaped`, if it
/// could be mistaken for a reference).
fn offload<T: Serialize>(
    p: &mut Payload<T>,
    cas: &mut impl BlobStore,
    if_ref_shaped: bool,
) -> Result<(), EventError> {
    let Payload::Inline(v) = p else { return Ok(()) };
    let value = to_value(v)?;
    let bytes = jcs::to_vec(&value).map_err(EventError::Encode)?;
    if bytes.len() > INLINE_LIMIT || (if_ref_shaped && is_ref_shaped(&value)) {
        let digest = cas.put(&bytes)?;
        *p = Payload::Stored(BlobRef {
            digest,
            size: bytes.len() as u64,
        });
    }
    Ok(())
}

/// Fetches a blob, checks its size and that it is canonical JSON, and parses it.
fn fetch(cas: &impl BlobStore, blob: &BlobRef) -> Result<Value, EventError> {
    let bytes = cas.get(&blob.digest)?;
    let bad = |reason: String| EventError::Blob {
        digest: blob.digest,
        reason,
    };
    if bytes.len() as u64 != blob.size {
        return Err(bad(format!(
            "it is {} bytes but the entry says {}",
            bytes.len(),
            blob.size
        )));
    }
    let value = jcs::parse(&bytes).map_err(|e| bad(e.to_string()))?;
    if jcs::to_vec(&value).map_err(|e| bad(e.to_string()))? != bytes {
        return Err(bad("it is not canonical JSON".into()));
    }
    Ok(value)
}

fn resolve_payload<T: DeserializeOwned>(
    p: &mut Payload<T>,
    cas: &impl BlobStore,
) -> Result<(), EventError> {
    let Payload::Stored(blob) = p else {
        return Ok(());
    };
    let blob = *blob;
    let value = fetch(cas, &blob)?;
    let v = T::deserialize(value).map_err(|e| EventError::Blob {
        digest: blob.digest,
        reason: printable(&e.to_string()),
    })?;
    *p = Payload::Inline(v);
    Ok(())
}

/// Hashes every string under a member with a sensitive name.
fn redact_json(v: &mut Value, sensitive: bool, depth: usize) {
    if depth > jcs::MAX_DEPTH {
        return; // the canonical writer refuses such depth anyway
    }
    match v {
        Value::String(s) if sensitive && s.parse::<Digest>().is_err() => {
            *s = Digest::of(s.as_bytes()).to_string();
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| redact_json(i, sensitive, depth + 1)),
        Value::Object(members) => {
            for (name, value) in members.iter_mut() {
                redact_json(value, sensitive || is_sensitive_name(name), depth + 1);
            }
        }
        _ => {}
    }
}

/// The name of a sensitive member whose strings are not all digests, if any.
fn plain_secret_in(v: &Value, under: Option<&str>, depth: usize) -> Option<String> {
    if depth > jcs::MAX_DEPTH {
        return None;
    }
    match v {
        Value::String(s) => under
            .filter(|_| s.parse::<Digest>().is_err())
            .map(str::to_owned),
        Value::Array(items) => items
            .iter()
            .find_map(|i| plain_secret_in(i, under, depth + 1)),
        Value::Object(members) => members.iter().find_map(|(name, value)| {
            let under = under.or_else(|| is_sensitive_name(name).then_some(name.as_str()));
            plain_secret_in(value, under, depth + 1)
        }),
        _ => None,
    }
}

/// Whether values under this environment variable or member name must be stored only as their
/// hash. The rule is documented in the module documentation under "Secrets".
pub fn is_sensitive_name(name: &str) -> bool {
    const EXACT: [&str; 3] = ["QISKIT_IBM_TOKEN", "IONQ_API_KEY", "DATABASE_URL"];
    const PREFIXES: [&str; 1] = ["AWS_"];
    const CONTAINS: [&str; 7] = [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "CREDENTIAL",
        "PRIVATE",
    ];
    const WORDS: [&str; 7] = [
        "AUTH",
        "AUTHORIZATION",
        "COOKIE",
        "DSN",
        "PASS",
        "PAT",
        "PWD",
    ];
    const NOT_SENSITIVE: [&str; 2] = ["PWD", "OLDPWD"];
    let upper = name.to_ascii_uppercase();
    if NOT_SENSITIVE.contains(&upper.as_str()) {
        return false;
    }
    EXACT.contains(&upper.as_str())
        || PREFIXES.iter().any(|p| upper.starts_with(p))
        || CONTAINS.iter().any(|c| upper.contains(c))
        || upper
            .split(['_', '-', '.'])
            .any(|w| w.ends_with("KEY") || w.ends_with("KEYS") || WORDS.contains(&w))
}
