//! What the gateway reports: jobs submitted (with the provider's job id and the calibration
//! they ran under) and jobs refused.

/// A job that went to a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The provider's name in the profile.
    pub provider: String,
    /// The backend.
    pub backend: String,
    /// Total shots.
    pub shots: u64,
    /// `sha256:` of the circuit(s) as submitted.
    pub circuit_digest: String,
    /// The provider's job id.
    pub job_id: String,
    /// `sha256:` of the calibration snapshot captured with it, if any.
    pub calibration_digest: Option<String>,
    /// `sha256:` of the request body, for approvals to bind to.
    pub request_digest: String,
    /// The sampling seed, where the backend takes one (the local backend): with the circuit and
    /// the calibration it reproduces the counts exactly.
    pub seed: Option<u64>,
}

/// A job the gateway refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The provider's name in the profile (as asked).
    pub provider: String,
    /// The backend (as asked).
    pub backend: String,
    /// Which API it came through (`native`, `ibm`, `ionq`).
    pub api: &'static str,
    /// Why.
    pub reason: String,
}

/// Where the gateway's records go (the session writes them to the ledger).
pub trait JobSink: Send + Sync {
    /// A job was submitted.
    fn submitted(&self, job: Submitted);
    /// A job was refused.
    fn refused(&self, job: Refused);
}
