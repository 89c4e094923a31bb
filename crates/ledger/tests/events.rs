//! Audit events: round trips through `to_jcs`/`from_jcs` for every kind, secret redaction,
//! offloading of large payloads to the CAS, the 65535-byte entry cap, strict reading, and a
//! mutation run of `from_jcs` that must never panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support_events;

use qwarden_ledger::cas::{BlobStore, CasError, Digest, DirCas, MemCas};
use qwarden_ledger::event::*;
use qwarden_ledger::jcs;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use support_events::{d, samples, t};

fn encode(e: &Event) -> (Vec<u8>, MemCas) {
    let mut cas = MemCas::new();
    let bytes = e.to_jcs(&mut cas).unwrap();
    (bytes, cas)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn samples_cover_every_kind() {
    let kinds: BTreeSet<Kind> = samples().iter().map(Event::kind).collect();
    assert_eq!(kinds, Kind::ALL.into_iter().collect());
    for kind in Kind::ALL {
        assert_eq!(kind.as_str().parse::<Kind>().unwrap(), kind);
    }
}

#[test]
fn every_kind_round_trips() {
    for e in samples() {
        let (bytes, cas) = encode(&e);
        assert!(cas.is_empty(), "{} offloaded a small payload", e.kind());
        let back = Event::from_jcs(&bytes)
            .unwrap_or_else(|err| panic!("{}: {err}", String::from_utf8_lossy(&bytes)));
        assert_eq!(back, e);
        assert!(back.is_resolved());
        // Writing what was read gives the same bytes, and they are RFC 8785 canonical.
        assert_eq!(back.to_jcs(&mut MemCas::new()).unwrap(), bytes);
        assert_eq!(jcs::canonicalize(&bytes).unwrap(), bytes);
        // The envelope is there.
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["v"], json!(1));
        assert_eq!(v["kind"], json!(e.kind().as_str()));
        assert_eq!(v["time"], json!(e.time.to_string()));
    }
}

/// One entry written out in full: the schema by example, and a guard against silent changes.
#[test]
fn exec_entry_bytes_are_stable() {
    let e = Event::new(
        Timestamp::from_unix_nanos(1_777_777_777_000_000_001).unwrap(),
        Exec {
            pid: 42,
            argv: vec!["ls".into(), "-l".into()].into(),
            cwd: "/w".into(),
            path: "/bin/ls".into(),
            sha256: Some(Digest::of(b"")),
        },
    )
    .with_session("s1")
    .with_agent("a");
    let (bytes, _) = encode(&e);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        concat!(
            r#"{"agent":"a","argv":["ls","-l"],"cwd":"/w","kind":"exec","path":"/bin/ls","pid":42,"session":"s1","#,
            r#""sha256":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","#,
            r#""time":"2026-05-03T03:09:37.000000001Z","v":1}"#
        )
    );
}

#[test]
fn timestamps_have_one_spelling() {
    let ts = t(123);
    assert_eq!(ts.to_string().parse::<Timestamp>().unwrap(), ts);
    assert_eq!(ts.to_string().len(), 30);
    assert_eq!(
        "1970-01-01T00:00:00.000000000Z"
            .parse::<Timestamp>()
            .unwrap()
            .unix_nanos(),
        0
    );
    assert_eq!(
        "9999-12-31T23:59:59.999999999Z"
            .parse::<Timestamp>()
            .unwrap()
            .unix_millis(),
        253_402_300_799_999
    );
    assert_eq!(
        Timestamp::from_unix_nanos(-1).unwrap().to_string(),
        "1969-12-31T23:59:59.999999999Z"
    );
    for bad in [
        "2026-05-03T03:09:37Z",
        "2026-05-03T03:09:37.123456Z",
        "2026-05-03T03:09:37.000000001+00:00",
        "2026-05-03t03:09:37.000000001Z",
        "2026-05-03T03:09:37.000000001z",
        "2026-02-30T00:00:00.000000000Z",
        "2026-05-03T24:00:00.000000000Z",
        "2026-05-03T23:59:60.000000000Z",
        "+026-05-03T03:09:37.000000001Z",
        "2026-05-03 03:09:37.000000001Z",
        "２026-05-03T03:09:37.000000001Z",
        "",
    ] {
        assert!(bad.parse::<Timestamp>().is_err(), "{bad} was accepted");
    }
    assert!(
        Timestamp::from_unix_nanos(253_402_300_800_000_000_000).is_err(),
        "year 10000 was accepted"
    );
    assert!(Timestamp::now().to_string().ends_with('Z'));
}

