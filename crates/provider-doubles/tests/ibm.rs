//! The IBM double on its own: IAM, authentication and the instance header, the calibration and
//! configuration it serves, job validation, the job state machine, results, cancel, delete, the
//! knobs, and the request log. No sleeps: every state change is a poll or a knob.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::Engine as _;
use common::*;
use qwarden_provider_doubles::{
    APIKEY_GRANT_TYPE, IbmConfig, IbmDouble, IbmJobStatus, ibm_fixtures_dir,
};
use serde_json::{Value, json};

/// A circuit with two classical registers, `c` (3 bits) and `flags` (10 bits), on 5 qubits
/// (QPY 17 written by qiskit 2.6.2 through qiskit-ibm-runtime's `RuntimeEncoder`).
const TWO_REGISTERS: &str = "eJyVUsEOgjAMXYHBAI3x7t94UGI8GD14M2QBLyY6wHgwfruy0ZERMbFNxuvKe20fYZftN9lh7oUe6wJuCrMFEyUTbcLbM8WipvmYz/SjeVxPVXGuscaeLwVGA2Ab2QCnB3P6BBLMDUD+UhhGwjiUl7yf1esROWKIGCEKxBgxQUwRJ4OZtguw8Viv8qZQg0HeN0urYXnsucrUIvftSO9tkdf3qlPIgYc/FObrkWZ40ixP3conbxWQt+IUha8VIUURaEVEdi7IzmOy84TsPCU713/82wnL+wDXz04B";
/// A circuit with one parameter and `measure_all` (register `meas`, 5 bits) ...
const PARAMETRIC: &str = "eJwL9Az29gwRZGJjYoAAxoJCKEuGgTWNgQPIYIViEGCCYhBgBxEFiUWJuVABhuraQkawYkZGmCkwwIhkAAgwQ2mWZIgOFsbc1MRiYjWhqGKDqmRkwA6CotwTS1LBDiqACgkzMP6qst9eXeDxeEPUTJuWvEK+Eoh/kPyKDpwSi4oyU4vABoEIsB+ZQARzIdhRMANwOcYX6MPSIohLksEiJOhgTAarIUEHE0gHEyk6mEE6mEnRwZLMAImO/0gApg4AUzE4hQ==";
/// ... and four values for it (an ndarray of shape (4, 1)).
const PARAMETER_VALUES: &str = "eJyb7BfqGxDJyFDGUK2eklqcXKRupaBuk2ahrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RomOgqGmjoKtQpkA65ZM0Fgpz2EPmlvDAaXofyb9gDY/SuR";

fn double() -> IbmDouble {
    IbmDouble::start(IbmConfig::from_fixtures(&ibm_fixtures_dir()).unwrap())
}

