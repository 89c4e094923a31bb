//! Counts from the result of an IonQ job (API v0.4): the body of `GET
//! /v0.4/jobs/{id}/results/probabilities`, the URL a completed job names in
//! `results.probabilities.url` (provider-traffic README, IonQ section).
//!
//! The body maps each outcome to its probability: `{"0": 0.509, "3": 0.491}`. A key is the
//! outcome as a decimal integer with qubit `i` in bit `i`; a value is an integer or a float.
//! [`ionq_counts`] turns it into counts over a number of shots, each outcome written as a
//! bitstring of the job's qubit count with qubit 0 rightmost (`3` of two qubits is `11`), which is
//! the order [`qwarden_sim`] writes its counts in, so the two compare directly.
//!
//! # Rounding
//!
//! Probabilities become counts by the largest-remainder method: each outcome gets the whole part
//! of `p / total × shots` (`total` being the sum of the probabilities, within
//! [`SUM_TOLERANCE`] of 1), and the shots left over go one each to the outcomes with the largest
//! fractional parts, ties to the smaller outcome. The counts therefore sum to `shots` exactly and
//! no count is more than one away from its exact share. qiskit-ionq rounds differently (each
//! count to `round(p × shots)` on a QPU, a seeded sample on the simulator), so its counts may
//! differ from these by a shot here and there. Outcomes that get no shot are left out.
//!
//! # Hostile input
//!
//! Nothing panics. Keys must be canonical decimal integers below `2^qubits`, each at most once;
//! values must be numbers in `[0, 1]`; the qubit count is at most [`MAX_QUBITS`] and the shots at
//! most [`MAX_SHOTS`] (so that every count is exact in floating point). The counts hold no more
//! outcomes than the body has entries.

use std::collections::BTreeSet;

use qwarden_sim::Counts;
use serde_json::Value;

use crate::ibm::results::{Json, echo};

/// The most qubits an outcome may have (outcomes are read as 128-bit integers).
pub const MAX_QUBITS: u32 = 128;

/// The most shots counted: 2^53, below which every integer is exact in `f64`.
pub const MAX_SHOTS: u64 = 1 << 53;

/// How far from 1 the probabilities may sum (IonQ rounds each one).
pub const SUM_TOLERANCE: f64 = 1e-3;

/// Why an IonQ result gave no counts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IonqResultsError {
    /// The body is not a JSON object.
    #[error(
        "the probabilities body is {found}: expected the JSON object of `GET /jobs/{{id}}/results/probabilities`, such as {{\"0\": 0.5, \"3\": 0.5}}"
    )]
    NotProbabilities {
        /// What it is instead.
        found: String,
    },
    /// The body has no outcome.
    #[error("the probabilities body has no outcome: a completed job has at least one")]
    Empty,
    /// An outcome key is not a canonical decimal integer, or appears twice.
    #[error("outcome key `{key}` {problem}")]
    Key {
        /// The key, echoed in part.
        key: String,
        /// What is wrong.
        problem: String,
    },
    /// An outcome does not fit the job's qubits.
    #[error(
        "outcome `{key}` does not fit in {qubits} qubits: the probabilities belong to a job with more qubits, or the qubit count is wrong"
    )]
    OutcomeTooLarge {
        /// The key, echoed in part.
        key: String,
        /// The qubit count given.
        qubits: u32,
    },
    /// A probability is not a number in `[0, 1]`.
    #[error("the probability of outcome `{key}` is {found}, expected a number between 0 and 1")]
    Probability {
        /// The key, echoed in part.
        key: String,
        /// What it is.
        found: String,
    },
    /// The probabilities do not sum to 1.
    #[error(
        "the probabilities sum to {sum}, not 1 (within {SUM_TOLERANCE}): the body is not a distribution"
    )]
    Sum {
        /// Their sum.
        sum: f64,
    },
    /// The qubit count is 0 or above [`MAX_QUBITS`].
    #[error("{qubits} qubits: expected between 1 and {MAX_QUBITS}")]
    Qubits {
        /// The qubit count given.
        qubits: u64,
    },
    /// The shots are 0 or above [`MAX_SHOTS`].
    #[error("{shots} shots: expected between 1 and {MAX_SHOTS}")]
    Shots {
        /// The shots given.
        shots: u64,
    },
    /// The job names no usable qubit count.
    #[error("{problem}")]
    JobQubits {
        /// What is wrong with the job.
        problem: String,
    },
}

