//! The OpenQASM front end (`qwarden_sim::qasm`): every construct of the supported subset parsed
//! into the exact expected IR, whole programs (Bell, GHZ, QFT, teleportation, IBM's REST form),
//! the expanded library gates' unitaries, every error with its position, the limits on hostile
//! input, the example circuits, and the fuzz corpus.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "qasm/dense.rs"]
mod dense;
#[path = "qasm/errors.rs"]
mod errors;
#[path = "qasm/examples.rs"]
mod examples;
#[path = "qasm/fuzz.rs"]
mod fuzz;
#[path = "qasm/limits.rs"]
mod limits;
#[path = "qasm/unitary.rs"]
mod unitary;

use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};

use qwarden_sim::ir::{Circuit, Condition, Gate, Instruction, Register};
use qwarden_sim::qasm::parse;

/// Parses `src`, failing the test with the error if it does not parse.
pub fn ok(src: &str) -> Circuit {
    parse(src).unwrap_or_else(|e| panic!("{e}\n--- in ---\n{src}"))
}

pub fn g(gate: Gate, qubits: &[usize]) -> Instruction {
    Instruction::Gate {
        gate,
        qubits: qubits.to_vec(),
    }
}

pub fn m(qubit: usize, clbit: usize) -> Instruction {
    Instruction::Measure { qubit, clbit }
}

pub fn when(clbits: &[usize], value: u64, inst: Instruction) -> Instruction {
    Instruction::Conditional {
        condition: Condition {
            clbits: clbits.to_vec(),
            value,
        },
        instruction: Box::new(inst),
    }
}

pub fn barrier(qubits: &[usize]) -> Instruction {
    Instruction::Barrier {
        qubits: qubits.to_vec(),
    }
}

pub fn reg(name: &str, start: usize, size: usize) -> Register {
    Register {
        name: name.to_owned(),
        start,
        size,
    }
}

/// The angle of each `rz` in the circuit, in order.
fn rz_angles(c: &Circuit) -> Vec<f64> {
    c.instructions
        .iter()
        .filter_map(|i| match i {
            Instruction::Gate {
                gate: Gate::RZ(t), ..
            } => Some(*t),
            _ => None,
        })
        .collect()
}

const V2: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n";
const V3: &str = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\n";

#[test]
fn bell_in_openqasm_2() {
    let c = ok(&format!(
        "{V2}qreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n"
    ));
    assert_eq!(
        c,
        Circuit {
            num_qubits: 2,
            num_clbits: 2,
            cregs: vec![reg("c", 0, 2)],
            instructions: vec![g(Gate::H, &[0]), g(Gate::CX, &[0, 1]), m(0, 0), m(1, 1)],
        }
    );
}

#[test]
fn bell_in_openqasm_3() {
    let want = vec![g(Gate::H, &[0]), g(Gate::CX, &[0, 1]), m(0, 0), m(1, 1)];
    for src in [
        format!("{V3}qubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n"),
        format!("{V3}qubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc[0] = measure q[0];\nc[1] = measure q[1];\n"),
        format!("{V3}qubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nmeasure q -> c;\n"),
        format!("{V3}qubit[2] q;\nh q[0];\ncx q[0], q[1];\nbit[2] c = measure q;\n"),
        "OPENQASM 3;\ninclude \"stdgates.inc\";\nqubit[2] q;\nbit[2] c;\nh q[0];\nCX q[0], q[1];\nc = measure q;\n".to_owned(),
    ] {
        let c = ok(&src);
        assert_eq!(c.instructions, want, "{src}");
        assert_eq!((c.num_qubits, c.num_clbits), (2, 2));
        assert_eq!(c.cregs, vec![reg("c", 0, 2)]);
    }
}

