//! IonQ's JSON circuits → [`Circuit`]: the `input` of an `ionq.circuit.v1` job (API v0.4, as
//! qiskit-ionq 1.1 submits it) or of the older `ionq.circuit.v0` format.
//!
//! # What it reads
//!
//! A job body (`{"type": "ionq.circuit.v1", "input": {…}, …}`) or its `input` alone:
//! `{"format"?: "ionq.circuit.v0", "gateset"?: "qis" | "native", "qubits": N, "circuit": [gate, …]}`.
//! Each gate is an object with `gate`, its qubits as `targets` (an array) or `target` (one index),
//! optional `controls` / `control`, and its parameters. Gates run in array order; qubit `i` is IR
//! qubit `i`. Fields a gate does not use are ignored.
//!
//! **`qis`** (IonQ's abstract gate set; angles in radians):
//!
//! | gate | IR gate | with one control | with two controls |
//! |---|---|---|---|
//! | `x`, `not`, `cnot` | `X` | `CX` | `CCX` |
//! | `y` | `Y` | `CY` | – |
//! | `z` | `Z` (with a `rotation` θ: `P(θ)`, as qiskit-ionq sends `p`) | `CZ` (`CP(θ)`) | – |
//! | `h` | `H` | `CH` | – |
//! | `s`, `si` | `S`, `Sdg` | `CP(±π/2)` | – |
//! | `t`, `ti` | `T`, `Tdg` | `CP(±π/4)` | – |
//! | `v`, `vi` (√X and its inverse) | `SX`, `SXdg` | `CU` with the matching global phase | – |
//! | `rx`, `ry`, `rz` (`rotation`) | `RX`, `RY`, `RZ` | `CRX`, `CRY`, `CRZ` | – |
//! | `swap` (two targets) | `Swap` | `CSwap` | – |
//! | `xx`, `yy`, `zz` (two targets, `rotation`) | `RXX`, `RYY`, `RZZ` | – | – |
//!
//! `cnot` needs a control. A controlled gate is the exact controlled unitary (its relative phase
//! included), so `s` with a control is `CP(π/2)`, not `CS` up to a phase. More controls than the
//! table shows, and `pauliexp` (a Pauli-sum evolution that IonQ synthesises itself), are refused:
//! the IR has no exact form for them.
//!
//! **`native`** (IonQ's hardware gates; phases in turns, `1` turn = 2π): `gpi` (`phase`) is
//! `U(π, 2πφ, π − 2πφ)`, `gpi2` (`phase`) is `U(π/2, 2πφ − π/2, π/2 − 2πφ)`, `ms` (two targets,
//! `phases: [φ0, φ1]`, optional `angle` θ, default 0.25) is `exp(−iπθ σ(φ0) ⊗ σ(φ1))` with
//! `σ(φ) = cos(2πφ) X + sin(2πφ) Y`, emitted as `RZ(−2πφ0)`, `RZ(−2πφ1)`, `RXX(2πθ)`, `RZ(2πφ0)`,
//! `RZ(2πφ1)`, and `zz` (two targets, `angle` θ) is `RZZ(2πθ)`. All four equal the matrices of
//! IonQ's native-gate guide and qiskit-ionq's `ionq_gates.py` exactly, global phase included.
//! Phases must lie in `[−1, 1]` and an `ms` angle in `[0, 0.25]`, as IonQ's API documents. Native
//! gates take no controls.
//!
//! **Measurement**: IonQ measures every qubit at the end, so the circuit ends with `measure`
//! of qubit `i` into classical bit `i`, in one register `meas` of `qubits` bits (qiskit's name for
//! `measure_all`). A counts key then reads as IonQ's outcome integer in binary, qubit 0 rightmost.
//!
//! # Hostile input
//!
//! Parsing never panics. The qubit count is checked against [`Limits::max_qubits`] before the
//! measurements are allocated, and the instructions against [`Limits::max_instructions`] as they
//! are produced. Strings from the input are echoed in errors only in part (40 characters).

use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI, TAU};

use serde_json::{Map, Value};

use crate::ir::{Circuit, Gate, Instruction, Register};

/// Bounds on what [`parse_with`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The most qubits a circuit may declare (default 64, as the OpenQASM front end; the engines
    /// also check that the state fits in memory).
    pub max_qubits: usize,
    /// The most instructions, the final measurements included (default 1,000,000).
    pub max_instructions: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_qubits: 64,
            max_instructions: 1_000_000,
        }
    }
}

/// Why an IonQ circuit could not be read. Locations (`at`) are paths into the JSON, such as
/// `input.circuit[3].rotation`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IonqCircuitError {
    /// The value is neither an IonQ job nor a job's `input`.
    #[error(
        "the circuit is {found}: expected an IonQ job (an object with `input`) or a job's `input` (an object with `qubits` and `circuit`)"
    )]
    NotACircuit {
        /// What it is instead.
        found: String,
    },
    /// The job's `type` is not the one that holds a single circuit of IonQ gates.
    #[error("the job's `type` is {found}, not `ionq.circuit.v1`: {hint}")]
    JobType {
        /// The type, echoed in part.
        found: String,
        /// What to do instead.
        hint: &'static str,
    },
    /// A field is missing, of the wrong type, or out of range.
    #[error("`{at}` {problem}")]
    Field {
        /// Where.
        at: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A gate name the gate set does not have.
    #[error(
        "`{at}` is {gate}, which is not a gate of IonQ's `{gateset}` gate set (known: {known})"
    )]
    UnknownGate {
        /// Where (the `gate` field).
        at: String,
        /// The name, echoed in part.
        gate: String,
        /// `qis` or `native`.
        gateset: &'static str,
        /// The gate set's names.
        known: &'static str,
    },
    /// A valid IonQ gate the IR has no exact form for.
    #[error("`{at}`: {what} cannot be simulated: {why}")]
    Unsupported {
        /// Where.
        at: String,
        /// The gate, as written.
        what: String,
        /// Why, and what to write instead.
        why: String,
    },
    /// A qubit index outside the circuit.
    #[error(
        "`{at}` uses qubit {qubit}, but the circuit has {qubits} qubits (`qubits`); use qubits 0 to {} or raise `qubits`",
        .qubits.saturating_sub(1)
    )]
    QubitOutOfRange {
        /// Where.
        at: String,
        /// The index used.
        qubit: u64,
        /// The circuit's `qubits`.
        qubits: usize,
    },
    /// A gate names one qubit twice.
    #[error(
        "`{at}` uses qubit {qubit} more than once: a gate's targets and controls must be distinct qubits"
    )]
    RepeatedQubit {
        /// Where.
        at: String,
        /// The qubit.
        qubit: usize,
    },
    /// More qubits than [`Limits::max_qubits`].
    #[error(
        "`{at}` is {qubits}, more than the {limit} qubits the simulator reads; use fewer qubits"
    )]
    TooManyQubits {
        /// Where (`qubits`).
        at: String,
        /// The count asked for.
        qubits: u64,
        /// [`Limits::max_qubits`].
        limit: usize,
    },
    /// More instructions than [`Limits::max_instructions`].
    #[error(
        "the circuit needs more than {limit} instructions (with the final measurements); split it into smaller jobs"
    )]
    TooManyInstructions {
        /// [`Limits::max_instructions`].
        limit: usize,
    },
}

