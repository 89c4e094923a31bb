//! Engine correctness, sampling statistics, determinism and limits, on circuits built directly
//! from the IR.
//!
//! Statistical checks use fixed seeds, so they are deterministic; the bounds are still chosen so
//! that a correct engine would pass them for almost any seed:
//! * chi-square: merging outcomes with expected count < 5 into one bin, the statistic must stay
//!   below `df + 6·√(2·df)` (six standard deviations of a chi-square with `df` degrees of
//!   freedom);
//! * single probabilities: `|p̂ − p| ≤ 5·√(p(1−p)/shots) + 1/shots` (five binomial standard
//!   deviations).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::f64::consts::PI;

use num_complex::Complex64 as C;
use qwarden_sim::ir::{C64, Circuit, Condition, Gate, Instruction};
use qwarden_sim::noise::{Channel, NoiseModel};
use qwarden_sim::run::{
    Counts, Method, RunOptions, SimError, probabilities, run, statevector, statevector_with,
};

// ---------------------------------------------------------------- helpers

fn g(gate: Gate, qubits: &[usize]) -> Instruction {
    Instruction::Gate {
        gate,
        qubits: qubits.to_vec(),
    }
}

fn m(qubit: usize, clbit: usize) -> Instruction {
    Instruction::Measure { qubit, clbit }
}

fn cond(clbits: &[usize], value: u64, ins: Instruction) -> Instruction {
    Instruction::Conditional {
        condition: Condition {
            clbits: clbits.to_vec(),
            value,
        },
        instruction: Box::new(ins),
    }
}

fn circuit(n: usize, c: usize, ins: Vec<Instruction>) -> Circuit {
    Circuit {
        num_qubits: n,
        num_clbits: c,
        cregs: vec![],
        instructions: ins,
    }
}

fn measure_all(mut ins: Vec<Instruction>, n: usize) -> Vec<Instruction> {
    ins.extend((0..n).map(|q| m(q, q)));
    ins
}

fn opts(shots: u64, seed: u64, threads: usize, method: Method) -> RunOptions {
    RunOptions {
        shots,
        seed,
        threads,
        method,
        noise: None,
        memory_limit: 2 << 30,
    }
}

fn bits(i: usize, n: usize) -> String {
    (0..n)
        .rev()
        .map(|q| if (i >> q) & 1 == 1 { '1' } else { '0' })
        .collect()
}

/// Chi-square of `counts` against `probs` (indexed by basis state, `n` bits), with sparse bins
/// merged; panics past `df + 6·√(2·df)`.
fn assert_chi_square(counts: &Counts, probs: &[f64], n: usize, shots: u64) {
    let total: u64 = counts.values().sum();
    assert_eq!(total, shots);
    for (k, _) in counts.iter() {
        let i = usize::from_str_radix(k, 2).unwrap();
        assert!(probs[i] > 1e-12, "sampled {k} of probability {}", probs[i]);
    }
    let (mut chi, mut df) = (0.0, 0usize);
    let (mut small_e, mut small_o) = (0.0, 0.0);
    for (i, &p) in probs.iter().enumerate() {
        let e = p * shots as f64;
        let o = counts.get(&bits(i, n)).copied().unwrap_or(0) as f64;
        if e >= 5.0 {
            chi += (o - e).powi(2) / e;
            df += 1;
        } else {
            small_e += e;
            small_o += o;
        }
    }
    if small_e >= 5.0 {
        chi += (small_o - small_e).powi(2) / small_e;
        df += 1;
    }
    let df = df.saturating_sub(1).max(1) as f64;
    let bound = df + 6.0 * (2.0 * df).sqrt();
    assert!(
        chi <= bound,
        "chi-square {chi:.1} above {bound:.1} (df {df})"
    );
}

fn assert_prob(observed: u64, shots: u64, p: f64, what: &str) {
    let ph = observed as f64 / shots as f64;
    let tol = 5.0 * (p * (1.0 - p) / shots as f64).sqrt() + 1.0 / shots as f64;
    assert!(
        (ph - p).abs() <= tol,
        "{what}: observed {ph:.4}, expected {p:.4} ± {tol:.4}"
    );
}

/// A tiny deterministic generator for random circuits.
struct Xs(u64);
impl Xs {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn angle(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 * PI - 2.0 * PI
    }
}

