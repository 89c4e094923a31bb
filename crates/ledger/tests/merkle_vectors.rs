//! RFC 6962 test vectors for `merkle`: the eight standard leaves of the Certificate Transparency
//! test suites, their node and root hashes, inclusion and consistency proofs, and the corrupted
//! proofs a verifier must refuse.
//!
//! Sources (Apache-2.0), the Go Merkle package that grew out of certificate-transparency-go:
//! - transparency-dev/merkle `testonly/constants.go`: `LeafInputs`, `NodeHashes`, `RootHashes`;
//! - transparency-dev/merkle `proof/verify_test.go`: `inclusionProofs`, `consistencyProofs`
//!   (1-based leaf numbers there), the corruption probes and the edge cases of `TestVerifyConsistency`;
//! - transparency-dev/merkle `proof/proof_test.go`: which nodes make up a proof (`TestInclusion`,
//!   `TestConsistency`), checked here with the node hashes above for trees of up to 8 leaves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qwarden_ledger::merkle::{
    self, CompactRange, Hash, HashSource, MerkleError, consistency_proof, empty_root,
    inclusion_proof, leaf_hash, node_hash, tree_hash, verify_consistency, verify_inclusion,
};

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// `LeafInputs()`.
fn leaf_inputs() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| hex::decode(s).unwrap())
    .collect()
}

fn leaves() -> Vec<Hash> {
    leaf_inputs().iter().map(|d| leaf_hash(d)).collect()
}