/// The counts of an IonQ probabilities body over `shots` shots, as bitstrings of `qubits`
/// characters (qubit 0 rightmost). See the module documentation for the rounding.
pub fn ionq_counts(result: &[u8], qubits: u32, shots: u64) -> Result<Counts, IonqResultsError> {
    if qubits == 0 || qubits > MAX_QUBITS {
        return Err(IonqResultsError::Qubits {
            qubits: u64::from(qubits),
        });
    }
    if shots == 0 || shots > MAX_SHOTS {
        return Err(IonqResultsError::Shots { shots });
    }
    let entries = match serde_json::from_slice::<Json>(result) {
        Ok(Json::Object(entries)) => entries,
        Ok(other) => {
            return Err(IonqResultsError::NotProbabilities {
                found: other.kind().to_owned(),
            });
        }
        Err(e) => {
            return Err(IonqResultsError::NotProbabilities {
                found: format!("not JSON ({e})"),
            });
        }
    };
    if entries.is_empty() {
        return Err(IonqResultsError::Empty);
    }
    let mut seen = BTreeSet::new();
    let mut outcomes = Vec::with_capacity(entries.len());
    let mut sum = 0.0f64;
    for (key, value) in &entries {
        let state = outcome(key, qubits)?;
        if !seen.insert(state) {
            return Err(IonqResultsError::Key {
                key: echo(key),
                problem: "appears twice: the body is ambiguous".to_owned(),
            });
        }
        let p = match value {
            Json::Number(n) => n
                .as_f64()
                .filter(|p| (0.0..=1.0 + SUM_TOLERANCE).contains(p)),
            _ => None,
        }
        .ok_or_else(|| IonqResultsError::Probability {
            key: echo(key),
            found: match value {
                Json::Number(n) => format!("`{}`", echo(&n.to_string())),
                other => other.kind().to_owned(),
            },
        })?;
        sum += p;
        outcomes.push((state, p));
    }
    if !((1.0 - SUM_TOLERANCE)..=(1.0 + SUM_TOLERANCE)).contains(&sum) {
        return Err(IonqResultsError::Sum { sum });
    }
    let shares = largest_remainder(&outcomes, sum, shots);
    let width = usize::try_from(qubits).unwrap_or(128);
    Ok(shares
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(state, n)| (format!("{state:0width$b}"), n))
        .collect())
}

/// The qubit count of an IonQ job: `input.qubits` of the body as submitted, or `stats.qubits` of
/// the job as `GET /jobs/{id}` answers it when completed. If both are present they must agree.
pub fn job_qubits(job: &Value) -> Result<u32, IonqResultsError> {
    let read = |v: Option<&Value>, name: &str| -> Result<Option<u32>, IonqResultsError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(q) if (1..=u64::from(MAX_QUBITS)).contains(&q) => Ok(u32::try_from(q).ok()),
                Some(q) => Err(IonqResultsError::Qubits { qubits: q }),
                None => Err(IonqResultsError::JobQubits {
                    problem: format!("the job's `{name}` is not an integer"),
                }),
            },
        }
    };
    let submitted = read(
        job.get("input").and_then(|i| i.get("qubits")),
        "input.qubits",
    )?;
    let reported = read(
        job.get("stats").and_then(|s| s.get("qubits")),
        "stats.qubits",
    )?;
    match (submitted, reported) {
        (Some(a), Some(b)) if a != b => Err(IonqResultsError::JobQubits {
            problem: format!(
                "the job's `input.qubits` is {a} but its `stats.qubits` is {b}: which one the outcomes are written over is unclear"
            ),
        }),
        (Some(q), _) | (None, Some(q)) => Ok(q),
        (None, None) => Err(IonqResultsError::JobQubits {
            problem: "the job names no qubit count: expected `input.qubits` (the job as submitted) or `stats.qubits` (the job as IonQ reports it once completed)".to_owned(),
        }),
    }
}

