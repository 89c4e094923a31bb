//! One circuit payload: `CIRCUIT_HEADER_V12`, the registers, the blocks between them and the
//! instructions (`CIRCUIT_INSTRUCTION_V2`), the calibrations (before QPY 18) and the layout.

use std::collections::BTreeSet;

use super::bytes::Bytes;
use super::error::{QpyError, Result, shown};
use super::gates;
use super::{Budget, MAX_CLBITS, MAX_QUBITS, MAX_REGISTERS, key};
use crate::ir::{Circuit, Instruction, Register};

const TRANSPILE: &str = "transpile the circuit to the backend's basis gates before submitting, e.g. `transpile(circuit, backend)`";
const CONTROL_FLOW: &str =
    "submit circuits without control flow: unroll loops and drop classical feed-forward";
const CLASSICAL: &str =
    "remove classical variables, stretches and `Store` instructions from the circuit";
const CONDITION: &str = "remove the classical condition; conditioned instructions cannot run here";
const CALIBRATIONS: &str =
    "drop the circuit's pulse calibrations; Qiskit 2.0 and later no longer have them";
const SCATTERED: &str = "build classical registers from consecutive classical bits, as `ClassicalRegister(n)` added to a circuit does";

/// The fixed part of `CIRCUIT_INSTRUCTION_V2`, in bytes.
const INSTRUCTION_SIZE: usize = 33;

/// Reads circuit number `index` of the file from `r`.
pub(super) fn read(
    r: &mut Bytes<'_>,
    version: u8,
    index: usize,
    budget: &mut Budget,
) -> Result<Circuit> {
    let reading = "a circuit header";
    let name_size = r.u16(reading)?;
    let phase_type = r.u8(reading)?;
    let phase_size = r.u16(reading)?;
    let num_qubits = r.u32(reading)?;
    let num_clbits = r.u32(reading)?;
    let metadata_size = r.u64(reading)?;
    let num_registers = r.u32(reading)?;
    let num_instructions = r.u64(reading)?;
    let num_vars = r.u32(reading)?;
    if u64::from(num_qubits) > MAX_QUBITS {
        return Err(too_large("qubits", num_qubits.into(), MAX_QUBITS));
    }
    if u64::from(num_clbits) > MAX_CLBITS {
        return Err(too_large("classical bits", num_clbits.into(), MAX_CLBITS));
    }
    if num_instructions > budget.instructions {
        return Err(too_large(
            "instructions",
            num_instructions,
            super::MAX_INSTRUCTIONS,
        ));
    }
    let (num_qubits, num_clbits) = (num_qubits as usize, num_clbits as usize);
    r.take(usize::from(name_size), "the circuit's name")?;
    let phase_at = r.offset();
    let phase = r.take(usize::from(phase_size), "the circuit's global phase")?;
    check_phase(phase_type, phase, phase_at, index)?;
    r.slice(metadata_size, "the circuit's metadata")?;

    let n = r.count(num_registers.into(), 9, "registers", MAX_REGISTERS)?;
    let mut cregs = Vec::new();
    for _ in 0..n {
        let reg = register(r, version)?;
        if let Some(creg) = reg.checked(num_qubits, num_clbits, index)? {
            cregs.push(creg);
        }
    }
    if num_vars > 0 {
        return Err(QpyError::Unsupported {
            circuit: index,
            instruction: None,
            name: "classical variables".into(),
            reason: format!(
                "the circuit declares {num_vars} classical variables or stretches, which the simulator does not run"
            ),
            hint: CLASSICAL,
        });
    }
    if version >= 15 {
        skip_annotation_states(r)?;
    }
    if version >= 18 {
        skip_parameter_vectors(r)?;
    }
    let custom = custom_names(r)?;

    let n = r.count(
        num_instructions,
        INSTRUCTION_SIZE,
        "instructions",
        budget.instructions,
    )?;
    budget.instructions = budget.instructions.saturating_sub(num_instructions);
    let shape = Shape {
        circuit: index,
        version,
        num_qubits,
        num_clbits,
    };
    let mut instructions = Vec::with_capacity(n);
    for i in 0..n {
        let pack = instruction(r, &shape, i)?;
        lower(&pack, &shape, i, &custom, &mut instructions)?;
    }

    if version < 18 {
        let at = r.offset();
        let calibrations = r.u16("the calibrations block")?;
        if calibrations > 0 {
            return Err(QpyError::Unsupported {
                circuit: index,
                instruction: None,
                name: format!("calibrations (byte {at})"),
                reason: format!("the circuit carries {calibrations} pulse calibrations"),
                hint: CALIBRATIONS,
            });
        }
    }
    skip_layout(r, version)?;
    Ok(Circuit {
        num_qubits,
        num_clbits,
        cregs,
        instructions,
    })
}

