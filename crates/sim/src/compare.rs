//! How far apart two measured distributions are, for reproducibility audits: total variation
//! distance, Hellinger distance and fidelity (Qiskit's definitions), and a pass/fail rule that
//! knows how much two finite samples of the *same* distribution differ by chance.
//!
//! # Definitions
//!
//! Counts are turned into probabilities by dividing by their own total number of shots, so two
//! samples of different sizes compare directly; outcomes are bitstrings compared as strings, and
//! an outcome missing from one side has probability 0 there. Over the union of outcomes k:
//!
//! * **total variation distance** `TVD = ½ Σ_k |p_k − q_k|`, in `[0, 1]`;
//! * **Hellinger distance** `H = √(½ Σ_k (√p_k − √q_k)²)`, in `[0, 1]`; equivalently
//!   `H² = 1 − Σ_k √(p_k q_k)`;
//! * **Hellinger fidelity** `(1 − H²)² = (Σ_k √(p_k q_k))²`, in `[0, 1]`: exactly
//!   `qiskit.quantum_info.hellinger_fidelity` (computed the same way, from the sum of squares).
//!
//! Empty counts (no shots at all) are not an error for these three: two empty samples are
//! identical (`TVD = H = 0`, fidelity 1); an empty sample against a non-empty one is as far as
//! distributions get (`TVD = H = 1`, fidelity 0). Qiskit divides by zero there. Outcomes with a
//! count of 0 are ignored. The pass/fail rule, which needs shots, returns an error instead.
//!
//! # The pass/fail rule
//!
//! [`consistent`] asks whether counts `a` (`N_a` shots) and `b` (`N_b` shots) may be samples of
//! one distribution, up to an allowed systematic `drift` in TVD (e.g. calibration drift between
//! an archived run and its re-run; 0 for "same model, same snapshot"). With `s = 1/N_a + 1/N_b`:
//!
//! 1. **Expected shot noise.** If both are drawn from p, each `p̂_k − q̂_k` has mean 0 and
//!    variance `p_k (1 − p_k) s`, so by Jensen `E|p̂_k − q̂_k| ≤ √(p_k (1 − p_k) s)` and
//!    `E[TVD] ≤ μ = ½ √s Σ_k √(p_k (1 − p_k))`. p is unknown: the pooled estimate
//!    `p_k = (a_k + b_k) / (N_a + N_b)` is used.
//! 2. **Fluctuation above it.** TVD is a function of `N_a + N_b` independent shots, and changing
//!    one shot of `a` moves it by at most `1/N_a` (of `b`, `1/N_b`). McDiarmid's inequality gives
//!    `P(TVD ≥ E[TVD] + t) ≤ exp(−2t²/s)`, so with `t = √(s · ln(1/α) / 2)` the chance that two
//!    samples of the same distribution fail is at most α.
//!
//! `threshold = drift + μ + t`, and the comparison passes when `TVD ≤ threshold`. [`consistent`]
//! uses `α = 10⁻³` ([`DEFAULT_FALSE_FAILURE_RATE`]); [`consistent_at`] takes another α. For
//! example two 4,000-shot samples of a four-outcome distribution get a threshold of about 0.06
//! (plus drift), so a real difference of 0.1 in TVD fails. [`consistent_with`] applies the same
//! rule to one sample against exact probabilities (`s = 1/N`, p the exact distribution).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::run::Counts;

/// The false-failure rate [`consistent`] is built for: the largest chance that two samples of
/// the same distribution are declared inconsistent.
pub const DEFAULT_FALSE_FAILURE_RATE: f64 = 1e-3;

