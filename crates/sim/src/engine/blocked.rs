//! Cache blocking: a run of unitary (or linear) kernels is applied block by block, so that a
//! deep circuit costs a few passes over memory instead of one per gate.
//!
//! A [`Segment`] chooses `c` "local" qubits (at most [`BLOCK_BITS`]): every kernel in it acts
//! non-diagonally only on local qubits (controls and diagonal factors may be anywhere, since
//! they are constant over a block). The state is cut into `2^(n-c)` groups of `2^c`
//! amplitudes that differ only in the local qubits; each group is copied into a per-thread
//! buffer (or used in place when the local qubits are the lowest ones), all the segment's
//! kernels are applied to it while it sits in cache, and it is copied back. Groups are
//! disjoint, so they run in parallel; the arithmetic done on an amplitude does not depend on
//! the thread count.

use rayon::prelude::*;

use super::kernels::{self, DTerm, GeneralOp, Kern, ONE, Scratch, ZERO};
use crate::ir::C64;

/// Bits of a cache block (`2^14` amplitudes = 256 KiB).
pub(crate) const BLOCK_BITS: usize = 14;
/// States up to this many qubits are handled by one thread as one block.
pub(crate) const PAR_BITS: usize = 14;
/// Lowest qubits always kept local so that gathered runs are at least `2^MIN_RUN` amplitudes.
const MIN_RUN: usize = 6;

const NONE: usize = usize::MAX;

/// One operation of a unitary stretch, in state positions. (Items are built once per circuit,
/// so the size of the inline 4×4 matrix does not matter.)
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Item {
    /// An elementary kernel.
    K(Kern),
    /// A fused diagonal.
    Run(Vec<DTerm>),
    /// A general operator (noise superoperators, three-qubit dense gates).
    Gen(GeneralOp),
}

impl Item {
    /// Qubits the item must have local (it acts non-diagonally on them).
    fn dense_qubits(&self) -> Vec<usize> {
        match self {
            Item::K(k) => match *k {
                Kern::Scale(_) | Kern::Diag1 { .. } | Kern::Diag2 { .. } => vec![],
                Kern::X { q } | Kern::Real1 { q, .. } | Kern::Dense1 { q, .. } => vec![q],
                Kern::Ctrl { t, .. } => vec![t],
                Kern::Swap { a, b } | Kern::CSwap { a, b, .. } => vec![a, b],
                Kern::Dense2 { q, .. } => q.to_vec(),
            },
            Item::Run(_) => vec![],
            Item::Gen(g) => g.q.clone(),
        }
    }
}

/// A stretch of items applied with one pass over the state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    items: Vec<Item>,
    /// Local qubits, ascending; local bit `i` is `local[i]`.
    local: Vec<usize>,
    /// State position → local bit, or `NONE`.
    loc: Vec<usize>,
    /// The state's number of qubits.
    nq: usize,
}

/// Cuts `items` into segments for a state of `nq` qubits.
pub(crate) fn segments(items: Vec<Item>, nq: usize) -> Vec<Segment> {
    if items.is_empty() {
        return Vec::new();
    }
    if nq <= PAR_BITS {
        return vec![make_segment(items, (0..nq).collect(), nq)];
    }
    let c = BLOCK_BITS.min(nq);
    let base_n = MIN_RUN.min(c);
    let mut out = Vec::new();
    let mut cur: Vec<Item> = Vec::new();
    let mut dense: Vec<bool> = vec![false; nq];
    let mut extra = 0usize;
    for item in items {
        let mut need: Vec<usize> = item
            .dense_qubits()
            .into_iter()
            .filter(|&q| q >= base_n)
            .collect();
        need.sort_unstable();
        need.dedup();
        let new = need
            .iter()
            .filter(|&&q| !dense.get(q).copied().unwrap_or(true))
            .count();
        if base_n + extra + new > c && !cur.is_empty() {
            out.push(finish(std::mem::take(&mut cur), &dense, c, nq));
            dense.iter_mut().for_each(|d| *d = false);
            extra = 0;
        }
        for q in need {
            if let Some(d) = dense.get_mut(q)
                && !*d
            {
                *d = true;
                extra += 1;
            }
        }
        cur.push(item);
    }
    if !cur.is_empty() {
        out.push(finish(cur, &dense, c, nq));
    }
    out
}

