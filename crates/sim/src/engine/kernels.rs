//! In-place amplitude kernels on one cache-sized buffer (or a whole small state).
//!
//! Every kernel is element-wise: the value of an amplitude after a kernel depends only on the
//! amplitudes it mixes and the kernel's numbers, never on how the state is split among threads,
//! which is what makes results independent of the thread count. Qubit positions here are bit
//! positions of the buffer's index.

use crate::ir::C64;

/// `1 + 0i`.
pub(crate) const ONE: C64 = C64::new(1.0, 0.0);
/// `0`.
pub(crate) const ZERO: C64 = C64::new(0.0, 0.0);

/// One elementary operation on amplitudes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kern {
    /// Multiply everything by a constant.
    Scale(C64),
    /// `diag(d0, d1)` on `q`.
    Diag1 { q: usize, d: [C64; 2] },
    /// Pauli X on `q` (a permutation).
    X { q: usize },
    /// A real 2×2 matrix on `q` (H, RY, ...).
    Real1 { q: usize, m: [f64; 4] },
    /// A complex 2×2 matrix on `q`.
    Dense1 { q: usize, m: [C64; 4] },
    /// A diagonal on two qubits `q[0] < q[1]`; `d` indexed by `bit(q0) + 2·bit(q1)`.
    Diag2 { q: [usize; 2], d: [C64; 4] },
    /// `m` on `t` when all of the first `nc` controls `c` are 1 (`x`: `m` is Pauli X).
    Ctrl {
        c: [usize; 2],
        nc: usize,
        t: usize,
        m: [C64; 4],
        x: bool,
    },
    /// Swap `a < b`.
    Swap { a: usize, b: usize },
    /// Swap `a < b` when `c` is 1.
    CSwap { c: usize, a: usize, b: usize },
    /// A 4×4 matrix on `q[0] < q[1]`, indexed by `bit(q0) + 2·bit(q1)`.
    Dense2 { q: [usize; 2], m: [C64; 16] },
}

/// A term of a fused diagonal: `k = 0` a scalar, `1` a one-qubit diagonal on `q[0]`, `2` a
/// two-qubit diagonal on `q[0], q[1]` indexed by `bit(q0) + 2·bit(q1)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DTerm {
    pub q: [usize; 2],
    pub k: u8,
    pub d: [C64; 4],
}

/// A general (possibly non-unitary) `2^k × 2^k` operator on `q` (first = least significant),
/// stored by rows as sparse `(column, value)` entries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GeneralOp {
    pub q: Vec<usize>,
    pub rows: Vec<Vec<(usize, C64)>>,
}

impl GeneralOp {
    /// From a dense row-major matrix; entries below `1e-30` in squared modulus are dropped.
    pub fn from_dense(q: Vec<usize>, m: &[C64]) -> GeneralOp {
        let dim = 1usize << q.len();
        let rows = m
            .chunks(dim)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .filter(|(_, v)| v.norm_sqr() > 1e-30)
                    .map(|(c, v)| (c, *v))
                    .collect()
            })
            .collect();
        GeneralOp { q, rows }
    }
}

fn bit(i: usize, q: usize) -> usize {
    i.checked_shr(q as u32).unwrap_or(0) & 1
}

/// Calls `f(lo, hi)` for the halves (`bit q = 0`, `bit q = 1`) of every block.
#[inline(always)]
fn pairs(buf: &mut [C64], q: usize, mut f: impl FnMut(&mut [C64], &mut [C64])) {
    let s = 1usize << q;
    for ch in buf.chunks_exact_mut(2 * s) {
        let (lo, hi) = ch.split_at_mut(s);
        f(lo, hi);
    }
}

/// Calls `f` with the four sub-slices indexed by `bit(a) + 2·bit(b)`, `a < b`.
#[inline(always)]
fn quads(buf: &mut [C64], a: usize, b: usize, mut f: impl FnMut([&mut [C64]; 4])) {
    let (sa, sb) = (1usize << a, 1usize << b);
    for ch in buf.chunks_exact_mut(2 * sb) {
        let (h0, h1) = ch.split_at_mut(sb);
        for (c0, c1) in h0.chunks_exact_mut(2 * sa).zip(h1.chunks_exact_mut(2 * sa)) {
            let (x00, x01) = c0.split_at_mut(sa);
            let (x10, x11) = c1.split_at_mut(sa);
            f([x00, x01, x10, x11]);
        }
    }
}

