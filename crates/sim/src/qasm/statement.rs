//! Quantum statements: gate calls (broadcast over registers), `measure`, `reset`, `barrier`,
//! `gphase`, `if`, and the OpenQASM 3 constructs outside the subset.

use std::collections::HashSet;

use super::builder::Symbol;
use super::error::{ErrorKind, Location, QasmError, Result};
use super::expr::Scope;
use super::lexer::{Sym, Tok, Token};
use super::library::library_gate;
use super::parser::{Parser, unsupported_assignment};
use crate::ir::{Condition, Instruction};

/// A statement's qubit or bit argument: a whole register, or one (qu)bit.
#[derive(Debug, Clone, Copy)]
pub(super) enum Operand {
    Reg { start: usize, size: usize },
    One(usize),
}

/// Why an OpenQASM 3 keyword is outside the subset, and what to do instead.
pub(super) fn unsupported_keyword(word: &str) -> Option<(&'static str, &'static str)> {
    let unroll = "unroll it before export: build or transpile the circuit without control flow";
    let bind = "bind the values before export, so that the program has only numbers";
    Some(match word {
        "for" | "while" | "break" | "continue" => ("loops", unroll),
        "switch" | "case" | "default" => ("`switch` statements", unroll),
        "def" | "return" | "extern" => ("subroutines", "inline the subroutine's gates"),
        "input" | "output" => ("`input`/`output` parameters", bind),
        "const" | "let" | "int" | "uint" | "float" | "angle" | "bool" | "complex" | "array"
        | "duration" | "stretch" => ("classical variables", bind),
        "delay" | "box" => (
            "timing instructions (`delay`, `box`)",
            "remove them: the simulator has no notion of time",
        ),
        "defcal" | "defcalgrammar" | "cal" => (
            "pulse-level calibrations",
            "remove them: the simulator runs gates, not pulses",
        ),
        "ctrl" | "negctrl" | "inv" | "pow" => (
            "gate modifiers (`ctrl @`, `inv @`, `pow(k) @`)",
            "define the modified gate with `gate … { … }`, or use a standard gate such as `cx`",
        ),
        "pragma" | "end" => ("this statement", "remove it"),
        _ => return None,
    })
}

impl Parser<'_, '_> {
    /// A statement that acts on qubits (possibly under `cond`), its first word already read.
    pub(super) fn quantum_statement(
        &mut self,
        word: String,
        at: Location,
        cond: Option<&Condition>,
    ) -> Result<()> {
        match word.as_str() {
            "measure" => {
                let q = self.operand(true)?;
                if self.peek()?.tok == Tok::Sym(Sym::Semi) {
                    return Err(QasmError::new(
                        ErrorKind::Unsupported,
                        at,
                        "a measurement needs a classical bit for its result",
                        "write `measure q[0] -> c[0];` or, in OpenQASM 3, `c[0] = measure q[0];`",
                    ));
                }
                self.expect(Sym::Arrow, "`->` and the classical bit for the result")?;
                let c = self.operand(false)?;
                self.end()?;
                self.measure(q, c, cond)
            }
            "reset" => {
                let (q, _) = self.operand(true)?;
                self.end()?;
                for q in qubits_of(q) {
                    self.b.push(Instruction::Reset { qubit: q }, cond, at)?;
                }
                Ok(())
            }
            "barrier" if cond.is_some() && !self.v3 => Err(QasmError::new(
                ErrorKind::Unsupported,
                at,
                "OpenQASM 2.0 cannot condition a barrier",
                "move the barrier out of the `if`",
            )),
            "barrier" => self.barrier(at),
            "if" if cond.is_some() => Err(QasmError::new(
                ErrorKind::Unsupported,
                at,
                "nested `if` statements are not supported",
                "combine the conditions into one register comparison, such as `if (c == 3)`",
            )),
            "if" => self.if_statement(),
            "gphase" if self.v3 => self.gphase(),
            "else" => Err(QasmError::syntax(
                at,
                "`else` without an `if` before it",
                "put `else` right after the `if` statement's body",
            )),
            _ => {
                if let Some((what, hint)) = unsupported_keyword(&word)
                    && self.v3
                    && self.b.lookup(&word).is_none()
                {
                    return Err(QasmError::new(
                        ErrorKind::Unsupported,
                        at,
                        format!("{what} (`{word}`) are outside the OpenQASM 3 subset qwarden runs"),
                        hint,
                    ));
                }
                let next = &self.peek()?.tok;
                if matches!(next, Tok::Sym(Sym::LBracket | Sym::Assign)) {
                    if !self.v3 {
                        return Err(QasmError::new(
                            ErrorKind::Version,
                            at,
                            "assignments are OpenQASM 3",
                            "write `measure q[0] -> c[0];` in OpenQASM 2.0",
                        ));
                    }
                    let target = self.operand_named(&word, at, false)?;
                    self.expect(Sym::Assign, "`=` and `measure …`")?;
                    return self.measure_rhs(target, cond);
                }
                self.gate_call(&word, at, cond)
            }
        }
    }