const SECRET: &str = "s3cr3t-Value_that+must/never=appear";

/// Names that must be hashed, one or more per rule, and names that must not.
const SENSITIVE: &[&str] = &[
    "QISKIT_IBM_TOKEN",
    "IONQ_API_KEY",
    "DATABASE_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "GITHUB_TOKEN",
    "HF_TOKEN",
    "clientSecret",
    "PGPASSWORD",
    "DB_PASSWD",
    "SSH_PASSPHRASE",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "SSH_PRIVATE_KEY",
    "OPENAI_API_KEY",
    "OPENAI_APIKEY",
    "apiKey",
    "x-api-key",
    "SIGNING_KEYS",
    "HTTP_AUTHORIZATION",
    "Authorization",
    "NPM_AUTH",
    "SESSION_COOKIE",
    "SENTRY_DSN",
    "SMTP_PASS",
    "GH_PAT",
    "MYSQL_PWD",
    "token",
];

const NOT_SENSITIVE: &[&str] = &[
    "PATH",
    "HOME",
    "PWD",
    "OLDPWD",
    "KEYBOARD",
    "XKB_KEYMAP",
    "KEYRING_BACKEND",
    "QISKIT_IBM_URL",
    "LANG",
    "PATHEXT",
];

#[test]
fn sensitive_name_rule() {
    for name in SENSITIVE {
        assert!(is_sensitive_name(name), "{name} should be sensitive");
    }
    for name in NOT_SENSITIVE {
        assert!(!is_sensitive_name(name), "{name} should not be sensitive");
    }
}

