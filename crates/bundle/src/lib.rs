//! qwarden's reproducibility records: what a workstation is, so that someone else can later check
//! what ran where and reproduce it.
//!
//! - [`inventory`]: the workstation manifest (tier, host, kernel, CPU, PCI devices and vendor
//!   kernel modules, every Python environment with its quantum SDKs checked against their
//!   installed-file hashes, and which provider configuration files exist), as RFC 8785 canonical
//!   JSON with its SHA-256, and the drift between two of them.
//! - [`environment`]: a session's Python environment as a PEP 751 `pylock.toml` with every
//!   installed file's hash, its drift, and rebuilding it offline from the lock and its wheels.
//! - [`dsse`]: in-toto Statement v1 in a DSSE envelope, signed with Ed25519: the signed form of
//!   bundles and re-run verdicts.
//! - [`job`]: a job's bundle (its predicate, and making one from its `job.submit` ledger entry),
//!   signed with the workstation [`key`]; [`store`] indexes a workstation's bundles, [`verify`]
//!   checks one offline, [`archive`] writes and reads one as a self-contained tar, and [`rerun`]
//!   re-executes one on the local simulator and judges whether it reproduces.
//!
//! Apart from [`environment::rebuild`], which makes a new venv where it is told and runs the
//! interpreter and pip it is given to fill it, offline, from wheels it has checked, this crate
//! only reads: it never changes an existing environment, never reads the content of a credential
//! file (only whether it exists), never runs a Python interpreter otherwise, and never submits
//! anything to a provider (re-runs use the local simulator only).

pub mod archive;
pub mod dsse;
pub mod environment;
pub mod inventory;
pub mod job;
pub mod key;
pub mod rerun;
pub mod store;
pub mod verify;