fn finish(items: Vec<Item>, dense: &[bool], c: usize, nq: usize) -> Segment {
    let mut local: Vec<usize> = (0..nq)
        .filter(|&q| dense.get(q).copied().unwrap_or(false))
        .collect();
    for q in 0..nq {
        if local.len() >= c {
            break;
        }
        if !local.contains(&q) {
            local.push(q);
        }
    }
    local.sort_unstable();
    make_segment(items, local, nq)
}

fn make_segment(items: Vec<Item>, local: Vec<usize>, nq: usize) -> Segment {
    let mut loc = vec![NONE; nq];
    for (i, &q) in local.iter().enumerate() {
        if let Some(l) = loc.get_mut(q) {
            *l = i;
        }
    }
    // General operators act only on local qubits: translate them once.
    let items = items
        .into_iter()
        .map(|it| match it {
            Item::Gen(g) => Item::Gen(GeneralOp {
                q: g.q
                    .iter()
                    .map(|&q| loc.get(q).copied().unwrap_or(NONE))
                    .collect(),
                rows: g.rows,
            }),
            other => other,
        })
        .collect();
    Segment {
        items,
        local,
        loc,
        nq,
    }
}

fn bit(i: usize, q: usize) -> usize {
    i.checked_shr(q as u32).unwrap_or(0) & 1
}

/// The kernel as seen by the group whose all-local-bits-zero index is `base`, in local
/// positions; `Err(())` if a qubit it must have local is not (a segmentation bug).
fn localize(k: &Kern, base: usize, loc: &[usize]) -> Result<Option<Kern>, ()> {
    let l = |q: usize| -> Option<usize> { loc.get(q).copied().filter(|&x| x != NONE) };
    let must = |q: usize| l(q).ok_or(());
    let scale = |s: C64| if s == ONE { None } else { Some(Kern::Scale(s)) };
    Ok(match *k {
        Kern::Scale(s) => scale(s),
        Kern::Diag1 { q, d } => match l(q) {
            Some(q) => Some(Kern::Diag1 { q, d }),
            None => scale(if bit(base, q) == 1 { d[1] } else { d[0] }),
        },
        Kern::X { q } => Some(Kern::X { q: must(q)? }),
        Kern::Real1 { q, m } => Some(Kern::Real1 { q: must(q)?, m }),
        Kern::Dense1 { q, m } => Some(Kern::Dense1 { q: must(q)?, m }),
        Kern::Diag2 { q, d } => match (l(q[0]), l(q[1])) {
            (Some(a), Some(b)) => Some(Kern::Diag2 { q: [a, b], d }),
            (None, Some(b)) => {
                let v = bit(base, q[0]);
                let (d0, d1) = if v == 1 { (d[1], d[3]) } else { (d[0], d[2]) };
                if d0 == ONE && d1 == ONE {
                    None
                } else {
                    Some(Kern::Diag1 { q: b, d: [d0, d1] })
                }
            }
            (Some(a), None) => {
                let v = bit(base, q[1]);
                let (d0, d1) = if v == 1 { (d[2], d[3]) } else { (d[0], d[1]) };
                if d0 == ONE && d1 == ONE {
                    None
                } else {
                    Some(Kern::Diag1 { q: a, d: [d0, d1] })
                }
            }
            (None, None) => {
                let j = bit(base, q[0]) + 2 * bit(base, q[1]);
                scale(d.get(j).copied().unwrap_or(ONE))
            }
        },
        Kern::Ctrl { c, nc, t, m, x } => {
            let t = must(t)?;
            let mut cs = [0usize; 2];
            let mut n = 0usize;
            for &q in c.iter().take(nc) {
                match l(q) {
                    Some(lq) => {
                        if let Some(slot) = cs.get_mut(n) {
                            *slot = lq;
                        }
                        n += 1;
                    }
                    None => {
                        if bit(base, q) == 0 {
                            return Ok(None);
                        }
                    }
                }
            }
            if n == 0 && !x {
                kernels::one_qubit_kern(t, m)
            } else {
                Some(Kern::Ctrl {
                    c: cs,
                    nc: n,
                    t,
                    m,
                    x,
                })
            }
        }
        Kern::Swap { a, b } => Some(Kern::Swap {
            a: must(a)?,
            b: must(b)?,
        }),
        Kern::CSwap { c, a, b } => {
            let (a, b) = (must(a)?, must(b)?);
            match l(c) {
                Some(c) => Some(Kern::CSwap { c, a, b }),
                None if bit(base, c) == 1 => Some(Kern::Swap { a, b }),
                None => None,
            }
        }
        Kern::Dense2 { q, m } => Some(Kern::Dense2 {
            q: [must(q[0])?, must(q[1])?],
            m,
        }),
    })
}

