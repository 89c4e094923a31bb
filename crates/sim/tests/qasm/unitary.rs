//! The library gates' unitaries: expanded `qelib1.inc` gates equal the gates Qiskit builds for
//! those names, each primitive mapping equals its `qelib1.inc` definition, and `stdgates.inc`
//! equals `qelib1.inc` where they share names (all up to a global phase).

use qwarden_sim::ir::C64;

use super::dense::{self, controlled, equal_up_to_phase, from_entries, sx, u3, unitary, x};
use super::ok;

const QELIB1: &str = include_str!("../../src/qasm/qelib1.inc");

/// The unitary of `call` on a fresh `n`-qubit register `q` (OpenQASM 2.0, qelib1 included).
fn unitary_of(n: usize, call: &str) -> Vec<C64> {
    let c = ok(&format!(
        "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[{n}];\n{call}\n"
    ));
    assert_eq!(c.num_qubits, n);
    unitary(&c)
}

fn assert_unitary(n: usize, call: &str, want: &[C64]) {
    let got = unitary_of(n, call);
    assert!(
        equal_up_to_phase(&got, want, 1e-10),
        "`{call}` has the wrong unitary"
    );
}

fn c(re: f64, im: f64) -> C64 {
    C64::new(re, im)
}

#[test]
fn cu3_is_controlled_u3() {
    let (t, p, l) = (0.7, -1.3, 2.1);
    assert_unitary(
        2,
        &format!("cu3({t},{p},{l}) q[0],q[1];"),
        &controlled(1, u3(t, p, l)),
    );
    // Control on the higher qubit: swap the roles by conjugating with swaps.
    let flipped = unitary_of(
        2,
        &format!("swap q[0],q[1]; cu3({t},{p},{l}) q[1],q[0]; swap q[0],q[1];"),
    );
    assert!(equal_up_to_phase(
        &flipped,
        &controlled(1, u3(t, p, l)),
        1e-10
    ));
}

#[test]
fn cu_carries_its_phase_on_the_control() {
    let (t, p, l, g) = (0.4, 0.9, -0.2, 1.1);
    let m = u3(t, p, l);
    let e = C64::from_polar(1.0, g);
    let want = controlled(1, [[e * m[0][0], e * m[0][1]], [e * m[1][0], e * m[1][1]]]);
    assert_unitary(2, &format!("cu({t},{p},{l},{g}) q[0],q[1];"), &want);
}

#[test]
fn csx_is_controlled_sqrt_x() {
    assert_unitary(2, "csx q[0],q[1];", &controlled(1, sx()));
}

/// Qiskit's RCCXGate matrix: Toffoli up to relative phases.
#[test]
fn rccx_is_qiskits_relative_phase_toffoli() {
    let want = from_entries(
        8,
        &[
            (3, 7, c(0.0, -1.0)),
            (5, 5, c(-1.0, 0.0)),
            (7, 3, c(0.0, 1.0)),
        ],
    );
    assert_unitary(3, "rccx q[0],q[1],q[2];", &want);
}

/// Qiskit's RC3XGate matrix.
#[test]
fn rc3x_is_qiskits_relative_phase_c3x() {
    let want = from_entries(
        16,
        &[
            (3, 3, c(0.0, 1.0)),
            (7, 15, c(1.0, 0.0)),
            (11, 11, c(0.0, -1.0)),
            (15, 7, c(-1.0, 0.0)),
        ],
    );
    assert_unitary(4, "rc3x q[0],q[1],q[2],q[3];", &want);
}

#[test]
fn multi_controlled_gates() {
    assert_unitary(4, "c3x q[0],q[1],q[2],q[3];", &controlled(3, x()));
    assert_unitary(4, "c3sqrtx q[0],q[1],q[2],q[3];", &controlled(3, sx()));
    assert_unitary(5, "c4x q[0],q[1],q[2],q[3],q[4];", &controlled(4, x()));
    assert_unitary(3, "ccx q[0],q[1],q[2];", &controlled(2, x()));
}

/// The gate definitions of the built-in `qelib1.inc`, as `(name, "(params) args", body)`.
fn qelib1_definitions() -> Vec<(String, String, String)> {
    let text: String = QELIB1
        .lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("gate ") {
        rest = &rest[i + 5..];
        let open = rest.find('{').unwrap();
        let close = rest.find('}').unwrap();
        let head = rest[..open].trim();
        let name_end = head
            .find(|ch: char| ch == '(' || ch.is_whitespace())
            .unwrap();
        out.push((
            head[..name_end].to_owned(),
            head[name_end..].to_owned(),
            rest[open + 1..close].to_owned(),
        ));
        rest = &rest[close + 1..];
    }
    out
}

