//! Compiling a circuit into the steps the engines execute.
//!
//! * Unconditional swaps are not executed: they relabel which storage position holds which
//!   circuit qubit (the noise model still sees circuit qubits).
//! * One-qubit gates applied to a qubit before anything else touches it are folded into a
//!   product initial state (one write pass instead of one pass per gate); later consecutive
//!   one-qubit gates on a qubit are multiplied into one matrix.
//! * Consecutive diagonal gates (Z, S, T, RZ, P, CZ, CP, CRZ, RZZ, ...) are fused into one
//!   diagonal applied with at most two multiplications per amplitude.
//! * Measurements after which nothing touches the qubit, whose bit no later condition reads and
//!   no later measurement overwrites, are deferred to the end and sampled from the final state.
//! * Barriers, non-deferred measurements, resets, conditionals and (for trajectories) noise
//!   channels end a unitary stretch; each stretch is cut into cache-blocked segments.

use std::sync::Arc;

use super::blocked::{self, Item, Segment};
use super::kernels::{self, DTerm, GeneralOp, Kern, ONE, ZERO};
use super::rng::{SLOT_MEASURE_NOISE, SLOT_OUTCOME};
use crate::ir::{C64, Circuit, Condition, Gate, Instruction};
use crate::noise::{Channel, NoiseModel};
use crate::run::SimError;

/// How the state is represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Ideal statevector.
    Pure,
    /// Statevector with sampled Kraus operators.
    Trajectory,
    /// Density matrix, vectorised: index `row + (col << n)`.
    Density,
}

/// A noise channel prepared for trajectories.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Prepared {
    /// Kraus operators, `2^k × 2^k` row-major.
    pub kraus: Vec<Vec<C64>>,
    /// `K†K` for each.
    pub kk: Vec<Vec<C64>>,
    /// State-independent probabilities when every `K†K` is a multiple of the identity, with the
    /// unitary to apply for each (`None`: a global phase, nothing to do).
    pub fixed: Option<Vec<(f64, Option<Vec<C64>>)>>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StepKind {
    /// Unitary (or, for density matrices, linear) kernels.
    Unitary(Vec<Segment>),
    /// A mid-circuit measurement.
    Measure {
        q: usize,
        clbit: usize,
        site: u64,
        readout: Option<[f64; 2]>,
    },
    /// Reset of a statevector qubit.
    Reset { q: usize, site: u64 },
    /// A noise channel sampled per trajectory.
    Channel {
        ch: Arc<Prepared>,
        q: Vec<usize>,
        site: u64,
        slot: u64,
    },
}

/// A step, run only when all of `guard` hold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    pub guard: Vec<Condition>,
    pub kind: StepKind,
}

/// A measurement deferred to the end.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TermMeasure {
    pub q: usize,
    pub clbit: usize,
    pub site: u64,
    /// `[P(read 1 | 0), P(read 0 | 1)]`.
    pub readout: Option<[f64; 2]>,
}

/// A compiled circuit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Program {
    pub n: usize,
    /// Qubits of the stored vector (`n`, or `2n` for a density matrix).
    pub nq: usize,
    pub mode: Mode,
    /// Initial product state per stored qubit.
    pub init: Vec<[C64; 2]>,
    pub steps: Vec<Step>,
    pub terminal: Vec<TermMeasure>,
    pub terminal_site: u64,
    /// Circuit qubit → storage position at the end.
    pub perm: Vec<usize>,
    pub num_clbits: usize,
}