/// A random gate from the whole library on distinct random qubits.
fn random_gate(r: &mut Xs, n: usize) -> Instruction {
    let a = r.angle();
    let (b, c, d) = (r.angle(), r.angle(), r.angle());
    let gates = [
        Gate::I,
        Gate::X,
        Gate::Y,
        Gate::Z,
        Gate::H,
        Gate::S,
        Gate::Sdg,
        Gate::T,
        Gate::Tdg,
        Gate::SX,
        Gate::SXdg,
        Gate::RX(a),
        Gate::RY(a),
        Gate::RZ(a),
        Gate::P(a),
        Gate::U(a, b, c),
        Gate::CX,
        Gate::CY,
        Gate::CZ,
        Gate::CH,
        Gate::CP(a),
        Gate::CRX(a),
        Gate::CRY(a),
        Gate::CRZ(a),
        Gate::CU(a, b, c, d),
        Gate::Swap,
        Gate::ISwap,
        Gate::ECR,
        Gate::RXX(a),
        Gate::RYY(a),
        Gate::RZZ(a),
        Gate::CCX,
        Gate::CSwap,
    ];
    let gate = gates[r.below(gates.len())];
    let k = gate.num_qubits().min(n);
    let gate = if k < gate.num_qubits() { Gate::H } else { gate };
    let mut qs: Vec<usize> = Vec::new();
    while qs.len() < gate.num_qubits() {
        let q = r.below(n);
        if !qs.contains(&q) {
            qs.push(q);
        }
    }
    g(gate, &qs)
}

fn random_circuit(n: usize, gates: usize, seed: u64) -> Vec<Instruction> {
    let mut r = Xs(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..gates).map(|_| random_gate(&mut r, n)).collect()
}

/// Reference statevector by dense index arithmetic straight from the IR matrices.
fn reference_state(c: &Circuit) -> Vec<C64> {
    let n = c.num_qubits;
    let mut s = vec![C::new(0.0, 0.0); 1 << n];
    s[0] = C::new(1.0, 0.0);
    for ins in &c.instructions {
        let Instruction::Gate { gate, qubits } = ins else {
            continue;
        };
        let mat = gate.matrix();
        let dim = 1 << qubits.len();
        let mut out = vec![C::new(0.0, 0.0); 1 << n];
        for (i, o) in out.iter_mut().enumerate() {
            let row: usize = qubits
                .iter()
                .enumerate()
                .map(|(l, &q)| ((i >> q) & 1) << l)
                .sum();
            let base = qubits.iter().fold(i, |acc, &q| acc & !(1 << q));
            for col in 0..dim {
                let j = base
                    | qubits
                        .iter()
                        .enumerate()
                        .map(|(l, &q)| ((col >> l) & 1) << q)
                        .sum::<usize>();
                *o += mat[row * dim + col] * s[j];
            }
        }
        s = out;
    }
    s
}

fn norm(s: &[C64]) -> f64 {
    s.iter().map(|a| a.norm_sqr()).sum()
}

// ---------------------------------------------------------------- noise channels

fn cz(re: f64) -> C64 {
    C::new(re, 0.0)
}

/// Depolarizing on one qubit: `(1−p)ρ + p·I/2`, as four Pauli Kraus operators.
fn depolarizing(p: f64) -> Vec<Vec<C64>> {
    let i = C::new(0.0, 1.0);
    let o = cz(0.0);
    let l = cz(1.0);
    let paulis = [
        vec![l, o, o, l],
        vec![o, l, l, o],
        vec![o, -i, i, o],
        vec![l, o, o, -l],
    ];
    paulis
        .iter()
        .enumerate()
        .map(|(k, pm)| {
            let w: f64 = if k == 0 { 1.0 - 3.0 * p / 4.0 } else { p / 4.0 };
            pm.iter().map(|x| x * w.sqrt()).collect()
        })
        .collect()
}

fn amplitude_damping(gamma: f64) -> Vec<Vec<C64>> {
    vec![
        vec![cz(1.0), cz(0.0), cz(0.0), cz((1.0 - gamma).sqrt())],
        vec![cz(0.0), cz(gamma.sqrt()), cz(0.0), cz(0.0)],
    ]
}

fn mul(a: &[C64], b: &[C64], d: usize) -> Vec<C64> {
    let mut out = vec![cz(0.0); d * d];
    for r in 0..d {
        for c in 0..d {
            for k in 0..d {
                out[r * d + c] += a[r * d + k] * b[k * d + c];
            }
        }
    }
    out
}

fn kron(hi: &[C64], lo: &[C64]) -> Vec<C64> {
    let mut out = vec![cz(0.0); 16];
    for r in 0..4 {
        for c in 0..4 {
            out[r * 4 + c] = hi[(r / 2) * 2 + c / 2] * lo[(r % 2) * 2 + c % 2];
        }
    }
    out
}