/// The `qis` gate names, for messages.
const QIS_NAMES: &str =
    "x, y, z, h, s, si, t, ti, v, vi, rx, ry, rz, not, cnot, swap, xx, yy, zz, pauliexp";

/// The `native` gate names, for messages.
const NATIVE_NAMES: &str = "gpi, gpi2, ms, zz";

/// The job types that hold circuits, with what to do about each that is not a single one.
const OTHER_TYPES: &[(&str, &str)] = &[
    (
        "ionq.multi-circuit.v1",
        "a multi-circuit job holds several circuits in `input.circuits`; parse each `input.circuits[i]` with the job's `qubits` and `gateset`",
    ),
    (
        "ionq.qasm3.v1",
        "an OpenQASM 3 job holds its program in `input.data`; read it with the OpenQASM front end (`qasm::parse`)",
    ),
];

/// How many characters of a string from the input an error repeats.
const ECHO_CHARS: usize = 40;

/// Parses an IonQ job or its `input` with the default [`Limits`].
///
/// ```
/// let job = serde_json::json!({"type": "ionq.circuit.v1", "input": {
///     "gateset": "qis", "qubits": 2,
///     "circuit": [{"gate": "h", "targets": [0]}, {"gate": "x", "targets": [1], "controls": [0]}]}});
/// let circuit = qwarden_sim::ionq::parse(&job)?;
/// assert_eq!((circuit.num_qubits, circuit.num_clbits), (2, 2));
/// assert_eq!(circuit.instructions.len(), 4); // h, cx and two measurements
/// # Ok::<(), qwarden_sim::ionq::IonqCircuitError>(())
/// ```
pub fn parse(job: &Value) -> Result<Circuit, IonqCircuitError> {
    parse_with(job, &Limits::default())
}

/// Parses an IonQ job or its `input` within `limits`.
pub fn parse_with(job: &Value, limits: &Limits) -> Result<Circuit, IonqCircuitError> {
    let Some(top) = job.as_object() else {
        return Err(IonqCircuitError::NotACircuit {
            found: describe(job),
        });
    };
    let (input, prefix) = match top.get("input") {
        Some(input) => {
            check_type(top)?;
            let Some(input) = input.as_object() else {
                return Err(field(
                    "input",
                    format!("is {}, expected an object", describe(input)),
                ));
            };
            (input, "input.")
        }
        None => (top, ""),
    };
    let at = |name: &str| format!("{prefix}{name}");
    match input.get("format") {
        None | Some(Value::Null) => {}
        Some(Value::String(f)) if f == "ionq.circuit.v0" => {}
        Some(other) => {
            return Err(field(
                &at("format"),
                format!(
                    "is {}, expected `ionq.circuit.v0` (or no `format`)",
                    describe(other)
                ),
            ));
        }
    }
    let native = match input.get("gateset") {
        None | Some(Value::Null) => false,
        Some(Value::String(g)) if g == "qis" => false,
        Some(Value::String(g)) if g == "native" => true,
        Some(other) => {
            return Err(field(
                &at("gateset"),
                format!("is {}, expected `qis` or `native`", describe(other)),
            ));
        }
    };
    let qubits = match input.get("qubits") {
        Some(v) => v.as_u64().filter(|q| *q >= 1).ok_or_else(|| {
            field(
                &at("qubits"),
                format!(
                    "is {}, expected the number of qubits (an integer >= 1)",
                    describe(v)
                ),
            )
        })?,
        None => {
            return Err(field(
                &at("qubits"),
                "is missing: IonQ circuits state their number of qubits".to_owned(),
            ));
        }
    };
    let num_qubits = usize::try_from(qubits)
        .ok()
        .filter(|q| *q <= limits.max_qubits)
        .ok_or_else(|| IonqCircuitError::TooManyQubits {
            at: at("qubits"),
            qubits,
            limit: limits.max_qubits,
        })?;
    let gates = match input.get("circuit") {
        Some(Value::Array(gates)) => gates,
        Some(other) => {
            return Err(field(
                &at("circuit"),
                format!("is {}, expected an array of gates", describe(other)),
            ));
        }
        None => {
            return Err(field(
                &at("circuit"),
                "is missing: expected an array of gates".to_owned(),
            ));
        }
    };
    let mut out = Emitter {
        instructions: Vec::new(),
        limit: limits.max_instructions,
    };
    for (i, gate) in gates.iter().enumerate() {
        let spec = GateSpec::new(gate, format!("{prefix}circuit[{i}]"), num_qubits)?;
        if native {
            native_gate(&spec, &mut out)?;
        } else {
            qis_gate(&spec, &mut out)?;
        }
    }
    for q in 0..num_qubits {
        out.push(Instruction::Measure { qubit: q, clbit: q })?;
    }
    Ok(Circuit {
        num_qubits,
        num_clbits: num_qubits,
        cregs: vec![Register {
            name: "meas".to_owned(),
            start: 0,
            size: num_qubits,
        }],
        instructions: out.instructions,
    })
}

/// A job's `type`, if it has one, must be the single-circuit type.
fn check_type(job: &Map<String, Value>) -> Result<(), IonqCircuitError> {
    match job.get("type") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(t)) if t == "ionq.circuit.v1" => Ok(()),
        Some(Value::String(t)) => Err(IonqCircuitError::JobType {
            found: format!("`{}`", echo(t)),
            hint: OTHER_TYPES
                .iter()
                .find(|(name, _)| name == t)
                .map_or("only circuit jobs can be simulated", |(_, hint)| *hint),
        }),
        Some(other) => Err(field(
            "type",
            format!(
                "is {}, expected a job type such as `ionq.circuit.v1`",
                describe(other)
            ),
        )),
    }
}

