//! The binary formats inside IBM sampler jobs: zlib + base64 wrapping, the header and registers
//! of a QPY circuit, and NumPy `.npy` arrays.
//!
//! Sources: qiskit 2.6's `qiskit/qpy/formats.py` (`FILE_HEADER_V10`, `CIRCUIT_HEADER_V12`,
//! `REGISTER_V4`) and `interface.py` (`load`: the program offset table of QPY 16 and later);
//! the NumPy format 1.0 as the provider-traffic README describes it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Why a binary value in a job could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodecError(pub String);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, CodecError> {
    Err(CodecError(msg.into()))
}

/// The largest decompressed QPY or NumPy payload accepted (a guard against zip bombs).
const MAX_INFLATED: usize = 64 * 1024 * 1024;

/// Standard base64 (with padding) of zlib-compressed bytes, decoded.
pub(crate) fn unwrap_b64_zlib(text: &str) -> Result<Vec<u8>, CodecError> {
    let compressed = STANDARD
        .decode(text)
        .map_err(|e| CodecError(format!("not standard base64: {e}")))?;
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MAX_INFLATED)
        .map_err(|e| CodecError(format!("not zlib data: {e:?}")))
}

/// zlib (default level) then standard base64, as qiskit-ibm-runtime's `RuntimeEncoder` wraps
/// ndarrays.
pub(crate) fn wrap_b64_zlib(bytes: &[u8]) -> String {
    STANDARD.encode(miniz_oxide::deflate::compress_to_vec_zlib(bytes, 6))
}

/// A register of a QPY circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Register {
    /// `true` for a classical register.
    pub classical: bool,
    pub name: String,
    pub size: u32,
    pub in_circuit: bool,
}

/// What the doubles read of a QPY circuit: enough to shape a sampler result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QpyCircuit {
    pub version: u8,
    pub name: String,
    pub num_qubits: u32,
    pub num_clbits: u32,
    pub metadata: serde_json::Value,
    pub registers: Vec<Register>,
}

impl QpyCircuit {
    /// The classical registers that are part of the circuit, in order: one `DataBin` field each.
    pub fn classical_registers(&self) -> impl Iterator<Item = &Register> {
        self.registers
            .iter()
            .filter(|r| r.classical && r.in_circuit)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(CodecError("overflow".into()))?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| CodecError(format!("QPY data ends early at byte {}", self.pos)))?;
        self.pos = end;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ]))
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn len(&mut self, n: u64) -> Result<&'a [u8], CodecError> {
        let n = usize::try_from(n).map_err(|_| CodecError("length too large".into()))?;
        self.take(n)
    }
}

/// The lowest and highest QPY versions read. 12 introduced the circuit header the SDKs write
/// today; qiskit 2.6 writes 17 (the provider-traffic transcripts), the client-side executor
/// sampler announces 18.
pub(crate) const QPY_VERSIONS: std::ops::RangeInclusive<u8> = 12..=18;

/// Reads the first circuit of a QPY file: header, name, metadata and registers (not the
/// instructions).
pub(crate) fn read_qpy(bytes: &[u8]) -> Result<QpyCircuit, CodecError> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(6)? != b"QISKIT" {
        return err("not a QPY file (no QISKIT preface)");
    }
    let version = r.u8()?;
    if !QPY_VERSIONS.contains(&version) {
        return err(format!(
            "QPY version {version} is not supported (supported: {}-{})",
            QPY_VERSIONS.start(),
            QPY_VERSIONS.end()
        ));
    }
    r.take(3)?; // the qiskit version that wrote it
    let num_programs = r.u64()?;
    if num_programs == 0 {
        return err("the QPY file holds no circuit");
    }
    r.take(1)?; // symbolic encoding
    let kind = r.u8()?;
    if kind != b'q' {
        return err(format!(
            "the QPY payload is not a circuit (type key {:?})",
            char::from(kind)
        ));
    }
    if version >= 16 {
        let first = r.u64()?;
        r.pos = usize::try_from(first).map_err(|_| CodecError("bad program offset".into()))?;
    }
    let name_size = r.u16()?;
    r.take(1)?; // global phase type
    let global_phase_size = r.u16()?;
    let num_qubits = r.u32()?;
    let num_clbits = r.u32()?;
    let metadata_size = r.u64()?;
    let num_registers = r.u32()?;
    let _num_instructions = r.u64()?;
    let _num_vars = r.u32()?;
    let name = String::from_utf8_lossy(r.len(u64::from(name_size))?).into_owned();
    r.len(u64::from(global_phase_size))?;
    let metadata_raw = r.len(metadata_size)?;
    let metadata = serde_json::from_slice(metadata_raw)
        .unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new()));
    let mut registers = Vec::new();
    for _ in 0..num_registers {
        let kind = r.u8()?;
        let _standalone = r.u8()?;
        let size = r.u32()?;
        let name_size = r.u16()?;
        let in_circuit = r.u8()? != 0;
        let name = String::from_utf8_lossy(r.len(u64::from(name_size))?).into_owned();
        r.len(u64::from(size) * 8)?; // the bit indices
        let classical = match kind {
            b'c' => true,
            b'q' => false,
            other => {
                return err(format!(
                    "QPY register of unknown type {:?}",
                    char::from(other)
                ));
            }
        };
        registers.push(Register {
            classical,
            name,
            size,
            in_circuit,
        });
    }
    Ok(QpyCircuit {
        version,
        name,
        num_qubits,
        num_clbits,
        metadata,
        registers,
    })
}