/// The form IBM's REST API examples use: OpenQASM 3 header with OpenQASM 2 declarations, on one
/// line.
#[test]
fn ibm_rest_example_form() {
    let want = vec![g(Gate::H, &[0]), g(Gate::CX, &[0, 1]), m(0, 0), m(1, 1)];
    for src in [
        "OPENQASM 3;include \"stdgates.inc\";qreg q[2];creg c[2];h q[0];cx q[0],q[1];measure q -> c;",
        "OPENQASM 3;include \"stdgates.inc\";qreg q[2];creg c[2];h q[0];cx q[0],q[1];c[0] = measure q[0];c[1] = measure q[1];",
        "OPENQASM 3.0; include \"stdgates.inc\"; qreg q[2]; creg c[2]; h q[0]; cx q[0], q[1]; c = measure q;",
    ] {
        let c = ok(src);
        assert_eq!(c.instructions, want, "{src}");
        assert_eq!(c.cregs, vec![reg("c", 0, 2)]);
    }
}

#[test]
fn ghz_in_both_versions() {
    let want = vec![
        g(Gate::H, &[0]),
        g(Gate::CX, &[0, 1]),
        g(Gate::CX, &[1, 2]),
        barrier(&[0, 1, 2]),
        m(0, 0),
        m(1, 1),
        m(2, 2),
    ];
    let v2 = ok(&format!(
        "{V2}qreg q[3];\ncreg c[3];\nh q[0];\ncx q[0],q[1];\ncx q[1],q[2];\nbarrier q;\nmeasure q -> c;\n"
    ));
    let v3 = ok(&format!(
        "{V3}qubit[3] q;\nbit[3] c;\nh q[0];\ncx q[0], q[1];\ncx q[1], q[2];\nbarrier q;\nc = measure q;\n"
    ));
    for c in [&v2, &v3] {
        assert_eq!(c.instructions, want);
        let s = dense::state(c);
        let r = std::f64::consts::FRAC_1_SQRT_2;
        assert!((s[0].re - r).abs() < 1e-12 && (s[7].re - r).abs() < 1e-12);
        assert!(s[1..7].iter().all(|a| a.norm() < 1e-12));
    }
}

/// Qiskit's QFT (with swaps) on 3 qubits, in both versions: the exact instruction list, and its
/// unitary is the discrete Fourier transform `F[k][x] = e^{2πi·xk/8}/√8`.
#[test]
fn qft_with_swaps() {
    let body = "h q[2];\ncp(pi/2) q[2],q[1];\ncp(pi/4) q[2],q[0];\nh q[1];\ncp(pi/2) q[1],q[0];\nh q[0];\nswap q[0],q[2];\n";
    let v2 = ok(&format!("{V2}qreg q[3];\n{body}"));
    let v3 = ok(&format!("{V3}qubit[3] q;\n{body}"));
    let want = vec![
        g(Gate::H, &[2]),
        g(Gate::CP(FRAC_PI_2), &[2, 1]),
        g(Gate::CP(FRAC_PI_4), &[2, 0]),
        g(Gate::H, &[1]),
        g(Gate::CP(FRAC_PI_2), &[1, 0]),
        g(Gate::H, &[0]),
        g(Gate::Swap, &[0, 2]),
    ];
    assert_eq!(v2.instructions, want);
    assert_eq!(v3.instructions, want);
    let n = 8usize;
    let dft: Vec<_> = (0..n * n)
        .map(|i| {
            let (k, x) = (i / n, i % n);
            qwarden_sim::ir::C64::from_polar(
                1.0 / (n as f64).sqrt(),
                2.0 * PI * (x * k) as f64 / n as f64,
            )
        })
        .collect();
    assert!(dense::equal_up_to_phase(&dense::unitary(&v2), &dft, 1e-12));
}

