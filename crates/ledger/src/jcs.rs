//! RFC 8785 JSON Canonicalization Scheme (JCS) for the JSON values the ledger writes.
//!
//! Canonical form is what makes an entry's hash mean something: the same event always becomes
//! the same bytes, whoever writes it. The rules (RFC 8785 §3.2):
//!
//! - no whitespace between tokens;
//! - object members sorted by their names compared as arrays of UTF-16 code units;
//! - strings escape only `"`, `\` and U+0000–U+001F, using `\b \t \n \f \r` where they exist and
//!   `\u00xx` (lower-case hex) otherwise; every other character, U+007F and U+2028 included, is
//!   written as raw UTF-8;
//! - numbers are IEEE 754 doubles written the way ECMAScript's `Number.prototype.toString`
//!   does (`-0` becomes `0`, `1e+21`, `1e-7`, shortest round-trip digits) — done by the `ryu-js`
//!   crate, the ECMAScript-compatible Ryū that the Boa engine uses.
//!
//! Two entry points differ only in how they treat integers that a double cannot hold exactly:
//! [`to_vec`] (used for ledger entries) refuses any integer beyond ±(2^53 − 1), so a size or
//! count is never silently rounded, while [`canonicalize`] applies RFC 8785 literally and turns
//! such an integer into the nearest double, as any other JCS implementation would.
//!
//! We implement JCS here rather than depend on `serde_json_canonicalizer` (the implementation the
//! RFC's reference repository lists for Rust, and a good one): ours works on
//! [`serde_json::Value`] without re-parsing every member name, which keeps it off the append
//! path's profile, and lets us refuse unsafe integers and duplicate names, which that crate
//! accepts. Both are tested against the RFC 8785 examples and the reference repository's test
//! data.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// The largest integer a double represents exactly together with all smaller ones: 2^53 − 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// How deeply arrays and objects may nest (the same limit `serde_json` applies when parsing).
pub const MAX_DEPTH: usize = 128;

/// Why a value could not be put in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JcsError {
    /// An integer that a double cannot hold exactly.
    #[error(
        "the number {value} is beyond ±(2^53 - 1) and cannot be written exactly in canonical JSON; store it as a string"
    )]
    UnsafeInteger {
        /// The integer, as text.
        value: String,
    },
    /// NaN or an infinity (RFC 8785 §3.2.2.3 requires an error).
    #[error("NaN and infinite numbers cannot be written in canonical JSON")]
    NonFinite,
    /// Arrays and objects nested too deeply.
    #[error("the value nests arrays and objects more than {MAX_DEPTH} levels deep")]
    TooDeep,
    /// The input is not JSON that canonicalization accepts (RFC 8785 §3.1: I-JSON).
    #[error("not canonicalizable JSON: {reason}")]
    Parse {
        /// What the parser reported.
        reason: String,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Integers {
    /// Refuse integers beyond ±(2^53 − 1).
    Exact,
    /// Turn them into the nearest double (RFC 8785 as written).
    Ieee,
}

/// The canonical bytes of `value`, refusing integers a double cannot hold exactly.
pub fn to_vec(value: &Value) -> Result<Vec<u8>, JcsError> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out, Integers::Exact, 0)?;
    Ok(out)
}

/// Appends the canonical bytes of `value` to `out`, refusing integers a double cannot hold
/// exactly. On error, `out` may hold a partial value.
pub fn write(value: &Value, out: &mut Vec<u8>) -> Result<(), JcsError> {
    write_value(value, out, Integers::Exact, 0)
}

/// RFC 8785 applied to arbitrary JSON text: parse (rejecting duplicate member names and lone
/// surrogates), then serialise canonically, with every number treated as a double.
pub fn canonicalize(json: &[u8]) -> Result<Vec<u8>, JcsError> {
    let value = parse(json)?;
    let mut out = Vec::with_capacity(json.len());
    write_value(&value, &mut out, Integers::Ieee, 0)?;
    Ok(out)
}

/// Parses JSON text strictly: duplicate member names, lone surrogates, invalid UTF-8 and trailing
/// data are errors.
pub fn parse(json: &[u8]) -> Result<Value, JcsError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let StrictValue(value) = serde::Deserialize::deserialize(&mut de).map_err(parse_error)?;
    de.end().map_err(parse_error)?;
    Ok(value)
}