/// Calls `f` with the eight sub-slices indexed by `bit(a) + 2·bit(b) + 4·bit(c)`, `a < b < c`.
#[inline(always)]
fn octs(buf: &mut [C64], a: usize, b: usize, c: usize, mut f: impl FnMut([&mut [C64]; 8])) {
    let (sa, sb, sc) = (1usize << a, 1usize << b, 1usize << c);
    for ch in buf.chunks_exact_mut(2 * sc) {
        let (h0, h1) = ch.split_at_mut(sc);
        for (g0, g1) in h0.chunks_exact_mut(2 * sb).zip(h1.chunks_exact_mut(2 * sb)) {
            let (g00, g01) = g0.split_at_mut(sb);
            let (g10, g11) = g1.split_at_mut(sb);
            for (((e00, e01), e10), e11) in g00
                .chunks_exact_mut(2 * sa)
                .zip(g01.chunks_exact_mut(2 * sa))
                .zip(g10.chunks_exact_mut(2 * sa))
                .zip(g11.chunks_exact_mut(2 * sa))
            {
                let (x0, x1) = e00.split_at_mut(sa);
                let (x2, x3) = e01.split_at_mut(sa);
                let (x4, x5) = e10.split_at_mut(sa);
                let (x6, x7) = e11.split_at_mut(sa);
                f([x0, x1, x2, x3, x4, x5, x6, x7]);
            }
        }
    }
}

fn scale(xs: &mut [C64], s: C64) {
    if s != ONE {
        for x in xs {
            *x *= s;
        }
    }
}

fn dense1(lo: &mut [C64], hi: &mut [C64], m: &[C64; 4]) {
    for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
        let (x, y) = (*a, *b);
        *a = m[0] * x + m[1] * y;
        *b = m[2] * x + m[3] * y;
    }
}

fn real1(lo: &mut [C64], hi: &mut [C64], m: &[f64; 4]) {
    for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
        let (x, y) = (*a, *b);
        *a = C64::new(m[0] * x.re + m[1] * y.re, m[0] * x.im + m[1] * y.im);
        *b = C64::new(m[2] * x.re + m[3] * y.re, m[2] * x.im + m[3] * y.im);
    }
}

fn one_qubit(lo: &mut [C64], hi: &mut [C64], m: &[C64; 4], x: bool) {
    if x {
        lo.swap_with_slice(hi);
    } else {
        dense1(lo, hi, m);
    }
}

