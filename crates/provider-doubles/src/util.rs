//! Small helpers shared by the doubles: form decoding, a seeded random generator, ids and
//! timestamps.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Decodes `application/x-www-form-urlencoded` text (also a URL query) into pairs, in order.
/// `+` is a space; a malformed `%` escape is kept literally.
pub(crate) fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SplitMix64: a tiny, well-mixed, seedable generator. Everything random a double produces
/// (ids, token signatures, samples) comes from one of these, so a run is reproducible from its
/// seed.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }

    /// A version-4 UUID, lower-case and hyphenated.
    pub fn uuid(&mut self) -> String {
        let mut b = self.bytes(16);
        if let Some(x) = b.get_mut(6) {
            *x = (*x & 0x0f) | 0x40;
        }
        if let Some(x) = b.get_mut(8) {
            *x = (*x & 0x3f) | 0x80;
        }
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let part = |r: std::ops::Range<usize>| hex.get(r).unwrap_or_default().to_owned();
        format!(
            "{}-{}-{}-{}-{}",
            part(0..8),
            part(8..12),
            part(12..16),
            part(16..20),
            part(20..32)
        )
    }

    /// `n` characters of the lower-case base-32 alphabet IBM job ids use (`0-9a-v`, as in
    /// `c5dge2d3rn7breq27i9g` in IBM's API reference).
    pub fn base32(&mut self, n: usize) -> String {
        const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
        (0..n)
            .map(|_| {
                let i = usize::try_from(self.next_u64() % 32).unwrap_or(0);
                char::from(ALPHABET.get(i).copied().unwrap_or(b'0'))
            })
            .collect()
    }
}

/// 64 unpredictable bits (std's per-process random hash keys, mixed with the clock and a
/// counter), for what must differ between doubles: access tokens.
pub(crate) fn entropy() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_i128(OffsetDateTime::now_utc().unix_timestamp_nanos());
    h.finish()
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Now in RFC 3339 with microseconds and `Z`, as IBM's job timestamps
/// (`2021-10-04T13:52:09.456851Z` in IBM's API reference).
pub(crate) fn rfc3339_micros_now() -> String {
    let now = OffsetDateTime::now_utc();
    let micros = now.microsecond();
    let base = now
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    // `2026-01-01T00:00:00Z` -> `2026-01-01T00:00:00.123456Z`
    match base.strip_suffix('Z') {
        Some(stem) => format!("{stem}.{micros:06}Z"),
        None => base,
    }
}

/// Now in RFC 3339 with milliseconds and `Z`, as IonQ's timestamps
/// (`2025-05-28T20:47:05.440Z` in IonQ's v0.4 "Get job" example).
pub(crate) fn rfc3339_millis_now() -> String {
    let now = OffsetDateTime::now_utc();
    let millis = now.millisecond();
    let base = now
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    match base.strip_suffix('Z') {
        Some(stem) => format!("{stem}.{millis:03}Z"),
        None => base,
    }
}

/// Parses an RFC 3339 / ISO 8601 timestamp (with an offset) to Unix seconds.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// Whether a `Content-Type` value names `media_type` (parameters such as `charset` allowed).
pub(crate) fn is_media_type(content_type: Option<&str>, media_type: &str) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mt| mt.trim().eq_ignore_ascii_case(media_type))
}

/// The JSON type name of a value, for validation messages.
pub(crate) fn type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn form_decoding_handles_plus_and_escapes() {
        let f = parse_form("grant_type=urn%3Aibm%3Aparams&apikey=a+b%2Fc&x");
        assert_eq!(f[0], ("grant_type".into(), "urn:ibm:params".into()));
        assert_eq!(f[1], ("apikey".into(), "a b/c".into()));
        assert_eq!(f[2], ("x".into(), String::new()));
    }

    #[test]
    fn uuids_are_version_4() {
        let u = Rng::new(7).uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn timestamps_parse_back() {
        assert!(parse_rfc3339(&rfc3339_micros_now()).is_some());
        assert!(parse_rfc3339(&rfc3339_millis_now()).is_some());
        assert_eq!(
            parse_rfc3339("2021-03-15T00:36:03-04:00"),
            Some(1_615_782_963)
        );
    }
}
