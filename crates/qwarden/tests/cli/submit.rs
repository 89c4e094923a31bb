//! `qwarden submit`: the example circuits on every local backend, noise from a real IBM
//! calibration snapshot, determinism, and every refusal.

use std::path::PathBuf;

use sha2::Digest as _;

use crate::support::{Env, repo_root};

fn circuits() -> Vec<PathBuf> {
    let mut c: Vec<PathBuf> = std::fs::read_dir(repo_root().join("examples/circuits"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "qasm"))
        .collect();
    c.sort();
    assert!(c.len() >= 5, "{c:?}");
    c
}

fn lima() -> PathBuf {
    repo_root().join("../shared/fixtures/ibm/props_lima.json")
}

fn counts(out: &crate::support::Run) -> serde_json::Map<String, serde_json::Value> {
    out.json()["counts"].as_object().unwrap().clone()
}

qwtest!(every_example_runs_on_every_local_backend, |env| {
    for c in circuits() {
        for backend in ["local:statevector", "local:density", "local:trajectories"] {
            let out = env
                .qwarden([
                    "submit",
                    "--json",
                    "--shots",
                    "500",
                    "--seed",
                    "3",
                    "--backend",
                    backend,
                ])
                .arg(&c)
                .run();
            out.success();
            let total: u64 = counts(&out).values().map(|v| v.as_u64().unwrap()).sum();
            assert_eq!(total, 500, "{} on {backend}", c.display());
        }
        env.qwarden([
            "submit",
            "--json",
            "--shots",
            "500",
            "--seed",
            "3",
            "--backend",
            "local:noisy",
            "--calibration",
        ])
        .arg(lima())
        .arg(&c)
        .run()
        .success();
    }
});

qwtest!(ideal_circuits_give_their_exact_outcomes, |env| {
    let bell = env
        .qwarden(["submit", "--json", "--shots", "4000", "--seed", "1"])
        .arg(repo_root().join("examples/circuits/bell.qasm"))
        .run();
    let c = counts(&bell);
    assert_eq!(c.keys().collect::<Vec<_>>(), vec!["00", "11"]);
    let grover = env
        .qwarden(["submit", "--json", "--shots", "1000", "--seed", "1"])
        .arg(repo_root().join("examples/circuits/grover2.qasm"))
        .run();
    assert_eq!(counts(&grover).len(), 1, "{}", grover.stdout);
});

qwtest!(
    lima_noise_produces_the_errors_its_calibration_predicts,
    |env| {
        let out = env
            .qwarden([
                "submit",
                "--json",
                "--shots",
                "20000",
                "--seed",
                "5",
                "--backend",
                "local:noisy",
                "--calibration",
            ])
            .arg(lima())
            .arg(repo_root().join("examples/circuits/lima_bell.qasm"))
            .run();
        out.success();
        assert_eq!(out.json()["method"], "density-matrix");
        let c = counts(&out);
        let odd = c.get("01").and_then(|v| v.as_u64()).unwrap_or(0)
            + c.get("10").and_then(|v| v.as_u64()).unwrap_or(0);
        // Readout errors alone on qubits 0 and 1 of Lima are a few percent.
        assert!(
            (200..3000).contains(&odd),
            "{odd} of 20000 off-diagonal: {c:?}"
        );
    }
);

qwtest!(counts_do_not_depend_on_threads, |env| {
    let qft = repo_root().join("examples/circuits/qft4.qasm");
    let run = |threads: &str, backend: &str| {
        let mut cmd = env.qwarden([
            "submit",
            "--json",
            "--shots",
            "3000",
            "--seed",
            "11",
            "--threads",
            threads,
            "--backend",
            backend,
        ]);
        if backend != "local:statevector" {
            cmd = cmd.arg("--calibration").arg(lima());
        }
        let out = cmd.arg(&qft).run();
        out.success();
        counts(&out)
    };
    // qft4 uses 4 qubits; Lima has 5, so noise applies by the physical numbering.
    for backend in ["local:statevector", "local:density", "local:trajectories"] {
        assert_eq!(run("1", backend), run("2", backend), "{backend}");
    }
});

