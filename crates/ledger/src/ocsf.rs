//! Export of ledger events as OCSF 1.5.0 event objects, one JSON object per log entry.
//!
//! [`to_ocsf`] maps an [`Event`] and its position in the log to an object of the Open
//! Cybersecurity Schema Framework, ready to be written as one line of JSON lines for a SIEM.
//!
//! # Mapping
//!
//! `type_uid` is always `class_uid * 100 + activity_id`; `category_uid` is `class_uid / 1000`.
//!
//! | kind | OCSF class (`class_uid`) | `activity_id` | main attributes |
//! |---|---|---|---|
//! | `exec` | Process Activity (1007) | 1 Launch | `process` (pid, `cmd_line` from `argv`, `working_directory`, `file` with SHA-256), `actor`, `device` |
//! | `file.write` | File System Activity (1001) | 1 Create, 3 Update (`modify`), 4 Delete, 5 Rename | `file` (the file before: path, hash before), `file_result` (after: new path, hash after, size), `actor`, `device` |
//! | `file.read` | File System Activity (1001) | 2 Read | `file`, `actor`, `device` |
//! | `net.decision` | Network Activity (4001) | 1 Open (`allow`), 5 Refuse (`deny`) | `dst_endpoint` (host, port, ip), `traffic` (bytes in/out), `connection_info` (outbound, protocol), `duration`; Security Control profile: `action_id`, `disposition_id`, `firewall_rule` |
//! | `job.submit` | API Activity (6003) | 1 Create | `api.operation` `job.submit`, `api.service.name` provider, `dst_endpoint` provider, `resources` (job, backend), `actor`, `src_endpoint` (the agent) |
//! | `job.status` | API Activity (6003) | 2 Read | as `job.submit`, `api.operation` `job.status`; `status_id` 2 Failure for a failed job, 99 Other for a cancelled one |
//! | `session.start` | Authorize Session (3003) | 1 Assign Privileges | `user` (the agent, `type_id` 99 "AI Agent"), `session`, `privileges` (the tier) |
//! | `credential` | Entity Management (3004) | 1 Create (`mint`), 2 Read (`use`), 4 Delete (`revoke`) | `entity` (the handle's digest as `uid`, provider), `actor` |
//! | `violation` | Detection Finding (2004) | 1 Create | `finding_info` (uid, title, types), `severity_id` 4 High, `is_alert`, `resources` (target); Security Control profile: denied, blocked |
//! | `policy.decision` | Base Event (0) | 99 Other ("Policy Decision") | Security Control profile: `action_id`, `disposition_id`, `policy`, `authorizations` |
//! | `approval` | Base Event (0) | 99 Other ("Approval") | Security Control profile: allowed/approved or denied/blocked; `actor.user` the approver |
//! | `session.end` | Base Event (0) | 99 Other ("Session End") | `status_id` from the exit status |
//! | `env.change` | Base Event (0) | 99 Other ("Environment Change") | the changes (secrets already hashed) under `unmapped` |
//! | any kind whose body is still in the CAS | Base Event (0) | 99 Other (the kind) | the reference under `unmapped`; resolve events before export to avoid this |
//!
//! The kinds without a class of their own were placed as follows: OCSF has no class for a
//! policy or approval decision, but its Security Control profile carries exactly that (action,
//! disposition, policy), so they are Base Events with that profile. A session start is the moment
//! an agent session is given its privileges, which is what Authorize Session describes. Credential
//! handles are managed entities (created, used, deleted). A violation is what a detection engine
//! reports: an alert, i.e. a Detection Finding.
//!
//! Severity is 1 Informational, 2 Low for anything denied or failed, 4 High for violations.
//! `status_id` is 1 Success or 2 Failure (for a finding, 1 New). `device` (required for System
//! Activity classes) is `{"type_id": 0}` (Unknown): the exporter knows the log, not the host.
//! `actor` is the agent as `app_name` (or `qwarden` when no agent is named), with the session
//! as `actor.session.uid`, and the process id where the event has one. `metadata.profiles` lists
//! `security_control` on rows that carry an action or disposition, and `host` on Base Event and
//! Network Activity rows that carry an `actor` (those classes have it only through that profile).
//!
//! # Proving a row against the log
//!
//! Every row carries its log position in `unmapped.qwarden.log`:
//! `{"origin": …, "index": …, "leaf_hash": "<64 hex digits>"}`, where `leaf_hash` is the
//! RFC 6962 leaf hash `SHA-256(0x00 || entry)` of the entry's canonical bytes. With the log's
//! verification key, `qwarden audit prove INDEX` yields an inclusion proof for exactly that leaf.
//! The same position is also in `metadata`: `uid` is `<origin>/<index>`, `sequence` the index,
//! `log_provider` the origin. The session id is `metadata.correlation_uid`, so one query returns a
//! session's rows. Everything in the event without an OCSF attribute (digests, counts, `details`)
//! is under `unmapped.qwarden` with the ledger's field names.

