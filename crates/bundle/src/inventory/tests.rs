//! Unit tests, on synthetic trees in temporary directories: the parsers of untrusted files
//! (`METADATA`, `RECORD`, `pyvenv.cfg`, `os-release`, `/proc`), `RECORD` verification and its
//! refusals, environment discovery, drift, and the canonical form and digest.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod discovery;
mod document;
mod drift;
mod fixtures;
mod parsers;
mod verify;
