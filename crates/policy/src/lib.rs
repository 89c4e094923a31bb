//! Policy: the part of qwarden that decides what an agent may do.
//!
//! It reads the workstation profile and an agent's capability manifest, checks the manifest's OpenSSH
//! signature against an allowed-signers file, and evaluates the tier permission matrix (Cedar policies,
//! validated against a schema at load) to produce a [`Grant`]: what the agent asked for, what it gets,
//! and which policy decided each item. It never touches the operating system beyond reading the files it
//! is given.

#![deny(missing_docs)]

pub mod diag;
pub mod grant;
pub mod host;
pub mod manifest;
pub mod matrix;
pub mod net;
pub mod paths;
pub mod profile;
pub mod signature;
pub mod tier;
pub mod verified;

pub use grant::{Action, Grant, GrantItem, NetworkGrant};
pub use host::HostPattern;
pub use manifest::Manifest;
pub use matrix::{Decision, Outcome, PolicyEngine};
pub use net::{
    BUILTIN_DENY, DENY_KINDS, DenyListEntry, HostOverride, HostOverrideError, IpRange,
    IpRangeError, builtin_deny,
};
pub use profile::Profile;
pub use tier::Tier;
pub use verified::VerifiedManifest;