/// Reduces a fused diagonal to the group at `base`: local terms into `out`, the rest into the
/// returned scalar.
fn localize_run(terms: &[DTerm], base: usize, loc: &[usize], out: &mut Vec<DTerm>) -> C64 {
    out.clear();
    let l = |q: usize| -> Option<usize> { loc.get(q).copied().filter(|&x| x != NONE) };
    let mut factor = ONE;
    for t in terms {
        match t.k {
            0 => factor *= t.d[0],
            1 => match l(t.q[0]) {
                Some(q) => out.push(DTerm {
                    q: [q, q],
                    k: 1,
                    d: t.d,
                }),
                None => {
                    factor *= if bit(base, t.q[0]) == 1 {
                        t.d[1]
                    } else {
                        t.d[0]
                    }
                }
            },
            _ => match (l(t.q[0]), l(t.q[1])) {
                (Some(a), Some(b)) => out.push(DTerm {
                    q: [a, b],
                    k: 2,
                    d: t.d,
                }),
                (None, Some(b)) => {
                    let v = bit(base, t.q[0]);
                    let d = if v == 1 {
                        [t.d[1], t.d[3]]
                    } else {
                        [t.d[0], t.d[2]]
                    };
                    if d != [ONE, ONE] {
                        out.push(DTerm {
                            q: [b, b],
                            k: 1,
                            d: [d[0], d[1], ONE, ONE],
                        });
                    }
                }
                (Some(a), None) => {
                    let v = bit(base, t.q[1]);
                    let d = if v == 1 {
                        [t.d[2], t.d[3]]
                    } else {
                        [t.d[0], t.d[1]]
                    };
                    if d != [ONE, ONE] {
                        out.push(DTerm {
                            q: [a, a],
                            k: 1,
                            d: [d[0], d[1], ONE, ONE],
                        });
                    }
                }
                (None, None) => {
                    let j = bit(base, t.q[0]) + 2 * bit(base, t.q[1]);
                    factor *= t.d.get(j).copied().unwrap_or(ONE);
                }
            },
        }
    }
    factor
}

/// Applies the segment's items to one group held in `buf`.
fn run_items(buf: &mut [C64], seg: &Segment, base: usize, scr: &mut Scratch) -> Result<(), ()> {
    for item in &seg.items {
        match item {
            Item::K(k) => {
                if let Some(k) = localize(k, base, &seg.loc)? {
                    kernels::apply(buf, &k);
                }
            }
            Item::Run(terms) => {
                let mut local = std::mem::take(&mut scr.terms);
                let factor = localize_run(terms, base, &seg.loc, &mut local);
                if !local.is_empty() || factor != ONE {
                    kernels::apply_run(buf, &local, factor, scr);
                }
                scr.terms = local;
            }
            Item::Gen(g) => {
                if g.q.contains(&NONE) {
                    return Err(());
                }
                kernels::apply_general(buf, g);
            }
        }
    }
    Ok(())
}