/// Checks indices, arities, distinctness and parameters.
pub(crate) fn validate(c: &Circuit) -> Result<(), SimError> {
    let q_ok = |index: usize, qubit: usize| {
        if qubit < c.num_qubits {
            Ok(())
        } else {
            Err(SimError::QubitOutOfRange {
                index,
                qubit,
                num_qubits: c.num_qubits,
            })
        }
    };
    let c_ok = |index: usize, clbit: usize| {
        if clbit < c.num_clbits {
            Ok(())
        } else {
            Err(SimError::ClbitOutOfRange {
                index,
                clbit,
                num_clbits: c.num_clbits,
            })
        }
    };
    fn check(
        index: usize,
        ins: &Instruction,
        q_ok: &dyn Fn(usize, usize) -> Result<(), SimError>,
        c_ok: &dyn Fn(usize, usize) -> Result<(), SimError>,
    ) -> Result<(), SimError> {
        match ins {
            Instruction::Gate { gate, qubits } => {
                let expected = gate.num_qubits();
                if qubits.len() != expected {
                    return Err(SimError::WrongArity {
                        index,
                        gate: gate.name(),
                        expected,
                        got: qubits.len(),
                    });
                }
                for (i, &q) in qubits.iter().enumerate() {
                    q_ok(index, q)?;
                    if qubits.iter().take(i).any(|&r| r == q) {
                        return Err(SimError::RepeatedQubit {
                            index,
                            gate: gate.name(),
                            qubit: q,
                        });
                    }
                }
                if !params(gate).iter().all(|p| p.is_finite()) {
                    return Err(SimError::NonFiniteParameter {
                        index,
                        gate: gate.name(),
                    });
                }
                Ok(())
            }
            Instruction::Measure { qubit, clbit } => {
                q_ok(index, *qubit)?;
                c_ok(index, *clbit)
            }
            Instruction::Reset { qubit } => q_ok(index, *qubit),
            Instruction::Barrier { qubits } => qubits.iter().try_for_each(|&q| q_ok(index, q)),
            Instruction::Conditional {
                condition,
                instruction,
            } => {
                condition.clbits.iter().try_for_each(|&b| c_ok(index, b))?;
                check(index, instruction, q_ok, c_ok)
            }
        }
    }
    for (i, ins) in c.instructions.iter().enumerate() {
        check(i, ins, &q_ok, &c_ok)?;
    }
    Ok(())
}

fn params(g: &Gate) -> Vec<f64> {
    use Gate::*;
    match *g {
        RX(a) | RY(a) | RZ(a) | P(a) | CP(a) | CRX(a) | CRY(a) | CRZ(a) | RXX(a) | RYY(a)
        | RZZ(a) => vec![a],
        U(a, b, c) => vec![a, b, c],
        CU(a, b, c, d) => vec![a, b, c, d],
        _ => vec![],
    }
}

/// Splits nested conditionals into the list of conditions and the innermost instruction.
pub(crate) fn flatten(ins: &Instruction) -> (Vec<Condition>, &Instruction) {
    let mut guard = Vec::new();
    let mut cur = ins;
    while let Instruction::Conditional {
        condition,
        instruction,
    } = cur
    {
        guard.push(condition.clone());
        cur = instruction;
    }
    (guard, cur)
}

fn qubits_of(ins: &Instruction) -> Vec<usize> {
    match ins {
        Instruction::Gate { qubits, .. } | Instruction::Barrier { qubits } => qubits.clone(),
        Instruction::Measure { qubit, .. } | Instruction::Reset { qubit } => vec![*qubit],
        Instruction::Conditional { instruction, .. } => qubits_of(instruction),
    }
}

/// Which measurements can be deferred to the end.
fn deferrable(c: &Circuit, noise: Option<&NoiseModel>) -> Vec<bool> {
    let mut out = vec![false; c.instructions.len()];
    let mut touched = vec![false; c.num_qubits];
    let mut read = vec![false; c.num_clbits];
    let mut written = vec![false; c.num_clbits];
    let set = |v: &mut Vec<bool>, i: usize| {
        if let Some(x) = v.get_mut(i) {
            *x = true;
        }
    };
    let get = |v: &Vec<bool>, i: usize| v.get(i).copied().unwrap_or(true);
    for (i, ins) in c.instructions.iter().enumerate().rev() {
        match ins {
            Instruction::Measure { qubit, clbit } => {
                if let Some(o) = out.get_mut(i) {
                    *o = !get(&touched, *qubit) && !get(&read, *clbit) && !get(&written, *clbit);
                }
                set(&mut written, *clbit);
                if noise.is_some_and(|m| m.before_measure(*qubit).is_some()) {
                    set(&mut touched, *qubit);
                }
            }
            Instruction::Barrier { .. } => {}
            Instruction::Conditional {
                condition,
                instruction,
            } => {
                let (guard, inner) = flatten(ins);
                let _ = (condition, instruction);
                for g in &guard {
                    for &b in &g.clbits {
                        set(&mut read, b);
                    }
                }
                if let Instruction::Measure { clbit, .. } = inner {
                    set(&mut written, *clbit);
                }
                for q in qubits_of(inner) {
                    set(&mut touched, q);
                }
            }
            other => {
                for q in qubits_of(other) {
                    set(&mut touched, q);
                }
            }
        }
    }
    out
}

