//! Sample events of every kind, shared by the event and OCSF tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qwarden_ledger::cas::Digest;
use qwarden_ledger::event::*;
use serde_json::json;

pub fn t(nanos: i128) -> Timestamp {
    Timestamp::from_unix_nanos(1_777_777_777_000_000_000 + nanos).unwrap()
}

pub fn d(label: &str) -> Digest {
    Digest::of(label.as_bytes())
}

fn ev(n: i128, body: impl Into<Body>) -> Event {
    Event::new(t(n), body)
        .with_session("s-0195f3a2")
        .with_agent("claude-code")
}

/// At least one event of every kind (every file op, every verdict), none holding a secret, all
/// small enough to stay inline.
pub fn samples() -> Vec<Event> {
    vec![
        ev(
            1,
            SessionStart {
                manifest_digest: d("manifest"),
                grant_digest: d("grant"),
                env_digest: d("env"),
                tier: "staging".into(),
                isolation: Some("namespaces+landlock+seccomp".into()),
            },
        ),
        Event::new(
            t(2),
            SessionStart {
                manifest_digest: d("m2"),
                grant_digest: d("g2"),
                env_digest: d("e2"),
                tier: "sandbox".into(),
                isolation: None,
            },
        ),
        ev(
            3,
            Exec {
                pid: 4242,
                argv: vec![
                    "python3".into(),
                    "-c".into(),
                    "print(\"hi\")\n\t\u{7f}é😀".into(),
                ]
                .into(),
                cwd: "/work/repo".into(),
                path: "/usr/bin/python3.12".into(),
                sha256: Some(d("python")),
            },
        ),
        ev(
            4,
            Exec {
                pid: 1,
                argv: vec!["sh".into()].into(),
                cwd: "/".into(),
                path: "/bin/sh".into(),
                sha256: None,
            },
        ),
        ev(
            5,
            FileWrite {
                op: FileOp::Create,
                path: "/work/repo/new.py".into(),
                new_path: None,
                size: Some(12),
                sha256_before: None,
                sha256_after: Some(d("new")),
                pid: Some(4242),
            },
        ),
        ev(
            6,
            FileWrite {
                op: FileOp::Modify,
                path: "/work/repo/circuit.qasm".into(),
                new_path: None,
                size: Some(2048),
                sha256_before: Some(d("before")),
                sha256_after: Some(d("after")),
                pid: None,
            },
        ),
        ev(
            7,
            FileWrite {
                op: FileOp::Delete,
                path: "/work/repo/old.txt".into(),
                new_path: None,
                size: None,
                sha256_before: Some(d("old")),
                sha256_after: None,
                pid: Some(7),
            },
        ),
        ev(
            8,
            FileWrite {
                op: FileOp::Rename,
                path: "/work/repo/a.txt".into(),
                new_path: Some("/work/repo/b.txt".into()),
                size: Some(3),
                sha256_before: Some(d("a")),
                sha256_after: Some(d("a")),
                pid: None,
            },
        ),
        ev(
            9,
            FileRead {
                path: "/work/repo/data.csv".into(),
                observer: "seccomp-notify".into(),
                pid: Some(4242),
                sha256: None,
            },
        ),
        ev(
            10,
            EnvChange {
                changes: vec![
                    EnvVar::set("PATH", "/usr/bin:/bin"),
                    EnvVar::set("QISKIT_IBM_URL", "http://127.0.0.1:8443"),
                    EnvVar::unset("LD_PRELOAD"),
                ]
                .into(),
                pid: None,
            },
        ),
        ev(
            11,
            NetDecision {
                host: "api.quantum.ibm.com".into(),
                port: 443,
                address: Some("104.18.3.2".parse().unwrap()),
                protocol: "tcp".into(),
                verdict: Verdict::Allow,
                rule: Some("provider:ibm".into()),
                bytes_up: 1_234,
                bytes_down: 56_789,
                duration_ms: 812,
            },
        ),
        ev(
            12,
            NetDecision {
                host: "169.254.169.254".into(),
                port: 80,
                address: Some("2001:db8::1".parse().unwrap()),
                protocol: "tcp".into(),
                verdict: Verdict::Deny,
                rule: None,
                bytes_up: 0,
                bytes_down: 0,
                duration_ms: 0,
            },
        ),
        ev(
            13,
            PolicyDecision {
                action: "job.submit".into(),
                resource: "ibm/ibm_torino".into(),
                outcome: PolicyOutcome::Deny,
                policies: vec!["tier-staging-jobs".into(), "shots-cap".into()],
                reasons: vec!["shots 100000 exceed the cap of 10000".into()],
            },
        ),
        ev(
            14,
            PolicyDecision {
                action: "fs.read".into(),
                resource: "/work/repo".into(),
                outcome: PolicyOutcome::Allow,
                policies: vec![],
                reasons: vec![],
            },
        ),
        ev(
            15,
            JobSubmit {
                provider: "ibm".into(),
                backend: "ibm_torino".into(),
                shots: 4000,
                circuit_digest: d("circuit"),
                job_id: Some("d0abc123".into()),
                calibration_digest: Some(d("calibration")),
                request_digest: Some(d("request")),
            },
        ),
        ev(
            16,
            JobSubmit {
                provider: "local".into(),
                backend: "statevector".into(),
                shots: 1024,
                circuit_digest: d("c2"),
                job_id: None,
                calibration_digest: None,
                request_digest: None,
            },
        ),
        ev(
            17,
            JobStatus {
                provider: "ibm".into(),
                backend: "ibm_torino".into(),
                job_id: "d0abc123".into(),
                state: JobState::Completed,
                provider_state: Some("DONE".into()),
                calibration_digest: Some(d("calibration")),
            },
        ),
        ev(
            18,
            JobStatus {
                provider: "ionq".into(),
                backend: "qpu.aria-1".into(),
                job_id: "0f1e".into(),
                state: JobState::Failed,
                provider_state: None,
                calibration_digest: None,
            },
        ),
        ev(
            19,
            JobStatus {
                provider: "ionq".into(),
                backend: "qpu.aria-1".into(),
                job_id: "0f1f".into(),
                state: JobState::Cancelled,
                provider_state: Some("canceled".into()),
                calibration_digest: None,
            },
        ),
        ev(
            20,
            Approval {
                request_id: "req-7".into(),
                approver: "SHA256:abcdefghijklmnop alice@lab".into(),
                decision: ApprovalDecision::Approve,
                request_digest: Some(d("request")),
            },
        ),
        ev(
            21,
            Approval {
                request_id: "req-8".into(),
                approver: "bob".into(),
                decision: ApprovalDecision::Reject,
                request_digest: None,
            },
        ),
        ev(
            22,
            Credential::for_handle(
                CredentialAction::Mint,
                "qwh_handle_1",
                "ibm",
                Some(t(900_000_000_000)),
            ),
        ),
        ev(
            23,
            Credential::for_handle(CredentialAction::Use, "qwh_handle_1", "ibm", None),
        ),
        ev(
            24,
            Credential::for_handle(CredentialAction::Revoke, "qwh_handle_1", "ibm", None),
        ),
        ev(
            25,
            Violation {
                attempted: "connect 169.254.169.254:80".into(),
                control: "egress".into(),
                target: Some("169.254.169.254:80".into()),
                pid: Some(4242),
            },
        ),
        ev(
            26,
            Violation {
                attempted: "ptrace(PTRACE_ATTACH)".into(),
                control: "seccomp".into(),
                target: None,
                pid: None,
            },
        ),
        ev(
            27,
            SessionEnd {
                exit: ExitStatus {
                    code: Some(0),
                    signal: None,
                },
                summary: SessionSummary {
                    execs: 10,
                    file_reads: 3,
                    file_writes: 4,
                    net_allowed: 5,
                    net_denied: 1,
                    policy_denials: 1,
                    jobs: 2,
                    approvals: 1,
                    violations: 2,
                },
                write_set_digest: Some(d("write set")),
            },
        ),
        ev(
            28,
            SessionEnd {
                exit: ExitStatus {
                    code: None,
                    signal: Some(9),
                },
                summary: SessionSummary::default(),
                write_set_digest: None,
            },
        ),
        Event::new(
            t(29),
            SessionEnd {
                exit: ExitStatus::default(),
                summary: SessionSummary::default(),
                write_set_digest: None,
            },
        )
        .with_details(
            json!({"note": "supervisor lost the child", "n": [1, 2.5, -3, 1e-7], "ok": null}),
        ),
    ]
}