/// `NodeHashes()`: `[level][index]`.
fn node_hashes() -> Vec<Vec<Hash>> {
    vec![
        vec![
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
            h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
        ],
        vec![
            h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        ],
        vec![
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
        vec![h(
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        )],
    ]
}

/// `RootHashes()`: the root of the tree of the first `n` leaves, `n` from 0 to 8.
fn roots() -> Vec<Hash> {
    [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    .iter()
    .map(|s| h(s))
    .collect()
}

/// `inclusionProofs` of verify_test.go as (leaf index from 0, tree size, proof).
fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (0, 1, vec![]),
        (
            0,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            5,
            8,
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            3,
            vec![h(
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            )],
        ),
        (
            1,
            5,
            vec![
                h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
    ]
}

/// `consistencyProofs` of verify_test.go as (old size, new size, proof).
fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            5,
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
        (
            6,
            7,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
    ]
}

/// `sha256SomeHash` of verify_test.go.
fn some_hash() -> Hash {
    h("abacaba000000000000000000000000000000000000000000060061e00123456")
}

#[test]
fn leaf_node_and_root_hashes() {
    let leaves = leaves();
    let nodes = node_hashes();
    assert_eq!(leaves, nodes[0]);
    assert_eq!(empty_root(), roots()[0]);
    for (size, want) in roots().iter().enumerate() {
        assert_eq!(
            tree_hash(&leaves[..], size as u64).unwrap(),
            *want,
            "size {size}"
        );
    }
    for (level, row) in nodes.iter().enumerate() {
        for (index, want) in row.iter().enumerate() {
            assert_eq!(
                leaves[..].subtree(level as u32, index as u64).unwrap(),
                *want,
                "({level}, {index})"
            );
        }
    }
    // Interior nodes are node_hash of their children.
    for level in 1..nodes.len() {
        for (index, want) in nodes[level].iter().enumerate() {
            assert_eq!(
                node_hash(
                    &nodes[level - 1][2 * index],
                    &nodes[level - 1][2 * index + 1]
                ),
                *want
            );
        }
    }
}

#[test]
fn compact_ranges_give_the_roots_and_the_node_hashes() {
    let nodes = node_hashes();
    let mut range = CompactRange::new();
    assert_eq!(range.root(), roots()[0]);
    for (i, leaf) in leaves().into_iter().enumerate() {
        for st in range.append(leaf) {
            assert_eq!(st.hash, nodes[st.level as usize][st.index as usize]);
        }
        assert_eq!(range.root(), roots()[i + 1], "size {}", i + 1);
    }
}

#[test]
fn inclusion_proofs_match_the_vectors_and_verify() {
    let leaves = leaves();
    let roots = roots();
    for (index, size, proof) in inclusion_vectors() {
        assert_eq!(
            inclusion_proof(&leaves[..], index, size).unwrap(),
            proof,
            "{index} in {size}"
        );
        let root = roots[size as usize];
        let leaf = leaves[index as usize];
        verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
        for (desc, probe) in corrupt_inclusion(index, size, &proof, &root, &leaf) {
            assert!(
                verify_inclusion(
                    &probe.leaf,
                    probe.index,
                    probe.size,
                    &probe.proof,
                    &probe.root
                )
                .is_err(),
                "{index} in {size}: accepted {desc}"
            );
        }
    }
}

#[test]
fn consistency_proofs_match_the_vectors_and_verify() {
    let leaves = leaves();
    let roots = roots();
    for (old, new, proof) in consistency_vectors() {
        assert_eq!(
            consistency_proof(&leaves[..], old, new).unwrap(),
            proof,
            "{old} -> {new}"
        );
        let (r1, r2) = (roots[old as usize], roots[new as usize]);
        verify_consistency(old, new, &r1, &r2, &proof).unwrap();
        if proof.is_empty() {
            continue;
        }
        for (desc, p) in corrupt_consistency(old, new, &r1, &r2, &proof) {
            assert!(
                verify_consistency(p.old, p.new, &p.r1, &p.r2, &p.proof).is_err(),
                "{old} -> {new}: accepted {desc}"
            );
        }
    }
}

#[test]
fn every_proof_between_the_eight_leaves_verifies() {
    let leaves = leaves();
    let roots = roots();
    for size in 1..=8u64 {
        for index in 0..size {
            let proof = inclusion_proof(&leaves[..], index, size).unwrap();
            verify_inclusion(
                &leaves[index as usize],
                index,
                size,
                &proof,
                &roots[size as usize],
            )
            .unwrap();
        }
        for old in 0..=size {
            let proof = consistency_proof(&leaves[..], old, size).unwrap();
            verify_consistency(
                old,
                size,
                &roots[old as usize],
                &roots[size as usize],
                &proof,
            )
            .unwrap();
        }
    }
}

/// The node hash at (level, index), as proof_test.go names nodes.
fn n(level: usize, index: usize) -> Hash {
    node_hashes()[level][index]
}

#[test]
fn proofs_are_made_of_the_nodes_proof_test_names() {
    // In proof_test.go's tree of 7 leaves, l = hash(i, j) with i = (1, 2) and j = (0, 6).
    let l = node_hash(&n(1, 2), &n(0, 6));
    let leaves = leaves();
    let inclusion: &[(u64, u64, Vec<Hash>)] = &[
        (2, 0, vec![n(0, 1)]),
        (2, 1, vec![n(0, 0)]),
        (3, 1, vec![n(0, 0), n(0, 2)]),
        (7, 0, vec![n(0, 1), n(1, 1), l]),
        (7, 1, vec![n(0, 0), n(1, 1), l]),
        (7, 2, vec![n(0, 3), n(1, 0), l]),
        (7, 3, vec![n(0, 2), n(1, 0), l]),
        (7, 4, vec![n(0, 5), n(0, 6), n(2, 0)]),
        (7, 5, vec![n(0, 4), n(0, 6), n(2, 0)]),
        (7, 6, vec![n(1, 2), n(2, 0)]),
        (4, 2, vec![n(0, 3), n(1, 0)]),
        (5, 3, vec![n(0, 2), n(1, 0), n(0, 4)]),
        (6, 3, vec![n(0, 2), n(1, 0), n(1, 2)]),
        (6, 4, vec![n(0, 5), n(2, 0)]),
    ];
    for (size, index, want) in inclusion {
        assert_eq!(
            &inclusion_proof(&leaves[..], *index, *size).unwrap(),
            want,
            "{index} in {size}"
        );
    }
    let consistency: &[(u64, u64, Vec<Hash>)] = &[
        (1, 2, vec![n(0, 1)]),
        (1, 4, vec![n(0, 1), n(1, 1)]),
        (1, 6, vec![n(0, 1), n(1, 1), n(1, 2)]),
        (2, 3, vec![n(0, 2)]),
        (2, 8, vec![n(1, 1), n(2, 1)]),
        (3, 7, vec![n(0, 2), n(0, 3), n(1, 0), l]),
        (4, 7, vec![l]),
        (5, 7, vec![n(0, 4), n(0, 5), n(0, 6), n(2, 0)]),
        (6, 7, vec![n(1, 2), n(0, 6), n(2, 0)]),
        (7, 8, vec![n(0, 6), n(0, 7), n(1, 2), n(2, 0)]),
        (2, 4, vec![n(1, 1)]),
        (3, 5, vec![n(0, 2), n(0, 3), n(1, 0), n(0, 4)]),
        (3, 6, vec![n(0, 2), n(0, 3), n(1, 0), n(1, 2)]),
        (4, 6, vec![n(1, 2)]),
        (1, 7, vec![n(0, 1), n(1, 1), l]),
    ];
    for (old, new, want) in consistency {
        assert_eq!(
            &consistency_proof(&leaves[..], *old, *new).unwrap(),
            want,
            "{old} -> {new}"
        );
    }
    for same in [1u64, 2, 3, 4, 5, 7, 8] {
        assert!(
            consistency_proof(&leaves[..], same, same)
                .unwrap()
                .is_empty()
        );
    }
    // proof_test.go's error cases.
    for (size, index) in [(0u64, 0u64), (0, 1), (1, 2), (0, 3), (7, 8)] {
        assert_eq!(
            inclusion_proof(&leaves[..], index, size),
            Err(MerkleError::OutOfRange { index, size })
        );
    }
    for (old, new) in [(5u64, 0u64), (9, 8)] {
        assert!(consistency_proof(&leaves[..], old, new).is_err());
    }
}

#[test]
fn consistency_edge_cases_of_verify_test() {
    // TestVerifyConsistency: sizes that are always consistent, time travel, empty proofs, and
    // roots that must match.
    let r1 = h("0101010101010101010101010101010101010101010101010101010101010101");
    let r2 = h("0202020202020202020202020202020202020202020202020202020202020202");
    let empty = roots()[0];
    let e = vec![empty];
    /// (old size, new size, old root, new root, proof, whether it must fail)
    type Case<'a> = (u64, u64, Hash, Hash, &'a [Hash], bool);
    let cases: &[Case] = &[
        (0, 0, r1, r2, &[], true),
        (1, 1, r1, r2, &[], true),
        (0, 0, r1, r1, &[], false),
        (0, 1, r1, r2, &[], false),
        (1, 1, r2, r2, &[], false),
        (1, 0, r1, r2, &[], true),
        (2, 1, r1, r2, &[], true),
        (1, 2, r1, r2, &[], true),
        (0, 0, empty, r2, &[], true),
        (1, 1, empty, r2, &[], true),
        (0, 0, empty, empty, &e, true),
        (0, 1, empty, empty, &e, true),
        (1, 1, empty, empty, &e, true),
    ];
    for (old, new, a, b, proof, want_err) in cases {
        let got = verify_consistency(*old, *new, a, b, proof);
        assert_eq!(got.is_err(), *want_err, "{old} -> {new}: {got:?}");
    }
}

