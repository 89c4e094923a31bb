//! What the `qpy` fuzz target checks, beyond "does not panic". Shared with the workspace test
//! `crates/sim/tests/qpy.rs`, which replays the committed corpus (`corpus/qpy/`) with these same
//! checks on stable Rust (`cargo test -p qwarden-sim --test qpy fuzz`).
//!
//! Seeds are decompressed QPY files: `ok-*` parse (the real circuits of the provider-traffic
//! transcripts, QPY 17 and 18, and files made from them), `bad-*` are refused (truncated, wrong
//! preface or version, a symbolic parameter, an unknown gate, a condition, absurd counts, a bad
//! offset table). Run with `cargo +nightly fuzz run qpy /tmp/qpy corpus/qpy --
//! -max_total_time=60` (from `fuzz/`).

#![allow(dead_code, reason = "the replay test uses some of these items")]

use qwarden_sim::ir::{Circuit, Instruction};
use qwarden_sim::qpy::{QpyError, parse};

/// The most instructions a file may hold (the reader's documented limit).
pub const MAX_INSTRUCTIONS: usize = 1_000_000;

/// `qpy::parse` on arbitrary bytes: well-formed circuits, the same on a second parse, or an error
/// whose message is short, printable and says what to do.
pub fn qpy(data: &[u8]) {
    match parse(data) {
        Ok(circuits) => {
            let total: usize = circuits.iter().map(|c| c.instructions.len()).sum();
            assert!(total <= MAX_INSTRUCTIONS);
            for c in &circuits {
                check_circuit(c);
            }
            assert_eq!(parse(data).as_ref(), Ok(&circuits), "not deterministic");
        }
        Err(e) => check_error(&e),
    }
}

/// Every index in range, every gate on as many distinct qubits as it takes with finite
/// matrices, no conditions (the reader refuses them), and classical registers inside the
/// classical bits.
pub fn check_circuit(c: &Circuit) {
    for r in &c.cregs {
        assert!(r.size > 0 && r.start + r.size <= c.num_clbits, "{r:?}");
    }
    for inst in &c.instructions {
        match inst {
            Instruction::Gate { gate, qubits } => {
                assert_eq!(qubits.len(), gate.num_qubits(), "{}", gate.name());
                assert!(qubits.iter().all(|&q| q < c.num_qubits));
                assert!(distinct(qubits), "{} on {qubits:?}", gate.name());
                assert!(
                    gate.matrix()
                        .iter()
                        .all(|z| z.re.is_finite() && z.im.is_finite())
                );
            }
            Instruction::Measure { qubit, clbit } => {
                assert!(*qubit < c.num_qubits && *clbit < c.num_clbits);
            }
            Instruction::Reset { qubit } => assert!(*qubit < c.num_qubits),
            Instruction::Barrier { qubits } => {
                assert!(qubits.iter().all(|&q| q < c.num_qubits));
                assert!(distinct(qubits));
            }
            Instruction::Conditional { .. } => panic!("a conditional instruction from QPY"),
        }
    }
}

fn distinct(items: &[usize]) -> bool {
    items
        .iter()
        .enumerate()
        .all(|(i, a)| items.iter().skip(i + 1).all(|b| a != b))
}

/// The message is not empty, shorter than 600 characters (names from the file are cut), free of
/// raw control characters, and ends with what to do.
pub fn check_error(e: &QpyError) {
    let shown = e.to_string();
    assert!(!shown.trim().is_empty());
    assert!(shown.chars().count() < 600, "{shown}");
    assert!(
        !shown.chars().any(char::is_control),
        "raw control character in {shown:?}"
    );
    assert!(shown.contains("(help: "), "{shown}");
}
