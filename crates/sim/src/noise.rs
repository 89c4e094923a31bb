//! Noise models: what happens to the state besides the ideal gates, derived from a calibration
//! snapshot (IBM backend properties, an IonQ characterization).
//!
//! The engines see a model only through [`NoiseModel::after_gate`], [`NoiseModel::before_measure`]
//! and [`NoiseModel::readout`] (and [`NoiseModel::after_reset`] for `reset`); how a snapshot
//! becomes channels is this module's business.
//!
//! # IBM backend properties: qiskit-aer's device recipe
//!
//! [`NoiseModel::from_ibm_properties`] builds exactly what qiskit-aer's
//! `NoiseModel.from_backend_properties(properties)` builds with its defaults (`gate_error=True`,
//! `readout_error=True`, `thermal_relaxation=True`, `temperature=0`), i.e.
//! `basic_device_gate_errors` + `basic_device_readout_errors`:
//!
//! 1. **Units.** T1, T2 and gate lengths are converted to nanoseconds from their `unit`
//!    (`s`, `ms`, `us`/`µs`, `ns`; a missing or empty unit means the number is taken as is, as Aer
//!    does). An absent T1 or T2 is infinite.
//! 2. **Thermal relaxation** for every gate entry `{gate, qubits, parameters}` with a non-zero
//!    `gate_length` t: on each of its qubits, with `T2 ← min(T2, 2·T1)` (Aer's truncation), the
//!    channel that maps `ρ₀₀ ← ρ₀₀ + γ ρ₁₁`, `ρ₁₁ ← (1 − γ) ρ₁₁`, `ρ₀₁ ← λ ρ₀₁` with
//!    `γ = 1 − e^{−t/T1}` and `λ = e^{−t/T2}` (Aer's `thermal_relaxation_error` at zero
//!    temperature; Kraus operators `diag(1, λ)`, `√γ |0⟩⟨1|`, `diag(0, √(1 − γ − λ²))`). For a
//!    two-qubit gate it is the tensor product of the two qubits' channels.
//! 3. **Depolarizing** fitted to the reported `gate_error` e (Aer's `_device_depolarizing_error`):
//!    with `F_r` the average gate fidelity of the relaxation channel (1 without one), `r = 1 − F_r`,
//!    `d = 2ⁿ`: if `e > r`, clip e to `d/(d+1)` and take
//!    `p = d (e − r) / (d F_r − 1)`, capped at `4ⁿ/(4ⁿ − 1)`, for the channel
//!    `ρ ↦ (1 − p) ρ + p Tr(ρ) I/d`; otherwise (relaxation alone already explains the error, or
//!    there is no error) no depolarizing part. Since `F(relax ∘ depol) = (1 − p) F_r + p/d`, the
//!    combined channel's average gate infidelity is then exactly e.
//! 4. **Composition**, as Aer's `depol_error.compose(relax_error)`: the depolarizing part first,
//!    then the relaxation. The result is stored as one minimal Kraus set (from the eigenvectors
//!    of its Choi matrix), so an engine applies one [`Channel`] per gate. Gates whose combined
//!    error is nothing (`rz`: zero length, zero error) get no channel; `reset` entries (length
//!    only) get their relaxation, found by [`NoiseModel::after_reset`].
//! 5. **Readout**: per qubit, `[[1 − p(1|0), p(1|0)], [p(0|1), 1 − p(0|1)]]` from
//!    `prob_meas1_prep0` and `prob_meas0_prep1` when both are present, otherwise symmetric from
//!    `readout_error`; none when both probabilities are (within 1e-8) zero.
//! 6. **Measurement** gets no relaxation: Aer's device model adds none to `measure` (the
//!    properties list no measure gate, and its target-based path skips `Measure` explicitly), so
//!    [`NoiseModel::before_measure`] is empty for these models.
//!
//! Where the snapshot is broken this module either does what Aer does or refuses with an error
//! that names the qubit or gate: a `NaN`/`Infinity`/`null` value (Python writes the first two)
//! is treated as absent, as Aer skips a missing number, and noted in [`NoiseModel::warnings`];
//! T2 above 2·T1 is clipped (and noted); a zero or negative T1/T2 on a qubit that a timed gate
//! uses, a negative gate length, a gate error or readout probability outside `[0, 1]`, a gate on
//! a qubit the snapshot does not list, and an unknown time unit are errors (Aer raises on most
//! of these and computes `NaN` channels for the rest).
//!
//! # IonQ characterization
//!
//! [`NoiseModel::from_ionq_characterization`] reads the `fidelity` object of IonQ's
//! characterization resource (`GET /v0.4/backends/{backend}/characterizations/...`, same shape
//! in v0.3): device-wide depolarizing after every one-qubit gate fitted so that its average gate
//! fidelity is `fidelity.1q` (same fit as above without relaxation:
//! `p = d (1 − F) / (d − 1)`), likewise for two-qubit gates from `fidelity.2q`, and a symmetric
//! readout error `1 − fidelity.spam` on every qubit. Each figure is its `mean`, or its `median`
//! where only that is given (v0.4 documents the median).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::ir::{C64, Gate};

/// A completely positive trace-preserving map on `num_qubits` qubits, as Kraus operators
/// (`Σ K†K = I`), each `2^k × 2^k` row-major in the [`crate::ir`] bit order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channel {
    /// How many qubits it acts on.
    pub num_qubits: usize,
    /// The Kraus operators.
    pub kraus: Vec<Vec<C64>>,
}

/// Readout error of one qubit: `p[prepared][measured]`, rows summing to 1.
pub type Readout = [[f64; 2]; 2];