/// The header of a NumPy `.npy` array: its dtype descriptor and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NpyHeader {
    pub descr: String,
    pub shape: Vec<u64>,
}

/// Reads the header of a `.npy` file (format 1.0, 2.0 or 3.0).
pub(crate) fn read_npy_header(bytes: &[u8]) -> Result<NpyHeader, CodecError> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(6)? != b"\x93NUMPY" {
        return err("not a NumPy .npy array (no magic)");
    }
    let major = r.u8()?;
    r.u8()?;
    let header_len = match major {
        1 => {
            let b = r.take(2)?;
            u64::from(u16::from_le_bytes([
                b.first().copied().unwrap_or(0),
                b.get(1).copied().unwrap_or(0),
            ]))
        }
        2 | 3 => {
            let mut a = [0u8; 4];
            a.copy_from_slice(r.take(4)?);
            u64::from(u32::from_le_bytes(a))
        }
        v => return err(format!("unknown .npy format version {v}")),
    };
    let header = String::from_utf8_lossy(r.len(header_len)?).into_owned();
    let descr = dict_value(&header, "descr")
        .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_owned())
        .ok_or_else(|| CodecError("the .npy header has no descr".into()))?;
    let shape_text = dict_value(&header, "shape")
        .ok_or_else(|| CodecError("the .npy header has no shape".into()))?;
    let inner = shape_text
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| CodecError(format!("bad .npy shape {shape_text}")))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<u64>()
                .map_err(|_| CodecError(format!("bad .npy shape {shape_text}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NpyHeader { descr, shape })
}

/// The text of `'key': value` in a Python dict literal (value up to the matching `,` at depth 0).
fn dict_value<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let start = dict.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = dict.get(start..)?.trim_start().strip_prefix(':')?;
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth > 0 => depth -= 1,
            ',' | '}' if depth == 0 => return rest.get(..i).map(str::trim),
            _ => {}
        }
    }
    None
}

/// A `.npy` file (format 1.0) of unsigned bytes (`|u1`) with `shape`, holding `data`.
pub(crate) fn write_npy_u8(shape: &[u64], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims.join("")),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape_text}, }}");
    // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(
        &u16::try_from(header.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn npy_round_trip() {
        let bytes = write_npy_u8(&[1000, 1], &[3u8; 1000]);
        assert_eq!(bytes.len() % 64, 1000 % 64);
        assert_eq!((bytes.len() - 1000) % 64, 0);
        let h = read_npy_header(&bytes).unwrap();
        assert_eq!(h.descr, "|u1");
        assert_eq!(h.shape, vec![1000, 1]);
        let h = read_npy_header(&write_npy_u8(&[5], &[0; 5])).unwrap();
        assert_eq!(h.shape, vec![5]);
        let h = read_npy_header(&write_npy_u8(&[2, 3, 4], &[0; 24])).unwrap();
        assert_eq!(h.shape, vec![2, 3, 4]);
    }

    #[test]
    fn numpy_float_header_of_the_transcript() {
        // The parameter values the SDK sent for a circuit without parameters.
        let raw = unwrap_b64_zlib(
            "eJyb7BfqGxDJyFDGUK2eklqcXKRupaBuk2ahrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RoGOpo6CrUKFAAuAFOzG1s=",
        )
        .unwrap();
        let h = read_npy_header(&raw).unwrap();
        assert_eq!(h.descr, "<f8");
        assert_eq!(h.shape, vec![0]);
    }

    #[test]
    fn qpy_of_the_transcript_bell_circuit() {
        let raw = unwrap_b64_zlib("eJwL9Az29gwRZGJjYoAAxoJCKEuGgSWNgQPIYAVimDQTEpsdRCSl5uTYv1T8HeKiK1FdW8gIVs/ICDMEBhiR9IMAM5RmSWYEi7Iw5qYmFuPQBAFsUBFGBuwgKMo9sSQVbHEaVIhDQtcl5LfiT3uwZkwjESA4Aq6ZOhYxYeoDm+mMsKgQLMaOWwMYOCUWFWWmFmHRgcuNvsCQLC2C2JEMFiFBB2MyRA0kIoH4PxBAncdUCIksYPT+RwNgGWYGdsbEvOTMnJxEdHkYgDmkEOYaWEJhh2qEiiNxmVC5MH8wMUBSEQsAuHZjGQ==").unwrap();
        let c = read_qpy(&raw).unwrap();
        assert_eq!(c.version, 17);
        assert_eq!(c.name, "bell");
        assert_eq!((c.num_qubits, c.num_clbits), (5, 2));
        let cregs: Vec<_> = c.classical_registers().collect();
        assert_eq!(cregs.len(), 1);
        assert_eq!((cregs[0].name.as_str(), cregs[0].size), ("meas", 2));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(unwrap_b64_zlib("not base64!").is_err());
        assert!(unwrap_b64_zlib("aGVsbG8=").is_err());
        assert!(read_qpy(b"QISKIT").is_err());
        assert!(read_qpy(b"NOTQPY\x11").is_err());
        assert!(read_npy_header(b"\x93NUMPY\x01\x00\xff\xff{").is_err());
    }
}
