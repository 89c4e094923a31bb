//! The shots a Qiskit Runtime sampler job will execute, read from the body as sent.
//!
//! For each PUB `[circuit, parameter_values?, shots?]` of `params.pubs` the count is the PUB's
//! own shots, else `params.options.default_shots`, else IBM's default of 4096
//! (provider-traffic README, "Where shots come from"). Two things multiply or replace it, and
//! the gateway bounds both:
//! - twirling: `options.twirling.num_randomizations × shots_per_randomization`, which takes
//!   precedence over `default_shots` when the PUB has no shots; when both are integers, the count
//!   is the larger of the two;
//! - parameter sets: a PUB runs once per set of parameter values, so the count is multiplied by
//!   the number of sets (the parameter-value array's shape without its last axis).
//!
//! Only `program_id: "sampler"` jobs are admitted: an estimator's shots follow from its
//! precision and the new client-side `executor` program has its own layout, and a job whose
//! shots the gateway cannot count is refused rather than guessed at.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::admission::{ShotSource, Shots};
use crate::upstream::ibm::IBM_DEFAULT_SHOTS;

/// The most bytes of an inflated parameter array the gateway reads: enough for any `.npy`
/// header, which is all it needs.
const NPY_PREFIX: usize = 70 * 1024;

/// Every PUB's executed shots. `body` is the job; when no PUB sets its shots and the request
/// sets no `default_shots`, the provider default is written into `params.options.default_shots`
/// so what runs is what was admitted. `Err` is the 400 message.
pub fn sampler_shots(body: &mut Map<String, Value>) -> Result<Vec<Shots>, String> {
    let program = body
        .get("program_id")
        .and_then(Value::as_str)
        .ok_or("program_id is required and must be a string")?;
    if program != "sampler" {
        // The agent chose the id: echo a bounded part of it.
        let shown: String = program.chars().take(40).collect();
        let more = if program.chars().count() > 40 {
            "…"
        } else {
            ""
        };
        return Err(format!(
            "program_id {shown:?}{more} cannot go through the gateway, which must count a job's shots before it runs: submit with SamplerV2 (program_id \"sampler\")"
        ));
    }
    let params = body
        .get_mut("params")
        .and_then(Value::as_object_mut)
        .ok_or("params is required and must be an object")?;
    let options = match params.get("options") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o),
        Some(_) => return Err("params.options must be an object".into()),
    };
    let default_shots = match options.and_then(|o| o.get("default_shots")) {
        None | Some(Value::Null) => None,
        Some(v) => Some(positive(v, "params.options.default_shots")?),
    };
    let twirled = options.map(twirling_shots).transpose()?.flatten();
    let pubs = params
        .get("pubs")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
        .ok_or("params.pubs is required and must be a non-empty array")?;
    let mut shots = Vec::with_capacity(pubs.len());
    let mut leaves_default = false;
    for (i, pub_) in pubs.iter().enumerate() {
        let items = pub_
            .as_array()
            .filter(|a| (1..=3).contains(&a.len()))
            .ok_or_else(|| {
                format!("params.pubs[{i}] must be [circuit, parameter_values, shots]")
            })?;
        let own = match items.get(2) {
            None | Some(Value::Null) => None,
            Some(v) => Some(positive(v, &format!("params.pubs[{i}][2]"))?),
        };
        let (mut count, mut source) = match (own, twirled, default_shots) {
            (Some(n), _, _) => (n, ShotSource::Circuit),
            (None, Some(n), _) => (n, ShotSource::Twirling),
            (None, None, Some(n)) => (n, ShotSource::Request),
            (None, None, None) => {
                leaves_default = true;
                (IBM_DEFAULT_SHOTS, ShotSource::ProviderDefault)
            }
        };
        if let Some(t) = twirled
            && t > count
        {
            (count, source) = (t, ShotSource::Twirling);
        }
        let sets = parameter_sets(items.get(1), i)?;
        shots.push(Shots {
            count: count.saturating_mul(sets),
            source,
        });
    }
    if leaves_default {
        let options = params
            .entry("options")
            .or_insert_with(|| Value::Object(Map::new()));
        if options.is_null() {
            *options = Value::Object(Map::new());
        }
        if let Value::Object(o) = options {
            o.insert("default_shots".into(), IBM_DEFAULT_SHOTS.into());
        }
    }
    Ok(shots)
}

fn positive(v: &Value, what: &str) -> Result<u64, String> {
    v.as_u64()
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("{what} must be an integer >= 1"))
}