fn double_with(f: impl FnOnce(&mut IbmConfig)) -> IbmDouble {
    let mut config = IbmConfig::from_fixtures(&ibm_fixtures_dir()).unwrap();
    f(&mut config);
    IbmDouble::start(config)
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| {
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        char::from(b).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

fn iam(d: &IbmDouble, content_type: &str, body: &[u8]) -> Resp {
    http(
        d.addr(),
        "POST",
        "/identity/token",
        &[
            ("Content-Type", content_type),
            ("Accept", "application/json"),
        ],
        body,
    )
}

fn token(d: &IbmDouble) -> String {
    let r = iam(
        d,
        "application/x-www-form-urlencoded",
        &form(&[
            ("grant_type", APIKEY_GRANT_TYPE),
            ("apikey", d.api_key()),
            ("response_type", "cloud_iam"),
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_owned()
}

/// The headers qiskit-ibm-runtime sends on runtime calls.
struct Auth {
    bearer: String,
    crn: String,
}

impl Auth {
    fn new(d: &IbmDouble) -> Auth {
        Auth {
            bearer: format!("Bearer {}", token(d)),
            crn: d.instance_crn().to_owned(),
        }
    }
    fn headers(&self) -> Vec<(&str, &str)> {
        vec![
            ("Authorization", self.bearer.as_str()),
            ("Service-CRN", self.crn.as_str()),
            ("IBM-API-Version", "2026-04-15"),
            ("Accept", "application/json"),
        ]
    }
}

fn assert_ibm_error(r: &Resp, status: u16, code: i64) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = r.json();
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    assert!(body["errors"][0]["more_info"].is_string(), "{body}");
    assert!(body["trace"].is_string(), "{body}");
    assert_eq!(body["status_code"], status, "{body}");
}

fn assert_iam_error(r: &Resp, code: &str) {
    assert_eq!(r.status, 400, "{}", r.text());
    let body = r.json();
    assert_eq!(body["errorCode"], code, "{body}");
    assert!(body["errorMessage"].is_string());
    assert!(body["context"]["requestId"].is_string());
}

fn submit(d: &IbmDouble, auth: &Auth, body: &Value) -> Resp {
    post_json(d.addr(), "/api/v1/jobs", &auth.headers(), body)
}

fn job_state(d: &IbmDouble, auth: &Auth, id: &str) -> Value {
    let r = get(
        d.addr(),
        &format!("/api/v1/jobs/{id}?exclude_params=true"),
        &auth.headers(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn sampler_job(pubs: Value, options: Value) -> Value {
    json!({
        "program_id": "sampler",
        "backend": "ibm_lima",
        "params": {"pubs": pubs, "options": options, "version": 2, "support_qiskit": true},
        "log_level": "WARNING",
    })
}

fn circuit(qpy: &str) -> Value {
    json!({"__type__": "QuantumCircuit", "__value__": qpy})
}

// ---------------------------------------------------------------------------------------------
// IAM

#[test]
fn iam_issues_a_jwt_shaped_bearer_token_with_iat_and_exp() {
    let d = double();
    let r = iam(
        &d,
        "application/x-www-form-urlencoded",
        &form(&[("grant_type", APIKEY_GRANT_TYPE), ("apikey", d.api_key())]),
    );
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["refresh_token"], "not_supported");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "header.payload.signature");
    let decode = |p: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(decode(parts[0])["alg"], "RS256");
    let claims = decode(parts[1]);
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    assert_eq!(body["expiration"], exp);
    // Two exchanges give two tokens.
    let first = token.to_owned();
    assert_ne!(first, self::token(&d));
}

#[test]
fn iam_refuses_a_wrong_key_with_bxnim0415e() {
    let d = double();
    let r = iam(
        &d,
        "application/x-www-form-urlencoded",
        &form(&[("grant_type", APIKEY_GRANT_TYPE), ("apikey", "not-the-key")]),
    );
    assert_iam_error(&r, "BXNIM0415E");
    assert_eq!(
        r.json()["errorMessage"],
        "Provided API key could not be found."
    );
}

#[test]
fn iam_refuses_a_missing_key_a_wrong_grant_and_a_wrong_content_type() {
    let d = double();
    let urlenc = "application/x-www-form-urlencoded";
    assert_iam_error(
        &iam(&d, urlenc, &form(&[("grant_type", APIKEY_GRANT_TYPE)])),
        "BXNIM0109E",
    );
    assert_iam_error(
        &iam(
            &d,
            urlenc,
            &form(&[("grant_type", APIKEY_GRANT_TYPE), ("apikey", "")]),
        ),
        "BXNIM0109E",
    );
    assert_iam_error(
        &iam(
            &d,
            urlenc,
            &form(&[("grant_type", "password"), ("apikey", d.api_key())]),
        ),
        "BXNIM0103E",
    );
    assert_iam_error(
        &iam(&d, urlenc, &form(&[("apikey", d.api_key())])),
        "BXNIM0109E",
    );
    let json_body = json!({"grant_type": APIKEY_GRANT_TYPE, "apikey": d.api_key()}).to_string();
    assert_iam_error(
        &iam(&d, "application/json", json_body.as_bytes()),
        "BXNIM0109E",
    );
    assert_eq!(
        get(d.addr(), "/identity/token", &[]).status,
        405,
        "IAM takes POST only"
    );
}

#[test]
fn the_iam_knob_rejects_the_right_key_until_turned_off() {
    let d = double();
    d.set_iam_rejects_key(true);
    let body = form(&[("grant_type", APIKEY_GRANT_TYPE), ("apikey", d.api_key())]);
    assert_iam_error(
        &iam(&d, "application/x-www-form-urlencoded", &body),
        "BXNIM0415E",
    );
    d.set_iam_rejects_key(false);
    assert_eq!(
        iam(&d, "application/x-www-form-urlencoded", &body).status,
        200
    );
}

// ---------------------------------------------------------------------------------------------
// Authentication and the instance

#[test]
fn runtime_calls_without_authorization_get_401_in_ibm_shape() {
    let d = double();
    let crn = d.instance_crn().to_owned();
    let r = get(d.addr(), "/api/v1/backends", &[("Service-CRN", &crn)]);
    assert_ibm_error(&r, 401, 1201);
    // Unknown paths too: authentication comes first.
    let r = get(d.addr(), "/api/v1/nowhere", &[("Service-CRN", &crn)]);
    assert_ibm_error(&r, 401, 1201);
}

#[test]
fn wrong_or_revoked_tokens_and_raw_keys_get_401() {
    let d = double();
    let crn = d.instance_crn().to_owned();
    let auth = Auth::new(&d);
    let ok = get(d.addr(), "/api/v1/backends", &auth.headers());
    assert_eq!(ok.status, 200);
    for bad in [
        "Bearer not.a.token".to_owned(),
        "Bearer".to_owned(),
        format!("Basic {}", d.api_key()),
        // The SDK's fallback after an IAM failure, refused unless configured.
        format!("apikey {}", d.api_key()),
        // Another double's token.
        format!("Bearer {}", token(&double())),
    ] {
        let r = get(
            d.addr(),
            "/api/v1/backends",
            &[("Authorization", &bad), ("Service-CRN", &crn)],
        );
        assert_ibm_error(&r, 401, 1201);
    }
    d.expire_tokens();
    assert_ibm_error(
        &get(d.addr(), "/api/v1/backends", &auth.headers()),
        401,
        1201,
    );
    // A fresh token works again.
    assert_eq!(
        get(d.addr(), "/api/v1/backends", &Auth::new(&d).headers()).status,
        200
    );
}

#[test]
fn the_apikey_fallback_is_accepted_only_when_configured() {
    let d = double_with(|c| c.accept_apikey_header = true);
    let crn = d.instance_crn().to_owned();
    let key = format!("apikey {}", d.api_key());
    let r = get(
        d.addr(),
        "/api/v1/backends",
        &[("Authorization", &key), ("Service-CRN", &crn)],
    );
    assert_eq!(r.status, 200);
    let r = get(
        d.addr(),
        "/api/v1/backends",
        &[("Authorization", "apikey wrong"), ("Service-CRN", &crn)],
    );
    assert_ibm_error(&r, 401, 1201);
}

#[test]
fn service_crn_is_required_and_must_name_the_instance() {
    let d = double();
    let bearer = format!("Bearer {}", token(&d));
    let r = get(d.addr(), "/api/v1/backends", &[("Authorization", &bearer)]);
    assert_ibm_error(&r, 400, 1208);
    let other = "crn:v1:bluemix:public:quantum-computing:us-east:a/ffff:eeee::";
    let r = get(
        d.addr(),
        "/api/v1/backends",
        &[("Authorization", &bearer), ("Service-CRN", other)],
    );
    assert_ibm_error(&r, 403, 1200);
    let r = get(
        d.addr(),
        "/api/v1/backends",
        &[
            ("Authorization", &bearer),
            ("Service-CRN", d.instance_crn()),
            ("IBM-API-Version", "yesterday"),
        ],
    );
    assert_ibm_error(&r, 400, 1208);
}

// ---------------------------------------------------------------------------------------------
// Backends and calibration

#[test]
fn the_calibration_served_is_the_fixtures() {
    let d = double();
    let auth = Auth::new(&d);
    for (name, stem) in [
        ("ibm_lima", "lima"),
        ("ibm_brisbane", "brisbane"),
        ("ibm_torino", "torino"),
    ] {
        for (what, prefix) in [("properties", "props"), ("configuration", "conf")] {
            let mut fixture: Value = serde_json::from_slice(
                &std::fs::read(ibm_fixtures_dir().join(format!("{prefix}_{stem}.json"))).unwrap(),
            )
            .unwrap();
            fixture["backend_name"] = json!(name);
            for root in ["/api/v1", "/experimental/api/v1"] {
                let r = get(
                    d.addr(),
                    &format!("{root}/backends/{name}/{what}"),
                    &auth.headers(),
                );
                assert_eq!(r.status, 200);
                assert_eq!(r.json(), fixture, "{name} {what}");
            }
        }
        let props = d.served_properties(name).unwrap();
        assert!(props["last_update_date"].is_string());
        assert!(
            props.get("calibration_id").is_none(),
            "the snapshots carry none"
        );
    }
}

#[test]
fn properties_honour_calibration_id_and_updated_before() {
    let d = double_with(|c| c.backends[0].calibration_id = Some("cal-0001".into()));
    let auth = Auth::new(&d);
    let props = |q: &str| {
        get(
            d.addr(),
            &format!("/api/v1/backends/ibm_lima/properties{q}"),
            &auth.headers(),
        )
    };
    let r = props("");
    assert_eq!(r.json()["calibration_id"], "cal-0001");
    assert_eq!(r.json()["last_update_date"], "2021-03-15T00:36:03-04:00");
    assert_eq!(props("?calibration_id=cal-0001").status, 200);
    assert_ibm_error(&props("?calibration_id=cal-0002"), 404, 2622);
    // The snapshot was taken 2021-03-15T04:36:03Z.
    assert_eq!(props("?updated_before=2021-03-16T00:00:00").status, 200);
    assert_ibm_error(&props("?updated_before=2021-03-14T00:00:00"), 404, 2622);
    assert_ibm_error(&props("?updated_before=last-week"), 400, 1208);
}

#[test]
fn backends_listing_status_and_unknown_backends() {
    let d = double();
    let auth = Auth::new(&d);
    let r = get(
        d.addr(),
        "/api/v1/backends?include_mocks=True",
        &auth.headers(),
    );
    let devices = r.json()["devices"].as_array().unwrap().clone();
    let names: Vec<&str> = devices
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ibm_lima", "ibm_brisbane", "ibm_torino"]);
    assert_eq!(devices[0]["qubits"], 5);
    assert_eq!(devices[1]["qubits"], 127);
    let r = get(
        d.addr(),
        "/api/v1/backends/ibm_torino/status",
        &auth.headers(),
    );
    let status = r.json();
    assert_eq!(status["state"], true);
    assert_eq!(status["status"], "active");
    assert_eq!(status["backend_version"], "1.0.54");
    for what in ["configuration", "properties", "status"] {
        let r = get(
            d.addr(),
            &format!("/api/v1/backends/ibm_nowhere/{what}"),
            &auth.headers(),
        );
        assert_ibm_error(&r, 404, 1007);
    }
    assert_ibm_error(
        &http(d.addr(), "DELETE", "/api/v1/backends", &auth.headers(), b""),
        405,
        405,
    );
}

// ---------------------------------------------------------------------------------------------
// Job validation

#[test]
fn a_job_that_is_not_json_typed_gets_415() {
    let d = double();
    let auth = Auth::new(&d);
    let body = transcript_sampler_job().to_string();
    let mut h = auth.headers();
    h.push(("Content-Type", "text/plain"));
    assert_ibm_error(
        &http(d.addr(), "POST", "/api/v1/jobs", &h, body.as_bytes()),
        415,
        1208,
    );
    let h = auth.headers();
    assert_ibm_error(
        &http(d.addr(), "POST", "/api/v1/jobs", &h, body.as_bytes()),
        415,
        1208,
    );
    assert!(d.jobs().is_empty());
}

#[test]
fn malformed_json_gets_400_request_validation_failed() {
    let d = double();
    let auth = Auth::new(&d);
    let mut h = auth.headers();
    h.push(("Content-Type", "application/json"));
    let r = http(
        d.addr(),
        "POST",
        "/api/v1/jobs",
        &h,
        b"{\"program_id\": \"sampler\",",
    );
    assert_ibm_error(&r, 400, 1208);
    let message = r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with("Request validation of body failed, because:"),
        "{message}"
    );
}

#[test]
fn invalid_jobs_are_refused_with_the_reason() {
    let d = double();
    let auth = Auth::new(&d);
    let good = transcript_sampler_job();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = good.clone();
        f(&mut b);
        b
    };
    let cases: Vec<(Value, u16, i64, &str)> = vec![
        (json!([1, 2]), 400, 1208, "object"),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("program_id");
            }),
            400,
            1208,
            "program_id",
        ),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("backend");
            }),
            400,
            1208,
            "backend",
        ),
        (with(&|b| b["backend"] = json!(5)), 400, 1208, "backend"),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("params");
            }),
            400,
            1208,
            "params",
        ),
        (
            with(&|b| b["params"]["pubs"] = json!([])),
            400,
            1208,
            "pubs",
        ),
        (
            with(&|b| b["params"]["pubs"] = json!("x")),
            400,
            1208,
            "pubs",
        ),
        (
            with(&|b| b["params"]["pubs"][0] = json!([])),
            400,
            1208,
            "pubs[0]",
        ),
        (
            with(&|b| b["params"]["pubs"][0][0] = json!("OPENQASM 3.0;")),
            400,
            1208,
            "QuantumCircuit",
        ),
        (
            with(&|b| b["params"]["pubs"][0][0]["__value__"] = json!("bm90IHFweQ==")),
            400,
            1208,
            "QPY",
        ),
        (
            with(&|b| b["params"]["pubs"][0][1] = json!([[0.5]])),
            400,
            1208,
            "ndarray",
        ),
        (
            with(&|b| b["params"]["pubs"][0][2] = json!(0)),
            400,
            1208,
            "shots",
        ),
        (
            with(&|b| b["params"]["pubs"][0][2] = json!(-5)),
            400,
            1208,
            "shots",
        ),
        (
            with(&|b| b["params"]["pubs"][0][2] = json!("1000")),
            400,
            1208,
            "shots",
        ),
        (
            with(&|b| b["params"]["pubs"][0][2] = json!(20_000_000)),
            400,
            1208,
            "samples",
        ),
        (
            with(&|b| b["params"]["options"]["default_shots"] = json!(1.5)),
            400,
            1208,
            "default_shots",
        ),
        (
            with(&|b| b["params"]["options"] = json!([])),
            400,
            1208,
            "options",
        ),
        (
            with(&|b| b["log_level"] = json!("LOUD")),
            400,
            1208,
            "log_level",
        ),
        (with(&|b| b["tags"] = json!("one")), 400, 1208, "tags"),
        (with(&|b| b["private"] = json!("yes")), 400, 1208, "private"),
        (with(&|b| b["cost"] = json!(0)), 400, 1208, "cost"),
        (
            with(&|b| b["program_id"] = json!("estimator")),
            400,
            1208,
            "sampler",
        ),
        (
            with(&|b| b["backend"] = json!("ibm_nowhere")),
            404,
            1007,
            "Backend not found",
        ),
        (
            with(&|b| b["calibration_id"] = json!("cal-unknown")),
            404,
            2622,
            "Properties",
        ),
    ];
    for (body, status, code, mention) in cases {
        let r = submit(&d, &auth, &body);
        assert_ibm_error(&r, status, code);
        let message = r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(mention), "{mention:?} not in {message:?}");
    }
    assert!(d.jobs().is_empty(), "no invalid job was created");
}

