//! Replays every request of every provider-traffic transcript (what qiskit-ibm-runtime 0.51.0
//! and qiskit-ionq 1.1.1 sent) against a fresh double, with the double's key, tokens and job ids
//! in place of the recorded ones, and checks that each answer has the status of the transcript's
//! answer and its shape (every key, with its JSON type; the calibration and configuration
//! bodies, which both serve from the same snapshots, in full; the job states in sequence).
//!
//! Where the transcripts' fake invented a field that the provider documents otherwise, the
//! double follows the documentation; those few paths are listed in `ionq_divergence`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;

use common::*;
use qwarden_provider_doubles::{IbmConfig, IbmDouble, IonqConfig, IonqDouble, ibm_fixtures_dir};
use serde_json::Value;

enum Double {
    Ibm(IbmDouble),
    Ionq(IonqDouble),
}

impl Double {
    /// A job's status as the API spells it, and whether it is final.
    fn job_status(&self, id: &str) -> (&'static str, bool) {
        match self {
            Double::Ibm(d) => {
                let s = d.job(id).unwrap().status;
                (s.as_str(), s.is_final())
            }
            Double::Ionq(d) => {
                let s = d.job(id).unwrap().status;
                (s.as_str(), s.is_final())
            }
        }
    }

    fn advance_job(&self, id: &str) {
        match self {
            Double::Ibm(d) => assert!(d.advance_job(id).is_some()),
            Double::Ionq(d) => assert!(d.advance_job(id).is_some()),
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Double::Ibm(d) => d.addr(),
            Double::Ionq(d) => d.addr(),
        }
    }
}

/// Paths where the double follows IonQ's v0.4 documentation rather than the transcripts' fake.
fn ionq_divergence(path: &str) -> bool {
    // The create response is `{id, status, session_id}` in IonQ's "Create job" reference; the
    // fake added `request`.
    path == "$.request"
        // IonQ documents `last_updated` as a date-time string; the fake sent Unix seconds.
        || path == "$.last_updated"
        // Not in IonQ's backend object; the fake's invention (provider-traffic README).
        || path == "$.has_access"
        // Not in IonQ's characterization object; the fake's invention.
        || (path.starts_with("$.characterizations[") && path.ends_with("].status"))
}