#[test]
fn inclusion_edge_cases_of_verify_test() {
    // TestVerifyInclusion's probes: no leaf is in an empty tree, and a wrong root never verifies.
    for (index, size) in [(0u64, 0u64), (0, 1), (1, 0), (2, 1)] {
        assert!(verify_inclusion(&some_hash(), index, size, &[], &empty_root()).is_err());
    }
    // TestVerifyInclusionSingleEntry: in a tree of one leaf, the root is the leaf hash.
    let leaf = leaf_hash(b"data");
    verify_inclusion(&leaf, 0, 1, &[], &leaf).unwrap();
    assert_eq!(
        verify_inclusion(&leaf, 0, 1, &[], &empty_root()),
        Err(MerkleError::Mismatch)
    );
}

struct InclusionProbe {
    index: u64,
    size: u64,
    leaf: Hash,
    root: Hash,
    proof: Vec<Hash>,
}

/// `corruptInclusionProof` of verify_test.go (hashes of other lengths cannot be expressed here).
fn corrupt_inclusion(
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
    leaf: &Hash,
) -> Vec<(String, InclusionProbe)> {
    let p = |index: u64, size: u64, leaf: Hash, root: Hash, proof: Vec<Hash>| InclusionProbe {
        index,
        size,
        leaf,
        root,
        proof,
    };
    let mut out = vec![
        (
            "index - 1".to_owned(),
            p(index.wrapping_sub(1), size, *leaf, *root, proof.to_vec()),
        ),
        (
            "index + 1".to_owned(),
            p(index + 1, size, *leaf, *root, proof.to_vec()),
        ),
        (
            "index ^ 2".to_owned(),
            p(index ^ 2, size, *leaf, *root, proof.to_vec()),
        ),
        (
            "size * 2".to_owned(),
            p(index, size * 2, *leaf, *root, proof.to_vec()),
        ),
        (
            "size / 2".to_owned(),
            p(index, size / 2, *leaf, *root, proof.to_vec()),
        ),
        (
            "wrong leaf".to_owned(),
            p(index, size, leaf_hash(b"WrongLeaf"), *root, proof.to_vec()),
        ),
        (
            "empty root".to_owned(),
            p(index, size, *leaf, empty_root(), proof.to_vec()),
        ),
        (
            "random root".to_owned(),
            p(index, size, *leaf, some_hash(), proof.to_vec()),
        ),
        (
            "trailing root".to_owned(),
            p(index, size, *leaf, *root, [proof, &[*root]].concat()),
        ),
        (
            "preceding root".to_owned(),
            p(index, size, *leaf, *root, [&[*root], proof].concat()),
        ),
    ];
    for i in 0..proof.len() {
        let mut wrong = proof.to_vec();
        wrong[i][0] ^= 8;
        out.push((
            format!("modified proof[{i}] bit 3"),
            p(index, size, *leaf, *root, wrong),
        ));
    }
    if let Some((_, shorter)) = proof.split_last() {
        out.push((
            "removed component".to_owned(),
            p(index, size, *leaf, *root, shorter.to_vec()),
        ));
    }
    if proof.len() > 1 {
        let wrong = [&[proof[0], some_hash()], &proof[1..]].concat();
        out.push((
            "inserted component".to_owned(),
            p(index, size, *leaf, *root, wrong),
        ));
    }
    out
}