use crate::cas::Digest;
use crate::event::{
    ApprovalDecision, Body, CredentialAction, Event, FileOp, JobState, Payload, SessionEnd, Verdict,
};
use crate::merkle::Hash;
use serde_json::{Map, Value, json};

/// The OCSF schema version the rows follow (`metadata.version`).
pub const OCSF_VERSION: &str = "1.5.0";

/// The product name in `metadata.product`.
pub const PRODUCT_NAME: &str = "qwarden";

/// An OCSF event class.
#[derive(Clone, Copy)]
struct Class {
    uid: u32,
    name: &'static str,
    category_name: &'static str,
}

const BASE_EVENT: Class = Class {
    uid: 0,
    name: "Base Event",
    category_name: "Uncategorized",
};
const FILE_ACTIVITY: Class = Class {
    uid: 1001,
    name: "File System Activity",
    category_name: "System Activity",
};
const PROCESS_ACTIVITY: Class = Class {
    uid: 1007,
    name: "Process Activity",
    category_name: "System Activity",
};
const DETECTION_FINDING: Class = Class {
    uid: 2004,
    name: "Detection Finding",
    category_name: "Findings",
};
const AUTHORIZE_SESSION: Class = Class {
    uid: 3003,
    name: "Authorize Session",
    category_name: "Identity & Access Management",
};
const ENTITY_MANAGEMENT: Class = Class {
    uid: 3004,
    name: "Entity Management",
    category_name: "Identity & Access Management",
};
const NETWORK_ACTIVITY: Class = Class {
    uid: 4001,
    name: "Network Activity",
    category_name: "Network Activity",
};
const API_ACTIVITY: Class = Class {
    uid: 6003,
    name: "API Activity",
    category_name: "Application Activity",
};

const SEVERITY_INFORMATIONAL: (u32, &str) = (1, "Informational");
const SEVERITY_LOW: (u32, &str) = (2, "Low");
const SEVERITY_HIGH: (u32, &str) = (4, "High");

const STATUS_SUCCESS: (u32, &str) = (1, "Success");
const STATUS_FAILURE: (u32, &str) = (2, "Failure");
const STATUS_OTHER_CANCELLED: (u32, &str) = (99, "Cancelled");
const FINDING_STATUS_NEW: (u32, &str) = (1, "New");

