//! The local quantum backend: qwarden's embedded default, and the engine that re-runs archived
//! experiments in reproducibility audits.
//!
//! [`qasm`] parses OpenQASM 2.0 (with `qelib1.inc` built in) and the OpenQASM 3 subset IBM and
//! IonQ accept into a [`Circuit`]; [`run`] executes it on a statevector, a density matrix or
//! noisy trajectories, with a [`noise::NoiseModel`] derived from a calibration snapshot, and
//! samples counts from a seeded RNG so that the same circuit, seed and snapshot give the same
//! counts on any machine and thread count; [`compare`] measures how far two distributions are.
//! Nothing here knows about agents.

pub mod compare;
pub mod engine;
pub mod ir;
pub mod noise;
pub mod qasm;
pub mod run;

pub use ir::{Circuit, Gate, Instruction};
pub use run::{Counts, Method, RunOptions, RunResult};
