//! Integration tests of the `qwarden` binary: each test runs the real executable in a fresh
//! temporary home, configuration, state and project directory (see `cli/support.rs`) and checks
//! its exit code, output and the files it writes. Signatures are checked against the real OpenSSH
//! `ssh-keygen`, which must be installed (package `openssh-client`).
//!
//! Modules: `init` (writing a profile), `docs` (help, man pages, completions), `manifest`
//! (signing and verifying, with ssh-keygen interop), `refusals` (every bad input is refused with the
//! documented exit code and a message saying what, where and how to fix it), `explain` and `check`
//! (the grant and single decisions), `policies` (Cedar policy files), `pipes` (closed stdout),
//! `audit` (the audit ledger written by `policy check`: verify, prove, read, export, witness, and
//! each kind of tampering), `run` (sandboxed sessions), `secrets` (the credential vault: values
//! never printed, never stored in the clear, never reachable from a session), `secrets_scan`
//! (plaintext credentials found and moved into the vault), `egress` (real
//! clients in sessions reaching test servers through the egress proxy, and every way around it
//! refused) and `inventory` (the workstation inventory of a fake home, and its drift).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
#[path = "cli/support.rs"]
mod support;

#[path = "cli/approvals.rs"]
mod approvals;
#[path = "cli/audit.rs"]
mod audit;
#[path = "cli/bundles.rs"]
mod bundles;
#[path = "cli/check.rs"]
mod check;
#[path = "cli/docs.rs"]
mod docs;
#[path = "cli/egress.rs"]
mod egress;
#[path = "cli/explain.rs"]
mod explain;
#[path = "cli/gateway.rs"]
mod gateway;
#[path = "cli/init.rs"]
mod init;
#[path = "cli/inventory.rs"]
mod inventory;
#[path = "cli/manifest.rs"]
mod manifest;
#[path = "cli/pipes.rs"]
mod pipes;
#[path = "cli/policies.rs"]
mod policies;
#[path = "cli/posture.rs"]
mod posture;
#[path = "cli/providers.rs"]
mod providers;
#[path = "cli/redteam.rs"]
mod redteam;
#[path = "cli/refusals.rs"]
mod refusals;
#[path = "cli/run.rs"]
mod run;
#[path = "cli/secrets.rs"]
mod secrets;
#[path = "cli/secrets_scan.rs"]
mod secrets_scan;
#[path = "cli/submit.rs"]
mod submit;