#[test]
fn a_circuit_wider_than_the_backend_is_refused() {
    let d = double_with(|c| {
        // A 1-qubit "backend" for the 5-qubit transcript circuit.
        c.backends[0].configuration["n_qubits"] = json!(1);
    });
    let r = submit(&d, &Auth::new(&d), &transcript_sampler_job());
    assert_ibm_error(&r, 400, 1109);
}

#[test]
fn shots_come_from_each_source_in_order() {
    let d = double();
    let auth = Auth::new(&d);
    let pub_ = |shots: Value| json!([circuit(TWO_REGISTERS), null, shots]);
    let cases = [
        (
            json!([pub_(json!(777))]),
            json!({"default_shots": 555}),
            vec![777],
        ),
        (
            json!([pub_(Value::Null)]),
            json!({"default_shots": 555}),
            vec![555],
        ),
        (
            json!([pub_(Value::Null)]),
            json!({"default_shots": 555, "twirling": {"num_randomizations": 64, "shots_per_randomization": 10}}),
            vec![640],
        ),
        (json!([pub_(Value::Null)]), json!({}), vec![4096]),
        (json!([[circuit(TWO_REGISTERS)]]), json!({}), vec![4096]),
        (
            json!([pub_(json!(100)), pub_(json!(200))]),
            json!({}),
            vec![100, 200],
        ),
    ];
    for (pubs, options, want) in cases {
        let r = submit(&d, &auth, &sampler_job(pubs, options));
        assert_eq!(r.status, 200, "{}", r.text());
        let id = r.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(d.job(&id).unwrap().shots, want);
    }
}