/// The OCSF row for `event`, the entry at `index` in the log `origin` whose RFC 6962 leaf hash
/// is `leaf_hash`.
pub fn to_ocsf(event: &Event, origin: &str, index: u64, leaf_hash: &Hash) -> Value {
    let mut row = Row::new(event, origin, index, leaf_hash);
    match &event.body {
        Body::Exec(b) => {
            let mut process = Map::new();
            process.insert("pid".into(), json!(b.pid));
            process.insert("name".into(), json!(file_name(&b.path)));
            process.insert("working_directory".into(), json!(b.cwd));
            process.insert("file".into(), file_object(&b.path, b.sha256.as_ref(), None));
            match &b.argv {
                Payload::Inline(argv) => {
                    process.insert("cmd_line".into(), json!(argv.join(" ")));
                }
                Payload::Stored(r) => row.extra("argv", json!(r)),
            }
            row.class(PROCESS_ACTIVITY, 1, "Launch");
            row.set("process", Value::Object(process));
            row.system_context(event, Some(b.pid));
            row.status(STATUS_SUCCESS);
            row.message(format!("exec {} (pid {})", b.path, b.pid));
        }
        Body::FileWrite(b) => {
            let (activity, name) = match b.op {
                FileOp::Create => (1, "Create"),
                FileOp::Modify => (3, "Update"),
                FileOp::Delete => (4, "Delete"),
                FileOp::Rename => (5, "Rename"),
            };
            row.class(FILE_ACTIVITY, activity, name);
            let before = if b.op == FileOp::Create {
                file_object(&b.path, b.sha256_after.as_ref(), b.size)
            } else {
                file_object(&b.path, b.sha256_before.as_ref(), None)
            };
            row.set("file", before);
            if matches!(b.op, FileOp::Modify | FileOp::Rename) {
                let path = b.new_path.as_deref().unwrap_or(&b.path);
                row.set(
                    "file_result",
                    file_object(path, b.sha256_after.as_ref(), b.size),
                );
            }
            row.system_context(event, b.pid);
            row.status(STATUS_SUCCESS);
            let op = match b.op {
                FileOp::Create => "create",
                FileOp::Modify => "modify",
                FileOp::Delete => "delete",
                FileOp::Rename => "rename",
            };
            row.message(match &b.new_path {
                Some(to) => format!("{op} {} -> {to}", b.path),
                None => format!("{op} {}", b.path),
            });
        }
        Body::FileRead(b) => {
            row.class(FILE_ACTIVITY, 2, "Read");
            row.set("file", file_object(&b.path, b.sha256.as_ref(), None));
            row.system_context(event, b.pid);
            row.status(STATUS_SUCCESS);
            row.extra("observer", json!(b.observer));
            row.message(format!("read {} (seen by {})", b.path, b.observer));
        }
        Body::NetDecision(b) => {
            let allowed = b.verdict == Verdict::Allow;
            if allowed {
                row.class(NETWORK_ACTIVITY, 1, "Open");
            } else {
                row.class(NETWORK_ACTIVITY, 5, "Refuse");
                row.severity(SEVERITY_LOW);
            }
            let mut dst = Map::new();
            dst.insert("hostname".into(), json!(b.host));
            dst.insert("port".into(), json!(b.port));
            if let Some(ip) = b.address {
                dst.insert("ip".into(), json!(ip.to_string()));
            }
            row.set("dst_endpoint", Value::Object(dst));
            row.set(
                "traffic",
                json!({"bytes_out": b.bytes_up, "bytes_in": b.bytes_down, "bytes": b.bytes_up.saturating_add(b.bytes_down)}),
            );
            row.set(
                "connection_info",
                json!({"direction_id": 2, "direction": "Outbound", "protocol_name": b.protocol}),
            );
            row.set("duration", json!(b.duration_ms));
            row.security_control(
                allowed,
                if allowed {
                    (1, "Allowed")
                } else {
                    (2, "Blocked")
                },
            );
            if let Some(rule) = &b.rule {
                row.set("firewall_rule", json!({ "name": rule }));
            }
            row.set("actor", actor(event, None));
            row.status(if allowed {
                STATUS_SUCCESS
            } else {
                STATUS_FAILURE
            });
            let verdict = if allowed { "allowed" } else { "denied" };
            row.message(format!("connection to {}:{} {verdict}", b.host, b.port));
        }
        Body::JobSubmit(b) => {
            row.class(API_ACTIVITY, 1, "Create");
            row.api(event, "job.submit", &b.provider);
            let mut job = Map::new();
            job.insert("name".into(), json!(b.backend));
            job.insert("type".into(), json!("quantum job"));
            if let Some(id) = &b.job_id {
                job.insert("uid".into(), json!(id));
            }
            row.set("resources", json!([job]));
            row.status(STATUS_SUCCESS);
            row.extra("shots", json!(b.shots));
            row.extra("circuit_digest", json!(b.circuit_digest));
            row.extra_opt("calibration_digest", b.calibration_digest.as_ref());
            row.extra_opt("request_digest", b.request_digest.as_ref());
            row.message(format!(
                "job submitted to {}/{}: {} shots",
                b.provider, b.backend, b.shots
            ));
        }
        Body::JobStatus(b) => {
            row.class(API_ACTIVITY, 2, "Read");
            row.api(event, "job.status", &b.provider);
            row.set(
                "resources",
                json!([{"uid": b.job_id, "name": b.backend, "type": "quantum job"}]),
            );
            let state = serde_json::to_value(b.state).unwrap_or(Value::Null);
            match b.state {
                JobState::Failed => {
                    row.status(STATUS_FAILURE);
                    row.severity(SEVERITY_LOW);
                }
                JobState::Cancelled => row.status(STATUS_OTHER_CANCELLED),
                _ => row.status(STATUS_SUCCESS),
            }
            row.extra("state", state.clone());
            row.extra_opt("provider_state", b.provider_state.as_ref());
            row.extra_opt("calibration_digest", b.calibration_digest.as_ref());
            let state = state.as_str().unwrap_or_default().to_owned();
            row.message(format!(
                "job {} on {}/{}: {state}",
                b.job_id, b.provider, b.backend
            ));
        }
        Body::SessionStart(b) => {
            row.class(AUTHORIZE_SESSION, 1, "Assign Privileges");
            row.set("user", agent_user(event));
            if let Some(session) = &event.session {
                row.set(
                    "session",
                    json!({"uid": session, "created_time": event.time.unix_millis()}),
                );
            }
            row.set("privileges", json!([format!("tier:{}", b.tier)]));
            row.set("actor", actor(event, None));
            row.status(STATUS_SUCCESS);
            row.extra("manifest_digest", json!(b.manifest_digest));
            row.extra("grant_digest", json!(b.grant_digest));
            row.extra("env_digest", json!(b.env_digest));
            row.extra("tier", json!(b.tier));
            row.extra_opt("isolation", b.isolation.as_ref());
            row.message(format!("session started on a {} workstation", b.tier));
        }
        Body::Credential(b) => {
            let (activity, name, verb) = match b.action {
                CredentialAction::Mint => (1, "Create", "minted"),
                CredentialAction::Use => (2, "Read", "used"),
                CredentialAction::Revoke => (4, "Delete", "revoked"),
            };
            row.class(ENTITY_MANAGEMENT, activity, name);
            row.set(
                "entity",
                json!({
                    "uid": b.handle_digest,
                    "name": format!("{} credential handle", b.provider),
                    "type_id": 99,
                    "type": "Credential Handle",
                }),
            );
            row.set("actor", actor(event, None));
            row.status(STATUS_SUCCESS);
            row.extra("provider", json!(b.provider));
            row.extra_opt("expires", b.expires.map(|t| t.to_string()).as_ref());
            row.message(format!("{} credential handle {verb}", b.provider));
        }
        Body::Violation(b) => {
            row.class(DETECTION_FINDING, 1, "Create");
            row.severity(SEVERITY_HIGH);
            row.status(FINDING_STATUS_NEW);
            row.set(
                "finding_info",
                json!({
                    "uid": format!("{origin}/{index}"),
                    "title": format!("{} blocked: {}", b.control, b.attempted),
                    "types": ["qwarden violation", b.control],
                }),
            );
            row.set("is_alert", json!(true));
            if let Some(target) = &b.target {
                row.set("resources", json!([{ "name": target }]));
            }
            row.security_control(false, (2, "Blocked"));
            row.extra("attempted", json!(b.attempted));
            row.extra("control", json!(b.control));
            row.extra_opt("pid", b.pid.as_ref());
            row.message(format!("{} blocked: {}", b.control, b.attempted));
        }
        Body::PolicyDecision(b) => {
            let allowed = b.outcome.is_allowed();
            row.class(BASE_EVENT, 99, "Policy Decision");
            row.security_control(
                allowed,
                if allowed {
                    (1, "Allowed")
                } else {
                    (2, "Blocked")
                },
            );
            if !allowed {
                row.severity(SEVERITY_LOW);
            }
            let decision = if allowed { "Allow" } else { "Deny" };
            let authorizations: Vec<Value> = if b.policies.is_empty() {
                vec![json!({ "decision": decision })]
            } else {
                b.policies
                    .iter()
                    .map(|p| json!({"decision": decision, "policy": {"name": p}}))
                    .collect()
            };
            if let Some(first) = b.policies.first() {
                row.set("policy", json!({ "name": first }));
            }
            row.set("authorizations", Value::Array(authorizations));
            row.set("actor", actor(event, None));
            row.status(if allowed {
                STATUS_SUCCESS
            } else {
                STATUS_FAILURE
            });
            row.extra("action", json!(b.action));
            row.extra("resource", json!(b.resource));
            row.extra("policies", json!(b.policies));
            row.extra("reasons", json!(b.reasons));
            row.message(format!(
                "policy {}: {} on {}",
                decision.to_ascii_lowercase(),
                b.action,
                b.resource
            ));
        }
        Body::Approval(b) => {
            let approved = b.decision == ApprovalDecision::Approve;
            row.class(BASE_EVENT, 99, "Approval");
            row.security_control(
                approved,
                if approved {
                    (8, "Approved")
                } else {
                    (2, "Blocked")
                },
            );
            if !approved {
                row.severity(SEVERITY_LOW);
            }
            row.set("actor", json!({ "user": { "name": b.approver } }));
            row.status(STATUS_SUCCESS);
            row.extra("request_id", json!(b.request_id));
            row.extra_opt("request_digest", b.request_digest.as_ref());
            let verb = if approved { "approved" } else { "rejected" };
            row.message(format!("request {} {verb} by {}", b.request_id, b.approver));
        }
        Body::SessionEnd(b) => {
            row.class(BASE_EVENT, 99, "Session End");
            row.set("actor", actor(event, None));
            session_end(&mut row, b);
        }
        Body::EnvChange(b) => {
            row.class(BASE_EVENT, 99, "Environment Change");
            row.set("actor", actor(event, b.pid));
            row.status(STATUS_SUCCESS);
            match &b.changes {
                Payload::Inline(changes) => {
                    row.extra(
                        "changes",
                        serde_json::to_value(changes).unwrap_or(Value::Null),
                    );
                    row.message(format!("{} environment variable(s) changed", changes.len()));
                }
                Payload::Stored(r) => {
                    row.extra("changes", json!(r));
                    row.message("environment changed (changes in the content store)".to_owned());
                }
            }
        }
        Body::Stored { kind, blob } => {
            row.class(BASE_EVENT, 99, kind.as_str());
            row.set("actor", actor(event, None));
            row.extra("body", json!(blob));
            row.message(format!("{kind} event (fields in the content store)"));
        }
    }
    if let Some(details) = &event.details {
        row.extra(
            "details",
            serde_json::to_value(details).unwrap_or(Value::Null),
        );
    }
    row.finish()
}