/// Depolarizing then amplitude damping on one qubit.
fn noise_1q(p: f64, gamma: f64) -> Channel {
    let mut kraus = Vec::new();
    for d in depolarizing(p) {
        for a in amplitude_damping(gamma) {
            kraus.push(mul(&a, &d, 2));
        }
    }
    Channel {
        num_qubits: 1,
        kraus,
    }
}

/// The one-qubit noise on each qubit of a two-qubit gate.
fn noise_2q(p: f64, gamma: f64) -> Channel {
    let one = noise_1q(p, gamma);
    let mut kraus = Vec::new();
    for a in &one.kraus {
        for b in &one.kraus {
            kraus.push(kron(a, b));
        }
    }
    Channel {
        num_qubits: 2,
        kraus,
    }
}

fn noisy_model(readout: bool) -> NoiseModel {
    let mut nm = NoiseModel {
        source: "test: depolarizing + amplitude damping".into(),
        ..Default::default()
    };
    nm.default_1q = Some(noise_1q(0.02, 0.03));
    nm.default_2q = Some(noise_2q(0.04, 0.05));
    nm.measure.insert(
        0,
        Channel {
            num_qubits: 1,
            kraus: amplitude_damping(0.1),
        },
    );
    if readout {
        nm.default_readout = Some([[0.97, 0.03], [0.06, 0.94]]);
    }
    nm
}

// ---------------------------------------------------------------- known states

#[test]
fn bell_state_has_only_00_and_11() {
    let ins = vec![g(Gate::H, &[0]), g(Gate::CX, &[0, 1])];
    let s = statevector(&circuit(2, 0, ins.clone())).unwrap();
    let r = std::f64::consts::FRAC_1_SQRT_2;
    for (i, want) in [r, 0.0, 0.0, r].iter().enumerate() {
        assert!((s[i] - C::new(*want, 0.0)).norm() < 1e-12, "{i}: {}", s[i]);
    }
    let shots = 4000;
    let res = run(
        &circuit(2, 2, measure_all(ins, 2)),
        &opts(shots, 7, 2, Method::Statevector),
    )
    .unwrap();
    assert_eq!(res.method, Method::Statevector);
    assert!(
        res.counts.keys().all(|k| k == "00" || k == "11"),
        "{:?}",
        res.counts
    );
    assert_chi_square(&res.counts, &[0.5, 0.0, 0.0, 0.5], 2, shots);
}

#[test]
fn ghz_states_from_3_to_10_qubits() {
    for n in 3..=10 {
        let mut ins = vec![g(Gate::H, &[0])];
        ins.extend((0..n - 1).map(|q| g(Gate::CX, &[q, q + 1])));
        let s = statevector(&circuit(n, 0, ins.clone())).unwrap();
        let r = std::f64::consts::FRAC_1_SQRT_2;
        let last = (1 << n) - 1;
        for (i, a) in s.iter().enumerate() {
            let want = if i == 0 || i == last { r } else { 0.0 };
            assert!((a - C::new(want, 0.0)).norm() < 1e-12, "n={n} i={i}: {a}");
        }
        let shots = 2000;
        let res = run(
            &circuit(n, n, measure_all(ins, n)),
            &opts(shots, n as u64, 2, Method::Auto),
        )
        .unwrap();
        let zeros = "0".repeat(n);
        let ones = "1".repeat(n);
        assert!(
            res.counts.keys().all(|k| *k == zeros || *k == ones),
            "{:?}",
            res.counts
        );
        let mut p = vec![0.0; 1 << n];
        p[0] = 0.5;
        p[last] = 0.5;
        assert_chi_square(&res.counts, &p, n, shots);
    }
}

/// Qiskit's QFT with swaps: `QFT|x⟩ = 2^{-n/2} Σ_k e^{2πi·xk/2^n} |k⟩`.
fn qft(n: usize) -> Vec<Instruction> {
    let mut ins = Vec::new();
    for j in (0..n).rev() {
        ins.push(g(Gate::H, &[j]));
        for k in (0..j).rev() {
            ins.push(g(Gate::CP(PI / f64::powi(2.0, (j - k) as i32)), &[j, k]));
        }
    }
    for i in 0..n / 2 {
        ins.push(g(Gate::Swap, &[i, n - i - 1]));
    }
    ins
}

