//! Counts from the result of an IBM Qiskit Runtime SamplerV2 job: the body of `GET
//! /jobs/{id}/results`, decoded as qiskit-ibm-runtime 0.51's `RuntimeDecoder` and qiskit 2.6's
//! `BitArray` do (provider-traffic README, "SamplerV2 result encoding").
//!
//! The body is `PrimitiveResult` → `pub_results`: one `SamplerPubResult` per PUB → `data`: a
//! `DataBin` whose `fields` hold one `BitArray` per classical register (the key is the register's
//! name) → `array`: an `ndarray` (standard base64 of zlib of a NumPy `.npy` file of unsigned
//! bytes, shape `(*pub_shape, shots, ceil(num_bits / 8))`) and `num_bits`. Each shot is
//! big-endian with classical bit 0 the least significant bit of the last byte; bits above
//! `num_bits` are ignored, as `BitArray` masks them.
//!
//! For each PUB, [`PubCounts`] holds:
//! - per register, exactly what `BitArray.get_counts()` returns: bitstrings of `num_bits`
//!   characters, classical bit 0 rightmost (a register of zero bits counts every shot as `"0"`,
//!   as qiskit does);
//! - the joined counts, what `SamplerPubResult.join_data().get_counts()` returns. Registers are
//!   joined in the order of the `DataBin`'s `fields` as the body lists them (the order the SDK's
//!   decoder builds the `DataBin` in, which is the circuit's register order; `field_names` is not
//!   read, as the SDK does not read it), and `BitArray.concatenate_bits` puts the *first*
//!   register in the least significant bits: the joined bitstring is the last register's bits,
//!   then …, then the first register's bits at the right. This is what qiskit computes (its unit
//!   test `test_join_data_bit_array_default`: `alpha = 00, 11` and `beta = 010, 101` join to
//!   `01000, 10111`), and also the order of qiskit's classical bits, register by register;
//!   `join_data`'s docstring says the opposite, but the code and the test agree.
//!
//! A PUB with parameter bindings (extra leading dimensions, one per axis of its parameter sweep)
//! is flattened: its counts are the union over all parameter sets, as `get_counts()` without a
//! `loc` returns them, and [`PubCounts::shape`] says how many sets there were.
//!
//! # Hostile input
//!
//! Every value is checked before it is used, and nothing panics. Inflating stops at
//! [`MAX_INFLATED`] bytes over the whole body (a zlib bomb of a few kilobytes is refused after
//! inflating that much, not after filling memory), a `.npy` header must describe exactly the
//! bytes that follow it, `num_bits` must match the array's last axis and stay within
//! [`MAX_NUM_BITS`], and the distinct bitstrings of all counts together stay within
//! [`MAX_COUNT_BYTES`]. Names from the body are echoed in errors only in part.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use qwarden_sim::Counts;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The most bytes all arrays of one result body may inflate to, together.
pub const MAX_INFLATED: usize = 64 << 20;

/// The most bits one register, and all registers of a PUB joined, may have.
pub const MAX_NUM_BITS: u64 = 16_384;

/// The most bytes the distinct bitstrings of one body's counts may take, each counted with
/// [`KEY_OVERHEAD`] for its place in the map.
pub const MAX_COUNT_BYTES: usize = 256 << 20;

/// What one distinct bitstring costs beyond its characters, for [`MAX_COUNT_BYTES`].
pub const KEY_OVERHEAD: usize = 64;

/// How many characters of a name from the body an error repeats.
const ECHO_CHARS: usize = 40;

/// The counts of one PUB.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PubCounts {
    /// Counts per classical register, by register name.
    pub registers: BTreeMap<String, Counts>,
    /// The registers in the `DataBin`'s order with their widths: the first is the rightmost
    /// (least significant) part of a [`PubCounts::joined`] bitstring.
    pub layout: Vec<RegisterBits>,
    /// Counts of all registers joined, as `join_data().get_counts()` gives them (empty when the
    /// PUB has no register).
    pub joined: Counts,
    /// The PUB's shape: the parameter sweep's dimensions, empty for a PUB without parameters.
    pub shape: Vec<u64>,
    /// Shots per parameter set; every counts map sums to `shots` × the product of `shape`.
    pub shots: u64,
}

/// A classical register of a PUB's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterBits {
    /// Its name (the `DataBin` field).
    pub name: String,
    /// Its `num_bits`.
    pub num_bits: u64,
}

/// Why a results body gave no counts. `at` is a path into the body that skips the type tags'
/// `__value__` levels, such as `pub_results[0].data.meas.array`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResultsError {
    /// The body is not JSON.
    #[error(
        "the results body is not JSON ({reason}): expected the body of `GET /jobs/{{id}}/results` of a completed SamplerV2 job (a failed job's results are its error text)"
    )]
    NotJson {
        /// The parser's reason.
        reason: String,
    },
    /// A value has the wrong JSON type, or a required field is missing.
    #[error("`{at}` {problem}")]
    Malformed {
        /// Where.
        at: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A value carries another type tag than the one a SamplerV2 result has there.
    #[error(
        "`{at}` is tagged {found}, expected `{expected}`: only SamplerV2 results (program_id \"sampler\") hold counts"
    )]
    TypeTag {
        /// Where.
        at: String,
        /// The `__type__` found, echoed in part.
        found: String,
        /// The one expected.
        expected: &'static str,
    },
    /// An array is not standard base64.
    #[error(
        "`{at}` is not standard base64 ({reason}): qiskit-ibm-runtime encodes arrays as base64 of zlib data"
    )]
    Base64 {
        /// Where.
        at: String,
        /// The decoder's reason.
        reason: String,
    },
    /// An array is not a zlib stream.
    #[error("`{at}` is not zlib data ({reason}): qiskit-ibm-runtime compresses arrays with zlib")]
    Zlib {
        /// Where.
        at: String,
        /// The inflater's reason.
        reason: String,
    },
    /// The arrays inflate to more than [`MAX_INFLATED`] bytes together.
    #[error(
        "`{at}` inflates past {limit} bytes for the whole result: results that large are refused so that a compressed bomb cannot exhaust memory; fetch fewer shots per job"
    )]
    TooLarge {
        /// The array that crossed the limit.
        at: String,
        /// [`MAX_INFLATED`].
        limit: usize,
    },
    /// An array's `.npy` header is missing, malformed or not of packed bits.
    #[error("`{at}` is not a NumPy array of packed bits: {reason}")]
    Npy {
        /// Where.
        at: String,
        /// What is wrong.
        reason: String,
    },
    /// A `.npy` header describes other bytes than follow it.
    #[error(
        "`{at}`: the .npy header says shape {shape}, {expected} bytes, but {found} bytes follow it; the array is truncated or padded"
    )]
    ShapeMismatch {
        /// Where.
        at: String,
        /// The shape, as a Python tuple.
        shape: String,
        /// The bytes the shape needs, or `more than 2^64`.
        expected: String,
        /// The bytes there are.
        found: usize,
    },
    /// `num_bits` disagrees with the array or is too large.
    #[error("`{at}` is {num_bits}: {problem}")]
    NumBits {
        /// Where (`num_bits`).
        at: String,
        /// The value.
        num_bits: u64,
        /// What is wrong.
        problem: String,
    },
    /// The registers of one PUB have different shapes or shot counts, so they cannot be joined.
    #[error(
        "`{at}` has shape {found} (parameter sets, shots), but the PUB's first register has {expected}: the registers of one PUB must have the same shape"
    )]
    RegistersDisagree {
        /// The register that differs.
        at: String,
        /// The first register's shape without the bytes axis.
        expected: String,
        /// This one's.
        found: String,
    },
    /// The distinct bitstrings exceed [`MAX_COUNT_BYTES`].
    #[error(
        "the counts of `{at}` would take more than {limit} bytes of distinct bitstrings: too many distinct outcomes of too many bits to count in memory"
    )]
    TooManyOutcomes {
        /// The PUB or register being counted.
        at: String,
        /// [`MAX_COUNT_BYTES`].
        limit: usize,
    },
}