/// Writes `f` the way ECMAScript's `Number.prototype.toString` does.
pub fn write_f64(f: f64, out: &mut Vec<u8>) -> Result<(), JcsError> {
    if !f.is_finite() {
        return Err(JcsError::NonFinite);
    }
    if f == 0.0 {
        // Both zeros are written `0` (RFC 8785 appendix B).
        out.push(b'0');
        return Ok(());
    }
    let mut buf = ryu_js::Buffer::new();
    out.extend_from_slice(buf.format_finite(f).as_bytes());
    Ok(())
}

fn parse_error(e: serde_json::Error) -> JcsError {
    JcsError::Parse {
        reason: e.to_string(),
    }
}

fn write_value(
    value: &Value,
    out: &mut Vec<u8>,
    ints: Integers,
    depth: usize,
) -> Result<(), JcsError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out, ints)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(JcsError::TooDeep);
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out, ints, depth + 1)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            if depth >= MAX_DEPTH {
                return Err(JcsError::TooDeep);
            }
            write_object(map, out, ints, depth)?;
        }
    }
    Ok(())
}

fn write_object(
    map: &Map<String, Value>,
    out: &mut Vec<u8>,
    ints: Integers,
    depth: usize,
) -> Result<(), JcsError> {
    out.push(b'{');
    // Sorted here whatever order `Map` keeps (`preserve_order` may be on elsewhere in a build).
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|(a, _), (b, _)| utf16_cmp(a, b));
    for (i, (name, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write_value(value, out, ints, depth + 1)?;
    }
    out.push(b'}');
    Ok(())
}

/// Compares strings as arrays of UTF-16 code units (RFC 8785 §3.2.3).
///
/// UTF-8 byte order is code point order, which agrees with UTF-16 order except between a
/// character at or above U+10000 (a surrogate pair in UTF-16) and one in U+E000–U+FFFF; those
/// need a UTF-8 lead byte of 0xEE or more, so strings without such bytes compare as bytes.
pub fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let high = |s: &str| s.bytes().any(|b| b >= 0xEE);
    if high(a) || high(b) {
        a.encode_utf16().cmp(b.encode_utf16())
    } else {
        a.as_bytes().cmp(b.as_bytes())
    }
}

fn write_number(n: &Number, out: &mut Vec<u8>, ints: Integers) -> Result<(), JcsError> {
    if let Some(u) = n.as_u64() {
        if u <= MAX_SAFE_INTEGER {
            out.extend_from_slice(u.to_string().as_bytes());
            return Ok(());
        }
        return match ints {
            Integers::Exact => Err(JcsError::UnsafeInteger {
                value: u.to_string(),
            }),
            // RFC 8785 numbers are doubles: the nearest one is the canonical value.
            Integers::Ieee => write_f64(u as f64, out),
        };
    }
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= MAX_SAFE_INTEGER {
            out.extend_from_slice(i.to_string().as_bytes());
            return Ok(());
        }
        return match ints {
            Integers::Exact => Err(JcsError::UnsafeInteger {
                value: i.to_string(),
            }),
            Integers::Ieee => write_f64(i as f64, out),
        };
    }
    match n.as_f64() {
        Some(f) => write_f64(f, out),
        None => Err(JcsError::NonFinite),
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // Multi-byte UTF-8 sequences only contain bytes >= 0x80, so they pass through whole.
        let short: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            b'\t' => Some(b"\\t"),
            b'\n' => Some(b"\\n"),
            0x0c => Some(b"\\f"),
            b'\r' => Some(b"\\r"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        match short {
            Some(escape) => out.extend_from_slice(escape),
            None => {
                // The other control characters: `\u00xx` with lower-case hex digits.
                let hex = |nibble: u8| HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b & 0x0f)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// A JSON value parsed with duplicate member names rejected.
struct StrictValue(Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if out.contains_key(&name) {
                return Err(de::Error::custom(format_args!(
                    "duplicate member name `{}`",
                    name.escape_debug()
                )));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(name, v);
        }
        Ok(Value::Object(out))
    }
}