fn too_large(what: &'static str, count: u64, limit: u64) -> QpyError {
    QpyError::TooLarge { what, count, limit }
}

/// The global phase: a number (kept nowhere: it changes no measured probability), or a symbol.
fn check_phase(kind: u8, data: &[u8], at: usize, circuit: usize) -> Result<()> {
    match (kind, <[u8; 8]>::try_from(data)) {
        (b'f', Ok(b)) if f64::from_be_bytes(b).is_finite() => Ok(()),
        (b'i', Ok(_)) => Ok(()),
        (b'p' | b'e' | b'v', _) => Err(QpyError::Symbolic {
            circuit,
            instruction: None,
            name: "global phase".into(),
        }),
        _ => Err(QpyError::Malformed {
            offset: at,
            message: format!(
                "the global phase is of type {} and {} bytes long, expected a finite 8-byte float or integer",
                key(kind),
                data.len()
            ),
        }),
    }
}

/// Where a register's bits are in the circuit.
#[derive(Debug, Clone, Copy)]
enum Bits<'a> {
    /// Bits `start..start + size` (QPY 18's contiguous form).
    From(u32),
    /// One index per bit: `i64` with −1 for "not in the circuit" before QPY 18, `u32` with
    /// `u32::MAX` from 18.
    Listed(&'a [u8], usize),
}

/// A `REGISTER` (`REGISTER_V4` before QPY 18).
#[derive(Debug, Clone, Copy)]
struct RegisterPack<'a> {
    at: usize,
    kind: u8,
    in_circuit: bool,
    size: u32,
    name: &'a [u8],
    bits: Bits<'a>,
}

fn register<'a>(r: &mut Bytes<'a>, version: u8) -> Result<RegisterPack<'a>> {
    let reading = "a register";
    let at = r.offset();
    let kind = r.u8(reading)?;
    let _standalone = r.u8(reading)?;
    let size = r.u32(reading)?;
    let name_size = r.u16(reading)?;
    let in_circuit = r.u8(reading)? != 0;
    let attachment = if version >= 18 {
        Some(r.u8(reading)?)
    } else {
        None
    };
    let name = r.take(usize::from(name_size), "a register's name")?;
    let bits = match attachment {
        None => Bits::Listed(r.slice(u64::from(size) * 8, "a register's bits")?, 8),
        Some(0) => Bits::Listed(r.slice(u64::from(size) * 4, "a register's bits")?, 4),
        Some(1) => Bits::From(r.u32("a register's first bit")?),
        Some(other) => {
            return Err(QpyError::Malformed {
                offset: at,
                message: format!(
                    "register `{}` has bit layout {other}, expected 0 (listed) or 1 (consecutive)",
                    shown(&String::from_utf8_lossy(name))
                ),
            });
        }
    };
    if !matches!(kind, b'q' | b'c') {
        return Err(QpyError::Malformed {
            offset: at,
            message: format!("a register is of type {}, expected `q` or `c`", key(kind)),
        });
    }
    Ok(RegisterPack {
        at,
        kind,
        in_circuit,
        size,
        name,
        bits,
    })
}