struct ConsistencyProbe {
    old: u64,
    new: u64,
    r1: Hash,
    r2: Hash,
    proof: Vec<Hash>,
}

/// `corruptConsistencyProof` of verify_test.go.
fn corrupt_consistency(
    old: u64,
    new: u64,
    r1: &Hash,
    r2: &Hash,
    proof: &[Hash],
) -> Vec<(String, ConsistencyProbe)> {
    let p = |old: u64, new: u64, r1: Hash, r2: Hash, proof: Vec<Hash>| ConsistencyProbe {
        old,
        new,
        r1,
        r2,
        proof,
    };
    let wrong = leaf_hash(b"WrongRoot");
    let mut out = vec![
        (
            "size1 - 1".to_owned(),
            p(old - 1, new, *r1, *r2, proof.to_vec()),
        ),
        (
            "size1 + 1".to_owned(),
            p(old + 1, new, *r1, *r2, proof.to_vec()),
        ),
        (
            "size1 ^ 2".to_owned(),
            p(old ^ 2, new, *r1, *r2, proof.to_vec()),
        ),
        (
            "size2 * 2".to_owned(),
            p(old, new * 2, *r1, *r2, proof.to_vec()),
        ),
        (
            "size2 / 2".to_owned(),
            p(old, new / 2, *r1, *r2, proof.to_vec()),
        ),
        (
            "wrong root1".to_owned(),
            p(old, new, wrong, *r2, proof.to_vec()),
        ),
        (
            "wrong root2".to_owned(),
            p(old, new, *r1, wrong, proof.to_vec()),
        ),
        (
            "swapped roots".to_owned(),
            p(old, new, *r2, *r1, proof.to_vec()),
        ),
        ("empty proof".to_owned(), p(old, new, *r1, *r2, vec![])),
        (
            "trailing root1".to_owned(),
            p(old, new, *r1, *r2, [proof, &[*r1]].concat()),
        ),
        (
            "trailing root2".to_owned(),
            p(old, new, *r1, *r2, [proof, &[*r2]].concat()),
        ),
        (
            "preceding root1".to_owned(),
            p(old, new, *r1, *r2, [&[*r1], proof].concat()),
        ),
        (
            "preceding root2".to_owned(),
            p(old, new, *r1, *r2, [&[*r2], proof].concat()),
        ),
        (
            "preceding proof[0]".to_owned(),
            p(old, new, *r1, *r2, [&[proof[0]], proof].concat()),
        ),
    ];
    if let Some((_, shorter)) = proof.split_last() {
        out.push((
            "truncated proof".to_owned(),
            p(old, new, *r1, *r2, shorter.to_vec()),
        ));
    }
    for i in 0..proof.len() {
        let mut wrong = proof.to_vec();
        wrong[i][0] ^= 16;
        out.push((
            format!("modified proof[{i}] bit 4"),
            p(old, new, *r1, *r2, wrong),
        ));
    }
    out
}

#[test]
fn proofs_from_larger_trees_verify_and_corruptions_fail() {
    // The same probes over every pair in a tree of 70 leaves.
    let leaves: Vec<Hash> = (0..70u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    for size in 1..=70u64 {
        let root = tree_hash(&leaves[..], size).unwrap();
        for index in (0..size).step_by(7) {
            let proof = inclusion_proof(&leaves[..], index, size).unwrap();
            for (desc, probe) in
                corrupt_inclusion(index, size, &proof, &root, &leaves[index as usize])
            {
                assert!(
                    verify_inclusion(
                        &probe.leaf,
                        probe.index,
                        probe.size,
                        &probe.proof,
                        &probe.root
                    )
                    .is_err(),
                    "{index} in {size}: accepted {desc}"
                );
            }
        }
        for old in (1..size).step_by(5) {
            let old_root = tree_hash(&leaves[..], old).unwrap();
            let proof = consistency_proof(&leaves[..], old, size).unwrap();
            verify_consistency(old, size, &old_root, &root, &proof).unwrap();
            for (desc, p) in corrupt_consistency(old, size, &old_root, &root, &proof) {
                assert!(
                    verify_consistency(p.old, p.new, &p.r1, &p.r2, &p.proof).is_err(),
                    "{old} -> {size}: accepted {desc}"
                );
            }
        }
    }
    let _ = merkle::empty_root();
}
