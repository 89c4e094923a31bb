//! The simulation engines behind [`crate::run::run`]: a statevector, a density matrix and
//! noisy statevector trajectories, sharing one compiler, one set of amplitude kernels and one
//! shot-branching executor.
//!
//! # Engines
//!
//! * **Statevector**: `2^n` complex `f64` amplitudes (16 bytes each). Gates are applied in place
//!   by specialised kernels (diagonal gates as phase multiplications, X/CX/CCX/swap as
//!   permutations, controlled gates on the controlled quarter only, dense 2×2 and 4×4 otherwise)
//!   after fusion (consecutive one-qubit gates multiplied, runs of diagonal gates fused into one
//!   pass, unconditional swaps turned into relabelling, leading one-qubit gates folded into a
//!   product initial state). Kernels are applied in cache-sized blocks of `2^14` amplitudes, so a
//!   stretch of gates costs one pass over memory; states above `2^14` amplitudes are processed by
//!   all threads of the run's pool, smaller ones by one thread.
//! * **Density matrix**: `ρ` as `4^n` amplitudes (`row + (col << n)`), a unitary `U` applied as
//!   `U` on the row qubits and `conj(U)` on the column qubits, a channel as its small
//!   superoperator `Σ K ⊗ conj(K)` (4×4 for one qubit, 16×16 for two, stored sparse) on its row
//!   and column qubits; resets are channels; measurements split the shots (below).
//! * **Trajectories**: a statevector per group of shots; after each gate the noise model's
//!   channel is applied by drawing one Kraus operator `K` with probability `‖Kψ‖²` (computed from
//!   the reduced density matrix of the channel's qubits in one pass, or known in advance when
//!   every `K†K` is a multiple of the identity, as for depolarizing noise) and renormalising.
//!
//! Measurements after which nothing touches the measured qubit are deferred to the end: the
//! final state is computed once and all shots are sampled from it. Any other randomness (a
//! mid-circuit measurement, a reset, a sampled Kraus operator, a condition that holds for some
//! shots only) splits the shots that share a state into one group per outcome, each continuing
//! with its own copy (see `tree`): a shot's result is exactly what simulating that shot alone
//! would give, and shots that agree share the work.
//!
//! # Random numbers and determinism
//!
//! All randomness comes from ChaCha8 (`rand_chacha` 0.3). The 256-bit key is the seed's eight
//! little-endian bytes followed by 24 zero bytes. **Shot `s` (0-based) owns stream `s`**
//! (`set_stream(s)`), and every random decision has a fixed address in that stream: the decision
//! made by instruction `i` of the circuit (0-based, in program order) in slot `k` is the 64-bit
//! word at 32-bit word position `8·i + 2·k` (`set_word_pos`), whose top 53 bits times `2^-53`
//! give a uniform `u` in `[0, 1)`. Slots: 0 = the outcome of a measurement or reset, or the
//! Kraus operator of the noise after a gate; 1 = the readout error of a measurement; 2 = the
//! Kraus operator of the noise before a measurement or after a reset. The final sampling of deferred
//! measurements uses address `i = number of instructions`, slot 0. Decisions: a measurement
//! gives 0 when `u < P(0)`; a Kraus operator `j` is chosen when `u·Σp` falls in its cumulative
//! interval; a readout bit flips when `u < P(flip)`; the final sample is the basis state whose
//! cumulative probability interval (in index order) contains `u·total`.
//!
//! Nothing a shot draws depends on which thread runs it, on the order in which shots are
//! processed or on how many threads there are: shots never share a stream, positions are fixed
//! by the circuit, and every floating-point reduction that decides an outcome (measurement
//! probabilities, Kraus probabilities, the cumulative sums of the final sampling) is summed in
//! fixed blocks of 4096 entries, each block sequentially and the blocks in index order,
//! whatever the thread count. Kernels are element-wise and their grouping depends only on the
//! circuit. Hence the same circuit, seed and noise model give identical counts with any number
//! of threads and on any machine with IEEE-754 doubles, provided the gate matrices' `sin`/`cos`
//! round identically (Rust never fuses multiply-adds on its own; the platform's `libm` could in
//! principle differ in the last bit, which would change a count only if a draw fell within
//! ~1e-16 of a boundary).

mod blocked;
mod kernels;
mod program;
mod rng;
mod sample;
mod state;
mod tree;

use crate::ir::{C64, Circuit};
use crate::noise::NoiseModel;
use crate::run::{Counts, SimError};

pub(crate) use program::Mode;

/// Bytes of the per-thread cache blocks.
const THREAD_SCRATCH: u128 = (16u128 << blocked::BLOCK_BITS) + (64 << 10);

/// The bytes one copy of the state needs for `nq` stored qubits.
fn state_bytes(nq: usize) -> u128 {
    1u128.checked_shl(nq as u32 + 4).unwrap_or(u128::MAX)
}

/// What a run needs besides extra copies of the state: the state, the scratch (task tables
/// ≤ 1/64 of the state, cumulative block sums, per-thread blocks), the shots' bookkeeping and
/// the counts.
pub(crate) fn bytes_needed(
    n: usize,
    mode: Mode,
    shots: u64,
    num_clbits: usize,
    threads: usize,
) -> u128 {
    let nq = if mode == Mode::Density {
        n.saturating_mul(2)
    } else {
        n
    };
    let st = state_bytes(nq);
    let words = num_clbits.div_ceil(64) as u128;
    let shots = u128::from(shots);
    let distinct = shots.min(
        1u128
            .checked_shl(num_clbits.min(127) as u32)
            .unwrap_or(u128::MAX),
    );
    st.saturating_add(st / 32)
        .saturating_add(THREAD_SCRATCH.saturating_mul(threads as u128))
        .saturating_add(shots.saturating_mul(48 + 8 * words))
        .saturating_add(distinct.saturating_mul(num_clbits as u128 + 8 * words + 96))
}