fn session_end(row: &mut Row, b: &SessionEnd) {
    let ok = b.exit.code == Some(0);
    row.status(if ok { STATUS_SUCCESS } else { STATUS_FAILURE });
    if !ok {
        row.severity(SEVERITY_LOW);
    }
    row.extra("exit", json!(b.exit));
    row.extra("summary", json!(b.summary));
    row.extra_opt("write_set_digest", b.write_set_digest.as_ref());
    row.message(match (b.exit.code, b.exit.signal) {
        (Some(code), _) => format!("session ended: exit code {code}"),
        (None, Some(signal)) => format!("session ended: killed by signal {signal}"),
        (None, None) => "session ended".to_owned(),
    });
}

/// An OCSF row under construction.
struct Row {
    class_uid: u32,
    map: Map<String, Value>,
    unmapped: Map<String, Value>,
    profiles: Vec<&'static str>,
}

impl Row {
    fn new(event: &Event, origin: &str, index: u64, leaf_hash: &Hash) -> Row {
        let mut metadata = Map::new();
        metadata.insert("version".into(), json!(OCSF_VERSION));
        metadata.insert(
            "product".into(),
            json!({"name": PRODUCT_NAME, "vendor_name": PRODUCT_NAME, "version": env!("CARGO_PKG_VERSION")}),
        );
        metadata.insert("uid".into(), json!(format!("{origin}/{index}")));
        metadata.insert("sequence".into(), json!(index));
        metadata.insert("log_name".into(), json!("qwarden audit ledger"));
        metadata.insert("log_provider".into(), json!(origin));
        metadata.insert("original_time".into(), json!(event.time.to_string()));
        if let Some(session) = &event.session {
            metadata.insert("correlation_uid".into(), json!(session));
        }
        let mut map = Map::new();
        map.insert("metadata".into(), Value::Object(metadata));
        map.insert("time".into(), json!(event.time.unix_millis()));
        map.insert("timezone_offset".into(), json!(0));
        let mut unmapped = Map::new();
        unmapped.insert(
            "log".into(),
            json!({"origin": origin, "index": index, "leaf_hash": hex::encode(leaf_hash)}),
        );
        unmapped.insert("kind".into(), json!(event.kind().as_str()));
        unmapped.insert("schema".into(), json!(crate::event::SCHEMA_VERSION));
        if let Some(session) = &event.session {
            unmapped.insert("session".into(), json!(session));
        }
        if let Some(agent) = &event.agent {
            unmapped.insert("agent".into(), json!(agent));
        }
        let mut row = Row {
            class_uid: 0,
            map,
            unmapped,
            profiles: Vec::new(),
        };
        row.severity(SEVERITY_INFORMATIONAL);
        row
    }

