//! Qiskit's gate classes, as QPY names them, and the simulator gate each one is.

use std::f64::consts::{FRAC_PI_2, FRAC_PI_4};

use crate::ir::Gate;

/// A Qiskit standard gate the simulator runs: how many angles it takes, how many of its qubits
/// are controls, and the IR gate for given angles.
#[derive(Debug, Clone, Copy)]
pub(super) struct Standard {
    /// Angle parameters.
    pub(super) params: usize,
    /// Control qubits (the first ones), as QPY records them in `num_ctrl_qubits`.
    pub(super) controls: u32,
    build: fn(&[f64]) -> Gate,
}

impl Standard {
    /// The gate for `params` (exactly [`Standard::params`] of them; missing ones read as 0).
    pub(super) fn gate(&self, params: &[f64]) -> Gate {
        (self.build)(params)
    }
}

fn p(params: &[f64], i: usize) -> f64 {
    params.get(i).copied().unwrap_or(0.0)
}

const fn fixed(gate: fn(&[f64]) -> Gate, controls: u32) -> Standard {
    Standard {
        params: 0,
        controls,
        build: gate,
    }
}

const fn angles(params: usize, controls: u32, build: fn(&[f64]) -> Gate) -> Standard {
    Standard {
        params,
        controls,
        build,
    }
}

/// The standard gate behind a QPY class name, if the simulator has it. Each is exact (equal as
/// a matrix, global phase included): `U1Gate` is `p`, `U2Gate(φ, λ)` is `U(π/2, φ, λ)`,
/// `RGate(θ, φ)` is `U(θ, φ − π/2, π/2 − φ)`, `CU1Gate` is `cp`, `CU3Gate` is `cu` with γ = 0,
/// `CSGate` and `CSdgGate` are `cp(±π/2)`, `CSXGate` is `cu(π/2, −π/2, π/2, π/4)`.
pub(super) fn standard(class: &str) -> Option<Standard> {
    Some(match class {
        "IGate" => fixed(|_| Gate::I, 0),
        "XGate" => fixed(|_| Gate::X, 0),
        "YGate" => fixed(|_| Gate::Y, 0),
        "ZGate" => fixed(|_| Gate::Z, 0),
        "HGate" => fixed(|_| Gate::H, 0),
        "SGate" => fixed(|_| Gate::S, 0),
        "SdgGate" => fixed(|_| Gate::Sdg, 0),
        "TGate" => fixed(|_| Gate::T, 0),
        "TdgGate" => fixed(|_| Gate::Tdg, 0),
        "SXGate" => fixed(|_| Gate::SX, 0),
        "SXdgGate" => fixed(|_| Gate::SXdg, 0),
        "RXGate" => angles(1, 0, |a| Gate::RX(p(a, 0))),
        "RYGate" => angles(1, 0, |a| Gate::RY(p(a, 0))),
        "RZGate" => angles(1, 0, |a| Gate::RZ(p(a, 0))),
        "PhaseGate" | "U1Gate" => angles(1, 0, |a| Gate::P(p(a, 0))),
        "UGate" | "U3Gate" => angles(3, 0, |a| Gate::U(p(a, 0), p(a, 1), p(a, 2))),
        "U2Gate" => angles(2, 0, |a| Gate::U(FRAC_PI_2, p(a, 0), p(a, 1))),
        "RGate" => angles(2, 0, |a| {
            Gate::U(p(a, 0), p(a, 1) - FRAC_PI_2, FRAC_PI_2 - p(a, 1))
        }),
        "CXGate" => fixed(|_| Gate::CX, 1),
        "CYGate" => fixed(|_| Gate::CY, 1),
        "CZGate" => fixed(|_| Gate::CZ, 1),
        "CHGate" => fixed(|_| Gate::CH, 1),
        "CPhaseGate" | "CU1Gate" => angles(1, 1, |a| Gate::CP(p(a, 0))),
        "CSGate" => fixed(|_| Gate::CP(FRAC_PI_2), 1),
        "CSdgGate" => fixed(|_| Gate::CP(-FRAC_PI_2), 1),
        "CSXGate" => fixed(|_| Gate::CU(FRAC_PI_2, -FRAC_PI_2, FRAC_PI_2, FRAC_PI_4), 1),
        "CRXGate" => angles(1, 1, |a| Gate::CRX(p(a, 0))),
        "CRYGate" => angles(1, 1, |a| Gate::CRY(p(a, 0))),
        "CRZGate" => angles(1, 1, |a| Gate::CRZ(p(a, 0))),
        "CUGate" => angles(4, 1, |a| Gate::CU(p(a, 0), p(a, 1), p(a, 2), p(a, 3))),
        "CU3Gate" => angles(3, 1, |a| Gate::CU(p(a, 0), p(a, 1), p(a, 2), 0.0)),
        "SwapGate" => fixed(|_| Gate::Swap, 0),
        "iSwapGate" => fixed(|_| Gate::ISwap, 0),
        "ECRGate" => fixed(|_| Gate::ECR, 0),
        "RXXGate" => angles(1, 0, |a| Gate::RXX(p(a, 0))),
        "RYYGate" => angles(1, 0, |a| Gate::RYY(p(a, 0))),
        "RZZGate" => angles(1, 0, |a| Gate::RZZ(p(a, 0))),
        "CCXGate" => fixed(|_| Gate::CCX, 2),
        "CSwapGate" => fixed(|_| Gate::CSwap, 1),
        _ => return None,
    })
}

