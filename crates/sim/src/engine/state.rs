//! The stored state (a statevector, or a vectorised density matrix) and the non-unitary
//! operations on it. Every reduction (probabilities, norms) is summed in fixed blocks of
//! [`SAMPLE_BLOCK`] entries, each block sequentially and the block totals sequentially in index
//! order, so the result never depends on the number of threads.

use rayon::prelude::*;

use super::blocked::{self, Segment};
use super::kernels::{ONE, ZERO};
use super::program::{Prepared, Program};
use super::sample::{SAMPLE_BLOCK, sample_sorted};
use crate::ir::C64;
use crate::run::SimError;

/// A state: `2^n` amplitudes, or a `2^n × 2^n` density matrix stored as `row + (col << n)`.
#[derive(Debug)]
pub(crate) struct State {
    pub v: Vec<C64>,
    pub n: usize,
    pub density: bool,
}

fn bit(i: usize, q: usize) -> usize {
    i.checked_shr(q as u32).unwrap_or(0) & 1
}

fn alloc(len: usize) -> Result<Vec<C64>, SimError> {
    let mut v: Vec<C64> = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| SimError::OutOfMemory {
            bytes: (len as u128) * 16,
        })?;
    v.resize(len, ZERO);
    Ok(v)
}

/// Whether a state of `nq` stored qubits is big enough to use several threads.
pub(crate) fn parallel(nq: usize) -> bool {
    nq > blocked::PAR_BITS
}

impl State {
    /// The program's initial product state.
    pub fn initial(prog: &Program) -> Result<State, SimError> {
        let nq = prog.nq;
        let len = 1usize
            .checked_shl(nq as u32)
            .ok_or(SimError::OutOfMemory { bytes: u128::MAX })?;
        let mut v = alloc(len)?;
        let zero_state = prog.init.iter().all(|x| *x == [ONE, ZERO]);
        if zero_state {
            if let Some(a) = v.first_mut() {
                *a = ONE;
            }
        } else {
            let s = nq.min(12);
            let low: Vec<C64> = (0..1usize << s)
                .map(|l| {
                    prog.init
                        .iter()
                        .take(s)
                        .enumerate()
                        .fold(ONE, |acc, (q, amp)| {
                            acc * if bit(l, q) == 1 { amp[1] } else { amp[0] }
                        })
                })
                .collect();
            let fill = |(h, ch): (usize, &mut [C64])| {
                let hv = prog
                    .init
                    .iter()
                    .skip(s)
                    .enumerate()
                    .fold(ONE, |acc, (q, amp)| {
                        acc * if bit(h, q) == 1 { amp[1] } else { amp[0] }
                    });
                for (x, l) in ch.iter_mut().zip(&low) {
                    *x = hv * l;
                }
            };
            if parallel(nq) {
                v.par_chunks_mut(1usize << s).enumerate().for_each(fill);
            } else {
                v.chunks_mut(1usize << s).enumerate().for_each(fill);
            }
        }
        Ok(State {
            v,
            n: prog.n,
            density: prog.mode == super::program::Mode::Density,
        })
    }

    fn nq(&self) -> usize {
        if self.density { 2 * self.n } else { self.n }
    }

    /// A copy, or an error if the memory cannot be had.
    pub fn try_clone(&self) -> Result<State, SimError> {
        let mut v: Vec<C64> = Vec::new();
        v.try_reserve_exact(self.v.len())
            .map_err(|_| SimError::OutOfMemory {
                bytes: (self.v.len() as u128) * 16,
            })?;
        v.extend_from_slice(&self.v);
        Ok(State {
            v,
            n: self.n,
            density: self.density,
        })
    }

    /// Applies unitary (or linear) segments.
    pub fn apply(&mut self, segs: &[Segment]) -> Result<(), SimError> {
        blocked::apply_segments(&mut self.v, segs)
            .map_err(|()| SimError::Internal("a kernel was given a qubit outside its block".into()))
    }

    /// The diagonal of a density matrix.
    fn diagonal(&self) -> Vec<f64> {
        let dim = 1usize << self.n;
        (0..dim)
            .map(|r| self.v.get(r * (dim + 1)).map_or(0.0, |x| x.re))
            .collect()
    }