fn conj_all(m: &[C64]) -> Vec<C64> {
    m.iter().map(|x| x.conj()).collect()
}

fn arr4(m: &[C64]) -> [C64; 4] {
    let mut a = [ZERO; 4];
    for (x, y) in a.iter_mut().zip(m) {
        *x = *y;
    }
    a
}

fn arr16(m: &[C64]) -> [C64; 16] {
    let mut a = [ZERO; 16];
    for (x, y) in a.iter_mut().zip(m) {
        *x = *y;
    }
    a
}

/// The controlled block when a 4×4 matrix is "identity unless bit 0 is set".
fn controlled_block(m: &[C64; 16]) -> Option<[C64; 4]> {
    for r in 0..4usize {
        for c in 0..4usize {
            let v = m.get(r * 4 + c).copied().unwrap_or(ZERO);
            let inside = r & 1 == 1 && c & 1 == 1;
            if !inside {
                let want = if r == c { ONE } else { ZERO };
                if v != want {
                    return None;
                }
            }
        }
    }
    Some([m[5], m[7], m[13], m[15]])
}

/// Items for an arbitrary matrix on state positions `p` (first = least significant).
pub(crate) fn matrix_items(p: &[usize], m: &[C64]) -> Vec<Item> {
    match p {
        [q] => kernels::one_qubit_kern(*q, arr4(m))
            .map(Item::K)
            .into_iter()
            .collect(),
        [a, b] => {
            let m16 = arr16(m);
            let (q, m16) = if a < b {
                ([*a, *b], m16)
            } else {
                ([*b, *a], kernels::swap_qubits4(&m16))
            };
            let diag = (0..16usize).all(|i| i % 5 == 0 || m16.get(i).is_none_or(|x| *x == ZERO));
            if diag {
                vec![Item::K(Kern::Diag2 {
                    q,
                    d: [m16[0], m16[5], m16[10], m16[15]],
                })]
            } else {
                vec![Item::K(Kern::Dense2 { q, m: m16 })]
            }
        }
        _ => vec![Item::Gen(GeneralOp::from_dense(p.to_vec(), m))],
    }
}

/// Items for `gate` on state positions `p`; `conj` for the column side of a density matrix.
fn gate_items(gate: &Gate, p: &[usize], conj: bool) -> Vec<Item> {
    let raw = gate.matrix();
    let m = if conj { conj_all(&raw) } else { raw };
    let xm = [ZERO, ONE, ONE, ZERO];
    match (gate, p) {
        (Gate::I, _) => vec![],
        (Gate::Swap, [a, b]) => vec![Item::K(Kern::Swap {
            a: *a.min(b),
            b: *a.max(b),
        })],
        (Gate::CCX, [c0, c1, t]) => {
            vec![Item::K(Kern::Ctrl {
                c: [*c0, *c1],
                nc: 2,
                t: *t,
                m: xm,
                x: true,
            })]
        }
        (Gate::CSwap, [c, a, b]) => vec![Item::K(Kern::CSwap {
            c: *c,
            a: *a.min(b),
            b: *a.max(b),
        })],
        (_, [c, t]) => {
            let m16 = arr16(&m);
            match controlled_block(&m16) {
                Some(u) if u[1] == ZERO && u[2] == ZERO => {
                    // Diagonal: CZ, CP, CRZ.
                    let d = [ONE, u[0], ONE, u[3]];
                    if c < t {
                        vec![Item::K(Kern::Diag2 { q: [*c, *t], d })]
                    } else {
                        vec![Item::K(Kern::Diag2 {
                            q: [*t, *c],
                            d: [d[0], d[2], d[1], d[3]],
                        })]
                    }
                }
                Some(u) => vec![Item::K(Kern::Ctrl {
                    c: [*c, 0],
                    nc: 1,
                    t: *t,
                    m: u,
                    x: u == xm,
                })],
                None => matrix_items(p, &m),
            }
        }
        _ => matrix_items(p, &m),
    }
}