/// A noise model.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct NoiseModel {
    /// Where it came from (backend name and calibration date, or a description).
    pub source: String,
    /// Noise after specific gates on specific qubits: `(gate name, qubits)` → channel on those
    /// qubits, in that order. Serialized as a list of `{gate, qubits, channel}`.
    #[serde(serialize_with = "serialize_gates")]
    pub gates: BTreeMap<(String, Vec<usize>), Channel>,
    /// Noise after any one-qubit gate not in `gates` (device-wide models).
    pub default_1q: Option<Channel>,
    /// Noise after any two-qubit gate not in `gates`.
    pub default_2q: Option<Channel>,
    /// Noise on a qubit just before it is measured (relaxation during readout).
    pub measure: BTreeMap<usize, Channel>,
    /// Readout error per qubit.
    pub readout: BTreeMap<usize, Readout>,
    /// Readout error of qubits not in `readout`.
    pub default_readout: Option<Readout>,
    /// What the constructor skipped or adjusted in the snapshot (a `NaN` value, a clipped T2, a
    /// gate listed twice), in the order met; empty for a clean snapshot.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Why a snapshot could not become a noise model, or a channel could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NoiseError {
    /// The document is not JSON of the expected shape.
    #[error("cannot read the {document}: {source}")]
    Json {
        /// Which document (`backend properties`, `backend configuration`, `IonQ characterization`).
        document: &'static str,
        /// The parser's complaint, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A per-qubit value is unusable.
    #[error("qubit {qubit}: {problem}")]
    Qubit {
        /// The qubit's index in the snapshot.
        qubit: usize,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A gate entry is unusable.
    #[error("gate `{gate}` on qubits {qubits:?}: {problem}")]
    Gate {
        /// The gate's name in the snapshot.
        gate: String,
        /// Its qubits.
        qubits: Vec<usize>,
        /// What is wrong and what to do.
        problem: String,
    },
    /// A top-level field is missing or unusable.
    #[error("`{field}`: {problem}")]
    Field {
        /// The field's path in the document.
        field: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The snapshot is larger than any real device's.
    #[error("the snapshot lists {count} {what}; at most {limit} are accepted")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A channel constructor was given parameters outside its domain.
    #[error("invalid channel parameter: {0}")]
    Parameter(String),
}

/// At most this many qubits in a snapshot (the largest devices have a few hundred).
pub const MAX_QUBITS: usize = 10_000;
/// At most this many gate entries in a snapshot (a 133-qubit Heron lists about 1,500).
pub const MAX_GATE_ENTRIES: usize = 100_000;
/// Channels act on at most this many qubits.
const MAX_CHANNEL_QUBITS: usize = 3;

impl NoiseModel {
    /// The channel to apply after `gate` on `qubits`, if any.
    pub fn after_gate(&self, gate: &Gate, qubits: &[usize]) -> Option<&Channel> {
        self.gates
            .get(&(gate.name().to_owned(), qubits.to_vec()))
            .or(match qubits.len() {
                1 => self.default_1q.as_ref(),
                2 => self.default_2q.as_ref(),
                _ => None,
            })
    }

    /// The channel to apply after an instruction named `name` (a gate's OpenQASM name, or
    /// `reset`) on `qubits`, looking only at the per-gate table (no device-wide default).
    pub fn after_instruction(&self, name: &str, qubits: &[usize]) -> Option<&Channel> {
        self.gates.get(&(name.to_owned(), qubits.to_vec()))
    }

    /// The channel to apply to `qubit` just after resetting it (relaxation during the reset, as
    /// Aer applies it), if any.
    pub fn after_reset(&self, qubit: usize) -> Option<&Channel> {
        self.after_instruction("reset", &[qubit])
    }

    /// The channel to apply to `qubit` just before measuring it, if any.
    pub fn before_measure(&self, qubit: usize) -> Option<&Channel> {
        self.measure.get(&qubit)
    }

    /// The readout error of `qubit`, if any.
    pub fn readout(&self, qubit: usize) -> Option<&Readout> {
        self.readout.get(&qubit).or(self.default_readout.as_ref())
    }

    /// Whether the model does anything at all.
    pub fn is_noiseless(&self) -> bool {
        self.gates.is_empty()
            && self.default_1q.is_none()
            && self.default_2q.is_none()
            && self.measure.is_empty()
            && self.readout.is_empty()
            && self.default_readout.is_none()
    }

    /// The model for a circuit whose qubit `i` is the device's qubit `layout[i]`: per-qubit and
    /// per-gate entries are renumbered, entries touching qubits outside `layout` are dropped, and
    /// device-wide defaults are kept. Use it to run a circuit written on physical qubits (say 101
    /// and 102 of a 127-qubit device) as a small circuit on qubits 0 and 1.
    pub fn remapped(&self, layout: &[usize]) -> NoiseModel {
        let local = |q: &usize| layout.iter().position(|p| p == q);
        let gates = self
            .gates
            .iter()
            .filter_map(|((name, qubits), ch)| {
                let mapped: Option<Vec<usize>> = qubits.iter().map(local).collect();
                mapped.map(|m| ((name.clone(), m), ch.clone()))
            })
            .collect();
        let per_qubit = |m: &BTreeMap<usize, Channel>| {
            m.iter()
                .filter_map(|(q, ch)| local(q).map(|l| (l, ch.clone())))
                .collect()
        };
        NoiseModel {
            source: format!("{} (remapped to qubits {layout:?})", self.source),
            gates,
            default_1q: self.default_1q.clone(),
            default_2q: self.default_2q.clone(),
            measure: per_qubit(&self.measure),
            readout: self
                .readout
                .iter()
                .filter_map(|(q, r)| local(q).map(|l| (l, *r)))
                .collect(),
            default_readout: self.default_readout,
            warnings: self.warnings.clone(),
        }
    }

    /// The model as compact JSON, for digests: maps are ordered, numbers are printed in their
    /// shortest round-trip form, so the same model gives the same bytes. (Channels are computed
    /// with `exp` and `sqrt`; two platforms whose maths libraries round `exp` differently may
    /// differ in the last bit, so to identify a model across machines digest the snapshot it was
    /// built from as well.)
    pub fn canonical_json(&self) -> Result<String, NoiseError> {
        serde_json::to_string(self).map_err(|source| NoiseError::Json {
            document: "noise model",
            source,
        })
    }

    /// The noise model qiskit-aer's `NoiseModel.from_backend_properties` builds from IBM backend
    /// properties (`props_json`), as described in the [module docs](self). `config_json`, the
    /// backend configuration, is optional: when given, its `backend_name` and `n_qubits` must
    /// agree with the properties (the recipe itself uses nothing else from it).
    pub fn from_ibm_properties(
        props_json: &str,
        config_json: Option<&str>,
    ) -> Result<NoiseModel, NoiseError> {
        let text = null_for_non_finite(props_json);
        let props: IbmProperties =
            serde_json::from_str(&text).map_err(|source| NoiseError::Json {
                document: "backend properties",
                source,
            })?;
        if props.qubits.len() > MAX_QUBITS {
            return Err(NoiseError::TooLarge {
                what: "qubits",
                count: props.qubits.len(),
                limit: MAX_QUBITS,
            });
        }
        if props.gates.len() > MAX_GATE_ENTRIES {
            return Err(NoiseError::TooLarge {
                what: "gate entries",
                count: props.gates.len(),
                limit: MAX_GATE_ENTRIES,
            });
        }
        if let Some(config) = config_json {
            check_config(config, &props)?;
        }

        let mut model = NoiseModel {
            source: format!(
                "IBM backend properties of {} ({}); qiskit-aer device noise recipe",
                props
                    .backend_name
                    .as_deref()
                    .unwrap_or("an unnamed backend"),
                props.last_update_date.as_deref().unwrap_or("undated"),
            ),
            ..NoiseModel::default()
        };

        let mut qubits = Vec::with_capacity(props.qubits.len());
        for (index, entries) in props.qubits.iter().enumerate() {
            qubits.push(QubitProps::parse(index, entries, &mut model.warnings)?);
        }
        for (index, q) in qubits.iter().enumerate() {
            if let Some(r) = q.readout {
                model.readout.insert(index, r);
            }
        }
        for gate in &props.gates {
            add_ibm_gate(&mut model, gate, &qubits)?;
        }
        Ok(model)
    }

    /// A device-wide noise model from an IonQ characterization (the JSON of
    /// `GET /v0.4/backends/{backend}/characterizations/{id}` or `.../current`), as described in
    /// the [module docs](self).
    pub fn from_ionq_characterization(json: &str) -> Result<NoiseModel, NoiseError> {
        let text = null_for_non_finite(json);
        let ch: IonqCharacterization =
            serde_json::from_str(&text).map_err(|source| NoiseError::Json {
                document: "IonQ characterization",
                source,
            })?;
        let mut model = NoiseModel {
            source: format!(
                "IonQ characterization {} of {} ({})",
                ch.id.as_deref().unwrap_or("without id"),
                ch.backend.as_deref().unwrap_or("an unnamed backend"),
                match &ch.date {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => format!("{n} s since the Unix epoch"),
                    _ => "undated".to_owned(),
                }
            ),
            ..NoiseModel::default()
        };
        let f1 = ionq_fidelity(&ch.fidelity, &["1q", "1Q"], &mut model.warnings)?;
        let f2 = ionq_fidelity(&ch.fidelity, &["2q", "2Q"], &mut model.warnings)?;
        let spam = ionq_fidelity(&ch.fidelity, &["spam"], &mut model.warnings)?;
        if f1.is_none() && f2.is_none() && spam.is_none() {
            return Err(NoiseError::Field {
                field: "fidelity".to_owned(),
                problem: "none of `1q`, `2q` and `spam` holds a fidelity; pass a characterization \
                          as IonQ's API returns it"
                    .to_owned(),
            });
        }
        if let Some(f) = f1 {
            model.default_1q = fitted_depolarizing(1, 1.0 - f, None)?;
        }
        if let Some(f) = f2 {
            model.default_2q = fitted_depolarizing(2, 1.0 - f, None)?;
        }
        if let Some(f) = spam {
            let p = 1.0 - f;
            if p > READOUT_ZERO {
                model.default_readout = Some([[1.0 - p, p], [p, 1.0 - p]]);
            }
        }
        Ok(model)
    }
}

fn serialize_gates<S: Serializer>(
    gates: &BTreeMap<(String, Vec<usize>), Channel>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Entry<'a> {
        gate: &'a str,
        qubits: &'a [usize],
        channel: &'a Channel,
    }
    serializer.collect_seq(gates.iter().map(|((gate, qubits), channel)| Entry {
        gate,
        qubits,
        channel,
    }))
}

// ---------------------------------------------------------------------------------------------
// IBM backend properties

#[derive(Deserialize)]
struct IbmProperties {
    #[serde(default)]
    backend_name: Option<String>,
    #[serde(default)]
    last_update_date: Option<String>,
    qubits: Vec<Vec<Nduv>>,
    gates: Vec<IbmGate>,
}

/// One `{name, value, unit}` entry (IBM calls them Nduv: name, date, unit, value).
#[derive(Deserialize)]
struct Nduv {
    name: String,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    unit: Option<String>,
}

#[derive(Deserialize)]
struct IbmGate {
    gate: String,
    qubits: Vec<usize>,
    #[serde(default)]
    parameters: Vec<Nduv>,
}

/// Readout probabilities this small are zero (Aer's `allclose(value, [0, 0])`).
const READOUT_ZERO: f64 = 1e-8;

/// What the recipe uses of one qubit.
struct QubitProps {
    /// T1 in ns (infinite when absent), or why it is unusable.
    t1: Result<f64, String>,
    /// T2 in ns (infinite when absent), or why it is unusable.
    t2: Result<f64, String>,
    readout: Option<Readout>,
}

impl QubitProps {
    fn parse(
        index: usize,
        entries: &[Nduv],
        warnings: &mut Vec<String>,
    ) -> Result<Self, NoiseError> {
        let qubit_err = |problem: String| NoiseError::Qubit {
            qubit: index,
            problem,
        };
        let mut number = |name: &str| -> Result<Option<(f64, Option<String>)>, NoiseError> {
            match lookup(entries, name).map_err(qubit_err)? {
                Found::Absent => Ok(None),
                Found::Null => {
                    warnings.push(format!(
                        "qubit {index}: `{name}` is not a finite number; treated as absent"
                    ));
                    Ok(None)
                }
                Found::Value(v, unit) => Ok(Some((v, unit.map(str::to_owned)))),
            }
        };
        let time = |name: &str, found: Option<(f64, Option<String>)>| -> Result<f64, NoiseError> {
            match found {
                None => Ok(f64::INFINITY),
                Some((v, unit)) => Ok(v * ns_per_unit(unit.as_deref()).map_err(|u| {
                    qubit_err(format!(
                        "`{name}` has unit `{u}`; expected one of s, ms, us, µs, ns"
                    ))
                })?),
            }
        };
        let t1_raw = number("T1")?;
        let t2_raw = number("T2")?;
        let as_given = |raw: &Option<(f64, Option<String>)>| match raw {
            Some((v, Some(unit))) if !unit.is_empty() => format!("{v} {unit}"),
            Some((v, _)) => format!("{v}"),
            None => "absent".to_owned(),
        };
        let t1_text = as_given(&t1_raw);
        let t2_text = as_given(&t2_raw);
        let t1 = time("T1", t1_raw)?;
        let t2 = time("T2", t2_raw)?;
        let t1 = if t1 > 0.0 {
            Ok(t1)
        } else {
            Err(format!(
                "T1 is {t1_text}; a relaxation time must be positive (qiskit-aer refuses it \
                 too): correct or remove the qubit's `T1` entry"
            ))
        };
        let t2 = if t2 > 0.0 {
            Ok(t2)
        } else {
            Err(format!(
                "T2 is {t2_text}; a coherence time must be positive (qiskit-aer refuses it \
                 too): correct or remove the qubit's `T2` entry"
            ))
        };

        let m1p0 = number("prob_meas1_prep0")?.map(|(v, _)| v);
        let m0p1 = number("prob_meas0_prep1")?.map(|(v, _)| v);
        let symmetric = number("readout_error")?.map(|(v, _)| v);
        let pair = match (m1p0, m0p1, symmetric) {
            (Some(a), Some(b), _) => Some([("prob_meas1_prep0", a), ("prob_meas0_prep1", b)]),
            (_, _, Some(e)) => Some([("readout_error", e), ("readout_error", e)]),
            _ => None,
        };
        let readout = match pair {
            None => None,
            Some(pair) => {
                for (name, v) in pair {
                    if !(0.0..=1.0).contains(&v) {
                        return Err(qubit_err(format!(
                            "`{name}` is {v}; a probability lies in [0, 1]"
                        )));
                    }
                }
                let [(_, a), (_, b)] = pair;
                if a.abs() <= READOUT_ZERO && b.abs() <= READOUT_ZERO {
                    None
                } else {
                    Some([[1.0 - a, a], [b, 1.0 - b]])
                }
            }
        };
        Ok(QubitProps { t1, t2, readout })
    }

    /// T1 and T2 (ns) for a gate that takes time, with T2 clipped to 2·T1 as Aer does.
    fn relaxation_times(
        &self,
        qubit: usize,
        warnings: &mut Vec<String>,
    ) -> Result<(f64, f64), NoiseError> {
        let t1 = self
            .t1
            .clone()
            .map_err(|problem| NoiseError::Qubit { qubit, problem })?;
        let t2 = self
            .t2
            .clone()
            .map_err(|problem| NoiseError::Qubit { qubit, problem })?;
        if t2 > 2.0 * t1 {
            let note = format!(
                "qubit {qubit}: T2 = {} µs exceeds 2·T1 = {} µs; clipped to 2·T1 as qiskit-aer does",
                t2 / 1e3,
                2.0 * t1 / 1e3
            );
            if !warnings.contains(&note) {
                warnings.push(note);
            }
            Ok((t1, 2.0 * t1))
        } else {
            Ok((t1, t2))
        }
    }
}

/// A number looked up by name in a list of `{name, value, unit}` entries (the first match, as
/// Aer takes it).
enum Found<'a> {
    /// No entry of that name.
    Absent,
    /// An entry whose value is `null` (or was `NaN`/`Infinity`).
    Null,
    /// The value and its unit.
    Value(f64, Option<&'a str>),
}

fn lookup<'a>(entries: &'a [Nduv], name: &str) -> Result<Found<'a>, String> {
    let Some(entry) = entries.iter().find(|e| e.name == name) else {
        return Ok(Found::Absent);
    };
    match &entry.value {
        Value::Null => Ok(Found::Null),
        Value::Number(n) => match n.as_f64() {
            Some(v) if v.is_finite() => Ok(Found::Value(v, entry.unit.as_deref())),
            _ => Err(format!("`{name}` is not a finite number")),
        },
        other => Err(format!("`{name}` should be a number, found `{other}`")),
    }
}

