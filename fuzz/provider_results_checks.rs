//! What the qwarden-gateway fuzz target `provider_results` checks, beyond "does not panic".
//! Shared with the workspace test `crates/gateway/tests/fuzz_corpus.rs`, which replays the
//! committed corpus (`corpus/provider_results/`) with these same checks on stable Rust.
//!
//! An input is one header line, then a body. The header chooses the reader:
//! - `sampler`: the body is an IBM SamplerV2 results body for `ibm::results::sampler_counts`;
//! - `ionq <qubits> <shots>`: the body is an IonQ probabilities body for
//!   `ionq_results::ionq_counts`;
//! - `circuit`: the body is an IonQ job or its `input`, read as JSON, for `qwarden_sim::ionq`.
//!
//! Other headers are skipped.

#![allow(dead_code, reason = "the replay test uses some of these items")]

use qwarden_gateway::ibm::results::{PubCounts, sampler_counts};
use qwarden_gateway::ionq_results::ionq_counts;
use qwarden_sim::ionq::{self, Limits};
use qwarden_sim::ir::{Circuit, Instruction};
use qwarden_sim::{Counts, run};

/// The longest message a refusal may have.
pub const MAX_MESSAGE: usize = 1000;

/// Limits below the defaults, so that each circuit simulates fast.
pub fn circuit_limits() -> Limits {
    Limits {
        max_qubits: 12,
        max_instructions: 10_000,
    }
}

