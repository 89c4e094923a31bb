//! The circuit the front end produces and the engines run.
//!
//! Conventions (Qiskit's): qubit 0 is the least significant bit of a basis-state index, and a
//! measured bitstring is written with classical bit 0 rightmost. A gate's matrix acts on its
//! qubits in the order given, the first qubit being the least significant bit of the matrix index:
//! for `cx(control, target)` the matrix maps `|target control⟩` basis states, so it is
//! `[[1,0,0,0],[0,0,0,1],[0,0,1,0],[0,1,0,0]]`, exactly as `qiskit.quantum_info.Operator(CXGate())`.

use num_complex::Complex64;
use serde::Serialize;

/// A complex amplitude.
pub type C64 = Complex64;

/// A primitive gate with its parameters (angles in radians).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "name", content = "params", rename_all = "lowercase")]
pub enum Gate {
    /// Identity.
    I,
    /// Pauli X.
    X,
    /// Pauli Y.
    Y,
    /// Pauli Z.
    Z,
    /// Hadamard.
    H,
    /// √Z.
    S,
    /// S†.
    Sdg,
    /// ⁴√Z.
    T,
    /// T†.
    Tdg,
    /// √X.
    SX,
    /// √X†.
    SXdg,
    /// Rotation about X.
    RX(f64),
    /// Rotation about Y.
    RY(f64),
    /// Rotation about Z: `diag(e^{-iθ/2}, e^{iθ/2})`.
    RZ(f64),
    /// Phase: `diag(1, e^{iλ})` (OpenQASM 2's `u1`).
    P(f64),
    /// The general single-qubit gate `U(θ, φ, λ)` (OpenQASM's `U`, `u3`).
    U(f64, f64, f64),
    /// Controlled X (control, target).
    CX,
    /// Controlled Y.
    CY,
    /// Controlled Z.
    CZ,
    /// Controlled Hadamard.
    CH,
    /// Controlled phase.
    CP(f64),
    /// Controlled RX.
    CRX(f64),
    /// Controlled RY.
    CRY(f64),
    /// Controlled RZ.
    CRZ(f64),
    /// Controlled U with global phase γ: `cu(θ, φ, λ, γ)`.
    CU(f64, f64, f64, f64),
    /// Swap.
    Swap,
    /// iSWAP.
    ISwap,
    /// Echoed cross-resonance (IBM's native two-qubit gate).
    ECR,
    /// `exp(-iθ/2 X⊗X)`.
    RXX(f64),
    /// `exp(-iθ/2 Y⊗Y)`.
    RYY(f64),
    /// `exp(-iθ/2 Z⊗Z)`.
    RZZ(f64),
    /// Toffoli (control, control, target).
    CCX,
    /// Fredkin (control, target, target).
    CSwap,
}

/// A classical condition: the register made of `clbits` (bit 0 first) equals `value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// The classical bits of the register, least significant first.
    pub clbits: Vec<usize>,
    /// The value it must hold.
    pub value: u64,
}

/// One step of a circuit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Instruction {
    /// A gate on `qubits` (as many as the gate takes, distinct).
    Gate {
        /// The gate.
        gate: Gate,
        /// Its qubits, in the gate's order.
        qubits: Vec<usize>,
    },
    /// Measure `qubit` into `clbit` (mid-circuit measurement collapses the state).
    Measure {
        /// The qubit.
        qubit: usize,
        /// The classical bit.
        clbit: usize,
    },
    /// Reset `qubit` to |0⟩.
    Reset {
        /// The qubit.
        qubit: usize,
    },
    /// A barrier (no effect on the state; stops gate fusion across it).
    Barrier {
        /// The qubits it spans.
        qubits: Vec<usize>,
    },
    /// `instruction` runs only when `condition` holds (OpenQASM 2 `if (c == n)`, OpenQASM 3 `if`).
    Conditional {
        /// The condition.
        condition: Condition,
        /// What runs.
        instruction: Box<Instruction>,
    },
}

/// A classical register, for naming result bits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Register {
    /// Its name in the source.
    pub name: String,
    /// Its first bit in the circuit's classical bits.
    pub start: usize,
    /// Its size.
    pub size: usize,
}

/// A whole circuit.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Circuit {
    /// Number of qubits.
    pub num_qubits: usize,
    /// Number of classical bits.
    pub num_clbits: usize,
    /// Classical registers in declaration order.
    pub cregs: Vec<Register>,
    /// The instructions in program order.
    pub instructions: Vec<Instruction>,
}

