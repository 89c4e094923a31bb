//! Drawing basis states from a distribution without materialising it: the shots' uniforms are
//! sorted, the probabilities are summed in fixed blocks of [`SAMPLE_BLOCK`] (each block
//! sequentially, the block totals sequentially in index order, so the cumulative sums never
//! depend on the thread count), and each block is swept once for the uniforms that fall in it.

use rayon::prelude::*;

/// Amplitudes per block of the cumulative sum.
pub(crate) const SAMPLE_BLOCK: usize = 4096;

fn clamp(p: f64) -> f64 {
    if p > 0.0 { p } else { 0.0 }
}

fn block_sum<T>(ch: &[T], prob: &(impl Fn(&T) -> f64 + Sync)) -> f64 {
    let mut s = 0.0;
    for x in ch {
        s += clamp(prob(x));
    }
    s
}

/// For each `u` (sorted ascending, in `[0, 1)`), the index `i` with
/// `P(<i) ≤ u·total < P(≤i)`, never one of probability zero. `None` if the total is not
/// positive and finite.
pub(crate) fn sample_sorted<T: Sync>(
    data: &[T],
    prob: impl Fn(&T) -> f64 + Sync,
    u: &[f64],
    par: bool,
) -> Option<Vec<usize>> {
    let sums: Vec<f64> = if par {
        data.par_chunks(SAMPLE_BLOCK)
            .map(|c| block_sum(c, &prob))
            .collect()
    } else {
        data.chunks(SAMPLE_BLOCK)
            .map(|c| block_sum(c, &prob))
            .collect()
    };
    let mut prefix = Vec::with_capacity(sums.len());
    let mut total = 0.0;
    for s in &sums {
        prefix.push(total);
        total += s;
    }
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    let last_nz = sums.iter().rposition(|&s| s > 0.0)?;
    let targets: Vec<f64> = u.iter().map(|x| x * total).collect();
    // (block, first target, end target)
    let mut ranges = Vec::new();
    let mut k = 0usize;
    for (b, (&start, &sum)) in prefix.iter().zip(&sums).enumerate() {
        if sum <= 0.0 {
            continue;
        }
        let k0 = k;
        if b == last_nz {
            k = targets.len();
        } else {
            let end = start + sum;
            while targets.get(k).is_some_and(|&t| t < end) {
                k += 1;
            }
        }
        if k > k0 {
            ranges.push((b, k0, k));
        }
    }
    let scan = |&(b, k0, k1): &(usize, usize, usize)| -> Vec<usize> {
        let lo = b * SAMPLE_BLOCK;
        let block = data
            .get(lo..(lo + SAMPLE_BLOCK).min(data.len()))
            .unwrap_or(&[]);
        let start = prefix.get(b).copied().unwrap_or(0.0);
        let ts = targets.get(k0..k1).unwrap_or(&[]);
        let mut res = Vec::with_capacity(ts.len());
        let mut i = 0usize;
        let mut acc = 0.0;
        let mut last = 0usize;
        for &t in ts {
            let rel = t - start;
            loop {
                match block.get(i) {
                    None => {
                        res.push(lo + last);
                        break;
                    }
                    Some(x) => {
                        let p = clamp(prob(x));
                        if p > 0.0 && acc + p > rel {
                            res.push(lo + i);
                            break;
                        }
                        acc += p;
                        if p > 0.0 {
                            last = i;
                        }
                        i += 1;
                    }
                }
            }
        }
        res
    };
    let parts: Vec<Vec<usize>> = if par {
        ranges.par_iter().map(scan).collect()
    } else {
        ranges.iter().map(scan).collect()
    };
    Some(parts.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn never_picks_zero_probability_and_is_thread_independent() {
        let mut p = vec![0.0; 3 * SAMPLE_BLOCK + 5];
        p[7] = 0.25;
        p[SAMPLE_BLOCK + 3] = 0.5;
        p[3 * SAMPLE_BLOCK + 4] = 0.25;
        let u: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        let a = sample_sorted(&p, |x| *x, &u, true).unwrap();
        let b = sample_sorted(&p, |x| *x, &u, false).unwrap();
        assert_eq!(a, b);
        assert!(a.iter().all(|&i| p[i] > 0.0));
        assert_eq!(a.iter().filter(|&&i| i == 7).count(), 250);
        assert_eq!(a.iter().filter(|&&i| i == SAMPLE_BLOCK + 3).count(), 500);
        assert!(sample_sorted(&[0.0f64; 4], |x| *x, &u, false).is_none());
    }
}
