//! The audit ledger: an append-only, tamper-evident record of everything agents do.
//!
//! Events are RFC 8785 canonical JSON; large payloads live in a content-addressed store and are
//! referenced by SHA-256 digest. Entries form an RFC 6962 Merkle tree stored in the C2SP
//! `tlog-tiles` layout; checkpoints are C2SP `tlog-checkpoint` signed notes (Ed25519), can be
//! cosigned by `tlog-witness` witnesses, and any entry can be proven with a `tlog-proof`. Anyone
//! with the log's verification key can check all of it offline. This crate never decides policy.

#![deny(missing_docs)]

pub mod cas;
pub mod checkpoint;
pub mod cosignature;
pub mod durable;
pub mod event;
pub mod home;
pub mod index;
pub mod jcs;
pub mod log;
pub mod merkle;
pub mod note;
pub mod ocsf;
pub mod proof;
pub mod reader;
pub mod tiles;
pub mod verify;
pub mod witness;
