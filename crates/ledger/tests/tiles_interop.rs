//! Interop with another implementation of tiled logs: Cloudflare's `tlog_tiles` (azul, a port of
//! Go's golang.org/x/mod/sumdb/tlog). Its tiles carry a height in the path (`tile/8/L/N`, and
//! `tile/8/data/N` for entries, the sumdb layout); C2SP drops it (`tile/L/N`, `tile/entries/N`).
//! Otherwise the two must agree on every path, on which tiles a tree has, on every tile's bytes,
//! and on every root hash and proof, including proofs it computes from tiles we wrote.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use qwarden_ledger::merkle::{self, CompactRange, Hash, HashSource, MerkleError};
use qwarden_ledger::tiles::{
    TileHashes, TileId, encode_tile, entry_bundles_for_size, hashes_for_tile, tiles_for_size,
    tiles_touched,
};
use tlog_tiles as theirs;

const H: u8 = 8;

fn their_tile(t: &TileId) -> theirs::Tile {
    theirs::Tile::new(H, t.level, t.index, u32::from(t.width), false)
}

fn our_tile(t: &theirs::Tile) -> TileId {
    assert_eq!(t.height(), H);
    TileId::new(
        t.level(),
        t.level_index(),
        u16::try_from(t.width()).unwrap(),
    )
    .unwrap()
}

/// Their sumdb path with the height removed, as C2SP writes it.
fn c2sp_path(t: &theirs::Tile) -> String {
    let path = t.path();
    let rest = path.strip_prefix("tile/8/").unwrap();
    match rest.strip_prefix("data/") {
        Some(n) => format!("tile/entries/{n}"),
        None => format!("tile/{rest}"),
    }
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[test]
fn paths_agree() {
    let mut rng = Rng(10);
    let mut ids = vec![
        TileId {
            level: 0,
            index: 1_234_067,
            width: 256,
        },
        TileId {
            level: 0,
            index: 0,
            width: 1,
        },
        TileId {
            level: 63,
            index: 999,
            width: 255,
        },
        TileId {
            level: 5,
            index: u64::MAX,
            width: 256,
        },
    ];
    for _ in 0..5000 {
        let level = rng.range(0, 63) as u8;
        let index = rng.next() >> rng.range(0, 63);
        let width = if rng.range(0, 1) == 0 {
            256
        } else {
            rng.range(1, 255) as u16
        };
        ids.push(TileId {
            level,
            index,
            width,
        });
    }
    for id in ids {
        let t = their_tile(&id);
        assert_eq!(id.path(), c2sp_path(&t));
        // Their parser reads our path (with the height put back) as the same tile, and ours reads
        // theirs.
        let sumdb = id.path().replacen("tile/", "tile/8/", 1);
        assert_eq!(theirs::Tile::from_path(&sumdb).unwrap(), t);
        assert_eq!(TileId::parse_path(&c2sp_path(&t)).unwrap(), id);
        let mut data = t;
        data.set_is_data();
        let bundle = TileId { level: 0, ..id };
        assert_eq!(bundle.entries_path(), c2sp_path(&data));
        assert_eq!(
            TileId::parse_entries_path(&c2sp_path(&data)).unwrap(),
            bundle
        );
    }
}

#[test]
fn the_tiles_a_tree_has_agree() {
    let mut rng = Rng(11);
    let mut pairs: Vec<(u64, u64)> = vec![
        (0, 70_000),
        (0, 16_777_216 + 5),
        (49_516_517, 49_516_586),
        (1023, 1025),
        // tlog_tiles 0.2.0 `Tile::new_tiles` shifts by 64 (and panics) for sizes of 2^56 and
        // more, so the comparison stops below that.
        ((1 << 56) - 1000, (1 << 56) - 1),
    ];
    for new in 0..=1000u64 {
        pairs.push((0, new));
        pairs.push((rng.range(0, new), new));
    }
    for _ in 0..2000 {
        let new = rng.next() >> rng.range(8, 63);
        // Appends of up to a few million entries, so the tile lists stay small.
        let old = new.saturating_sub(rng.next() >> rng.range(42, 63));
        pairs.push((old, new));
    }
    for (old, new) in pairs {
        let want: Vec<TileId> = theirs::Tile::new_tiles(H, old, new)
            .iter()
            .map(our_tile)
            .collect();
        assert_eq!(tiles_touched(old, new), want, "{old} -> {new}");
        if old == 0 && new < 20_000_000 {
            assert_eq!(tiles_for_size(new), want);
            let bundles: Vec<TileId> = want.into_iter().filter(|t| t.level == 0).collect();
            assert_eq!(entry_bundles_for_size(new), bundles);
        }
    }
}

/// The subtree hashes at tile levels (tree levels 0, 8, 16, …) made by appending.
#[derive(Default)]
struct Upper(HashMap<(u32, u64), Hash>);

impl HashSource for Upper {
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        self.0
            .get(&(level, index))
            .copied()
            .ok_or(MerkleError::Source {
                level,
                index,
                reason: "not made".into(),
            })
    }
}