// ---------------------------------------------------------------------------------------------
// The state machine and results

#[test]
fn a_job_moves_queued_running_completed_one_poll_each() {
    let d = double();
    let auth = Auth::new(&d);
    let r = submit(&d, &auth, &transcript_sampler_job());
    assert_eq!(r.status, 200);
    let created = r.json();
    assert_eq!(created["backend"], "ibm_lima");
    assert_eq!(created["private"], false);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 20);
    assert_eq!(d.job(&id).unwrap().status, IbmJobStatus::Queued);
    let states: Vec<Value> = (0..5).map(|_| job_state(&d, &auth, &id)).collect();
    let names: Vec<&str> = states
        .iter()
        .map(|s| s["state"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Queued", "Running", "Completed", "Completed", "Completed"]
    );
    assert_eq!(states[0]["status"], "Queued");
    assert!(states[1].get("ended").is_none());
    assert!(states[2]["ended"].is_string());
    assert_eq!(states[2]["program"]["id"], "sampler");
    assert!(states[2].get("params").is_none(), "exclude_params=true");
    let with_params = get(
        d.addr(),
        &format!("/api/v1/jobs/{id}?exclude_params=false"),
        &auth.headers(),
    )
    .json();
    assert_eq!(with_params["params"], transcript_sampler_job()["params"]);
}