impl RegisterPack<'_> {
    /// The circuit bit behind register bit `j` (`None`: not in the circuit).
    fn bit(&self, j: u32) -> Option<u64> {
        match self.bits {
            Bits::From(start) => Some(u64::from(start).saturating_add(j.into())),
            Bits::Listed(raw, width) => {
                let at = (j as usize).checked_mul(width)?;
                let chunk = raw.get(at..at.checked_add(width)?)?;
                if let Ok(wide) = <[u8; 8]>::try_from(chunk) {
                    u64::try_from(i64::from_be_bytes(wide)).ok()
                } else {
                    let narrow = u32::from_be_bytes(<[u8; 4]>::try_from(chunk).ok()?);
                    (narrow != u32::MAX).then_some(narrow.into())
                }
            }
        }
    }

    /// Checks a register of the circuit, and returns it as an IR register if it is a classical
    /// register in the circuit.
    fn checked(
        &self,
        num_qubits: usize,
        num_clbits: usize,
        circuit: usize,
    ) -> Result<Option<Register>> {
        if !self.in_circuit {
            return Ok(None);
        }
        let name = std::str::from_utf8(self.name).map_err(|_| QpyError::Malformed {
            offset: self.at,
            message: "a register's name is not UTF-8".into(),
        })?;
        let classical = self.kind == b'c';
        let bound = if classical { num_clbits } else { num_qubits };
        let mut first = None;
        for j in 0..self.size {
            let bit = self.bit(j).and_then(|b| usize::try_from(b).ok());
            let Some(bit) = bit.filter(|&b| b < bound) else {
                return Err(QpyError::Malformed {
                    offset: self.at,
                    message: format!(
                        "bit {j} of register `{}` is not one of the circuit's {bound} {}",
                        shown(name),
                        if classical {
                            "classical bits"
                        } else {
                            "qubits"
                        }
                    ),
                });
            };
            let start = *first.get_or_insert(bit);
            if classical && Some(bit) != start.checked_add(j as usize) {
                return Err(QpyError::Unsupported {
                    circuit,
                    instruction: None,
                    name: format!("classical register {}", shown(name)),
                    reason: format!(
                        "its bit {j} is the circuit's classical bit {bit}, not {}: the register is not a run of consecutive bits",
                        start.saturating_add(j as usize)
                    ),
                    hint: SCATTERED,
                });
            }
        }
        Ok(classical.then(|| Register {
            name: name.to_owned(),
            start: first.unwrap_or(0),
            size: self.size as usize,
        }))
    }
}

/// `ANNOTATION_HEADER`: the annotation namespaces' serialised states (QPY 15 and later).
fn skip_annotation_states(r: &mut Bytes<'_>) -> Result<()> {
    let reading = "the annotation states";
    let n = r.u32(reading)?;
    let n = r.count(n.into(), 12, reading, u64::MAX)?;
    for _ in 0..n {
        let namespace = r.u32(reading)?;
        let state = r.u64(reading)?;
        r.slice(namespace.into(), reading)?;
        r.slice(state, reading)?;
    }
    Ok(())
}

/// The parameter vectors the circuit's parameters belong to (QPY 18 and later).
fn skip_parameter_vectors(r: &mut Bytes<'_>) -> Result<()> {
    let reading = "the parameter-vector table";
    let n = r.u16(reading)?;
    let n = r.count(n.into(), 26, reading, u64::MAX)?;
    for _ in 0..n {
        let name = r.u16(reading)?;
        r.u64(reading)?; // The vector's size.
        r.take(16, reading)?; // Its UUID.
        r.take(usize::from(name), reading)?;
    }
    Ok(())
}

/// `CUSTOM_DEFINITION`s: the names of the custom instructions the circuit defines (their
/// definitions are skipped: an instruction using one is refused).
fn custom_names(r: &mut Bytes<'_>) -> Result<BTreeSet<Vec<u8>>> {
    let reading = "the custom instruction definitions";
    let n = r.u64(reading)?;
    let n = r.count(n, 36, reading, u64::MAX)?;
    let mut names = BTreeSet::new();
    for _ in 0..n {
        let name_size = r.u16(reading)?;
        r.u8(reading)?; // Type.
        r.u32(reading)?; // Qubits.
        r.u32(reading)?; // Classical bits.
        r.u8(reading)?; // Whether a definition follows.
        let size = r.u64(reading)?;
        r.u32(reading)?; // Control qubits.
        r.u32(reading)?; // Control state.
        let base_size = r.u64(reading)?;
        let name = r.take(usize::from(name_size), reading)?;
        r.slice(size, reading)?;
        r.slice(base_size, reading)?;
        names.insert(name.to_vec());
    }
    Ok(names)
}