/// The instructions produced so far, within the limit.
struct Emitter {
    instructions: Vec<Instruction>,
    limit: usize,
}

impl Emitter {
    fn push(&mut self, instruction: Instruction) -> Result<(), IonqCircuitError> {
        if self.instructions.len() >= self.limit {
            return Err(IonqCircuitError::TooManyInstructions { limit: self.limit });
        }
        self.instructions.push(instruction);
        Ok(())
    }

    fn gate(&mut self, gate: Gate, qubits: Vec<usize>) -> Result<(), IonqCircuitError> {
        self.push(Instruction::Gate { gate, qubits })
    }
}

/// One gate of the circuit: its object, location, name and qubits (checked in range and
/// distinct).
struct GateSpec<'a> {
    obj: &'a Map<String, Value>,
    at: String,
    name: &'a str,
    targets: Vec<usize>,
    controls: Vec<usize>,
}

impl<'a> GateSpec<'a> {
    fn new(gate: &'a Value, at: String, qubits: usize) -> Result<GateSpec<'a>, IonqCircuitError> {
        let Some(obj) = gate.as_object() else {
            return Err(field(
                &at,
                format!(
                    "is {}, expected a gate object such as {{\"gate\": \"h\", \"targets\": [0]}}",
                    describe(gate)
                ),
            ));
        };
        let name = match obj.get("gate") {
            Some(Value::String(name)) => name.as_str(),
            Some(other) => {
                return Err(field(
                    &format!("{at}.gate"),
                    format!("is {}, expected a gate name", describe(other)),
                ));
            }
            None => {
                return Err(field(
                    &format!("{at}.gate"),
                    "is missing: every gate names its `gate`".to_owned(),
                ));
            }
        };
        let targets = qubit_list(obj, "targets", "target", &at, qubits)?;
        let controls = qubit_list(obj, "controls", "control", &at, qubits)?;
        let mut seen = targets.clone();
        seen.extend_from_slice(&controls);
        seen.sort_unstable();
        if let Some(w) = seen.windows(2).find(|w| w.first() == w.get(1))
            && let Some(&qubit) = w.first()
        {
            return Err(IonqCircuitError::RepeatedQubit { at, qubit });
        }
        Ok(GateSpec {
            obj,
            at,
            name,
            targets,
            controls,
        })
    }

    /// The one target of a single-target gate.
    fn one_target(&self) -> Result<usize, IonqCircuitError> {
        match self.targets.as_slice() {
            [t] => Ok(*t),
            other => Err(self.arity(1, other.len())),
        }
    }

    /// The two targets of a two-target gate.
    fn two_targets(&self) -> Result<(usize, usize), IonqCircuitError> {
        match self.targets.as_slice() {
            [a, b] => Ok((*a, *b)),
            other => Err(self.arity(2, other.len())),
        }
    }

    fn arity(&self, expected: usize, got: usize) -> IonqCircuitError {
        let form = if expected == 1 {
            "`\"target\": q` or `\"targets\": [q]`"
        } else {
            "`\"targets\": [a, b]`"
        };
        field(
            &self.at,
            format!(
                "gives `{}` {got} target{}, but it takes {expected}: write {form}",
                self.name,
                if got == 1 { "" } else { "s" }
            ),
        )
    }

    /// A numeric parameter, if present.
    fn number(&self, key: &str) -> Result<Option<f64>, IonqCircuitError> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_f64().filter(|x| x.is_finite()) {
                Some(x) => Ok(Some(x)),
                None => Err(field(
                    &format!("{}.{key}", self.at),
                    format!("is {}, expected a finite number", describe(v)),
                )),
            },
        }
    }

    /// A numeric parameter the gate needs.
    fn required(&self, key: &str, unit: &str) -> Result<f64, IonqCircuitError> {
        self.number(key)?.ok_or_else(|| {
            field(
                &format!("{}.{key}", self.at),
                format!("is missing: `{}` needs a `{key}` ({unit})", self.name),
            )
        })
    }

    /// The gate must not carry `key` (a parameter it does not take would be silently wrong).
    fn refuse(&self, key: &str, why: &str) -> Result<(), IonqCircuitError> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(()),
            Some(_) => Err(field(
                &format!("{}.{key}", self.at),
                format!("is given, but `{}` {why}", self.name),
            )),
        }
    }

    fn no_controls(&self, why: &str) -> Result<(), IonqCircuitError> {
        if self.controls.is_empty() {
            Ok(())
        } else {
            Err(IonqCircuitError::Unsupported {
                at: self.at.clone(),
                what: format!("`{}` with {}", self.name, controls(self.controls.len())),
                why: why.to_owned(),
            })
        }
    }
}

/// `targets` (an array) or `target` (one index), or the same for controls; every index checked
/// against the circuit's qubits.
fn qubit_list(
    obj: &Map<String, Value>,
    list: &str,
    single: &str,
    at: &str,
    qubits: usize,
) -> Result<Vec<usize>, IonqCircuitError> {
    let (values, key): (Vec<&Value>, &str) = match (obj.get(list), obj.get(single)) {
        (Some(Value::Array(a)), None) => (a.iter().collect(), list),
        (Some(other), None) => {
            return Err(field(
                &format!("{at}.{list}"),
                format!("is {}, expected an array of qubit indices", describe(other)),
            ));
        }
        (None, Some(v)) => (vec![v], single),
        (None, None) => (Vec::new(), list),
        (Some(_), Some(_)) => {
            return Err(field(
                at,
                format!("gives both `{list}` and `{single}`: give one of them"),
            ));
        }
    };
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let Some(q) = v.as_u64() else {
            return Err(field(
                &format!("{at}.{key}"),
                format!(
                    "holds {}, expected qubit indices (integers >= 0)",
                    describe(v)
                ),
            ));
        };
        match usize::try_from(q) {
            Ok(index) if index < qubits => out.push(index),
            _ => {
                return Err(IonqCircuitError::QubitOutOfRange {
                    at: format!("{at}.{key}"),
                    qubit: q,
                    qubits,
                });
            }
        }
    }
    Ok(out)
}