#[test]
fn secret_env_values_never_appear() {
    let hash = Digest::of(SECRET.as_bytes()).to_string();
    for name in SENSITIVE {
        // Through the constructor, and bypassing it with a plain value: both must be hashed.
        for var in [
            EnvVar::set(*name, SECRET),
            EnvVar::Set {
                name: (*name).to_owned(),
                value: EnvValue::Plain(SECRET.to_owned()),
            },
        ] {
            let e = Event::new(
                t(0),
                EnvChange {
                    changes: vec![var].into(),
                    pid: None,
                },
            );
            let (bytes, cas) = encode(&e);
            assert!(
                !contains(&bytes, SECRET),
                "{name}: secret in {}",
                String::from_utf8_lossy(&bytes)
            );
            assert!(contains(&bytes, &hash), "{name}: hash missing");
            assert!(cas.is_empty());
            let back = Event::from_jcs(&bytes).unwrap();
            let Body::EnvChange(EnvChange {
                changes: Payload::Inline(vars),
                ..
            }) = back.body
            else {
                panic!()
            };
            assert_eq!(
                vars,
                vec![EnvVar::Set {
                    name: (*name).to_owned(),
                    value: EnvValue::Hashed(Digest::of(SECRET.as_bytes()))
                }]
            );
            assert!(!format!("{vars:?}").contains(SECRET));
        }
    }
    for name in NOT_SENSITIVE {
        let e = Event::new(
            t(0),
            EnvChange {
                changes: vec![EnvVar::set(*name, "visible")].into(),
                pid: None,
            },
        );
        let (bytes, _) = encode(&e);
        assert!(contains(&bytes, r#""value":"visible""#), "{name}");
    }
}

#[test]
fn secrets_in_details_are_hashed() {
    let hash = Digest::of(SECRET.as_bytes()).to_string();
    let e = support_events::samples().remove(0).with_details(json!({
        "request": {"headers": {"Authorization": SECRET, "Accept": "json"}},
        "credentials": [{"user": SECRET}, SECRET],
        "api_key": SECRET,
        "token_count": 17,
        "env": {"GITHUB_TOKEN": SECRET, "HOME": "/home/a"},
    }));
    let (bytes, _) = encode(&e);
    assert!(
        !contains(&bytes, SECRET),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let details = &v["details"];
    assert_eq!(details["request"]["headers"]["Authorization"], json!(hash));
    assert_eq!(details["request"]["headers"]["Accept"], json!("json"));
    assert_eq!(details["credentials"], json!([{"user": hash}, hash]));
    assert_eq!(details["api_key"], json!(hash));
    assert_eq!(details["token_count"], json!(17));
    assert_eq!(
        details["env"],
        json!({"GITHUB_TOKEN": hash, "HOME": "/home/a"})
    );
    Event::from_jcs(&bytes).unwrap();
}

#[test]
fn secrets_do_not_reach_the_cas_either() {
    let hash = Digest::of(SECRET.as_bytes()).to_string();
    let mut changes: Vec<EnvVar> = (0..300)
        .map(|i| EnvVar::set(format!("VAR_{i}"), "some ordinary value"))
        .collect();
    changes.push(EnvVar::Set {
        name: "IONQ_API_KEY".into(),
        value: EnvValue::Plain(SECRET.into()),
    });
    let e = Event::new(
        t(0),
        EnvChange {
            changes: changes.into(),
            pid: Some(3),
        },
    )
    .with_details(json!({"password": SECRET, "pad": "x".repeat(5000)}));
    let (bytes, cas) = encode(&e);
    assert_eq!(cas.len(), 2, "env changes and details both offloaded");
    for digest in cas.digests() {
        let blob = cas.get(digest).unwrap();
        assert!(!contains(&blob, SECRET));
    }
    assert!(!contains(&bytes, SECRET));
    let resolved = Event::from_jcs(&bytes).unwrap().resolve(&cas).unwrap();
    let Body::EnvChange(EnvChange {
        changes: Payload::Inline(vars),
        ..
    }) = &resolved.body
    else {
        panic!()
    };
    assert_eq!(
        vars.last().unwrap(),
        &EnvVar::Set {
            name: "IONQ_API_KEY".into(),
            value: EnvValue::Hashed(Digest::of(SECRET.as_bytes()))
        }
    );
    assert_eq!(
        resolved.details.unwrap().inline().unwrap()["password"],
        json!(hash)
    );
}

/// A canonical entry as an attacker or a buggy writer could produce it.
fn forge(v: Value) -> Vec<u8> {
    jcs::to_vec(&v).unwrap()
}

fn base(kind: &str) -> serde_json::Map<String, Value> {
    let Value::Object(m) = json!({"v": 1, "time": "2026-05-03T03:09:37.000000001Z", "kind": kind})
    else {
        panic!()
    };
    m
}

#[test]
fn plain_secrets_are_rejected_on_read() {
    let mut m = base("env.change");
    m.insert(
        "changes".into(),
        json!([{"op": "set", "name": "GITHUB_TOKEN", "value": "ghp_x"}]),
    );
    let err = Event::from_jcs(&forge(Value::Object(m))).unwrap_err();
    assert!(
        matches!(err, EventError::PlainSecret { ref name } if name == "GITHUB_TOKEN"),
        "{err}"
    );
    assert!(err.to_string().contains("GITHUB_TOKEN"));

    let mut m = base("approval");
    m.extend([
        ("request_id".into(), json!("r")),
        ("approver".into(), json!("a")),
        ("decision".into(), json!("approve")),
        ("details".into(), json!({"nested": {"secret": "plain"}})),
    ]);
    assert!(matches!(
        Event::from_jcs(&forge(Value::Object(m))),
        Err(EventError::PlainSecret { .. })
    ));
}

#[test]
fn large_payloads_go_to_the_cas_and_come_back() {
    let argv: Vec<String> = (0..200)
        .map(|i| format!("--option-{i}=value-{i}-with-some-length"))
        .collect();
    let e = Event::new(
        t(0),
        Exec { pid: 9, argv: argv.clone().into(), cwd: "/w".into(), path: "/usr/bin/tool".into(), sha256: None },
    )
    .with_details(json!({"calibration": (0..400).map(|q| json!({"qubit": q, "t1": 1.0e-4 + q as f64 * 1e-7})).collect::<Vec<_>>()}));
    let (bytes, cas) = encode(&e);
    assert!(bytes.len() < 1024, "entry is {} bytes", bytes.len());
    assert_eq!(cas.len(), 2);
    let back = Event::from_jcs(&bytes).unwrap();
    assert!(!back.is_resolved());
    let Body::Exec(x) = &back.body else { panic!() };
    let r = *x.argv.stored().unwrap();
    assert_eq!(r.size as usize, jcs::to_vec(&json!(argv)).unwrap().len());
    assert_eq!(
        cas.get(&r.digest).unwrap(),
        jcs::to_vec(&json!(argv)).unwrap()
    );
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        v["argv"],
        json!({"cas": r.digest.to_string(), "size": r.size})
    );
    let resolved = back.resolve(&cas).unwrap();
    assert_eq!(resolved, e);
    assert!(resolved.is_resolved());
    // Writing the logged form again does not store anything new and gives the same bytes.
    let mut again = MemCas::new();
    assert_eq!(back.to_jcs(&mut again).unwrap(), bytes);
    assert!(again.is_empty());
}

#[test]
fn the_inline_limit_is_exact() {
    // A JSON string of n characters is n + 2 bytes in canonical form.
    for (n, offloaded) in [(INLINE_LIMIT - 2, false), (INLINE_LIMIT - 1, true)] {
        let e = samples().remove(0).with_details(json!("x".repeat(n)));
        let (bytes, cas) = encode(&e);
        assert_eq!(cas.len(), usize::from(offloaded), "n = {n}");
        assert_eq!(Event::from_jcs(&bytes).unwrap().resolve(&cas).unwrap(), e);
    }
    // A reader refuses an inline payload that the writer would have offloaded.
    let mut m = base("exec");
    m.extend([
        ("pid".into(), json!(1)),
        ("argv".into(), json!(vec!["y".repeat(100); 50])),
        ("cwd".into(), json!("/")),
        ("path".into(), json!("/x")),
    ]);
    assert!(matches!(
        Event::from_jcs(&forge(Value::Object(m))),
        Err(EventError::InlineTooLarge { field: "argv", .. })
    ));
}

#[test]
fn reference_shaped_details_are_always_stored() {
    let looks_like_ref = json!({"cas": Digest::of(b"x").to_string(), "size": 1});
    let e = samples().remove(0).with_details(looks_like_ref.clone());
    let (bytes, cas) = encode(&e);
    assert_eq!(cas.len(), 1);
    let back = Event::from_jcs(&bytes).unwrap();
    let stored = back.details.as_ref().unwrap().stored().unwrap();
    assert_ne!(stored.digest, Digest::of(b"x"));
    assert_eq!(
        back.resolve(&cas)
            .unwrap()
            .details
            .unwrap()
            .inline()
            .unwrap(),
        &looks_like_ref
    );
}

#[test]
fn entries_never_exceed_the_tile_entry_limit() {
    // Thousands of reasons: no single payload field to offload, so the whole body goes.
    let reasons: Vec<String> = (0..5000)
        .map(|i| format!("reason number {i} with detail"))
        .collect();
    let e = Event::new(
        t(0),
        PolicyDecision {
            action: "job.submit".into(),
            resource: "ibm/ibm_torino".into(),
            outcome: PolicyOutcome::Deny,
            policies: vec!["p".into()],
            reasons,
        },
    )
    .with_session("s".repeat(MAX_SESSION_LEN))
    .with_agent("a".repeat(MAX_AGENT_LEN))
    .with_details(json!("d".repeat(INLINE_LIMIT - 2)));
    let (bytes, cas) = encode(&e);
    assert!(bytes.len() <= MAX_ENTRY_SIZE);
    assert_eq!(cas.len(), 1);
    let back = Event::from_jcs(&bytes).unwrap();
    let Body::Stored {
        kind: Kind::PolicyDecision,
        blob,
    } = back.body
    else {
        panic!("{:?}", back.body)
    };
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        v["body"],
        json!({"cas": blob.digest.to_string(), "size": blob.size})
    );
    assert_eq!(v["kind"], json!("policy.decision"));
    assert!(v.get("reasons").is_none());
    assert_eq!(back.resolve(&cas).unwrap(), e);

    // Grow an entry one reason at a time: it stays inline right up to the cap, then its body
    // moves to the CAS; no entry is ever over the cap.
    let mut biggest_inline = 0;
    for n in 2650.. {
        let reasons: Vec<String> = (0..n).map(|i| format!("r{i:020}")).collect();
        let e = Event::new(
            t(0),
            PolicyDecision {
                action: "a".into(),
                resource: "r".into(),
                outcome: PolicyOutcome::Allow,
                policies: vec![],
                reasons,
            },
        );
        let (bytes, cas) = encode(&e);
        assert!(bytes.len() <= MAX_ENTRY_SIZE);
        assert_eq!(Event::from_jcs(&bytes).unwrap().resolve(&cas).unwrap(), e);
        if !cas.is_empty() {
            break;
        }
        biggest_inline = bytes.len();
    }
    assert!(
        biggest_inline > MAX_ENTRY_SIZE - 30,
        "the last inline entry was {biggest_inline} bytes"
    );

    let mut huge = vec![b' '; MAX_ENTRY_SIZE + 1];
    huge[0] = b'{';
    assert!(matches!(
        Event::from_jcs(&huge),
        Err(EventError::TooLarge { .. })
    ));
}

#[test]
fn resolve_checks_the_store() {
    let argv: Vec<String> = (0..300).map(|i| format!("arg-{i:08}")).collect();
    let e = Event::new(
        t(0),
        Exec {
            pid: 1,
            argv: argv.into(),
            cwd: "/".into(),
            path: "/x".into(),
            sha256: None,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let mut cas = DirCas::open(dir.path().join("cas")).unwrap();
    let bytes = e.to_jcs(&mut cas).unwrap();
    let logged = Event::from_jcs(&bytes).unwrap();
    assert_eq!(logged.resolve(&cas).unwrap(), e);

    // Missing from an empty store.
    let err = logged.resolve(&MemCas::new()).unwrap_err();
    assert!(
        matches!(err, EventError::Cas(CasError::MissingInMemory { .. })),
        "{err}"
    );

    // Tampered on disk: the error names the digest and the file.
    let Body::Exec(x) = &logged.body else {
        panic!()
    };
    let digest = x.argv.stored().unwrap().digest;
    let path = cas.path_of(&digest);
    std::fs::write(&path, br#"["rm","-rf","/"]"#).unwrap();
    let err = logged.resolve(&cas).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, EventError::Cas(CasError::Tampered { .. })),
        "{msg}"
    );
    assert!(
        msg.contains(&digest.to_string()) && msg.contains(&path.display().to_string()),
        "{msg}"
    );

    // A store that returns bytes of the wrong size or shape for a reference.
    let mut other = MemCas::new();
    let bogus = other.put(br#"{"not":"a list"}"#).unwrap();
    for size in [16, 17] {
        let mut forged = logged.clone();
        let Body::Exec(x) = &mut forged.body else {
            panic!()
        };
        x.argv = Payload::Stored(BlobRef {
            digest: bogus,
            size,
        });
        assert!(
            matches!(forged.resolve(&other), Err(EventError::Blob { .. })),
            "size {size}"
        );
    }
}

#[test]
fn reading_is_strict() {
    let good = encode(&samples()[2]).0;
    let good_v: Value = serde_json::from_slice(&good).unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut v = good_v.clone();
        f(v.as_object_mut().unwrap());
        forge(v)
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "unknown kind",
            with(&|m| drop(m.insert("kind".into(), json!("exec.v2")))),
        ),
        (
            "unknown field",
            with(&|m| drop(m.insert("uid".into(), json!(0)))),
        ),
        ("missing field", with(&|m| drop(m.remove("cwd")))),
        ("missing time", with(&|m| drop(m.remove("time")))),
        ("missing version", with(&|m| drop(m.remove("v")))),
        (
            "newer version",
            with(&|m| drop(m.insert("v".into(), json!(2)))),
        ),
        (
            "version as string",
            with(&|m| drop(m.insert("v".into(), json!("1")))),
        ),
        (
            "wrong type",
            with(&|m| drop(m.insert("pid".into(), json!("42")))),
        ),
        (
            "negative pid",
            with(&|m| drop(m.insert("pid".into(), json!(-1)))),
        ),
        (
            "fractional pid",
            with(&|m| drop(m.insert("pid".into(), json!(1.5)))),
        ),
        (
            "null optional",
            with(&|m| drop(m.insert("sha256".into(), Value::Null))),
        ),
        (
            "null session",
            with(&|m| drop(m.insert("session".into(), Value::Null))),
        ),
        (
            "bad digest",
            with(&|m| drop(m.insert("sha256".into(), json!("sha256:ABC")))),
        ),
        (
            "uppercase digest",
            with(&|m| drop(m.insert("sha256".into(), json!(d("x").to_string().to_uppercase())))),
        ),
        (
            "empty argv",
            with(&|m| drop(m.insert("argv".into(), json!([])))),
        ),
        (
            "bad time",
            with(&|m| drop(m.insert("time".into(), json!("2026-05-03T03:09:37Z")))),
        ),
        (
            "empty session",
            with(&|m| drop(m.insert("session".into(), json!("")))),
        ),
        (
            "long agent",
            with(&|m| drop(m.insert("agent".into(), json!("a".repeat(MAX_AGENT_LEN + 1))))),
        ),
        (
            "body and fields",
            with(&|m| drop(m.insert("body".into(), json!({"cas": d("b").to_string(), "size": 3})))),
        ),
        (
            "malformed ref",
            with(&|m| drop(m.insert("argv".into(), json!({"cas": "x", "size": 3})))),
        ),
        ("array entry", forge(json!([good_v.clone()]))),
        ("whitespace", serde_json::to_vec_pretty(&good_v).unwrap()),
        ("reordered", {
            let s = String::from_utf8(good.clone()).unwrap();
            s.replacen(r#""agent":"claude-code","#, "", 1)
                .replacen('}', r#","agent":"claude-code"}"#, 1)
                .into_bytes()
        }),
        ("duplicate member", {
            let s = String::from_utf8(good.clone()).unwrap();
            s.replacen(r#""pid":4242"#, r#""pid":4242,"pid":4242"#, 1)
                .into_bytes()
        }),
        (
            "escaped letter",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("python3\"", "python\\u0033\"", 1)
                .into_bytes(),
        ),
        (
            "number spelling",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("4242", "4.242e3", 1)
                .into_bytes(),
        ),
        ("trailing newline", [good.clone(), b"\n".to_vec()].concat()),
        ("not json", b"exec pid=42".to_vec()),
        ("empty", Vec::new()),
    ];
    for (what, bytes) in cases {
        match Event::from_jcs(&bytes) {
            Ok(e) => panic!(
                "{what}: accepted {e:?} from {}",
                String::from_utf8_lossy(&bytes)
            ),
            Err(err) => {
                let msg = err.to_string();
                assert!(
                    !msg.is_empty() && !msg.starts_with(char::is_uppercase),
                    "{what}: {msg}"
                );
            }
        }
    }
}

#[test]
fn file_write_rules() {
    let fw = |op, new_path: Option<&str>, before: bool, after: bool, size: bool| {
        Event::new(
            t(0),
            FileWrite {
                op,
                path: "/a".into(),
                new_path: new_path.map(Into::into),
                size: size.then_some(1),
                sha256_before: before.then(|| d("b")),
                sha256_after: after.then(|| d("a")),
                pid: None,
            },
        )
        .to_jcs(&mut MemCas::new())
    };
    assert!(fw(FileOp::Rename, None, true, true, true).is_err());
    assert!(fw(FileOp::Rename, Some("/b"), true, true, true).is_ok());
    assert!(fw(FileOp::Rename, Some(""), true, true, true).is_err());
    assert!(fw(FileOp::Modify, Some("/b"), true, true, true).is_err());
    assert!(fw(FileOp::Create, None, true, true, true).is_err());
    assert!(fw(FileOp::Create, None, false, true, true).is_ok());
    assert!(fw(FileOp::Delete, None, true, true, false).is_err());
    assert!(fw(FileOp::Delete, None, true, false, true).is_err());
    assert!(fw(FileOp::Delete, None, true, false, false).is_ok());
    let exit = Event::new(
        t(0),
        SessionEnd {
            exit: ExitStatus {
                code: Some(1),
                signal: Some(9),
            },
            summary: SessionSummary::default(),
            write_set_digest: None,
        },
    );
    assert!(exit.to_jcs(&mut MemCas::new()).is_err());
    let env = Event::new(
        t(0),
        EnvChange {
            changes: vec![EnvVar::set("A=B", "c")].into(),
            pid: None,
        },
    );
    assert!(env.to_jcs(&mut MemCas::new()).is_err());
}

#[test]
fn numbers_beyond_two_to_the_53_are_refused() {
    let e = Event::new(
        t(0),
        JobSubmit {
            provider: "p".into(),
            backend: "b".into(),
            shots: 1 << 53,
            circuit_digest: d("c"),
            job_id: None,
            calibration_digest: None,
            request_digest: None,
        },
    );
    assert!(matches!(
        e.to_jcs(&mut MemCas::new()),
        Err(EventError::Encode(_))
    ));
}

#[test]
fn credential_events_hold_only_the_handle_hash() {
    let handle = "qwh_live_9f8e7d6c5b4a";
    let e = Event::new(
        t(0),
        Credential::for_handle(CredentialAction::Mint, handle, "ionq", Some(t(1))),
    );
    let (bytes, _) = encode(&e);
    assert!(!contains(&bytes, handle));
    assert!(contains(&bytes, &Digest::of(handle.as_bytes()).to_string()));
}

/// xorshift64*: a fixed-seed generator so the mutation run is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"null",
    b"true",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"0",
    b"-0",
    b"1e400",
    b"9007199254740993",
    b"-1",
    b"1.5",
    b"\"cas\"",
    b"\"size\"",
    b"\"body\"",
    b"\"kind\"",
    b"\"exec\"",
    b"\"v\"",
    b"sha256:",
    b"\xff",
    b"\xc3\xa9",
    b"\xf0\x9f\x98\x80",
    b" ",
    b"\"session.start\"",
    b"[[[[[[[[",
    b"{\"a\":",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            2 if at < out.len() => {
                let len = rng.below((out.len() - at).min(16)) + 1;
                out.drain(at..at + len);
            }
            3 => {
                let tok = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, tok.iter().copied());
            }
            4 => out.truncate(at),
            5 if at < out.len() => {
                // Duplicate a slice somewhere else.
                let len = rng.below((out.len() - at).min(40)) + 1;
                let piece = out[at..at + len].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, piece);
            }
            _ => {
                let i = rng.below(out.len() + 1);
                out.insert(i, rng.next() as u8);
            }
        }
    }
    out
}