/// The counts of every PUB of a SamplerV2 result body (`GET /jobs/{id}/results`), in PUB
/// order. See the module documentation for the encoding, the joined order and the limits.
pub fn sampler_counts(body: &[u8]) -> Result<Vec<PubCounts>, ResultsError> {
    let json: Json = serde_json::from_slice(body).map_err(|e| ResultsError::NotJson {
        reason: e.to_string(),
    })?;
    let result = tagged(&json, "", "PrimitiveResult")?;
    let pubs = match result.get("pub_results", "")? {
        Some(Json::Array(pubs)) => pubs,
        Some(other) => {
            return Err(malformed(
                "pub_results",
                format!("is {}, expected an array of PUB results", other.kind()),
            ));
        }
        None => {
            return Err(malformed(
                "pub_results",
                "is missing: a PrimitiveResult lists its `pub_results`".to_owned(),
            ));
        }
    };
    let mut budget = Budget {
        inflated: 0,
        keys: 0,
    };
    pubs.iter()
        .enumerate()
        .map(|(i, p)| pub_counts(p, &format!("pub_results[{i}]"), &mut budget))
        .collect()
}

/// What the body may still cost.
struct Budget {
    inflated: usize,
    keys: usize,
}

impl Budget {
    /// Charges one new distinct bitstring of `len` characters.
    fn key(&mut self, len: usize, at: &str) -> Result<(), ResultsError> {
        self.keys = self.keys.saturating_add(len).saturating_add(KEY_OVERHEAD);
        if self.keys > MAX_COUNT_BYTES {
            return Err(ResultsError::TooManyOutcomes {
                at: at.to_owned(),
                limit: MAX_COUNT_BYTES,
            });
        }
        Ok(())
    }
}

/// One register's decoded `BitArray`: its bytes, row by row.
struct Bits {
    name: String,
    at: String,
    num_bits: u64,
    /// Bytes per shot (`ceil(num_bits / 8)`).
    width: usize,
    /// The array's shape without its last (bytes) axis: the PUB shape, then shots.
    rows_shape: Vec<u64>,
    /// Number of shots over all parameter sets.
    rows: u64,
    data: Vec<u8>,
}

impl Bits {
    /// Row `r`, with the bits above `num_bits` cleared.
    fn row_into(&self, r: usize, out: &mut Vec<u8>) {
        let start = r.saturating_mul(self.width);
        let row = self
            .data
            .get(start..start.saturating_add(self.width))
            .unwrap_or_default();
        let first = out.len();
        out.extend_from_slice(row);
        if let Some(top) = out.get_mut(first) {
            *top &= top_mask(self.num_bits);
        }
    }
}

/// The bits of a row's first byte that belong to the register.
fn top_mask(num_bits: u64) -> u8 {
    match num_bits % 8 {
        0 => 0xff,
        r => (1u8 << r) - 1,
    }
}

fn pub_counts(value: &Json, at: &str, budget: &mut Budget) -> Result<PubCounts, ResultsError> {
    let result = tagged(value, at, "SamplerPubResult")?;
    let data_at = format!("{at}.data");
    let data = match result.get("data", at)? {
        Some(d) => d,
        None => {
            return Err(malformed(
                &data_at,
                "is missing: a SamplerPubResult holds its `data`".to_owned(),
            ));
        }
    };
    let bin = tagged(data, &data_at, "DataBin")?;
    let declared_shape = match bin.get("shape", &data_at)? {
        None | Some(Json::Null) => None,
        Some(s) => Some(int_list(s, &format!("{data_at}.shape"))?),
    };
    let fields = match bin.get("fields", &data_at)? {
        Some(Json::Object(fields)) => fields,
        Some(other) => {
            return Err(malformed(
                &format!("{data_at}.fields"),
                format!("is {}, expected an object of registers", other.kind()),
            ));
        }
        None => {
            return Err(malformed(
                &format!("{data_at}.fields"),
                "is missing: a DataBin holds its `fields`".to_owned(),
            ));
        }
    };
    let mut seen = BTreeSet::new();
    let mut registers = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let reg_at = format!("{data_at}.{}", echo(name));
        if !seen.insert(name.as_str()) {
            return Err(malformed(
                &reg_at,
                "appears twice in `fields`: a register has one entry".to_owned(),
            ));
        }
        registers.push(bit_array(name, value, &reg_at, budget)?);
    }
    let mut out = PubCounts::default();
    let Some(first) = registers.first() else {
        // No register: nothing was measured, and qiskit's `join_data` refuses such a result.
        out.shape = declared_shape.unwrap_or_default();
        return Ok(out);
    };
    let (shots, shape) = match first.rows_shape.split_last() {
        Some((shots, shape)) => (*shots, shape.to_vec()),
        None => (0, Vec::new()),
    };
    for r in &registers {
        if r.rows_shape != first.rows_shape {
            return Err(ResultsError::RegistersDisagree {
                at: r.at.clone(),
                expected: tuple(&first.rows_shape),
                found: tuple(&r.rows_shape),
            });
        }
    }
    if let Some(declared) = declared_shape
        && declared != shape
    {
        return Err(malformed(
            &format!("{data_at}.shape"),
            format!(
                "is {}, but the registers' arrays have the PUB shape {}: the DataBin and its arrays disagree",
                tuple(&declared),
                tuple(&shape)
            ),
        ));
    }
    let total_bits = registers
        .iter()
        .try_fold(0u64, |acc, r| acc.checked_add(r.num_bits))
        .filter(|b| *b <= MAX_NUM_BITS)
        .ok_or_else(|| ResultsError::NumBits {
            at: format!("{at}.data"),
            num_bits: registers.iter().fold(0u64, |a, r| a.saturating_add(r.num_bits)),
            problem: format!(
                "the PUB's registers have more than {MAX_NUM_BITS} bits together, more than the gateway counts"
            ),
        })?;
    for r in &registers {
        let counts = register_counts(r, budget)?;
        out.registers.insert(r.name.clone(), counts);
        out.layout.push(RegisterBits {
            name: r.name.clone(),
            num_bits: r.num_bits,
        });
    }
    out.joined = joined_counts(&registers, total_bits, at, budget)?;
    out.shape = shape;
    out.shots = shots;
    Ok(out)
}

