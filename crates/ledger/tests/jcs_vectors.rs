//! RFC 8785 canonical JSON: the RFC's own examples, the reference implementation's test data
//! (github.com/cyberphone/json-canonicalization, `testdata/input` → `testdata/output`), the
//! number samples of RFC 8785 appendix B, and a differential run against
//! `serde_json_canonicalizer`, an independent implementation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qwarden_ledger::jcs::{self, JcsError, MAX_SAFE_INTEGER};
use serde_json::{Value, json};

fn canon(input: &str) -> String {
    String::from_utf8(jcs::canonicalize(input.as_bytes()).unwrap()).unwrap()
}

/// testdata/input/arrays.json → testdata/output/arrays.json
#[test]
fn reference_arrays() {
    let input = "[\n  56,\n  {\n    \"d\": true,\n    \"10\": null,\n    \"1\": [ ]\n  }\n]";
    assert_eq!(canon(input), r#"[56,{"1":[],"10":null,"d":true}]"#);
}

/// testdata/input/french.json: sorting ignores locale.
#[test]
fn reference_french() {
    let input = "{\n  \"peach\": \"This sorting order\",\n  \"péché\": \"is wrong according to French\",\n  \"pêche\": \"but canonicalization MUST\",\n  \"sin\":   \"ingnore locale\"\n}\n";
    let expected = r#"{"peach":"This sorting order","péché":"is wrong according to French","pêche":"but canonicalization MUST","sin":"ingnore locale"}"#;
    assert_eq!(canon(input), expected);
}

/// testdata/input/structures.json: nested sorting, `56.0` → `56`, the empty name first.
#[test]
fn reference_structures() {
    let input = "{\n  \"1\": {\"f\": {\"f\": \"hi\",\"F\": 5} ,\"\\n\": 56.0},\n  \"10\": { },\n  \"\": \"empty\",\n  \"a\": { },\n  \"111\": [ { } ],\n  \"A\": { }\n}";
    let expected =
        r#"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}"#;
    assert_eq!(canon(input), expected);
}

/// testdata/input/unicode.json: no Unicode normalisation.
#[test]
fn reference_unicode() {
    let input = "{\n  \"Unnormalized Unicode\":\"\\u1e0d\\u0307\"\n}\n";
    assert_eq!(
        canon(input),
        "{\"Unnormalized Unicode\":\"\u{1e0d}\u{307}\"}"
    );
}

/// testdata/input/values.json (also the RFC 8785 §3.2.2 example): numbers and string escapes.
#[test]
fn reference_values() {
    let input = r#"{
  "numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],
  "escaping": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
    let expected = r#"{"escaping":"€$\u000f\nA'B\"\\\\\"/","literals":[null,true,false],"numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]}"#;
    assert_eq!(canon(input), expected);
}

/// testdata/input/weird.json: UTF-16 sorting (😂 U+1F602 sorts before דּ U+FB33), U+0080 and
/// U+007F written raw, `</script>` untouched.
#[test]
fn reference_weird() {
    let input = r#"{
  "\u20ac": "Euro Sign",
  "1": "One",
  "\u0080": "Control\u007f",
  "\ud83d\ude02": "Smiley",
  "\u00f6": "Latin Small Letter O With Diaeresis",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "</script>": "Browser Challenge"
}
"#;
    let expected = "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7f}\",\
                    \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                    \"\u{1f602}\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(canon(input), expected);
}