/// Why two samples could not be judged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// One side has no shots, so there is no distribution to compare.
    #[error("the {side} counts hold no shots; a distribution needs at least one")]
    NoShots {
        /// Which side: `first`, `second` or `reference`.
        side: &'static str,
    },
    /// The allowed drift is not a finite non-negative number.
    #[error("the allowed drift must be a finite TVD in [0, 1], not {0}")]
    Drift(f64),
    /// The false-failure rate is not in (0, 1).
    #[error("the false-failure rate must lie strictly between 0 and 1, not {0}")]
    Rate(f64),
    /// The reference probabilities are not a distribution.
    #[error("the reference probabilities {0}")]
    Reference(String),
}

/// The outcome of a shot-noise-aware comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Verdict {
    /// The observed total variation distance.
    pub tvd: f64,
    /// The largest TVD that still passes: `drift + shot_noise + fluctuation`.
    pub threshold: f64,
    /// Whether `tvd ≤ threshold`.
    pub pass: bool,
    /// The allowed systematic drift that was asked for.
    pub drift: f64,
    /// `μ`, the bound on the TVD expected from shot noise alone.
    pub shot_noise: f64,
    /// `t`, the allowance for the TVD fluctuating above its expectation.
    pub fluctuation: f64,
    /// The false-failure rate α the threshold was built for.
    pub false_failure_rate: f64,
}

/// Total variation distance `½ Σ |p − q|` between two samples, each normalised by its own shots
/// (see the [module docs](self) for empty counts).
pub fn tvd(a: &Counts, b: &Counts) -> f64 {
    match (Normalised::of(a), Normalised::of(b)) {
        (None, None) => 0.0,
        (None, Some(_)) | (Some(_), None) => 1.0,
        (Some(p), Some(q)) => tvd_of(&p.probs, &q.probs),
    }
}

/// Hellinger distance `√(½ Σ (√p − √q)²)` between two samples (Qiskit's `hellinger_distance`).
pub fn hellinger_distance(a: &Counts, b: &Counts) -> f64 {
    match (Normalised::of(a), Normalised::of(b)) {
        (None, None) => 0.0,
        (None, Some(_)) | (Some(_), None) => 1.0,
        (Some(p), Some(q)) => {
            let keys: BTreeSet<&str> = p.probs.keys().chain(q.probs.keys()).copied().collect();
            let total: f64 = keys
                .iter()
                .map(|k| {
                    let x = p.probs.get(k).copied().unwrap_or(0.0).sqrt();
                    let y = q.probs.get(k).copied().unwrap_or(0.0).sqrt();
                    (x - y) * (x - y)
                })
                .sum();
            (total / 2.0).sqrt().min(1.0)
        }
    }
}

/// Hellinger fidelity `(1 − H²)²`, which is `(Σ √(p q))²`: Qiskit's
/// `qiskit.quantum_info.hellinger_fidelity`.
pub fn hellinger_fidelity(a: &Counts, b: &Counts) -> f64 {
    let h = hellinger_distance(a, b);
    let one_minus = (1.0 - h * h).clamp(0.0, 1.0);
    one_minus * one_minus
}

/// Whether `a` and `b` may be samples of one distribution, allowing a systematic TVD of `drift`,
/// at the false-failure rate [`DEFAULT_FALSE_FAILURE_RATE`] (formula in the
/// [module docs](self)). Errors when either side has no shots or `drift` is not in `[0, 1]`.
pub fn consistent(a: &Counts, b: &Counts, drift: f64) -> Result<Verdict, CompareError> {
    consistent_at(a, b, drift, DEFAULT_FALSE_FAILURE_RATE)
}