    fn set(&mut self, key: &str, value: Value) {
        self.map.insert(key.to_owned(), value);
    }

    fn class(&mut self, class: Class, activity_id: u32, activity_name: &str) {
        self.class_uid = class.uid;
        self.set("class_uid", json!(class.uid));
        self.set("class_name", json!(class.name));
        self.set("category_uid", json!(class.uid / 1000));
        self.set("category_name", json!(class.category_name));
        self.set("activity_id", json!(activity_id));
        self.set("activity_name", json!(activity_name));
        self.set(
            "type_uid",
            json!(u64::from(class.uid) * 100 + u64::from(activity_id)),
        );
        self.set(
            "type_name",
            json!(format!("{}: {activity_name}", class.name)),
        );
    }

    fn severity(&mut self, (id, name): (u32, &str)) {
        self.set("severity_id", json!(id));
        self.set("severity", json!(name));
    }

    fn status(&mut self, (id, name): (u32, &str)) {
        self.set("status_id", json!(id));
        self.set("status", json!(name));
    }

    fn message(&mut self, message: String) {
        self.set("message", Value::String(message));
    }

    /// The Security Control profile's outcome attributes.
    fn security_control(&mut self, allowed: bool, (disposition_id, disposition): (u32, &str)) {
        let (action_id, action) = if allowed {
            (1, "Allowed")
        } else {
            (2, "Denied")
        };
        self.set("action_id", json!(action_id));
        self.set("action", json!(action));
        self.set("disposition_id", json!(disposition_id));
        self.set("disposition", json!(disposition));
        self.profiles.push("security_control");
    }