#[test]
fn qft_of_basis_states_has_the_right_phases() {
    for n in [1usize, 3, 5, 8, 15] {
        let dim = 1usize << n;
        for x in [0usize, 1, 5 % dim, dim - 1, (dim / 3) | 1] {
            let mut ins: Vec<Instruction> = (0..n)
                .filter(|q| (x >> q) & 1 == 1)
                .map(|q| g(Gate::X, &[q]))
                .collect();
            ins.extend(qft(n));
            let s = statevector(&circuit(n, 0, ins)).unwrap();
            let amp = 1.0 / (dim as f64).sqrt();
            for (k, a) in s.iter().enumerate() {
                let phase = 2.0 * PI * ((x * k) % dim) as f64 / dim as f64;
                let want = C::from_polar(amp, phase);
                assert!(
                    (a - want).norm() < 1e-10,
                    "n={n} x={x} k={k}: {a} vs {want}"
                );
            }
        }
    }
}

#[test]
fn qft_after_h_layer_is_basis_state_zero_and_probabilities_agree() {
    // H on every qubit makes the uniform superposition, which the QFT maps to |0…0⟩.
    for n in [4usize, 16] {
        let mut ins: Vec<Instruction> = (0..n).map(|q| g(Gate::H, &[q])).collect();
        ins.extend(qft(n));
        let c = circuit(n, n, measure_all(ins, n));
        let p = probabilities(&c, &opts(0, 0, 2, Method::Statevector)).unwrap();
        assert!((p[0] - 1.0).abs() < 1e-10, "{}", p[0]);
        let res = run(&c, &opts(500, 3, 2, Method::Statevector)).unwrap();
        assert_eq!(res.counts.get(&"0".repeat(n)), Some(&500));
    }
}

/// Teleports `U(θ, φ, λ)|0⟩` from qubit 0 to qubit 2 with mid-circuit measurements and
/// conditionals; `undo` applies the inverse preparation on qubit 2 before measuring it.
fn teleport(t: f64, p: f64, l: f64, undo: bool) -> Circuit {
    let mut ins = vec![
        g(Gate::U(t, p, l), &[0]),
        g(Gate::H, &[1]),
        g(Gate::CX, &[1, 2]),
        g(Gate::CX, &[0, 1]),
        g(Gate::H, &[0]),
        m(0, 0),
        m(1, 1),
        cond(&[1], 1, g(Gate::X, &[2])),
        cond(&[0], 1, g(Gate::Z, &[2])),
    ];
    if undo {
        ins.push(g(Gate::U(-t, -l, -p), &[2]));
    }
    ins.push(m(2, 2));
    circuit(3, 3, ins)
}

#[test]
fn teleportation_reproduces_the_input_state() {
    let shots = 4000u64;
    for (k, &(t, p, l)) in [
        (0.0, 0.0, 0.0),
        (PI, 0.0, 0.0),
        (PI / 2.0, 0.3, 0.0),
        (1.1, -0.4, 2.0),
        (2.5, 1.0, -1.0),
    ]
    .iter()
    .enumerate()
    {
        // Undoing the preparation on the receiving qubit always gives 0.
        let res = run(
            &teleport(t, p, l, true),
            &opts(shots, 11 + k as u64, 2, Method::Statevector),
        )
        .unwrap();
        let ones: u64 = res
            .counts
            .iter()
            .filter(|(s, _)| s.starts_with('1'))
            .map(|(_, c)| c)
            .sum();
        assert_eq!(ones, 0, "θ={t}: {:?}", res.counts);
        // The four corrections all occur, each about a quarter of the time.
        for c in ["00", "01", "10", "11"] {
            let n: u64 = res
                .counts
                .iter()
                .filter(|(s, _)| s.ends_with(c))
                .map(|(_, v)| v)
                .sum();
            assert_prob(n, shots, 0.25, "correction frequency");
        }
        // Measured directly, the receiving qubit is 1 with probability sin²(θ/2).
        let res = run(
            &teleport(t, p, l, false),
            &opts(shots, 99 + k as u64, 2, Method::Auto),
        )
        .unwrap();
        let ones: u64 = res
            .counts
            .iter()
            .filter(|(s, _)| s.starts_with('1'))
            .map(|(_, c)| c)
            .sum();
        assert_prob(
            ones,
            shots,
            (t / 2.0).sin().powi(2),
            "teleported |1⟩ probability",
        );
    }
}

#[test]
fn teleportation_density_matrix_matches_statevector_statistics() {
    let shots = 4000u64;
    let res = run(
        &teleport(1.1, -0.4, 2.0, true),
        &opts(shots, 5, 2, Method::DensityMatrix),
    )
    .unwrap();
    assert_eq!(res.method, Method::DensityMatrix);
    let ones: u64 = res
        .counts
        .iter()
        .filter(|(s, _)| s.starts_with('1'))
        .map(|(_, c)| c)
        .sum();
    assert_eq!(ones, 0, "{:?}", res.counts);
}