#[test]
fn polls_per_state_sets_the_pace_and_zero_means_knob_only() {
    let d = double_with(|c| c.polls_per_state = 2);
    let auth = Auth::new(&d);
    let id = submit(&d, &auth, &transcript_sampler_job()).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let names: Vec<String> = (0..5)
        .map(|_| {
            job_state(&d, &auth, &id)["state"]["status"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        ["Queued", "Queued", "Running", "Running", "Completed"]
    );

    let d = double_with(|c| c.polls_per_state = 0);
    let auth = Auth::new(&d);
    let id = submit(&d, &auth, &transcript_sampler_job()).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        assert_eq!(job_state(&d, &auth, &id)["state"]["status"], "Queued");
    }
    assert_eq!(d.advance_job(&id), Some(IbmJobStatus::Running));
    assert_eq!(job_state(&d, &auth, &id)["state"]["status"], "Running");
    assert_eq!(d.advance_job(&id), Some(IbmJobStatus::Completed));
    assert_eq!(
        d.advance_job(&id),
        Some(IbmJobStatus::Completed),
        "final stays final"
    );
    assert_eq!(d.advance_job("nope"), None);
}

fn run_to_end(d: &IbmDouble, auth: &Auth, body: &Value) -> (String, Value) {
    let r = submit(d, auth, body);
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let mut state = job_state(d, auth, &id);
    for _ in 0..5 {
        if state["state"]["status"] != "Queued" && state["state"]["status"] != "Running" {
            break;
        }
        state = job_state(d, auth, &id);
    }
    (id, state)
}

fn results(d: &IbmDouble, auth: &Auth, id: &str) -> Resp {
    // The SDK sends no Accept header here.
    let h: Vec<(&str, &str)> = auth
        .headers()
        .into_iter()
        .filter(|(n, _)| *n != "Accept")
        .collect();
    get(d.addr(), &format!("/api/v1/jobs/{id}/results"), &h)
}

/// One register's samples: name, `num_bits`, array shape, bytes.
type Bits = (String, u64, Vec<u64>, Vec<u8>);

/// The bit arrays of a SamplerV2 result, per PUB and register.
fn bit_arrays(result: &Value) -> Vec<Vec<Bits>> {
    assert_eq!(result["__type__"], "PrimitiveResult");
    assert_eq!(result["__value__"]["metadata"]["version"], 2);
    result["__value__"]["pub_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["__type__"], "SamplerPubResult");
            let bin = &p["__value__"]["data"];
            assert_eq!(bin["__type__"], "DataBin");
            assert!(p["__value__"]["metadata"]["circuit_metadata"].is_object());
            let names = bin["__value__"]["field_names"].as_array().unwrap();
            names
                .iter()
                .map(|n| {
                    let n = n.as_str().unwrap();
                    let field = &bin["__value__"]["fields"][n];
                    assert_eq!(field["__type__"], "BitArray");
                    let (descr, shape, data) = decode_ndarray(&field["__value__"]["array"]);
                    assert_eq!(descr, "|u1", "uint8, or BitArray refuses it");
                    (
                        n.to_owned(),
                        field["__value__"]["num_bits"].as_u64().unwrap(),
                        shape,
                        data,
                    )
                })
                .collect()
        })
        .collect()
}

