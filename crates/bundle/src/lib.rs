//! qwarden's reproducibility records: what a workstation is, so that someone else can later check
//! what ran where and reproduce it.
//!
//! - [`inventory`]: the workstation manifest (tier, host, kernel, CPU, PCI devices and vendor
//!   kernel modules, every Python environment with its quantum SDKs checked against their
//!   installed-file hashes, and which provider configuration files exist), as RFC 8785 canonical
//!   JSON with its SHA-256, and the drift between two of them.
//! - [`dsse`]: in-toto Statement v1 in a DSSE envelope, signed with Ed25519: the signed form of
//!   bundles and re-run verdicts.
//!
//! This crate only reads: it never changes an environment, never reads the content of a
//! credential file (only whether it exists), never runs a Python interpreter and never submits
//! anything to a provider on its own.

pub mod dsse;
pub mod inventory;