/// The bitstring of a masked row: `num_bits` characters, bit 0 rightmost; `"0"` for no bits.
fn push_bits(row: &[u8], num_bits: u64, out: &mut String) {
    for j in (0..num_bits).rev() {
        let byte_from_end = usize::try_from(j / 8).unwrap_or(usize::MAX);
        let byte = row
            .len()
            .checked_sub(byte_from_end.saturating_add(1))
            .and_then(|i| row.get(i))
            .copied()
            .unwrap_or(0);
        out.push(if (byte >> (j % 8)) & 1 == 1 { '1' } else { '0' });
    }
}

fn register_counts(r: &Bits, budget: &mut Budget) -> Result<Counts, ResultsError> {
    let mut counts = Counts::new();
    if r.width == 0 {
        // `bin(0)[2:].zfill(0)` is "0": qiskit counts a zero-bit register's shots under "0".
        if r.rows > 0 {
            budget.key(1, &r.at)?;
            counts.insert("0".to_owned(), r.rows);
        }
        return Ok(counts);
    }
    let mut rows: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    let mut buf = Vec::with_capacity(r.width);
    for i in 0..r.data.len() / r.width {
        buf.clear();
        r.row_into(i, &mut buf);
        match rows.get_mut(buf.as_slice()) {
            Some(n) => *n += 1,
            None => {
                budget.key(usize::try_from(r.num_bits).unwrap_or(usize::MAX), &r.at)?;
                rows.insert(buf.clone(), 1);
            }
        }
    }
    for (row, n) in rows {
        let mut key = String::with_capacity(usize::try_from(r.num_bits).unwrap_or(0));
        push_bits(&row, r.num_bits, &mut key);
        counts.insert(key, n);
    }
    Ok(counts)
}

fn joined_counts(
    registers: &[Bits],
    total_bits: u64,
    at: &str,
    budget: &mut Budget,
) -> Result<Counts, ResultsError> {
    let mut counts = Counts::new();
    let rows = registers.first().map_or(0, |r| r.rows);
    if rows == 0 {
        return Ok(counts);
    }
    if total_bits == 0 {
        budget.key(1, at)?;
        counts.insert("0".to_owned(), rows);
        return Ok(counts);
    }
    // Some register has bits, so its bytes bound the number of rows walked.
    let width: usize = registers.iter().map(|r| r.width).sum();
    let n = registers
        .iter()
        .find(|r| r.width > 0)
        .map_or(0, |r| r.data.len() / r.width);
    let mut keys: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    let mut buf = Vec::with_capacity(width);
    for i in 0..n {
        buf.clear();
        for r in registers {
            r.row_into(i, &mut buf);
        }
        match keys.get_mut(buf.as_slice()) {
            Some(c) => *c += 1,
            None => {
                budget.key(usize::try_from(total_bits).unwrap_or(usize::MAX), at)?;
                keys.insert(buf.clone(), 1);
            }
        }
    }
    for (key, c) in keys {
        let mut text = String::with_capacity(usize::try_from(total_bits).unwrap_or(0));
        // The last register is the leftmost part of the joined bitstring.
        let mut offsets = Vec::with_capacity(registers.len());
        let mut start = 0usize;
        for r in registers {
            offsets.push((start, r));
            start += r.width;
        }
        for (start, r) in offsets.into_iter().rev() {
            let part = key.get(start..start + r.width).unwrap_or_default();
            push_bits(part, r.num_bits, &mut text);
        }
        counts.insert(text, c);
    }
    Ok(counts)
}