/// Nanoseconds per `unit` (Aer's `_NANOSECOND_UNITS`; missing or empty: the number as is).
fn ns_per_unit(unit: Option<&str>) -> Result<f64, String> {
    match unit.unwrap_or("") {
        "" | "ns" => Ok(1.0),
        "us" | "µs" | "μs" => Ok(1e3),
        "ms" => Ok(1e6),
        "s" => Ok(1e9),
        other => Err(other.to_owned()),
    }
}

fn check_config(config_json: &str, props: &IbmProperties) -> Result<(), NoiseError> {
    let config: Value =
        serde_json::from_str(&null_for_non_finite(config_json)).map_err(|source| {
            NoiseError::Json {
                document: "backend configuration",
                source,
            }
        })?;
    if !config.is_object() {
        return Err(NoiseError::Field {
            field: "configuration".to_owned(),
            problem: "expected a JSON object (the backend's `configuration`)".to_owned(),
        });
    }
    if let (Some(Value::String(c)), Some(p)) = (config.get("backend_name"), &props.backend_name)
        && c != p
    {
        return Err(NoiseError::Field {
            field: "backend_name".to_owned(),
            problem: format!(
                "the configuration is of `{c}` but the properties are of `{p}`; pass the two \
                 files of the same backend"
            ),
        });
    }
    if let Some(n) = config.get("n_qubits") {
        match n.as_u64() {
            Some(n) if usize::try_from(n).ok() == Some(props.qubits.len()) => {}
            Some(n) => {
                return Err(NoiseError::Field {
                    field: "n_qubits".to_owned(),
                    problem: format!(
                        "the configuration has {n} qubits but the properties list {}; pass the \
                         two files of the same backend",
                        props.qubits.len()
                    ),
                });
            }
            None => {
                return Err(NoiseError::Field {
                    field: "n_qubits".to_owned(),
                    problem: format!("expected a non-negative integer, found `{n}`"),
                });
            }
        }
    }
    Ok(())
}