/// Applies `k` (in buffer positions) to `buf`.
pub(crate) fn apply(buf: &mut [C64], k: &Kern) {
    match *k {
        Kern::Scale(s) => scale(buf, s),
        Kern::Diag1 { q, d } => {
            if q == 0 {
                for ch in buf.chunks_exact_mut(2) {
                    if let [a, b] = ch {
                        *a *= d[0];
                        *b *= d[1];
                    }
                }
            } else {
                pairs(buf, q, |lo, hi| {
                    scale(lo, d[0]);
                    scale(hi, d[1]);
                });
            }
        }
        Kern::X { q } => {
            if q == 0 {
                for ch in buf.chunks_exact_mut(2) {
                    ch.swap(0, 1);
                }
            } else {
                pairs(buf, q, |lo, hi| lo.swap_with_slice(hi));
            }
        }
        Kern::Real1 { q, m } => {
            if q == 0 {
                for ch in buf.chunks_exact_mut(2) {
                    if let [a, b] = ch {
                        let (x, y) = (*a, *b);
                        *a = x * m[0] + y * m[1];
                        *b = x * m[2] + y * m[3];
                    }
                }
            } else {
                pairs(buf, q, |lo, hi| real1(lo, hi, &m));
            }
        }
        Kern::Dense1 { q, m } => {
            if q == 0 {
                for ch in buf.chunks_exact_mut(2) {
                    if let [a, b] = ch {
                        let (x, y) = (*a, *b);
                        *a = m[0] * x + m[1] * y;
                        *b = m[2] * x + m[3] * y;
                    }
                }
            } else {
                pairs(buf, q, |lo, hi| dense1(lo, hi, &m));
            }
        }
        Kern::Diag2 { q, d } => {
            if q[1] < 2 {
                // q = [0, 1]: a flat loop is faster than sub-slices of one amplitude.
                for ch in buf.chunks_exact_mut(4) {
                    for (a, f) in ch.iter_mut().zip(d.iter()) {
                        *a *= *f;
                    }
                }
            } else {
                quads(buf, q[0], q[1], |[x0, x1, x2, x3]| {
                    scale(x0, d[0]);
                    scale(x1, d[1]);
                    scale(x2, d[2]);
                    scale(x3, d[3]);
                });
            }
        }
        Kern::Ctrl { c, nc, t, m, x } => match nc {
            0 => {
                if x {
                    apply(buf, &Kern::X { q: t });
                } else {
                    apply(buf, &Kern::Dense1 { q: t, m });
                }
            }
            1 => {
                let c0 = c[0];
                if c0 < t {
                    quads(buf, c0, t, |[_, x1, _, x3]| one_qubit(x1, x3, &m, x));
                } else {
                    quads(buf, t, c0, |[_, _, x2, x3]| one_qubit(x2, x3, &m, x));
                }
            }
            _ => {
                let mut s = [(c[0], 0u8), (c[1], 0u8), (t, 1u8)];
                s.sort_unstable();
                // Index bits of the target in the sorted order; the controls' bits are set.
                let tb = match s {
                    [(_, 1), _, _] => 1usize,
                    [_, (_, 1), _] => 2,
                    _ => 4,
                };
                let lo_i = 7 - tb;
                octs(buf, s[0].0, s[1].0, s[2].0, |xs| {
                    let [x0, x1, x2, x3, x4, x5, x6, x7] = xs;
                    let (a, b) = match lo_i {
                        6 => (x6, x7),
                        5 => (x5, x7),
                        _ => (x3, x7),
                    };
                    let _ = (x0, x1, x2, x4);
                    one_qubit(a, b, &m, x);
                });
            }
        },
        Kern::Swap { a, b } => quads(buf, a, b, |[_, x1, x2, _]| x1.swap_with_slice(x2)),
        Kern::CSwap { c, a, b } => {
            let mut s = [(c, 0u8), (a, 1u8), (b, 2u8)];
            s.sort_unstable();
            // Sub-slice index of each role.
            let mut w = [0usize; 3];
            for (i, (_, role)) in s.iter().enumerate() {
                if let Some(x) = w.get_mut(usize::from(*role)) {
                    *x = 1 << i;
                }
            }
            let (ia, ib) = (w[0] | w[1], w[0] | w[2]);
            octs(buf, s[0].0, s[1].0, s[2].0, |xs| {
                let mut it = xs.into_iter().enumerate();
                let mut first: Option<&mut [C64]> = None;
                let mut second: Option<&mut [C64]> = None;
                for (i, x) in it.by_ref() {
                    if i == ia {
                        first = Some(x);
                    } else if i == ib {
                        second = Some(x);
                    }
                }
                if let (Some(p), Some(r)) = (first, second) {
                    p.swap_with_slice(r);
                }
            });
        }
        Kern::Dense2 { q, m } => quads(buf, q[0], q[1], |[x0, x1, x2, x3]| {
            for (((a, b), c), d) in x0
                .iter_mut()
                .zip(x1.iter_mut())
                .zip(x2.iter_mut())
                .zip(x3.iter_mut())
            {
                let v = [*a, *b, *c, *d];
                *a = m[0] * v[0] + m[1] * v[1] + m[2] * v[2] + m[3] * v[3];
                *b = m[4] * v[0] + m[5] * v[1] + m[6] * v[2] + m[7] * v[3];
                *c = m[8] * v[0] + m[9] * v[1] + m[10] * v[2] + m[11] * v[3];
                *d = m[12] * v[0] + m[13] * v[1] + m[14] * v[2] + m[15] * v[3];
            }
        }),
    }
}

/// Inserts a zero bit at each of `sorted` (ascending) positions into `i`.
fn deposit(mut i: usize, sorted: &[usize]) -> usize {
    for &p in sorted {
        let low = i & ((1usize << p) - 1);
        i = ((i >> p) << (p + 1)) | low;
    }
    i
}