fn form_encode(body: &Value, api_key: &str) -> Vec<u8> {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    body.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = if k == "apikey" {
                api_key.to_owned()
            } else {
                v.as_str().unwrap().to_owned()
            };
            format!("{}={}", enc(k), enc(&v))
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

fn replay(file: &str) {
    let exchanges = transcript(file);
    assert!(!exchanges.is_empty());
    let double = if file.contains("ionq-") {
        Double::Ionq(IonqDouble::start(IonqConfig::default()))
    } else {
        let mut config = IbmConfig::from_fixtures(&ibm_fixtures_dir()).unwrap();
        // The SDK's fallback after IAM refused the key (variants/ibm-iam-rejected-*).
        config.accept_apikey_header = file.contains("iam-rejected");
        Double::Ibm(IbmDouble::start(config))
    };
    let addr = double.addr();
    let mut token: Option<String> = None;
    let mut job_ids: HashMap<String, String> = HashMap::new();

    for ex in &exchanges {
        let seq = &ex["seq"];
        let req = &ex["request"];
        let want = &ex["response"];
        let want_status = want["status"].as_u64().unwrap() as u16;
        let method = req["method"].as_str().unwrap();
        let mut path = req["path"].as_str().unwrap().to_owned();
        for (recorded, ours) in &job_ids {
            path = path.replace(recorded.as_str(), ours);
        }
        let is_job_post = method == "POST" && (path.ends_with("/jobs"));

        // Knobs: make the double do what the transcript's fake was told to do.
        match &double {
            Double::Ibm(ibm) => {
                if path.ends_with("/identity/token") {
                    ibm.set_iam_rejects_key(want_status == 400);
                }
                if is_job_post && want_status == 403 {
                    let msg = want["body"]["errors"][0]["message"].as_str().unwrap();
                    ibm.reject_next_job(403, msg);
                }
                if is_job_post && want_status == 200 && file.contains("job-failed") {
                    ibm.fail_next_job("Error raised by the IBM double", 1517);
                }
                if is_job_post && want_status == 200 && file.contains("job-cancelled") {
                    ibm.cancel_next_job();
                }
            }
            Double::Ionq(ionq) => {
                if is_job_post && want_status == 403 {
                    ionq.reject_next_job(403, want["body"]["message"].as_str().unwrap());
                }
                if is_job_post && want_status == 200 && file.contains("job-failed") {
                    ionq.fail_next_job("InternalError", "Error raised by the IonQ double");
                }
                if is_job_post && want_status == 200 && file.contains("job-cancelled") {
                    ionq.cancel_next_job();
                }
            }
        }

        // A job's state moves when the test says so: where the fake's clock moved a job further
        // between two polls than one step (variants/ionq-minimal-responses.jsonl), step it on.
        let polled_job = (method == "GET" && path.contains("/jobs/") && !path.contains("/results"))
            .then(|| path.rsplit('/').next().unwrap().to_owned());
        if let (Some(id), Some(body)) = (&polled_job, want["body"].as_object()) {
            let wanted = body
                .get("state")
                .and_then(|s| s.get("status"))
                .or_else(|| body.get("status"))
                .and_then(Value::as_str);
            if let Some(wanted) = wanted {
                while let (now, false) = double.job_status(id)
                    && now != wanted
                {
                    double.advance_job(id);
                }
            }
        }

        // The request, with our credentials.
        let mut headers: Vec<(String, String)> = Vec::new();
        for h in req["headers"].as_array().unwrap() {
            let (name, value) = (h[0].as_str().unwrap(), h[1].as_str().unwrap());
            if ["host", "content-length", "connection"]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
            {
                continue;
            }
            let value = match (&double, value) {
                (Double::Ibm(ibm), "Bearer <REDACTED>") => {
                    let t = token.get_or_insert_with(|| ibm.mint_access_token());
                    format!("Bearer {t}")
                }
                (Double::Ibm(ibm), "apikey <REDACTED>") => format!("apikey {}", ibm.api_key()),
                (Double::Ionq(ionq), "apiKey <REDACTED>") => format!("apiKey {}", ionq.api_key()),
                (_, v) => {
                    assert!(!v.contains("REDACTED"), "seq {seq}: unhandled {name}: {v}");
                    v.to_owned()
                }
            };
            headers.push((name.to_owned(), value));
        }
        let body: Vec<u8> = match (req["body_kind"].as_str(), &double) {
            (Some("json"), _) => serde_json::to_vec(&req["body"]).unwrap(),
            (Some("form"), Double::Ibm(ibm)) => form_encode(&req["body"], ibm.api_key()),
            (None, _) => Vec::new(),
            (other, _) => panic!("seq {seq}: body kind {other:?}"),
        };
        let target = match req["raw_query"].as_str() {
            Some(q) if !q.is_empty() => format!("{path}?{q}"),
            _ => path.clone(),
        };
        let header_refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let got = http(addr, method, &target, &header_refs, &body);

        let context = format!("{file} seq {seq}: {method} {target}");
        assert_eq!(
            got.status,
            want_status,
            "{context}: status (body {})",
            got.text()
        );
        match want["body_kind"].as_str() {
            Some("json") => {
                assert!(
                    got.header("content-type")
                        .is_some_and(|ct| ct.starts_with("application/json")),
                    "{context}: content type {:?}",
                    got.header("content-type")
                );
                let actual = got.json();
                let expected = &want["body"];
                let mut diffs = Vec::new();
                let allowed: &dyn Fn(&str) -> bool = match &double {
                    Double::Ionq(_) => &ionq_divergence,
                    Double::Ibm(_) => &|_: &str| false,
                };
                shape_differences(expected, &actual, "$", allowed, &mut diffs);
                assert!(diffs.is_empty(), "{context}: shape differs: {diffs:#?}");
                // The snapshots are served as they are (with the backend's name).
                if path.ends_with("/properties") || path.ends_with("/configuration") {
                    assert_eq!(&actual, expected, "{context}: served snapshot differs");
                }
                // The job state machine follows the transcript poll by poll.
                if method == "GET" && path.contains("/jobs/") && !path.ends_with("/results") {
                    if let Some(state) = expected.pointer("/state/status") {
                        assert_eq!(actual.pointer("/state/status"), Some(state), "{context}");
                    } else if let Some(status) = expected.get("status") {
                        assert_eq!(actual.get("status"), Some(status), "{context}");
                    }
                }
                if path.ends_with("/identity/token") && got.status == 200 {
                    token = Some(actual["access_token"].as_str().unwrap().to_owned());
                }
                if is_job_post && got.status == 200 {
                    let recorded = expected["id"].as_str().unwrap().to_owned();
                    let ours = actual["id"].as_str().unwrap().to_owned();
                    job_ids.insert(recorded, ours);
                }
            }
            Some("text") => assert!(
                got.header("content-type")
                    .is_some_and(|ct| ct.starts_with("text/plain")),
                "{context}: expected a text body, got {:?}: {}",
                got.header("content-type"),
                got.text()
            ),
            other => panic!("{context}: body kind {other:?}"),
        }
    }

    // Every request reached the double and was recorded.
    let recorded = match &double {
        Double::Ibm(d) => d.requests(),
        Double::Ionq(d) => d.requests(),
    };
    assert_eq!(recorded.len(), exchanges.len());
}

#[test]
fn ibm_sampler_v2() {
    replay("ibm-sampler-v2.jsonl");
}

#[test]
fn ionq_bell() {
    replay("ionq-bell.jsonl");
}

#[test]
fn ibm_denied_403() {
    replay("variants/ibm-denied-403.jsonl");
}

#[test]
fn ibm_executor_sampler_request_only() {
    replay("variants/ibm-executor-sampler-request-only.jsonl");
}

#[test]
fn ibm_global_search_no_instance() {
    replay("variants/ibm-global-search-no-instance.jsonl");
}

#[test]
fn ibm_iam_rejected_apikey_fallback() {
    replay("variants/ibm-iam-rejected-apikey-fallback.jsonl");
}

#[test]
fn ibm_job_cancelled() {
    replay("variants/ibm-job-cancelled.jsonl");
}

#[test]
fn ibm_job_failed() {
    replay("variants/ibm-job-failed.jsonl");
}

#[test]
fn ibm_minimal_responses() {
    replay("variants/ibm-minimal-responses.jsonl");
}

#[test]
fn ibm_shots_sources() {
    replay("variants/ibm-shots-sources.jsonl");
}

#[test]
fn ibm_userinfo_url() {
    replay("variants/ibm-userinfo-url.jsonl");
}

#[test]
fn ionq_denied_403() {
    replay("variants/ionq-denied-403.jsonl");
}

#[test]
fn ionq_job_cancelled() {
    replay("variants/ionq-job-cancelled.jsonl");
}

#[test]
fn ionq_job_failed() {
    replay("variants/ionq-job-failed.jsonl");
}

#[test]
fn ionq_minimal_responses() {
    replay("variants/ionq-minimal-responses.jsonl");
}

#[test]
fn ionq_shots_sources() {
    replay("variants/ionq-shots-sources.jsonl");
}

/// Every transcript in the directory is replayed by a test above.
#[test]
fn every_transcript_is_replayed() {
    let source = include_str!("replay.rs");
    let dir = fixtures().join("provider-traffic");
    let mut files = Vec::new();
    for sub in ["", "variants"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".jsonl") {
                files.push(if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                });
            }
        }
    }
    assert!(files.len() >= 16);
    for f in files {
        assert!(
            source.contains(&format!("replay(\"{f}\")")),
            "{f} is not replayed"
        );
    }
}