/// Teleportation with mid-circuit measurement and classically controlled corrections: undoing
/// the prepared state on the receiving qubit gives 0 on every branch.
#[test]
fn teleportation_in_both_versions() {
    let v2 = ok(&format!(
        "{V2}qreg q[3];\ncreg c0[1];\ncreg c1[1];\ncreg c2[1];\n\
         u3(0.3,0.2,0.1) q[0];\nh q[1];\ncx q[1],q[2];\nbarrier q;\ncx q[0],q[1];\nh q[0];\n\
         measure q[0] -> c0[0];\nmeasure q[1] -> c1[0];\nif(c1==1) x q[2];\nif(c0==1) z q[2];\n\
         u3(-0.3,-0.1,-0.2) q[2];\nmeasure q[2] -> c2[0];\n"
    ));
    assert_eq!(
        v2.cregs,
        vec![reg("c0", 0, 1), reg("c1", 1, 1), reg("c2", 2, 1)]
    );
    assert_eq!(
        v2.instructions,
        vec![
            g(Gate::U(0.3, 0.2, 0.1), &[0]),
            g(Gate::H, &[1]),
            g(Gate::CX, &[1, 2]),
            barrier(&[0, 1, 2]),
            g(Gate::CX, &[0, 1]),
            g(Gate::H, &[0]),
            m(0, 0),
            m(1, 1),
            when(&[1], 1, g(Gate::X, &[2])),
            when(&[0], 1, g(Gate::Z, &[2])),
            g(Gate::U(-0.3, -0.1, -0.2), &[2]),
            m(2, 2),
        ]
    );
    let v3 = ok(&format!(
        "{V3}qubit[3] q;\nbit c0;\nbit c1;\nbit[1] c2;\n\
         u3(0.3, 0.2, 0.1) q[0];\nh q[1];\ncx q[1], q[2];\nbarrier q;\ncx q[0], q[1];\nh q[0];\n\
         c0 = measure q[0];\nc1 = measure q[1];\nif (c1) x q[2];\nif (c0 == 1) {{ z q[2]; }}\n\
         u3(-0.3, -0.1, -0.2) q[2];\nc2[0] = measure q[2];\n"
    ));
    assert_eq!(v3, v2);
    let branches = dense::branches(&v2);
    assert_eq!(branches.len(), 4, "one branch per (c0, c1)");
    let total: f64 = branches.iter().map(|b| b.prob).sum();
    assert!((total - 1.0).abs() < 1e-12);
    for b in &branches {
        assert!(
            !b.clbits[2],
            "teleportation failed on branch {:?}",
            b.clbits
        );
    }
}

/// Every `qelib1.inc` gate with an IR primitive becomes exactly that primitive.
#[test]
fn qelib1_gates_map_to_primitives() {
    let c = ok(&format!(
        "{V2}qreg q[3];\n\
         u3(0.1,0.2,0.3) q[0]; u2(0.4,0.5) q[1]; u1(0.6) q[2]; u0(7) q[0]; u(0.7,0.8,0.9) q[0];\n\
         p(1.0) q[1]; id q[2]; U(1,2,3) q[0]; CX q[1],q[0];\n\
         x q[0]; y q[0]; z q[0]; h q[0]; s q[0]; sdg q[0]; t q[0]; tdg q[0]; sx q[0]; sxdg q[0];\n\
         rx(0.1) q[0]; ry(0.2) q[0]; rz(0.3) q[0];\n\
         cx q[0],q[1]; cy q[1],q[2]; cz q[2],q[0]; ch q[0],q[2]; swap q[1],q[0];\n\
         ccx q[0],q[1],q[2]; cswap q[2],q[0],q[1];\n\
         crx(0.1) q[0],q[1]; cry(0.2) q[0],q[1]; crz(0.3) q[0],q[1];\n\
         cu1(0.4) q[1],q[2]; cp(0.5) q[1],q[2];\n\
         cu3(0.1,0.2,0.3) q[2],q[1]; cu(0.1,0.2,0.3,0.4) q[0],q[2];\n\
         rxx(0.6) q[0],q[1]; rzz(0.7) q[1],q[2];\n"
    ));
    use Gate::*;
    assert_eq!(
        c.instructions,
        vec![
            g(U(0.1, 0.2, 0.3), &[0]),
            g(U(FRAC_PI_2, 0.4, 0.5), &[1]),
            g(P(0.6), &[2]),
            g(I, &[0]),
            g(U(0.7, 0.8, 0.9), &[0]),
            g(P(1.0), &[1]),
            g(I, &[2]),
            g(U(1.0, 2.0, 3.0), &[0]),
            g(CX, &[1, 0]),
            g(X, &[0]),
            g(Y, &[0]),
            g(Z, &[0]),
            g(H, &[0]),
            g(S, &[0]),
            g(Sdg, &[0]),
            g(T, &[0]),
            g(Tdg, &[0]),
            g(SX, &[0]),
            g(SXdg, &[0]),
            g(RX(0.1), &[0]),
            g(RY(0.2), &[0]),
            g(RZ(0.3), &[0]),
            g(CX, &[0, 1]),
            g(CY, &[1, 2]),
            g(CZ, &[2, 0]),
            g(CH, &[0, 2]),
            g(Swap, &[1, 0]),
            g(CCX, &[0, 1, 2]),
            g(CSwap, &[2, 0, 1]),
            g(CRX(0.1), &[0, 1]),
            g(CRY(0.2), &[0, 1]),
            g(CRZ(0.3), &[0, 1]),
            g(CP(0.4), &[1, 2]),
            g(CP(0.5), &[1, 2]),
            g(CU(0.1, 0.2, 0.3, 0.0), &[2, 1]),
            g(CU(0.1, 0.2, 0.3, 0.4), &[0, 2]),
            g(RXX(0.6), &[0, 1]),
            g(RZZ(0.7), &[1, 2]),
        ]
    );
}