/// Checks a channel against the qubits it is attached to.
fn check_channel(ch: &Channel, k: usize, what: &dyn Fn() -> String) -> Result<(), SimError> {
    let dim = 1usize << k;
    if ch.num_qubits != k {
        return Err(SimError::InvalidNoise(format!(
            "the channel {} acts on {} qubits but is attached to {k}",
            what(),
            ch.num_qubits
        )));
    }
    if ch.kraus.is_empty() || ch.kraus.iter().any(|m| m.len() != dim * dim) {
        return Err(SimError::InvalidNoise(format!(
            "the channel {} needs Kraus operators of {dim}×{dim} entries",
            what()
        )));
    }
    if ch
        .kraus
        .iter()
        .flatten()
        .any(|x| !x.re.is_finite() || !x.im.is_finite())
    {
        return Err(SimError::InvalidNoise(format!(
            "the channel {} has a non-finite entry",
            what()
        )));
    }
    let sum =
        ch.kraus
            .iter()
            .map(|m| dagger_times(m, dim))
            .fold(vec![ZERO; dim * dim], |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            });
    let dev = sum
        .iter()
        .enumerate()
        .map(|(i, x)| (x - if i / dim == i % dim { ONE } else { ZERO }).norm())
        .fold(0.0, f64::max);
    if dev > 1e-6 {
        return Err(SimError::InvalidNoise(format!(
            "the channel {} is not trace preserving: Σ K†K differs from the identity by {dev:.2e}",
            what()
        )));
    }
    Ok(())
}

/// `K†K`.
fn dagger_times(k: &[C64], dim: usize) -> Vec<C64> {
    let mut out = vec![ZERO; dim * dim];
    for (i, o) in out.iter_mut().enumerate() {
        let (r, c) = (i / dim, i % dim);
        let mut s = ZERO;
        for j in 0..dim {
            let a = k.get(j * dim + r).copied().unwrap_or(ZERO);
            let b = k.get(j * dim + c).copied().unwrap_or(ZERO);
            s += a.conj() * b;
        }
        *o = s;
    }
    out
}

fn prepare(ch: &Channel) -> Prepared {
    let dim = 1usize << ch.num_qubits;
    let kk: Vec<Vec<C64>> = ch.kraus.iter().map(|k| dagger_times(k, dim)).collect();
    let scalar = |m: &Vec<C64>| -> Option<f64> {
        let c = m.first().copied().unwrap_or(ZERO);
        let ok = m.iter().enumerate().all(|(i, x)| {
            let want = if i / dim == i % dim { c } else { ZERO };
            (x - want).norm() <= 1e-12
        });
        (ok && c.im.abs() <= 1e-12).then_some(c.re.max(0.0))
    };
    let fixed = kk
        .iter()
        .map(scalar)
        .collect::<Option<Vec<f64>>>()
        .map(|ps| {
            let total: f64 = ps.iter().sum();
            ps.iter()
                .zip(&ch.kraus)
                .map(|(&p, k)| {
                    let p = if total > 0.0 { p / total } else { 0.0 };
                    let u: Vec<C64> = if p > 0.0 {
                        k.iter().map(|x| x / p.sqrt()).collect()
                    } else {
                        k.clone()
                    };
                    let ph = u.first().copied().unwrap_or(ONE);
                    let is_phase = (ph.norm() - 1.0).abs() <= 1e-12
                        && u.iter().enumerate().all(|(i, x)| {
                            let want = if i / dim == i % dim { ph } else { ZERO };
                            (x - want).norm() <= 1e-12
                        });
                    (p, if is_phase { None } else { Some(u) })
                })
                .collect()
        });
    Prepared {
        kraus: ch.kraus.clone(),
        kk,
        fixed,
    }
}

