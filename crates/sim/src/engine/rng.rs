//! The random numbers: one ChaCha8 stream per shot, addressed by position (see the module
//! documentation of [`crate::engine`]).

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Slot of a measurement's outcome (and of a reset's, and of a gate's noise channel).
pub(crate) const SLOT_OUTCOME: u64 = 0;
/// Slot of a measurement's readout error.
pub(crate) const SLOT_READOUT: u64 = 1;
/// Slot of the noise channel applied just before a measurement or just after a reset.
pub(crate) const SLOT_MEASURE_NOISE: u64 = 2;

/// The ChaCha8 key for `seed`: its 8 little-endian bytes followed by 24 zero bytes.
pub(crate) fn key(seed: u64) -> [u8; 32] {
    let mut k = [0u8; 32];
    for (d, s) in k.iter_mut().zip(seed.to_le_bytes()) {
        *d = s;
    }
    k
}

/// The uniform number in `[0, 1)` that shot `shot` uses at random site `site`, slot `slot`:
/// the 64-bit word at 32-bit word position `8·site + 2·slot` of ChaCha8 stream `shot`, top 53
/// bits, times `2^-53`.
pub(crate) fn uniform(key: &[u8; 32], shot: u64, site: u64, slot: u64) -> f64 {
    let mut r = ChaCha8Rng::from_seed(*key);
    r.set_stream(shot);
    r.set_word_pos(u128::from(site) * 8 + u128::from(slot) * 2);
    (r.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}