/// Applies a general operator (buffer positions) to `buf`.
pub(crate) fn apply_general(buf: &mut [C64], g: &GeneralOp) {
    let k = g.q.len();
    let dim = 1usize << k;
    let offs: Vec<usize> = (0..dim)
        .map(|j| g.q.iter().enumerate().map(|(l, &p)| bit(j, l) << p).sum())
        .collect();
    let mut sorted = g.q.clone();
    sorted.sort_unstable();
    let groups = buf.len() >> k;
    let mut v = vec![ZERO; dim];
    let mut out = vec![ZERO; dim];
    for i in 0..groups {
        let base = deposit(i, &sorted);
        for (x, o) in v.iter_mut().zip(&offs) {
            *x = buf.get(base + o).copied().unwrap_or(ZERO);
        }
        for (y, row) in out.iter_mut().zip(&g.rows) {
            let mut s = ZERO;
            for &(c, val) in row {
                if let Some(x) = v.get(c) {
                    s += val * x;
                }
            }
            *y = s;
        }
        for (y, o) in out.iter().zip(&offs) {
            if let Some(a) = buf.get_mut(base + o) {
                *a = *y;
            }
        }
    }
}

fn term_factor(t: &DTerm, i: usize) -> C64 {
    match t.k {
        0 => t.d[0],
        1 => {
            if bit(i, t.q[0]) == 1 {
                t.d[1]
            } else {
                t.d[0]
            }
        }
        _ => {
            let j = bit(i, t.q[0]) + 2 * bit(i, t.q[1]);
            t.d.get(j).copied().unwrap_or(ONE)
        }
    }
}

/// Reusable per-thread scratch space.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub terms: Vec<DTerm>,
    tables: Vec<C64>,
    ident: Vec<bool>,
}

/// Bits of the low table of a fused diagonal.
const LOW_BITS: usize = 8;

/// Applies a fused diagonal (`terms` in buffer positions, all already reduced to the buffer)
/// times `factor`: one pass, at most two multiplications per amplitude.
pub(crate) fn apply_run(buf: &mut [C64], terms: &[DTerm], factor: C64, scr: &mut Scratch) {
    let len = buf.len();
    if len == 0 {
        return;
    }
    let b = len.trailing_zeros() as usize;
    let s = b.min(LOW_BITS);
    let low_n = 1usize << s;
    let is_low = |q: usize| q < s;
    // High qubits that meet low qubits in a term.
    let mut xh: Vec<usize> = Vec::new();
    for t in terms {
        if t.k == 2 && is_low(t.q[0]) != is_low(t.q[1]) {
            let h = if is_low(t.q[0]) { t.q[1] } else { t.q[0] };
            if !xh.contains(&h) {
                xh.push(h);
            }
        }
    }
    if xh.len() > 6 {
        // Too many variants of the low table: term by term.
        scale(buf, factor);
        for t in terms {
            match t.k {
                0 => scale(buf, t.d[0]),
                1 => apply(
                    buf,
                    &Kern::Diag1 {
                        q: t.q[0],
                        d: [t.d[0], t.d[1]],
                    },
                ),
                _ => apply(buf, &Kern::Diag2 { q: t.q, d: t.d }),
            }
        }
        return;
    }
    let nv = 1usize << xh.len();
    scr.tables.clear();
    scr.tables.resize(nv * low_n, ONE);
    scr.ident.clear();
    for (v, tab) in scr.tables.chunks_exact_mut(low_n).enumerate() {
        // The high index with the cross bits of variant `v`.
        let hv: usize = xh.iter().enumerate().map(|(j, &h)| bit(v, j) << h).sum();
        for t in terms {
            let touches_low = match t.k {
                0 => false,
                1 => is_low(t.q[0]),
                _ => is_low(t.q[0]) || is_low(t.q[1]),
            };
            if touches_low {
                for (l, x) in tab.iter_mut().enumerate() {
                    *x *= term_factor(t, hv | l);
                }
            }
        }
        scr.ident.push(tab.iter().all(|x| *x == ONE));
    }
    let high: Vec<&DTerm> = terms
        .iter()
        .filter(|t| match t.k {
            0 => true,
            1 => !is_low(t.q[0]),
            _ => !is_low(t.q[0]) && !is_low(t.q[1]),
        })
        .collect();
    for (h, ch) in buf.chunks_exact_mut(low_n).enumerate() {
        let hi = h << s;
        let mut c = factor;
        for t in &high {
            c *= term_factor(t, hi);
        }
        let v: usize = xh.iter().enumerate().map(|(j, &q)| bit(hi, q) << j).sum();
        let ident = scr.ident.get(v).copied().unwrap_or(true);
        let Some(tab) = scr.tables.chunks_exact(low_n).nth(v) else {
            continue;
        };
        match (ident, c == ONE) {
            (true, true) => {}
            (true, false) => scale(ch, c),
            (false, true) => {
                for (x, f) in ch.iter_mut().zip(tab) {
                    *x *= *f;
                }
            }
            (false, false) => {
                for (x, f) in ch.iter_mut().zip(tab) {
                    *x *= c * f;
                }
            }
        }
    }
}