/// What an instruction is checked against.
#[derive(Debug)]
struct Shape {
    circuit: usize,
    version: u8,
    num_qubits: usize,
    num_clbits: usize,
}

/// A parameter: a number, a symbol, or a value of another type (its key).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Param {
    Number(f64),
    Symbolic,
    Other(u8),
}

/// A `CIRCUIT_INSTRUCTION_V2` with its operands and parameters.
#[derive(Debug)]
struct InstructionPack<'a> {
    name: &'a str,
    num_ctrl_qubits: u32,
    ctrl_state: u32,
    condition: u8,
    qubits: Vec<usize>,
    clbits: Vec<usize>,
    params: Vec<Param>,
}

fn instruction<'a>(r: &mut Bytes<'a>, shape: &Shape, index: usize) -> Result<InstructionPack<'a>> {
    let reading = "an instruction";
    let at = r.offset();
    let name_size = r.u16(reading)?;
    let label_size = r.u16(reading)?;
    let num_params = r.u16(reading)?;
    let num_qargs = r.u32(reading)?;
    let num_cargs = r.u32(reading)?;
    let extras = r.u8(reading)?;
    let condition_size = r.u16(reading)?;
    let _condition_value = r.i64(reading)?;
    let num_ctrl_qubits = r.u32(reading)?;
    let ctrl_state = r.u32(reading)?;
    let name = r.take(usize::from(name_size), "an instruction's name")?;
    let name = std::str::from_utf8(name).map_err(|_| QpyError::Malformed {
        offset: at,
        message: format!("the name of instruction {index} is not UTF-8"),
    })?;
    r.take(usize::from(label_size), "an instruction's label")?;
    let condition = extras & 0b11;
    match condition {
        0 => {}
        1 => {
            r.take(usize::from(condition_size), "an instruction's condition")?;
        }
        2 => {
            r.typed_value("an instruction's condition")?;
        }
        _ => {
            return Err(QpyError::Malformed {
                offset: at,
                message: format!("instruction {index} has condition type 3, expected 0, 1 or 2"),
            });
        }
    }
    let bad = |message: String| QpyError::BadInstruction {
        circuit: shape.circuit,
        instruction: index,
        name: shown(name),
        message,
    };
    let operands = u64::from(num_qargs) + u64::from(num_cargs);
    let operands = r.count(operands, 5, "an instruction's operands", u64::MAX)?;
    let mut qubits = Vec::with_capacity(num_qargs as usize);
    let mut clbits = Vec::with_capacity(operands.saturating_sub(qubits.capacity()));
    for k in 0..operands {
        let kind = r.u8("an instruction's operands")?;
        let bit = r.u32("an instruction's operands")? as usize;
        let quantum = k < num_qargs as usize;
        match (kind, quantum) {
            (b'q', true) if bit < shape.num_qubits => qubits.push(bit),
            (b'c', false) if bit < shape.num_clbits => clbits.push(bit),
            (b'q', true) => {
                return Err(bad(format!(
                    "qubit {bit} is out of range (the circuit has {} qubits)",
                    shape.num_qubits
                )));
            }
            (b'c', false) => {
                return Err(bad(format!(
                    "classical bit {bit} is out of range (the circuit has {} classical bits)",
                    shape.num_clbits
                )));
            }
            _ => {
                return Err(bad(format!(
                    "operand {k} is of type {}, expected {}",
                    key(kind),
                    if quantum {
                        "`q` (its qubits come first)"
                    } else {
                        "`c`"
                    }
                )));
            }
        }
    }
    let n = r.count(
        num_params.into(),
        9,
        "an instruction's parameters",
        u64::MAX,
    )?;
    let mut params = Vec::with_capacity(n);
    for k in 0..n {
        let (kind, data) = r.typed_value("an instruction's parameters")?;
        let param = number(kind, data, shape.version).map_err(|len| {
            bad(format!(
                "parameter {k} is a number of {len} bytes, expected 8"
            ))
        })?;
        params.push(param);
    }
    if extras & 0b1000_0000 != 0 {
        let reading = "an instruction's annotations";
        let n = r.u32(reading)?;
        let n = r.count(n.into(), 12, reading, u64::MAX)?;
        for _ in 0..n {
            r.u32(reading)?; // The namespace.
            let size = r.u64(reading)?;
            r.slice(size, reading)?;
        }
    }
    Ok(InstructionPack {
        name,
        num_ctrl_qubits,
        ctrl_state,
        condition,
        qubits,
        clbits,
        params,
    })
}