fn add_ibm_gate(
    model: &mut NoiseModel,
    gate: &IbmGate,
    qubits: &[QubitProps],
) -> Result<(), NoiseError> {
    let gate_err = |problem: String| NoiseError::Gate {
        gate: gate.gate.clone(),
        qubits: gate.qubits.clone(),
        problem,
    };
    let n = gate.qubits.len();
    if n == 0 || n > 2 {
        return Err(gate_err(format!(
            "acts on {n} qubits; only one- and two-qubit gate entries are supported"
        )));
    }
    if n == 2 && gate.qubits.first() == gate.qubits.get(1) {
        return Err(gate_err("names the same qubit twice".to_owned()));
    }
    let mut props = Vec::with_capacity(n);
    for &q in &gate.qubits {
        match qubits.get(q) {
            Some(p) => props.push((q, p)),
            None => {
                return Err(gate_err(format!(
                    "qubit {q} is not among the {} entries of the snapshot's `qubits` list",
                    qubits.len()
                )));
            }
        }
    }
    let mut number = |name: &str| -> Result<Option<(f64, Option<String>)>, NoiseError> {
        match lookup(&gate.parameters, name).map_err(gate_err)? {
            Found::Absent => Ok(None),
            Found::Null => {
                model.warnings.push(format!(
                    "gate `{}` on qubits {:?}: `{name}` is not a finite number; treated as absent",
                    gate.gate, gate.qubits
                ));
                Ok(None)
            }
            Found::Value(v, unit) => Ok(Some((v, unit.map(str::to_owned)))),
        }
    };
    let length = match number("gate_length")? {
        None => None,
        Some((v, unit)) => {
            let scale = ns_per_unit(unit.as_deref()).map_err(|u| {
                gate_err(format!(
                    "`gate_length` has unit `{u}`; expected one of s, ms, us, µs, ns"
                ))
            })?;
            Some(v * scale)
        }
    };
    let error = number("gate_error")?.map(|(v, _)| v);
    if let Some(t) = length
        && t < 0.0
    {
        return Err(gate_err(format!(
            "`gate_length` is {t} ns; a duration cannot be negative"
        )));
    }
    if let Some(e) = error
        && !(0.0..=1.0).contains(&e)
    {
        return Err(gate_err(format!(
            "`gate_error` is {e}; an error probability lies in [0, 1]"
        )));
    }

    let relax = match length {
        Some(t) if t > 0.0 => {
            let mut combined: Option<Channel> = None;
            for &(q, p) in &props {
                let (t1, t2) = p.relaxation_times(q, &mut model.warnings)?;
                let single =
                    Channel::thermal_relaxation(t1, t2, t).map_err(|e| gate_err(e.to_string()))?;
                combined = Some(match combined {
                    None => single,
                    // The first qubit is the least significant: later qubits go on top.
                    Some(low) => low.tensor(&single)?,
                });
            }
            combined
        }
        _ => None,
    };
    let depol = match error {
        Some(e) => fitted_depolarizing(n, e, relax.as_ref())?,
        None => None,
    };
    let channel = match (depol, relax) {
        (Some(d), Some(r)) => Some(d.then(&r)?),
        (Some(d), None) => Some(d),
        (None, Some(r)) => Some(r),
        (None, None) => None,
    };
    if let Some(channel) = channel {
        let key = (gate.gate.clone(), gate.qubits.clone());
        if let Some(existing) = model.gates.remove(&key) {
            model.warnings.push(format!(
                "gate `{}` on qubits {:?} is listed more than once; its errors are composed, as \
                 qiskit-aer does",
                gate.gate, gate.qubits
            ));
            model.gates.insert(key, existing.then(&channel)?);
        } else {
            model.gates.insert(key, channel);
        }
    }
    Ok(())
}

