//! The QPY front end: the binary circuit format Qiskit's `qiskit.qpy.dump` writes (and IBM
//! SamplerV2 jobs carry, zlib-compressed and base64-encoded) → [`Circuit`]s.
//!
//! # What it reads
//!
//! QPY versions 12 to 18: every circuit of the file, in order (with the circuit offset table of
//! version 16 and later). Sources: Qiskit's `qiskit/qpy/formats.py`, `binary_io/circuits.py`,
//! `binary_io/value.py` and `interface.py`, and its native reader `crates/qpy` (`formats.rs`,
//! `circuit_reader.rs`, `interface.rs`) for version 18: `REGISTER` with a contiguous start
//! index or `u32` bit indices, the parameter-vector table, no calibrations block, the layout's
//! shorter anonymous qubits, and big-endian numbers everywhere. Up to version 17, integer and
//! float *instruction parameters* are little-endian (Qiskit's own "TODO This uses little
//! endian"); every other number is big-endian.
//!
//! Instructions (by the class name QPY stores):
//!
//! * every Qiskit standard gate the simulator has, exactly (global phase included): `IGate`,
//!   `XGate`, `YGate`, `ZGate`, `HGate`, `SGate`, `SdgGate`, `TGate`, `TdgGate`, `SXGate`,
//!   `SXdgGate`, `RXGate`, `RYGate`, `RZGate`, `PhaseGate`, `UGate`, `U1Gate`, `U2Gate`,
//!   `U3Gate`, `RGate`, `CXGate`, `CYGate`, `CZGate`, `CHGate`, `CPhaseGate`, `CU1Gate`,
//!   `CSGate`, `CSdgGate`, `CSXGate`, `CRXGate`, `CRYGate`, `CRZGate`, `CUGate`, `CU3Gate`,
//!   `SwapGate`, `iSwapGate`, `ECRGate`, `RXXGate`, `RYYGate`, `RZZGate`, `CCXGate`,
//!   `CSwapGate`, with float or integer parameters;
//! * `Measure`, `Reset`, `Barrier`; `Delay` and `GlobalPhaseGate` (no effect on what is
//!   measured, so nothing is emitted for them); the circuit's global phase is read and checked
//!   but not kept, as it changes no measured probability.
//!
//! Refused, each with a [`QpyError`] naming the circuit, the instruction and its index, and
//! what to do: symbolic parameters or global phase ([`QpyError::Symbolic`]: bind them first);
//! control flow, classical conditions (`c_if`), `Store` and classical variables; custom gates
//! defined in the file and standard gates the simulator lacks (`RZXGate`, `DCXGate`, …:
//! transpile to the backend's basis first); open-controlled gates; pulse calibrations.
//!
//! # The circuit
//!
//! [`Circuit::num_qubits`] and [`Circuit::num_clbits`] are the file's; an instruction's qubits
//! and classical bits are the circuit's by index, so a transpiled circuit stays on the device's
//! physical qubits (use [`Circuit::compact`] to simulate only those it uses).
//! [`Circuit::cregs`] are the file's classical registers that belong to the circuit, in the
//! file's order; each must hold consecutive classical bits in increasing order, register bit 0
//! first, which is what `ClassicalRegister`s added to a circuit are. Measured bitstrings follow
//! Qiskit's convention (classical bit 0 rightmost), as everywhere in the crate.
//!
//! # Hostile input
//!
//! Parsing never panics and allocates only in proportion to the input: the file may be at most
//! 64 MiB, hold at most 1,024 circuits, 4,096 qubits and 65,536 classical bits each, 4,096
//! registers each and 1,000,000 instructions in all; every count read from the file is checked
//! against these limits and against the bytes left before anything is reserved for it, every
//! length before its slice is taken, and nothing is copied out of the file but names.

mod bytes;
mod circuit;
mod error;
mod gates;

pub use error::QpyError;

use bytes::Bytes;

use crate::ir::Circuit;

/// The largest file accepted, in bytes.
const MAX_FILE_BYTES: usize = 64 << 20;
/// The most circuits in one file.
const MAX_CIRCUITS: u64 = 1024;
/// The most qubits one circuit may declare: enough for any device's physical qubits.
const MAX_QUBITS: u64 = 4096;
/// The most classical bits one circuit may declare.
const MAX_CLBITS: u64 = 65_536;
/// The most registers (quantum and classical) of one circuit.
const MAX_REGISTERS: u64 = 4096;
/// The most instructions, over every circuit of the file.
const MAX_INSTRUCTIONS: u64 = 1_000_000;

/// The QPY versions read: 12 introduced the circuit header Qiskit writes today; 18 is the newest
/// the IBM clients send.
const VERSIONS: std::ops::RangeInclusive<u8> = 12..=18;