#[test]
fn reset_returns_a_qubit_to_zero() {
    // Entangle, reset qubit 0 (mid-circuit, so it collapses qubit 1), then measure both.
    let ins = vec![
        g(Gate::H, &[0]),
        g(Gate::CX, &[0, 1]),
        Instruction::Reset { qubit: 0 },
        m(0, 0),
        m(1, 1),
    ];
    let shots = 4000;
    for method in [Method::Statevector, Method::DensityMatrix] {
        let res = run(&circuit(2, 2, ins.clone()), &opts(shots, 3, 2, method)).unwrap();
        assert!(
            res.counts.keys().all(|k| k.ends_with('0')),
            "{method:?}: {:?}",
            res.counts
        );
        assert_chi_square(&res.counts, &[0.5, 0.0, 0.5, 0.0], 2, shots);
    }
    // Reset of an untouched superposition, and reset after a measurement.
    let ins = vec![g(Gate::H, &[0]), Instruction::Reset { qubit: 0 }, m(0, 0)];
    let res = run(&circuit(1, 1, ins), &opts(100, 1, 1, Method::Statevector)).unwrap();
    assert_eq!(res.counts.get("0"), Some(&100));
    let ins = vec![
        g(Gate::X, &[0]),
        g(Gate::CX, &[0, 1]),
        m(0, 0),
        Instruction::Reset { qubit: 0 },
        m(0, 1),
    ];
    let res = run(&circuit(2, 2, ins), &opts(100, 1, 1, Method::Statevector)).unwrap();
    assert_eq!(res.counts.get("01"), Some(&100), "{:?}", res.counts);
}

#[test]
fn conditions_on_multi_bit_registers() {
    // c = 0b10 after the measurements; only the condition c == 2 fires.
    let ins = vec![
        g(Gate::X, &[1]),
        m(0, 0),
        m(1, 1),
        cond(&[0, 1], 2, g(Gate::X, &[2])),
        cond(&[0, 1], 1, g(Gate::X, &[3])),
        cond(&[0, 1], 6, g(Gate::X, &[3])),
        m(2, 2),
        m(3, 3),
    ];
    let res = run(&circuit(4, 4, ins), &opts(50, 1, 2, Method::Statevector)).unwrap();
    assert_eq!(res.counts.get("0110"), Some(&50), "{:?}", res.counts);
}

// ---------------------------------------------------------------- numerics

#[test]
fn long_random_circuits_stay_normalised_and_match_a_dense_reference() {
    for (n, gates, seed) in [
        (6usize, 3000usize, 1u64),
        (10, 1500, 2),
        (16, 100, 3),
        (17, 60, 4),
    ] {
        let c = circuit(n, 0, random_circuit(n, gates, seed));
        let s = statevector(&c).unwrap();
        let nm = norm(&s);
        assert!((nm - 1.0).abs() < 1e-12, "n={n}: norm {nm}");
        let want = reference_state(&c);
        let dev = s
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).norm())
            .fold(0.0, f64::max);
        assert!(dev < 1e-10, "n={n}: max deviation {dev:e}");
    }
}

#[test]
fn thread_count_does_not_change_the_statevector() {
    let c = circuit(16, 0, random_circuit(16, 200, 9));
    let one = statevector_with(&c, &opts(0, 0, 1, Method::Statevector)).unwrap();
    for t in [2, 8] {
        let other = statevector_with(&c, &opts(0, 0, t, Method::Statevector)).unwrap();
        assert!(one == other, "{t} threads differ bit-for-bit");
    }
}

#[test]
fn statevector_and_density_matrix_agree_without_noise() {
    for (n, seed) in [(3usize, 1u64), (5, 2), (6, 3), (8, 4)] {
        let c = circuit(n, n, measure_all(random_circuit(n, 200, seed), n));
        let sv = probabilities(&c, &opts(0, 0, 2, Method::Statevector)).unwrap();
        let dm = probabilities(&c, &opts(0, 0, 2, Method::DensityMatrix)).unwrap();
        let dev = sv
            .iter()
            .zip(&dm)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(dev < 1e-10, "n={n}: {dev:e}");
        let total: f64 = dm.iter().sum();
        assert!((total - 1.0).abs() < 1e-12, "trace {total}");
    }
}

// ---------------------------------------------------------------- noise

