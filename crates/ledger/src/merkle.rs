//! RFC 6962 (RFC 9162 §2.1) Merkle tree hashing, proofs and their verification.
//!
//! The tree is never held in memory. Proof generation reads the hashes of complete subtrees from a
//! [`HashSource`] (the tiles on disk, or a vector in tests); appending keeps only the right edge of
//! the tree in a [`CompactRange`].

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Why a proof did not verify, or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// An index or size outside the tree.
    #[error("index {index} is outside a tree of size {size}")]
    OutOfRange {
        /// The index or first size asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The proof has the wrong number of hashes for the sizes involved.
    #[error("the proof has the wrong number of hashes")]
    ProofLength,
    /// The proof does not lead to the expected root.
    #[error("the proof does not lead to the expected root hash")]
    Mismatch,
    /// A stored hash could not be read.
    #[error("cannot read the hash of subtree (level {level}, index {index}): {reason}")]
    Source {
        /// The subtree level (a subtree of level L covers 2^L leaves).
        level: u32,
        /// The subtree's index at that level.
        index: u64,
        /// What went wrong.
        reason: String,
    },
}

/// The hash of a leaf holding `data`: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Where proof generation reads stored hashes from.
pub trait HashSource {
    /// The hash of the complete subtree of `2^level` leaves starting at leaf `index << level`.
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, MerkleError>;
}

/// Leaf hashes in memory, for tests and small trees.
impl HashSource for [Hash] {
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        let err = |reason: &str| MerkleError::Source {
            level,
            index,
            reason: reason.to_owned(),
        };
        let width = 1u64
            .checked_shl(level)
            .ok_or_else(|| err("level too high"))?;
        let start = index
            .checked_mul(width)
            .ok_or_else(|| err("index too high"))?;
        let end = start
            .checked_add(width)
            .ok_or_else(|| err("index too high"))?;
        if end > self.len() as u64 {
            return Err(err("beyond the stored leaves"));
        }
        Ok(fold(self, start as usize, end as usize))
    }
}

/// MTH over `leaves[start..end]` computed from scratch.
fn fold(leaves: &[Hash], start: usize, end: usize) -> Hash {
    match end - start {
        0 => empty_root(),
        1 => leaves.get(start).copied().unwrap_or_else(empty_root),
        n => {
            let k = split(n as u64) as usize;
            node_hash(
                &fold(leaves, start, start + k),
                &fold(leaves, start + k, end),
            )
        }
    }
}

/// The largest power of two strictly less than `n` (for `n >= 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH of the leaves `[start, end)`, where `start` is aligned as RFC 6962's recursion guarantees.
fn range_hash(src: &(impl HashSource + ?Sized), start: u64, end: u64) -> Result<Hash, MerkleError> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        return src.subtree(level, start >> level);
    }
    let k = split(n);
    Ok(node_hash(
        &range_hash(src, start, start + k)?,
        &range_hash(src, start + k, end)?,
    ))
}