/// What an input stands for: the reader its header names, and the body.
pub enum Input<'a> {
    /// `sampler`.
    Sampler(&'a [u8]),
    /// `ionq <qubits> <shots>`.
    Ionq(&'a [u8], u32, u64),
    /// `circuit`.
    Circuit(&'a [u8]),
}

/// Splits an input into its reader and body; `None` for an unknown header.
pub fn input(data: &[u8]) -> Option<Input<'_>> {
    let end = data.iter().position(|b| *b == b'\n')?;
    let head = std::str::from_utf8(data.get(..end)?).ok()?;
    let body = data.get(end + 1..)?;
    let words: Vec<&str> = head.split(' ').collect();
    match words.as_slice() {
        ["sampler"] => Some(Input::Sampler(body)),
        ["circuit"] => Some(Input::Circuit(body)),
        ["ionq", qubits, shots] => {
            Some(Input::Ionq(body, qubits.parse().ok()?, shots.parse().ok()?))
        }
        _ => None,
    }
}

/// Whether the reader accepted the input (`Ok`), or its refusal; `None` when the input names no
/// reader or its circuit body is not JSON.
pub fn outcome(data: &[u8]) -> Option<Result<(), String>> {
    Some(match input(data)? {
        Input::Sampler(body) => sampler_counts(body).map(|_| ()).map_err(|e| e.to_string()),
        Input::Ionq(body, qubits, shots) => ionq_counts(body, qubits, shots)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Input::Circuit(body) => {
            let job: serde_json::Value = serde_json::from_slice(body).ok()?;
            ionq::parse_with(&job, &circuit_limits())
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
}

/// The fuzz target.
pub fn provider_results(data: &[u8]) {
    match input(data) {
        Some(Input::Sampler(body)) => sampler(body),
        Some(Input::Ionq(body, qubits, shots)) => ionq_probabilities(body, qubits, shots),
        Some(Input::Circuit(body)) => circuit(body),
        None => {}
    }
}

/// A refusal is a short message without raw control characters.
pub fn check_message(message: &str) {
    assert!(!message.is_empty(), "empty refusal");
    assert!(
        message.chars().count() < MAX_MESSAGE,
        "a refusal of {} characters",
        message.chars().count()
    );
    assert!(
        !message.chars().any(char::is_control),
        "a refusal with control characters: {message:?}"
    );
}

fn sum(counts: &Counts) -> u64 {
    counts.values().sum()
}

fn is_bits(key: &str, width: u64) -> bool {
    let shown = if width == 0 { 1 } else { width };
    key.len() as u64 == shown && key.bytes().all(|b| b == b'0' || b == b'1')
}

/// Every register's counts sum to the PUB's shots and are the marginals of the joined counts,
/// whose bitstrings hold the registers from the last (left) to the first (right).
pub fn check_pub(p: &PubCounts) {
    let total = p
        .shape
        .iter()
        .try_fold(p.shots, |acc, d| acc.checked_mul(*d))
        .expect("the shots overflow");
    assert_eq!(
        p.layout.len(),
        p.registers.len(),
        "layout and registers disagree"
    );
    if p.layout.is_empty() {
        assert!(p.joined.is_empty());
        return;
    }
    let width: u64 = p.layout.iter().map(|r| r.num_bits).sum();
    assert_eq!(
        sum(&p.joined),
        total,
        "joined counts do not sum to the shots"
    );
    for key in p.joined.keys() {
        assert!(is_bits(key, width), "joined key {key:?} of {width} bits");
    }
    let mut offset = 0u64;
    for r in &p.layout {
        let counts = &p.registers[&r.name];
        assert_eq!(
            sum(counts),
            total,
            "register {} does not sum to the shots",
            r.name
        );
        for key in counts.keys() {
            assert!(
                is_bits(key, r.num_bits),
                "key {key:?} of register {}",
                r.name
            );
        }
        if r.num_bits > 0 {
            let mut marginal = Counts::new();
            let (w, o, n) = (width as usize, offset as usize, r.num_bits as usize);
            for (key, c) in &p.joined {
                *marginal
                    .entry(key[w - o - n..w - o].to_owned())
                    .or_default() += c;
            }
            assert_eq!(&marginal, counts, "register {} is not a marginal", r.name);
        }
        offset += r.num_bits;
    }
}

/// `sampler_counts`: consistent counts per PUB, the same on a second read, or a refusal.
pub fn sampler(body: &[u8]) {
    match sampler_counts(body) {
        Ok(pubs) => {
            for p in &pubs {
                check_pub(p);
            }
            assert_eq!(
                sampler_counts(body).as_ref(),
                Ok(&pubs),
                "not deterministic"
            );
        }
        Err(e) => check_message(&e.to_string()),
    }
}

/// `ionq_counts`: counts that sum to the shots over bitstrings of `qubits` characters, or a
/// refusal.
pub fn ionq_probabilities(body: &[u8], qubits: u32, shots: u64) {
    match ionq_counts(body, qubits, shots) {
        Ok(counts) => {
            assert_eq!(sum(&counts), shots, "counts do not sum to the shots");
            for (key, c) in &counts {
                assert!(is_bits(key, u64::from(qubits)), "key {key:?}");
                assert!(*c > 0, "an outcome without shots");
            }
        }
        Err(e) => check_message(&e.to_string()),
    }
}

/// `ionq::parse_with`: a well-formed circuit ending with one measurement per qubit whose state
/// keeps its norm, the same on a second parse, or a refusal.
pub fn circuit(body: &[u8]) {
    let Ok(job) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let limits = circuit_limits();
    match ionq::parse_with(&job, &limits) {
        Ok(c) => {
            check_circuit(&c, &limits);
            assert_eq!(
                ionq::parse_with(&job, &limits).as_ref(),
                Ok(&c),
                "not deterministic"
            );
        }
        Err(e) => check_message(&e.to_string()),
    }
}

/// See [`circuit`].
pub fn check_circuit(c: &Circuit, limits: &Limits) {
    let n = c.num_qubits;
    assert!(n >= 1 && n <= limits.max_qubits);
    assert_eq!(c.num_clbits, n);
    assert!(c.instructions.len() <= limits.max_instructions);
    let (gates, measures) = c.instructions.split_at(c.instructions.len() - n);
    for (q, m) in measures.iter().enumerate() {
        assert_eq!(m, &Instruction::Measure { qubit: q, clbit: q });
    }
    for inst in gates {
        let Instruction::Gate { gate, qubits } = inst else {
            panic!("{inst:?} before the final measurements");
        };
        assert_eq!(qubits.len(), gate.num_qubits(), "{gate:?} on {qubits:?}");
        let mut sorted = qubits.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), qubits.len(), "{gate:?} repeats a qubit");
        assert!(qubits.iter().all(|q| *q < n));
        assert!(
            gate.matrix()
                .iter()
                .all(|z| z.re.is_finite() && z.im.is_finite())
        );
    }
    let unitary = Circuit {
        instructions: gates.to_vec(),
        ..c.clone()
    };
    let state = run::statevector_with(
        &unitary,
        &run::RunOptions {
            threads: 1,
            ..run::RunOptions::default()
        },
    )
    .expect("a parsed circuit simulates");
    let norm: f64 = state.iter().map(|z| z.norm_sqr()).sum();
    assert!((norm - 1.0).abs() < 1e-6, "norm {norm}");
}