/// [`consistent`] with false-failure rate `alpha` in (0, 1).
pub fn consistent_at(
    a: &Counts,
    b: &Counts,
    drift: f64,
    alpha: f64,
) -> Result<Verdict, CompareError> {
    check_drift_and_rate(drift, alpha)?;
    let p = Normalised::of(a).ok_or(CompareError::NoShots { side: "first" })?;
    let q = Normalised::of(b).ok_or(CompareError::NoShots { side: "second" })?;
    let total = p.shots + q.shots;
    let keys: BTreeSet<&str> = a
        .iter()
        .chain(b.iter())
        .filter(|(_, n)| **n > 0)
        .map(|(k, _)| k.as_str())
        .collect();
    let spread: f64 = keys
        .iter()
        .map(|k| {
            let pooled = (a.get(*k).copied().unwrap_or(0) as f64
                + b.get(*k).copied().unwrap_or(0) as f64)
                / total;
            (pooled * (1.0 - pooled)).max(0.0).sqrt()
        })
        .sum();
    let s = 1.0 / p.shots + 1.0 / q.shots;
    Ok(verdict(tvd_of(&p.probs, &q.probs), drift, alpha, s, spread))
}

/// Whether `counts` may be a sample of the exact distribution `expected` (outcome →
/// probability, summing to 1 within 1e-6), allowing a systematic TVD of `drift`: the rule of
/// [`consistent`] with `s = 1/N` and the exact p in place of the pooled estimate.
pub fn consistent_with(
    counts: &Counts,
    expected: &BTreeMap<String, f64>,
    drift: f64,
) -> Result<Verdict, CompareError> {
    let alpha = DEFAULT_FALSE_FAILURE_RATE;
    check_drift_and_rate(drift, alpha)?;
    let p = Normalised::of(counts).ok_or(CompareError::NoShots { side: "first" })?;
    let mut sum = 0.0;
    for (k, &v) in expected {
        if !(0.0..=1.0).contains(&v) {
            return Err(CompareError::Reference(format!(
                "give `{k}` probability {v}; each must lie in [0, 1]"
            )));
        }
        sum += v;
    }
    if (sum - 1.0).abs() > 1e-6 {
        return Err(CompareError::Reference(format!(
            "sum to {sum}; they must sum to 1"
        )));
    }
    let q: BTreeMap<&str, f64> = expected
        .iter()
        .filter(|(_, v)| **v > 0.0)
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    let spread: f64 = q.values().map(|v| (v * (1.0 - v)).max(0.0).sqrt()).sum();
    Ok(verdict(
        tvd_of(&p.probs, &q),
        drift,
        alpha,
        1.0 / p.shots,
        spread,
    ))
}

fn check_drift_and_rate(drift: f64, alpha: f64) -> Result<(), CompareError> {
    if !(0.0..=1.0).contains(&drift) {
        return Err(CompareError::Drift(drift));
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(CompareError::Rate(alpha));
    }
    Ok(())
}

fn verdict(tvd: f64, drift: f64, alpha: f64, s: f64, spread: f64) -> Verdict {
    let shot_noise = 0.5 * s.sqrt() * spread;
    let fluctuation = (s * (1.0 / alpha).ln() / 2.0).sqrt();
    let threshold = drift + shot_noise + fluctuation;
    Verdict {
        tvd,
        threshold,
        pass: tvd <= threshold,
        drift,
        shot_noise,
        fluctuation,
        false_failure_rate: alpha,
    }
}

/// Counts as probabilities.
struct Normalised<'a> {
    probs: BTreeMap<&'a str, f64>,
    shots: f64,
}

impl<'a> Normalised<'a> {
    /// `None` when there are no shots.
    fn of(counts: &'a Counts) -> Option<Self> {
        let total: u128 = counts.values().map(|&n| u128::from(n)).sum();
        if total == 0 {
            return None;
        }
        let shots = total as f64;
        let probs = counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, &n)| (k.as_str(), n as f64 / shots))
            .collect();
        Some(Normalised { probs, shots })
    }
}

fn tvd_of(p: &BTreeMap<&str, f64>, q: &BTreeMap<&str, f64>) -> f64 {
    let keys: BTreeSet<&str> = p.keys().chain(q.keys()).copied().collect();
    let sum: f64 = keys
        .iter()
        .map(|k| (p.get(k).copied().unwrap_or(0.0) - q.get(k).copied().unwrap_or(0.0)).abs())
        .sum();
    (0.5 * sum).min(1.0)
}
