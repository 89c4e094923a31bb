//! What the parser has declared so far, and the circuit it is building: registers, gates,
//! instructions, and the accounting that keeps them within the [`Limits`].

use std::collections::HashMap;

use super::Limits;
use super::error::{ErrorKind, Limit, Location, QasmError, Result};
use super::expr::Node;
use super::library::Prim;
use crate::ir::{Circuit, Condition, Instruction, Register};

/// What a name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Symbol {
    /// A quantum register (index into `Builder::qregs`).
    QReg(usize),
    /// A classical register (index into `Builder::cregs`).
    CReg(usize),
    /// A gate (index into `Builder::gates`).
    Gate(usize),
}

/// Where a name was declared: in the source, or in a built-in library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    Source(Location),
    Library(&'static str),
}

impl Origin {
    fn describe(self) -> String {
        match self {
            Origin::Source(at) => format!("at {at}"),
            Origin::Library(lib) => format!("in {lib}"),
        }
    }
}

/// A register: its first bit, size, and whether it was declared as a single `qubit q;`/`bit c;`.
#[derive(Debug, Clone)]
pub(super) struct Reg {
    pub(super) name: String,
    pub(super) start: usize,
    pub(super) size: usize,
    pub(super) scalar: bool,
}

/// One statement of a gate definition's body, on the gate's formal qubits (by position).
#[derive(Debug, Clone)]
pub(super) enum BodyOp {
    Call {
        gate: usize,
        params: Vec<Node>,
        qubits: Vec<usize>,
    },
    Barrier {
        qubits: Vec<usize>,
    },
}

/// How a gate runs.
#[derive(Debug, Clone)]
pub(super) enum GateBody {
    Prim(Prim),
    Ops(Vec<BodyOp>),
    Opaque,
}

/// A gate: built in, from a library, or defined in the source.
#[derive(Debug, Clone)]
pub(super) struct GateDef {
    pub(super) name: String,
    pub(super) params: usize,
    pub(super) qubits: usize,
    pub(super) body: GateBody,
    /// How many instructions one application emits (saturating).
    pub(super) count: u64,
    /// How many qubits its barriers list, in total (saturating): see [`Limits::max_instructions`].
    pub(super) extra: u64,
    /// How deeply gate definitions nest inside it (a primitive is 0).
    pub(super) depth: usize,
    pub(super) origin: Origin,
}

impl GateDef {
    /// A library or built-in gate that runs as a primitive.
    pub(super) fn primitive(name: &str, prim: Prim, origin: Origin) -> GateDef {
        GateDef {
            name: name.to_owned(),
            params: prim.params(),
            qubits: prim.qubits(),
            body: GateBody::Prim(prim),
            count: 1,
            extra: 0,
            depth: 0,
            origin,
        }
    }
}

/// A problem found while expanding a gate: where, inside which gate, and what.
struct ExpandError {
    gate: String,
    at: Location,
    message: String,
}

/// The parser's declarations and the circuit so far.
pub(super) struct Builder {
    pub(super) limits: Limits,
    symbols: HashMap<String, (Symbol, Origin)>,
    pub(super) qregs: Vec<Reg>,
    pub(super) cregs: Vec<Reg>,
    pub(super) gates: Vec<GateDef>,
    num_qubits: usize,
    num_clbits: usize,
    /// Where the first qubit declaration is, if any.
    declared_at: Option<Location>,
    /// Where the first physical qubit is used, and the highest one used.
    physical: Option<(Location, usize)>,
    instructions: Vec<Instruction>,
    /// What the instructions weigh against `limits.max_instructions`.
    used: u64,
    /// Instructions that are `barrier;` over every qubit, completed by `finish`.
    barrier_all: Vec<usize>,
    /// The libraries included, and where.
    pub(super) included: Vec<(&'static str, Location)>,
}

impl Builder {
    pub(super) fn new(limits: Limits) -> Builder {
        Builder {
            limits,
            symbols: HashMap::new(),
            qregs: Vec::new(),
            cregs: Vec::new(),
            gates: Vec::new(),
            num_qubits: 0,
            num_clbits: 0,
            declared_at: None,
            physical: None,
            instructions: Vec::new(),
            used: 0,
            barrier_all: Vec::new(),
            included: Vec::new(),
        }
    }

    /// What `name` is, if declared.
    pub(super) fn lookup(&self, name: &str) -> Option<(Symbol, Origin)> {
        self.symbols.get(name).copied()
    }

    /// The gate behind index `g`.
    pub(super) fn gate(&self, g: usize) -> Option<&GateDef> {
        self.gates.get(g)
    }

