//! A tiny dense simulator for the tests: multiplies out the IR gates' matrices
//! ([`Gate::matrix`]) into a unitary or applies them to a state, independently of the engines.

use qwarden_sim::ir::{C64, Circuit, Gate, Instruction};

/// Applies `gate` on `qubits` to `state` (Qiskit bit order: qubit 0 least significant).
pub fn apply(state: &mut [C64], gate: &Gate, qubits: &[usize]) {
    let m = gate.matrix();
    let k = qubits.len();
    let dk = 1usize << k;
    assert_eq!(m.len(), dk * dk, "{}", gate.name());
    let mask: usize = qubits.iter().map(|q| 1usize << q).sum();
    for base in 0..state.len() {
        if base & mask != 0 {
            continue;
        }
        let idx: Vec<usize> = (0..dk)
            .map(|j| {
                base | (0..k)
                    .filter(|i| (j >> i) & 1 == 1)
                    .map(|i| 1usize << qubits[i])
                    .sum::<usize>()
            })
            .collect();
        let old: Vec<C64> = idx.iter().map(|&i| state[i]).collect();
        for a in 0..dk {
            state[idx[a]] = (0..dk).map(|b| m[a * dk + b] * old[b]).sum();
        }
    }
}

/// The unitary of a circuit made only of gates (barriers are skipped), row-major.
pub fn unitary(c: &Circuit) -> Vec<C64> {
    let d = 1usize << c.num_qubits;
    let mut u = vec![C64::new(0.0, 0.0); d * d];
    for col in 0..d {
        let mut state = vec![C64::new(0.0, 0.0); d];
        state[col] = C64::new(1.0, 0.0);
        run_gates(c, &mut state);
        for row in 0..d {
            u[row * d + col] = state[row];
        }
    }
    u
}

/// Applies the circuit's gates to `state`, skipping barriers and stopping at the first
/// measurement, reset or condition.
pub fn run_gates(c: &Circuit, state: &mut [C64]) {
    for inst in &c.instructions {
        match inst {
            Instruction::Gate { gate, qubits } => apply(state, gate, qubits),
            Instruction::Barrier { .. } => {}
            _ => return,
        }
    }
}

/// The state the circuit's gates make from |0…0⟩ (up to the first measurement).
pub fn state(c: &Circuit) -> Vec<C64> {
    let mut s = vec![C64::new(0.0, 0.0); 1usize << c.num_qubits];
    s[0] = C64::new(1.0, 0.0);
    run_gates(c, &mut s);
    s
}

/// Whether `a` equals `b` times a unit complex number (a global phase), within `tol`.
pub fn equal_up_to_phase(a: &[C64], b: &[C64], tol: f64) -> bool {
    assert_eq!(a.len(), b.len());
    let Some(i) = (0..b.len()).max_by(|&i, &j| b[i].norm().total_cmp(&b[j].norm())) else {
        return true;
    };
    if b[i].norm() < tol {
        return a.iter().all(|x| x.norm() < tol);
    }
    let phase = a[i] / b[i];
    (phase.norm() - 1.0).abs() < tol && a.iter().zip(b).all(|(x, y)| (x - phase * y).norm() < tol)
}

/// A `2^k+1`-dimensional controlled gate: controls are qubits `0..k`, the target is qubit `k`.
pub fn controlled(k: usize, u: [[C64; 2]; 2]) -> Vec<C64> {
    let d = 1usize << (k + 1);
    let all = (1usize << k) - 1;
    let mut m = vec![C64::new(0.0, 0.0); d * d];
    for col in 0..d {
        if col & all == all {
            let t = col >> k;
            let base = col & all;
            for r in 0..2 {
                m[(base | (r << k)) * d + col] = u[r][t];
            }
        } else {
            m[col * d + col] = C64::new(1.0, 0.0);
        }
    }
    m
}