/// Each `qelib1.inc` gate, run as the IR primitive it maps to (or expanded), has the unitary of
/// its own definition in `qelib1.inc` (which the test re-declares under another name and
/// expands gate by gate).
#[test]
fn every_qelib1_gate_matches_its_definition() {
    let defs = qelib1_definitions();
    assert_eq!(
        defs.len(),
        42,
        "{:?}",
        defs.iter().map(|d| &d.0).collect::<Vec<_>>()
    );
    let params = [0.3, -1.1, 2.2, 0.7];
    for (name, head, body) in &defs {
        let n_params = if head.starts_with('(') {
            head[..head.find(')').unwrap()].split(',').count()
        } else {
            0
        };
        let args = head[head.find(')').map_or(0, |i| i + 1)..]
            .split(',')
            .count();
        let p: Vec<String> = params[..n_params].iter().map(f64::to_string).collect();
        let p = if n_params == 0 {
            String::new()
        } else {
            format!("({})", p.join(","))
        };
        let q: Vec<String> = (0..args).map(|i| format!("q[{i}]")).collect();
        let q = q.join(",");
        let src = format!(
            "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[{args}];\ngate my_{name}{head} {{{body}}}\n"
        );
        let direct = unitary(&ok(&format!("{src}{name}{p} {q};\n")));
        let defined = unitary(&ok(&format!("{src}my_{name}{p} {q};\n")));
        assert!(
            equal_up_to_phase(&direct, &defined, 1e-10),
            "`{name}` differs from its qelib1.inc definition"
        );
    }
}

/// Where `stdgates.inc` and `qelib1.inc` share a gate (or an alias), they agree.
#[test]
fn stdgates_agree_with_qelib1() {
    let pairs = [
        ("p(0.3)", "p(0.3)", 1),
        ("phase(0.3)", "p(0.3)", 1),
        ("u1(0.3)", "u1(0.3)", 1),
        ("u2(0.3, -1.1)", "u2(0.3,-1.1)", 1),
        ("u3(0.3, -1.1, 2.2)", "u3(0.3,-1.1,2.2)", 1),
        ("U(0.3, -1.1, 2.2)", "U(0.3,-1.1,2.2)", 1),
        ("id", "id", 1),
        ("x", "x", 1),
        ("y", "y", 1),
        ("z", "z", 1),
        ("h", "h", 1),
        ("s", "s", 1),
        ("sdg", "sdg", 1),
        ("t", "t", 1),
        ("tdg", "tdg", 1),
        ("sx", "sx", 1),
        ("rx(0.3)", "rx(0.3)", 1),
        ("ry(0.3)", "ry(0.3)", 1),
        ("rz(0.3)", "rz(0.3)", 1),
        ("cx", "cx", 2),
        ("CX", "CX", 2),
        ("cy", "cy", 2),
        ("cz", "cz", 2),
        ("cp(0.3)", "cp(0.3)", 2),
        ("cphase(0.3)", "cu1(0.3)", 2),
        ("crx(0.3)", "crx(0.3)", 2),
        ("cry(0.3)", "cry(0.3)", 2),
        ("crz(0.3)", "crz(0.3)", 2),
        ("ch", "ch", 2),
        ("swap", "swap", 2),
        ("cu(0.3, -1.1, 2.2, 0.7)", "cu(0.3,-1.1,2.2,0.7)", 2),
        ("ccx", "ccx", 3),
        ("cswap", "cswap", 3),
    ];
    for (v3, v2, n) in pairs {
        let q: Vec<String> = (0..n).map(|i| format!("q[{}]", n - 1 - i)).collect();
        let q = q.join(", ");
        let a = unitary(&ok(&format!(
            "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[{n}] q;\n{v3} {q};\n"
        )));
        let b = unitary_of(n, &format!("{v2} {q};"));
        assert!(equal_up_to_phase(&a, &b, 1e-12), "{v3} vs {v2}");
    }
}

/// The IBM-basis Hadamard in `lima_bell.qasm`: `rz(π/2) sx rz(π/2)` is H up to a global phase.
#[test]
fn rz_sx_rz_is_hadamard() {
    let got = unitary_of(1, "rz(pi/2) q[0]; sx q[0]; rz(pi/2) q[0];");
    let r = std::f64::consts::FRAC_1_SQRT_2;
    let h = [c(r, 0.0), c(r, 0.0), c(r, 0.0), c(-r, 0.0)];
    assert!(dense::equal_up_to_phase(&got, &h, 1e-12));
}
