//! qwarden's QPU job gateway: the only way an agent's jobs reach a quantum backend.
//!
//! Agents keep their SDKs; the gateway speaks their providers' APIs on a listener inside the
//! sandbox, checks every job against the session's grant ([`admission`]), swaps the agent's
//! session handle for the real key only on the way to that provider, captures the calibration
//! snapshot a job ran under, and records the provider's job id.

pub mod admission;
pub mod gate;
pub mod ibm;
pub mod ionq;
pub mod ionq_results;
pub mod local;
pub mod native;
pub mod record;
pub mod server;
pub mod upstream;