    /// `= measure q;` after a classical target, `=` already read.
    pub(super) fn measure_rhs(
        &mut self,
        target: (Operand, Location),
        cond: Option<&Condition>,
    ) -> Result<()> {
        let t = self.next()?;
        if t.tok != Tok::Ident("measure".to_owned()) {
            return Err(unsupported_assignment(t.at));
        }
        let q = self.operand(true)?;
        self.end()?;
        self.measure(q, target, cond)
    }

    fn measure(
        &mut self,
        (q, _): (Operand, Location),
        (c, c_at): (Operand, Location),
        cond: Option<&Condition>,
    ) -> Result<()> {
        let pairs: Vec<(usize, usize)> = match (q, c) {
            (Operand::One(q), Operand::One(c)) => vec![(q, c)],
            (Operand::Reg { start: q, size: n }, Operand::Reg { start: c, size: m }) if n == m => {
                (0..n).map(|i| (q + i, c + i)).collect()
            }
            _ => {
                return Err(QasmError::new(
                    ErrorKind::BroadcastMismatch,
                    c_at,
                    format!(
                        "cannot measure {} into {}",
                        describe_count(q, "qubit"),
                        describe_count(c, "bit")
                    ),
                    "measure a qubit into a bit, or a register into a classical register of the same size",
                ));
            }
        };
        for (qubit, clbit) in pairs {
            self.b
                .push(Instruction::Measure { qubit, clbit }, cond, c_at)?;
        }
        Ok(())
    }

    fn barrier(&mut self, at: Location) -> Result<()> {
        if self.eat(Sym::Semi)? {
            return self.b.push_barrier_all(at);
        }
        let mut qubits: Vec<usize> = Vec::new();
        let mut seen: HashSet<usize> = HashSet::new();
        loop {
            let (q, _) = self.operand(true)?;
            for q in qubits_of(q) {
                if seen.insert(q) {
                    qubits.push(q);
                }
            }
            if !self.eat(Sym::Comma)? {
                break;
            }
        }
        self.end()?;
        self.b.push(Instruction::Barrier { qubits }, None, at)
    }

    /// `gphase(θ);`: a global phase, which does not change what is measured.
    fn gphase(&mut self) -> Result<()> {
        self.expect(Sym::LParen, "`(` and the phase angle")?;
        self.expr(&Scope::default())?;
        self.expect(Sym::RParen, "`)` after the phase angle")?;
        while self.peek()?.tok != Tok::Sym(Sym::Semi) {
            self.operand(true)?;
            if !self.eat(Sym::Comma)? {
                break;
            }
        }
        self.end()
    }

    /// A gate application, broadcast over registers.
    fn gate_call(&mut self, name: &str, at: Location, cond: Option<&Condition>) -> Result<()> {
        let g = match self.b.lookup(name) {
            Some((Symbol::Gate(g), _)) => g,
            Some(_) => {
                return Err(QasmError::new(
                    ErrorKind::Type,
                    at,
                    format!("`{name}` is a register, not a gate"),
                    "start the statement with a gate name, such as `h q[0];`",
                ));
            }
            None => return Err(self.undefined_gate(name, at)),
        };
        let params = if self.eat(Sym::LParen)? {
            self.constant_list()?
        } else {
            Vec::new()
        };
        let mut operands = Vec::new();
        loop {
            operands.push(self.operand(true)?);
            if !self.eat(Sym::Comma)? {
                break;
            }
        }
        self.end()?;
        let def = self
            .b
            .gate(g)
            .ok_or_else(|| self.undefined_gate(name, at))?;
        if matches!(def.body, super::builder::GateBody::Opaque) {
            return Err(QasmError::new(
                ErrorKind::Opaque,
                at,
                format!("gate `{name}` is declared `opaque`: it has no definition to run"),
                format!("replace `opaque {name} …;` with `gate {name} … {{ … }}` giving its gates"),
            ));
        }
        check_arity(name, "parameter", def.params, params.len(), at)?;
        check_arity(name, "qubit", def.qubits, operands.len(), at)?;
        for qubits in self.broadcast(name, &operands)? {
            self.b.apply(g, &params, &qubits, cond, at)?;
        }
        Ok(())
    }