#[test]
fn density_matrix_and_trajectories_agree_under_noise() {
    // GHZ-like circuit with mixed gates; every gate is followed by depolarizing + amplitude
    // damping, qubit 0 decays before measurement, and readout flips bits.
    let n = 4;
    let mut ins = vec![g(Gate::H, &[0]), g(Gate::RY(0.7), &[3])];
    ins.extend((0..n - 1).map(|q| g(Gate::CX, &[q, q + 1])));
    ins.push(g(Gate::SX, &[2]));
    ins.push(g(Gate::CP(0.9), &[1, 2]));
    let c = circuit(n, n, measure_all(ins, n));
    let shots = 20_000u64;
    // Exact: density matrix probabilities, readout applied analytically.
    let mut o = opts(shots, 1, 2, Method::DensityMatrix);
    o.noise = Some(noisy_model(true));
    let exact = probabilities(&c, &o).unwrap();
    let ro = [[0.97, 0.03], [0.06, 0.94]];
    let mut with_readout = vec![0.0; 1 << n];
    for (i, p) in exact.iter().enumerate() {
        for (j, w) in with_readout.iter_mut().enumerate() {
            let mut f = *p;
            for q in 0..n {
                f *= ro[(i >> q) & 1][(j >> q) & 1];
            }
            *w += f;
        }
    }
    let dm = run(&c, &o).unwrap();
    assert_eq!(dm.method, Method::DensityMatrix);
    assert_chi_square(&dm.counts, &with_readout, n, shots);
    o.method = Method::Trajectories;
    let tr = run(&c, &o).unwrap();
    assert_eq!(tr.method, Method::Trajectories);
    assert_chi_square(&tr.counts, &with_readout, n, shots);
    // The noise is visible: GHZ outcomes lose weight.
    let ideal = with_readout[0] + with_readout[(1 << n) - 1];
    assert!(ideal < 0.95, "{ideal}");
}

#[test]
fn noisy_mid_circuit_teleportation_agrees_between_engines() {
    let c = teleport(1.1, -0.4, 2.0, false);
    let shots = 20_000u64;
    let mut o = opts(shots, 8, 2, Method::DensityMatrix);
    o.noise = Some(noisy_model(false));
    let dm = run(&c, &o).unwrap();
    o.method = Method::Trajectories;
    let tr = run(&c, &o).unwrap();
    // Compare the two sampled distributions bin by bin: the difference of two binomial
    // frequencies has variance p(1−p)·2/shots.
    let keys: std::collections::BTreeSet<&String> =
        dm.counts.keys().chain(tr.counts.keys()).collect();
    for k in keys {
        let a = dm.counts.get(k).copied().unwrap_or(0) as f64 / shots as f64;
        let b = tr.counts.get(k).copied().unwrap_or(0) as f64 / shots as f64;
        let p = (a + b) / 2.0;
        let tol = 5.0 * (2.0 * p * (1.0 - p) / shots as f64).sqrt() + 2.0 / shots as f64;
        assert!((a - b).abs() <= tol, "{k}: {a} vs {b} (±{tol})");
    }
}

#[test]
fn auto_picks_the_engine() {
    let ins = measure_all(vec![g(Gate::H, &[0]), g(Gate::CX, &[0, 1])], 2);
    let c = circuit(2, 2, ins);
    let mut o = opts(10, 1, 1, Method::Auto);
    assert_eq!(run(&c, &o).unwrap().method, Method::Statevector);
    o.noise = Some(NoiseModel::default());
    assert_eq!(
        run(&c, &o).unwrap().method,
        Method::Statevector,
        "a noiseless model is no noise"
    );
    o.noise = Some(noisy_model(true));
    assert_eq!(run(&c, &o).unwrap().method, Method::DensityMatrix);
    let big = circuit(13, 1, vec![g(Gate::H, &[12]), m(12, 0)]);
    assert_eq!(run(&big, &o).unwrap().method, Method::Trajectories);
}

// ---------------------------------------------------------------- determinism

fn per_shot_circuit() -> Circuit {
    // 15 qubits (parallel kernels), a mid-circuit measurement feeding a condition, a reset.
    let n = 15;
    let mut ins: Vec<Instruction> = (0..n).map(|q| g(Gate::H, &[q])).collect();
    ins.extend(random_circuit(n, 60, 21));
    ins.push(m(3, 0));
    ins.push(cond(&[0], 1, g(Gate::X, &[7])));
    ins.push(Instruction::Reset { qubit: 5 });
    ins.extend(random_circuit(n, 20, 22));
    ins.extend((0..6).map(|q| m(q + 6, q + 1)));
    circuit(n, 7, ins)
}