/// The transcript's transpiled Bell circuit, simulated with ibm_lima's calibration noise: mostly
/// 00 and 11 in equal parts, and a few 01 and 10 from readout and gate errors.
#[test]
fn results_are_shaped_as_sampler_v2_with_noisy_bell_samples() {
    let d = double();
    let auth = Auth::new(&d);
    let (id, state) = run_to_end(&d, &auth, &transcript_sampler_job());
    assert_eq!(state["state"]["status"], "Completed");
    let r = results(&d, &auth, &id);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let arrays = bit_arrays(&r.json());
    assert_eq!(arrays.len(), 1);
    let (name, bits, shape, data) = &arrays[0][0];
    assert_eq!((name.as_str(), *bits), ("meas", 2));
    assert_eq!(shape, &vec![1000, 1]);
    assert!(data.iter().all(|b| *b < 4), "two bits per shot");
    let ones = data.iter().filter(|b| **b == 3).count();
    let zeros = data.iter().filter(|b| **b == 0).count();
    assert!(zeros + ones >= 900, "{zeros} + {ones} of 1000 are 00 or 11");
    assert!(
        zeros + ones < 1000,
        "calibration noise gives some 01 and 10"
    );
    assert!((350..650).contains(&ones), "{ones} of 1000 are 11");
}

#[test]
fn results_cover_every_register_multibyte_registers_and_parameter_sets() {
    let d = double();
    let auth = Auth::new(&d);
    let values = json!({"__type__": "ndarray", "__value__": PARAMETER_VALUES});
    let body = sampler_job(
        json!([
            [circuit(TWO_REGISTERS), null, 64],
            [circuit(PARAMETRIC), values, 10]
        ]),
        json!({}),
    );
    let (id, _) = run_to_end(&d, &auth, &body);
    let arrays = bit_arrays(&results(&d, &auth, &id).json());
    assert_eq!(arrays.len(), 2);
    // PUB 0 (`h q[0]; cx q[0], q[1];` then q0, q1, q2 into `c` and q0..q4 twice into `flags`),
    // simulated with ibm_lima's noise: `c` (3 bits, 1 byte) and `flags` (10 bits, 2 bytes).
    let c = &arrays[0][0];
    let flags = &arrays[0][1];
    assert_eq!((c.0.as_str(), c.1, c.2.clone()), ("c", 3, vec![64, 1]));
    assert_eq!(
        (flags.0.as_str(), flags.1, flags.2.clone()),
        ("flags", 10, vec![64, 2])
    );
    // Ideally `c` is 000 or 011 and `flags` repeats q0..q4 (0b00011 or 0b00000) twice, q0 in
    // bit 0, the last byte's lowest; readout errors flip a few bits of a few shots.
    let mut ideal = 0;
    let mut same_q0 = 0;
    for shot in 0..64 {
        let c_bits = c.3[shot];
        let f_bits = [flags.3[2 * shot], flags.3[2 * shot + 1]];
        assert!(c_bits < 8 && f_bits[0] < 4, "only num_bits bits are set");
        if (c_bits, f_bits) == (0, [0, 0]) || (c_bits, f_bits) == (0b011, [0, 0b0110_0011]) {
            ideal += 1;
        }
        if c_bits & 1 == f_bits[1] & 1 {
            same_q0 += 1;
        }
    }
    assert!(ideal >= 40, "{ideal} of 64 shots are ideal outcomes");
    assert!(
        same_q0 >= 56,
        "q0 read twice agrees in {same_q0} of 64 shots"
    );
    // PUB 1: four parameter sets of ten shots: shape (4, 10, 1), DataBin shape [4].
    let meas = &arrays[1][0];
    assert_eq!(
        (meas.0.as_str(), meas.1, meas.2.clone()),
        ("meas", 5, vec![4, 10, 1])
    );
    let result = results(&d, &auth, &id).json();
    assert_eq!(
        result["__value__"]["pub_results"][1]["__value__"]["data"]["__value__"]["shape"],
        json!([4])
    );
    // A symbolic parameter cannot be simulated: the GHZ-like fallback.
    assert!(meas.3.iter().all(|b| *b == 0 || *b == 0b11111));
}

/// The counts of the transcript's Bell job on an ibm_lima whose device runs with `device`.
fn bell_counts(device: Option<Value>) -> qwarden_sim::run::Counts {
    let d = double_with(|config| {
        for b in &mut config.backends {
            if b.name == "ibm_lima" {
                b.device_properties = device.clone();
            }
        }
    });
    let auth = Auth::new(&d);
    let (id, _) = run_to_end(&d, &auth, &transcript_sampler_job());
    let arrays = bit_arrays(&results(&d, &auth, &id).json());
    let mut counts = qwarden_sim::run::Counts::new();
    for shot in &arrays[0][0].3 {
        *counts.entry(format!("{shot:02b}")).or_insert(0) += 1;
    }
    // The drift is the device's, not the snapshot's: `/properties` still serves the fixture.
    let served = d.served_properties("ibm_lima").unwrap();
    assert_eq!(served["qubits"], lima_properties()["qubits"]);
    counts
}