/// A `qis` single-qubit gate: the gate, and its exact singly-controlled form.
fn qis_one(name: &str, rotation: Option<f64>) -> Option<(Gate, Gate)> {
    // √X = e^{iπ/4} U(π/2, −π/2, π/2), so its controlled form carries that phase.
    let sx = Gate::CU(FRAC_PI_2, -FRAC_PI_2, FRAC_PI_2, FRAC_PI_4);
    let sxdg = Gate::CU(FRAC_PI_2, FRAC_PI_2, -FRAC_PI_2, -FRAC_PI_4);
    Some(match (name, rotation) {
        ("x" | "not" | "cnot", _) => (Gate::X, Gate::CX),
        ("y", _) => (Gate::Y, Gate::CY),
        ("z", None) => (Gate::Z, Gate::CZ),
        ("z", Some(t)) => (Gate::P(t), Gate::CP(t)),
        ("h", _) => (Gate::H, Gate::CH),
        ("s", _) => (Gate::S, Gate::CP(FRAC_PI_2)),
        ("si", _) => (Gate::Sdg, Gate::CP(-FRAC_PI_2)),
        ("t", _) => (Gate::T, Gate::CP(FRAC_PI_4)),
        ("ti", _) => (Gate::Tdg, Gate::CP(-FRAC_PI_4)),
        ("v", _) => (Gate::SX, sx),
        ("vi", _) => (Gate::SXdg, sxdg),
        ("rx", Some(t)) => (Gate::RX(t), Gate::CRX(t)),
        ("ry", Some(t)) => (Gate::RY(t), Gate::CRY(t)),
        ("rz", Some(t)) => (Gate::RZ(t), Gate::CRZ(t)),
        _ => return None,
    })
}

fn qis_gate(g: &GateSpec<'_>, out: &mut Emitter) -> Result<(), IonqCircuitError> {
    match g.name {
        "x" | "not" | "cnot" | "y" | "z" | "h" | "s" | "si" | "t" | "ti" | "v" | "vi" | "rx"
        | "ry" | "rz" => {
            let rotation = match g.name {
                "rx" | "ry" | "rz" => Some(g.required("rotation", "an angle in radians")?),
                "z" => g.number("rotation")?,
                _ => {
                    g.refuse("rotation", "takes no rotation; use rx, ry or rz")?;
                    None
                }
            };
            let target = g.one_target()?;
            let Some((plain, controlled)) = qis_one(g.name, rotation) else {
                return Err(unknown(g, false));
            };
            match (g.name, g.controls.as_slice()) {
                ("cnot", []) => Err(field(
                    &g.at,
                    "is a `cnot` without a control: give `control` (or `controls`), or use `x`"
                        .to_owned(),
                )),
                (_, []) => out.gate(plain, vec![target]),
                (_, [c]) => out.gate(controlled, vec![*c, target]),
                ("x" | "not" | "cnot", [c0, c1]) => out.gate(Gate::CCX, vec![*c0, *c1, target]),
                (_, more) => Err(IonqCircuitError::Unsupported {
                    at: g.at.clone(),
                    what: format!("`{}` with {}", g.name, controls(more.len())),
                    why: "the simulator runs single-qubit gates with at most one control (x with two); decompose the gate into ones with fewer controls".to_owned(),
                }),
            }
        }
        "swap" => {
            g.refuse("rotation", "takes no rotation")?;
            let (a, b) = g.two_targets()?;
            match g.controls.as_slice() {
                [] => out.gate(Gate::Swap, vec![a, b]),
                [c] => out.gate(Gate::CSwap, vec![*c, a, b]),
                more => Err(IonqCircuitError::Unsupported {
                    at: g.at.clone(),
                    what: format!("`swap` with {}", controls(more.len())),
                    why: "the simulator runs swap with at most one control; decompose the gate into ones with fewer controls".to_owned(),
                }),
            }
        }
        "xx" | "yy" | "zz" => {
            let t = g.required("rotation", "an angle in radians")?;
            g.no_controls("the simulator has no controlled two-qubit rotations; decompose the gate")?;
            let (a, b) = g.two_targets()?;
            let gate = match g.name {
                "xx" => Gate::RXX(t),
                "yy" => Gate::RYY(t),
                _ => Gate::RZZ(t),
            };
            out.gate(gate, vec![a, b])
        }
        "pauliexp" => Err(IonqCircuitError::Unsupported {
            at: g.at.clone(),
            what: "`pauliexp`".to_owned(),
            why: "IonQ synthesises Pauli-sum evolutions itself and the simulator has no exact form for them; decompose the evolution into rotations (qiskit's `transpile`) before submitting".to_owned(),
        }),
        _ => Err(unknown(g, false)),
    }
}

/// A native phase (in turns) within IonQ's documented range, in radians.
fn phase_radians(g: &GateSpec<'_>, at: String, turns: f64) -> Result<f64, IonqCircuitError> {
    if (-1.0..=1.0).contains(&turns) {
        Ok(TAU * turns)
    } else {
        Err(field(
            &at,
            format!(
                "is {turns}, but IonQ takes `{}` phases in turns between -1 and 1",
                g.name
            ),
        ))
    }
}