/// A `BitArray` field: checks its tag, `num_bits` and array, and inflates the array.
fn bit_array(
    name: &str,
    value: &Json,
    at: &str,
    budget: &mut Budget,
) -> Result<Bits, ResultsError> {
    let v = tagged(value, at, "BitArray")?;
    let bits_at = format!("{at}.num_bits");
    let num_bits = match v.get("num_bits", at)? {
        Some(Json::Number(n)) => n.as_u64().ok_or_else(|| {
            malformed(
                &bits_at,
                format!(
                    "is `{}`, expected the register's size (an integer >= 0)",
                    echo(&n.to_string())
                ),
            )
        })?,
        Some(other) => {
            return Err(malformed(
                &bits_at,
                format!(
                    "is {}, expected the register's size (an integer >= 0)",
                    other.kind()
                ),
            ));
        }
        None => {
            return Err(malformed(
                &bits_at,
                "is missing: a BitArray states its `num_bits`".to_owned(),
            ));
        }
    };
    if num_bits > MAX_NUM_BITS {
        return Err(ResultsError::NumBits {
            at: bits_at,
            num_bits,
            problem: format!(
                "registers of more than {MAX_NUM_BITS} bits are more than the gateway counts"
            ),
        });
    }
    let array_at = format!("{at}.array");
    let array = match v.get("array", at)? {
        Some(a) => a,
        None => {
            return Err(malformed(
                &array_at,
                "is missing: a BitArray holds its `array`".to_owned(),
            ));
        }
    };
    let encoded = match tagged_raw(array, &array_at, "ndarray")? {
        Json::String(s) => s,
        Json::Array(_) => {
            return Err(malformed(
                &array_at,
                "is a plain JSON list, which decodes to int64: BitArray needs uint8, sent as base64 of a zlib-compressed .npy file".to_owned(),
            ));
        }
        other => {
            return Err(malformed(
                &array_at,
                format!(
                    "holds {}, expected base64 of a zlib-compressed .npy file",
                    other.kind()
                ),
            ));
        }
    };
    let compressed = STANDARD.decode(encoded).map_err(|e| ResultsError::Base64 {
        at: array_at.clone(),
        reason: e.to_string(),
    })?;
    let room = MAX_INFLATED.saturating_sub(budget.inflated);
    let npy = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, room).map_err(
        |e| match e.status {
            miniz_oxide::inflate::TINFLStatus::HasMoreOutput => ResultsError::TooLarge {
                at: array_at.clone(),
                limit: MAX_INFLATED,
            },
            status => ResultsError::Zlib {
                at: array_at.clone(),
                reason: format!("{status:?}"),
            },
        },
    )?;
    budget.inflated = budget.inflated.saturating_add(npy.len());
    let (shape, data_start) = read_npy(&npy, &array_at)?;
    let data_len = npy.len().saturating_sub(data_start);
    let expected = shape.iter().try_fold(1u64, |acc, d| acc.checked_mul(*d));
    if expected != u64::try_from(data_len).ok() {
        return Err(ResultsError::ShapeMismatch {
            at: array_at,
            shape: tuple(&shape),
            expected: expected.map_or_else(|| "more than 2^64".to_owned(), |n| n.to_string()),
            found: data_len,
        });
    }
    let Some((&last, rows_shape)) = shape.split_last() else {
        return Err(npy_error(
            &array_at,
            "it has no axes; a BitArray has (shots, bytes) at least".to_owned(),
        ));
    };
    if rows_shape.is_empty() {
        return Err(npy_error(
            &array_at,
            format!(
                "its shape {} has one axis; a BitArray has (shots, bytes) at least",
                tuple(&shape)
            ),
        ));
    }
    let width = num_bits.div_ceil(8);
    if last != width {
        return Err(ResultsError::NumBits {
            at: bits_at,
            num_bits,
            problem: format!(
                "it needs {width} bytes per shot, but the array's last axis is {last} (shape {}); the result is inconsistent",
                tuple(&shape)
            ),
        });
    }
    // With zero bytes per shot the data says nothing of the shots, so their product may not fit.
    let rows = rows_shape
        .iter()
        .try_fold(1u64, |acc, d| acc.checked_mul(*d))
        .ok_or_else(|| {
            npy_error(
                &array_at,
                format!("its shape {} holds more than 2^64 shots", tuple(&shape)),
            )
        })?;
    let mut data = npy;
    data.drain(..data_start);
    Ok(Bits {
        name: name.to_owned(),
        at: at.to_owned(),
        num_bits,
        width: usize::try_from(width).unwrap_or(usize::MAX),
        rows_shape: rows_shape.to_vec(),
        rows,
        data,
    })
}

/// The shape in a `.npy` header, and where its data starts. Format 1.0, 2.0 or 3.0; the dtype
/// must be unsigned bytes and the order C.
fn read_npy(bytes: &[u8], at: &str) -> Result<(Vec<u64>, usize), ResultsError> {
    let rest = bytes.strip_prefix(b"\x93NUMPY").ok_or_else(|| {
        npy_error(
            at,
            "it does not start with the .npy magic `\\x93NUMPY`".to_owned(),
        )
    })?;
    let (len, start) = match rest {
        [1, _, a, b, ..] => (usize::from(u16::from_le_bytes([*a, *b])), 10usize),
        [2 | 3, _, a, b, c, d, ..] => (
            usize::try_from(u32::from_le_bytes([*a, *b, *c, *d])).unwrap_or(usize::MAX),
            12usize,
        ),
        [v, ..] => {
            return Err(npy_error(
                at,
                format!("its format version {v} is not 1, 2 or 3"),
            ));
        }
        [] => return Err(npy_error(at, "it ends after the magic".to_owned())),
    };
    let end = start
        .checked_add(len)
        .filter(|e| *e <= bytes.len())
        .ok_or_else(|| {
            npy_error(
                at,
                format!("its header of {len} bytes runs past the end of the array"),
            )
        })?;
    let header = bytes
        .get(start..end)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| npy_error(at, "its header is not text".to_owned()))?;
    let dict = parse_header(header).map_err(|reason| {
        npy_error(
            at,
            format!("its header is not a NumPy header dict ({reason})"),
        )
    })?;
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in dict {
        let slot_taken = match (key.as_str(), value) {
            ("descr", HeaderValue::Str(s)) => descr.replace(s).is_some(),
            ("fortran_order", HeaderValue::Bool(b)) => fortran.replace(b).is_some(),
            ("shape", HeaderValue::Tuple(t)) => shape.replace(t).is_some(),
            (k @ ("descr" | "fortran_order" | "shape"), _) => {
                return Err(npy_error(
                    at,
                    format!("its header's `{k}` has the wrong type"),
                ));
            }
            (k, _) => {
                return Err(npy_error(
                    at,
                    format!("its header has the unknown key `{}`", echo(k)),
                ));
            }
        };
        if slot_taken {
            return Err(npy_error(
                at,
                format!("its header repeats `{}`", echo(&key)),
            ));
        }
    }
    let (Some(descr), Some(fortran), Some(shape)) = (descr, fortran, shape) else {
        return Err(npy_error(
            at,
            "its header lacks `descr`, `fortran_order` or `shape`".to_owned(),
        ));
    };
    if !matches!(descr.as_str(), "|u1" | "<u1" | ">u1" | "=u1" | "u1") {
        return Err(npy_error(
            at,
            format!(
                "its dtype `{}` is not uint8 (`|u1`), the packed bytes a BitArray holds",
                echo(&descr)
            ),
        ));
    }
    if fortran {
        return Err(npy_error(
            at,
            "it is in Fortran order; BitArray results are written in C order".to_owned(),
        ));
    }
    Ok((shape, end))
}

/// A value of a `.npy` header dict.
enum HeaderValue {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

/// The entries of a `.npy` header: a Python dict literal of strings, booleans and tuples of
/// integers, as NumPy writes it (`{'descr': '|u1', 'fortran_order': False, 'shape': (4, 1), }`).
fn parse_header(text: &str) -> Result<Vec<(String, HeaderValue)>, String> {
    let mut p = HeaderParser {
        chars: text.trim().chars().peekable(),
    };
    p.expect('{')?;
    let mut out = Vec::new();
    loop {
        p.skip_ws();
        if p.eat('}') {
            break;
        }
        let key = p.string()?;
        p.skip_ws();
        p.expect(':')?;
        p.skip_ws();
        let value = p.value()?;
        out.push((key, value));
        p.skip_ws();
        if p.eat(',') {
            continue;
        }
        p.expect('}')?;
        break;
    }
    if p.chars.next().is_some() {
        return Err("text after the closing brace".to_owned());
    }
    Ok(out)
}

struct HeaderParser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl HeaderParser<'_> {
    fn skip_ws(&mut self) {
        while self.chars.next_if(|c| c.is_whitespace()).is_some() {}
    }