    /// `(a, b, …)` after `(`: angles without parameters, evaluated.
    fn constant_list(&mut self) -> Result<Vec<f64>> {
        let mut values = Vec::new();
        if self.eat(Sym::RParen)? {
            return Ok(values);
        }
        loop {
            let node = self.expr(&Scope::default())?;
            values.push(node.value().unwrap_or(f64::NAN));
            if self.eat(Sym::RParen)? {
                return Ok(values);
            }
            self.expect(Sym::Comma, "`,` or `)` in the gate's parameters")?;
        }
    }

    /// The qubit lists a broadcast statement applies to, index by index over its registers.
    fn broadcast(&self, name: &str, operands: &[(Operand, Location)]) -> Result<Vec<Vec<usize>>> {
        let mut size: Option<(usize, Location)> = None;
        for &(op, at) in operands {
            if let Operand::Reg { size: n, .. } = op {
                match size {
                    Some((m, _)) if m != n => {
                        return Err(QasmError::new(
                            ErrorKind::BroadcastMismatch,
                            at,
                            format!(
                                "this register has {n} qubits but an earlier one in the same `{name}` has {m}"
                            ),
                            "registers in one statement are applied index by index and must have the same size; index them instead, as `q[0]`",
                        ));
                    }
                    _ => size = Some((n, at)),
                }
            }
        }
        let n = size.map_or(1, |(n, _)| n);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let mut qubits: Vec<usize> = Vec::with_capacity(operands.len());
            // A set only for gates on many qubits, so that checking stays linear.
            let mut seen: Option<HashSet<usize>> = (operands.len() > 8).then(HashSet::new);
            for &(op, at) in operands {
                let q = match op {
                    Operand::Reg { start, .. } => start + i,
                    Operand::One(q) => q,
                };
                let twice = match seen.as_mut() {
                    Some(set) => !set.insert(q),
                    None => qubits.contains(&q),
                };
                if twice {
                    return Err(QasmError::new(
                        ErrorKind::DuplicateQubit,
                        at,
                        format!("{} is given twice to `{name}`", self.qubit_name(q)),
                        "a gate's qubits must all be different",
                    ));
                }
                qubits.push(q);
            }
            out.push(qubits);
        }
        Ok(out)
    }

    /// How the source names qubit `q`.
    fn qubit_name(&self, q: usize) -> String {
        for r in &self.b.qregs {
            if q >= r.start && q < r.start + r.size {
                return if r.scalar {
                    format!("qubit `{}`", r.name)
                } else {
                    format!("qubit `{}[{}]`", r.name, q - r.start)
                };
            }
        }
        format!("physical qubit `${q}`")
    }

    fn undefined_gate(&self, name: &str, at: Location) -> QasmError {
        let hint = match library_gate(name, self.v3) {
            Some(lib) if self.b.included.is_empty() => {
                format!("add `include \"{lib}\";` after the version header")
            }
            _ => format!("define it with `gate {name} … {{ … }}` before this statement"),
        };
        QasmError::new(
            ErrorKind::Undefined,
            at,
            format!("gate `{name}` is not defined"),
            hint,
        )
    }

    /// A qubit (`quantum`) or classical operand: `name`, `name[i]`, or `$n`.
    pub(super) fn operand(&mut self, quantum: bool) -> Result<(Operand, Location)> {
        let t = self.next()?;
        match t.tok {
            Tok::Ident(name) => self.operand_named(&name, t.at, quantum),
            Tok::Physical(n) if quantum && self.v3 => {
                Ok((Operand::One(self.b.physical(n, t.at)?), t.at))
            }
            Tok::Physical(_) if quantum => Err(QasmError::new(
                ErrorKind::Version,
                t.at,
                "physical qubits (`$0`, `$1`, …) are OpenQASM 3",
                "declare `qreg q[n];` and use `q[0]`, or start the file with `OPENQASM 3.0;`",
            )),
            other => Err(QasmError::syntax(
                t.at,
                format!(
                    "expected {}, found {}",
                    if quantum {
                        "a qubit"
                    } else {
                        "a classical bit"
                    },
                    other.describe()
                ),
                if quantum {
                    "write a register `q`, a qubit `q[0]` or, in OpenQASM 3, a physical qubit `$0`"
                } else {
                    "write a classical register `c` or a bit `c[0]`"
                },
            )),
        }
    }

    /// The rest of an operand whose name was read.
    pub(super) fn operand_named(
        &mut self,
        name: &str,
        at: Location,
        quantum: bool,
    ) -> Result<(Operand, Location)> {
        let (kind, wanted) = if quantum {
            ("qubit", "a qubit")
        } else {
            ("bit", "a classical bit")
        };
        let reg = match (self.b.lookup(name), quantum) {
            (Some((Symbol::QReg(i), _)), true) => self.b.qregs.get(i),
            (Some((Symbol::CReg(i), _)), false) => self.b.cregs.get(i),
            (Some((symbol, _)), _) => {
                let is = match symbol {
                    Symbol::QReg(_) => "a quantum register",
                    Symbol::CReg(_) => "a classical register",
                    Symbol::Gate(_) => "a gate",
                };
                return Err(QasmError::new(
                    ErrorKind::Type,
                    at,
                    format!("`{name}` is {is}, but {wanted} is expected here"),
                    if quantum {
                        "gates, `reset` and `barrier` act on qubits; `measure` reads a qubit into a bit"
                    } else {
                        "measurement results and conditions use classical bits"
                    },
                ));
            }
            (None, _) => None,
        };
        let Some(reg) = reg.cloned() else {
            let decl = match (quantum, self.v3) {
                (true, true) => "`qubit[n] name;`",
                (true, false) => "`qreg name[n];`",
                (false, true) => "`bit[n] name;`",
                (false, false) => "`creg name[n];`",
            };
            return Err(QasmError::new(
                ErrorKind::Undefined,
                at,
                format!("`{name}` is not declared"),
                format!("declare it with {decl} before this statement"),
            ));
        };
        if !self.eat(Sym::LBracket)? {
            let op = if reg.scalar {
                Operand::One(reg.start)
            } else {
                Operand::Reg {
                    start: reg.start,
                    size: reg.size,
                }
            };
            return Ok((op, at));
        }
        if self.peek()?.tok == Tok::Sym(Sym::LBrace) {
            return Err(unsupported_index(
                self.peek()?.at,
                "index sets (`q[{0, 1}]`)",
            ));
        }
        let (index, index_at) = self.integer("an index")?;
        if self.peek()?.tok == Tok::Sym(Sym::Colon) {
            return Err(unsupported_index(self.peek()?.at, "ranges (`q[0:2]`)"));
        }
        self.expect(Sym::RBracket, "`]` after the index")?;
        if reg.scalar {
            return Err(QasmError::new(
                ErrorKind::Type,
                index_at,
                format!("`{name}` is a single {kind}, not a register"),
                format!("write `{name}` without an index"),
            ));
        }
        match index
            .and_then(|i| usize::try_from(i).ok())
            .filter(|&i| i < reg.size)
        {
            Some(i) => Ok((Operand::One(reg.start + i), at)),
            None => Err(QasmError::new(
                ErrorKind::IndexOutOfRange,
                index_at,
                format!(
                    "index {} is out of range: `{name}` has {} {kind}s (indices 0 to {})",
                    index.map_or_else(|| "too large".to_owned(), |i| i.to_string()),
                    reg.size,
                    reg.size - 1
                ),
                format!("use an index below {}", reg.size),
            )),
        }
    }
}

