//! The example circuits in `examples/circuits/` parse, and their gates make the states their
//! comments promise.

use std::path::{Path, PathBuf};

use qwarden_sim::ir::{Circuit, Gate, Instruction};

use super::dense::{self, branches};
use super::{g, m, ok};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/circuits")
}

fn example(name: &str) -> (String, Circuit) {
    let src = std::fs::read_to_string(dir().join(name)).unwrap();
    let c = ok(&src);
    (src, c)
}

fn probability(c: &Circuit, index: usize) -> f64 {
    dense::state(c)[index].norm_sqr()
}

#[test]
fn every_example_parses() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".qasm"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bell.qasm",
            "ghz5.qasm",
            "grover2.qasm",
            "lima_bell.qasm",
            "qft4.qasm",
            "teleport.qasm"
        ]
    );
    for name in names {
        example(&name);
    }
}

#[test]
fn bell() {
    let (src, c) = example("bell.qasm");
    assert!(src.contains("OPENQASM 2.0;"));
    assert_eq!(
        c.instructions,
        vec![g(Gate::H, &[0]), g(Gate::CX, &[0, 1]), m(0, 0), m(1, 1)]
    );
}

#[test]
fn ghz5() {
    let (src, c) = example("ghz5.qasm");
    assert!(src.contains("OPENQASM 3.0;"));
    assert_eq!((c.num_qubits, c.num_clbits), (5, 5));
    assert!((probability(&c, 0) - 0.5).abs() < 1e-12);
    assert!((probability(&c, 31) - 0.5).abs() < 1e-12);
}

#[test]
fn qft4_gives_uniform_amplitudes() {
    let (src, c) = example("qft4.qasm");
    assert!(src.contains("OPENQASM 2.0;"));
    assert_eq!(c.num_qubits, 4);
    for i in 0..16 {
        assert!((probability(&c, i) - 1.0 / 16.0).abs() < 1e-12);
    }
    assert_eq!(
        c.instructions
            .iter()
            .filter(|i| matches!(
                i,
                Instruction::Gate {
                    gate: Gate::Swap,
                    ..
                }
            ))
            .count(),
        2
    );
}

#[test]
fn teleport_always_reads_zero_on_the_receiver() {
    let (src, c) = example("teleport.qasm");
    assert!(src.contains("OPENQASM 2.0;") && src.contains("if(c1==1)"));
    assert!(
        c.instructions
            .iter()
            .any(|i| matches!(i, Instruction::Conditional { .. }))
    );
    let all = branches(&c);
    assert_eq!(all.len(), 4);
    for b in &all {
        assert!((b.prob - 0.25).abs() < 1e-12);
        assert!(!b.clbits[2]);
    }
}

#[test]
fn grover2_finds_the_marked_state() {
    let (src, c) = example("grover2.qasm");
    assert!(src.contains("OPENQASM 3.0;"));
    assert!((probability(&c, 3) - 1.0).abs() < 1e-12);
}

#[test]
fn lima_bell_uses_physical_qubits_and_lima_basis_gates() {
    let (src, c) = example("lima_bell.qasm");
    assert!(src.contains("OPENQASM 3.0;") && src.contains("$0"));
    assert_eq!((c.num_qubits, c.num_clbits), (2, 2));
    for i in &c.instructions {
        if let Instruction::Gate { gate, .. } = i {
            assert!(
                matches!(gate, Gate::RZ(_) | Gate::SX | Gate::X | Gate::CX),
                "{} is not a Lima basis gate",
                gate.name()
            );
        }
    }
    assert!((probability(&c, 0) - 0.5).abs() < 1e-12);
    assert!((probability(&c, 3) - 0.5).abs() < 1e-12);
}
