//! Running a circuit: choosing an engine, executing, sampling counts.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::noise::NoiseModel;

/// Which engine runs the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Ideal statevector (noise, if given, is refused).
    Statevector,
    /// Density matrix: exact noisy simulation, for small circuits.
    DensityMatrix,
    /// Noisy statevector trajectories, one per shot: for noisy circuits too big for a density
    /// matrix.
    Trajectories,
    /// Statevector without noise; density matrix with noise when it fits; trajectories otherwise.
    Auto,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Number of shots.
    pub shots: u64,
    /// The seed: same circuit, seed and noise model ⇒ same counts, on any machine and thread count.
    pub seed: u64,
    /// Worker threads (0: all available cores).
    pub threads: usize,
    /// The engine.
    pub method: Method,
    /// The noise model, if any.
    pub noise: Option<NoiseModel>,
    /// Refuse circuits whose state would need more than this many bytes.
    pub memory_limit: u64,
}

/// Counts per measured bitstring (classical bit 0 rightmost).
pub type Counts = BTreeMap<String, u64>;

/// What a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Counts per bitstring.
    pub counts: Counts,
    /// Shots run.
    pub shots: u64,
    /// The seed used.
    pub seed: u64,
    /// The engine that ran.
    pub method: Method,
}
