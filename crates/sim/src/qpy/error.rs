//! What the QPY reader refuses, where, and how to fix it.

use std::fmt::Write as _;

/// Why a QPY file was refused.
///
/// Every message says what is wrong, where (the byte offset into the file, or the circuit and
/// the instruction), and what to do about it. Names taken from the file are shown in backticks,
/// cut to 40 characters, with control characters escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QpyError {
    /// The data does not start with the `QISKIT` preface.
    #[error(
        "not a QPY file: it does not start with `QISKIT` (help: pass the decompressed QPY bytes; IBM jobs carry them zlib-compressed and base64-encoded)"
    )]
    NotQpy,
    /// A QPY version outside the ones this reader takes.
    #[error(
        "QPY version {version} is not supported: this reader takes versions 12 to 18 (help: write the circuit with `qiskit.qpy.dump(circuit, file, version=17)`)"
    )]
    UnsupportedVersion {
        /// The version byte of the file.
        version: u8,
    },
    /// The file holds programs other than circuits (pulse schedules).
    #[error(
        "the QPY file holds programs of type `{type_key}`, not circuits (type `q`) (help: only quantum circuits can run; pulse schedules were removed in Qiskit 2.0)"
    )]
    NotCircuits {
        /// The file's program type key, escaped.
        type_key: String,
    },
    /// The data ends in the middle of a structure.
    #[error(
        "the QPY data ends at byte {offset} while reading {reading} (help: the file is truncated; send the whole file)"
    )]
    Truncated {
        /// Where the data ended (or where the missing part should have started).
        offset: usize,
        /// What was being read.
        reading: &'static str,
    },
    /// A structure whose content is impossible in a file Qiskit wrote.
    #[error(
        "byte {offset}: {message} (help: the file is corrupt or was not written by Qiskit's `qpy.dump`)"
    )]
    Malformed {
        /// Where the structure starts.
        offset: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A count beyond what this reader accepts, refused before anything is allocated for it.
    #[error(
        "the QPY file declares {count} {what}, more than the limit of {limit} (help: split the work into smaller circuits)"
    )]
    TooLarge {
        /// What is counted (`"bytes"`, `"circuits"`, `"qubits"`, `"instructions"`, …).
        what: &'static str,
        /// How many the file declares.
        count: u64,
        /// The most this reader takes.
        limit: u64,
    },
    /// A parameter (or the global phase) that is a symbol or an expression of symbols: the
    /// circuit cannot run until values are bound to them.
    #[error(
        "circuit {circuit}, {}: the parameter is symbolic (a `Parameter`, `ParameterVector` element or `ParameterExpression`) (help: bind the circuit's parameters before submitting, e.g. `circuit.assign_parameters(values)`)",
        site(*.instruction, .name)
    )]
    Symbolic {
        /// Which circuit of the file (0 first).
        circuit: usize,
        /// The index of the instruction in the circuit, or `None` for the global phase.
        instruction: Option<usize>,
        /// The instruction's class name as the file gives it (such as `RZGate`), or
        /// `global phase`.
        name: String,
    },
    /// Valid QPY that the simulator cannot run: control flow, classical conditions, custom gate
    /// definitions, gates without an equivalent in the simulator, classical variables, pulse
    /// calibrations, classical registers over scattered bits.
    #[error(
        "circuit {circuit}, {}: {reason} (help: {hint})",
        site(*.instruction, .name)
    )]
    Unsupported {
        /// Which circuit of the file (0 first).
        circuit: usize,
        /// The index of the instruction in the circuit, if an instruction is the problem.
        instruction: Option<usize>,
        /// The instruction's class name (such as `IfElseOp`), or what else is the problem
        /// (such as `classical register meas`).
        name: String,
        /// What is not supported.
        reason: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// An instruction whose operands or parameters are impossible (a qubit out of range, the
    /// same qubit twice, the wrong number of parameters, an infinite angle, …).
    #[error(
        "circuit {circuit}, {}: {message} (help: the file is corrupt or was not written by Qiskit's `qpy.dump`)",
        site(Some(*.instruction), .name)
    )]
    BadInstruction {
        /// Which circuit of the file (0 first).
        circuit: usize,
        /// The index of the instruction in the circuit.
        instruction: usize,
        /// The instruction's class name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
}

/// "instruction 3 (`RZGate`)", or the name alone when no instruction is at fault.
fn site(instruction: Option<usize>, name: &str) -> String {
    match instruction {
        Some(i) => format!("instruction {i} (`{name}`)"),
        None => name.to_owned(),
    }
}

/// `text` as it may appear in a message: at most 40 characters, control characters escaped,
/// backticks replaced, so that a hostile name cannot forge or break up a message.
pub(super) fn shown(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == 40 {
            out.push('…');
            break;
        }
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else if c == '`' {
            out.push('\'');
        } else {
            out.push(c);
        }
    }
    out
}

/// Shorthand for the module's results.
pub(super) type Result<T> = std::result::Result<T, QpyError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_names_are_short_and_printable() {
        assert_eq!(shown("RZGate"), "RZGate");
        assert_eq!(shown("a\nb`c"), "a\\nb'c");
        let long = "x".repeat(100);
        assert_eq!(shown(&long).chars().count(), 41);
    }

    #[test]
    fn messages_name_the_site_and_the_fix() {
        let e = QpyError::Symbolic {
            circuit: 0,
            instruction: Some(3),
            name: "RZGate".into(),
        };
        let text = e.to_string();
        assert!(text.contains("instruction 3 (`RZGate`)"), "{text}");
        assert!(text.contains("assign_parameters"), "{text}");
        let e = QpyError::Symbolic {
            circuit: 1,
            instruction: None,
            name: "global phase".into(),
        };
        assert!(e.to_string().starts_with("circuit 1, global phase:"));
    }
}