/// Qiskit's control-flow operations (class names, and the names QPY's native reader also
/// accepts).
pub(super) fn is_control_flow(class: &str) -> bool {
    matches!(
        class,
        "IfElseOp"
            | "WhileLoopOp"
            | "ForLoopOp"
            | "SwitchCaseOp"
            | "BreakLoopOp"
            | "ContinueLoopOp"
            | "BoxOp"
            | "if_else"
            | "while_loop"
            | "for_loop"
            | "switch_case"
            | "break_loop"
            | "continue_loop"
            | "box"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::ir::C64;

    fn close(a: &[C64], b: &[C64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).norm() < 1e-12)
    }

    /// `m` (2×2) controlled on the first qubit, in the IR's bit order.
    fn controlled(m: &[C64]) -> Vec<C64> {
        let o = C64::new(0.0, 0.0);
        let l = C64::new(1.0, 0.0);
        vec![
            l, o, o, o, //
            o, m[0], o, m[1], //
            o, o, l, o, //
            o, m[2], o, m[3],
        ]
    }

    #[test]
    fn aliases_are_exact_matrices() {
        let (t, ph, lam): (f64, f64, f64) = (0.3, 1.1, -0.4);
        let u = |a: &[f64]| standard("UGate").unwrap().gate(a).matrix();
        assert!(close(
            &standard("U2Gate").unwrap().gate(&[ph, lam]).matrix(),
            &u(&[FRAC_PI_2, ph, lam])
        ));
        // RGate(θ, φ) = [[cos, -i e^{-iφ} sin], [-i e^{iφ} sin, cos]] (Qiskit's RGate docs).
        let (c, s) = ((t / 2.0).cos(), (t / 2.0).sin());
        let i = C64::new(0.0, 1.0);
        let r = [
            C64::new(c, 0.0),
            -i * C64::from_polar(1.0, -ph) * s,
            -i * C64::from_polar(1.0, ph) * s,
            C64::new(c, 0.0),
        ];
        assert!(close(
            &standard("RGate").unwrap().gate(&[t, ph]).matrix(),
            &r
        ));
        let sx = Gate::SX.matrix();
        assert!(close(
            &standard("CSXGate").unwrap().gate(&[]).matrix(),
            &controlled(&sx)
        ));
        let s_gate = Gate::S.matrix();
        assert!(close(
            &standard("CSGate").unwrap().gate(&[]).matrix(),
            &controlled(&s_gate)
        ));
        let sdg = Gate::Sdg.matrix();
        assert!(close(
            &standard("CSdgGate").unwrap().gate(&[]).matrix(),
            &controlled(&sdg)
        ));
        let u3 = Gate::U(t, ph, lam).matrix();
        assert!(close(
            &standard("CU3Gate").unwrap().gate(&[t, ph, lam]).matrix(),
            &controlled(&u3)
        ));
    }

    #[test]
    fn arity_matches_the_gate() {
        for name in [
            "CXGate",
            "CCXGate",
            "CSwapGate",
            "RZGate",
            "CUGate",
            "ECRGate",
        ] {
            let s = standard(name).unwrap();
            let g = s.gate(&[0.0; 4]);
            assert!(s.controls as usize <= g.num_qubits(), "{name}");
        }
        assert!(standard("RZXGate").is_none());
        assert!(is_control_flow("IfElseOp") && !is_control_flow("Measure"));
    }
}