/// Parses every circuit of a QPY file (decompressed).
///
/// ```
/// // A QPY 17 file holding one empty circuit on one qubit, as `qiskit.qpy.dump` writes it.
/// let mut qpy = b"QISKIT\x11\x02\x06\x02".to_vec();
/// qpy.extend_from_slice(&1u64.to_be_bytes()); // one circuit
/// qpy.extend_from_slice(b"pq"); // symbolic encoding, circuits
/// qpy.extend_from_slice(&28u64.to_be_bytes()); // where it starts
/// qpy.extend_from_slice(&[0, 1, b'f', 0, 8]); // name size, global phase type and size
/// qpy.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]); // one qubit, no classical bits
/// qpy.extend_from_slice(&[0; 8 + 4 + 8 + 4]); // no metadata, registers, instructions, vars
/// qpy.extend_from_slice(b"e");
/// qpy.extend_from_slice(&0f64.to_be_bytes()); // global phase 0
/// qpy.extend_from_slice(&[0; 4 + 8 + 2]); // no annotations, custom gates, calibrations
/// qpy.extend_from_slice(&[0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]);
/// qpy.extend_from_slice(&[0; 8]); // no layout
/// let circuits = qwarden_sim::qpy::parse(&qpy)?;
/// assert_eq!(circuits.len(), 1);
/// assert_eq!(circuits[0].num_qubits, 1);
/// # Ok::<(), qwarden_sim::qpy::QpyError>(())
/// ```
pub fn parse(bytes: &[u8]) -> Result<Vec<Circuit>, QpyError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(QpyError::TooLarge {
            what: "bytes",
            count: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            limit: u64::try_from(MAX_FILE_BYTES).unwrap_or(u64::MAX),
        });
    }
    let mut r = Bytes::new(bytes, 0);
    let preface = r.take(6, "the `QISKIT` preface").map_err(|e| {
        if b"QISKIT".starts_with(bytes) {
            e
        } else {
            QpyError::NotQpy
        }
    })?;
    if preface != b"QISKIT" {
        return Err(QpyError::NotQpy);
    }
    let version = r.u8("the file header")?;
    if !VERSIONS.contains(&version) {
        return Err(QpyError::UnsupportedVersion { version });
    }
    r.take(3, "the file header")?; // The version of Qiskit that wrote the file.
    let num_circuits = r.u64("the file header")?;
    let at = r.offset();
    let encoding = r.u8("the file header")?;
    if !matches!(encoding, b'p' | b'e') {
        return Err(QpyError::Malformed {
            offset: at,
            message: format!(
                "the symbolic encoding is {}, expected `p` (sympy) or `e` (symengine)",
                key(encoding)
            ),
        });
    }
    let type_key = r.u8("the file header")?;
    if type_key != b'q' {
        return Err(QpyError::NotCircuits {
            type_key: error::shown(&char::from(type_key).to_string()),
        });
    }
    let mut budget = Budget {
        instructions: MAX_INSTRUCTIONS,
    };
    if version >= 16 {
        // An offset table (one u64 per circuit) follows the header; each circuit runs to the
        // next one's offset, the last to the end of the file.
        let n = r.count(num_circuits, 8 + 37, "circuits", MAX_CIRCUITS)?;
        let mut offsets = Vec::with_capacity(n);
        for _ in 0..n {
            offsets.push(r.u64("the circuit offset table")?);
        }
        let mut circuits = Vec::with_capacity(n);
        let mut expected = r.offset();
        for (i, &start) in offsets.iter().enumerate() {
            let end = match offsets.get(i.saturating_add(1)) {
                Some(&next) => next,
                None => u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            };
            let entry = at.saturating_add(2).saturating_add(i.saturating_mul(8));
            if usize::try_from(start).ok() != Some(expected) {
                return Err(QpyError::Malformed {
                    offset: entry,
                    message: format!(
                        "the offset table puts circuit {i} at byte {start}, expected byte {expected} (where the previous one ends)"
                    ),
                });
            }
            let end = match usize::try_from(end) {
                Ok(end) if end <= bytes.len() => end,
                _ => return Err(truncated_circuit(bytes.len())),
            };
            let Some(slice) = bytes.get(expected..end) else {
                return Err(QpyError::Malformed {
                    offset: entry,
                    message: format!(
                        "the offset table puts circuit {} before circuit {i}",
                        i.saturating_add(1)
                    ),
                });
            };
            let start = expected;
            let mut c = Bytes::new(slice, start);
            circuits.push(circuit::read(&mut c, version, i, &mut budget)?);
            if !c.is_empty() {
                return Err(trailing(c.offset(), &format!("circuit {i}")));
            }
            expected = end;
        }
        Ok(circuits)
    } else {
        let n = r.count(num_circuits, 37, "circuits", MAX_CIRCUITS)?;
        let mut circuits = Vec::with_capacity(n);
        for i in 0..n {
            circuits.push(circuit::read(&mut r, version, i, &mut budget)?);
        }
        if !r.is_empty() {
            return Err(trailing(r.offset(), "the last circuit"));
        }
        Ok(circuits)
    }
}

/// What is left of the file-wide limits while reading.
#[derive(Debug)]
struct Budget {
    /// Instructions not yet used of [`MAX_INSTRUCTIONS`].
    instructions: u64,
}

/// A one-byte type key as a message shows it.
fn key(k: u8) -> String {
    if k.is_ascii_graphic() && k != b'`' {
        format!("`{}`", char::from(k))
    } else {
        format!("byte {k:#04x}")
    }
}

fn truncated_circuit(len: usize) -> QpyError {
    QpyError::Truncated {
        offset: len,
        reading: "a circuit the offset table points to",
    }
}

fn trailing(offset: usize, after: &str) -> QpyError {
    QpyError::Malformed {
        offset,
        message: format!("unexpected bytes after {after}"),
    }
}
