//! What the front end refuses, where, and how to fix it.

use std::fmt;

/// A position in the source: 1-based line and column, the column counted in characters (as
/// editors show it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Location {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column in characters, starting at 1.
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Which of the [`super::Limits`] a program exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`super::Limits::max_source_bytes`].
    SourceBytes,
    /// [`super::Limits::max_qubits`].
    Qubits,
    /// [`super::Limits::max_clbits`].
    Clbits,
    /// [`super::Limits::max_instructions`].
    Instructions,
    /// [`super::Limits::max_gate_depth`].
    GateDepth,
    /// [`super::Limits::max_expression_depth`].
    ExpressionDepth,
}

impl Limit {
    /// The name of the [`super::Limits`] field, for messages.
    pub fn field(self) -> &'static str {
        match self {
            Limit::SourceBytes => "max_source_bytes",
            Limit::Qubits => "max_qubits",
            Limit::Clbits => "max_clbits",
            Limit::Instructions => "max_instructions",
            Limit::GateDepth => "max_gate_depth",
            Limit::ExpressionDepth => "max_expression_depth",
        }
    }
}

/// The kind of a [`QasmError`], for callers that react to some kinds differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not well-formed: an unexpected token or character, an unterminated comment or string, a
    /// malformed number.
    Syntax,
    /// A missing, malformed or misplaced `OPENQASM` version header, or a construct of the other
    /// version.
    Version,
    /// Valid OpenQASM outside the subset qwarden runs (loops, subroutines, classical variables,
    /// gate modifiers, …).
    Unsupported,
    /// An `include` of a file other than the built-in `qelib1.inc` (2.0) or `stdgates.inc` (3).
    Include,
    /// A register, bit, gate or identifier that is not declared (or not yet).
    Undefined,
    /// A name declared twice.
    Duplicate,
    /// A name used as something it is not (a classical register where qubits are expected, …).
    Type,
    /// A gate applied with the wrong number of parameters or qubits.
    Arity,
    /// A register index past its end.
    IndexOutOfRange,
    /// The same qubit given twice to one gate.
    DuplicateQubit,
    /// Registers of different sizes in one broadcast statement.
    BroadcastMismatch,
    /// A gate declared `opaque` (no definition) applied.
    Opaque,
    /// A gate definition that calls itself.
    Recursive,
    /// An angle expression with no finite value (division by zero, `ln(0)`, overflow, …).
    Math,
    /// A program beyond one of the [`super::Limits`].
    Limit(Limit),
}

/// Why a program was refused: what is wrong, where, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message} (help: {hint})")]
pub struct QasmError {
    /// What kind of problem.
    pub kind: ErrorKind,
    /// Where in the source.
    pub at: Location,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl QasmError {
    /// A new error.
    pub(crate) fn new(
        kind: ErrorKind,
        at: Location,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> QasmError {
        QasmError {
            kind,
            at,
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// A program beyond `limit`.
    pub(crate) fn limit(limit: Limit, at: Location, message: impl Into<String>) -> QasmError {
        QasmError::new(
            ErrorKind::Limit(limit),
            at,
            message,
            format!(
                "shrink the program, or raise `Limits::{}` if the machine can take it",
                limit.field()
            ),
        )
    }

    /// A syntax error.
    pub(crate) fn syntax(
        at: Location,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> QasmError {
        QasmError::new(ErrorKind::Syntax, at, message, hint)
    }
}

/// Shorthand for this module's results.
pub(crate) type Result<T> = std::result::Result<T, QasmError>;