/// The superoperator of a channel on density-matrix positions `rows ++ cols`.
fn superop(ch: &Channel) -> Vec<C64> {
    let d = 1usize << ch.num_qubits;
    let ds = d * d;
    let mut s = vec![ZERO; ds * ds];
    for k in &ch.kraus {
        for (i, o) in s.iter_mut().enumerate() {
            let (out, inp) = (i / ds, i % ds);
            let (r1, c1) = (out % d, out / d);
            let (r0, c0) = (inp % d, inp / d);
            let a = k.get(r1 * d + r0).copied().unwrap_or(ZERO);
            let b = k.get(c1 * d + c0).copied().unwrap_or(ZERO);
            *o += a * b.conj();
        }
    }
    s
}

fn reset_channel() -> Channel {
    Channel {
        num_qubits: 1,
        kraus: vec![vec![ONE, ZERO, ZERO, ZERO], vec![ZERO, ONE, ZERO, ZERO]],
    }
}

fn readout_of(noise: Option<&NoiseModel>, q: usize) -> Result<Option<[f64; 2]>, SimError> {
    let Some(r) = noise.and_then(|m| m.readout(q)) else {
        return Ok(None);
    };
    let ok = r.iter().flatten().all(|p| (0.0..=1.0).contains(p))
        && r.iter().all(|row| (row[0] + row[1] - 1.0).abs() <= 1e-6);
    if !ok {
        return Err(SimError::InvalidNoise(format!(
            "the readout error of qubit {q} is not a probability matrix (rows must be in [0, 1] and sum to 1): {r:?}"
        )));
    }
    if r[0][1] == 0.0 && r[1][0] == 0.0 {
        return Ok(None);
    }
    Ok(Some([r[0][1], r[1][0]]))
}

fn gate_noise<'n>(
    noise: Option<&'n NoiseModel>,
    gate: &Gate,
    qubits: &[usize],
    index: usize,
) -> Result<Option<&'n Channel>, SimError> {
    let Some(ch) = noise.and_then(|m| m.after_gate(gate, qubits)) else {
        return Ok(None);
    };
    check_channel(ch, qubits.len(), &|| {
        format!(
            "after instruction {index} ({} on qubits {qubits:?})",
            gate.name()
        )
    })?;
    Ok(Some(ch))
}

fn reset_noise(noise: Option<&NoiseModel>, q: usize) -> Result<Option<&Channel>, SimError> {
    let Some(ch) = noise.and_then(|m| m.after_reset(q)) else {
        return Ok(None);
    };
    check_channel(ch, 1, &|| format!("after resetting qubit {q}"))?;
    Ok(Some(ch))
}

fn measure_noise(noise: Option<&NoiseModel>, q: usize) -> Result<Option<&Channel>, SimError> {
    let Some(ch) = noise.and_then(|m| m.before_measure(q)) else {
        return Ok(None);
    };
    check_channel(ch, 1, &|| format!("before measuring qubit {q}"))?;
    Ok(Some(ch))
}

struct Builder<'a> {
    mode: Mode,
    n: usize,
    nq: usize,
    noise: Option<&'a NoiseModel>,
    perm: Vec<usize>,
    pending: Vec<Option<[C64; 4]>>,
    leading: Vec<bool>,
    init: Vec<[C64; 2]>,
    items: Vec<Item>,
    run: Vec<DTerm>,
    run_q: Vec<bool>,
    steps: Vec<Step>,
    terminal: Vec<TermMeasure>,
}

fn item_qubits(it: &Item) -> Vec<usize> {
    match it {
        Item::K(k) => match *k {
            Kern::Scale(_) => vec![],
            Kern::Diag1 { q, .. }
            | Kern::X { q }
            | Kern::Real1 { q, .. }
            | Kern::Dense1 { q, .. } => {
                vec![q]
            }
            Kern::Diag2 { q, .. } | Kern::Dense2 { q, .. } => q.to_vec(),
            Kern::Ctrl { c, nc, t, .. } => c.iter().take(nc).copied().chain([t]).collect(),
            Kern::Swap { a, b } => vec![a, b],
            Kern::CSwap { c, a, b } => vec![c, a, b],
        },
        Item::Run(ts) => ts
            .iter()
            .flat_map(|t| t.q.iter().take(usize::from(t.k)).copied())
            .collect(),
        Item::Gen(g) => g.q.clone(),
    }
}