    /// `actor` and `device`, required by the System Activity classes.
    fn system_context(&mut self, event: &Event, pid: Option<u32>) {
        self.set("actor", actor(event, pid));
        self.set("device", json!({"type_id": 0, "type": "Unknown"}));
    }

    /// The attributes API Activity requires, for a QPU job call through the gateway.
    fn api(&mut self, event: &Event, operation: &str, provider: &str) {
        self.set(
            "api",
            json!({"operation": operation, "service": {"name": provider}}),
        );
        self.set("actor", actor(event, None));
        let mut src = Map::new();
        src.insert(
            "name".into(),
            json!(event.agent.as_deref().unwrap_or("agent")),
        );
        if let Some(session) = &event.session {
            src.insert("uid".into(), json!(session));
        }
        self.set("src_endpoint", Value::Object(src));
        self.set("dst_endpoint", json!({ "svc_name": provider }));
    }

    fn extra(&mut self, key: &str, value: Value) {
        self.unmapped.insert(key.to_owned(), value);
    }

    fn extra_opt<T: serde::Serialize>(&mut self, key: &str, value: Option<&T>) {
        if let Some(v) = value {
            self.extra(key, serde_json::to_value(v).unwrap_or(Value::Null));
        }
    }

    fn finish(mut self) -> Value {
        // Base Event and Network Activity have `actor` only through the Host profile.
        if matches!(self.class_uid, 0 | 4001) && self.map.contains_key("actor") {
            self.profiles.push("host");
        }
        if !self.profiles.is_empty()
            && let Some(Value::Object(metadata)) = self.map.get_mut("metadata")
        {
            metadata.insert("profiles".into(), json!(self.profiles));
        }
        self.map.insert(
            "unmapped".into(),
            json!({ "qwarden": Value::Object(self.unmapped) }),
        );
        Value::Object(self.map)
    }
}