/// A parameter's value. Up to QPY 17, integer and float instruction parameters are
/// little-endian (unlike every other number in the format); from 18 they are big-endian.
/// `Err(len)`: a number of the wrong size.
fn number(kind: u8, data: &[u8], version: u8) -> std::result::Result<Param, usize> {
    let eight = || <[u8; 8]>::try_from(data).map_err(|_| data.len());
    Ok(match kind {
        b'f' if version <= 17 => Param::Number(f64::from_le_bytes(eight()?)),
        b'f' => Param::Number(f64::from_be_bytes(eight()?)),
        b'i' if version <= 17 => Param::Number(i64::from_le_bytes(eight()?) as f64),
        b'i' => Param::Number(i64::from_be_bytes(eight()?) as f64),
        b'p' | b'e' | b'v' => Param::Symbolic,
        other => Param::Other(other),
    })
}

/// The IR for one instruction, appended to `out`.
fn lower(
    pack: &InstructionPack<'_>,
    shape: &Shape,
    index: usize,
    custom: &BTreeSet<Vec<u8>>,
    out: &mut Vec<Instruction>,
) -> Result<()> {
    let name = shown(pack.name);
    let unsupported = |reason: String, hint: &'static str| QpyError::Unsupported {
        circuit: shape.circuit,
        instruction: Some(index),
        name: name.clone(),
        reason,
        hint,
    };
    let bad = |message: String| QpyError::BadInstruction {
        circuit: shape.circuit,
        instruction: index,
        name: name.clone(),
        message,
    };
    let arity = |qubits: usize, clbits: usize| {
        if pack.qubits.len() == qubits && pack.clbits.len() == clbits {
            Ok(())
        } else {
            Err(bad(format!(
                "it acts on {} qubits and {} classical bits, expected {qubits} and {clbits}",
                pack.qubits.len(),
                pack.clbits.len()
            )))
        }
    };
    let symbolic = || QpyError::Symbolic {
        circuit: shape.circuit,
        instruction: Some(index),
        name: name.clone(),
    };
    if gates::is_control_flow(pack.name) {
        return Err(unsupported(
            "control flow is not supported".into(),
            CONTROL_FLOW,
        ));
    }
    if pack.name == "Store" {
        return Err(unsupported(
            "classical assignments are not supported".into(),
            CLASSICAL,
        ));
    }
    if pack.condition != 0 {
        return Err(unsupported(
            "it runs under a classical condition, which is not supported".into(),
            CONDITION,
        ));
    }
    if custom.contains(pack.name.as_bytes()) {
        return Err(unsupported(
            "it is a custom instruction defined in the file, which the simulator does not expand"
                .into(),
            TRANSPILE,
        ));
    }
    match pack.name {
        "Measure" => {
            arity(1, 1)?;
            if let (Some(&qubit), Some(&clbit)) = (pack.qubits.first(), pack.clbits.first()) {
                out.push(Instruction::Measure { qubit, clbit });
            }
        }
        "Reset" => {
            arity(1, 0)?;
            if let Some(&qubit) = pack.qubits.first() {
                out.push(Instruction::Reset { qubit });
            }
        }
        "Barrier" => {
            arity(pack.qubits.len(), 0)?;
            distinct(&pack.qubits).map_err(|q| bad(format!("qubit {q} appears twice")))?;
            out.push(Instruction::Barrier {
                qubits: pack.qubits.clone(),
            });
        }
        // Idling changes nothing an ideal or calibration-noise simulation measures.
        "Delay" => arity(1, 0)?,
        "GlobalPhaseGate" => {
            arity(0, 0)?;
            match pack.params.as_slice() {
                [Param::Number(v)] if v.is_finite() => {}
                [Param::Symbolic] => return Err(symbolic()),
                _ => return Err(bad("expected one finite phase".into())),
            }
        }
        class => {
            let Some(standard) = gates::standard(class) else {
                return Err(unsupported(
                    format!("the simulator has no gate `{name}`"),
                    TRANSPILE,
                ));
            };
            let mut angles = Vec::with_capacity(pack.params.len());
            for (k, p) in pack.params.iter().enumerate() {
                match *p {
                    Param::Number(v) if v.is_finite() => angles.push(v),
                    Param::Number(v) => return Err(bad(format!("parameter {k} is {v}"))),
                    Param::Symbolic => return Err(symbolic()),
                    Param::Other(kind) => {
                        return Err(bad(format!(
                            "parameter {k} is of type {}, expected a number",
                            key(kind)
                        )));
                    }
                }
            }
            if angles.len() != standard.params {
                return Err(bad(format!(
                    "it has {} parameters, expected {}",
                    angles.len(),
                    standard.params
                )));
            }
            let gate = standard.gate(&angles);
            arity(gate.num_qubits(), 0)?;
            distinct(&pack.qubits).map_err(|q| bad(format!("qubit {q} appears twice")))?;
            let (n, state) = (pack.num_ctrl_qubits, pack.ctrl_state);
            let closed = n == standard.controls
                && n < 32
                && u64::from(state) == (1u64 << n).saturating_sub(1);
            if !(closed || (n, state) == (0, 0)) {
                return Err(unsupported(
                    format!(
                        "it is controlled on {n} qubits in state {state:#b}, but the simulator's `{}` has {} control(s), all on |1⟩",
                        gate.name(),
                        standard.controls
                    ),
                    TRANSPILE,
                ));
            }
            out.push(Instruction::Gate {
                gate,
                qubits: pack.qubits.clone(),
            });
        }
    }
    Ok(())
}