/// `from_jcs` on mutated entries: never a panic, and anything it accepts is canonical (writing
/// it again yields exactly the input).
#[test]
fn from_jcs_survives_mutation() {
    let mut seeds: Vec<Vec<u8>> = samples().iter().map(|e| encode(e).0).collect();
    let big = Event::new(
        t(0),
        PolicyDecision {
            action: "a".into(),
            resource: "r".into(),
            outcome: PolicyOutcome::Deny,
            policies: vec![],
            reasons: (0..4000).map(|i| format!("reason {i:030}")).collect(),
        },
    );
    seeds.push(encode(&big).0);
    let offloaded = Event::new(
        t(0),
        Exec {
            pid: 1,
            argv: vec!["z".repeat(5000)].into(),
            cwd: "/".into(),
            path: "/x".into(),
            sha256: None,
        },
    );
    seeds.push(encode(&offloaded).0);
    seeds.push(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes());
    seeds.push(format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)).into_bytes());

    let mut rng = Rng(0x0005_eed0_fa11_c0de);
    let (mut accepted, mut total) = (0, 0);
    for seed in &seeds {
        for _ in 0..1500 {
            let input = mutate(&mut rng, seed);
            total += 1;
            if let Ok(e) = Event::from_jcs(&input) {
                accepted += 1;
                let again = e.to_jcs(&mut MemCas::new()).unwrap();
                assert_eq!(
                    again,
                    input,
                    "accepted a non-canonical entry: {}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }
    // Some mutations are harmless (a changed letter inside a string), most are not.
    eprintln!("{accepted} of {total} mutated entries accepted");
    assert!(
        accepted > 0 && accepted < total,
        "{accepted} of {total} accepted"
    );
}