qwtest!(bad_input_is_refused_with_where_and_how, |env| {
    let bad = env.write(
        "bad.qasm",
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\nfoo q[0];\n",
    );
    env.qwarden(["submit"])
        .arg(&bad)
        .run()
        .code(3)
        .stderr_has("bad.qasm:4:");
    let bell = repo_root().join("examples/circuits/bell.qasm");
    env.qwarden(["submit", "--backend", "local:noisy"])
        .arg(&bell)
        .run()
        .code(2)
        .stderr_has("local:noisy needs --calibration");
    env.qwarden(["submit", "--calibration"])
        .arg(lima())
        .arg(&bell)
        .run()
        .code(2)
        .stderr_has("local:statevector is noiseless");
    let junk = env.write(
        "junk.json",
        "{\"qubits\": [[{\"name\": \"readout_error\", \"value\": 2.5, \"unit\": \"\"}]], \"gates\": []}",
    );
    env.qwarden(["submit", "--backend", "local:noisy", "--calibration"])
        .arg(&junk)
        .arg(&bell)
        .run()
        .code(3)
        .stderr_has("junk.json")
        .stderr_has("readout");
    let notjson = env.write("notjson.json", "T1 = 5");
    env.qwarden(["submit", "--backend", "local:noisy", "--calibration"])
        .arg(&notjson)
        .arg(&bell)
        .run()
        .code(3)
        .stderr_has("is not JSON");
    let huge = env.write(
        "huge.qasm",
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[60];\ncreg c[60];\nh q;\nmeasure q -> c;\n",
    );
    env.qwarden(["submit"])
        .arg(&huge)
        .run()
        .code(3)
        .stderr_has("memory limit");
});

#[test]
fn help_names_the_backends() {
    let env = Env::new();
    env.qwarden(["submit", "--help"])
        .run()
        .success()
        .stdout_has("local:noisy");
}

qwtest!(a_humans_job_takes_the_native_path_into_the_ledger, |env| {
    let bell = repo_root().join("examples/circuits/bell.qasm");
    let out = env
        .qwarden([
            "submit",
            "--backend",
            "local:noisy",
            "--shots",
            "300",
            "--seed",
            "5",
            "--json",
            "--calibration",
        ])
        .arg(lima())
        .arg(&bell)
        .run();
    out.success();
    let job = out.json();
    let digest = job["calibration_digest"].as_str().unwrap().to_owned();
    // A circuit the backend cannot run is refused, and recorded as such.
    let huge = env.write(
        "huge.qasm",
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[60];\ncreg c[60];\nh q;\nmeasure q -> c;\n",
    );
    env.qwarden(["submit"]).arg(&huge).run().code(3);
    let entries = crate::run::ledger(&env);
    let submit: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["kind"] == "job.submit")
        .collect();
    assert_eq!(submit.len(), 1, "{entries:#?}");
    let s = submit[0];
    assert_eq!(
        (&s["provider"], &s["backend"], &s["shots"]),
        (&"local".into(), &"noisy".into(), &300.into())
    );
    assert_eq!(s["job_id"], job["job_id"]);
    assert_eq!(s["circuit_digest"], job["circuit_digest"]);
    assert_eq!(s["calibration_digest"].as_str(), Some(digest.as_str()));
    assert_eq!(s["details"]["source"], "qwarden submit");
    assert_eq!(s["details"]["seed"], 5, "the seed reproduces the counts");
    // The calibration the job ran under is in the CAS under the digest the ledger names.
    let hex = &digest["sha256:".len()..];
    let blob = env.state.join("cas/sha256").join(&hex[..2]).join(&hex[2..]);
    let stored = std::fs::read(&blob).unwrap_or_else(|e| panic!("{}: {e}", blob.display()));
    assert_eq!(
        format!("sha256:{:x}", sha2::Sha256::digest(&stored)),
        digest
    );
    let refused = entries
        .iter()
        .find(|e| e["kind"] == "violation" && e["control"] == "gateway")
        .unwrap_or_else(|| panic!("{entries:#?}"));
    assert_eq!(refused["attempted"], "submit a job to local:statevector");
    assert!(refused["target"].as_str().unwrap().contains("memory limit"));
});
