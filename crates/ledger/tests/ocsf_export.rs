//! OCSF export: every row has the attributes its class requires, the right uids, and the log
//! position that proves it against the log.
//!
//! The required-attribute lists below are copied from the OCSF schema definitions (1.x), read in
//! github.com/ocsf/ocsf-schema and cross-checked against the 1.x models generated from the
//! compiled schema in github.com/mcm/pydantic-ocsf (`src/ocsf/events/**`, `src/ocsf/objects/**`,
//! "# Required" sections and `validate_at_least_one` constraints); each list names its source.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support_events;

use qwarden_ledger::cas::MemCas;
use qwarden_ledger::event::*;
use qwarden_ledger::merkle::leaf_hash;
use qwarden_ledger::ocsf::{OCSF_VERSION, to_ocsf};
use serde_json::Value;
use support_events::{samples, t};

const ORIGIN: &str = "qwarden.example/ws-17/ledger-3f2c";

/// ocsf-schema `events/base_event.json` (1.x: "requirement": "required" on activity_id,
/// category_uid, class_uid, metadata, severity_id, time, type_uid).
const BASE_REQUIRED: &[&str] = &[
    "activity_id",
    "category_uid",
    "class_uid",
    "metadata",
    "severity_id",
    "time",
    "type_uid",
];

/// ocsf-schema `events/system/system.json`: the System Activity category adds actor, device.
const SYSTEM_REQUIRED: &[&str] = &["actor", "device"];

/// ocsf-schema `events/system/process_activity.json` (uid 7, category 1 → 1007): process.
const PROCESS_ACTIVITY_REQUIRED: &[&str] = &["process"];

/// ocsf-schema `events/system/file_activity.json` (uid 1 → 1001): actor, file.
const FILE_ACTIVITY_REQUIRED: &[&str] = &["actor", "file"];

/// ocsf-schema `events/network/network.json`: constraints.at_least_one [dst_endpoint, src_endpoint].
const NETWORK_AT_LEAST_ONE: &[&str] = &["dst_endpoint", "src_endpoint"];

/// ocsf-schema `events/application/api_activity.json` (uid 3, category 6 → 6003): actor, api,
/// src_endpoint.
const API_ACTIVITY_REQUIRED: &[&str] = &["actor", "api", "src_endpoint"];

/// ocsf-schema `events/iam/authorize_session.json` (uid 3, category 3 → 3003): user; and
/// at_least_one [privileges, group(s)].
const AUTHORIZE_SESSION_REQUIRED: &[&str] = &["user"];

/// ocsf-schema `events/iam/entity_management.json` (uid 4 → 3004): entity.
const ENTITY_MANAGEMENT_REQUIRED: &[&str] = &["entity"];

/// ocsf-schema `events/findings/finding.json`: finding_info (Detection Finding, uid 4 → 2004,
/// adds no required attribute: `events/findings/detection_finding.json`).
const FINDING_REQUIRED: &[&str] = &["finding_info"];

/// ocsf-schema `objects/metadata.json`: product, version.
const METADATA_REQUIRED: &[&str] = &["product", "version"];

/// ocsf-schema `objects/file.json`: name, type_id.
const FILE_REQUIRED: &[&str] = &["name", "type_id"];

/// pydantic-ocsf `objects/fingerprint.py` (from `objects/fingerprint.json`): algorithm_id, value.
const FINGERPRINT_REQUIRED: &[&str] = &["algorithm_id", "value"];

/// pydantic-ocsf `objects/api.py`: operation.
const API_REQUIRED: &[&str] = &["operation"];

/// pydantic-ocsf `objects/finding_info.py`: uid.
const FINDING_INFO_REQUIRED: &[&str] = &["uid"];

/// pydantic-ocsf `objects/device.py`: type_id.
const DEVICE_REQUIRED: &[&str] = &["type_id"];

/// pydantic-ocsf `objects/network_connection_info.py`: direction_id.
const CONNECTION_INFO_REQUIRED: &[&str] = &["direction_id"];

/// pydantic-ocsf `objects/actor.py` at_least_one.
const ACTOR_AT_LEAST_ONE: &[&str] = &[
    "process",
    "user",
    "invoked_by",
    "session",
    "app_name",
    "app_uid",
];

/// pydantic-ocsf `objects/process.py` at_least_one.
const PROCESS_AT_LEAST_ONE: &[&str] = &["pid", "uid", "cpid"];

/// pydantic-ocsf `objects/user.py` at_least_one.
const USER_AT_LEAST_ONE: &[&str] = &["account", "name", "uid"];