/// Every `stdgates.inc` gate becomes exactly its primitive.
#[test]
fn stdgates_map_to_primitives() {
    let c = ok(&format!(
        "{V3}qubit[3] q;\n\
         p(0.1) q[0]; x q[0]; y q[0]; z q[0]; h q[0]; s q[0]; sdg q[0]; t q[0]; tdg q[0]; sx q[0];\n\
         rx(0.1) q[0]; ry(0.2) q[0]; rz(0.3) q[0];\n\
         cx q[0], q[1]; cy q[0], q[1]; cz q[0], q[1]; cp(0.4) q[0], q[1];\n\
         crx(0.1) q[0], q[1]; cry(0.2) q[0], q[1]; crz(0.3) q[0], q[1]; ch q[1], q[0];\n\
         swap q[0], q[2]; ccx q[0], q[1], q[2]; cswap q[0], q[1], q[2];\n\
         cu(0.1, 0.2, 0.3, 0.4) q[0], q[1]; CX q[1], q[2]; phase(0.5) q[0]; cphase(0.6) q[0], q[1];\n\
         id q[0]; u1(0.7) q[0]; u2(0.1, 0.2) q[0]; u3(0.1, 0.2, 0.3) q[0]; U(0.4, 0.5, 0.6) q[1];\n"
    ));
    use Gate::*;
    assert_eq!(
        c.instructions,
        vec![
            g(P(0.1), &[0]),
            g(X, &[0]),
            g(Y, &[0]),
            g(Z, &[0]),
            g(H, &[0]),
            g(S, &[0]),
            g(Sdg, &[0]),
            g(T, &[0]),
            g(Tdg, &[0]),
            g(SX, &[0]),
            g(RX(0.1), &[0]),
            g(RY(0.2), &[0]),
            g(RZ(0.3), &[0]),
            g(CX, &[0, 1]),
            g(CY, &[0, 1]),
            g(CZ, &[0, 1]),
            g(CP(0.4), &[0, 1]),
            g(CRX(0.1), &[0, 1]),
            g(CRY(0.2), &[0, 1]),
            g(CRZ(0.3), &[0, 1]),
            g(CH, &[1, 0]),
            g(Swap, &[0, 2]),
            g(CCX, &[0, 1, 2]),
            g(CSwap, &[0, 1, 2]),
            g(CU(0.1, 0.2, 0.3, 0.4), &[0, 1]),
            g(CX, &[1, 2]),
            g(P(0.5), &[0]),
            g(CP(0.6), &[0, 1]),
            g(I, &[0]),
            g(P(0.7), &[0]),
            g(U(FRAC_PI_2, 0.1, 0.2), &[0]),
            g(U(0.1, 0.2, 0.3), &[0]),
            g(U(0.4, 0.5, 0.6), &[1]),
        ]
    );
}