fn native_gate(g: &GateSpec<'_>, out: &mut Emitter) -> Result<(), IonqCircuitError> {
    if !matches!(g.name, "gpi" | "gpi2" | "ms" | "zz") {
        return Err(unknown(g, true));
    }
    g.no_controls("IonQ's native gates take no controls")?;
    match g.name {
        "gpi" | "gpi2" => {
            let turns = g.required("phase", "in turns")?;
            let phi = phase_radians(g, format!("{}.phase", g.at), turns)?;
            let target = g.one_target()?;
            let gate = if g.name == "gpi" {
                Gate::U(PI, phi, PI - phi)
            } else {
                Gate::U(FRAC_PI_2, phi - FRAC_PI_2, FRAC_PI_2 - phi)
            };
            out.gate(gate, vec![target])
        }
        "ms" => {
            let at = format!("{}.phases", g.at);
            let (p0, p1) = match g.obj.get("phases") {
                Some(Value::Array(p)) => match p.as_slice() {
                    [a, b] => match (a.as_f64(), b.as_f64()) {
                        (Some(a), Some(b)) if a.is_finite() && b.is_finite() => (a, b),
                        _ => {
                            return Err(field(&at, "must hold two numbers (turns)".to_owned()));
                        }
                    },
                    other => {
                        return Err(field(
                            &at,
                            format!(
                                "holds {} values, expected two (one per target, in turns)",
                                other.len()
                            ),
                        ));
                    }
                },
                Some(other) => {
                    return Err(field(
                        &at,
                        format!("is {}, expected [phi0, phi1] in turns", describe(other)),
                    ));
                }
                None => {
                    return Err(field(
                        &at,
                        "is missing: `ms` needs `phases` [phi0, phi1] in turns".to_owned(),
                    ));
                }
            };
            let phi0 = phase_radians(g, format!("{at}[0]"), p0)?;
            let phi1 = phase_radians(g, format!("{at}[1]"), p1)?;
            let angle = g.number("angle")?.unwrap_or(0.25);
            if !(0.0..=0.25).contains(&angle) {
                return Err(field(
                    &format!("{}.angle", g.at),
                    format!(
                        "is {angle}, but IonQ takes an `ms` angle in turns between 0 and 0.25 (fully entangling)"
                    ),
                ));
            }
            let (a, b) = g.two_targets()?;
            // σ(φ) = RZ(φ) X RZ(−φ), so exp(−iπθ σ(φ0)⊗σ(φ1)) is RXX(2πθ) conjugated by RZs.
            out.gate(Gate::RZ(-phi0), vec![a])?;
            out.gate(Gate::RZ(-phi1), vec![b])?;
            out.gate(Gate::RXX(TAU * angle), vec![a, b])?;
            out.gate(Gate::RZ(phi0), vec![a])?;
            out.gate(Gate::RZ(phi1), vec![b])
        }
        _ => {
            let angle = g.required("angle", "in turns")?;
            let (a, b) = g.two_targets()?;
            out.gate(Gate::RZZ(TAU * angle), vec![a, b])
        }
    }
}

fn unknown(g: &GateSpec<'_>, native: bool) -> IonqCircuitError {
    IonqCircuitError::UnknownGate {
        at: format!("{}.gate", g.at),
        gate: format!("`{}`", echo(g.name)),
        gateset: if native { "native" } else { "qis" },
        known: if native { NATIVE_NAMES } else { QIS_NAMES },
    }
}

fn controls(n: usize) -> String {
    format!("{n} control{}", if n == 1 { "" } else { "s" })
}

fn field(at: &str, problem: String) -> IonqCircuitError {
    IonqCircuitError::Field {
        at: at.to_owned(),
        problem,
    }
}