impl Builder<'_> {
    fn emit(&mut self, it: Item) {
        let term = match &it {
            Item::K(Kern::Scale(s)) => Some(DTerm {
                q: [0, 0],
                k: 0,
                d: [*s, ONE, ONE, ONE],
            }),
            Item::K(Kern::Diag1 { q, d }) => Some(DTerm {
                q: [*q, *q],
                k: 1,
                d: [d[0], d[1], ONE, ONE],
            }),
            Item::K(Kern::Diag2 { q, d }) => Some(DTerm { q: *q, k: 2, d: *d }),
            _ => None,
        };
        if let Some(t) = term {
            for &q in t.q.iter().take(usize::from(t.k)) {
                if let Some(x) = self.run_q.get_mut(q) {
                    *x = true;
                }
            }
            self.run.push(t);
            return;
        }
        if item_qubits(&it)
            .iter()
            .any(|&q| self.run_q.get(q).copied().unwrap_or(false))
        {
            self.flush_run();
        }
        self.items.push(it);
    }

    fn flush_run(&mut self) {
        if !self.run.is_empty() {
            self.items.push(Item::Run(std::mem::take(&mut self.run)));
            self.run_q.iter_mut().for_each(|x| *x = false);
        }
    }

    fn emit_matrix1(&mut self, p: usize, m: [C64; 4]) {
        if let Some(k) = kernels::one_qubit_kern(p, m) {
            self.emit(Item::K(k));
        }
        if self.mode == Mode::Density {
            let c = [m[0].conj(), m[1].conj(), m[2].conj(), m[3].conj()];
            if let Some(k) = kernels::one_qubit_kern(p + self.n, c) {
                self.emit(Item::K(k));
            }
        }
    }

    /// Ends `p`'s product prefix and emits its pending one-qubit matrix.
    fn touch(&mut self, p: usize) {
        if let Some(l) = self.leading.get_mut(p) {
            *l = false;
        }
        if let Some(m) = self.pending.get_mut(p).and_then(Option::take) {
            self.emit_matrix1(p, m);
        }
    }

    fn close(&mut self) {
        self.flush_run();
        if !self.items.is_empty() {
            let segs = blocked::segments(std::mem::take(&mut self.items), self.nq);
            self.steps.push(Step {
                guard: vec![],
                kind: StepKind::Unitary(segs),
            });
        }
    }

    /// Items (density) or a step (trajectories) for a channel on storage positions `p`.
    fn channel_items(&self, ch: &Channel, p: &[usize]) -> Vec<Item> {
        let mut q = p.to_vec();
        q.extend(p.iter().map(|x| x + self.n));
        vec![Item::Gen(GeneralOp::from_dense(q, &superop(ch)))]
    }

    fn channel(&mut self, ch: &Channel, p: &[usize], site: u64, slot: u64) {
        match self.mode {
            Mode::Pure => {}
            Mode::Density => {
                for it in self.channel_items(ch, p) {
                    self.emit(it);
                }
            }
            Mode::Trajectory => {
                self.close();
                self.steps.push(Step {
                    guard: vec![],
                    kind: StepKind::Channel {
                        ch: Arc::new(prepare(ch)),
                        q: p.to_vec(),
                        site,
                        slot,
                    },
                });
            }
        }
    }

    fn phys(&self, qs: &[usize]) -> Vec<usize> {
        qs.iter()
            .map(|&q| self.perm.get(q).copied().unwrap_or(q))
            .collect()
    }

    fn gate(&mut self, index: usize, gate: &Gate, qubits: &[usize]) -> Result<(), SimError> {
        let ch = gate_noise(self.noise, gate, qubits, index)?;
        let site = index as u64;
        if *gate == Gate::Swap {
            if let [a, b] = qubits {
                let (pa, pb) = (self.perm.get(*a).copied(), self.perm.get(*b).copied());
                if let (Some(pa), Some(pb)) = (pa, pb) {
                    if let Some(x) = self.perm.get_mut(*a) {
                        *x = pb;
                    }
                    if let Some(x) = self.perm.get_mut(*b) {
                        *x = pa;
                    }
                }
            }
            if let Some(ch) = ch {
                let p = self.phys(qubits);
                p.iter().for_each(|&x| self.touch(x));
                self.channel(ch, &p, site, SLOT_OUTCOME);
            }
            return Ok(());
        }
        let p = self.phys(qubits);
        if let [q] = p.as_slice() {
            let q = *q;
            let m = arr4(&gate.matrix());
            if *gate != Gate::I {
                if self.leading.get(q).copied().unwrap_or(false) {
                    if let Some(v) = self.init.get_mut(q) {
                        *v = [m[0] * v[0] + m[1] * v[1], m[2] * v[0] + m[3] * v[1]];
                    }
                } else if let Some(slot) = self.pending.get_mut(q) {
                    *slot = Some(match slot {
                        Some(prev) => kernels::mul2(&m, prev),
                        None => m,
                    });
                }
            }
            if let Some(ch) = ch {
                self.touch(q);
                self.channel(ch, &[q], site, SLOT_OUTCOME);
            }
            return Ok(());
        }
        p.iter().for_each(|&x| self.touch(x));
        for it in gate_items(gate, &p, false) {
            self.emit(it);
        }
        if self.mode == Mode::Density {
            let pc: Vec<usize> = p.iter().map(|x| x + self.n).collect();
            for it in gate_items(gate, &pc, true) {
                self.emit(it);
            }
        }
        if let Some(ch) = ch {
            self.channel(ch, &p, site, SLOT_OUTCOME);
        }
        Ok(())
    }

    /// A conditional instruction: its own guarded steps.
    fn conditional(
        &mut self,
        index: usize,
        guard: Vec<Condition>,
        inner: &Instruction,
    ) -> Result<(), SimError> {
        let qs = self.phys(&qubits_of(inner));
        qs.iter().for_each(|&p| self.touch(p));
        self.close();
        let site = index as u64;
        let n = self.n;
        let density = self.mode == Mode::Density;
        let mut unitary: Vec<Item> = Vec::new();
        let mut after: Vec<StepKind> = Vec::new();
        match inner {
            Instruction::Gate { gate, qubits } => {
                let ch = gate_noise(self.noise, gate, qubits, index)?;
                unitary.extend(gate_items(gate, &qs, false));
                if density {
                    let pc: Vec<usize> = qs.iter().map(|x| x + n).collect();
                    unitary.extend(gate_items(gate, &pc, true));
                }
                if let Some(ch) = ch {
                    match self.mode {
                        Mode::Density => unitary.extend(self.channel_items(ch, &qs)),
                        Mode::Trajectory => after.push(StepKind::Channel {
                            ch: Arc::new(prepare(ch)),
                            q: qs.clone(),
                            site,
                            slot: SLOT_OUTCOME,
                        }),
                        Mode::Pure => {}
                    }
                }
            }
            Instruction::Measure { qubit, clbit } => {
                let q = qs.first().copied().unwrap_or(0);
                if let Some(ch) = measure_noise(self.noise, *qubit)? {
                    match self.mode {
                        Mode::Density => unitary.extend(self.channel_items(ch, &[q])),
                        Mode::Trajectory => after.push(StepKind::Channel {
                            ch: Arc::new(prepare(ch)),
                            q: vec![q],
                            site,
                            slot: SLOT_MEASURE_NOISE,
                        }),
                        Mode::Pure => {}
                    }
                }
                let readout = readout_of(self.noise, *qubit)?;
                after.push(StepKind::Measure {
                    q,
                    clbit: *clbit,
                    site,
                    readout,
                });
            }
            Instruction::Reset { qubit } => {
                let q = qs.first().copied().unwrap_or(0);
                if density {
                    unitary.extend(self.channel_items(&reset_channel(), &[q]));
                } else {
                    after.push(StepKind::Reset { q, site });
                }
                if let Some(ch) = reset_noise(self.noise, *qubit)? {
                    match self.mode {
                        Mode::Density => unitary.extend(self.channel_items(ch, &[q])),
                        Mode::Trajectory => after.push(StepKind::Channel {
                            ch: Arc::new(prepare(ch)),
                            q: vec![q],
                            site,
                            slot: SLOT_MEASURE_NOISE,
                        }),
                        Mode::Pure => {}
                    }
                }
            }
            Instruction::Barrier { .. } | Instruction::Conditional { .. } => {}
        }
        if !unitary.is_empty() {
            let segs = blocked::segments(unitary, self.nq);
            self.steps.push(Step {
                guard: guard.clone(),
                kind: StepKind::Unitary(segs),
            });
        }
        for kind in after {
            self.steps.push(Step {
                guard: guard.clone(),
                kind,
            });
        }
        Ok(())
    }
}

