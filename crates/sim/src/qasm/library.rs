//! The built-in gate libraries: OpenQASM 2's `U`/`CX` and `qelib1.inc`, OpenQASM 3's `U` and
//! `stdgates.inc`, and how their gates map to the IR's primitives.

use std::f64::consts::FRAC_PI_2;

use crate::ir::Gate;

/// `qelib1.inc`, built in: never read from disk.
pub(super) const QELIB1: &str = include_str!("qelib1.inc");

/// A library gate that runs as one IR [`Gate`].
#[allow(
    clippy::upper_case_acronyms,
    reason = "the gates' usual names, as in crate::ir::Gate"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prim {
    Id,
    /// `u0(γ)`: an identity that idles for γ single-qubit gate lengths.
    U0,
    X,
    Y,
    Z,
    H,
    S,
    Sdg,
    T,
    Tdg,
    SX,
    SXdg,
    RX,
    RY,
    RZ,
    P,
    /// `U(θ, φ, λ)`, `u`, `u3`.
    U,
    /// `u2(φ, λ)` = `U(π/2, φ, λ)`.
    U2,
    CX,
    CY,
    CZ,
    CH,
    CP,
    CRX,
    CRY,
    CRZ,
    /// `cu3(θ, φ, λ)` = `cu(θ, φ, λ, 0)`.
    CU3,
    CU,
    Swap,
    CCX,
    CSwap,
    RXX,
    RZZ,
}

impl Prim {
    /// How many angle parameters it takes.
    pub(super) fn params(self) -> usize {
        use Prim::*;
        match self {
            U | CU3 => 3,
            U2 => 2,
            U0 | RX | RY | RZ | P | CP | CRX | CRY | CRZ | RXX | RZZ => 1,
            CU => 4,
            Id | X | Y | Z | H | S | Sdg | T | Tdg | SX | SXdg | CX | CY | CZ | CH | Swap | CCX
            | CSwap => 0,
        }
    }

    /// How many qubits it acts on.
    pub(super) fn qubits(self) -> usize {
        self.gate(&[0.0; 4]).num_qubits()
    }

    /// The IR gate for these parameters (missing ones read as 0; the parser checks the count).
    pub(super) fn gate(self, p: &[f64]) -> Gate {
        let a = |i: usize| p.get(i).copied().unwrap_or(0.0);
        match self {
            Prim::Id | Prim::U0 => Gate::I,
            Prim::X => Gate::X,
            Prim::Y => Gate::Y,
            Prim::Z => Gate::Z,
            Prim::H => Gate::H,
            Prim::S => Gate::S,
            Prim::Sdg => Gate::Sdg,
            Prim::T => Gate::T,
            Prim::Tdg => Gate::Tdg,
            Prim::SX => Gate::SX,
            Prim::SXdg => Gate::SXdg,
            Prim::RX => Gate::RX(a(0)),
            Prim::RY => Gate::RY(a(0)),
            Prim::RZ => Gate::RZ(a(0)),
            Prim::P => Gate::P(a(0)),
            Prim::U => Gate::U(a(0), a(1), a(2)),
            Prim::U2 => Gate::U(FRAC_PI_2, a(0), a(1)),
            Prim::CX => Gate::CX,
            Prim::CY => Gate::CY,
            Prim::CZ => Gate::CZ,
            Prim::CH => Gate::CH,
            Prim::CP => Gate::CP(a(0)),
            Prim::CRX => Gate::CRX(a(0)),
            Prim::CRY => Gate::CRY(a(0)),
            Prim::CRZ => Gate::CRZ(a(0)),
            Prim::CU3 => Gate::CU(a(0), a(1), a(2), 0.0),
            Prim::CU => Gate::CU(a(0), a(1), a(2), a(3)),
            Prim::Swap => Gate::Swap,
            Prim::CCX => Gate::CCX,
            Prim::CSwap => Gate::CSwap,
            Prim::RXX => Gate::RXX(a(0)),
            Prim::RZZ => Gate::RZZ(a(0)),
        }
    }
}

/// The `qelib1.inc` gates that run as a primitive; the file's other gates (`csx`, `rccx`,
/// `rc3x`, `c3x`, `c3sqrtx`, `c4x`) are expanded by their definitions.
pub(super) fn qelib1_primitive(name: &str) -> Option<Prim> {
    use Prim::*;
    Some(match name {
        "u3" | "u" => U,
        "u2" => U2,
        "u1" | "p" => P,
        "cx" => CX,
        "id" => Id,
        "u0" => U0,
        "x" => X,
        "y" => Y,
        "z" => Z,
        "h" => H,
        "s" => S,
        "sdg" => Sdg,
        "t" => T,
        "tdg" => Tdg,
        "rx" => RX,
        "ry" => RY,
        "rz" => RZ,
        "sx" => SX,
        "sxdg" => SXdg,
        "cz" => CZ,
        "cy" => CY,
        "swap" => Swap,
        "ch" => CH,
        "ccx" => CCX,
        "cswap" => CSwap,
        "crx" => CRX,
        "cry" => CRY,
        "crz" => CRZ,
        "cu1" | "cp" => CP,
        "cu3" => CU3,
        "cu" => CU,
        "rxx" => RXX,
        "rzz" => RZZ,
        _ => return None,
    })
}

/// `stdgates.inc`, OpenQASM 3's standard library, in its file's order: every gate is a
/// primitive.
pub(super) const STDGATES: &[(&str, Prim)] = &[
    ("p", Prim::P),
    ("x", Prim::X),
    ("y", Prim::Y),
    ("z", Prim::Z),
    ("h", Prim::H),
    ("s", Prim::S),
    ("sdg", Prim::Sdg),
    ("t", Prim::T),
    ("tdg", Prim::Tdg),
    ("sx", Prim::SX),
    ("rx", Prim::RX),
    ("ry", Prim::RY),
    ("rz", Prim::RZ),
    ("cx", Prim::CX),
    ("cy", Prim::CY),
    ("cz", Prim::CZ),
    ("cp", Prim::CP),
    ("crx", Prim::CRX),
    ("cry", Prim::CRY),
    ("crz", Prim::CRZ),
    ("ch", Prim::CH),
    ("swap", Prim::Swap),
    ("ccx", Prim::CCX),
    ("cswap", Prim::CSwap),
    ("cu", Prim::CU),
    ("CX", Prim::CX),
    ("phase", Prim::P),
    ("cphase", Prim::CP),
    ("id", Prim::Id),
    ("u1", Prim::P),
    ("u2", Prim::U2),
    ("u3", Prim::U),
];

/// The library of this version (`v3`) that defines `name`, for "did you forget the include"
/// hints.
pub(super) fn library_gate(name: &str, v3: bool) -> Option<&'static str> {
    let in_qelib1 = qelib1_primitive(name).is_some()
        || matches!(name, "csx" | "rccx" | "rc3x" | "c3x" | "c3sqrtx" | "c4x");
    if v3 && STDGATES.iter().any(|(n, _)| *n == name) {
        Some("stdgates.inc")
    } else if !v3 && in_qelib1 {
        Some("qelib1.inc")
    } else {
        None
    }
}