/// `num_randomizations × shots_per_randomization` when both are set as integers (`"auto"`
/// randomizations leave the count to the shots).
fn twirling_shots(options: &Map<String, Value>) -> Result<Option<u64>, String> {
    let Some(t) = options.get("twirling") else {
        return Ok(None);
    };
    let field = |name: &str| match t.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "auto" => Ok(None),
        Some(v) => positive(v, &format!("params.options.twirling.{name}")).map(Some),
    };
    let (n, per) = (
        field("num_randomizations")?,
        field("shots_per_randomization")?,
    );
    Ok(match (n, per) {
        (Some(n), Some(per)) => Some(n.saturating_mul(per)),
        _ => None,
    })
}

/// How many parameter sets a PUB runs: 1 without parameter values, else the number of rows of
/// the `ndarray` (its shape without the last axis, which is the parameters).
fn parameter_sets(values: Option<&Value>, i: usize) -> Result<u64, String> {
    let unreadable = |why: &str| {
        format!(
            "params.pubs[{i}][1]: {why}; the gateway counts a PUB's parameter sets to bound its shots, so send parameter values as qiskit-ibm-runtime encodes them (an ndarray)"
        )
    };
    let encoded = match values {
        None | Some(Value::Null) => return Ok(1),
        Some(v) => {
            if v.get("__type__").and_then(Value::as_str) != Some("ndarray") {
                return Err(unreadable("not an encoded ndarray"));
            }
            v.get("__value__")
                .and_then(Value::as_str)
                .ok_or_else(|| unreadable("the ndarray has no base64 value"))?
        }
    };
    let compressed = STANDARD
        .decode(encoded)
        .map_err(|_| unreadable("the ndarray is not base64"))?;
    let npy =
        inflate_prefix(&compressed).ok_or_else(|| unreadable("the ndarray is not zlib data"))?;
    let shape =
        npy_shape(&npy).ok_or_else(|| unreadable("the ndarray has no readable .npy header"))?;
    Ok(match shape.split_last() {
        None => 1,
        Some((_, rows)) => rows.iter().fold(1u64, |n, d| n.saturating_mul(*d)),
    })
}

/// The first [`NPY_PREFIX`] bytes of a zlib stream (a bomb never inflates further).
fn inflate_prefix(compressed: &[u8]) -> Option<Vec<u8>> {
    use miniz_oxide::inflate::TINFLStatus;
    use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};
    let mut out = vec![0u8; NPY_PREFIX];
    let mut state = DecompressorOxide::new();
    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, _, written) = decompress(&mut state, compressed, &mut out, 0, flags);
    match status {
        TINFLStatus::Done | TINFLStatus::HasMoreOutput => {
            out.truncate(written);
            Some(out)
        }
        _ => None,
    }
}

