//! The `local` provider: jobs run on qwarden's simulator, in the supervisor.
//!
//! Backends: `statevector` (ideal), `density` (density matrix), `trajectories` (noisy
//! statevector trajectories) and `noisy` (density matrix when it fits, trajectories otherwise).
//! The noisy ones take a calibration snapshot (IBM backend properties or an IonQ
//! characterization), whose SHA-256 is the job's calibration digest. A circuit on a device's
//! physical qubits runs on just the qubits it uses. Same circuit, seed and calibration: same
//! counts, on any machine.

use qwarden_sim::job::JobError;
use qwarden_sim::{Counts, Method};
use sha2::{Digest as _, Sha256};

pub use qwarden_sim::job::{Calibration, LocalBackend};

/// A job for the local provider.
#[derive(Debug, Clone)]
pub struct LocalJob<'a> {
    /// OpenQASM 2 or 3.
    pub qasm: &'a str,
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
pub struct LocalResult {
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
    /// `sha256:<hex>` of the circuit's text.
    pub circuit_digest: String,
}

/// Why a local job could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalError {
    /// Not a local backend.
    #[error(
        "unknown local backend `{0}`; the local provider has statevector, density, trajectories and noisy"
    )]
    UnknownBackend(String),
    /// The circuit is not valid OpenQASM.
    #[error("circuit: {0}")]
    Circuit(String),
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

impl From<JobError> for LocalError {
    fn from(e: JobError) -> LocalError {
        match e {
            JobError::UnknownBackend(b) => LocalError::UnknownBackend(b),
            JobError::Calibration(m) => LocalError::Calibration(m),
            JobError::NoiselessWithCalibration => LocalError::NoiselessWithCalibration,
            JobError::NoisyWithoutCalibration => LocalError::NoisyWithoutCalibration,
            JobError::Simulator(m) => LocalError::Simulator(m),
        }
    }
}

/// Runs `job` ([`qwarden_sim::job::run`] on the parsed circuit).
pub fn run(job: &LocalJob<'_>) -> Result<LocalResult, LocalError> {
    let circuit =
        qwarden_sim::qasm::parse(job.qasm).map_err(|e| LocalError::Circuit(e.to_string()))?;
    let r = qwarden_sim::job::run(&qwarden_sim::job::Job {
        circuit: &circuit,
        backend: job.backend,
        shots: job.shots,
        seed: job.seed,
        calibration: job.calibration,
        threads: job.threads,
        memory_limit: job.memory_limit,
    })?;
    Ok(LocalResult {
        counts: r.counts,
        shots: r.shots,
        seed: r.seed,
        method: r.method,
        qubits: r.qubits,
        layout: r.layout,
        circuit_digest: format!(
            "sha256:{}",
            hex::encode(Sha256::digest(job.qasm.as_bytes()))
        ),
    })
}

/// A fresh seed: 53 random bits, so it survives any JSON reader exactly (0 if the system's
/// random source cannot be read).
pub fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if ok { u64::from_le_bytes(b) >> 11 } else { 0 }
}

/// 3/4 of the memory the kernel says is available, so a big circuit is refused, not swapped.
pub fn memory_limit() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(qwarden_sim::run::DEFAULT_MEMORY_LIMIT, |kb| {
            kb * 1024 / 4 * 3
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    const BELL: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";

    fn job(backend: LocalBackend, calibration: Option<&Calibration>) -> LocalJob<'_> {
        LocalJob {
            qasm: BELL,
            backend,
            shots: 1000,
            seed: 7,
            calibration,
            threads: 1,
            memory_limit: 1 << 30,
        }
    }

    #[test]
    fn bell_runs_ideal_and_reproducibly() {
        let a = run(&job(LocalBackend::Statevector, None)).unwrap();
        assert_eq!(a.counts.keys().collect::<Vec<_>>(), ["00", "11"]);
        assert_eq!(a.counts.values().sum::<u64>(), 1000);
        assert_eq!(a, run(&job(LocalBackend::Statevector, None)).unwrap());
        assert!(a.circuit_digest.starts_with("sha256:"));
    }

    #[test]
    fn noisy_backends_need_a_calibration_and_use_it() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/calibrations/ibm_lima_props.json"
        ))
        .unwrap();
        let cal = Calibration::parse(text).unwrap();
        assert!(cal.digest.starts_with("sha256:"));
        assert_eq!(
            run(&job(LocalBackend::Noisy, None)),
            Err(LocalError::NoisyWithoutCalibration)
        );
        assert_eq!(
            run(&job(LocalBackend::Statevector, Some(&cal))),
            Err(LocalError::NoiselessWithCalibration)
        );
        let noisy = run(&job(LocalBackend::Noisy, Some(&cal))).unwrap();
        assert!(
            noisy.counts.len() > 2,
            "noise leaks into 01/10: {:?}",
            noisy.counts
        );
        assert!(matches!(
            Calibration::parse("{}".into()),
            Err(JobError::Calibration(_))
        ));
        assert!(matches!(
            "gpu".parse::<LocalBackend>(),
            Err(JobError::UnknownBackend(_))
        ));
        let bad = LocalJob {
            qasm: "OPENQASM 2.0; qreg q[1]; foo q[0];",
            ..job(LocalBackend::Statevector, None)
        };
        assert!(matches!(run(&bad), Err(LocalError::Circuit(_))));
    }
}