/// The agent (or qwarden itself) as an OCSF actor.
fn actor(event: &Event, pid: Option<u32>) -> Value {
    let mut actor = Map::new();
    actor.insert(
        "app_name".into(),
        json!(event.agent.as_deref().unwrap_or(PRODUCT_NAME)),
    );
    if let Some(session) = &event.session {
        actor.insert("session".into(), json!({ "uid": session }));
    }
    if let Some(pid) = pid {
        actor.insert("process".into(), json!({ "pid": pid }));
    }
    Value::Object(actor)
}

/// The agent as an OCSF user (Authorize Session requires one).
fn agent_user(event: &Event) -> Value {
    json!({"name": event.agent.as_deref().unwrap_or("agent"), "type_id": 99, "type": "AI Agent"})
}

/// An OCSF file object: name and type are required; the hash is a SHA-256 fingerprint.
fn file_object(path: &str, sha256: Option<&Digest>, size: Option<u64>) -> Value {
    let mut file = Map::new();
    file.insert("name".into(), json!(file_name(path)));
    file.insert("path".into(), json!(path));
    file.insert("type_id".into(), json!(1));
    file.insert("type".into(), json!("Regular File"));
    if let Some(d) = sha256 {
        file.insert(
            "hashes".into(),
            json!([{"algorithm_id": 3, "algorithm": "SHA-256", "value": d.to_hex()}]),
        );
    }
    if let Some(size) = size {
        file.insert("size".into(), json!(size));
    }
    Value::Object(file)
}

/// The last component of a path (the whole path if it has none).
fn file_name(path: &str) -> &str {
    path.rsplit('/').find(|c| !c.is_empty()).unwrap_or(path)
}
