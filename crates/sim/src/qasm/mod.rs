//! The OpenQASM front end: source text → [`Circuit`].
//!
//! # What it reads
//!
//! **OpenQASM 2.0** (`OPENQASM 2.0;`): `include "qelib1.inc";` (built into the crate, never read
//! from disk; no other file can be included), `qreg`/`creg`, the built-in `U` and `CX`, every
//! `qelib1.inc` gate, `gate` definitions with parameters, `opaque` declarations (an error when
//! applied), `measure q -> c;`, `reset`, `barrier`, `if (c == n) op;`, and statements broadcast
//! over whole registers (`h q;`, `cx q, r;`, `measure q -> c;`).
//!
//! **OpenQASM 3, as IBM and IonQ accept it** (`OPENQASM 3;`, `OPENQASM 3.0;`, or no header):
//! `include "stdgates.inc";` (built in), `qubit[n] q;`, `qubit q;`, `bit[n] c;`, `bit c;` and
//! OpenQASM 2's `qreg`/`creg`, the `stdgates.inc` gates, `U`, `gphase` (a global phase: no
//! effect on what is measured), `gate` definitions, `c[0] = measure q[0];`, `c = measure q;`,
//! `bit[n] c = measure q;`, `measure q -> c;`, `reset`, `barrier` (`barrier;` spans every
//! qubit), `if (c[0]) …`, `if (!c[0]) …`, `if (c == 3) { … }` and `else` after a one-bit
//! condition, and physical qubits `$0`, `$1`, … (the circuit then has the highest index + 1
//! qubits; they cannot be mixed with declared qubits). Loops, subroutines, classical variables
//! and arithmetic, `input`/`output`, gate modifiers, timing and calibrations are refused with an
//! error naming the construct.
//!
//! **Angles**: numbers (`3`, `0.5`, `.5`, `1e-3`), `pi`/`π`, `tau`/`τ`, `euler`/`ℯ`, `+ - * /`,
//! unary minus, powers (`^` in 2.0, `**` in 3; `-2^2` is `-(2^2)`), parentheses, `sin cos tan
//! exp ln sqrt asin acos atan` (also `arcsin arccos arctan`), and a gate definition's
//! parameters. An angle without a finite value (`1/0`, `ln(0)`, `sqrt(-1)`) is an error.
//!
//! # The circuit
//!
//! Qubits and classical bits are numbered in declaration order across registers (the first
//! register's bit 0 is bit 0); [`Circuit::cregs`] lists the classical registers in that order.
//! Library gates with an IR primitive become that primitive (equal up to a global phase);
//! `qelib1.inc`'s `csx`, `rccx`, `rc3x`, `c3x`, `c3sqrtx` and `c4x`, and user-defined gates, are
//! expanded inline with their parameters substituted. A conditional statement becomes
//! [`Instruction::Conditional`]s; a barrier inside an `if` is not conditioned (it has no effect
//! on the state either way).
//!
//! # Errors and hostile input
//!
//! Every error is a [`QasmError`] with its [`ErrorKind`], the 1-based line and column (in
//! characters) where the problem is, what is wrong, and how to fix it. Parsing never panics and
//! runs in time and memory bounded by the [`Limits`]: the source size is checked first, tokens
//! are read one at a time, register sizes are checked before anything is allocated, each gate
//! definition records how many instructions it expands to (so an exponential definition is
//! refused before it is expanded), gate definitions nest at most [`Limits::max_gate_depth`]
//! deep and expressions [`Limits::max_expression_depth`] deep (so recursion is bounded), and a
//! gate can only call gates defined before it (so definitions cannot recurse).
//!
//! [`Instruction::Conditional`]: crate::ir::Instruction::Conditional

mod builder;
mod condition;
mod error;
mod expr;
mod gatedef;
mod lexer;
mod library;
mod parser;
mod statement;

pub use error::{ErrorKind, Limit, Location, QasmError};

use crate::ir::Circuit;

/// Bounds on what [`parse_with`] accepts, so that hostile input is refused in bounded time and
/// memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest source accepted, in bytes (default 1 MiB).
    pub max_source_bytes: usize,
    /// The most qubits a circuit may declare or use, physical qubits included (default 64; the
    /// engines also check that the state fits in memory).
    pub max_qubits: usize,
    /// The most classical bits (default 4096).
    pub max_clbits: usize,
    /// The most instructions after every gate is expanded (default 1,000,000). So that the limit
    /// bounds memory too, a barrier also counts the qubits it spans and a conditional instruction
    /// the bits of its condition (a `barrier;` over every qubit counts [`Limits::max_qubits`]).
    pub max_instructions: u64,
    /// How deeply gate definitions may nest: a gate using only built-in gates is 1 deep, one
    /// using such a gate 2, … (default 64).
    pub max_gate_depth: usize,
    /// How deeply an angle expression may nest, in parentheses, signs and operations (default
    /// 128).
    pub max_expression_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_source_bytes: 1 << 20,
            max_qubits: 64,
            max_clbits: 4096,
            max_instructions: 1_000_000,
            max_gate_depth: 64,
            max_expression_depth: 128,
        }
    }
}

/// Parses an OpenQASM 2.0 or 3 program with the default [`Limits`].
///
/// ```
/// let circuit = qwarden_sim::qasm::parse(
///     "OPENQASM 2.0; include \"qelib1.inc\"; qreg q[2]; creg c[2];
///      h q[0]; cx q[0], q[1]; measure q -> c;",
/// )?;
/// assert_eq!(circuit.num_qubits, 2);
/// assert_eq!(circuit.instructions.len(), 4);
/// # Ok::<(), qwarden_sim::qasm::QasmError>(())
/// ```
pub fn parse(source: &str) -> Result<Circuit, QasmError> {
    parse_with(source, &Limits::default())
}

/// Parses an OpenQASM 2.0 or 3 program within `limits`.
pub fn parse_with(source: &str, limits: &Limits) -> Result<Circuit, QasmError> {
    if source.len() > limits.max_source_bytes {
        return Err(QasmError::limit(
            Limit::SourceBytes,
            Location { line: 1, col: 1 },
            format!(
                "the source is {} bytes, more than the limit of {}",
                source.len(),
                limits.max_source_bytes
            ),
        ));
    }
    let mut builder = builder::Builder::new(limits.clone());
    parser::Parser::new(source, &mut builder).program()?;
    Ok(builder.finish())
}
