//! Running a circuit: choosing an engine, executing, sampling counts.
//!
//! [`run`] validates the circuit, picks the engine ([`Method`]), checks that the state fits in
//! [`RunOptions::memory_limit`] before allocating anything, and runs the shots in a thread pool
//! of its own with [`RunOptions::threads`] threads. The engines, their limits and the random
//! number scheme that makes counts reproducible on any machine and thread count are described in
//! [`crate::engine`].

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::{self, Mode};
use crate::ir::{C64, Circuit};
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

/// The memory limit of [`RunOptions::default`] and [`statevector`]: 4 GiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 4 << 30;

impl Default for RunOptions {
    /// 1024 shots, seed 0, all cores, [`Method::Auto`], no noise, [`DEFAULT_MEMORY_LIMIT`].
    fn default() -> RunOptions {
        RunOptions {
            shots: 1024,
            seed: 0,
            threads: 0,
            method: Method::Auto,
            noise: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
        }
    }
}

/// Why a circuit could not be simulated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The state would not fit in the memory limit; nothing was allocated.
    #[error(
        "cannot simulate {qubits} qubits with the {method} method: it needs {} but the memory limit is {}; {hint}",
        human(*.needed),
        human(u128::from(*.limit))
    )]
    TooLarge {
        /// Qubits in the circuit.
        qubits: usize,
        /// The engine that would have run (`"statevector"`, `"density-matrix"`, `"trajectories"`).
        method: &'static str,
        /// Bytes it would need.
        needed: u128,
        /// [`RunOptions::memory_limit`].
        limit: u64,
        /// What to do about it.
        hint: String,
    },
    /// An instruction names a qubit the circuit does not have.
    #[error(
        "instruction {index}: qubit {qubit} is out of range (the circuit has {num_qubits} qubits)"
    )]
    QubitOutOfRange {
        /// Index of the instruction.
        index: usize,
        /// The qubit.
        qubit: usize,
        /// Qubits in the circuit.
        num_qubits: usize,
    },
    /// An instruction names a classical bit the circuit does not have.
    #[error(
        "instruction {index}: classical bit {clbit} is out of range (the circuit has {num_clbits} classical bits)"
    )]
    ClbitOutOfRange {
        /// Index of the instruction.
        index: usize,
        /// The classical bit.
        clbit: usize,
        /// Classical bits in the circuit.
        num_clbits: usize,
    },
    /// A gate was given the wrong number of qubits.
    #[error("instruction {index}: gate {gate} takes {expected} qubits but was given {got}")]
    WrongArity {
        /// Index of the instruction.
        index: usize,
        /// The gate's name.
        gate: &'static str,
        /// Qubits it takes.
        expected: usize,
        /// Qubits it was given.
        got: usize,
    },
    /// A gate was given the same qubit twice.
    #[error("instruction {index}: gate {gate} is given qubit {qubit} more than once")]
    RepeatedQubit {
        /// Index of the instruction.
        index: usize,
        /// The gate's name.
        gate: &'static str,
        /// The repeated qubit.
        qubit: usize,
    },
    /// A gate parameter is NaN or infinite.
    #[error("instruction {index}: gate {gate} has a parameter that is not a finite number")]
    NonFiniteParameter {
        /// Index of the instruction.
        index: usize,
        /// The gate's name.
        gate: &'static str,
    },
    /// [`Method::Statevector`] was asked to run with noise.
    #[error(
        "the statevector method simulates ideal circuits only, but the noise model ({model}) is not noiseless; use Method::DensityMatrix, Method::Trajectories or Method::Auto"
    )]
    NoiseNeedsMixedState {
        /// The noise model's `source`.
        model: String,
    },
    /// The noise model is malformed.
    #[error("invalid noise model: {0}")]
    InvalidNoise(String),
    /// [`statevector`] was given a circuit with a measurement or reset.
    #[error(
        "instruction {index} is a {what}: a statevector is defined only for circuits without measurement or reset; remove it, or use run() to sample counts"
    )]
    NotUnitary {
        /// Index of the instruction.
        index: usize,
        /// `"measurement"` or `"reset"`.
        what: &'static str,
    },
    /// [`probabilities`] was given a circuit whose outcome depends on sampled events.
    #[error(
        "instruction {index} is {what}: exact probabilities are available only for circuits whose measurements are all at the end, without classical conditions (and, for the statevector, without reset); use run() to sample counts"
    )]
    NoExactDistribution {
        /// Index of the instruction.
        index: usize,
        /// What it is.
        what: &'static str,
    },
    /// [`probabilities`] was asked for trajectories, which only sample.
    #[error(
        "trajectories sample counts and have no exact probabilities; use Method::DensityMatrix"
    )]
    NoExactTrajectories,
    /// The thread pool could not be started.
    #[error("cannot start {threads} worker threads: {reason}; ask for fewer threads")]
    ThreadPool {
        /// Threads asked for.
        threads: usize,
        /// The system's reason.
        reason: String,
    },
    /// The system refused memory within the limit.
    #[error(
        "the system refused {} of memory although it is within the memory limit; lower RunOptions::memory_limit to what the machine has free",
        human(*.bytes)
    )]
    OutOfMemory {
        /// Bytes asked for.
        bytes: u128,
    },
    /// A bug in the simulator.
    #[error("internal simulator error: {0} (please report it)")]
    Internal(String),
}

fn human(b: u128) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if b < 1024 {
        return format!("{b} bytes");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = "KiB";
    for u in UNITS.iter().skip(1) {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{b} bytes ({v:.1} {unit})")
}

fn method_name(mode: Mode, method: Method) -> &'static str {
    match (mode, method) {
        (Mode::Density, _) => "density-matrix",
        (_, Method::Trajectories) => "trajectories",
        (Mode::Trajectory, _) => "trajectories",
        _ => "statevector",
    }
}