fn counts_for(
    c: &Circuit,
    method: Method,
    noise: Option<NoiseModel>,
    seed: u64,
    threads: usize,
    shots: u64,
) -> Counts {
    let mut o = opts(shots, seed, threads, method);
    o.noise = noise;
    run(c, &o).unwrap().counts
}

#[test]
fn same_seed_same_counts_on_any_thread_count() {
    let sampling = circuit(16, 16, measure_all(random_circuit(16, 120, 5), 16));
    let per_shot = per_shot_circuit();
    let mut noisy = vec![g(Gate::H, &[0])];
    noisy.extend((0..6).map(|q| g(Gate::CX, &[2 * q, 2 * q + 1])));
    noisy.push(m(4, 4));
    noisy.push(cond(&[4], 1, g(Gate::X, &[0])));
    let noisy = circuit(15, 15, measure_all(noisy, 15));
    let tele = teleport(1.0, 0.2, 0.3, false);
    let cases: Vec<(&str, &Circuit, Method, Option<NoiseModel>, u64)> = vec![
        (
            "statevector sampling",
            &sampling,
            Method::Statevector,
            None,
            3000,
        ),
        (
            "per-shot circuit",
            &per_shot,
            Method::Statevector,
            None,
            300,
        ),
        (
            "trajectories",
            &noisy,
            Method::Trajectories,
            Some(noisy_model(true)),
            40,
        ),
        (
            "small trajectories",
            &tele,
            Method::Trajectories,
            Some(noisy_model(true)),
            2000,
        ),
        (
            "density matrix",
            &tele,
            Method::DensityMatrix,
            Some(noisy_model(true)),
            2000,
        ),
    ];
    for (what, c, method, noise, shots) in cases {
        let one = counts_for(c, method, noise.clone(), 42, 1, shots);
        assert_eq!(one.values().sum::<u64>(), shots, "{what}");
        for t in [2, 8] {
            let other = counts_for(c, method, noise.clone(), 42, t, shots);
            assert_eq!(one, other, "{what}: 1 thread vs {t}");
        }
        let again = counts_for(c, method, noise.clone(), 42, 2, shots);
        assert_eq!(one, again, "{what}: rerun");
        let different = counts_for(c, method, noise, 43, 2, shots);
        assert_ne!(
            one, different,
            "{what}: seeds 42 and 43 gave the same counts"
        );
    }
}

#[test]
fn sampled_counts_match_exact_probabilities() {
    for (n, seed) in [(5usize, 31u64), (9, 32), (15, 33)] {
        let c = circuit(n, n, measure_all(random_circuit(n, 80, seed), n));
        let p = probabilities(&c, &opts(0, 0, 2, Method::Statevector)).unwrap();
        let shots = 20_000;
        let res = run(&c, &opts(shots, seed, 2, Method::Statevector)).unwrap();
        assert_chi_square(&res.counts, &p, n, shots);
    }
}

#[test]
fn measurement_mapping_and_unmeasured_bits() {
    // Qubit 0 → clbit 2, qubit 1 (|1⟩) → clbit 0; clbit 1 is never written.
    let ins = vec![g(Gate::X, &[1]), m(0, 2), m(1, 0)];
    let res = run(&circuit(2, 3, ins), &opts(10, 0, 1, Method::Statevector)).unwrap();
    let want: BTreeMap<String, u64> = [("001".to_string(), 10)].into();
    assert_eq!(res.counts, want);
    // No classical bits: every shot is the empty string.
    let res = run(
        &circuit(1, 0, vec![g(Gate::H, &[0])]),
        &opts(10, 0, 1, Method::Auto),
    )
    .unwrap();
    assert_eq!(res.counts.get(""), Some(&10));
}

// ---------------------------------------------------------------- refusals