/// pydantic-ocsf `objects/managed_entity.py` at_least_one.
const MANAGED_ENTITY_AT_LEAST_ONE: &[&str] =
    &["name", "uid", "device", "group", "org", "policy", "user"];

/// pydantic-ocsf `objects/network_endpoint.py` at_least_one.
const ENDPOINT_AT_LEAST_ONE: &[&str] = &[
    "ip",
    "uid",
    "name",
    "hostname",
    "svc_name",
    "instance_uid",
    "interface_uid",
    "interface_name",
    "domain",
];

/// pydantic-ocsf `objects/policy.py` at_least_one.
const POLICY_AT_LEAST_ONE: &[&str] = &["name", "type", "uid"];

fn has_all(obj: &Value, fields: &[&str], what: &str) {
    for f in fields {
        assert!(
            obj.get(f).is_some_and(|v| !v.is_null()),
            "{what}: missing required `{f}` in {obj:#}"
        );
    }
}

fn has_one(obj: &Value, fields: &[&str], what: &str) {
    assert!(
        fields
            .iter()
            .any(|f| obj.get(f).is_some_and(|v| !v.is_null())),
        "{what}: none of {fields:?} in {obj:#}"
    );
}

fn expected_class(e: &Event) -> (u64, u64) {
    match &e.body {
        Body::Exec(_) => (1007, 1),
        Body::FileWrite(b) => (
            1001,
            match b.op {
                FileOp::Create => 1,
                FileOp::Modify => 3,
                FileOp::Delete => 4,
                FileOp::Rename => 5,
            },
        ),
        Body::FileRead(_) => (1001, 2),
        Body::NetDecision(b) => (4001, if b.verdict == Verdict::Allow { 1 } else { 5 }),
        Body::JobSubmit(_) => (6003, 1),
        Body::JobStatus(_) => (6003, 2),
        Body::SessionStart(_) => (3003, 1),
        Body::Credential(b) => (
            3004,
            match b.action {
                CredentialAction::Mint => 1,
                CredentialAction::Use => 2,
                CredentialAction::Revoke => 4,
            },
        ),
        Body::Violation(_) => (2004, 1),
        Body::PolicyDecision(_)
        | Body::Approval(_)
        | Body::SessionEnd(_)
        | Body::EnvChange(_)
        | Body::Stored { .. } => (0, 99),
    }
}