fn record_string(rec: &[u64], num_clbits: usize) -> String {
    (0..num_clbits)
        .rev()
        .map(|c| {
            if rec.get(c / 64).is_some_and(|w| (w >> (c % 64)) & 1 == 1) {
                '1'
            } else {
                '0'
            }
        })
        .collect()
}

/// Runs `shots` shots (inside the run's thread pool). `spare` is the memory left after
/// [`bytes_needed`], which bounds how many extra copies of the state branching may hold.
pub(crate) fn execute(
    circuit: &Circuit,
    mode: Mode,
    noise: Option<&NoiseModel>,
    seed: u64,
    shots: u64,
    spare: u128,
) -> Result<Counts, SimError> {
    program::validate(circuit)?;
    let prog = program::compile(circuit, mode, noise)?;
    let st = state_bytes(prog.nq).max(1);
    let max_live = usize::try_from((spare / st).saturating_add(1))
        .unwrap_or(usize::MAX)
        .min(4096);
    let tally = tree::execute(
        &prog,
        rng::key(seed),
        shots,
        max_live,
        tree::par_children(&prog),
    )?;
    let mut counts = Counts::new();
    for (rec, c) in tally {
        *counts
            .entry(record_string(&rec, prog.num_clbits))
            .or_insert(0) += c;
    }
    Ok(counts)
}

/// Validates `circuit` (indices, arities, parameters).
pub(crate) fn validate(circuit: &Circuit) -> Result<(), SimError> {
    program::validate(circuit)
}

/// The final statevector of a circuit without measurement or reset (conditions see all-zero
/// classical bits), in the circuit's qubit order.
pub(crate) fn final_state(circuit: &Circuit) -> Result<Vec<C64>, SimError> {
    use crate::ir::Instruction;
    program::validate(circuit)?;
    for (index, ins) in circuit.instructions.iter().enumerate() {
        let (_, inner) = program::flatten(ins);
        let what = match inner {
            Instruction::Measure { .. } => "measurement",
            Instruction::Reset { .. } => "reset",
            _ => continue,
        };
        return Err(SimError::NotUnitary { index, what });
    }
    let prog = program::compile(circuit, Mode::Pure, None)?;
    let mut st = state::State::initial(&prog)?;
    let zero = vec![0u64; prog.num_clbits.div_ceil(64)];
    for step in &prog.steps {
        if !tree::holds(&step.guard, &zero) {
            continue;
        }
        if let program::StepKind::Unitary(segs) = &step.kind {
            st.apply(segs)?;
        }
    }
    // Undo the swap relabelling: move circuit qubit q to position q.
    let mut pos = prog.perm.clone();
    for q in 0..prog.n {
        let Some(&p) = pos.get(q) else { continue };
        if p == q {
            continue;
        }
        let segs = blocked::segments(
            vec![blocked::Item::K(kernels::Kern::Swap {
                a: p.min(q),
                b: p.max(q),
            })],
            prog.n,
        );
        st.apply(&segs)?;
        // The circuit qubit that sat at position q now sits at p.
        if let Some(r) = pos.iter().position(|&x| x == q)
            && let Some(x) = pos.get_mut(r)
        {
            *x = p;
        }
        if let Some(x) = pos.get_mut(q) {
            *x = q;
        }
    }
    Ok(st.v)
}

/// The exact probability of each basis state of the circuit's qubits at the end (circuit qubit
/// order, readout error excluded), for circuits whose measurements are all terminal, without
/// conditions and (for the statevector) without reset.
pub(crate) fn final_probabilities(
    circuit: &Circuit,
    mode: Mode,
    noise: Option<&NoiseModel>,
) -> Result<Vec<f64>, SimError> {
    use crate::ir::Instruction;
    program::validate(circuit)?;
    for (index, ins) in circuit.instructions.iter().enumerate() {
        let what = match ins {
            Instruction::Conditional { .. } => "a classical condition",
            Instruction::Reset { .. } if mode != Mode::Density => "a reset",
            _ => continue,
        };
        return Err(SimError::NoExactDistribution { index, what });
    }
    let prog = program::compile(circuit, mode, noise)?;
    let mut st = state::State::initial(&prog)?;
    for step in &prog.steps {
        match &step.kind {
            program::StepKind::Unitary(segs) => st.apply(segs)?,
            program::StepKind::Measure { site, .. } => {
                return Err(SimError::NoExactDistribution {
                    index: usize::try_from(*site).unwrap_or(usize::MAX),
                    what: "a mid-circuit measurement",
                });
            }
            program::StepKind::Reset { site, .. } | program::StepKind::Channel { site, .. } => {
                return Err(SimError::NoExactDistribution {
                    index: usize::try_from(*site).unwrap_or(usize::MAX),
                    what: "a sampled event",
                });
            }
        }
    }
    let dim = 1usize << prog.n;
    let raw: Vec<f64> = if prog.mode == Mode::Density {
        (0..dim)
            .map(|r| st.v.get(r * (dim + 1)).map_or(0.0, |x| x.re.max(0.0)))
            .collect()
    } else {
        st.v.iter().map(|a| a.norm_sqr()).collect()
    };
    drop(st);
    let mut out = vec![0.0; dim];
    for (i, p) in raw.into_iter().enumerate() {
        let j: usize = prog
            .perm
            .iter()
            .enumerate()
            .map(|(q, &pos)| ((i >> pos) & 1) << q)
            .sum();
        if let Some(o) = out.get_mut(j) {
            *o = p;
        }
    }
    Ok(out)
}