impl Instruction {
    /// The qubits this instruction touches.
    pub fn qubits(&self) -> Vec<usize> {
        match self {
            Instruction::Gate { qubits, .. } | Instruction::Barrier { qubits } => qubits.clone(),
            Instruction::Measure { qubit, .. } | Instruction::Reset { qubit } => vec![*qubit],
            Instruction::Conditional { instruction, .. } => instruction.qubits(),
        }
    }

    fn map_qubits(&self, f: &impl Fn(usize) -> usize) -> Instruction {
        match self {
            Instruction::Gate { gate, qubits } => Instruction::Gate {
                gate: *gate,
                qubits: qubits.iter().map(|q| f(*q)).collect(),
            },
            Instruction::Barrier { qubits } => Instruction::Barrier {
                qubits: qubits.iter().map(|q| f(*q)).collect(),
            },
            Instruction::Measure { qubit, clbit } => Instruction::Measure {
                qubit: f(*qubit),
                clbit: *clbit,
            },
            Instruction::Reset { qubit } => Instruction::Reset { qubit: f(*qubit) },
            Instruction::Conditional {
                condition,
                instruction,
            } => Instruction::Conditional {
                condition: condition.clone(),
                instruction: Box::new(instruction.map_qubits(f)),
            },
        }
    }
}

impl Circuit {
    /// The same circuit on qubits `0..k`, keeping only the `k` qubits it uses, and the layout:
    /// `layout[i]` is the original number of new qubit `i` (in increasing order). A circuit
    /// written on a device's physical qubits (`$101`, `$102`) then simulates as two qubits, with
    /// the noise model remapped by the same layout.
    pub fn compact(&self) -> (Circuit, Vec<usize>) {
        let mut used: Vec<usize> = self
            .instructions
            .iter()
            .flat_map(Instruction::qubits)
            .collect();
        used.sort_unstable();
        used.dedup();
        let index = |q: usize| used.binary_search(&q).unwrap_or(q);
        let circuit = Circuit {
            num_qubits: used.len(),
            num_clbits: self.num_clbits,
            cregs: self.cregs.clone(),
            instructions: self
                .instructions
                .iter()
                .map(|i| i.map_qubits(&index))
                .collect(),
        };
        (circuit, used)
    }
}

fn c(re: f64, im: f64) -> C64 {
    C64::new(re, im)
}

/// `e^{iφ}`.
fn phase(phi: f64) -> C64 {
    C64::from_polar(1.0, phi)
}

impl Gate {
    /// How many qubits it acts on.
    pub fn num_qubits(&self) -> usize {
        use Gate::*;
        match self {
            I | X | Y | Z | H | S | Sdg | T | Tdg | SX | SXdg | RX(_) | RY(_) | RZ(_) | P(_)
            | U(..) => 1,
            CX | CY | CZ | CH | CP(_) | CRX(_) | CRY(_) | CRZ(_) | CU(..) | Swap | ISwap | ECR
            | RXX(_) | RYY(_) | RZZ(_) => 2,
            CCX | CSwap => 3,
        }
    }