/// At most [`ECHO_CHARS`] characters of `s`, control characters escaped.
fn echo(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(ECHO_CHARS)
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    if s.chars().nth(ECHO_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// A JSON value's kind, with a short echo of strings and numbers.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{}`", echo(&n.to_string())),
        Value::String(s) => format!("the string `{}`", echo(s)),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;
    use crate::ir::C64;
    use crate::run::{self, Method, RunOptions};
    use serde_json::json;

    /// The Bell job qiskit-ionq submitted in the provider-traffic transcript (`ionq-bell.jsonl`,
    /// seq 4), as the first `POST /v0.4/jobs` body of that file.
    fn transcript_bell_job() -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/provider-traffic/ionq-bell.jsonl");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|x| x["request"]["method"] == "POST" && x["request"]["path"] == "/v0.4/jobs")
            .map(|x| x["request"]["body"].clone())
            .unwrap()
    }

    fn without_measurements(mut c: Circuit) -> Circuit {
        c.instructions
            .retain(|i| !matches!(i, Instruction::Measure { .. }));
        c
    }

    fn ionq_state(qubits: usize, gates: Value, gateset: &str) -> Vec<C64> {
        let input = json!({"gateset": gateset, "qubits": qubits, "circuit": gates});
        run::statevector(&without_measurements(parse(&input).unwrap())).unwrap()
    }

    fn qasm_state(qubits: usize, body: &str) -> Vec<C64> {
        let src =
            format!("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[{qubits}]; {PREP_QASM} {body}");
        run::statevector(&crate::qasm::parse(&src).unwrap()).unwrap()
    }

    /// A generic, entangled 3-qubit state to apply each gate to, in both front ends.
    const PREP_QASM: &str =
        "ry(0.3) q[0]; rx(1.1) q[1]; ry(2.0) q[2]; cx q[0], q[2]; rz(0.4) q[1]; ry(0.7) q[1];";

    fn prep_ionq() -> Vec<Value> {
        vec![
            json!({"gate": "ry", "rotation": 0.3, "targets": [0]}),
            json!({"gate": "rx", "rotation": 1.1, "targets": [1]}),
            json!({"gate": "ry", "rotation": 2.0, "targets": [2]}),
            json!({"gate": "cnot", "control": 0, "target": 2}),
            json!({"gate": "rz", "rotation": 0.4, "targets": [1]}),
            json!({"gate": "ry", "rotation": 0.7, "targets": [1]}),
        ]
    }

    /// `|⟨a|b⟩|` = 1: the same state up to a global phase.
    fn same_up_to_phase(a: &[C64], b: &[C64]) -> bool {
        let inner: C64 = a.iter().zip(b).map(|(x, y)| x.conj() * y).sum();
        (inner.norm() - 1.0).abs() < 1e-9
    }

    fn exactly_equal(a: &[C64], b: &[C64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).norm() < 1e-9)
    }

    #[test]
    fn the_transcripts_bell_job_simulates_to_00_and_11() {
        let job = transcript_bell_job();
        let c = parse(&job).unwrap();
        assert_eq!((c.num_qubits, c.num_clbits), (2, 2));
        assert_eq!(
            c.instructions,
            vec![
                Instruction::Gate {
                    gate: Gate::H,
                    qubits: vec![0]
                },
                Instruction::Gate {
                    gate: Gate::CX,
                    qubits: vec![0, 1]
                },
                Instruction::Measure { qubit: 0, clbit: 0 },
                Instruction::Measure { qubit: 1, clbit: 1 },
            ]
        );
        let opts = RunOptions {
            shots: 1000,
            seed: 7,
            threads: 1,
            method: Method::Statevector,
            ..RunOptions::default()
        };
        let counts = run::run(&c, &opts).unwrap().counts;
        assert_eq!(counts.values().sum::<u64>(), 1000);
        assert!(counts.keys().all(|k| k == "00" || k == "11"), "{counts:?}");
        assert_eq!(counts.len(), 2, "{counts:?}");
        // The input alone reads the same.
        assert_eq!(parse(&job["input"]).unwrap(), c);
    }

    #[test]
    fn every_qis_gate_matches_the_openqasm_front_end() {
        // (IonQ gate, OpenQASM 2 statements) on the prepared 3-qubit state.
        let cases: Vec<(Value, &str)> = vec![
            (json!({"gate": "x", "targets": [1]}), "x q[1];"),
            (json!({"gate": "not", "target": 2}), "x q[2];"),
            (json!({"gate": "y", "targets": [0]}), "y q[0];"),
            (json!({"gate": "z", "targets": [1]}), "z q[1];"),
            (
                json!({"gate": "z", "targets": [1], "rotation": 0.9}),
                "p(0.9) q[1];",
            ),
            (json!({"gate": "h", "targets": [2]}), "h q[2];"),
            (json!({"gate": "s", "targets": [1]}), "s q[1];"),
            (json!({"gate": "si", "targets": [1]}), "sdg q[1];"),
            (json!({"gate": "t", "targets": [0]}), "t q[0];"),
            (json!({"gate": "ti", "targets": [0]}), "tdg q[0];"),
            (json!({"gate": "v", "targets": [2]}), "sx q[2];"),
            (json!({"gate": "vi", "targets": [2]}), "sxdg q[2];"),
            (
                json!({"gate": "rx", "targets": [0], "rotation": 0.7}),
                "rx(0.7) q[0];",
            ),
            (
                json!({"gate": "ry", "targets": [1], "rotation": -1.3}),
                "ry(-1.3) q[1];",
            ),
            (
                json!({"gate": "rz", "targets": [2], "rotation": 2.1}),
                "rz(2.1) q[2];",
            ),
            (
                json!({"gate": "cnot", "control": 0, "target": 1}),
                "cx q[0], q[1];",
            ),
            (
                json!({"gate": "x", "controls": [2], "targets": [0]}),
                "cx q[2], q[0];",
            ),
            (
                json!({"gate": "x", "controls": [0, 1], "targets": [2]}),
                "ccx q[0], q[1], q[2];",
            ),
            (
                json!({"gate": "cnot", "controls": [2, 0], "target": 1}),
                "ccx q[2], q[0], q[1];",
            ),
            (
                json!({"gate": "y", "controls": [1], "targets": [2]}),
                "cy q[1], q[2];",
            ),
            (
                json!({"gate": "z", "controls": [1], "targets": [0]}),
                "cz q[1], q[0];",
            ),
            (
                json!({"gate": "z", "controls": [1], "targets": [0], "rotation": 0.6}),
                "cp(0.6) q[1], q[0];",
            ),
            (
                json!({"gate": "h", "controls": [0], "targets": [1]}),
                "ch q[0], q[1];",
            ),
            (
                json!({"gate": "s", "controls": [0], "targets": [1]}),
                "cp(pi/2) q[0], q[1];",
            ),
            (
                json!({"gate": "si", "controls": [0], "targets": [1]}),
                "cp(-pi/2) q[0], q[1];",
            ),
            (
                json!({"gate": "t", "controls": [2], "targets": [1]}),
                "cp(pi/4) q[2], q[1];",
            ),
            (
                json!({"gate": "ti", "controls": [2], "targets": [1]}),
                "cp(-pi/4) q[2], q[1];",
            ),
            (
                json!({"gate": "v", "controls": [0], "targets": [2]}),
                "csx q[0], q[2];",
            ),
            // √X† = H S† H exactly, so its controlled form is H, CP(−π/2), H on the target.
            (
                json!({"gate": "vi", "controls": [0], "targets": [2]}),
                "h q[2]; cp(-pi/2) q[0], q[2]; h q[2];",
            ),
            (
                json!({"gate": "rx", "controls": [1], "targets": [0], "rotation": 0.8}),
                "crx(0.8) q[1], q[0];",
            ),
            (
                json!({"gate": "ry", "controls": [1], "targets": [0], "rotation": 0.8}),
                "cry(0.8) q[1], q[0];",
            ),
            (
                json!({"gate": "rz", "controls": [1], "targets": [0], "rotation": 0.8}),
                "crz(0.8) q[1], q[0];",
            ),
            (
                json!({"gate": "swap", "targets": [0, 2]}),
                "swap q[0], q[2];",
            ),
            (
                json!({"gate": "swap", "controls": [1], "targets": [0, 2]}),
                "cswap q[1], q[0], q[2];",
            ),
            (
                json!({"gate": "xx", "targets": [0, 1], "rotation": 0.4}),
                "rxx(0.4) q[0], q[1];",
            ),
            (
                json!({"gate": "zz", "targets": [2, 1], "rotation": 1.2}),
                "rzz(1.2) q[2], q[1];",
            ),
            // RYY(θ) = (RX(π/2)⊗RX(π/2)) RZZ(θ) (RX(−π/2)⊗RX(−π/2)).
            (
                json!({"gate": "yy", "targets": [0, 2], "rotation": 0.5}),
                "rx(-pi/2) q[0]; rx(-pi/2) q[2]; rzz(0.5) q[0], q[2]; rx(pi/2) q[0]; rx(pi/2) q[2];",
            ),
        ];
        for (gate, qasm) in cases {
            let mut gates = prep_ionq();
            gates.push(gate.clone());
            let ours = ionq_state(3, Value::Array(gates), "qis");
            let want = qasm_state(3, qasm);
            assert!(same_up_to_phase(&ours, &want), "{gate} vs {qasm}");
        }
    }

    #[test]
    fn controlled_gates_keep_their_relative_phase() {
        // A controlled gate followed by its controlled inverse is the identity, exactly.
        for (g, inv) in [("v", "vi"), ("s", "si"), ("t", "ti")] {
            let mut gates = prep_ionq();
            let before = ionq_state(3, Value::Array(gates.clone()), "qis");
            gates.push(json!({"gate": g, "controls": [0], "targets": [1]}));
            gates.push(json!({"gate": inv, "controls": [0], "targets": [1]}));
            assert!(
                exactly_equal(&ionq_state(3, Value::Array(gates), "qis"), &before),
                "{g}"
            );
        }
        // And a controlled √X twice is a CNOT, phase included.
        let mut twice = prep_ionq();
        let mut cx = prep_ionq();
        twice.push(json!({"gate": "v", "controls": [2], "targets": [0]}));
        twice.push(json!({"gate": "v", "controls": [2], "targets": [0]}));
        cx.push(json!({"gate": "cnot", "control": 2, "target": 0}));
        assert!(exactly_equal(
            &ionq_state(3, Value::Array(twice), "qis"),
            &ionq_state(3, Value::Array(cx), "qis")
        ));
    }

    /// `state` after the `k`-qubit `matrix` on `qubits` (the first qubit the least significant
    /// bit of the matrix index, as qiskit writes matrices).
    fn apply(state: &[C64], matrix: &[C64], qubits: &[usize]) -> Vec<C64> {
        let d = 1usize << qubits.len();
        let mut out = vec![C64::new(0.0, 0.0); state.len()];
        for (i, amp) in state.iter().enumerate() {
            let col = qubits
                .iter()
                .enumerate()
                .map(|(k, q)| ((i >> q) & 1) << k)
                .sum::<usize>();
            for row in 0..d {
                let mut j = i;
                for (k, q) in qubits.iter().enumerate() {
                    j = (j & !(1 << q)) | (((row >> k) & 1) << q);
                }
                out[j] += matrix[row * d + col] * amp;
            }
        }
        out
    }

    fn cis(x: f64) -> C64 {
        C64::from_polar(1.0, x)
    }

    #[test]
    fn native_gates_match_ionqs_matrices_exactly() {
        let z = C64::new(0.0, 0.0);
        let i = C64::new(0.0, 1.0);
        let r = std::f64::consts::FRAC_1_SQRT_2;
        let tau = std::f64::consts::TAU;
        // The matrices of qiskit-ionq's `ionq_gates.py` (phases in turns).
        let gpi = |p: f64| vec![z, cis(-tau * p), cis(tau * p), z];
        let gpi2 = |p: f64| {
            vec![
                C64::new(r, 0.0),
                -i * cis(-tau * p) * r,
                -i * cis(tau * p) * r,
                C64::new(r, 0.0),
            ]
        };
        let ms = |p0: f64, p1: f64, t: f64| {
            let (c, s) = ((PI * t).cos(), (PI * t).sin());
            let c = C64::new(c, 0.0);
            let a = -i * s * cis(-tau * (p0 + p1));
            let b = -i * s * cis(tau * (p0 - p1));
            let bb = -i * s * cis(-tau * (p0 - p1));
            let aa = -i * s * cis(tau * (p0 + p1));
            vec![c, z, z, a, z, c, b, z, z, bb, c, z, aa, z, z, c]
        };
        let zz = |t: f64| {
            let (m, p) = (cis(-PI * t), cis(PI * t));
            vec![m, z, z, z, z, p, z, z, z, z, p, z, z, z, z, m]
        };
        let prep = ionq_state(3, Value::Array(prep_ionq()), "qis");
        let cases: Vec<(Value, Vec<C64>, Vec<usize>)> = vec![
            (
                json!({"gate": "gpi", "phase": 0.0, "target": 0}),
                gpi(0.0),
                vec![0],
            ),
            (
                json!({"gate": "gpi", "phase": 0.3, "target": 1}),
                gpi(0.3),
                vec![1],
            ),
            (
                json!({"gate": "gpi", "phase": -0.85, "targets": [2]}),
                gpi(-0.85),
                vec![2],
            ),
            (
                json!({"gate": "gpi2", "phase": 0.25, "target": 0}),
                gpi2(0.25),
                vec![0],
            ),
            (
                json!({"gate": "gpi2", "phase": 0.61, "target": 2}),
                gpi2(0.61),
                vec![2],
            ),
            (
                json!({"gate": "ms", "targets": [0, 1], "phases": [0.0, 0.0]}),
                ms(0.0, 0.0, 0.25),
                vec![0, 1],
            ),
            (
                json!({"gate": "ms", "targets": [2, 0], "phases": [0.1, 0.37], "angle": 0.12}),
                ms(0.1, 0.37, 0.12),
                vec![2, 0],
            ),
            (
                json!({"gate": "ms", "targets": [1, 2], "phases": [-0.4, 0.9], "angle": 0.25}),
                ms(-0.4, 0.9, 0.25),
                vec![1, 2],
            ),
            (
                json!({"gate": "zz", "targets": [0, 2], "angle": 0.1}),
                zz(0.1),
                vec![0, 2],
            ),
            (
                json!({"gate": "zz", "targets": [1, 0], "angle": -0.33}),
                zz(-0.33),
                vec![1, 0],
            ),
        ];
        for (gate, matrix, qubits) in cases {
            // The preparation is parsed as qis, the gate alone as native; both run in sequence.
            let native =
                parse(&json!({"gateset": "native", "qubits": 3, "circuit": [gate.clone()]}))
                    .unwrap();
            let mut c =
                without_measurements(parse(&json!({"qubits": 3, "circuit": prep_ionq()})).unwrap());
            c.instructions
                .extend(without_measurements(native).instructions);
            let ours = run::statevector(&c).unwrap();
            let want = apply(&prep, &matrix, &qubits);
            assert!(exactly_equal(&ours, &want), "{gate}");
        }
    }

    #[test]
    fn every_qubit_is_measured_into_its_own_bit() {
        let c = parse(&json!({"qubits": 3, "circuit": []})).unwrap();
        assert_eq!(c.num_clbits, 3);
        assert_eq!(
            c.cregs,
            vec![Register {
                name: "meas".into(),
                start: 0,
                size: 3
            }]
        );
        assert_eq!(
            c.instructions,
            (0..3)
                .map(|q| Instruction::Measure { qubit: q, clbit: q })
                .collect::<Vec<_>>()
        );
        // X on qubit 1 of three reads `010`: IonQ's outcome 2 in binary.
        let c = parse(&json!({"qubits": 3, "circuit": [{"gate": "x", "target": 1}]})).unwrap();
        let counts = run::run(
            &c,
            &RunOptions {
                shots: 10,
                threads: 1,
                ..RunOptions::default()
            },
        )
        .unwrap()
        .counts;
        assert_eq!(
            counts.into_iter().collect::<Vec<_>>(),
            vec![("010".to_owned(), 10)]
        );
    }

    fn refused(v: Value) -> String {
        let e = parse(&v).unwrap_err();
        let text = e.to_string();
        assert!(!text.is_empty() && text.len() < 500, "{text}");
        assert!(!text.chars().any(char::is_control), "{text:?}");
        text
    }

    #[test]
    fn malformed_circuits_are_refused_with_the_place_and_the_fix() {
        let qis = |gates: Value| json!({"type": "ionq.circuit.v1", "input": {"qubits": 2, "circuit": gates}});
        assert!(refused(json!([1, 2])).contains("an array"));
        assert!(
            refused(json!({"type": "ionq.multi-circuit.v1", "input": {}}))
                .contains("input.circuits")
        );
        assert!(refused(json!({"type": "ionq.qasm3.v1", "input": {}})).contains("qasm::parse"));
        assert!(refused(json!({"input": "x"})).contains("`input`"));
        assert!(refused(json!({"input": {"circuit": []}})).contains("`input.qubits` is missing"));
        assert!(refused(json!({"qubits": 0, "circuit": []})).contains("`qubits`"));
        assert!(refused(json!({"qubits": 2})).contains("`circuit` is missing"));
        assert!(refused(json!({"qubits": 2, "circuit": {}})).contains("array of gates"));
        assert!(
            refused(json!({"qubits": 2, "gateset": "ibm", "circuit": []}))
                .contains("`qis` or `native`")
        );
        assert!(
            refused(json!({"qubits": 2, "format": "v9", "circuit": []}))
                .contains("ionq.circuit.v0")
        );
        let e = parse(&json!({"qubits": 65, "circuit": []})).unwrap_err();
        assert!(matches!(
            e,
            IonqCircuitError::TooManyQubits {
                qubits: 65,
                limit: 64,
                ..
            }
        ));
        assert!(refused(qis(json!(["h"]))).contains("`input.circuit[0]`"));
        assert!(
            refused(qis(json!([{"targets": [0]}]))).contains("`input.circuit[0].gate` is missing")
        );
        let unknown = refused(qis(json!([{"gate": "u3", "targets": [0]}])));
        assert!(
            unknown.contains("`u3`") && unknown.contains("`qis`"),
            "{unknown}"
        );
        assert!(refused(qis(json!([{"gate": "gpi", "phase": 0, "target": 0}]))).contains("`qis`"));
        let e = refused(qis(json!([{"gate": "h", "targets": [2]}])));
        assert!(e.contains("qubit 2") && e.contains("0 to 1"), "{e}");
        assert!(refused(qis(json!([{"gate": "h", "targets": [-1]}]))).contains("qubit indices"));
        assert!(
            refused(qis(json!([{"gate": "h", "target": 0, "targets": [0]}]))).contains("give one")
        );
        assert!(
            refused(qis(json!([{"gate": "cnot", "control": 1, "target": 1}])))
                .contains("more than once")
        );
        assert!(refused(qis(json!([{"gate": "h", "targets": [0, 1]}]))).contains("takes 1"));
        assert!(refused(qis(json!([{"gate": "swap", "targets": [0]}]))).contains("takes 2"));
        assert!(
            refused(qis(json!([{"gate": "rx", "targets": [0]}]))).contains("needs a `rotation`")
        );
        assert!(
            refused(qis(
                json!([{"gate": "rx", "targets": [0], "rotation": "pi"}])
            ))
            .contains("finite number")
        );
        assert!(
            refused(qis(json!([{"gate": "h", "targets": [0], "rotation": 1}])))
                .contains("takes no rotation")
        );
        assert!(refused(qis(json!([{"gate": "cnot", "target": 1}]))).contains("without a control"));
        assert!(
            refused(qis(json!([{"gate": "pauliexp", "targets": [0, 1]}])))
                .contains("cannot be simulated")
        );
        assert!(
            refused(qis(
                json!([{"gate": "xx", "targets": [0, 1], "controls": [0], "rotation": 1}])
            ))
            .contains("more than once")
        );
        let controlled_xx = json!({"qubits": 3, "circuit": [{"gate": "xx", "targets": [0, 1], "controls": [2], "rotation": 1}]});
        assert!(refused(controlled_xx).contains("cannot be simulated"));
        let three =
            json!({"qubits": 4, "circuit": [{"gate": "y", "controls": [0, 1], "targets": [2]}]});
        assert!(refused(three).contains("2 controls"));
        let swap = json!({"qubits": 4, "circuit": [{"gate": "swap", "controls": [0, 1], "targets": [2, 3]}]});
        assert!(refused(swap).contains("swap"));
        let native = |gates: Value| json!({"gateset": "native", "qubits": 2, "circuit": gates});
        assert!(refused(native(json!([{"gate": "h", "targets": [0]}]))).contains("`native`"));
        assert!(refused(native(json!([{"gate": "gpi", "target": 0}]))).contains("`phase`"));
        assert!(
            refused(native(json!([{"gate": "gpi", "target": 0, "phase": 1.5}])))
                .contains("between -1 and 1")
        );
        assert!(
            refused(native(
                json!([{"gate": "gpi2", "target": 0, "phase": 0, "controls": [1]}])
            ))
            .contains("no controls")
        );
        assert!(refused(native(json!([{"gate": "ms", "targets": [0, 1]}]))).contains("`phases`"));
        assert!(
            refused(native(
                json!([{"gate": "ms", "targets": [0, 1], "phases": [0]}])
            ))
            .contains("two")
        );
        assert!(
            refused(native(
                json!([{"gate": "ms", "targets": [0, 1], "phases": [0, 0], "angle": 0.3}])
            ))
            .contains("0.25")
        );
        assert!(refused(native(json!([{"gate": "zz", "targets": [0, 1]}]))).contains("`angle`"));
        // A long name from the input is echoed only in part.
        let long = "g".repeat(5000);
        let e = refused(qis(json!([{"gate": long, "targets": [0]}])));
        assert!(e.contains('…') && e.len() < 300, "{e}");
    }

    #[test]
    fn the_instruction_limit_holds() {
        let limits = Limits {
            max_qubits: 4,
            max_instructions: 5,
        };
        let gates: Vec<Value> = (0..4).map(|_| json!({"gate": "h", "target": 0})).collect();
        // Four gates and two measurements are six instructions.
        let e = parse_with(&json!({"qubits": 2, "circuit": gates}), &limits).unwrap_err();
        assert_eq!(e, IonqCircuitError::TooManyInstructions { limit: 5 });
        let ok = parse_with(&json!({"qubits": 1, "circuit": gates}), &limits).unwrap();
        assert_eq!(ok.instructions.len(), 5);
        // A huge qubit count is refused before anything is allocated.
        let e = parse_with(&json!({"qubits": u64::MAX, "circuit": []}), &limits).unwrap_err();
        assert!(matches!(e, IonqCircuitError::TooManyQubits { .. }));
    }
}