fn pool(threads: usize) -> Result<rayon::ThreadPool, SimError> {
    let n = if threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        threads.min(1024)
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| SimError::ThreadPool {
            threads: n,
            reason: e.to_string(),
        })
}

fn check_memory(
    circuit: &Circuit,
    mode: Mode,
    method: Method,
    shots: u64,
    limit: u64,
    threads: usize,
) -> Result<u128, SimError> {
    let n = circuit.num_qubits;
    let needed = engine::bytes_needed(n, mode, shots, circuit.num_clbits, threads);
    if needed > u128::from(limit) {
        let per = if mode == Mode::Density {
            "a density matrix needs 16·4^n bytes"
        } else {
            "a statevector needs 16·2^n bytes"
        };
        let other = match mode {
            Mode::Density => "; for a noisy circuit this large use Method::Trajectories",
            _ => "",
        };
        return Err(SimError::TooLarge {
            qubits: n,
            method: method_name(mode, method),
            needed,
            limit,
            hint: format!(
                "{per} plus scratch and per-shot bookkeeping; use fewer qubits or shots{other}, or raise RunOptions::memory_limit if the machine has the memory"
            ),
        });
    }
    Ok(u128::from(limit) - needed)
}

/// Runs `circuit` for `opts.shots` shots and returns the counts.
///
/// Method choice: [`Method::Statevector`] refuses a noise model that is not noiseless;
/// [`Method::Auto`] runs the statevector without noise, the density matrix with noise when
/// `n ≤ 12` and it fits in the memory limit, and trajectories otherwise. Everything is checked
/// (indices, arities, parameters, the noise model's channels, the memory needed) before the
/// state is allocated.
pub fn run(circuit: &Circuit, opts: &RunOptions) -> Result<RunResult, SimError> {
    engine::validate(circuit)?;
    let noise = opts.noise.as_ref().filter(|m| !m.is_noiseless());
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        opts.threads.min(1024)
    };
    let n = circuit.num_qubits;
    let (method, mode) = match opts.method {
        Method::Statevector => {
            if let Some(m) = noise {
                return Err(SimError::NoiseNeedsMixedState {
                    model: m.source.clone(),
                });
            }
            (Method::Statevector, Mode::Pure)
        }
        Method::DensityMatrix => (Method::DensityMatrix, Mode::Density),
        Method::Trajectories => (Method::Trajectories, Mode::Trajectory),
        Method::Auto => match noise {
            None => (Method::Statevector, Mode::Pure),
            Some(_) => {
                let fits = n <= 12
                    && engine::bytes_needed(
                        n,
                        Mode::Density,
                        opts.shots,
                        circuit.num_clbits,
                        threads,
                    ) <= u128::from(opts.memory_limit);
                if fits {
                    (Method::DensityMatrix, Mode::Density)
                } else {
                    (Method::Trajectories, Mode::Trajectory)
                }
            }
        },
    };
    let spare = check_memory(
        circuit,
        mode,
        method,
        opts.shots,
        opts.memory_limit,
        threads,
    )?;
    let pool = pool(threads)?;
    let counts =
        pool.install(|| engine::execute(circuit, mode, noise, opts.seed, opts.shots, spare))?;
    Ok(RunResult {
        counts,
        shots: opts.shots,
        seed: opts.seed,
        method,
    })
}

/// The final statevector of a circuit without measurement or reset, in the [`crate::ir`] bit
/// order (conditions see all-zero classical bits), using all cores and
/// [`DEFAULT_MEMORY_LIMIT`]. For tests and reproducibility audits.
pub fn statevector(circuit: &Circuit) -> Result<Vec<C64>, SimError> {
    statevector_with(circuit, &RunOptions::default())
}

/// [`statevector`] with the threads and memory limit of `opts` (the rest is ignored).
pub fn statevector_with(circuit: &Circuit, opts: &RunOptions) -> Result<Vec<C64>, SimError> {
    engine::validate(circuit)?;
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        opts.threads.min(1024)
    };
    check_memory(
        circuit,
        Mode::Pure,
        Method::Statevector,
        0,
        opts.memory_limit,
        threads,
    )?;
    pool(threads)?.install(|| engine::final_state(circuit))
}

/// The exact probability of each basis state of all the circuit's qubits at the end of the
/// circuit (index in the [`crate::ir`] bit order; the noise model's channels included, its readout
/// error not), for circuits whose measurements are all at the end and that have no classical
/// conditions (nor, for the statevector, resets). Uses the statevector without noise and the
/// density matrix with noise (or as `opts.method` says), `opts.threads` and `opts.memory_limit`.
pub fn probabilities(circuit: &Circuit, opts: &RunOptions) -> Result<Vec<f64>, SimError> {
    engine::validate(circuit)?;
    let noise = opts.noise.as_ref().filter(|m| !m.is_noiseless());
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        opts.threads.min(1024)
    };
    let (method, mode) = match (opts.method, noise) {
        (Method::Statevector, Some(m)) => {
            return Err(SimError::NoiseNeedsMixedState {
                model: m.source.clone(),
            });
        }
        (Method::Trajectories, _) => return Err(SimError::NoExactTrajectories),
        (Method::Statevector, None) | (Method::Auto, None) => (Method::Statevector, Mode::Pure),
        _ => (Method::DensityMatrix, Mode::Density),
    };
    check_memory(circuit, mode, method, 0, opts.memory_limit, threads)?;
    pool(threads)?.install(|| engine::final_probabilities(circuit, mode, noise))
}