    /// `(P(q = 0), P(q = 1))`, unnormalised.
    pub fn probs(&self, q: usize) -> (f64, f64) {
        if self.density {
            let mut p = (0.0, 0.0);
            for (r, d) in self.diagonal().into_iter().enumerate() {
                if bit(r, q) == 1 {
                    p.1 += d;
                } else {
                    p.0 += d;
                }
            }
            return p;
        }
        let lb = SAMPLE_BLOCK.trailing_zeros() as usize;
        let block = |(i, ch): (usize, &[C64])| -> (f64, f64) {
            if q >= lb {
                let s = ch.iter().fold(0.0, |a, x| a + x.norm_sqr());
                if bit(i * SAMPLE_BLOCK, q) == 1 {
                    (0.0, s)
                } else {
                    (s, 0.0)
                }
            } else {
                let mut p = (0.0, 0.0);
                for (j, x) in ch.iter().enumerate() {
                    if bit(j, q) == 1 {
                        p.1 += x.norm_sqr();
                    } else {
                        p.0 += x.norm_sqr();
                    }
                }
                p
            }
        };
        let parts: Vec<(f64, f64)> = if parallel(self.nq()) {
            self.v
                .par_chunks(SAMPLE_BLOCK)
                .enumerate()
                .map(block)
                .collect()
        } else {
            self.v.chunks(SAMPLE_BLOCK).enumerate().map(block).collect()
        };
        parts
            .into_iter()
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// Keeps the part with `q = outcome`, of unnormalised probability `p`, and renormalises.
    pub fn project(&mut self, q: usize, outcome: usize, p: f64) {
        let n = self.n;
        let density = self.density;
        let f = if density { 1.0 / p } else { 1.0 / p.sqrt() };
        let mask = (1usize << n) - 1;
        let each = |(i, ch): (usize, &mut [C64])| {
            for (j, a) in ch.iter_mut().enumerate() {
                let idx = i * SAMPLE_BLOCK + j;
                let keep = if density {
                    bit(idx & mask, q) == outcome && bit(idx >> n, q) == outcome
                } else {
                    bit(idx, q) == outcome
                };
                *a = if keep { *a * f } else { ZERO };
            }
        };
        if parallel(self.nq()) {
            self.v
                .par_chunks_mut(SAMPLE_BLOCK)
                .enumerate()
                .for_each(each);
        } else {
            self.v.chunks_mut(SAMPLE_BLOCK).enumerate().for_each(each);
        }
    }

    /// `⟨ψ|K†K|ψ⟩` for each Kraus operator of `ch` on positions `qs` (statevector only).
    pub fn kraus_probs(&self, ch: &Prepared, qs: &[usize]) -> Vec<f64> {
        let k = qs.len();
        let dim = 1usize << k;
        let offs: Vec<usize> = (0..dim)
            .map(|j| qs.iter().enumerate().map(|(l, &p)| bit(j, l) << p).sum())
            .collect();
        let mut sorted = qs.to_vec();
        sorted.sort_unstable();
        let groups = self.v.len() >> k;
        let chunks = groups.div_ceil(SAMPLE_BLOCK);
        let v = &self.v;
        let part = |c: usize| -> Vec<C64> {
            let mut r = vec![ZERO; dim * dim];
            let mut a = vec![ZERO; dim];
            for i in c * SAMPLE_BLOCK..((c + 1) * SAMPLE_BLOCK).min(groups) {
                let mut base = i;
                for &p in &sorted {
                    base = ((base >> p) << (p + 1)) | (base & ((1usize << p) - 1));
                }
                for (x, o) in a.iter_mut().zip(&offs) {
                    *x = v.get(base + o).copied().unwrap_or(ZERO);
                }
                for (idx, e) in r.iter_mut().enumerate() {
                    let (x, y) = (idx / dim, idx % dim);
                    if let (Some(ax), Some(ay)) = (a.get(x), a.get(y)) {
                        *e += ax * ay.conj();
                    }
                }
            }
            r
        };
        let parts: Vec<Vec<C64>> = if parallel(self.nq()) {
            (0..chunks).into_par_iter().map(part).collect()
        } else {
            (0..chunks).map(part).collect()
        };
        let mut rho = vec![ZERO; dim * dim];
        for p in parts {
            for (x, y) in rho.iter_mut().zip(p) {
                *x += y;
            }
        }
        // ⟨ψ|M|ψ⟩ = Σ_ab M[a][b] ρ[b][a].
        ch.kk
            .iter()
            .map(|m| {
                let mut s = ZERO;
                for (idx, mv) in m.iter().enumerate() {
                    let (a, b) = (idx / dim, idx % dim);
                    if let Some(r) = rho.get(b * dim + a) {
                        s += mv * r;
                    }
                }
                s.re.max(0.0)
            })
            .collect()
    }

    /// Basis states for sorted uniforms `u`.
    pub fn sample(&self, u: &[f64]) -> Result<Vec<usize>, SimError> {
        let r = if self.density {
            sample_sorted(&self.diagonal(), |x| *x, u, false)
        } else {
            sample_sorted(&self.v, |a| a.norm_sqr(), u, parallel(self.n))
        };
        r.ok_or_else(|| SimError::Internal("the state has no probability left to sample".into()))
    }
}