    fn eat(&mut self, c: char) -> bool {
        self.chars.next_if_eq(&c).is_some()
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{c}`"))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = match self.chars.next() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err("expected a quoted key or string".to_owned()),
        };
        let mut s = String::new();
        loop {
            match self.chars.next() {
                Some(c) if c == quote => return Ok(s),
                Some('\\') | None => return Err("an unterminated or escaped string".to_owned()),
                Some(c) => s.push(c),
            }
        }
    }

    fn word(&mut self) -> String {
        let mut w = String::new();
        while let Some(c) = self.chars.next_if(|c| c.is_ascii_alphanumeric()) {
            w.push(c);
        }
        w
    }

    fn value(&mut self) -> Result<HeaderValue, String> {
        match self.chars.peek() {
            Some('\'' | '"') => self.string().map(HeaderValue::Str),
            Some('(') => {
                self.chars.next();
                let mut dims = Vec::new();
                loop {
                    self.skip_ws();
                    if self.eat(')') {
                        return Ok(HeaderValue::Tuple(dims));
                    }
                    let w = self.word();
                    let digits = w.strip_suffix('L').unwrap_or(&w);
                    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return Err("a shape dimension is not a non-negative integer".to_owned());
                    }
                    dims.push(
                        digits
                            .parse::<u64>()
                            .map_err(|_| "a shape dimension is too large".to_owned())?,
                    );
                    self.skip_ws();
                    if !self.eat(',') {
                        self.expect(')')?;
                        return Ok(HeaderValue::Tuple(dims));
                    }
                }
            }
            _ => match self.word().as_str() {
                "True" => Ok(HeaderValue::Bool(true)),
                "False" => Ok(HeaderValue::Bool(false)),
                _ => Err("expected a string, True, False or a tuple".to_owned()),
            },
        }
    }
}

/// A JSON value that keeps its objects' keys in document order (and repeated keys), because the
/// order of a `DataBin`'s `fields` is the order registers are joined in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// The value of `key` in an object; an error if the key appears twice.
    pub(crate) fn get(&self, key: &str, at: &str) -> Result<Option<&Json>, ResultsError> {
        let Json::Object(entries) = self else {
            return Ok(None);
        };
        let mut found = entries.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
        let first = found.next();
        if found.next().is_some() {
            return Err(malformed(
                &join(at, key),
                "appears twice: the body is ambiguous".to_owned(),
            ));
        }
        Ok(first)
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            out.push((k, v));
        }
        Ok(Json::Object(out))
    }
}

/// The `__value__` of a value tagged `{"__type__": expected, "__value__": …}`, which must be an
/// object.
fn tagged<'a>(value: &'a Json, at: &str, expected: &'static str) -> Result<&'a Json, ResultsError> {
    let inner = tagged_raw(value, at, expected)?;
    match inner {
        Json::Object(_) => Ok(inner),
        other => Err(malformed(
            &join(at, "__value__"),
            format!("is {}, expected an object", other.kind()),
        )),
    }
}

/// The `__value__` of a value tagged `expected`, whatever its type.
fn tagged_raw<'a>(
    value: &'a Json,
    at: &str,
    expected: &'static str,
) -> Result<&'a Json, ResultsError> {
    let shown = if at.is_empty() {
        "the results body"
    } else {
        at
    };
    let Json::Object(_) = value else {
        return Err(malformed(
            shown,
            format!(
                "is {}, expected {{\"__type__\": \"{expected}\", \"__value__\": …}}",
                value.kind()
            ),
        ));
    };
    match value.get("__type__", at)? {
        Some(Json::String(t)) if t == expected => {}
        Some(Json::String(t)) => {
            return Err(ResultsError::TypeTag {
                at: shown.to_owned(),
                found: format!("`{}`", echo(t)),
                expected,
            });
        }
        Some(other) => {
            return Err(ResultsError::TypeTag {
                at: shown.to_owned(),
                found: other.kind().to_owned(),
                expected,
            });
        }
        None => {
            return Err(malformed(
                shown,
                format!(
                    "has no `__type__`, expected {{\"__type__\": \"{expected}\", \"__value__\": …}}"
                ),
            ));
        }
    }
    value.get("__value__", at)?.ok_or_else(|| {
        malformed(
            shown,
            format!("is tagged `{expected}` but has no `__value__`"),
        )
    })
}

/// A JSON array of non-negative integers.
fn int_list(value: &Json, at: &str) -> Result<Vec<u64>, ResultsError> {
    let bad = || malformed(at, "must be an array of non-negative integers".to_owned());
    match value {
        Json::Array(items) => items
            .iter()
            .map(|v| match v {
                Json::Number(n) => n.as_u64().ok_or_else(bad),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

fn malformed(at: &str, problem: String) -> ResultsError {
    ResultsError::Malformed {
        at: at.to_owned(),
        problem,
    }
}

fn npy_error(at: &str, reason: String) -> ResultsError {
    ResultsError::Npy {
        at: at.to_owned(),
        reason,
    }
}

/// A shape as a Python tuple: `()`, `(5,)`, `(2, 3)`.
fn tuple(shape: &[u64]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// At most [`ECHO_CHARS`] characters of `s`, control characters escaped.
pub(crate) fn echo(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().take(ECHO_CHARS) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if s.chars().nth(ECHO_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;

    use qwarden_provider_doubles::{IbmConfig, IbmDouble, ibm_fixtures_dir};
    use serde_json::{Value, json};

    use super::*;

    /// The exchanges of a transcript in `shared/fixtures/provider-traffic/`.
    fn transcript(name: &str) -> Vec<Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/provider-traffic")
            .join(name);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A `.npy` file (format 1.0) of unsigned bytes, as NumPy writes it.
    fn npy(shape: &[u64], data: &[u8]) -> Vec<u8> {
        npy_with("'|u1'", "False", &tuple(shape), data)
    }

    fn npy_with(descr: &str, fortran: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn wrap(npy: &[u8]) -> String {
        STANDARD.encode(miniz_oxide::deflate::compress_to_vec_zlib(npy, 6))
    }

    fn bit_array(encoded: Value, num_bits: Value) -> Value {
        json!({"__type__": "BitArray", "__value__": {
            "array": {"__type__": "ndarray", "__value__": encoded}, "num_bits": num_bits}})
    }

    /// A results body of one PUB whose `fields` text is given verbatim, so that its key order
    /// is exactly the one written.
    fn body_with_fields(fields: &str, shape: &str) -> Vec<u8> {
        format!(
            r#"{{"__type__": "PrimitiveResult", "__value__": {{"pub_results": [{{"__type__": "SamplerPubResult", "__value__": {{"data": {{"__type__": "DataBin", "__value__": {{"shape": {shape}, "fields": {{{fields}}}}}}}, "metadata": {{}}}}}}], "metadata": {{"version": 2}}}}}}"#
        )
        .into_bytes()
    }

    /// One PUB with registers `(name, num_bits, npy shape, bytes)` in this order.
    fn body(registers: &[(&str, u64, &[u64], &[u8])], shape: &str) -> Vec<u8> {
        let fields: Vec<String> = registers
            .iter()
            .map(|(name, bits, s, data)| {
                format!(
                    "{}: {}",
                    Value::from(*name),
                    bit_array(json!(wrap(&npy(s, data))), json!(bits))
                )
            })
            .collect();
        body_with_fields(&fields.join(", "), shape)
    }

    fn counts(pairs: &[(&str, u64)]) -> Counts {
        pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    }

    #[test]
    fn the_transcripts_bell_result_decodes_to_its_counts() {
        let exchanges = transcript("ibm-sampler-v2.jsonl");
        let results = exchanges
            .iter()
            .find(|x| {
                x["request"]["method"] == "GET"
                    && x["request"]["path"].as_str().unwrap().ends_with("/results")
            })
            .unwrap();
        let text = serde_json::to_vec(&results["response"]["body"]).unwrap();
        let pubs = sampler_counts(&text).unwrap();
        assert_eq!(pubs.len(), 1);
        let bell = counts(&[("00", 488), ("11", 512)]);
        assert_eq!(
            pubs[0].registers,
            BTreeMap::from([("meas".to_owned(), bell.clone())])
        );
        assert_eq!(pubs[0].joined, bell);
        assert_eq!(
            pubs[0].layout,
            vec![RegisterBits {
                name: "meas".into(),
                num_bits: 2
            }]
        );
        assert_eq!((pubs[0].shape.clone(), pubs[0].shots), (vec![], 1000));
    }

    /// One HTTP/1.1 exchange with the double: the status and the body.
    fn http(
        port: u16,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let status = std::str::from_utf8(&raw[9..12]).unwrap().parse().unwrap();
        (status, raw[split + 4..].to_vec())
    }

    /// Submits `job` to the double, completes it, and returns its results body.
    fn double_results(double: &IbmDouble, job: &Value) -> Vec<u8> {
        let port = double.addr().port();
        let token = format!("Bearer {}", double.mint_access_token());
        let headers = [
            ("Authorization", token.as_str()),
            ("Service-CRN", double.instance_crn()),
            ("Content-Type", "application/json"),
        ];
        let (status, created) = http(
            port,
            "POST",
            "/api/v1/jobs",
            &headers,
            &serde_json::to_vec(job).unwrap(),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&created));
        let id = serde_json::from_slice::<Value>(&created).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        while !double.job(&id).unwrap().status.is_final() {
            double.advance_job(&id);
        }
        let (status, results) = http(
            port,
            "GET",
            &format!("/api/v1/jobs/{id}/results"),
            &headers,
            b"",
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&results));
        results
    }

    /// The `POST /jobs` body of the transcript: a Bell circuit (register `meas`), 1000 shots.
    fn transcript_job() -> Value {
        transcript("ibm-sampler-v2.jsonl")
            .into_iter()
            .find(|x| {
                x["request"]["method"] == "POST"
                    && x["request"]["path"].as_str().unwrap().ends_with("/jobs")
            })
            .unwrap()["request"]["body"]
            .clone()
    }

    fn assert_bell(p: &PubCounts, total: u64) {
        assert_eq!(p.registers.len(), 1);
        let meas = &p.registers["meas"];
        // The double samples a noisy simulation: a Bell pair with some readout error.
        assert!(meas.keys().all(|k| k.len() == 2), "{meas:?}");
        assert_eq!(meas.values().sum::<u64>(), total);
        let ideal = meas.get("00").unwrap_or(&0) + meas.get("11").unwrap_or(&0);
        assert!(ideal * 10 >= total * 9, "{meas:?}");
        assert_eq!(&p.joined, meas);
    }

    #[test]
    fn results_of_the_ibm_double_are_counted() {
        let double = IbmDouble::start(IbmConfig::from_fixtures(&ibm_fixtures_dir()).unwrap());
        let job = transcript_job();
        let pubs = sampler_counts(&double_results(&double, &job)).unwrap();
        assert_eq!(pubs.len(), 1);
        assert_bell(&pubs[0], 1000);
        assert_eq!((pubs[0].shape.clone(), pubs[0].shots), (vec![], 1000));

        // Two PUBs of 100 and 200 shots; the second sweeps three parameter sets.
        let circuit = job["params"]["pubs"][0][0].clone();
        let sets = npy_with("'<f8'", "False", "(3, 1)", &[0u8; 24]);
        let mut two = job.clone();
        two["params"]["pubs"] = json!([
            [circuit, null, 100],
            [circuit, {"__type__": "ndarray", "__value__": wrap(&sets)}, 200]
        ]);
        let pubs = sampler_counts(&double_results(&double, &two)).unwrap();
        assert_eq!(pubs.len(), 2);
        assert_bell(&pubs[0], 100);
        assert_bell(&pubs[1], 600);
        assert_eq!((pubs[1].shape.clone(), pubs[1].shots), (vec![3], 200));
    }

    #[test]
    fn registers_join_as_qiskits_join_data_does() {
        // qiskit's `test_join_data_bit_array_default`: alpha = 00, 11 and beta = 010, 101 (both
        // 2 shots) join to 01000, 10111: the first register is the rightmost.
        let alpha: (&str, u64, &[u64], &[u8]) = ("alpha", 2, &[2, 1], &[0b00, 0b11]);
        let beta: (&str, u64, &[u64], &[u8]) = ("beta", 3, &[2, 1], &[0b010, 0b101]);
        let p = &sampler_counts(&body(&[alpha, beta], "[]")).unwrap()[0];
        assert_eq!(p.registers["alpha"], counts(&[("00", 1), ("11", 1)]));
        assert_eq!(p.registers["beta"], counts(&[("010", 1), ("101", 1)]));
        assert_eq!(p.joined, counts(&[("01000", 1), ("10111", 1)]));
        let names: Vec<&str> = p.layout.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["alpha", "beta"]);
        // The order is the body's, not the alphabet's.
        let p = &sampler_counts(&body(&[beta, alpha], "[]")).unwrap()[0];
        assert_eq!(p.joined, counts(&[("00010", 1), ("11101", 1)]));
        assert_eq!(p.layout[0].name, "beta");
    }

    #[test]
    fn bits_are_read_as_bitarray_reads_them() {
        // Bit 0 is the lowest bit of the last byte; bits above num_bits are ignored.
        let wide: (&str, u64, &[u64], &[u8]) = ("c", 10, &[2, 2], &[0x02, 0x01, 0xfe, 0x00]);
        let p = &sampler_counts(&body(&[wide], "[]")).unwrap()[0];
        assert_eq!(
            p.registers["c"],
            counts(&[("1000000001", 1), ("1000000000", 1)])
        );
        let masked: (&str, u64, &[u64], &[u8]) = ("c", 3, &[3, 1], &[0xff, 0x07, 0xf8]);
        let p = &sampler_counts(&body(&[masked], "[]")).unwrap()[0];
        assert_eq!(p.registers["c"], counts(&[("000", 1), ("111", 2)]));
        assert_eq!(p.joined, p.registers["c"]);
        // A register of zero bits counts every shot as "0", as qiskit does, and adds nothing
        // to the joined bitstring.
        let none: (&str, u64, &[u64], &[u8]) = ("z", 0, &[3, 0], &[]);
        let one: (&str, u64, &[u64], &[u8]) = ("c", 1, &[3, 1], &[1, 0, 1]);
        let p = &sampler_counts(&body(&[none, one], "[]")).unwrap()[0];
        assert_eq!(p.registers["z"], counts(&[("0", 3)]));
        assert_eq!(p.joined, counts(&[("0", 1), ("1", 2)]));
        let p = &sampler_counts(&body(&[none], "[]")).unwrap()[0];
        assert_eq!(p.joined, counts(&[("0", 3)]));
        // No register at all: no counts.
        let p = &sampler_counts(&body(&[], "[]")).unwrap()[0];
        assert!(p.registers.is_empty() && p.joined.is_empty());
    }

    #[test]
    fn a_parameter_sweep_flattens_into_one_count_per_register() {
        // Shape (2, 3) of parameter sets, 4 shots each: 24 shots counted together.
        let data: Vec<u8> = (0..24u8).map(|i| i % 2).collect();
        let sweep: (&str, u64, &[u64], &[u8]) = ("meas", 1, &[2, 3, 4, 1], &data);
        let p = &sampler_counts(&body(&[sweep], "[2, 3]")).unwrap()[0];
        assert_eq!(p.registers["meas"], counts(&[("0", 12), ("1", 12)]));
        assert_eq!((p.shape.clone(), p.shots), (vec![2, 3], 4));
        // A DataBin shape that disagrees with its arrays is refused.
        let e = sampler_counts(&body(&[sweep], "[6]")).unwrap_err();
        assert!(e.to_string().contains("pub_results[0].data.shape"), "{e}");
    }

    fn refusal(body: &[u8]) -> ResultsError {
        let e = sampler_counts(body).unwrap_err();
        let text = e.to_string();
        assert!(!text.is_empty() && text.chars().count() < 1000, "{text}");
        assert!(!text.chars().any(char::is_control), "{text:?}");
        e
    }

    fn one(register: Value) -> Vec<u8> {
        body_with_fields(&format!("\"meas\": {register}"), "[]")
    }

    fn bell_npy() -> String {
        wrap(&npy(&[2, 1], &[0, 3]))
    }

    #[test]
    fn malformed_results_are_refused_with_the_place_and_the_reason() {
        assert!(matches!(
            refusal(b"Job failed."),
            ResultsError::NotJson { .. }
        ));
        assert!(matches!(refusal(b"[1, 2]"), ResultsError::Malformed { .. }));
        let e = refusal(br#"{"__type__": "EstimatorResult", "__value__": {}}"#);
        assert!(matches!(e, ResultsError::TypeTag { .. }), "{e}");
        let e = refusal(br#"{"__type__": "PrimitiveResult", "__value__": {}}"#);
        assert!(e.to_string().contains("`pub_results` is missing"), "{e}");
        let e = refusal(br#"{"__type__": "PrimitiveResult", "__value__": {"pub_results": {}}}"#);
        assert!(e.to_string().contains("array"), "{e}");
        let estimator = br#"{"__type__": "PrimitiveResult", "__value__": {"pub_results": [{"__type__": "EstimatorPubResult", "__value__": {}}]}}"#;
        let e = refusal(estimator);
        assert!(
            e.to_string().contains("`pub_results[0]`")
                && e.to_string().contains("SamplerPubResult"),
            "{e}"
        );
        let e = refusal(
            br#"{"__type__": "PrimitiveResult", "__type__": "PrimitiveResult", "__value__": {}}"#,
        );
        assert!(e.to_string().contains("twice"), "{e}");
        // Fields that are not BitArrays, or BitArrays without their parts.
        let e = refusal(&one(json!({"__type__": "ndarray", "__value__": "AAAA"})));
        assert!(e.to_string().contains("`pub_results[0].data.meas`"), "{e}");
        let e = refusal(&one(
            json!({"__type__": "BitArray", "__value__": {"num_bits": 2}}),
        ));
        assert!(e.to_string().contains("array` is missing"), "{e}");
        let e = refusal(&one(bit_array(json!(bell_npy()), json!(-2))));
        assert!(e.to_string().contains("num_bits"), "{e}");
        let e = refusal(&one(bit_array(json!([[0], [3]]), json!(2))));
        assert!(e.to_string().contains("int64"), "{e}");
        let twice = format!(
            "\"meas\": {0}, \"meas\": {0}",
            bit_array(json!(bell_npy()), json!(2))
        );
        assert!(
            refusal(&body_with_fields(&twice, "[]"))
                .to_string()
                .contains("twice")
        );
        // Encoding.
        let e = refusal(&one(bit_array(json!("not base64!"), json!(2))));
        assert!(matches!(e, ResultsError::Base64 { .. }), "{e}");
        let e = refusal(&one(bit_array(
            json!(STANDARD.encode(b"plain bytes")),
            json!(2),
        )));
        assert!(matches!(e, ResultsError::Zlib { .. }), "{e}");
        // The .npy header.
        let e = refusal(&one(bit_array(json!(wrap(b"not numpy")), json!(2))));
        assert!(e.to_string().contains("magic"), "{e}");
        let floats = npy_with("'<f8'", "False", "(2, 1)", &[0; 16]);
        let e = refusal(&one(bit_array(json!(wrap(&floats)), json!(2))));
        assert!(e.to_string().contains("uint8"), "{e}");
        let fortran = npy_with("'|u1'", "True", "(2, 1)", &[0, 3]);
        assert!(
            refusal(&one(bit_array(json!(wrap(&fortran)), json!(2))))
                .to_string()
                .contains("Fortran")
        );
        let flat = npy_with("'|u1'", "False", "(2,)", &[0, 3]);
        assert!(
            refusal(&one(bit_array(json!(wrap(&flat)), json!(2))))
                .to_string()
                .contains("one axis")
        );
        let garbled = npy_with("'|u1'", "False", "(2, x)", &[0, 3]);
        assert!(matches!(
            refusal(&one(bit_array(json!(wrap(&garbled)), json!(2)))),
            ResultsError::Npy { .. }
        ));
        let mut cut = npy(&[2, 1], &[0, 3]);
        cut[8] = 0xff;
        assert!(
            refusal(&one(bit_array(json!(wrap(&cut)), json!(2))))
                .to_string()
                .contains("runs past the end")
        );
        // A header lying about its shape, either way.
        let lying = npy_with("'|u1'", "False", "(1000, 1)", &[0, 3]);
        let e = refusal(&one(bit_array(json!(wrap(&lying)), json!(2))));
        assert!(
            matches!(&e, ResultsError::ShapeMismatch { expected, found: 2, .. } if expected == "1000"),
            "{e}"
        );
        let empty = npy_with("'|u1'", "False", "(18446744073709551615, 2, 0)", &[]);
        let e = refusal(&one(bit_array(json!(wrap(&empty)), json!(0))));
        assert!(e.to_string().contains("more than 2^64"), "{e}");
        let huge = npy_with("'|u1'", "False", "(18446744073709551615, 2, 2)", &[0, 3]);
        assert!(matches!(
            refusal(&one(bit_array(json!(wrap(&huge)), json!(2)))),
            ResultsError::ShapeMismatch { .. }
        ));
        // num_bits against the array, and against the limit.
        let e = refusal(&one(bit_array(json!(bell_npy()), json!(9))));
        assert!(e.to_string().contains("2 bytes per shot"), "{e}");
        let e = refusal(&one(bit_array(json!(bell_npy()), json!(20_000))));
        assert!(
            matches!(
                e,
                ResultsError::NumBits {
                    num_bits: 20_000,
                    ..
                }
            ),
            "{e}"
        );
        // Registers of one PUB with different shots cannot be joined.
        let a: (&str, u64, &[u64], &[u8]) = ("a", 1, &[2, 1], &[0, 1]);
        let b: (&str, u64, &[u64], &[u8]) = ("b", 1, &[3, 1], &[0, 1, 1]);
        let e = refusal(&body(&[a, b], "[]"));
        assert!(matches!(e, ResultsError::RegistersDisagree { .. }), "{e}");
        // A long register name is echoed only in part.
        let long = format!("\"{}\": 5", "r".repeat(5000));
        let e = refusal(&body_with_fields(&long, "[]"));
        assert!(
            e.to_string().contains('…') && e.to_string().len() < 400,
            "{e}"
        );
    }

