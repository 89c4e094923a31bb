//! What the gateway reports: jobs submitted (with the provider's job id and the calibration
//! they ran under), jobs refused, and jobs completed (with their results).

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

/// A job whose results the gateway received: what its bundle is made of, besides what was
/// recorded at submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The provider's name in the profile.
    pub provider: String,
    /// Which API it came through (`native`, `ibm`, `ionq`).
    pub api: &'static str,
    /// The provider's job id (the one [`Submitted::job_id`] recorded).
    pub job_id: String,
    /// The results exactly as answered.
    pub results: Vec<u8>,
    /// Counts per circuit (per PUB for sampler jobs), classical bit 0 rightmost.
    pub counts: Vec<qwarden_sim::Counts>,
}

/// Where the gateway's records go (the session writes them to the ledger).
pub trait JobSink: Send + Sync {
    /// A job was submitted.
    fn submitted(&self, job: Submitted);
    /// A job was refused.
    fn refused(&self, job: Refused);
    /// A job's results arrived (once per job): the session makes its bundle.
    fn completed(&self, job: Completed);
}