    /// Fails if `name` is already declared.
    pub(super) fn check_new(&self, name: &str, at: Location) -> Result<()> {
        let Some((symbol, origin)) = self.lookup(name) else {
            return Ok(());
        };
        let what = match symbol {
            Symbol::QReg(_) => "a quantum register",
            Symbol::CReg(_) => "a classical register",
            Symbol::Gate(_) => "a gate",
        };
        Err(QasmError::new(
            ErrorKind::Duplicate,
            at,
            format!(
                "`{name}` is already declared, as {what} {}",
                origin.describe()
            ),
            "choose another name",
        ))
    }

    /// Declares a register of `size` qubits (`quantum`) or bits, checking the limits before
    /// anything is allocated.
    pub(super) fn declare_reg(
        &mut self,
        quantum: bool,
        name: &str,
        size: Option<u64>,
        scalar: bool,
        at: Location,
    ) -> Result<()> {
        self.check_new(name, at)?;
        let (kind, limit, max, used) = if quantum {
            (
                "qubits",
                Limit::Qubits,
                self.limits.max_qubits,
                self.num_qubits,
            )
        } else {
            (
                "classical bits",
                Limit::Clbits,
                self.limits.max_clbits,
                self.num_clbits,
            )
        };
        let size = match size {
            Some(0) => {
                return Err(QasmError::new(
                    ErrorKind::Type,
                    at,
                    format!("register `{name}` has no {kind}"),
                    "declare at least one",
                ));
            }
            Some(s) => usize::try_from(s).ok(),
            None => None,
        };
        let total = size.and_then(|s| s.checked_add(used)).filter(|&t| t <= max);
        let (Some(size), Some(total)) = (size, total) else {
            return Err(QasmError::limit(
                limit,
                at,
                format!(
                    "declaring `{name}` would make more than {max} {kind} (the limit; {used} declared before it)"
                ),
            ));
        };
        if quantum {
            if let Some((physical_at, _)) = self.physical {
                return Err(mixed(at, physical_at));
            }
            self.declared_at.get_or_insert(at);
        }
        let reg = Reg {
            name: name.to_owned(),
            start: used,
            size,
            scalar,
        };
        let origin = Origin::Source(at);
        if quantum {
            self.symbols
                .insert(name.to_owned(), (Symbol::QReg(self.qregs.len()), origin));
            self.qregs.push(reg);
            self.num_qubits = total;
        } else {
            self.symbols
                .insert(name.to_owned(), (Symbol::CReg(self.cregs.len()), origin));
            self.cregs.push(reg);
            self.num_clbits = total;
        }
        Ok(())
    }

    /// Adds a gate (its name checked by the caller with [`Builder::check_new`]).
    pub(super) fn define_gate(&mut self, def: GateDef) {
        self.symbols.insert(
            def.name.clone(),
            (Symbol::Gate(self.gates.len()), def.origin),
        );
        self.gates.push(def);
    }

    /// The qubit behind physical qubit `$n`.
    pub(super) fn physical(&mut self, n: Option<u64>, at: Location) -> Result<usize> {
        if let Some(declared_at) = self.declared_at {
            return Err(mixed(at, declared_at));
        }
        let max = self.limits.max_qubits;
        let Some(q) = n.and_then(|n| usize::try_from(n).ok()).filter(|&q| q < max) else {
            return Err(QasmError::limit(
                Limit::Qubits,
                at,
                format!("this physical qubit is beyond the limit of {max} qubits"),
            ));
        };
        let highest = self.physical.map_or(q, |(_, h)| h.max(q));
        let first = self.physical.map_or(at, |(a, _)| a);
        self.physical = Some((first, highest));
        Ok(q)
    }

    /// Fails unless `weight` more fits under [`Limits::max_instructions`].
    fn reserve(&mut self, weight: u64, at: Location) -> Result<()> {
        let max = self.limits.max_instructions;
        match self.used.checked_add(weight).filter(|&w| w <= max) {
            Some(w) => {
                self.used = w;
                Ok(())
            }
            None => Err(QasmError::limit(
                Limit::Instructions,
                at,
                format!(
                    "this statement takes the circuit past {max} instructions after expansion (the limit; {} before it)",
                    self.instructions.len()
                ),
            )),
        }
    }

    /// Appends one instruction (measure, reset, barrier), under `cond` if given.
    pub(super) fn push(
        &mut self,
        inst: Instruction,
        cond: Option<&Condition>,
        at: Location,
    ) -> Result<()> {
        let extra = match &inst {
            Instruction::Barrier { qubits } => qubits.len() as u64,
            _ => 0,
        };
        let bits = cond.map_or(0, |c| c.clbits.len() as u64);
        self.reserve(extra.saturating_add(bits).saturating_add(1), at)?;
        self.instructions.push(wrap(inst, cond));
        Ok(())
    }