    #[test]
    fn a_zlib_bomb_is_refused_after_the_limit() {
        // 65 MiB of zeros behind a valid header compresses to about 64 KiB.
        let mut bomb = npy(&[(65 << 20) + 64, 1], &[]);
        bomb.resize(bomb.len() + (65 << 20) + 64, 0);
        let e = refusal(&one(bit_array(json!(wrap(&bomb)), json!(1))));
        assert_eq!(
            e,
            ResultsError::TooLarge {
                at: "pub_results[0].data.meas.array".into(),
                limit: MAX_INFLATED
            }
        );
        // The limit is for the whole body: two arrays of 40 MiB are too much together.
        let big = {
            let mut v = npy(&[40 << 20, 1], &[]);
            v.resize(v.len() + (40 << 20), 0);
            json!(wrap(&v))
        };
        let fields = format!(
            "\"a\": {}, \"b\": {}",
            bit_array(big.clone(), json!(1)),
            bit_array(big, json!(1))
        );
        let e = refusal(&body_with_fields(&fields, "[]"));
        assert!(
            matches!(&e, ResultsError::TooLarge { at, .. } if at.ends_with(".b.array")),
            "{e}"
        );
    }

    #[test]
    fn the_count_budget_stops_an_explosion_of_distinct_outcomes() {
        let mut budget = Budget {
            inflated: 0,
            keys: 0,
        };
        let per_key = 1000 + KEY_OVERHEAD;
        for _ in 0..MAX_COUNT_BYTES / per_key {
            budget.key(1000, "x").unwrap();
        }
        assert_eq!(
            budget.key(1000, "pub_results[0]"),
            Err(ResultsError::TooManyOutcomes {
                at: "pub_results[0]".into(),
                limit: MAX_COUNT_BYTES
            })
        );
    }