fn check_row(e: &Event, row: &Value, index: u64, leaf: &[u8; 32]) {
    let what = e.kind().as_str();
    has_all(row, BASE_REQUIRED, what);
    let (class_uid, activity_id) = expected_class(e);
    assert_eq!(row["class_uid"], class_uid, "{what}");
    assert_eq!(row["activity_id"], activity_id, "{what}");
    assert_eq!(row["category_uid"], class_uid / 1000, "{what}");
    assert_eq!(row["type_uid"], class_uid * 100 + activity_id, "{what}");
    assert!(
        row["class_name"].is_string()
            && row["activity_name"].is_string()
            && row["type_name"].is_string()
    );
    assert_eq!(
        row["time"],
        e.time.unix_millis(),
        "{what}: time is in milliseconds"
    );
    let severity = row["severity_id"].as_u64().unwrap();
    assert!([0, 1, 2, 3, 4, 5, 6, 99].contains(&severity), "{what}");
    assert!(row["severity"].is_string());
    assert!(
        row["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}"
    );

    let md = &row["metadata"];
    has_all(md, METADATA_REQUIRED, what);
    assert_eq!(md["version"], OCSF_VERSION);
    assert_eq!(md["product"]["name"], "qwarden");
    assert!(md["product"]["version"].is_string());
    assert_eq!(md["uid"], format!("{ORIGIN}/{index}"));
    assert_eq!(md["sequence"], index);
    if let Some(session) = &e.session {
        assert_eq!(&md["correlation_uid"], session);
    }

    // The log position, for proving the row.
    let log = &row["unmapped"]["qwarden"]["log"];
    assert_eq!(log["origin"], ORIGIN, "{what}");
    assert_eq!(log["index"], index, "{what}");
    assert_eq!(log["leaf_hash"], hex::encode(leaf), "{what}");
    assert_eq!(row["unmapped"]["qwarden"]["kind"], what);

    if row.get("action_id").is_some() || row.get("disposition_id").is_some() {
        let profiles = md["profiles"].as_array().unwrap();
        assert!(
            profiles.contains(&Value::from("security_control")),
            "{what}"
        );
    }
    if let Some(actor) = row.get("actor") {
        has_one(actor, ACTOR_AT_LEAST_ONE, what);
        // Base Event and Network Activity carry `actor` only with the Host profile
        // (ocsf-schema `events/base_event.json` profiles; `profiles/host.json`).
        if matches!(class_uid, 0 | 4001) {
            let profiles = md["profiles"].as_array().unwrap();
            assert!(profiles.contains(&Value::from("host")), "{what}");
        }
        if let Some(user) = actor.get("user") {
            has_one(user, USER_AT_LEAST_ONE, what);
        }
    }
    for key in ["file", "file_result"] {
        if let Some(file) = row.get(key) {
            has_all(file, FILE_REQUIRED, what);
            for hash in file
                .get("hashes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                has_all(hash, FINGERPRINT_REQUIRED, what);
                assert_eq!(hash["algorithm_id"], 3, "SHA-256 is algorithm_id 3");
                assert_eq!(hash["value"].as_str().unwrap().len(), 64);
            }
        }
    }
    for key in ["src_endpoint", "dst_endpoint"] {
        if let Some(ep) = row.get(key) {
            has_one(ep, ENDPOINT_AT_LEAST_ONE, what);
        }
    }
    if let Some(policy) = row.get("policy") {
        has_one(policy, POLICY_AT_LEAST_ONE, what);
    }

    match class_uid {
        1007 => {
            has_all(row, SYSTEM_REQUIRED, what);
            has_all(row, PROCESS_ACTIVITY_REQUIRED, what);
            has_one(&row["process"], PROCESS_AT_LEAST_ONE, what);
            has_all(&row["device"], DEVICE_REQUIRED, what);
            has_all(&row["process"]["file"], FILE_REQUIRED, what);
        }
        1001 => {
            has_all(row, SYSTEM_REQUIRED, what);
            has_all(row, FILE_ACTIVITY_REQUIRED, what);
            has_all(&row["device"], DEVICE_REQUIRED, what);
        }
        4001 => {
            has_one(row, NETWORK_AT_LEAST_ONE, what);
            has_all(&row["connection_info"], CONNECTION_INFO_REQUIRED, what);
            assert!(row["traffic"]["bytes_in"].is_u64() && row["traffic"]["bytes_out"].is_u64());
        }
        6003 => {
            has_all(row, API_ACTIVITY_REQUIRED, what);
            has_all(&row["api"], API_REQUIRED, what);
        }
        3003 => {
            has_all(row, AUTHORIZE_SESSION_REQUIRED, what);
            has_one(&row["user"], USER_AT_LEAST_ONE, what);
            has_one(row, &["privileges", "group", "groups"], what);
        }
        3004 => {
            has_all(row, ENTITY_MANAGEMENT_REQUIRED, what);
            has_one(&row["entity"], MANAGED_ENTITY_AT_LEAST_ONE, what);
        }
        2004 => {
            has_all(row, FINDING_REQUIRED, what);
            has_all(&row["finding_info"], FINDING_INFO_REQUIRED, what);
            assert_eq!(row["status_id"], 1, "a new finding");
        }
        0 => assert_eq!(row["category_uid"], 0),
        other => panic!("unexpected class {other}"),
    }
}

#[test]
fn every_kind_maps_to_a_valid_row() {
    let mut classes = std::collections::BTreeSet::new();
    for (index, e) in samples().into_iter().enumerate() {
        let entry = e.to_jcs(&mut MemCas::new()).unwrap();
        let leaf = leaf_hash(&entry);
        let logged = Event::from_jcs(&entry).unwrap();
        let row = to_ocsf(&logged, ORIGIN, index as u64, &leaf);
        check_row(&logged, &row, index as u64, &leaf);
        classes.insert(row["class_uid"].as_u64().unwrap());
        // Rows are plain JSON lines.
        let line = serde_json::to_string(&row).unwrap();
        assert!(!line.contains('\n'));
    }
    // The four classes the design names, plus the ones chosen for the other kinds.
    for class in [1001, 1007, 4001, 6003, 2004, 3003, 3004, 0] {
        assert!(classes.contains(&class), "no sample produced class {class}");
    }
}

#[test]
fn rows_carry_the_facts() {
    let all = samples();
    let row_of = |kind: Kind| {
        let e = all.iter().find(|e| e.kind() == kind).unwrap();
        to_ocsf(e, ORIGIN, 7, &[0u8; 32])
    };
    let exec = row_of(Kind::Exec);
    assert_eq!(exec["process"]["pid"], 4242);
    assert_eq!(exec["process"]["file"]["path"], "/usr/bin/python3.12");
    assert_eq!(exec["process"]["file"]["name"], "python3.12");
    assert!(
        exec["process"]["cmd_line"]
            .as_str()
            .unwrap()
            .starts_with("python3 -c")
    );
    assert_eq!(exec["actor"]["app_name"], "claude-code");
    assert_eq!(exec["actor"]["session"]["uid"], "s-0195f3a2");
    assert_eq!(exec["category_name"], "System Activity");

    let net = row_of(Kind::NetDecision);
    assert_eq!(net["dst_endpoint"]["hostname"], "api.quantum.ibm.com");
    assert_eq!(net["dst_endpoint"]["port"], 443);
    assert_eq!(net["dst_endpoint"]["ip"], "104.18.3.2");
    assert_eq!(net["traffic"]["bytes_out"], 1234);
    assert_eq!(net["traffic"]["bytes_in"], 56789);
    assert_eq!(net["action_id"], 1);
    assert_eq!(net["firewall_rule"]["name"], "provider:ibm");

    let job = row_of(Kind::JobSubmit);
    assert_eq!(job["api"]["operation"], "job.submit");
    assert_eq!(job["api"]["service"]["name"], "ibm");
    assert_eq!(job["resources"][0]["uid"], "d0abc123");
    assert_eq!(job["unmapped"]["qwarden"]["shots"], 4000);

    let violation = row_of(Kind::Violation);
    assert_eq!(violation["severity_id"], 4);
    assert_eq!(violation["action_id"], 2);
    assert_eq!(violation["disposition_id"], 2);
    assert_eq!(violation["is_alert"], true);
    assert_eq!(violation["finding_info"]["uid"], format!("{ORIGIN}/7"));

    let cred = row_of(Kind::Credential);
    assert!(
        cred["entity"]["uid"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(
        !serde_json::to_string(&cred)
            .unwrap()
            .contains("qwh_handle_1")
    );

    let denied = all
        .iter()
        .find(|e| matches!(&e.body, Body::PolicyDecision(p) if p.outcome == PolicyOutcome::Deny))
        .map(|e| to_ocsf(e, ORIGIN, 1, &[0u8; 32]))
        .unwrap();
    assert_eq!(denied["action_id"], 2);
    assert_eq!(denied["status_id"], 2);
    assert_eq!(
        denied["authorizations"][0]["policy"]["name"],
        "tier-staging-jobs"
    );
    assert_eq!(
        denied["unmapped"]["qwarden"]["reasons"][0],
        "shots 100000 exceed the cap of 10000"
    );
}

#[test]
fn offloaded_events_still_make_valid_rows() {
    // A payload in the CAS: the row keeps its class and points at the blob.
    let argv: Vec<String> = (0..500).map(|i| format!("arg{i:010}")).collect();
    let e = Event::new(
        t(0),
        Exec {
            pid: 5,
            argv: argv.into(),
            cwd: "/".into(),
            path: "/bin/x".into(),
            sha256: None,
        },
    );
    let mut cas = MemCas::new();
    let entry = e.to_jcs(&mut cas).unwrap();
    let logged = Event::from_jcs(&entry).unwrap();
    let row = to_ocsf(&logged, ORIGIN, 3, &leaf_hash(&entry));
    check_row(&logged, &row, 3, &leaf_hash(&entry));
    assert!(
        row["unmapped"]["qwarden"]["argv"]["cas"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    // Resolved first, the row has the command line.
    let row = to_ocsf(
        &logged.resolve(&cas).unwrap(),
        ORIGIN,
        3,
        &leaf_hash(&entry),
    );
    assert!(
        row["process"]["cmd_line"]
            .as_str()
            .unwrap()
            .starts_with("arg0000000000 ")
    );

    // A whole body in the CAS: a Base Event that points at it.
    let e = Event::new(
        t(0),
        PolicyDecision {
            action: "a".into(),
            resource: "r".into(),
            outcome: PolicyOutcome::Allow,
            policies: vec![],
            reasons: (0..5000).map(|i| format!("reason {i:020}")).collect(),
        },
    );
    let entry = e.to_jcs(&mut cas).unwrap();
    let logged = Event::from_jcs(&entry).unwrap();
    assert!(matches!(logged.body, Body::Stored { .. }));
    let row = to_ocsf(&logged, ORIGIN, 4, &leaf_hash(&entry));
    check_row(&logged, &row, 4, &leaf_hash(&entry));
    assert_eq!(row["activity_name"], "policy.decision");
    assert!(row["unmapped"]["qwarden"]["body"]["size"].is_u64());
}
