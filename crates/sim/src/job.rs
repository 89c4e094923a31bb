//! A job on the local backend, exactly as the gateway runs it and as a re-run audit repeats it:
//! the backend's engine, the calibration snapshot it takes its noise from, and the run itself.
//!
//! Backends: `statevector` (ideal), `density` (density matrix), `trajectories` (noisy
//! statevector trajectories) and `noisy` (density matrix when it fits, trajectories otherwise).
//! The noisy ones take a calibration snapshot (IBM backend properties or an IonQ
//! characterization), whose SHA-256 is the job's calibration digest. A circuit on a device's
//! physical qubits runs on just the qubits it uses. Same circuit, seed and calibration: same
//! counts, on any machine — which is why both the gateway and `bundle rerun` go through [`run`].

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::ir::Circuit;
use crate::noise::NoiseModel;
use crate::run::{Counts, Method, RunOptions};

/// A backend of the local provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalBackend {
    /// Ideal statevector.
    Statevector,
    /// Density matrix (exact noise, small circuits).
    Density,
    /// Noisy statevector trajectories.
    Trajectories,
    /// Density matrix when it fits, trajectories otherwise; needs a calibration.
    Noisy,
}

impl LocalBackend {
    /// Every backend.
    pub const ALL: [LocalBackend; 4] = [
        LocalBackend::Statevector,
        LocalBackend::Density,
        LocalBackend::Trajectories,
        LocalBackend::Noisy,
    ];

    /// Its name at the `local` provider.
    pub fn name(self) -> &'static str {
        match self {
            LocalBackend::Statevector => "statevector",
            LocalBackend::Density => "density",
            LocalBackend::Trajectories => "trajectories",
            LocalBackend::Noisy => "noisy",
        }
    }

    fn method(self) -> Method {
        match self {
            LocalBackend::Statevector => Method::Statevector,
            LocalBackend::Density => Method::DensityMatrix,
            LocalBackend::Trajectories => Method::Trajectories,
            LocalBackend::Noisy => Method::Auto,
        }
    }
}

impl fmt::Display for LocalBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LocalBackend {
    type Err = JobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LocalBackend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| JobError::UnknownBackend(s.chars().take(64).collect()))
    }
}

/// Why a local job could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Not a local backend.
    #[error(
        "unknown local backend `{0}`; the local provider has statevector, density, trajectories and noisy"
    )]
    UnknownBackend(String),
    /// The calibration cannot be used.
    #[error("the calibration {0}")]
    Calibration(String),
    /// The statevector backend takes no calibration.
    #[error("local:statevector is noiseless; drop the calibration or use local:noisy")]
    NoiselessWithCalibration,
    /// The noisy backend needs a calibration.
    #[error(
        "local:noisy needs a calibration snapshot (IBM backend properties or an IonQ characterization)"
    )]
    NoisyWithoutCalibration,
    /// The simulator refused the job (too many qubits for the memory limit, …).
    #[error("{0}")]
    Simulator(String),
}

/// A calibration snapshot and its digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The snapshot's JSON text.
    pub text: String,
    /// `sha256:<hex>` of the text.
    pub digest: String,
    model: NoiseModel,
}

impl Calibration {
    /// Reads IBM backend properties (`qubits` and `gates`) or an IonQ characterization.
    pub fn parse(text: String) -> Result<Calibration, JobError> {
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| JobError::Calibration(format!("is not JSON: {e}")))?;
        let ibm = value.get("qubits").is_some_and(serde_json::Value::is_array)
            && value.get("gates").is_some();
        let model = if ibm {
            NoiseModel::from_ibm_properties(&text, None)
        } else {
            NoiseModel::from_ionq_characterization(&text)
        }
        .map_err(|e| JobError::Calibration(format!("cannot be used: {e}")))?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())));
        Ok(Calibration {
            text,
            digest,
            model,
        })
    }
}

/// A job for the local provider.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The circuit.
    pub circuit: &'a Circuit,
    /// Where.
    pub backend: LocalBackend,
    /// Shots.
    pub shots: u64,
    /// The seed.
    pub seed: u64,
    /// Noise, for the noisy backends.
    pub calibration: Option<&'a Calibration>,
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Refuse circuits whose state needs more bytes than this.
    pub memory_limit: u64,
}

/// What a local job produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Counts per bitstring (classical bit 0 rightmost).
    pub counts: Counts,
    /// Shots run.
    pub shots: u64,
    /// The seed used.
    pub seed: u64,
    /// The engine that ran.
    pub method: Method,
    /// Qubits simulated (after compaction).
    pub qubits: usize,
    /// Which original qubit each simulated one is.
    pub layout: Vec<usize>,
}

/// Runs `job`: the circuit is compacted to the qubits it uses and the calibration's noise
/// model remapped to them, so a circuit on a device's physical qubits is cheap to simulate.
pub fn run(job: &Job<'_>) -> Result<Outcome, JobError> {
    let (circuit, layout) = job.circuit.compact();
    let noise = match (job.calibration, job.backend) {
        (Some(_), LocalBackend::Statevector) => return Err(JobError::NoiselessWithCalibration),
        (None, LocalBackend::Noisy) => return Err(JobError::NoisyWithoutCalibration),
        (Some(c), _) => Some(c.model.remapped(&layout)),
        (None, _) => None,
    };
    let opts = RunOptions {
        shots: job.shots,
        seed: job.seed,
        threads: job.threads,
        method: job.backend.method(),
        noise,
        memory_limit: job.memory_limit,
    };
    let r = crate::run::run(&circuit, &opts).map_err(|e| JobError::Simulator(e.to_string()))?;
    Ok(Outcome {
        counts: r.counts,
        shots: r.shots,
        seed: r.seed,
        method: r.method,
        qubits: circuit.num_qubits,
        layout,
    })
}