fn lima_properties() -> Value {
    let config = IbmConfig::from_fixtures(&ibm_fixtures_dir()).unwrap();
    config
        .backends
        .into_iter()
        .find(|b| b.name == "ibm_lima")
        .unwrap()
        .properties
}

/// A device whose calibration drifted from the snapshot served at `/properties` samples from the
/// noise it actually has: with readout errors of 25% instead of lima's 1–10%, the Bell circuit's
/// distribution moves measurably; with the served calibration as the device's, nothing changes.
#[test]
fn a_drifted_device_samples_from_its_actual_calibration() {
    let served = bell_counts(None);
    assert_eq!(
        bell_counts(Some(lima_properties())),
        served,
        "same calibration, same seed"
    );
    let mut drifted = lima_properties();
    for qubit in drifted["qubits"].as_array_mut().unwrap() {
        for entry in qubit.as_array_mut().unwrap() {
            let name = entry["name"].as_str().unwrap();
            if matches!(
                name,
                "readout_error" | "prob_meas0_prep1" | "prob_meas1_prep0"
            ) {
                entry["value"] = json!(0.25);
            }
        }
    }
    let noisy = bell_counts(Some(drifted));
    let distance = qwarden_sim::compare::tvd(&served, &noisy);
    let odd = |c: &qwarden_sim::run::Counts| c.get("01").unwrap_or(&0) + c.get("10").unwrap_or(&0);
    assert!(distance > 0.2, "TVD {distance}: {served:?} vs {noisy:?}");
    assert!(odd(&noisy) > 3 * odd(&served), "{served:?} vs {noisy:?}");
}

#[test]
fn the_same_seed_gives_the_same_results() {
    let run = || {
        let d = double();
        let auth = Auth::new(&d);
        let (id, _) = run_to_end(&d, &auth, &transcript_sampler_job());
        bit_arrays(&results(&d, &auth, &id).json())
    };
    assert_eq!(run(), run());
}

#[test]
fn results_of_an_unfinished_or_unknown_job_are_404() {
    let d = double();
    let auth = Auth::new(&d);
    let id = submit(&d, &auth, &transcript_sampler_job()).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ibm_error(&results(&d, &auth, &id), 404, 3250);
    assert_ibm_error(&results(&d, &auth, "d0000000000000000000"), 404, 3250);
    assert_ibm_error(
        &get(
            d.addr(),
            "/api/v1/jobs/d0000000000000000000",
            &auth.headers(),
        ),
        404,
        3250,
    );
}

#[test]
fn a_failed_job_carries_reason_and_code_and_its_results_are_the_error_text() {
    let d = double();
    let auth = Auth::new(&d);
    d.fail_next_job("Calibration drifted", 1517);
    let (id, state) = run_to_end(&d, &auth, &transcript_sampler_job());
    assert_eq!(state["state"]["status"], "Failed");
    assert_eq!(state["state"]["reason"], "Calibration drifted");
    assert_eq!(state["state"]["reason_code"], 1517);
    let r = results(&d, &auth, &id);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(r.text(), "Calibration drifted");
    // The knob applies once.
    let (_, state) = run_to_end(&d, &auth, &transcript_sampler_job());
    assert_eq!(state["state"]["status"], "Completed");
}

#[test]
fn cancelled_jobs_by_knob_and_by_request() {
    let d = double();
    let auth = Auth::new(&d);
    d.cancel_next_job();
    let (_, state) = run_to_end(&d, &auth, &transcript_sampler_job());
    assert_eq!(state["state"]["status"], "Cancelled");
    assert!(state["state"]["reason"].is_string());

    let id = submit(&d, &auth, &transcript_sampler_job()).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http(
        d.addr(),
        "POST",
        &format!("/api/v1/jobs/{id}/cancel"),
        &auth.headers(),
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(job_state(&d, &auth, &id)["state"]["status"], "Cancelled");
    assert_ibm_error(&results(&d, &auth, &id), 404, 3250);
    let r = http(
        d.addr(),
        "POST",
        &format!("/api/v1/jobs/{id}/cancel"),
        &auth.headers(),
        b"",
    );
    assert_ibm_error(&r, 409, 3209);

    let id = submit(&d, &auth, &transcript_sampler_job()).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(d.cancel_job(&id));
    assert!(!d.cancel_job(&id), "already final");
    assert_eq!(d.job(&id).unwrap().status, IbmJobStatus::Cancelled);
    let id = submit(&d, &auth, &transcript_sampler_job()).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(d.fail_job(&id, "operator", 9999));
    let state = job_state(&d, &auth, &id);
    assert_eq!(state["state"]["status"], "Failed");
    assert_eq!(state["state"]["reason_code"], 9999);
}

#[test]
fn deleted_jobs_are_gone() {
    let d = double();
    let auth = Auth::new(&d);
    let (id, _) = run_to_end(&d, &auth, &transcript_sampler_job());
    let listed = get(d.addr(), "/api/v1/jobs", &auth.headers()).json();
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["jobs"][0]["id"], json!(id));
    let r = http(
        d.addr(),
        "DELETE",
        &format!("/api/v1/jobs/{id}"),
        &auth.headers(),
        b"",
    );
    assert_eq!(r.status, 204);
    assert_ibm_error(
        &get(d.addr(), &format!("/api/v1/jobs/{id}"), &auth.headers()),
        404,
        3250,
    );
    let r = http(
        d.addr(),
        "DELETE",
        &format!("/api/v1/jobs/{id}"),
        &auth.headers(),
        b"",
    );
    assert_ibm_error(&r, 404, 3250);
}

