//! Comparison helpers: definitions (against Qiskit's numbers), edge cases, and the false-failure
//! and detection rates of the shot-noise-aware pass/fail rule.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;

use qwarden_sim::Counts;
use qwarden_sim::compare::{
    CompareError, consistent, consistent_at, consistent_with, hellinger_distance,
    hellinger_fidelity, tvd,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

fn counts(pairs: &[(&str, u64)]) -> Counts {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// `shots` draws from the distribution `probs` (outcome, probability), with a seeded ChaCha8.
fn sample(probs: &[(&str, f64)], shots: u64, seed: u64) -> Counts {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Counts::new();
    for _ in 0..shots {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut acc = 0.0;
        let mut chosen = probs.last().unwrap().0;
        for (k, p) in probs {
            acc += p;
            if u < acc {
                chosen = k;
                break;
            }
        }
        *out.entry(chosen.to_owned()).or_insert(0) += 1;
    }
    out
}

#[test]
fn tvd_is_half_the_l1_distance_over_the_union_of_outcomes() {
    let a = counts(&[("00", 50), ("11", 50)]);
    let b = counts(&[("00", 25), ("01", 25), ("11", 50)]);
    assert!((tvd(&a, &b) - 0.25).abs() < 1e-15);
    assert_eq!(tvd(&a, &b), tvd(&b, &a));
    assert_eq!(tvd(&a, &a), 0.0);
    let disjoint = counts(&[("01", 3), ("10", 9)]);
    assert!((tvd(&a, &disjoint) - 1.0).abs() < 1e-15);
}

#[test]
fn each_side_is_normalised_by_its_own_shots() {
    let small = counts(&[("0", 1), ("1", 1)]);
    let large = counts(&[("0", 500), ("1", 500)]);
    assert_eq!(tvd(&small, &large), 0.0);
    assert_eq!(hellinger_distance(&small, &large), 0.0);
    assert!((hellinger_fidelity(&small, &large) - 1.0).abs() < 1e-15);
    // Zero counts are outcomes that did not occur.
    let with_zero = counts(&[("0", 500), ("1", 500), ("2", 0)]);
    assert_eq!(tvd(&with_zero, &large), 0.0);
}

#[test]
fn hellinger_matches_qiskit_quantum_info() {
    // Values printed by qiskit 2.6.2: hellinger_distance(a, b), hellinger_fidelity(a, b).
    let cases = [
        (
            counts(&[("00", 480), ("11", 520)]),
            counts(&[("00", 300), ("01", 100), ("10", 50), ("11", 550)]),
            0.292808815603214,
            0.8358768286069063,
        ),
        (
            counts(&[("0", 1), ("1", 3)]),
            counts(&[("0", 70), ("1", 20), ("2", 10)]),
            0.44087600537137484,
            0.649037034920393,
        ),
        (
            counts(&[("000", 10), ("111", 7), ("010", 3)]),
            counts(&[("000", 1000)]),
            0.5411961001461969,
            0.5000000000000002,
        ),
    ];
    for (a, b, distance, fidelity) in cases {
        assert!((hellinger_distance(&a, &b) - distance).abs() < 1e-14);
        assert!((hellinger_fidelity(&a, &b) - fidelity).abs() < 1e-14);
        // (Σ √(p q))² is the same number.
        let na: f64 = a.values().sum::<u64>() as f64;
        let nb: f64 = b.values().sum::<u64>() as f64;
        let bc: f64 = a
            .iter()
            .map(|(k, &x)| ((x as f64 / na) * (*b.get(k).unwrap_or(&0) as f64 / nb)).sqrt())
            .sum();
        assert!((bc * bc - fidelity).abs() < 1e-14);
    }
}

#[test]
fn empty_counts_have_defined_distances_and_no_verdict() {
    let empty = Counts::new();
    let zero_shots = counts(&[("0", 0)]);
    let some = counts(&[("0", 3)]);
    assert_eq!(tvd(&empty, &empty), 0.0);
    assert_eq!(tvd(&empty, &zero_shots), 0.0);
    assert_eq!(tvd(&empty, &some), 1.0);
    assert_eq!(tvd(&some, &zero_shots), 1.0);
    assert_eq!(hellinger_distance(&empty, &empty), 0.0);
    assert_eq!(hellinger_fidelity(&empty, &empty), 1.0);
    assert_eq!(hellinger_distance(&empty, &some), 1.0);
    assert_eq!(hellinger_fidelity(&some, &empty), 0.0);
    assert_eq!(
        consistent(&empty, &some, 0.0),
        Err(CompareError::NoShots { side: "first" })
    );
    assert_eq!(
        consistent(&some, &zero_shots, 0.0),
        Err(CompareError::NoShots { side: "second" })
    );
    let msg = consistent(&some, &empty, 0.0).unwrap_err().to_string();
    assert!(msg.contains("no shots"), "{msg}");
}

#[test]
fn invalid_drift_or_rate_is_an_error_not_nan() {
    let a = counts(&[("0", 3), ("1", 4)]);
    assert!(matches!(
        consistent(&a, &a, f64::NAN),
        Err(CompareError::Drift(_))
    ));
    assert!(matches!(
        consistent(&a, &a, -0.1),
        Err(CompareError::Drift(_))
    ));
    assert!(matches!(
        consistent(&a, &a, f64::INFINITY),
        Err(CompareError::Drift(_))
    ));
    assert!(matches!(
        consistent_at(&a, &a, 0.0, 0.0),
        Err(CompareError::Rate(_))
    ));
    assert!(matches!(
        consistent_at(&a, &a, 0.0, f64::NAN),
        Err(CompareError::Rate(_))
    ));
}

#[test]
fn huge_counts_do_not_overflow() {
    let a = counts(&[("0", u64::MAX), ("1", u64::MAX)]);
    let b = counts(&[("0", 1), ("1", 1)]);
    assert_eq!(tvd(&a, &b), 0.0);
    let v = consistent(&a, &b, 0.0).unwrap();
    assert!(v.pass && v.threshold.is_finite());
}

const BELL_LIKE: [(&str, f64); 4] = [("00", 0.46), ("01", 0.03), ("10", 0.04), ("11", 0.47)];

#[test]
fn samples_of_the_same_distribution_pass() {
    let mut passed = 0;
    let mut worst: f64 = 0.0;
    for trial in 0..100u64 {
        let a = sample(&BELL_LIKE, 4000, 2 * trial + 1);
        let b = sample(&BELL_LIKE, 4000, 2 * trial + 2);
        let v = consistent(&a, &b, 0.0).unwrap();
        worst = worst.max(v.tvd / v.threshold);
        if v.pass {
            passed += 1;
        }
    }
    assert!(
        passed >= 99,
        "only {passed} of 100 passed (worst tvd/threshold {worst})"
    );

    // Unequal sample sizes and many outcomes.
    let uniform: Vec<(String, f64)> = (0..16).map(|i| (format!("{i:04b}"), 1.0 / 16.0)).collect();
    let uniform: Vec<(&str, f64)> = uniform.iter().map(|(k, p)| (k.as_str(), *p)).collect();
    let mut passed = 0;
    for trial in 0..100u64 {
        let a = sample(&uniform, 1000, 1000 + trial);
        let b = sample(&uniform, 7000, 5000 + trial);
        if consistent(&a, &b, 0.0).unwrap().pass {
            passed += 1;
        }
    }
    assert!(passed >= 99, "only {passed} of 100 passed with 16 outcomes");
}

#[test]
fn distributions_a_tenth_apart_fail_at_4000_shots() {
    // TVD(BELL_LIKE, SHIFTED) = 0.1 exactly.
    let shifted = [("00", 0.36), ("01", 0.08), ("10", 0.09), ("11", 0.47)];
    let exact_tvd: f64 = 0.5
        * BELL_LIKE
            .iter()
            .zip(shifted.iter())
            .map(|((_, p), (_, q))| (p - q).abs())
            .sum::<f64>();
    assert!((exact_tvd - 0.1).abs() < 1e-12);
    for trial in 0..50u64 {
        let a = sample(&BELL_LIKE, 4000, 10_000 + trial);
        let b = sample(&shifted, 4000, 20_000 + trial);
        let v = consistent(&a, &b, 0.0).unwrap();
        assert!(!v.pass, "trial {trial}: {v:?}");
        // An allowed drift of 0.1 covers the difference.
        assert!(consistent(&a, &b, 0.1).unwrap().pass);
    }
}

#[test]
fn threshold_follows_the_documented_formula() {
    let a = counts(&[("0", 300), ("1", 700)]);
    let b = counts(&[("0", 1000), ("1", 1000)]);
    let v = consistent(&a, &b, 0.02).unwrap();
    let s: f64 = 1.0 / 1000.0 + 1.0 / 2000.0;
    let pooled0: f64 = 1300.0 / 3000.0;
    let spread = 2.0 * (pooled0 * (1.0 - pooled0)).sqrt();
    let mu = 0.5 * s.sqrt() * spread;
    let t = (s * 1000f64.ln() / 2.0).sqrt();
    assert!((v.shot_noise - mu).abs() < 1e-15);
    assert!((v.fluctuation - t).abs() < 1e-15);
    assert!((v.threshold - (0.02 + mu + t)).abs() < 1e-15);
    assert!((v.tvd - 0.2).abs() < 1e-15);
    assert!(!v.pass);
}

#[test]
fn a_sample_against_exact_probabilities() {
    let exact: BTreeMap<String, f64> = BELL_LIKE
        .iter()
        .map(|(k, p)| ((*k).to_owned(), *p))
        .collect();
    let mut passed = 0;
    for trial in 0..100u64 {
        let c = sample(&BELL_LIKE, 4000, 777 + trial);
        if consistent_with(&c, &exact, 0.0).unwrap().pass {
            passed += 1;
        }
    }
    assert!(passed >= 99);
    let shifted = [("00", 0.36), ("01", 0.08), ("10", 0.09), ("11", 0.47)];
    let c = sample(&shifted, 4000, 3);
    assert!(!consistent_with(&c, &exact, 0.0).unwrap().pass);
    let bad: BTreeMap<String, f64> = [("0".to_owned(), 0.7)].into_iter().collect();
    assert!(matches!(
        consistent_with(&c, &bad, 0.0),
        Err(CompareError::Reference(_))
    ));
}
