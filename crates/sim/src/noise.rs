//! Noise models: what happens to the state besides the ideal gates, derived from a calibration
//! snapshot (IBM backend properties, an IonQ characterization).
//!
//! The engines see a model only through [`NoiseModel::after_gate`], [`NoiseModel::before_measure`]
//! and [`NoiseModel::readout`]; how a snapshot becomes channels is this module's business.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ir::{C64, Gate};

/// A completely positive trace-preserving map on `num_qubits` qubits, as Kraus operators
/// (`Σ K†K = I`), each `2^k × 2^k` row-major in the [`crate::ir`] bit order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channel {
    /// How many qubits it acts on.
    pub num_qubits: usize,
    /// The Kraus operators.
    pub kraus: Vec<Vec<C64>>,
}

/// Readout error of one qubit: `p[prepared][measured]`, rows summing to 1.
pub type Readout = [[f64; 2]; 2];

/// A noise model.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct NoiseModel {
    /// Where it came from (backend name and calibration date, or a description).
    pub source: String,
    /// Noise after specific gates on specific qubits: `(gate name, qubits)` → channel on those
    /// qubits, in that order.
    pub gates: BTreeMap<(String, Vec<usize>), Channel>,
    /// Noise after any one-qubit gate not in `gates` (device-wide models).
    pub default_1q: Option<Channel>,
    /// Noise after any two-qubit gate not in `gates`.
    pub default_2q: Option<Channel>,
    /// Noise on a qubit just before it is measured (relaxation during readout).
    pub measure: BTreeMap<usize, Channel>,
    /// Readout error per qubit.
    pub readout: BTreeMap<usize, Readout>,
    /// Readout error of qubits not in `readout`.
    pub default_readout: Option<Readout>,
}

impl NoiseModel {
    /// The channel to apply after `gate` on `qubits`, if any.
    pub fn after_gate(&self, gate: &Gate, qubits: &[usize]) -> Option<&Channel> {
        self.gates
            .get(&(gate.name().to_owned(), qubits.to_vec()))
            .or(match qubits.len() {
                1 => self.default_1q.as_ref(),
                2 => self.default_2q.as_ref(),
                _ => None,
            })
    }

    /// The channel to apply to `qubit` just before measuring it, if any.
    pub fn before_measure(&self, qubit: usize) -> Option<&Channel> {
        self.measure.get(&qubit)
    }

    /// The readout error of `qubit`, if any.
    pub fn readout(&self, qubit: usize) -> Option<&Readout> {
        self.readout.get(&qubit).or(self.default_readout.as_ref())
    }

    /// Whether the model does anything at all.
    pub fn is_noiseless(&self) -> bool {
        self.gates.is_empty()
            && self.default_1q.is_none()
            && self.default_2q.is_none()
            && self.measure.is_empty()
            && self.readout.is_empty()
            && self.default_readout.is_none()
    }
}