    #[test]
    fn npy_headers_are_read_in_every_form_numpy_writes() {
        for header in [
            "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1), }",
            "{'shape': (2, 1), 'fortran_order': False, 'descr': '<u1'}",
            "{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (2L, 1L)}",
        ] {
            let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
            let text = format!("{header}\n");
            bytes.extend_from_slice(&u32::try_from(text.len()).unwrap().to_le_bytes());
            bytes.extend_from_slice(text.as_bytes());
            let start = bytes.len();
            bytes.extend_from_slice(&[0, 3]);
            assert_eq!(
                read_npy(&bytes, "x").unwrap(),
                (vec![2, 1], start),
                "{header}"
            );
        }
        for bad in [
            "{'descr': '|u1', 'fortran_order': False}",
            "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1), 'extra': 1}",
            "{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (2, 1)}",
            "{'descr': '|u1', 'fortran_order': 0, 'shape': (2, 1)}",
            "{'descr': '|u1', 'fortran_order': False, 'shape': (-2, 1)}",
            "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1)} trailing",
            "{'descr': '|u1\\', 'fortran_order': False, 'shape': (2, 1)}",
        ] {
            let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
            bytes.extend_from_slice(&u16::try_from(bad.len()).unwrap().to_le_bytes());
            bytes.extend_from_slice(bad.as_bytes());
            assert!(read_npy(&bytes, "x").is_err(), "{bad}");
        }
        assert!(
            read_npy(b"\x93NUMPY\x04\x00\x00\x00", "x")
                .unwrap_err()
                .to_string()
                .contains("version 4")
        );
        assert!(read_npy(b"\x93NUMPY", "x").is_err());
    }
}