/// Aer's `_device_depolarizing_error`: the depolarizing channel that, applied before `relax`,
/// makes the pair's average gate infidelity `error` (clipped to its physical range), or `None`
/// when the relaxation alone already reaches it.
fn fitted_depolarizing(
    num_qubits: usize,
    error: f64,
    relax: Option<&Channel>,
) -> Result<Option<Channel>, NoiseError> {
    let (relax_fid, relax_infid) = match relax {
        Some(r) => {
            let f = r.average_gate_fidelity();
            (f, 1.0 - f)
        }
        None => (1.0, 0.0),
    };
    // NaN compares false: no depolarizing, as in Aer.
    if error.partial_cmp(&relax_infid) != Some(std::cmp::Ordering::Greater) {
        return Ok(None);
    }
    let dim = pow2(num_qubits) as f64;
    let error = error.min(dim / (dim + 1.0));
    let max_param = max_depolarizing(num_qubits);
    let denominator = dim * relax_fid - 1.0;
    let param = if denominator > 0.0 {
        (dim * (error - relax_infid) / denominator).min(max_param)
    } else {
        max_param
    };
    Channel::depolarizing(num_qubits, param).map(Some)
}

fn max_depolarizing(num_qubits: usize) -> f64 {
    let terms = pow2(2 * num_qubits) as f64;
    terms / (terms - 1.0)
}

fn check_width(what: &str, num_qubits: usize) -> Result<(), NoiseError> {
    if (1..=MAX_CHANNEL_QUBITS).contains(&num_qubits) {
        Ok(())
    } else {
        Err(NoiseError::Parameter(format!(
            "{what} acts on 1 to {MAX_CHANNEL_QUBITS} qubits, not {num_qubits}"
        )))
    }
}

