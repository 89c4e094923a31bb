//! qwarden's human approval gates: no agent gets a gated action through without the right humans
//! signing off on exactly that action.
//!
//! - [`request`] — an [`ApprovalRequest`] holds the canonical digest of exactly what will run and
//!   the text approvers sign.
//! - [`tally`] — votes (SSHSIG signatures by the profile's approvers over the request's digest)
//!   and what they add up to: pending, approved, denied or expired.
//! - [`store`] — requests, votes, outcomes and TOTP enrolments under the state directory.
//! - [`totp`] — the RFC 6238 second factor, with replay refused.
//! - [`notify`] — telling approvers a request waits (webhook, desktop).

pub mod notify;
pub mod request;
pub mod store;
pub mod tally;
pub mod totp;

pub use request::{Action, ApprovalRequest, Decision, JobAction, NAMESPACE, Rule, Subject};
pub use tally::{Status, Vote, VoteError};