/// The kernel for a one-qubit matrix at `q`, or `None` when it is exactly the identity.
pub(crate) fn one_qubit_kern(q: usize, m: [C64; 4]) -> Option<Kern> {
    let zero = |x: C64| x == ZERO;
    if zero(m[1]) && zero(m[2]) {
        if m[0] == ONE && m[3] == ONE {
            return None;
        }
        return Some(Kern::Diag1 { q, d: [m[0], m[3]] });
    }
    if zero(m[0]) && zero(m[3]) && m[1] == ONE && m[2] == ONE {
        return Some(Kern::X { q });
    }
    if m.iter().all(|x| x.im == 0.0) {
        return Some(Kern::Real1 {
            q,
            m: [m[0].re, m[1].re, m[2].re, m[3].re],
        });
    }
    Some(Kern::Dense1 { q, m })
}

/// `a · b` for row-major 2×2 matrices.
pub(crate) fn mul2(a: &[C64; 4], b: &[C64; 4]) -> [C64; 4] {
    [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
    ]
}

/// Swaps the roles of the two qubits of a 4×4 matrix (index `b0 + 2·b1`).
pub(crate) fn swap_qubits4(m: &[C64; 16]) -> [C64; 16] {
    let p = |s: usize| ((s & 1) << 1) | ((s >> 1) & 1);
    let mut out = [ZERO; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let (r, c) = (i / 4, i % 4);
        if let Some(v) = m.get(p(r) * 4 + p(c)) {
            *o = *v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn rand_state(n: usize, seed: u64) -> Vec<C64> {
        let mut x = seed;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        (0..1usize << n).map(|_| C64::new(next(), next())).collect()
    }

    /// Reference: apply a dense matrix on `qs` (first = least significant) by index arithmetic.
    fn reference(state: &[C64], qs: &[usize], m: &[C64]) -> Vec<C64> {
        let dim = 1 << qs.len();
        let mut out = vec![ZERO; state.len()];
        for (i, o) in out.iter_mut().enumerate() {
            let r: usize = qs
                .iter()
                .enumerate()
                .map(|(l, &q)| ((i >> q) & 1) << l)
                .sum();
            let base = qs.iter().fold(i, |acc, &q| acc & !(1 << q));
            for c in 0..dim {
                let j = base
                    | qs.iter()
                        .enumerate()
                        .map(|(l, &q)| ((c >> l) & 1) << q)
                        .sum::<usize>();
                *o += m[r * dim + c] * state[j];
            }
        }
        out
    }

    fn close(a: &[C64], b: &[C64]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).norm() < 1e-12, "{x} vs {y}");
        }
    }

    #[test]
    fn kernels_match_dense_reference() {
        use crate::ir::Gate;
        let n = 5;
        let st = rand_state(n, 7);
        for q in 0..n {
            for g in [
                Gate::H,
                Gate::X,
                Gate::T,
                Gate::U(0.3, 0.2, 0.1),
                Gate::RY(0.4),
            ] {
                let m = g.matrix();
                let mm: [C64; 4] = [m[0], m[1], m[2], m[3]];
                let mut s = st.clone();
                if let Some(k) = one_qubit_kern(q, mm) {
                    apply(&mut s, &k);
                }
                close(&s, &reference(&st, &[q], &m));
            }
        }
        for a in 0..n {
            for b in 0..n {
                if a == b {
                    continue;
                }
                let (lo, hi) = (a.min(b), a.max(b));
                // Controlled U with control a, target b.
                let g = Gate::CU(0.3, 0.5, 0.7, 0.2).matrix();
                let mut s = st.clone();
                apply(
                    &mut s,
                    &Kern::Ctrl {
                        c: [a, 0],
                        nc: 1,
                        t: b,
                        m: [g[5], g[7], g[13], g[15]],
                        x: false,
                    },
                );
                close(&s, &reference(&st, &[a, b], &g));
                let d = Gate::RZZ(0.9).matrix();
                let mut s = st.clone();
                apply(
                    &mut s,
                    &Kern::Diag2 {
                        q: [lo, hi],
                        d: [d[0], d[5], d[10], d[15]],
                    },
                );
                close(&s, &reference(&st, &[lo, hi], &d));
                let e: [C64; 16] = Gate::ECR.matrix().try_into().unwrap();
                let mut s = st.clone();
                let (q, m) = if a < b {
                    ([a, b], e)
                } else {
                    ([b, a], swap_qubits4(&e))
                };
                apply(&mut s, &Kern::Dense2 { q, m });
                close(&s, &reference(&st, &[a, b], &e));
                let mut s = st.clone();
                apply(&mut s, &Kern::Swap { a: lo, b: hi });
                close(&s, &reference(&st, &[a, b], &Gate::Swap.matrix()));
                let mut s = st.clone();
                apply_general(&mut s, &GeneralOp::from_dense(vec![a, b], &e));
                close(&s, &reference(&st, &[a, b], &e));
                for c in 0..n {
                    if c == a || c == b {
                        continue;
                    }
                    let mut s = st.clone();
                    apply(
                        &mut s,
                        &Kern::Ctrl {
                            c: [a, b],
                            nc: 2,
                            t: c,
                            m: [ZERO, ONE, ONE, ZERO],
                            x: true,
                        },
                    );
                    close(&s, &reference(&st, &[a, b, c], &Gate::CCX.matrix()));
                    let mut s = st.clone();
                    apply(
                        &mut s,
                        &Kern::Ctrl {
                            c: [a, b],
                            nc: 2,
                            t: c,
                            m: [ONE, ZERO, ZERO, C64::new(0.0, 1.0)],
                            x: false,
                        },
                    );
                    let mut ccs = vec![ZERO; 64];
                    for i in 0..8 {
                        ccs[i * 9] = ONE;
                    }
                    ccs[63] = C64::new(0.0, 1.0);
                    close(&s, &reference(&st, &[a, b, c], &ccs));
                    let mut s = st.clone();
                    apply(
                        &mut s,
                        &Kern::CSwap {
                            c: a,
                            a: b.min(c),
                            b: b.max(c),
                        },
                    );
                    close(&s, &reference(&st, &[a, b, c], &Gate::CSwap.matrix()));
                }
            }
        }
    }

    #[test]
    fn fused_diagonal_matches_terms() {
        for n in [3usize, 9, 11] {
            let st = rand_state(n, 3);
            let mut terms = Vec::new();
            let mut x = 1u64;
            for i in 0..12 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let a = (x >> 33) as usize % n;
                let b = (x >> 45) as usize % n;
                let ph = |t: f64| C64::from_polar(1.0, t);
                if a == b || i % 3 == 0 {
                    terms.push(DTerm {
                        q: [a, a],
                        k: 1,
                        d: [ph(0.1 * i as f64), ph(0.3), ONE, ONE],
                    });
                } else {
                    let (lo, hi) = (a.min(b), a.max(b));
                    terms.push(DTerm {
                        q: [lo, hi],
                        k: 2,
                        d: [ONE, ph(0.2), ph(-0.5), ph(1.0 + i as f64)],
                    });
                }
            }
            terms.push(DTerm {
                q: [0, 0],
                k: 0,
                d: [C64::from_polar(1.0, 0.7), ONE, ONE, ONE],
            });
            let mut want = st.clone();
            for (i, a) in want.iter_mut().enumerate() {
                for t in &terms {
                    *a *= term_factor(t, i);
                }
            }
            let mut got = st.clone();
            apply_run(
                &mut got,
                &terms,
                C64::from_polar(1.0, 0.3),
                &mut Scratch::default(),
            );
            for a in want.iter_mut() {
                *a *= C64::from_polar(1.0, 0.3);
            }
            close(&got, &want);
        }
    }
}
