//! What the `qasm` fuzz target checks, beyond "does not panic". Shared with the workspace test
//! `crates/sim/tests/qasm.rs`, which replays the committed corpus (`corpus/qasm/`) with these
//! same checks on stable Rust. Apart from `checks.rs` and `ledger_checks.rs` because each crate's
//! replay test includes its checks file and depends only on its own crate.

#![allow(dead_code, reason = "the replay test uses some of these items")]

use qwarden_sim::ir::{Circuit, Instruction};
use qwarden_sim::qasm::{Limits, QasmError, parse_with};

/// Limits below the defaults, so that each input runs fast.
pub fn limits() -> Limits {
    Limits {
        max_qubits: 20,
        max_clbits: 256,
        max_instructions: 20_000,
        ..Limits::default()
    }
}

/// `qasm::parse_with` on arbitrary UTF-8: a well-formed circuit within the limits, the same on a
/// second parse, or an error that points into the text and says how to fix it.
pub fn qasm(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = limits();
    match parse_with(text, &limits) {
        Ok(c) => {
            check_circuit(&c, &limits);
            assert_eq!(
                parse_with(text, &limits).as_ref(),
                Ok(&c),
                "not deterministic"
            );
        }
        Err(e) => check_error(text, &e),
    }
}

/// Every index in range, every gate on as many distinct qubits as it takes, finite matrices,
/// registers tiling the classical bits, and at most `max_instructions` instructions.
pub fn check_circuit(c: &Circuit, limits: &Limits) {
    assert!(c.num_qubits <= limits.max_qubits);
    assert!(c.num_clbits <= limits.max_clbits);
    assert!(c.instructions.len() as u64 <= limits.max_instructions);
    let mut next = 0;
    for r in &c.cregs {
        assert_eq!(
            r.start, next,
            "register {} does not follow the previous one",
            r.name
        );
        assert!(r.size > 0);
        next += r.size;
    }
    assert_eq!(next, c.num_clbits);
    for inst in &c.instructions {
        check_instruction(c, inst, false);
    }
}

fn distinct(items: &[usize]) -> bool {
    items
        .iter()
        .enumerate()
        .all(|(i, a)| items.iter().skip(i + 1).all(|b| a != b))
}

fn check_instruction(c: &Circuit, inst: &Instruction, conditioned: bool) {
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
            assert!(!conditioned, "a conditioned barrier");
            assert!(qubits.iter().all(|&q| q < c.num_qubits));
            assert!(distinct(qubits));
        }
        Instruction::Conditional {
            condition,
            instruction,
        } => {
            assert!(!conditioned, "nested conditions");
            let bits = &condition.clbits;
            assert!(!bits.is_empty() && distinct(bits));
            assert!(bits.iter().all(|&b| b < c.num_clbits));
            assert!(bits.len() >= 64 || condition.value >> bits.len() == 0);
            check_instruction(c, instruction, true);
        }
    }
}

/// The error's position is inside the text (or just past the end of a line), and its message
/// and hint are non-empty, on one line, and free of raw control characters.
pub fn check_error(text: &str, e: &QasmError) {
    assert!(e.at.line >= 1 && e.at.col >= 1, "{e}");
    let line = text
        .split('\n')
        .nth(e.at.line - 1)
        .unwrap_or_else(|| panic!("line {} is past the end: {e}", e.at.line));
    assert!(
        e.at.col <= line.chars().count() + 1,
        "column {} is past the end of line {}: {e}",
        e.at.col,
        e.at.line
    );
    assert!(
        !e.message.trim().is_empty() && !e.hint.trim().is_empty(),
        "{e:?}"
    );
    let shown = e.to_string();
    assert!(
        !shown.chars().any(char::is_control),
        "raw control character in {shown:?}"
    );
}
