//! The local quantum backend: qwarden's embedded default, and the engine that re-runs archived
//! experiments in reproducibility audits.
//!
//! [`qasm`] parses OpenQASM 2.0 (with `qelib1.inc` built in) and the OpenQASM 3 subset IBM and
//! IonQ accept into a [`Circuit`]; [`run`] executes it on a statevector, a density matrix or
//! noisy trajectories, with a [`noise::NoiseModel`] derived from a calibration snapshot, and
//! samples counts from a seeded RNG so that the same circuit, seed and snapshot give the same
//! counts on any machine and thread count; [`job`] is a local-backend job as the gateway runs it
//! and a re-run audit repeats it; [`compare`] measures how far two distributions are.
//! [`qpy`] reads the binary QPY circuits Qiskit writes (and IBM sampler jobs carry) into the same
//! [`Circuit`]. [`ionq`] reads IonQ's JSON circuits (the `input` of an API v0.4 job) into it too.
//! Nothing here knows about agents.

pub mod compare;
pub mod engine;
pub mod ionq;
pub mod ir;
pub mod job;
pub mod noise;
pub mod qasm;
pub mod qpy;
pub mod run;

pub use ir::{Circuit, Gate, Instruction};
pub use run::{Counts, Method, RunOptions, RunResult};