/// A canonical decimal outcome below `2^qubits`.
fn outcome(key: &str, qubits: u32) -> Result<u128, IonqResultsError> {
    let canonical = !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_digit())
        && (key == "0" || !key.starts_with('0'));
    if !canonical {
        return Err(IonqResultsError::Key {
            key: echo(key),
            problem: "is not a decimal outcome (digits only, no sign or leading zero)".to_owned(),
        });
    }
    let too_large = || IonqResultsError::OutcomeTooLarge {
        key: echo(key),
        qubits,
    };
    let state: u128 = key.parse().map_err(|_| too_large())?;
    if qubits < 128 && state >> qubits != 0 {
        return Err(too_large());
    }
    Ok(state)
}

/// `n` as an `f64`, exactly for `n <= 2^53`.
fn exact_f64(n: u64) -> f64 {
    let high = u32::try_from(n >> 32).unwrap_or(u32::MAX);
    let low = u32::try_from(n & 0xffff_ffff).unwrap_or(u32::MAX);
    f64::from(high) * 4_294_967_296.0 + f64::from(low)
}

/// The integer part of a finite `x` in `[0, 2^64)`, read from its bits so that no cast
/// truncates; 0 below 1 (and for NaN), `u64::MAX` from 2^64 on.
fn floor_u64(x: f64) -> u64 {
    if !x.is_finite() || x < 1.0 {
        return 0;
    }
    let bits = x.to_bits();
    // x = mantissa · 2^exponent, the mantissa with its implicit leading bit (53 bits).
    let exponent = i64::try_from((bits >> 52) & 0x7ff).unwrap_or(0) - 1075;
    let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    match u32::try_from(exponent.unsigned_abs()) {
        Ok(e) if exponent >= 0 && e <= 11 => mantissa << e,
        Ok(e) if exponent < 0 => mantissa.checked_shr(e).unwrap_or(0),
        _ => u64::MAX,
    }
}