/// A parallel task: the runs of one group.
struct Task<'a> {
    base: usize,
    pieces: Vec<&'a mut [C64]>,
}

/// Cuts `state` into groups for local qubits = `0..m` ∪ `splits` (ascending in `splits`).
fn tasks<'a>(state: &'a mut [C64], splits: &[usize], m: usize) -> Vec<Task<'a>> {
    let mut bundles: Vec<(usize, Vec<&'a mut [C64]>)> = vec![(0, vec![state])];
    for &h in splits.iter().rev() {
        let half = 1usize << h;
        let mut next = Vec::new();
        for (off, pieces) in bundles {
            let mut per: Vec<std::vec::IntoIter<(&'a mut [C64], &'a mut [C64])>> = pieces
                .into_iter()
                .map(|p| {
                    p.chunks_exact_mut(2 * half)
                        .map(|b| b.split_at_mut(half))
                        .collect::<Vec<_>>()
                        .into_iter()
                })
                .collect();
            let nblocks = per.first().map_or(0, |it| it.len());
            for bi in 0..nblocks {
                let mut bundle = Vec::with_capacity(per.len() * 2);
                for it in per.iter_mut() {
                    if let Some((lo, hi)) = it.next() {
                        bundle.push(lo);
                        bundle.push(hi);
                    }
                }
                next.push((off + bi * 2 * half, bundle));
            }
        }
        bundles = next;
    }
    let run = 1usize << m;
    let mut out = Vec::new();
    for (off, pieces) in bundles {
        let len = pieces.first().map_or(0, |p| p.len());
        let mut per: Vec<_> = pieces
            .into_iter()
            .map(|p| p.chunks_exact_mut(run))
            .collect();
        for r in 0..len / run {
            let mut v = Vec::with_capacity(per.len());
            for it in per.iter_mut() {
                if let Some(x) = it.next() {
                    v.push(x);
                }
            }
            out.push(Task {
                base: off + r * run,
                pieces: v,
            });
        }
    }
    out
}

/// Applies `segs` to `state` (`2^nq` amplitudes). `Err` only on an internal inconsistency.
pub(crate) fn apply_segments(state: &mut [C64], segs: &[Segment]) -> Result<(), ()> {
    for seg in segs {
        apply_segment(state, seg)?;
    }
    Ok(())
}

fn apply_segment(state: &mut [C64], seg: &Segment) -> Result<(), ()> {
    let c = seg.local.len();
    if c >= seg.nq {
        return run_items(state, seg, 0, &mut Scratch::default());
    }
    let m = seg
        .local
        .iter()
        .enumerate()
        .take_while(|(i, q)| *i == **q)
        .count();
    if m == c {
        return state
            .par_chunks_mut(1usize << c)
            .enumerate()
            .try_for_each_init(Scratch::default, |scr, (i, ch)| {
                run_items(ch, seg, i << c, scr)
            });
    }
    let splits: Vec<usize> = seg.local.iter().copied().skip(m).collect();
    let run = 1usize << m;
    tasks(state, &splits, m).into_par_iter().try_for_each_init(
        || (vec![ZERO; 1usize << c], Scratch::default()),
        |(buf, scr), task| {
            for (dst, src) in buf.chunks_exact_mut(run).zip(task.pieces.iter()) {
                dst.copy_from_slice(src);
            }
            run_items(buf, seg, task.base, scr)?;
            for (src, dst) in buf.chunks_exact(run).zip(task.pieces) {
                dst.copy_from_slice(src);
            }
            Ok(())
        },
    )
}