    /// Its lower-case OpenQASM name.
    pub fn name(&self) -> &'static str {
        use Gate::*;
        match self {
            I => "id",
            X => "x",
            Y => "y",
            Z => "z",
            H => "h",
            S => "s",
            Sdg => "sdg",
            T => "t",
            Tdg => "tdg",
            SX => "sx",
            SXdg => "sxdg",
            RX(_) => "rx",
            RY(_) => "ry",
            RZ(_) => "rz",
            P(_) => "p",
            U(..) => "u",
            CX => "cx",
            CY => "cy",
            CZ => "cz",
            CH => "ch",
            CP(_) => "cp",
            CRX(_) => "crx",
            CRY(_) => "cry",
            CRZ(_) => "crz",
            CU(..) => "cu",
            Swap => "swap",
            ISwap => "iswap",
            ECR => "ecr",
            RXX(_) => "rxx",
            RYY(_) => "ryy",
            RZZ(_) => "rzz",
            CCX => "ccx",
            CSwap => "cswap",
        }
    }

    /// The unitary, row-major, `2^k × 2^k` for a `k`-qubit gate, in the module's bit order.
    pub fn matrix(&self) -> Vec<C64> {
        use Gate::*;
        let o = c(0.0, 0.0);
        let l = c(1.0, 0.0);
        let i = c(0.0, 1.0);
        let r = std::f64::consts::FRAC_1_SQRT_2;
        let one = |m: [[C64; 2]; 2]| vec![m[0][0], m[0][1], m[1][0], m[1][1]];
        let u = |t: f64, p: f64, lam: f64| {
            let (ct, st) = ((t / 2.0).cos(), (t / 2.0).sin());
            [
                [c(ct, 0.0), -phase(lam) * st],
                [phase(p) * st, phase(p + lam) * ct],
            ]
        };
        // A controlled single-qubit gate, control = first qubit (bit 0), target = second (bit 1).
        let controlled = |m: [[C64; 2]; 2]| {
            let mut out = vec![o; 16];
            let set = |out: &mut Vec<C64>, row: usize, col: usize, v: C64| {
                if let Some(x) = out.get_mut(row * 4 + col) {
                    *x = v;
                }
            };
            set(&mut out, 0, 0, l);
            set(&mut out, 2, 2, l);
            // Basis index = control + 2·target; the control-set states are 1 and 3.
            set(&mut out, 1, 1, m[0][0]);
            set(&mut out, 1, 3, m[0][1]);
            set(&mut out, 3, 1, m[1][0]);
            set(&mut out, 3, 3, m[1][1]);
            out
        };
        match *self {
            I => one([[l, o], [o, l]]),
            X => one([[o, l], [l, o]]),
            Y => one([[o, -i], [i, o]]),
            Z => one([[l, o], [o, -l]]),
            H => one([[c(r, 0.0), c(r, 0.0)], [c(r, 0.0), c(-r, 0.0)]]),
            S => one([[l, o], [o, i]]),
            Sdg => one([[l, o], [o, -i]]),
            T => one([[l, o], [o, phase(std::f64::consts::FRAC_PI_4)]]),
            Tdg => one([[l, o], [o, phase(-std::f64::consts::FRAC_PI_4)]]),
            SX => one([[c(0.5, 0.5), c(0.5, -0.5)], [c(0.5, -0.5), c(0.5, 0.5)]]),
            SXdg => one([[c(0.5, -0.5), c(0.5, 0.5)], [c(0.5, 0.5), c(0.5, -0.5)]]),
            RX(t) => {
                let (ct, st) = ((t / 2.0).cos(), (t / 2.0).sin());
                one([[c(ct, 0.0), c(0.0, -st)], [c(0.0, -st), c(ct, 0.0)]])
            }
            RY(t) => {
                let (ct, st) = ((t / 2.0).cos(), (t / 2.0).sin());
                one([[c(ct, 0.0), c(-st, 0.0)], [c(st, 0.0), c(ct, 0.0)]])
            }
            RZ(t) => one([[phase(-t / 2.0), o], [o, phase(t / 2.0)]]),
            P(lam) => one([[l, o], [o, phase(lam)]]),
            U(t, p, lam) => one(u(t, p, lam)),
            CX => controlled([[o, l], [l, o]]),
            CY => controlled([[o, -i], [i, o]]),
            CZ => controlled([[l, o], [o, -l]]),
            CH => controlled([[c(r, 0.0), c(r, 0.0)], [c(r, 0.0), c(-r, 0.0)]]),
            CP(lam) => controlled([[l, o], [o, phase(lam)]]),
            CRX(t) => {
                let (ct, st) = ((t / 2.0).cos(), (t / 2.0).sin());
                controlled([[c(ct, 0.0), c(0.0, -st)], [c(0.0, -st), c(ct, 0.0)]])
            }
            CRY(t) => {
                let (ct, st) = ((t / 2.0).cos(), (t / 2.0).sin());
                controlled([[c(ct, 0.0), c(-st, 0.0)], [c(st, 0.0), c(ct, 0.0)]])
            }
            CRZ(t) => controlled([[phase(-t / 2.0), o], [o, phase(t / 2.0)]]),
            CU(t, p, lam, g) => {
                let m = u(t, p, lam);
                let gp = phase(g);
                controlled([[gp * m[0][0], gp * m[0][1]], [gp * m[1][0], gp * m[1][1]]])
            }
            Swap => vec![l, o, o, o, o, o, l, o, o, l, o, o, o, o, o, l],
            ISwap => vec![l, o, o, o, o, o, i, o, o, i, o, o, o, o, o, l],
            ECR => {
                // Qiskit's ECRGate: (1/√2) [[0,1,0,i],[1,0,-i,0],[0,i,0,1],[-i,0,1,0]].
                let a = c(r, 0.0);
                let b = c(0.0, r);
                vec![o, a, o, b, a, o, -b, o, o, b, o, a, -b, o, a, o]
            }
            RXX(t) => {
                let (ct, st) = ((t / 2.0).cos(), (t / 2.0).sin());
                let (cc, s) = (c(ct, 0.0), c(0.0, -st));
                vec![cc, o, o, s, o, cc, s, o, o, s, cc, o, s, o, o, cc]
            }
            RYY(t) => {
                let (ct, st) = ((t / 2.0).cos(), (t / 2.0).sin());
                let (cc, s) = (c(ct, 0.0), c(0.0, st));
                vec![cc, o, o, s, o, cc, -s, o, o, -s, cc, o, s, o, o, cc]
            }
            RZZ(t) => {
                let (m, p) = (phase(-t / 2.0), phase(t / 2.0));
                vec![m, o, o, o, o, p, o, o, o, o, p, o, o, o, o, m]
            }
            CCX => {
                // Controls are bits 0 and 1; flip bit 2 when both are set: swap 3 and 7.
                let mut out = vec![o; 64];
                for k in 0..8usize {
                    let j = if k == 3 {
                        7
                    } else if k == 7 {
                        3
                    } else {
                        k
                    };
                    if let Some(x) = out.get_mut(j * 8 + k) {
                        *x = l;
                    }
                }
                out
            }
            CSwap => {
                // Control is bit 0; swap bits 1 and 2 when it is set: swap 3 (011) and 5 (101).
                let mut out = vec![o; 64];
                for k in 0..8usize {
                    let j = if k == 3 {
                        5
                    } else if k == 5 {
                        3
                    } else {
                        k
                    };
                    if let Some(x) = out.get_mut(j * 8 + k) {
                        *x = l;
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const ALL: &[Gate] = &[
        Gate::I,
        Gate::X,
        Gate::Y,
        Gate::Z,
        Gate::H,
        Gate::S,
        Gate::Sdg,
        Gate::T,
        Gate::Tdg,
        Gate::SX,
        Gate::SXdg,
        Gate::RX(0.3),
        Gate::RY(1.1),
        Gate::RZ(-0.7),
        Gate::P(0.4),
        Gate::U(0.3, 1.2, -2.0),
        Gate::CX,
        Gate::CY,
        Gate::CZ,
        Gate::CH,
        Gate::CP(0.9),
        Gate::CRX(0.2),
        Gate::CRY(2.2),
        Gate::CRZ(1.3),
        Gate::CU(0.5, 0.1, 0.7, 0.3),
        Gate::Swap,
        Gate::ISwap,
        Gate::ECR,
        Gate::RXX(0.6),
        Gate::RYY(0.8),
        Gate::RZZ(1.4),
        Gate::CCX,
        Gate::CSwap,
    ];

    #[test]
    fn every_matrix_is_unitary_and_sized() {
        for g in ALL {
            let m = g.matrix();
            let d = 1usize << g.num_qubits();
            assert_eq!(m.len(), d * d, "{}", g.name());
            for a in 0..d {
                for b in 0..d {
                    let mut s = C64::new(0.0, 0.0);
                    for k in 0..d {
                        s += m[k * d + a].conj() * m[k * d + b];
                    }
                    let want = if a == b { 1.0 } else { 0.0 };
                    assert!(
                        (s - C64::new(want, 0.0)).norm() < 1e-12,
                        "{} not unitary",
                        g.name()
                    );
                }
            }
        }
    }

    #[test]
    fn compact_keeps_only_the_qubits_used() {
        let c = Circuit {
            num_qubits: 103,
            num_clbits: 2,
            cregs: vec![],
            instructions: vec![
                Instruction::Gate {
                    gate: Gate::CX,
                    qubits: vec![102, 7],
                },
                Instruction::Measure {
                    qubit: 102,
                    clbit: 0,
                },
                Instruction::Conditional {
                    condition: Condition {
                        clbits: vec![0],
                        value: 1,
                    },
                    instruction: Box::new(Instruction::Reset { qubit: 7 }),
                },
            ],
        };
        let (small, layout) = c.compact();
        assert_eq!(layout, vec![7, 102]);
        assert_eq!(small.num_qubits, 2);
        assert_eq!(small.instructions[0].qubits(), vec![1, 0]);
        assert_eq!(small.instructions[2].qubits(), vec![0]);
    }

    #[test]
    fn cx_follows_qiskits_bit_order() {
        let m = Gate::CX.matrix();
        // |control=1, target=0⟩ is index 1 and becomes index 3.
        assert_eq!(m[3 * 4 + 1], C64::new(1.0, 0.0));
        assert_eq!(m[4 + 3], C64::new(1.0, 0.0));
        assert_eq!(m[2 * 4 + 2], C64::new(1.0, 0.0));
    }
}