/// `Err(q)` for the first qubit that appears twice.
fn distinct(qubits: &[usize]) -> std::result::Result<(), usize> {
    let mut seen = BTreeSet::new();
    match qubits.iter().find(|q| !seen.insert(**q)) {
        Some(&q) => Err(q),
        None => Ok(()),
    }
}

/// `LAYOUT` (v2): the transpiler's layout, which the simulator does not need (the instructions
/// are already on the circuit's qubits).
fn skip_layout(r: &mut Bytes<'_>, version: u8) -> Result<()> {
    let reading = "the circuit's layout";
    r.u8(reading)?; // Whether there is a layout.
    let initial = r.i32(reading)?;
    let input_mapping = r.i32(reading)?;
    let final_layout = r.i32(reading)?;
    let extra_registers = r.u32(reading)?;
    r.i32(reading)?; // Input qubit count.
    let n = r.count(extra_registers.into(), 9, reading, MAX_REGISTERS)?;
    for _ in 0..n {
        register(r, version)?;
    }
    let size = |v: i32| u64::try_from(v).unwrap_or(0);
    let n = r.count(size(initial), 4, reading, u64::MAX)?;
    for _ in 0..n {
        let index = r.i32(reading)?;
        // An anonymous qubit is one −1 from QPY 18, two before.
        if index < 0 && version >= 18 {
            continue;
        }
        let name_size = r.i32(reading)?;
        r.slice(size(name_size), reading)?;
    }
    let n = r.count(size(input_mapping), 4, reading, u64::MAX)?;
    r.take(n.saturating_mul(4), reading)?;
    let n = r.count(size(final_layout), 4, reading, u64::MAX)?;
    r.take(n.saturating_mul(4), reading)?;
    Ok(())
}