/// Compiles `c` (already validated) for `mode`.
pub(crate) fn compile(
    c: &Circuit,
    mode: Mode,
    noise: Option<&NoiseModel>,
) -> Result<Program, SimError> {
    let n = c.num_qubits;
    let nq = if mode == Mode::Density { 2 * n } else { n };
    let defer = deferrable(c, noise);
    let mut b = Builder {
        mode,
        n,
        nq,
        noise,
        perm: (0..n).collect(),
        pending: vec![None; n],
        leading: vec![true; n],
        init: vec![[ONE, ZERO]; n],
        items: Vec::new(),
        run: Vec::new(),
        run_q: vec![false; nq],
        steps: Vec::new(),
        terminal: Vec::new(),
    };
    for (i, ins) in c.instructions.iter().enumerate() {
        let site = i as u64;
        match ins {
            Instruction::Gate { gate, qubits } => b.gate(i, gate, qubits)?,
            Instruction::Measure { qubit, clbit } => {
                let p = b.phys(&[*qubit]).first().copied().unwrap_or(0);
                if let Some(ch) = measure_noise(noise, *qubit)? {
                    b.touch(p);
                    b.channel(ch, &[p], site, SLOT_MEASURE_NOISE);
                }
                let readout = readout_of(noise, *qubit)?;
                if defer.get(i).copied().unwrap_or(false) {
                    b.terminal.push(TermMeasure {
                        q: p,
                        clbit: *clbit,
                        site,
                        readout,
                    });
                } else {
                    b.touch(p);
                    b.close();
                    b.steps.push(Step {
                        guard: vec![],
                        kind: StepKind::Measure {
                            q: p,
                            clbit: *clbit,
                            site,
                            readout,
                        },
                    });
                }
            }
            Instruction::Reset { qubit } => {
                let p = b.phys(&[*qubit]).first().copied().unwrap_or(0);
                if b.leading.get(p).copied().unwrap_or(false) {
                    // Still a product state: reset re-prepares |0⟩.
                    if let Some(v) = b.init.get_mut(p) {
                        *v = [ONE, ZERO];
                    }
                } else if mode == Mode::Density {
                    b.touch(p);
                    for it in b.channel_items(&reset_channel(), &[p]) {
                        b.emit(it);
                    }
                } else {
                    b.touch(p);
                    b.close();
                    b.steps.push(Step {
                        guard: vec![],
                        kind: StepKind::Reset { q: p, site },
                    });
                }
                if let Some(ch) = reset_noise(noise, *qubit)? {
                    b.touch(p);
                    b.channel(ch, &[p], site, SLOT_MEASURE_NOISE);
                }
            }
            Instruction::Barrier { qubits } => {
                let p = b.phys(qubits);
                p.iter().for_each(|&x| b.touch(x));
                if p.iter().any(|&x| b.run_q.get(x).copied().unwrap_or(false)) {
                    b.flush_run();
                }
            }
            Instruction::Conditional { .. } => {
                let (guard, inner) = flatten(ins);
                b.conditional(i, guard, inner)?;
            }
        }
    }
    for p in 0..n {
        b.touch(p);
    }
    b.close();
    let mut init = b.init.clone();
    if mode == Mode::Density {
        init.extend(b.init.iter().map(|v| [v[0].conj(), v[1].conj()]));
    }
    Ok(Program {
        n,
        nq,
        mode,
        init,
        steps: b.steps,
        terminal: b.terminal,
        terminal_site: c.instructions.len() as u64,
        perm: b.perm,
        num_clbits: c.num_clbits,
    })
}