/// `U(θ, φ, λ)` written out from its definition.
pub fn u3(t: f64, p: f64, l: f64) -> [[C64; 2]; 2] {
    let (c, s) = ((t / 2.0).cos(), (t / 2.0).sin());
    [
        [C64::new(c, 0.0), -C64::from_polar(s, l)],
        [C64::from_polar(s, p), C64::from_polar(c, p + l)],
    ]
}

/// The Pauli X.
pub fn x() -> [[C64; 2]; 2] {
    let (o, l) = (C64::new(0.0, 0.0), C64::new(1.0, 0.0));
    [[o, l], [l, o]]
}

/// √X.
pub fn sx() -> [[C64; 2]; 2] {
    [
        [C64::new(0.5, 0.5), C64::new(0.5, -0.5)],
        [C64::new(0.5, -0.5), C64::new(0.5, 0.5)],
    ]
}

/// A `d × d` matrix from real and imaginary entries given as `(row, col, value)`, identity
/// elsewhere on rows not listed.
pub fn from_entries(d: usize, entries: &[(usize, usize, C64)]) -> Vec<C64> {
    let mut m = vec![C64::new(0.0, 0.0); d * d];
    for r in 0..d {
        if !entries.iter().any(|(row, _, _)| *row == r) {
            m[r * d + r] = C64::new(1.0, 0.0);
        }
    }
    for &(r, c, v) in entries {
        m[r * d + c] = v;
    }
    m
}

/// One outcome path of a circuit with measurements: its probability, classical bits and state.
#[derive(Debug, Clone)]
pub struct Branch {
    pub prob: f64,
    pub clbits: Vec<bool>,
    pub state: Vec<C64>,
}

/// Every measurement outcome path of the circuit (exact branching on measure and reset, with
/// conditions evaluated on each path), dropping paths of probability below 1e-12.
pub fn branches(c: &Circuit) -> Vec<Branch> {
    let mut state = vec![C64::new(0.0, 0.0); 1usize << c.num_qubits];
    state[0] = C64::new(1.0, 0.0);
    let mut out = vec![Branch {
        prob: 1.0,
        clbits: vec![false; c.num_clbits],
        state,
    }];
    for inst in &c.instructions {
        out = out.into_iter().flat_map(|b| step(b, inst)).collect();
    }
    out
}

fn step(mut b: Branch, inst: &Instruction) -> Vec<Branch> {
    match inst {
        Instruction::Gate { gate, qubits } => {
            apply(&mut b.state, gate, qubits);
            vec![b]
        }
        Instruction::Barrier { .. } => vec![b],
        Instruction::Measure { qubit, clbit } => collapse(b, *qubit)
            .into_iter()
            .map(|(outcome, mut b)| {
                b.clbits[*clbit] = outcome;
                b
            })
            .collect(),
        Instruction::Reset { qubit } => collapse(b, *qubit)
            .into_iter()
            .map(|(outcome, mut b)| {
                if outcome {
                    apply(&mut b.state, &Gate::X, &[*qubit]);
                }
                b
            })
            .collect(),
        Instruction::Conditional {
            condition,
            instruction,
        } => {
            let value: u64 = condition
                .clbits
                .iter()
                .enumerate()
                .map(|(i, &c)| u64::from(b.clbits[c]) << i)
                .sum();
            if value == condition.value {
                step(b, instruction)
            } else {
                vec![b]
            }
        }
    }
}

fn collapse(b: Branch, qubit: usize) -> Vec<(bool, Branch)> {
    let mut out = Vec::new();
    for outcome in [false, true] {
        let mut state = b.state.clone();
        for (i, a) in state.iter_mut().enumerate() {
            if ((i >> qubit) & 1 == 1) != outcome {
                *a = C64::new(0.0, 0.0);
            }
        }
        let p: f64 = state.iter().map(|a| a.norm_sqr()).sum();
        if p < 1e-12 {
            continue;
        }
        for a in &mut state {
            *a /= p.sqrt();
        }
        out.push((
            outcome,
            Branch {
                prob: b.prob * p,
                clbits: b.clbits.clone(),
                state,
            },
        ));
    }
    out
}