#[test]
fn forty_qubits_are_refused_before_allocating() {
    let c = circuit(40, 1, vec![g(Gate::H, &[39]), m(39, 0)]);
    let e = run(&c, &opts(10, 0, 2, Method::Statevector)).unwrap_err();
    let SimError::TooLarge {
        qubits,
        needed,
        limit,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(*qubits, 40);
    assert!(*needed >= 16u128 << 40);
    assert_eq!(*limit, 2 << 30);
    let msg = e.to_string();
    assert!(
        msg.contains("40 qubits") && msg.contains("memory limit") && msg.contains("memory_limit"),
        "{msg}"
    );
    let e = statevector(&c).unwrap_err();
    assert!(matches!(e, SimError::TooLarge { .. }), "{e:?}");
    // A density matrix of 14 qubits needs 4 GiB: refused under 1 GiB, pointing to trajectories.
    let c = circuit(14, 1, vec![g(Gate::H, &[0]), m(0, 0)]);
    let mut o = opts(10, 0, 2, Method::DensityMatrix);
    o.memory_limit = 1 << 30;
    let msg = run(&c, &o).unwrap_err().to_string();
    assert!(
        msg.contains("density-matrix") && msg.contains("Trajectories"),
        "{msg}"
    );
    // Absurd sizes do not overflow.
    let c = circuit(200, 0, vec![]);
    assert!(matches!(
        run(&c, &opts(1, 0, 1, Method::DensityMatrix)),
        Err(SimError::TooLarge { .. })
    ));
}

#[test]
fn statevector_refuses_a_noisy_model() {
    let c = circuit(1, 1, vec![g(Gate::X, &[0]), m(0, 0)]);
    let mut o = opts(10, 0, 1, Method::Statevector);
    o.noise = Some(noisy_model(false));
    let e = run(&c, &o).unwrap_err();
    assert!(matches!(e, SimError::NoiseNeedsMixedState { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("DensityMatrix") && msg.contains("Trajectories"),
        "{msg}"
    );
}

#[test]
fn invalid_circuits_and_noise_are_refused() {
    let o = opts(1, 0, 1, Method::Auto);
    let cases = vec![
        (
            circuit(2, 0, vec![g(Gate::H, &[2])]),
            "qubit 2 is out of range",
        ),
        (
            circuit(2, 1, vec![m(0, 1)]),
            "classical bit 1 is out of range",
        ),
        (circuit(2, 0, vec![g(Gate::CX, &[0])]), "takes 2 qubits"),
        (circuit(2, 0, vec![g(Gate::CX, &[1, 1])]), "more than once"),
        (
            circuit(2, 0, vec![g(Gate::RZ(f64::NAN), &[1])]),
            "not a finite number",
        ),
        (
            circuit(2, 1, vec![cond(&[3], 1, g(Gate::X, &[0]))]),
            "classical bit 3",
        ),
    ];
    for (c, want) in cases {
        let msg = run(&c, &o).unwrap_err().to_string();
        assert!(msg.contains(want), "{msg}");
    }
    let e = statevector(&circuit(1, 1, vec![m(0, 0)])).unwrap_err();
    assert!(matches!(e, SimError::NotUnitary { index: 0, .. }), "{e:?}");
    // A channel that is not trace preserving.
    let mut nm = NoiseModel {
        source: "bad".into(),
        ..Default::default()
    };
    nm.default_1q = Some(Channel {
        num_qubits: 1,
        kraus: vec![vec![cz(0.5), cz(0.0), cz(0.0), cz(0.5)]],
    });
    let mut o = opts(1, 0, 1, Method::DensityMatrix);
    o.noise = Some(nm);
    let msg = run(&circuit(1, 0, vec![g(Gate::H, &[0])]), &o)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not trace preserving"), "{msg}");
}

#[test]
fn noise_after_reset_is_applied() {
    // A bit flip with probability 0.3 after resetting qubit 0 (the model's "reset" entry).
    let flip = Channel {
        num_qubits: 1,
        kraus: vec![
            vec![cz(0.7f64.sqrt()), cz(0.0), cz(0.0), cz(0.7f64.sqrt())],
            vec![cz(0.0), cz(0.3f64.sqrt()), cz(0.3f64.sqrt()), cz(0.0)],
        ],
    };
    let mut nm = NoiseModel {
        source: "reset flip".into(),
        ..Default::default()
    };
    nm.gates.insert(("reset".into(), vec![0]), flip);
    let c = circuit(
        2,
        1,
        vec![
            g(Gate::H, &[0]),
            g(Gate::CX, &[0, 1]),
            Instruction::Reset { qubit: 0 },
            m(0, 0),
        ],
    );
    let mut o = opts(0, 0, 1, Method::DensityMatrix);
    o.noise = Some(nm);
    let p = probabilities(&c, &o).unwrap();
    assert!(((p[1] + p[3]) - 0.3).abs() < 1e-12, "{p:?}");
    let shots = 20_000;
    for method in [Method::DensityMatrix, Method::Trajectories] {
        o.method = method;
        o.shots = shots;
        let res = run(&c, &o).unwrap();
        assert_prob(
            res.counts.get("1").copied().unwrap_or(0),
            shots,
            0.3,
            "flip after reset",
        );
    }
}