#[test]
fn reject_next_job_refuses_once_in_ibm_shape() {
    let d = double();
    let auth = Auth::new(&d);
    d.reject_next_job(403, "denied: 1000 shots exceed the grant (500)");
    let r = submit(&d, &auth, &transcript_sampler_job());
    assert_ibm_error(&r, 403, 1200);
    assert_eq!(
        r.json()["errors"][0]["message"],
        "denied: 1000 shots exceed the grant (500)"
    );
    d.reject_next_job(400, "bad");
    assert_ibm_error(&submit(&d, &auth, &transcript_sampler_job()), 400, 1208);
    assert_eq!(submit(&d, &auth, &transcript_sampler_job()).status, 200);
    assert_eq!(d.jobs().len(), 1);
}

#[test]
fn unknown_paths_and_methods() {
    let d = double();
    let auth = Auth::new(&d);
    assert_ibm_error(
        &get(d.addr(), "/api/v2/backends", &auth.headers()),
        404,
        404,
    );
    assert_ibm_error(
        &get(
            d.addr(),
            "/api/v1/backends/ibm_lima/defaults",
            &auth.headers(),
        ),
        404,
        404,
    );
    assert_ibm_error(
        &http(d.addr(), "PUT", "/api/v1/jobs", &auth.headers(), b""),
        405,
        405,
    );
}

#[test]
fn global_search_and_catalog_for_the_sdk_without_an_instance() {
    let d = double();
    let bearer = format!("Bearer {}", token(&d));
    let r = post_json(
        d.addr(),
        "/v3/resources/search?limit=100",
        &[("Authorization", &bearer)],
        &json!({"query": "service_name:quantum-computing", "fields": ["crn", "name"]}),
    );
    assert_eq!(r.status, 200);
    let item = &r.json()["items"][0];
    assert_eq!(item["crn"], d.instance_crn());
    let plan = item["service_plan_unique_id"].as_str().unwrap().to_owned();
    let r = get(
        d.addr(),
        &format!("/catalog/{plan}"),
        &[("Authorization", &bearer)],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], json!(plan));
    assert_eq!(get(d.addr(), &format!("/catalog/{plan}"), &[]).status, 401);
}

#[test]
fn a_path_prefix_moves_every_route() {
    let d = double_with(|c| c.path_prefix = "/ibm".into());
    assert!(d.token_url().ends_with("/ibm/identity/token"));
    assert!(d.sdk_runtime_url().ends_with("/ibm/experimental/api/v1"));
    let body = form(&[("grant_type", APIKEY_GRANT_TYPE), ("apikey", d.api_key())]);
    let ct = [("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(
        http(d.addr(), "POST", "/ibm/identity/token", &ct, &body).status,
        200
    );
    assert_eq!(
        http(d.addr(), "POST", "/identity/token", &ct, &body).status,
        404
    );
}

#[test]
fn the_request_log_records_what_was_sent_and_answered() {
    let d = double();
    let auth = Auth::new(&d);
    let job = transcript_sampler_job();
    let r = submit(&d, &auth, &job);
    assert_eq!(r.status, 200);
    let _ = get(d.addr(), "/api/v1/backends?include_mocks=True", &[]);
    let log = d.requests();
    assert_eq!(log.len(), 3, "IAM, job, unauthenticated listing");
    let iam = &log[0];
    assert_eq!(
        (iam.method.as_str(), iam.path.as_str()),
        ("POST", "/identity/token")
    );
    assert!(String::from_utf8_lossy(&iam.body).contains("apikey="));
    let post = &log[1];
    assert_eq!(
        (post.method.as_str(), post.path.as_str(), post.status),
        ("POST", "/api/v1/jobs", 200)
    );
    assert_eq!(post.header("service-crn"), Some(d.instance_crn()));
    assert_eq!(post.header("Authorization"), Some(auth.bearer.as_str()));
    assert_eq!(post.body_json(), Some(job));
    let listing = &log[2];
    assert_eq!(listing.query.as_deref(), Some("include_mocks=True"));
    assert_eq!(
        listing.query_param("include_mocks").as_deref(),
        Some("True")
    );
    assert_eq!(listing.status, 401);
    d.clear_requests();
    assert!(d.requests().is_empty());
    assert!(d.request_log().is_empty());
}