fn unsupported_index(at: Location, what: &str) -> QasmError {
    QasmError::new(
        ErrorKind::Unsupported,
        at,
        format!("{what} are not supported"),
        "index one qubit at a time, as `q[0], q[1]`, or use the whole register",
    )
}

/// The (qu)bits of an operand.
pub(super) fn qubits_of(op: Operand) -> std::ops::Range<usize> {
    match op {
        Operand::Reg { start, size } => start..start + size,
        Operand::One(q) => q..q + 1,
    }
}

fn describe_count(op: Operand, kind: &str) -> String {
    match op {
        Operand::One(_) => format!("one {kind}"),
        Operand::Reg { size, .. } => format!("a register of {size} {kind}s"),
    }
}

/// Fails unless a gate got as many parameters or qubits as it takes.
pub(super) fn check_arity(
    name: &str,
    what: &str,
    wanted: usize,
    given: usize,
    at: Location,
) -> Result<()> {
    if wanted == given {
        return Ok(());
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    Err(QasmError::new(
        ErrorKind::Arity,
        at,
        format!(
            "gate `{name}` takes {wanted} {what}{}, but {given} {} given",
            plural(wanted),
            if given == 1 { "is" } else { "are" }
        ),
        format!("give `{name}` exactly {wanted} {what}{}", plural(wanted)),
    ))
}

/// Reads a token as a condition's value: a whole number, `true` or `false`.
pub(super) fn condition_value(t: &Token) -> Option<Option<u64>> {
    match &t.tok {
        Tok::Num {
            int, integer: true, ..
        } => Some(*int),
        Tok::Ident(w) if w == "true" => Some(Some(1)),
        Tok::Ident(w) if w == "false" => Some(Some(0)),
        _ => None,
    }
}