/// Their hash storage: every stored hash of the tree, in their stored-hash order.
struct Storage(Vec<theirs::Hash>);

impl theirs::HashReader for Storage {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<theirs::Hash>, theirs::Error> {
        indexes
            .iter()
            .map(|i| {
                self.0
                    .get(*i as usize)
                    .copied()
                    .ok_or(theirs::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// Their tile reader over the tiles we wrote.
struct OurTiles<'a>(&'a HashMap<TileId, Vec<u8>>);

impl theirs::TileReader for OurTiles<'_> {
    fn height(&self) -> u8 {
        H
    }

    fn read_tiles(&self, tiles: &[theirs::Tile]) -> Result<Vec<Vec<u8>>, theirs::Error> {
        tiles
            .iter()
            .map(|t| {
                self.0
                    .get(&our_tile(t))
                    .cloned()
                    .ok_or(theirs::Error::InvalidTile)
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[theirs::Tile], _data: &[Vec<u8>]) {}
}

fn ours(h: &theirs::Hash) -> Hash {
    h.0
}

fn theirs_hash(h: &Hash) -> theirs::Hash {
    theirs::Hash(*h)
}

#[test]
fn tiles_roots_and_proofs_agree() {
    let mut rng = Rng(12);
    let mut sizes = vec![1u64, 255, 256, 257, 65_536, 65_537, 70_000];
    sizes.extend((0..3).map(|_| rng.range(1, 70_000)));
    for size in sizes {
        let entries: Vec<Vec<u8>> = (0..size)
            .map(|i| format!("event {i} of {size}").into_bytes())
            .collect();

        // Theirs: stored hashes, appended record by record.
        let mut storage = Storage(Vec::new());
        for (n, e) in entries.iter().enumerate() {
            let new = theirs::stored_hashes(n as u64, e, &storage).unwrap();
            storage.0.extend(new);
        }
        // Ours: the leaves, the right edge, and the tiles.
        let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        let mut range = CompactRange::new();
        let mut upper = Upper::default();
        for l in &leaves {
            for st in range.append(*l) {
                if st.level % 8 == 0 {
                    upper.0.insert((st.level, st.index), st.hash);
                }
            }
        }
        let root = range.root();
        assert_eq!(
            ours(&theirs::tree_hash(size, &storage).unwrap()),
            root,
            "size {size}"
        );
        assert_eq!(ours(&theirs::record_hash(&entries[0])), leaves[0]);

        let mut store = HashMap::new();
        for t in tiles_for_size(size) {
            // Level 0 from the leaves themselves, upper levels from the subtrees the appends made.
            let hashes = if t.level == 0 {
                hashes_for_tile(&t, &leaves[..]).unwrap()
            } else {
                hashes_for_tile(&t, &upper).unwrap()
            };
            let bytes = encode_tile(&hashes);
            assert_eq!(
                bytes,
                their_tile(&t).read_data(&storage).unwrap(),
                "tile {t} of {size}"
            );
            store.insert(t, bytes);
        }

        // Proofs: theirs from their storage, ours through our tiles; and each side checks the
        // other's.
        let via = TileHashes::new(&store, size);
        let their_reader = OurTiles(&store);
        let their_tiles = theirs::TileHashReader::new(size, theirs_hash(&root), &their_reader);
        for _ in 0..8 {
            let index = rng.range(0, size - 1);
            let mine = merkle::inclusion_proof(&via, index, size).unwrap();
            let theirs_p: Vec<Hash> = theirs::prove_record(size, index, &storage)
                .unwrap()
                .iter()
                .map(ours)
                .collect();
            assert_eq!(mine, theirs_p, "inclusion of {index} in {size}");
            let from_tiles: Vec<Hash> = theirs::prove_record(size, index, &their_tiles)
                .unwrap()
                .iter()
                .map(ours)
                .collect();
            assert_eq!(
                mine, from_tiles,
                "inclusion of {index} in {size}, their reader on our tiles"
            );
            let as_theirs: Vec<theirs::Hash> = mine.iter().map(theirs_hash).collect();
            theirs::check_record(
                &as_theirs,
                size,
                theirs_hash(&root),
                index,
                theirs_hash(&leaves[index as usize]),
            )
            .unwrap();
            merkle::verify_inclusion(&leaves[index as usize], index, size, &theirs_p, &root)
                .unwrap();

            let old = rng.range(1, size);
            let old_root = merkle::tree_hash(&via, old).unwrap();
            assert_eq!(ours(&theirs::tree_hash(old, &storage).unwrap()), old_root);
            assert_eq!(
                ours(&theirs::tree_hash(old, &their_tiles).unwrap()),
                old_root
            );
            let mine = merkle::consistency_proof(&via, old, size).unwrap();
            let theirs_p: Vec<Hash> = theirs::prove_tree(size, old, &storage)
                .unwrap()
                .iter()
                .map(ours)
                .collect();
            assert_eq!(mine, theirs_p, "consistency {old} -> {size}");
            let from_tiles: Vec<Hash> = theirs::prove_tree(size, old, &their_tiles)
                .unwrap()
                .iter()
                .map(ours)
                .collect();
            assert_eq!(
                mine, from_tiles,
                "consistency {old} -> {size}, their reader on our tiles"
            );
            let as_theirs: Vec<theirs::Hash> = mine.iter().map(theirs_hash).collect();
            theirs::check_tree(
                &as_theirs,
                size,
                theirs_hash(&root),
                old,
                theirs_hash(&old_root),
            )
            .unwrap();
            merkle::verify_consistency(old, size, &old_root, &root, &theirs_p).unwrap();
        }
    }
}

#[test]
fn their_reader_refuses_our_tiles_when_one_is_tampered() {
    // Their TileHashReader authenticates tiles against the root; a flipped bit in a tile we wrote
    // must be caught there too.
    let size = 1000u64;
    let leaves: Vec<Hash> = (0..size)
        .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
        .collect();
    let mut store = HashMap::new();
    for t in tiles_for_size(size) {
        store.insert(t, encode_tile(&hashes_for_tile(&t, &leaves[..]).unwrap()));
    }
    let root = merkle::tree_hash(&leaves[..], size).unwrap();
    store
        .get_mut(&TileId {
            level: 1,
            index: 0,
            width: 3,
        })
        .unwrap()[5] ^= 1;
    let reader = OurTiles(&store);
    let their_tiles = theirs::TileHashReader::new(size, theirs_hash(&root), &reader);
    assert!(theirs::prove_record(size, 10, &their_tiles).is_err());
}