/// The built-in `U` and `CX` need no include in 2.0; `U` and `gphase` none in 3.
#[test]
fn builtins_without_include() {
    let c = ok("OPENQASM 2.0;\nqreg q[2];\nU(pi,0,pi) q[0];\nCX q[0],q[1];\n");
    assert_eq!(
        c.instructions,
        vec![g(Gate::U(PI, 0.0, PI), &[0]), g(Gate::CX, &[0, 1])]
    );
    let c = ok("OPENQASM 3.0;\nqubit q;\nU(pi, 0, pi) q;\ngphase(pi/2);\n");
    assert_eq!(c.instructions, vec![g(Gate::U(PI, 0.0, PI), &[0])]);
}

/// User gates are expanded inline with their parameters substituted, through several levels.
#[test]
fn gate_definitions_expand_with_parameters() {
    let src = "gate foo(a, b) x, y {\n  rz(a + b) x;\n  cx x, y;\n  U(a * 2, -b, pi) y;\n}\n\
               gate bar(t) p, q { foo(t, t / 2) q, p; barrier p, q; h p; }\n\
               foo(0.5, 0.25) q[1], q[0];\nbar(1) q[0], q[1];\n";
    let want = vec![
        g(Gate::RZ(0.75), &[1]),
        g(Gate::CX, &[1, 0]),
        g(Gate::U(1.0, -0.25, PI), &[0]),
        g(Gate::RZ(1.5), &[1]),
        g(Gate::CX, &[1, 0]),
        g(Gate::U(2.0, -0.5, PI), &[0]),
        barrier(&[0, 1]),
        g(Gate::H, &[0]),
    ];
    let v2 = ok(&format!("{V2}qreg q[2];\n{src}"));
    let v3 = ok(&format!("{V3}qubit[2] q;\n{src}"));
    assert_eq!(v2.instructions, want);
    assert_eq!(v3.instructions, want);
    // OpenQASM 3 definitions may hold global phases (dropped) and use Greek parameter names.
    let c = ok(&format!(
        "{V3}qubit q;\ngate r(θ) a {{ gphase(-θ/2); U(θ, 0, 0) a; }}\ngate nothing a {{ gphase(1); }}\nr(π) q;\nnothing q;\n"
    ));
    assert_eq!(c.instructions, vec![g(Gate::U(PI, 0.0, 0.0), &[0])]);
    // A gate with an empty parameter list and one that is declared `opaque` but never used.
    let c = ok(&format!(
        "{V2}qreg q[1];\nopaque magic(a) x;\ngate e() x {{ }}\ne() q[0];\ne q[0];\nx q[0];\n"
    ));
    assert_eq!(c.instructions, vec![g(Gate::X, &[0])]);
}

/// Statements broadcast over whole registers, index by index.
#[test]
fn broadcast_over_registers() {
    let c = ok(&format!(
        "{V2}qreg a[2];\nqreg b[2];\ncreg c[2];\nh a;\ncx a, b;\ncx a[0], b;\nrz(0.5) b;\nreset a;\nbarrier a, b[1], a[0];\nmeasure b -> c;\n"
    ));
    assert_eq!(
        c.instructions,
        vec![
            g(Gate::H, &[0]),
            g(Gate::H, &[1]),
            g(Gate::CX, &[0, 2]),
            g(Gate::CX, &[1, 3]),
            g(Gate::CX, &[0, 2]),
            g(Gate::CX, &[0, 3]),
            g(Gate::RZ(0.5), &[2]),
            g(Gate::RZ(0.5), &[3]),
            Instruction::Reset { qubit: 0 },
            Instruction::Reset { qubit: 1 },
            barrier(&[0, 1, 3]),
            m(2, 0),
            m(3, 1),
        ]
    );
}