/// The root hash of the first `size` leaves.
pub fn tree_hash(src: &(impl HashSource + ?Sized), size: u64) -> Result<Hash, MerkleError> {
    range_hash(src, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 `PATH`).
pub fn inclusion_proof(
    src: &(impl HashSource + ?Sized),
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, MerkleError> {
    if index >= size {
        return Err(MerkleError::OutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(src, index, 0, size, &mut proof)?;
    Ok(proof)
}

fn path(
    src: &(impl HashSource + ?Sized),
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), MerkleError> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(src, m, start, start + k, out)?;
        out.push(range_hash(src, start + k, end)?);
    } else {
        path(src, m - k, start + k, end, out)?;
        out.push(range_hash(src, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `old` and `new` leaves (RFC 6962 `PROOF`).
pub fn consistency_proof(
    src: &(impl HashSource + ?Sized),
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, MerkleError> {
    if old > new {
        return Err(MerkleError::OutOfRange {
            index: old,
            size: new,
        });
    }
    let mut proof = Vec::new();
    if old == 0 || old == new {
        return Ok(proof);
    }
    subproof(src, old, 0, new, true, &mut proof)?;
    Ok(proof)
}

fn subproof(
    src: &(impl HashSource + ?Sized),
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), MerkleError> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(range_hash(src, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, start, start + k, whole, out)?;
        out.push(range_hash(src, start + k, end)?);
    } else {
        subproof(src, m - k, start + k, end, false, out)?;
        out.push(range_hash(src, start, start + k)?);
    }
    Ok(())
}

/// Checks that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves with `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::OutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(MerkleError::ProofLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::ProofLength);
    }
    if r != *root {
        return Err(MerkleError::Mismatch);
    }
    Ok(())
}

/// Checks that the tree of `new` leaves with `new_root` extends the tree of `old` leaves with
/// `old_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    if old > new {
        return Err(MerkleError::OutOfRange {
            index: old,
            size: new,
        });
    }
    // Equal sizes first: two trees of the same size, even 0, are consistent only if equal.
    if old == new {
        if !proof.is_empty() {
            return Err(MerkleError::ProofLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(MerkleError::Mismatch)
        };
    }
    if old == 0 {
        // Every tree extends the empty tree.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(MerkleError::ProofLength)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(MerkleError::ProofLength);
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(MerkleError::ProofLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::ProofLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(MerkleError::Mismatch);
    }
    Ok(())
}

/// A complete subtree produced by an append: the hash of leaves `[index << level, (index+1) << level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subtree {
    /// Its level (it covers `2^level` leaves).
    pub level: u32,
    /// Its index at that level.
    pub index: u64,
    /// Its hash.
    pub hash: Hash,
}

/// The right edge of a tree: the hashes of its maximal complete subtrees, enough to append and to
/// compute the root without reading anything else.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    /// `(level, hash)` from the leftmost (largest) subtree to the rightmost.
    peaks: Vec<(u32, Hash)>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> CompactRange {
        CompactRange::default()
    }

    /// The right edge of the tree of `size` leaves, read from `src`.
    pub fn from_source(
        src: &(impl HashSource + ?Sized),
        size: u64,
    ) -> Result<CompactRange, MerkleError> {
        let mut peaks = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                peaks.push((level, src.subtree(level, start >> level)?));
                start += 1u64 << level;
            }
        }
        Ok(CompactRange { size, peaks })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; returns every complete subtree this completes, smallest first (the leaf
    /// itself is the first).
    pub fn append(&mut self, leaf: Hash) -> Vec<Subtree> {
        let mut made = vec![Subtree {
            level: 0,
            index: self.size,
            hash: leaf,
        }];
        let mut level = 0u32;
        let mut hash = leaf;
        let mut index = self.size;
        while let Some(&(top_level, top_hash)) = self.peaks.last() {
            if top_level != level {
                break;
            }
            self.peaks.pop();
            hash = node_hash(&top_hash, &hash);
            level += 1;
            index >>= 1;
            made.push(Subtree { level, index, hash });
        }
        self.peaks.push((level, hash));
        self.size += 1;
        made
    }

    /// The root hash.
    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        let Some(&(_, mut root)) = iter.next() else {
            return empty_root();
        };
        for (_, h) in iter {
            root = node_hash(h, &root);
        }
        root
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn compact_range_agrees_with_recursion() {
        let all = leaves(70);
        let mut cr = CompactRange::new();
        for (i, l) in all.iter().enumerate() {
            cr.append(*l);
            assert_eq!(
                cr.root(),
                tree_hash(&all[..], i as u64 + 1).unwrap(),
                "size {}",
                i + 1
            );
            assert_eq!(
                CompactRange::from_source(&all[..], i as u64 + 1).unwrap(),
                cr
            );
        }
    }

    #[test]
    fn every_inclusion_and_consistency_proof_verifies() {
        let all = leaves(40);
        for size in 1..=40u64 {
            let root = tree_hash(&all[..], size).unwrap();
            for index in 0..size {
                let proof = inclusion_proof(&all[..], index, size).unwrap();
                verify_inclusion(&all[index as usize], index, size, &proof, &root).unwrap();
                let wrong = leaf_hash(b"other");
                assert_eq!(
                    verify_inclusion(&wrong, index, size, &proof, &root),
                    Err(MerkleError::Mismatch)
                );
            }
            for old in 0..=size {
                let old_root = tree_hash(&all[..], old).unwrap();
                let proof = consistency_proof(&all[..], old, size).unwrap();
                verify_consistency(old, size, &old_root, &root, &proof).unwrap();
                if old > 0 && old < size {
                    let bad = leaf_hash(b"x");
                    assert!(verify_consistency(old, size, &bad, &root, &proof).is_err());
                }
            }
        }
    }
}