/// The shape in a `.npy` header (format 1, 2 or 3).
fn npy_shape(bytes: &[u8]) -> Option<Vec<u64>> {
    let rest = bytes.strip_prefix(b"\x93NUMPY")?;
    let (&major, rest) = rest.split_first()?;
    let rest = rest.get(1..)?;
    let (len, rest) = match major {
        1 => (
            usize::from(u16::from_le_bytes([*rest.first()?, *rest.get(1)?])),
            rest.get(2..)?,
        ),
        2 | 3 => {
            let b: [u8; 4] = rest.get(..4)?.try_into().ok()?;
            (usize::try_from(u32::from_le_bytes(b)).ok()?, rest.get(4..)?)
        }
        _ => return None,
    };
    let header = std::str::from_utf8(rest.get(..len)?).ok()?;
    let after = header
        .split_once("'shape'")?
        .1
        .trim_start()
        .strip_prefix(':')?;
    let inner = after.trim_start().strip_prefix('(')?.split_once(')')?.0;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<u64>().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    fn ndarray(shape: &str) -> Value {
        let header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        let mut h = header.into_bytes();
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(b' ');
        }
        h.push(b'\n');
        npy.extend_from_slice(&u16::try_from(h.len()).unwrap().to_le_bytes());
        npy.extend_from_slice(&h);
        let z = miniz_oxide::deflate::compress_to_vec_zlib(&npy, 6);
        json!({"__type__": "ndarray", "__value__": STANDARD.encode(z)})
    }

    fn job(pubs: Value, options: Value) -> Map<String, Value> {
        let Value::Object(m) = json!({"program_id": "sampler", "backend": "ibm_lima",
            "params": {"pubs": pubs, "options": options, "version": 2}})
        else {
            panic!()
        };
        m
    }

    fn counts(pubs: Value, options: Value) -> Result<Vec<(u64, ShotSource)>, String> {
        sampler_shots(&mut job(pubs, options))
            .map(|v| v.into_iter().map(|s| (s.count, s.source)).collect())
    }

    #[test]
    fn shots_come_from_every_source() {
        let c = json!({"__type__": "QuantumCircuit", "__value__": "x"});
        let none = ndarray("(0,)");
        use ShotSource::*;
        assert_eq!(
            counts(json!([[c, none, null]]), json!({})),
            Ok(vec![(4096, ProviderDefault)])
        );
        assert_eq!(
            counts(json!([[c, none, 1000]]), json!({})),
            Ok(vec![(1000, Circuit)])
        );
        assert_eq!(
            counts(json!([[c, none, null]]), json!({"default_shots": 555})),
            Ok(vec![(555, Request)])
        );
        assert_eq!(
            counts(json!([[c, none, 222]]), json!({"default_shots": 555})),
            Ok(vec![(222, Circuit)])
        );
        let twirl = json!({"twirling": {"enable_gates": true, "num_randomizations": 64, "shots_per_randomization": 100}});
        assert_eq!(
            counts(json!([[c, none, 1000]]), twirl.clone()),
            Ok(vec![(6400, Twirling)])
        );
        assert_eq!(counts(json!([[c]]), twirl), Ok(vec![(6400, Twirling)]));
        assert_eq!(
            counts(json!([[c, none, 100], [c, none, 200]]), json!({})),
            Ok(vec![(100, Circuit), (200, Circuit)])
        );
        // Ten parameter sets of three parameters each.
        assert_eq!(
            counts(json!([[c, ndarray("(10, 3)"), 100]]), json!({})),
            Ok(vec![(1000, Circuit)])
        );
        assert_eq!(
            counts(json!([[c, ndarray("(2, 5, 3)"), 10]]), json!({})),
            Ok(vec![(100, Circuit)])
        );
        assert_eq!(
            counts(json!([[c, ndarray("(3,)"), 10]]), json!({})),
            Ok(vec![(10, Circuit)])
        );
    }

    #[test]
    fn the_provider_default_is_made_explicit() {
        let c = json!({"__type__": "QuantumCircuit", "__value__": "x"});
        let mut j = job(json!([[c, null, null]]), json!(null));
        sampler_shots(&mut j).unwrap();
        assert_eq!(j["params"]["options"]["default_shots"], 4096);
        let mut j = job(json!([[c, null, 10]]), json!({}));
        sampler_shots(&mut j).unwrap();
        assert!(j["params"]["options"].get("default_shots").is_none());
    }

    #[test]
    fn jobs_whose_shots_cannot_be_counted_are_refused() {
        let c = json!({"__type__": "QuantumCircuit", "__value__": "x"});
        let refused = |pubs: Value, options: Value| counts(pubs, options).unwrap_err();
        assert!(refused(json!([]), json!({})).contains("non-empty"));
        assert!(refused(json!([[c, null, 0]]), json!({})).contains(">= 1"));
        assert!(refused(json!([[c, null, "5"]]), json!({})).contains(">= 1"));
        assert!(refused(json!([[c, null, null]]), json!({"default_shots": -1})).contains(">= 1"));
        assert!(refused(json!([[c, [1.0, 2.0], 5]]), json!({})).contains("ndarray"));
        assert!(
            refused(
                json!([[c, {"__type__": "ndarray", "__value__": "!!"}, 5]]),
                json!({})
            )
            .contains("base64")
        );
        assert!(refused(json!([[c, null, 1, 2]]), json!({})).contains("pubs[0]"));
        assert!(
            refused(
                json!([[c]]),
                json!({"twirling": {"num_randomizations": 0, "shots_per_randomization": 1}})
            )
            .contains("twirling")
        );
        let mut estimator = job(json!([[c]]), json!({}));
        estimator.insert("program_id".into(), json!("estimator"));
        assert!(
            sampler_shots(&mut estimator)
                .unwrap_err()
                .contains("SamplerV2")
        );
    }

    #[test]
    fn a_zlib_bomb_is_read_only_as_far_as_the_header() {
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        let h = b"{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), }\n";
        npy.extend_from_slice(&u16::try_from(h.len()).unwrap().to_le_bytes());
        npy.extend_from_slice(h);
        npy.resize(64 << 20, 0);
        let z = miniz_oxide::deflate::compress_to_vec_zlib(&npy, 6);
        let v = json!({"__type__": "ndarray", "__value__": STANDARD.encode(z)});
        assert_eq!(parameter_sets(Some(&v), 0), Ok(4));
    }

    #[test]
    fn the_transcripts_parameter_array_has_one_set() {
        let v = json!({"__type__": "ndarray", "__value__": "eJyb7BfqGxDJyFDGUK2eklqcXKRupaBuk2ahrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RoGOpo6CrUKFAAuAFOzG1s="});
        assert_eq!(parameter_sets(Some(&v), 0), Ok(1));
    }
}