/// Qubits and classical bits are numbered in declaration order across registers.
#[test]
fn numbering_follows_declaration_order() {
    let c = ok(&format!(
        "{V2}qreg a[2];\ncreg k[1];\nqreg b[3];\ncreg l[2];\nmeasure b[2] -> l[1];\nmeasure a[1] -> k[0];\n"
    ));
    assert_eq!((c.num_qubits, c.num_clbits), (5, 3));
    assert_eq!(c.cregs, vec![reg("k", 0, 1), reg("l", 1, 2)]);
    assert_eq!(c.instructions, vec![m(4, 2), m(1, 0)]);
    let c = ok(&format!(
        "{V3}bit c;\nqubit q;\nqubit[2] r;\nbit[3] d;\ncreg e[1];\nd[2] = measure r[1];\ne[0] = measure q;\nc = measure r[0];\n"
    ));
    assert_eq!((c.num_qubits, c.num_clbits), (3, 5));
    assert_eq!(
        c.cregs,
        vec![reg("c", 0, 1), reg("d", 1, 3), reg("e", 4, 1)]
    );
    assert_eq!(c.instructions, vec![m(2, 3), m(0, 4), m(1, 0)]);
}

#[test]
fn conditions_in_openqasm_2() {
    let c = ok(&format!(
        "{V2}qreg q[2];\ncreg c[2];\ncreg d[1];\nif (c == 2) x q[0];\nif(c==1) h q;\nif (d == 1) measure q[0] -> c[1];\nif (d==0) reset q[1];\nif (c[1] == 1) z q[1];\n"
    ));
    assert_eq!(
        c.instructions,
        vec![
            when(&[0, 1], 2, g(Gate::X, &[0])),
            when(&[0, 1], 1, g(Gate::H, &[0])),
            when(&[0, 1], 1, g(Gate::H, &[1])),
            when(&[2], 1, m(0, 1)),
            when(&[2], 0, Instruction::Reset { qubit: 1 }),
            when(&[1], 1, g(Gate::Z, &[1])),
        ]
    );
}

#[test]
fn conditions_in_openqasm_3() {
    let c = ok(&format!(
        "{V3}qubit[2] q;\nbit[2] c;\nbit f;\n\
         if (c[0]) x q[1];\n\
         if (!c[1]) x q[0];\n\
         if (c == 3) {{\n  x q[0];\n  h q[1];\n  barrier q;\n  c[0] = measure q[0];\n}}\n\
         if (c[1] == 1) {{ z q[0]; }} else {{ y q[0]; }}\n\
         if (f) rz(0.5) q[0]; else x q[1];\n\
         if (f == false) reset q[0];\n"
    ));
    assert_eq!(
        c.instructions,
        vec![
            when(&[0], 1, g(Gate::X, &[1])),
            when(&[1], 0, g(Gate::X, &[0])),
            when(&[0, 1], 3, g(Gate::X, &[0])),
            when(&[0, 1], 3, g(Gate::H, &[1])),
            barrier(&[0, 1]),
            when(&[0, 1], 3, m(0, 0)),
            when(&[1], 1, g(Gate::Z, &[0])),
            when(&[1], 0, g(Gate::Y, &[0])),
            when(&[2], 1, g(Gate::RZ(0.5), &[0])),
            when(&[2], 0, g(Gate::X, &[1])),
            when(&[2], 0, Instruction::Reset { qubit: 0 }),
        ]
    );
}

/// A circuit on physical qubits has the highest index + 1 qubits; `barrier;` spans them all.
#[test]
fn physical_qubits() {
    let c = ok(&format!(
        "{V3}bit[2] c;\nrz(pi/2) $0;\nsx $0;\ncx $0, $3;\nbarrier;\nc[0] = measure $0;\nc[1] = measure $3;\n"
    ));
    assert_eq!(c.num_qubits, 4);
    assert_eq!(
        c.instructions,
        vec![
            g(Gate::RZ(FRAC_PI_2), &[0]),
            g(Gate::SX, &[0]),
            g(Gate::CX, &[0, 3]),
            barrier(&[0, 1, 2, 3]),
            m(0, 0),
            m(3, 1),
        ]
    );
}