/// Splits `shots` over `outcomes` by the largest-remainder method.
fn largest_remainder(outcomes: &[(u128, f64)], total: f64, shots: u64) -> Vec<(u128, u64)> {
    let s = exact_f64(shots);
    let mut shares: Vec<(u128, u64, f64)> = outcomes
        .iter()
        .map(|(state, p)| {
            let quota = p / total * s;
            let whole = floor_u64(quota).min(shots);
            (*state, whole, quota - exact_f64(whole))
        })
        .collect();
    let assigned = shares
        .iter()
        .fold(0u64, |a, (_, n, _)| a.saturating_add(*n));
    if assigned < shots {
        // Largest fractional part first, ties to the smaller outcome; outcomes of probability 0
        // never get a shot.
        let mut order: Vec<usize> = (0..shares.len())
            .filter(|i| outcomes.get(*i).is_some_and(|(_, p)| *p > 0.0))
            .collect();
        order.sort_by(|a, b| {
            let (sa, _, fa) = shares.get(*a).copied().unwrap_or((0, 0, 0.0));
            let (sb, _, fb) = shares.get(*b).copied().unwrap_or((0, 0, 0.0));
            fb.total_cmp(&fa).then(sa.cmp(&sb))
        });
        let left = shots - assigned;
        let len = u64::try_from(order.len()).unwrap_or(u64::MAX);
        // Rounding error can leave more shots than outcomes only by a few; spread evenly.
        if let (Some(each), Some(left)) = (left.checked_div(len), left.checked_rem(len)) {
            for (k, i) in order.iter().enumerate() {
                if let Some(share) = shares.get_mut(*i) {
                    let extra = u64::from(u64::try_from(k).is_ok_and(|k| k < left));
                    share.1 = share.1.saturating_add(each).saturating_add(extra);
                }
            }
        }
    } else if assigned > shots {
        // Only floating-point error gets here: take the excess from the smallest fractional
        // parts, ties from the larger outcome.
        let mut order: Vec<usize> = (0..shares.len()).collect();
        order.sort_by(|a, b| {
            let (sa, _, fa) = shares.get(*a).copied().unwrap_or((0, 0, 0.0));
            let (sb, _, fb) = shares.get(*b).copied().unwrap_or((0, 0, 0.0));
            fa.total_cmp(&fb).then(sb.cmp(&sa))
        });
        let mut excess = assigned - shots;
        while excess > 0 {
            let mut took = false;
            for i in &order {
                if excess == 0 {
                    break;
                }
                if let Some(share) = shares.get_mut(*i)
                    && share.1 > 0
                {
                    share.1 -= 1;
                    excess -= 1;
                    took = true;
                }
            }
            if !took {
                break;
            }
        }
    }
    shares.into_iter().map(|(state, n, _)| (state, n)).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use serde_json::json;

    use super::*;

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

    fn counts(pairs: &[(&str, u64)]) -> Counts {
        pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    }

    #[test]
    fn the_transcripts_probabilities_become_counts() {
        let exchanges = transcript("ionq-bell.jsonl");
        let mut seen = 0;
        for (i, x) in exchanges.iter().enumerate() {
            if !x["request"]["path"]
                .as_str()
                .unwrap()
                .ends_with("/results/probabilities")
            {
                continue;
            }
            // The job as `GET /jobs/{id}` answered it just before, and as it was submitted.
            let job = &exchanges[i - 1]["response"]["body"];
            let id = job["id"].as_str().unwrap();
            let submitted = exchanges
                .iter()
                .find(|e| e["request"]["method"] == "POST" && e["response"]["body"]["id"] == id)
                .map(|e| &e["request"]["body"])
                .unwrap();
            let qubits = job_qubits(job).unwrap();
            assert_eq!(job_qubits(submitted), Ok(qubits));
            let shots = submitted["shots"].as_u64().unwrap();
            let body = serde_json::to_vec(&x["response"]["body"]).unwrap();
            let got = ionq_counts(&body, qubits, shots).unwrap();
            let want = match job["backend"].as_str().unwrap() {
                // {"0": 0.5, "3": 0.5}
                "simulator" => counts(&[("00", 500), ("11", 500)]),
                // {"0": 0.509, "3": 0.491}
                _ => counts(&[("00", 509), ("11", 491)]),
            };
            assert_eq!(got, want);
            seen += 1;
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn largest_remainders_get_the_leftover_shots() {
        let third = 1.0 / 3.0;
        let body = serde_json::to_vec(&json!({"2": third, "0": third, "1": third})).unwrap();
        // 33⅓ each: the one shot left goes to the smallest outcome.
        assert_eq!(
            ionq_counts(&body, 2, 100).unwrap(),
            counts(&[("00", 34), ("01", 33), ("10", 33)])
        );
        assert_eq!(
            ionq_counts(br#"{"1": 0.125, "2": 0.875}"#, 2, 7).unwrap(),
            counts(&[("01", 1), ("10", 6)])
        );
        assert_eq!(
            ionq_counts(br#"{"0": 0.5, "1": 0.5}"#, 1, 3).unwrap(),
            counts(&[("0", 2), ("1", 1)])
        );
        // Integers are probabilities too; zero-probability and zero-count outcomes are left out.
        assert_eq!(
            ionq_counts(br#"{"0": 0, "5": 1}"#, 3, 10).unwrap(),
            counts(&[("101", 10)])
        );
        assert_eq!(
            ionq_counts(br#"{"0": 0.999, "1": 0.001}"#, 1, 10).unwrap(),
            counts(&[("0", 10)])
        );
        // Rounded probabilities that sum to slightly less than 1 are normalised.
        assert_eq!(
            ionq_counts(br#"{"0": 0.4999, "1": 0.4999}"#, 1, 10).unwrap(),
            counts(&[("0", 5), ("1", 5)])
        );
        // The widest outcome and the most shots.
        let top = format!("{{\"{}\": 1}}", u128::MAX);
        let got = ionq_counts(top.as_bytes(), 128, MAX_SHOTS).unwrap();
        assert_eq!(got, counts(&[(&"1".repeat(128), MAX_SHOTS)]));
        let got = ionq_counts(br#"{"0": 0.5, "1": 0.5}"#, 1, MAX_SHOTS).unwrap();
        assert_eq!(got, counts(&[("0", MAX_SHOTS / 2), ("1", MAX_SHOTS / 2)]));
    }

    #[test]
    fn counts_sum_to_the_shots_and_stay_within_one_of_the_exact_share() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..300 {
            let n = 1 + next() % 40;
            let weights: Vec<f64> = (0..n)
                .map(|_| f64::from(u32::try_from(next() % 1000).unwrap()))
                .collect();
            let total: f64 = weights.iter().sum::<f64>().max(1.0);
            let mut body = serde_json::Map::new();
            for (k, w) in weights.iter().enumerate() {
                body.insert(k.to_string(), json!(w / total));
            }
            if weights.iter().all(|w| *w == 0.0) {
                continue;
            }
            let shots = 1 + next() % 100_000;
            let bytes = serde_json::to_vec(&body).unwrap();
            let got = ionq_counts(&bytes, 6, shots).unwrap();
            assert_eq!(got.values().sum::<u64>(), shots, "round {round}");
            for (k, w) in weights.iter().enumerate() {
                let exact = w / total * exact_f64(shots);
                let c = got.get(&format!("{k:06b}")).copied().unwrap_or(0);
                assert!(
                    (exact_f64(c) - exact).abs() < 1.0 + 1e-6,
                    "round {round}: {c} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn floats_are_floored_exactly_without_casts() {
        assert_eq!(floor_u64(0.0), 0);
        assert_eq!(floor_u64(0.999), 0);
        assert_eq!(floor_u64(1.0), 1);
        assert_eq!(floor_u64(2.5), 2);
        assert_eq!(floor_u64(1234.999), 1234);
        assert_eq!(floor_u64(4_503_599_627_370_495.5), 4_503_599_627_370_495);
        assert_eq!(floor_u64(9_007_199_254_740_992.0), 1 << 53);
        assert_eq!(floor_u64(1e19), 10_000_000_000_000_000_000);
        assert_eq!(
            floor_u64(18_446_744_073_709_549_568.0),
            18_446_744_073_709_549_568
        );
        assert_eq!(floor_u64(18_446_744_073_709_551_616.0), u64::MAX);
        assert_eq!(floor_u64(-3.0), 0);
        assert_eq!(floor_u64(f64::NAN), 0);
        assert_eq!(floor_u64(f64::INFINITY), 0);
        for n in [0u64, 1, 2, 1000, (1 << 32) + 7, MAX_SHOTS] {
            assert_eq!(floor_u64(exact_f64(n)), n);
        }
    }

    fn refused(body: &[u8], qubits: u32, shots: u64) -> IonqResultsError {
        let e = ionq_counts(body, qubits, shots).unwrap_err();
        let text = e.to_string();
        assert!(!text.is_empty() && text.chars().count() < 500, "{text}");
        assert!(!text.chars().any(char::is_control), "{text:?}");
        e
    }

    #[test]
    fn malformed_probabilities_are_refused() {
        assert!(matches!(
            refused(b"not json", 2, 10),
            IonqResultsError::NotProbabilities { .. }
        ));
        assert!(matches!(
            refused(b"[0.5, 0.5]", 2, 10),
            IonqResultsError::NotProbabilities { .. }
        ));
        assert_eq!(refused(b"{}", 2, 10), IonqResultsError::Empty);
        for key in ["03", "-1", "1.0", " 1", "", "0x3", "abc"] {
            let body = serde_json::to_vec(&json!({key: 1})).unwrap();
            assert!(
                matches!(refused(&body, 2, 10), IonqResultsError::Key { .. }),
                "{key:?}"
            );
        }
        assert!(
            refused(br#"{"1": 0.5, "1": 0.5}"#, 2, 10)
                .to_string()
                .contains("twice")
        );
        assert!(matches!(
            refused(br#"{"4": 1}"#, 2, 10),
            IonqResultsError::OutcomeTooLarge { .. }
        ));
        let beyond = format!("{{\"{}0\": 1}}", u128::MAX);
        assert!(matches!(
            refused(beyond.as_bytes(), 128, 10),
            IonqResultsError::OutcomeTooLarge { .. }
        ));
        for value in ["-0.5", "1.5", "\"0.5\"", "null", "[1]"] {
            let body = format!("{{\"0\": {value}}}");
            assert!(
                matches!(
                    refused(body.as_bytes(), 2, 10),
                    IonqResultsError::Probability { .. }
                ),
                "{value}"
            );
        }
        assert!(matches!(
            refused(br#"{"0": 0.5, "1": 0.4}"#, 2, 10),
            IonqResultsError::Sum { .. }
        ));
        assert!(matches!(
            refused(br#"{"0": 0}"#, 2, 10),
            IonqResultsError::Sum { .. }
        ));
        assert!(matches!(
            refused(br#"{"0": 1}"#, 0, 10),
            IonqResultsError::Qubits { qubits: 0 }
        ));
        assert!(matches!(
            refused(br#"{"0": 1}"#, 129, 10),
            IonqResultsError::Qubits { qubits: 129 }
        ));
        assert!(matches!(
            refused(br#"{"0": 1}"#, 2, 0),
            IonqResultsError::Shots { shots: 0 }
        ));
        assert!(matches!(
            refused(br#"{"0": 1}"#, 2, MAX_SHOTS + 1),
            IonqResultsError::Shots { .. }
        ));
        // A long key is echoed only in part.
        let long = format!("{{\"{}\": 1}}", "9".repeat(5000));
        assert!(refused(long.as_bytes(), 2, 10).to_string().len() < 300);
    }

    #[test]
    fn the_qubit_count_comes_from_the_job() {
        assert_eq!(job_qubits(&json!({"input": {"qubits": 5}})), Ok(5));
        assert_eq!(job_qubits(&json!({"stats": {"qubits": 3}})), Ok(3));
        assert_eq!(
            job_qubits(&json!({"input": {"qubits": 3}, "stats": {"qubits": 3}})),
            Ok(3)
        );
        let e = job_qubits(&json!({"input": {"qubits": 3}, "stats": {"qubits": 2}})).unwrap_err();
        assert!(e.to_string().contains("`stats.qubits` is 2"), "{e}");
        assert!(
            job_qubits(&json!({"id": "x"}))
                .unwrap_err()
                .to_string()
                .contains("no qubit count")
        );
        assert!(
            job_qubits(&json!({"input": {"qubits": "2"}}))
                .unwrap_err()
                .to_string()
                .contains("not an integer")
        );
        assert_eq!(
            job_qubits(&json!({"input": {"qubits": 0}})),
            Err(IonqResultsError::Qubits { qubits: 0 })
        );
        assert_eq!(
            job_qubits(&json!({"stats": {"qubits": 500}})),
            Err(IonqResultsError::Qubits { qubits: 500 })
        );
        assert!(job_qubits(&json!([1])).is_err());
    }
}