    /// Appends a `barrier;` over every qubit of the circuit.
    pub(super) fn push_barrier_all(&mut self, at: Location) -> Result<()> {
        let all = self.limits.max_qubits as u64;
        self.reserve(all.saturating_add(1), at)?;
        self.barrier_all.push(self.instructions.len());
        self.instructions
            .push(Instruction::Barrier { qubits: Vec::new() });
        Ok(())
    }

    /// Applies gate `g` to `qubits` (distinct, checked by the caller), expanding definitions,
    /// after checking that everything it expands to fits under the instruction limit.
    pub(super) fn apply(
        &mut self,
        g: usize,
        params: &[f64],
        qubits: &[usize],
        cond: Option<&Condition>,
        at: Location,
    ) -> Result<()> {
        let Some(def) = self.gates.get(g) else {
            return Err(internal(at, "unknown gate index"));
        };
        let bits = cond.map_or(0, |c| c.clbits.len() as u64);
        let weight = def
            .count
            .saturating_mul(bits.saturating_add(1))
            .saturating_add(def.extra);
        self.reserve(weight, at)?;
        expand(&self.gates, &mut self.instructions, g, params, qubits, cond).map_err(|e| {
            QasmError::new(
                ErrorKind::Math,
                at,
                format!(
                    "in the expansion of gate `{}`, {} (at {} in its definition)",
                    e.gate, e.message, e.at
                ),
                "give the gate parameters for which its angles are finite",
            )
        })
    }

    /// The circuit.
    pub(super) fn finish(mut self) -> Circuit {
        let num_qubits = match self.physical {
            Some((_, highest)) => highest + 1,
            None => self.num_qubits,
        };
        for &i in &self.barrier_all {
            if let Some(Instruction::Barrier { qubits }) = self.instructions.get_mut(i) {
                *qubits = (0..num_qubits).collect();
            }
        }
        Circuit {
            num_qubits,
            num_clbits: self.num_clbits,
            cregs: self
                .cregs
                .into_iter()
                .map(|r| Register {
                    name: r.name,
                    start: r.start,
                    size: r.size,
                })
                .collect(),
            instructions: self.instructions,
        }
    }
}

/// `inst`, under `cond` if given.
fn wrap(inst: Instruction, cond: Option<&Condition>) -> Instruction {
    match cond {
        Some(c) => Instruction::Conditional {
            condition: c.clone(),
            instruction: Box::new(inst),
        },
        None => inst,
    }
}

/// Emits gate `g` on `qubits` into `out`, recursively (as deep as [`Limits::max_gate_depth`]).
fn expand(
    gates: &[GateDef],
    out: &mut Vec<Instruction>,
    g: usize,
    params: &[f64],
    qubits: &[usize],
    cond: Option<&Condition>,
) -> std::result::Result<(), ExpandError> {
    let Some(def) = gates.get(g) else {
        return Ok(());
    };
    let ops = match &def.body {
        GateBody::Prim(p) => {
            let inst = Instruction::Gate {
                gate: p.gate(params),
                qubits: qubits.to_vec(),
            };
            out.push(wrap(inst, cond));
            return Ok(());
        }
        GateBody::Opaque => return Ok(()),
        GateBody::Ops(ops) => ops,
    };
    let actual = |formal: &[usize]| -> Vec<usize> {
        formal
            .iter()
            .filter_map(|&i| qubits.get(i).copied())
            .collect()
    };
    for op in ops {
        match op {
            BodyOp::Barrier { qubits: formal } => {
                let inst = Instruction::Barrier {
                    qubits: actual(formal),
                };
                out.push(inst);
            }
            BodyOp::Call {
                gate,
                params: exprs,
                qubits: formal,
            } => {
                let mut values = Vec::with_capacity(exprs.len());
                for e in exprs {
                    let v = e.eval(params).map_err(|m| ExpandError {
                        gate: def.name.clone(),
                        at: m.at,
                        message: m.message,
                    })?;
                    values.push(v);
                }
                expand(gates, out, *gate, &values, &actual(formal), cond)?;
            }
        }
    }
    Ok(())
}

fn mixed(at: Location, other: Location) -> QasmError {
    QasmError::new(
        ErrorKind::Type,
        at,
        format!(
            "physical qubits (`$0`, `$1`, …) and declared qubits cannot be mixed (the other kind is used at {other})"
        ),
        "use either physical qubits only, or declared registers only",
    )
}

fn internal(at: Location, what: &str) -> QasmError {
    QasmError::new(
        ErrorKind::Syntax,
        at,
        format!("internal error in the OpenQASM front end: {what}"),
        "report this program to the qwarden developers",
    )
}