/// RFC 8785 §3.2.3: the property-sorting example.
#[test]
fn rfc_sorting_example() {
    let input = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"#;
    let out = canon(input);
    let names: Vec<String> = {
        let v: serde_json::Map<String, Value> = serde_json::from_str(&out).unwrap();
        // Recover the written order from the text itself.
        let mut found: Vec<(usize, String)> = v
            .keys()
            .map(|k| {
                (
                    out.find(&format!("\"{}\":", k.replace('\r', "\\r")))
                        .unwrap(),
                    k.clone(),
                )
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, k)| k).collect()
    };
    let expected: Vec<String> = [
        "\r",
        "1",
        "\u{80}",
        "\u{f6}",
        "\u{20ac}",
        "\u{1f600}",
        "\u{fb33}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, expected);
    assert!(
        out.starts_with(r#"{"\r":"Carriage Return","1":"One""#),
        "{out}"
    );
}

/// RFC 8785 appendix B: IEEE 754 bit patterns and their canonical text.
#[test]
fn rfc_appendix_b_numbers() {
    let samples = [
        (0x0000000000000000_u64, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ];
    for (bits, expected) in samples {
        let mut out = Vec::new();
        jcs::write_f64(f64::from_bits(bits), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            expected,
            "bits {bits:016x}"
        );
        // The same value through a JSON document (parsed, then canonicalized).
        let text = serde_json::to_string(&f64::from_bits(bits)).unwrap();
        assert_eq!(
            canon(&format!("[{text}]")),
            format!("[{expected}]"),
            "bits {bits:016x}"
        );
    }
    // NaN and infinity must be errors.
    for bits in [0x7fffffffffffffff_u64, 0x7ff0000000000000] {
        assert_eq!(
            jcs::write_f64(f64::from_bits(bits), &mut Vec::new()),
            Err(JcsError::NonFinite)
        );
    }
}

/// Sample lines of the reference repository's ES6 number test file (testdata/README.md).
#[test]
fn reference_es6_number_samples() {
    for (bits, expected) in [
        (0x4340000000000001_u64, "9007199254740994"),
        (0x4340000000000002, "9007199254740996"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x8000000000000000, "0"),
        (0x0, "0"),
    ] {
        let mut out = Vec::new();
        jcs::write_f64(f64::from_bits(bits), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}

#[test]
fn every_control_character_is_escaped_and_nothing_else() {
    let mut s = String::new();
    for c in 0u32..0x80 {
        s.push(char::from_u32(c).unwrap());
    }
    s.push('\u{2028}');
    s.push('\u{2029}');
    s.push('\u{ffff}');
    s.push('\u{10ffff}');
    let out = String::from_utf8(jcs::to_vec(&json!(s)).unwrap()).unwrap();
    let mut expected = String::from("\"");
    expected.push_str("\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007");
    expected.push_str("\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f");
    for c in 0x10..0x20 {
        expected.push_str(&format!("\\u{c:04x}"));
    }
    for c in 0x20u8..0x80 {
        match c {
            b'"' => expected.push_str("\\\""),
            b'\\' => expected.push_str("\\\\"),
            _ => expected.push(char::from(c)),
        }
    }
    expected.push_str("\u{2028}\u{2029}\u{ffff}\u{10ffff}\"");
    assert_eq!(out, expected);
}

#[test]
fn ledger_numbers_are_exact_or_refused() {
    assert_eq!(
        jcs::to_vec(&json!(MAX_SAFE_INTEGER)).unwrap(),
        b"9007199254740991"
    );
    assert_eq!(
        jcs::to_vec(&json!(-(MAX_SAFE_INTEGER as i64))).unwrap(),
        b"-9007199254740991"
    );
    assert!(matches!(
        jcs::to_vec(&json!(MAX_SAFE_INTEGER + 1)),
        Err(JcsError::UnsafeInteger { .. })
    ));
    assert!(matches!(
        jcs::to_vec(&json!(u64::MAX)),
        Err(JcsError::UnsafeInteger { .. })
    ));
    assert!(matches!(
        jcs::to_vec(&json!(i64::MIN)),
        Err(JcsError::UnsafeInteger { .. })
    ));
    // RFC 8785 as written turns such an integer into the nearest double.
    assert_eq!(canon("[9007199254740993]"), "[9007199254740992]");
    assert_eq!(canon("[-0.0, 1.0, 100, 1e2]"), "[0,1,100,100]");
}

#[test]
fn parse_is_strict() {
    for bad in [
        r#"{"a":1,"a":2}"#,       // duplicate name (I-JSON)
        r#"{"a":{"b":1,"b":1}}"#, // nested duplicate
        r#"["\ud83d"]"#,          // lone surrogate
        r#"["\ude00\ud83d"]"#,    // reversed surrogate pair
        "[1] x",                  // trailing data
        "[1e400]",                // overflow
        "[NaN]",
        "{'a':1}",
        "",
    ] {
        assert!(
            jcs::canonicalize(bad.as_bytes()).is_err(),
            "{bad:?} was accepted"
        );
    }
    assert!(
        jcs::canonicalize(b"[\"\xff\"]").is_err(),
        "invalid UTF-8 was accepted"
    );
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert!(jcs::canonicalize(deep.as_bytes()).is_ok());
    let too_deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    assert!(jcs::canonicalize(too_deep.as_bytes()).is_err());
    // A value built in memory (not parsed) deeper than the limit is refused, not overflowed.
    let mut v = json!(0);
    for _ in 0..(jcs::MAX_DEPTH + 1) {
        v = json!([v]);
    }
    assert_eq!(jcs::to_vec(&v), Err(JcsError::TooDeep));
}

/// A small deterministic PRNG (xorshift64*), so the differential run is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_string(rng: &mut Rng) -> String {
    const POOL: &[char] = &[
        'a',
        'b',
        'Z',
        '0',
        '"',
        '\\',
        '/',
        '\n',
        '\u{0}',
        '\u{1f}',
        '\u{7f}',
        '\u{80}',
        'é',
        'ö',
        '€',
        '\u{2028}',
        '\u{e000}',
        '\u{fb33}',
        '\u{ffff}',
        '\u{10000}',
        '😀',
        '\u{10ffff}',
    ];
    (0..rng.below(6))
        .map(|_| POOL[rng.below(POOL.len() as u64) as usize])
        .collect()
}

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    match if depth > 3 {
        rng.below(5)
    } else {
        rng.below(7)
    } {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => {
            let f = f64::from_bits(rng.next());
            if f.is_finite() {
                json!(f)
            } else {
                json!(rng.next() >> rng.below(64))
            }
        }
        3 => json!((rng.next() >> 11) as f64 / 1024.0),
        4 => json!(random_string(rng)),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(5))
                .map(|_| (random_string(rng), random_value(rng, depth + 1)))
                .collect(),
        ),
    }
}

#[test]
fn agrees_with_an_independent_implementation() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..3000 {
        let v = random_value(&mut rng, 0);
        let theirs = serde_json_canonicalizer::to_vec(&v).unwrap();
        let ours = jcs::canonicalize(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "case {i}: {v}"
        );
        // Canonical form is a fixed point.
        assert_eq!(jcs::canonicalize(&ours).unwrap(), ours, "case {i}");
    }
}