fn pow2(k: usize) -> usize {
    1usize
        .checked_shl(u32::try_from(k).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// IonQ characterization

#[derive(Deserialize)]
struct IonqCharacterization {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    date: Option<Value>,
    #[serde(default)]
    backend: Option<String>,
    fidelity: BTreeMap<String, Value>,
}

fn ionq_fidelity(
    fidelity: &BTreeMap<String, Value>,
    keys: &[&str],
    warnings: &mut Vec<String>,
) -> Result<Option<f64>, NoiseError> {
    let Some((key, stat)) = keys.iter().find_map(|k| fidelity.get(*k).map(|v| (*k, v))) else {
        warnings.push(format!(
            "`fidelity.{}` is absent; no error modelled for it",
            keys.first().copied().unwrap_or_default()
        ));
        return Ok(None);
    };
    let field_err = |field: String, problem: String| NoiseError::Field { field, problem };
    let Some(obj) = stat.as_object() else {
        return Err(field_err(
            format!("fidelity.{key}"),
            format!("expected an object such as {{\"mean\": 0.9995}}, found `{stat}`"),
        ));
    };
    let Some((which, value)) = ["mean", "median"]
        .iter()
        .find_map(|w| obj.get(*w).filter(|v| !v.is_null()).map(|v| (*w, v)))
    else {
        warnings.push(format!(
            "`fidelity.{key}` has neither a `mean` nor a `median`; no error modelled for it"
        ));
        return Ok(None);
    };
    match value.as_f64() {
        Some(f) if f > 0.0 && f <= 1.0 => Ok(Some(f)),
        _ => Err(field_err(
            format!("fidelity.{key}.{which}"),
            format!("expected a fidelity in (0, 1], found `{value}`"),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Python's JSON extensions

/// Python's `json` writes `NaN`, `Infinity` and `-Infinity`, which are not JSON; turn them into
/// `null` (outside strings) so the document parses and the value reads as absent.
fn null_for_non_finite(text: &str) -> Cow<'_, str> {
    if !text.contains("NaN") && !text.contains("Infinity") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut in_string = false;
    let mut escaped = false;
    while let Some(c) = rest.chars().next() {
        if !in_string {
            let token = ["-Infinity", "Infinity", "NaN"]
                .iter()
                .find_map(|t| rest.strip_prefix(t));
            if let Some(after) = token {
                out.push_str("null");
                rest = after;
                continue;
            }
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = rest.get(c.len_utf8()..).unwrap_or_default();
    }
    Cow::Owned(out)
}

// ---------------------------------------------------------------------------------------------
// Channels

impl Channel {
    /// The identity channel on `num_qubits` qubits (1 to 3).
    pub fn identity(num_qubits: usize) -> Result<Channel, NoiseError> {
        check_width("an identity channel", num_qubits)?;
        Ok(Channel {
            num_qubits,
            kraus: vec![identity_matrix(pow2(num_qubits))],
        })
    }

    /// `Some(d)` when the channel is well formed: at most 3 qubits, every operator `d × d`.
    fn dimension(&self) -> Option<usize> {
        let d = pow2(self.num_qubits);
        let well_formed = (1..=MAX_CHANNEL_QUBITS).contains(&self.num_qubits)
            && self.kraus.iter().all(|k| k.len() == d * d);
        well_formed.then_some(d)
    }

    /// The depolarizing channel `ρ ↦ (1 − p) ρ + p Tr(ρ) I/2ⁿ` (qiskit-aer's
    /// `depolarizing_error(p, n)`), for `0 ≤ p ≤ 4ⁿ/(4ⁿ − 1)`; Kraus operators
    /// `√(1 − p (4ⁿ − 1)/4ⁿ) I` and `√(p/4ⁿ) P` for each non-identity Pauli string P.
    pub fn depolarizing(num_qubits: usize, param: f64) -> Result<Channel, NoiseError> {
        check_width("a depolarizing channel", num_qubits)?;
        let max = max_depolarizing(num_qubits);
        if !(0.0..=max).contains(&param) {
            return Err(NoiseError::Parameter(format!(
                "the {num_qubits}-qubit depolarizing parameter must lie in [0, {max}], not {param}"
            )));
        }
        let terms = pow2(2 * num_qubits);
        let p_identity = 1.0 - param / max;
        let p_pauli = param / terms as f64;
        let mut kraus = Vec::with_capacity(terms);
        for index in 0..terms {
            let weight = if index == 0 { p_identity } else { p_pauli };
            if weight <= 0.0 {
                continue;
            }
            // Digit k (base 4) of `index` is the Pauli on qubit k (the k-th least significant).
            let mut op = vec![C64::new(1.0, 0.0)];
            let mut dim = 1;
            for k in 0..num_qubits {
                let digit = (index >> (2 * k)) & 3;
                op = kron(&pauli(digit), 2, &op, dim);
                dim *= 2;
            }
            let s = weight.sqrt();
            kraus.push(op.into_iter().map(|x| x * s).collect());
        }
        Ok(Channel { num_qubits, kraus })
    }

    /// Single-qubit thermal relaxation over `time` with relaxation time `t1` and coherence time
    /// `t2` (all in the same unit; `f64::INFINITY` for none), at zero temperature: qiskit-aer's
    /// `thermal_relaxation_error(t1, t2, time)`. Requires `t1, t2 > 0`, `time ≥ 0` and
    /// `t2 ≤ 2·t1` (clip T2 first, as the device recipe does).
    pub fn thermal_relaxation(t1: f64, t2: f64, time: f64) -> Result<Channel, NoiseError> {
        if t1.is_nan() || t2.is_nan() || t1 <= 0.0 || t2 <= 0.0 {
            return Err(NoiseError::Parameter(format!(
                "T1 and T2 must be positive, got T1 = {t1}, T2 = {t2}"
            )));
        }
        if !time.is_finite() || time < 0.0 {
            return Err(NoiseError::Parameter(format!(
                "the relaxation time must be finite and non-negative, got {time}"
            )));
        }
        if t2 > 2.0 * t1 {
            return Err(NoiseError::Parameter(format!(
                "T2 = {t2} exceeds 2·T1 = {}; no physical channel has that",
                2.0 * t1
            )));
        }
        // γ = 1 − e^{−t/T1}, λ = e^{−t/T2}; 1 − γ − λ² = e^{−t/T1} − e^{−2t/T2} ≥ 0 as T2 ≤ 2T1.
        let decay = (-time / t1).exp();
        let gamma = 1.0 - decay;
        let lambda = (-time / t2).exp();
        let dephase = (decay - lambda * lambda).max(0.0).sqrt();
        let z = C64::new(0.0, 0.0);
        let r = |x: f64| C64::new(x, 0.0);
        let mut kraus = vec![vec![r(1.0), z, z, r(lambda)]];
        if gamma > 0.0 {
            kraus.push(vec![z, r(gamma.sqrt()), z, z]);
        }
        if dephase > 0.0 {
            kraus.push(vec![z, z, z, r(dephase)]);
        }
        Ok(Channel {
            num_qubits: 1,
            kraus,
        })
    }

    /// This channel, then `next` (same qubits): Kraus operators `B A`, reduced to a minimal set.
    pub fn then(&self, next: &Channel) -> Result<Channel, NoiseError> {
        if self.num_qubits != next.num_qubits {
            return Err(NoiseError::Parameter(format!(
                "cannot compose a {}-qubit channel with a {}-qubit one",
                self.num_qubits, next.num_qubits
            )));
        }
        let (Some(d), Some(_)) = (self.dimension(), next.dimension()) else {
            return Err(NoiseError::Parameter(format!(
                "only well-formed channels on 1 to {MAX_CHANNEL_QUBITS} qubits can be composed"
            )));
        };
        let mut products = Vec::with_capacity(self.kraus.len() * next.kraus.len());
        for b in &next.kraus {
            for a in &self.kraus {
                products.push(matmul(b, a, d));
            }
        }
        Ok(Channel::minimal(self.num_qubits, &products))
    }

    /// The product channel with `self` on the low qubits and `high` on the qubits above them
    /// (Kraus operators `B ⊗ A`): for a gate on `[q0, q1]`, `e0.tensor(&e1)` puts `e0` on `q0`.
    /// The result may have at most 3 qubits.
    pub fn tensor(&self, high: &Channel) -> Result<Channel, NoiseError> {
        check_width(
            "a product channel",
            self.num_qubits.saturating_add(high.num_qubits),
        )?;
        let (Some(dl), Some(dh)) = (self.dimension(), high.dimension()) else {
            return Err(NoiseError::Parameter(
                "only well-formed channels can be tensored".to_owned(),
            ));
        };
        let mut kraus = Vec::with_capacity(self.kraus.len() * high.kraus.len());
        for b in &high.kraus {
            for a in &self.kraus {
                kraus.push(kron(b, dh, a, dl));
            }
        }
        Ok(Channel {
            num_qubits: self.num_qubits + high.num_qubits,
            kraus,
        })
    }

    /// Average gate fidelity to the identity, `(d + Σ|Tr K|²) / (d (d + 1))`; `NaN` for a
    /// malformed channel (operators of the wrong size, more than 3 qubits).
    pub fn average_gate_fidelity(&self) -> f64 {
        let Some(d) = self.dimension() else {
            return f64::NAN;
        };
        let sum: f64 = self
            .kraus
            .iter()
            .map(|k| (0..d).map(|i| at(k, d, i, i)).sum::<C64>().norm_sqr())
            .sum();
        let d = d as f64;
        (d + sum) / (d * (d + 1.0))
    }

    /// The largest entry of `|Σ K†K − I|`: zero for an exactly trace-preserving channel,
    /// infinite for a malformed one (operators of the wrong size, more than 3 qubits).
    pub fn completeness_error(&self) -> f64 {
        let Some(d) = self.dimension() else {
            return f64::INFINITY;
        };
        let mut worst = 0.0f64;
        for i in 0..d {
            for j in 0..d {
                let mut s = C64::new(0.0, 0.0);
                for k in &self.kraus {
                    for r in 0..d {
                        s += at(k, d, r, i).conj() * at(k, d, r, j);
                    }
                }
                if i == j {
                    s -= 1.0;
                }
                worst = worst.max(s.norm());
            }
        }
        worst
    }

    /// The channel with Kraus operators `ops`, re-expressed with the fewest operators: the
    /// eigenvectors of its Choi matrix, largest weight first.
    fn minimal(num_qubits: usize, ops: &[Vec<C64>]) -> Channel {
        let d = pow2(num_qubits);
        let n = d * d;
        // Choi matrix C = Σ vec(K) vec(K)†, vec = row-major flattening.
        let mut choi = vec![C64::new(0.0, 0.0); n * n];
        for k in ops {
            for (i, a) in k.iter().enumerate() {
                for (j, b) in k.iter().enumerate() {
                    if let Some(c) = choi.get_mut(i * n + j) {
                        *c += a * b.conj();
                    }
                }
            }
        }
        let (values, vectors) = hermitian_eigen(choi, n);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            let va = values.get(a).copied().unwrap_or(0.0);
            let vb = values.get(b).copied().unwrap_or(0.0);
            vb.total_cmp(&va)
        });
        let cutoff = 1e-14 * d as f64;
        let mut kraus = Vec::new();
        for idx in order {
            let lambda = values.get(idx).copied().unwrap_or(0.0);
            if lambda <= cutoff {
                continue;
            }
            let s = lambda.sqrt();
            kraus.push((0..n).map(|row| at(&vectors, n, row, idx) * s).collect());
        }
        Channel { num_qubits, kraus }
    }
}

fn at(m: &[C64], n: usize, row: usize, col: usize) -> C64 {
    row.checked_mul(n)
        .and_then(|i| i.checked_add(col))
        .and_then(|i| m.get(i))
        .copied()
        .unwrap_or_default()
}

fn identity_matrix(d: usize) -> Vec<C64> {
    (0..d * d)
        .map(|i| {
            if i % (d + 1) == 0 {
                C64::new(1.0, 0.0)
            } else {
                C64::new(0.0, 0.0)
            }
        })
        .collect()
}

fn pauli(index: usize) -> Vec<C64> {
    let o = C64::new(0.0, 0.0);
    let l = C64::new(1.0, 0.0);
    let i = C64::new(0.0, 1.0);
    match index {
        0 => vec![l, o, o, l],
        1 => vec![o, l, l, o],
        2 => vec![o, -i, i, o],
        _ => vec![l, o, o, -l],
    }
}

/// `c = a b` for `d × d` matrices.
fn matmul(a: &[C64], b: &[C64], d: usize) -> Vec<C64> {
    let mut c = vec![C64::new(0.0, 0.0); d * d];
    for i in 0..d {
        for k in 0..d {
            let x = at(a, d, i, k);
            if x == C64::new(0.0, 0.0) {
                continue;
            }
            for j in 0..d {
                if let Some(out) = c.get_mut(i * d + j) {
                    *out += x * at(b, d, k, j);
                }
            }
        }
    }
    c
}

/// `hi ⊗ lo`: the basis index is `i_lo + d_lo · i_hi`.
fn kron(hi: &[C64], dh: usize, lo: &[C64], dl: usize) -> Vec<C64> {
    let d = dh * dl;
    let mut out = vec![C64::new(0.0, 0.0); d * d];
    for ih in 0..dh {
        for jh in 0..dh {
            let h = at(hi, dh, ih, jh);
            for il in 0..dl {
                for jl in 0..dl {
                    if let Some(x) = out.get_mut((il + dl * ih) * d + (jl + dl * jh)) {
                        *x = h * at(lo, dl, il, jl);
                    }
                }
            }
        }
    }
    out
}

/// Eigen-decomposition of the Hermitian `n × n` matrix `a` by cyclic complex Jacobi rotations:
/// the eigenvalues and the eigenvectors (as the columns of a row-major `n × n` matrix).
fn hermitian_eigen(mut a: Vec<C64>, n: usize) -> (Vec<f64>, Vec<C64>) {
    let mut v = identity_matrix(n);
    let frobenius: f64 = a.iter().map(|x| x.norm_sqr()).sum::<f64>().sqrt();
    if frobenius == 0.0 || !frobenius.is_finite() {
        return (vec![0.0; n], v);
    }
    let tiny = frobenius * 1e-300_f64.max(f64::EPSILON * 1e-3);
    for _sweep in 0..64 {
        let mut off = 0.0;
        for p in 0..n {
            for q in 0..n {
                if p != q {
                    off += at(&a, n, p, q).norm_sqr();
                }
            }
        }
        if off.sqrt() <= f64::EPSILON * 1e-2 * frobenius {
            break;
        }
        let mut rotated = false;
        for p in 0..n {
            for q in (p + 1)..n {
                let apq = at(&a, n, p, q);
                let mag = apq.norm();
                if mag <= tiny {
                    continue;
                }
                rotated = true;
                let phase = apq / mag;
                let app = at(&a, n, p, p).re;
                let aqq = at(&a, n, q, q).re;
                let tau = (aqq - app) / (2.0 * mag);
                let t = if tau >= 0.0 {
                    1.0 / (tau + (1.0 + tau * tau).sqrt())
                } else {
                    -1.0 / (-tau + (1.0 + tau * tau).sqrt())
                };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = t * c;
                // J = [[c, s·e^{iφ}], [−s·e^{−iφ}, c]] on (p, q); A ← J† A J, V ← V J.
                for k in 0..n {
                    let akp = at(&a, n, k, p);
                    let akq = at(&a, n, k, q);
                    set(&mut a, n, k, p, akp * c - phase.conj() * akq * s);
                    set(&mut a, n, k, q, phase * akp * s + akq * c);
                }
                for k in 0..n {
                    let apk = at(&a, n, p, k);
                    let aqk = at(&a, n, q, k);
                    set(&mut a, n, p, k, apk * c - phase * aqk * s);
                    set(&mut a, n, q, k, phase.conj() * apk * s + aqk * c);
                }
                set(&mut a, n, p, q, C64::new(0.0, 0.0));
                set(&mut a, n, q, p, C64::new(0.0, 0.0));
                for k in 0..n {
                    let vkp = at(&v, n, k, p);
                    let vkq = at(&v, n, k, q);
                    set(&mut v, n, k, p, vkp * c - phase.conj() * vkq * s);
                    set(&mut v, n, k, q, phase * vkp * s + vkq * c);
                }
            }
        }
        if !rotated {
            break;
        }
    }
    ((0..n).map(|i| at(&a, n, i, i).re).collect(), v)
}

fn set(m: &mut [C64], n: usize, row: usize, col: usize, value: C64) {
    let index = row.checked_mul(n).and_then(|i| i.checked_add(col));
    if let Some(x) = index.and_then(|i| m.get_mut(i)) {
        *x = value;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn eigen_reconstructs_a_hermitian_matrix() {
        let n = 4;
        let mut a = vec![C64::new(0.0, 0.0); n * n];
        for i in 0..n {
            for j in i..n {
                let x = C64::new(
                    (i * 7 + j * 3) as f64 * 0.1,
                    if i == j {
                        0.0
                    } else {
                        (i + 2 * j) as f64 * 0.05
                    },
                );
                a[i * n + j] = x;
                a[j * n + i] = x.conj();
            }
        }
        let (w, v) = hermitian_eigen(a.clone(), n);
        for i in 0..n {
            for j in 0..n {
                let mut s = C64::new(0.0, 0.0);
                for k in 0..n {
                    s += v[i * n + k] * w[k] * v[j * n + k].conj();
                }
                assert!((s - a[i * n + j]).norm() < 1e-12);
            }
        }
    }

    #[test]
    fn python_tokens_become_null_outside_strings() {
        let t = null_for_non_finite(
            r#"{"a": NaN, "b": "NaN \" Infinity", "c": [-Infinity, Infinity]}"#,
        );
        assert_eq!(
            t,
            r#"{"a": null, "b": "NaN \" Infinity", "c": [null, null]}"#
        );
    }
}