/// Scalar declarations, headers without a minor version or without a header at all (OpenQASM 3),
/// and `barrier;` on declared qubits.
#[test]
fn openqasm_3_declarations_and_headers() {
    for header in ["OPENQASM 3;\n", "OPENQASM 3.0;\n", ""] {
        let c = ok(&format!(
            "{header}include \"stdgates.inc\";\nqubit q;\nqubit[2] r;\nbit b;\nh q;\ncx q, r[1];\nbarrier;\nb = measure q;\n"
        ));
        assert_eq!(c.num_qubits, 3);
        assert_eq!(c.cregs, vec![reg("b", 0, 1)]);
        assert_eq!(
            c.instructions,
            vec![
                g(Gate::H, &[0]),
                g(Gate::CX, &[0, 2]),
                barrier(&[0, 1, 2]),
                m(0, 0)
            ]
        );
    }
}

/// Comments, whitespace and every form of angle expression.
#[test]
fn comments_and_angle_expressions() {
    let v2 = ok(&format!(
        "{V2}/* a block\n   comment */ qreg q[1]; // a line comment\n\
         rz(-pi/2) q[0];\nrz(2^3) q[0];\nrz(-2^2) q[0];\nrz(2^3^2) q[0];\nrz(2^-1) q[0];\n\
         rz(1+2*3) q[0];\nrz((1+2)*3) q[0];\nrz(8/2/2) q[0];\nrz(1-2-3) q[0];\n\
         rz(1e-3) q[0];\nrz(.5) q[0];\nrz(3.) q[0];\nrz(2.5E+2) q[0];\nrz(--1) q[0];\nrz(+1) q[0];\n\
         rz(tau - 2*pi) q[0];\nrz(euler) q[0];\n\
         rz(sin(pi/2) + cos(0)*exp(0) - ln(1) + sqrt(4) + tan(0)) q[0];\n\
         rz(asin(1)) q[0];\nrz(acos(1)) q[0];\nrz(atan(1)) q[0];\n"
    ));
    let want = [
        -FRAC_PI_2,
        8.0,
        -4.0,
        512.0,
        0.5,
        7.0,
        9.0,
        2.0,
        -4.0,
        1e-3,
        0.5,
        3.0,
        250.0,
        1.0,
        1.0,
        0.0,
        std::f64::consts::E,
        4.0,
        FRAC_PI_2,
        0.0,
        FRAC_PI_4,
    ];
    let got = rz_angles(&v2);
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() < 1e-12, "angle {i}: {a} != {b}");
    }
    let v3 = ok(&format!(
        "{V3}qubit q;\nrz(π/2) q;\nrz(τ/4) q;\nrz(ℯ) q;\nrz(2**3) q;\nrz(-2**2) q;\nrz(arcsin(1) + arccos(1) + arctan(0)) q;\n"
    ));
    let want = [
        FRAC_PI_2,
        FRAC_PI_2,
        std::f64::consts::E,
        8.0,
        -4.0,
        FRAC_PI_2,
    ];
    let got = rz_angles(&v3);
    assert_eq!(got.len(), want.len());
    for (a, b) in got.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }
}

/// Parameters of gate definitions take part in every kind of expression.
#[test]
fn parameters_in_expressions() {
    let c = ok(&format!(
        "{V2}qreg q[1];\ngate g(a, b) x {{ rz(-a) x; rz(a^2 + b/2) x; rz(sin(a) * cos(b)) x; rz(-(a - b)) x; }}\ng(0.5, 2) q[0];\n"
    ));
    let want = [-0.5, 0.25 + 1.0, 0.5f64.sin() * 2f64.cos(), 1.5];
    let got = rz_angles(&c);
    for (a, b) in got.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }
}
