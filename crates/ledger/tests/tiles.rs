//! The C2SP tlog-tiles layout: path vectors, tile sets for tree sizes, entry bundle and hash tile
//! encodings, and proofs computed through stored tiles against proofs computed from the leaves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeSet, HashMap};

use qwarden_ledger::merkle::{self, CompactRange, Hash, HashSource, MerkleError};
use qwarden_ledger::tiles::{
    self, TileError, TileHashes, TileId, TileReader, decode_bundle, decode_tile, encode_bundle,
    encode_tile, entry_bundles_for_size, hashes_for_tile, tiles_for_size, tiles_touched,
};

/// A small deterministic generator (SplitMix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn id(level: u8, index: u64, width: u16) -> TileId {
    TileId {
        level,
        index,
        width,
    }
}

// ---------------------------------------------------------------------------------------------
// Paths

/// Valid hash-tile paths. Sources: the C2SP tlog-tiles spec example (index 1234067); Go's
/// golang.org/x/mod/sumdb/tlog `tlog_test.go` `tilePaths` (sumdb writes the height `tile/H/L/N`,
/// which C2SP drops); Let's Encrypt boulder's C2SP tile path test (level 2 cases).
const VALID_TILE_PATHS: &[(&str, TileId)] = &[
    // spec
    (
        "tile/0/x001/x234/067",
        TileId {
            level: 0,
            index: 1_234_067,
            width: 256,
        },
    ),
    // Go tilePaths, height removed
    (
        "tile/0/001",
        TileId {
            level: 0,
            index: 1,
            width: 256,
        },
    ),
    (
        "tile/0/001.p/5",
        TileId {
            level: 0,
            index: 1,
            width: 5,
        },
    ),
    (
        "tile/5/x123/x456/078",
        TileId {
            level: 5,
            index: 123_456_078,
            width: 256,
        },
    ),
    (
        "tile/5/x123/x456/078.p/2",
        TileId {
            level: 5,
            index: 123_456_078,
            width: 2,
        },
    ),
    (
        "tile/0/x003/x057/500",
        TileId {
            level: 0,
            index: 3_057_500,
            width: 256,
        },
    ),
    // boulder
    (
        "tile/2/000.p/1",
        TileId {
            level: 2,
            index: 0,
            width: 1,
        },
    ),
    (
        "tile/2/000.p/255",
        TileId {
            level: 2,
            index: 0,
            width: 255,
        },
    ),
    (
        "tile/2/000",
        TileId {
            level: 2,
            index: 0,
            width: 256,
        },
    ),
    (
        "tile/2/010",
        TileId {
            level: 2,
            index: 10,
            width: 256,
        },
    ),
    (
        "tile/2/x001/x234/067",
        TileId {
            level: 2,
            index: 1_234_067,
            width: 256,
        },
    ),
    (
        "tile/2/x001/x234/067.p/6",
        TileId {
            level: 2,
            index: 1_234_067,
            width: 6,
        },
    ),
    // edges
    (
        "tile/0/999",
        TileId {
            level: 0,
            index: 999,
            width: 256,
        },
    ),
    (
        "tile/0/x001/000",
        TileId {
            level: 0,
            index: 1000,
            width: 256,
        },
    ),
    (
        "tile/0/x072/x057/x594/x037/x927/935",
        TileId {
            level: 0,
            index: (1 << 56) - 1,
            width: 256,
        },
    ),
    (
        "tile/1/x281/x474/x976/x710/655.p/9",
        TileId {
            level: 1,
            index: (1 << 48) - 1,
            width: 9,
        },
    ),
    (
        "tile/6/255",
        TileId {
            level: 6,
            index: 255,
            width: 256,
        },
    ),
    (
        "tile/7/000.p/1",
        TileId {
            level: 7,
            index: 0,
            width: 1,
        },
    ),
    (
        "tile/63/000",
        TileId {
            level: 63,
            index: 0,
            width: 256,
        },
    ),
    (
        "tile/10/000",
        TileId {
            level: 10,
            index: 0,
            width: 256,
        },
    ),
    // The spec does not bound the index; it is a u64 here, as in Go and tlog_tiles.
    (
        "tile/6/256",
        TileId {
            level: 6,
            index: 256,
            width: 256,
        },
    ),
    (
        "tile/63/x001/000.p/7",
        TileId {
            level: 63,
            index: 1000,
            width: 7,
        },
    ),
    (
        "tile/0/x018/x446/x744/x073/x709/x551/615",
        TileId {
            level: 0,
            index: u64::MAX,
            width: 256,
        },
    ),
];

/// Valid entry-bundle paths. Sources: the spec example; boulder's test; Go's `tile/1/data/...`.
const VALID_BUNDLE_PATHS: &[(&str, TileId)] = &[
    (
        "tile/entries/000.p/1",
        TileId {
            level: 0,
            index: 0,
            width: 1,
        },
    ),
    (
        "tile/entries/000.p/255",
        TileId {
            level: 0,
            index: 0,
            width: 255,
        },
    ),
    (
        "tile/entries/000",
        TileId {
            level: 0,
            index: 0,
            width: 256,
        },
    ),
    (
        "tile/entries/010",
        TileId {
            level: 0,
            index: 10,
            width: 256,
        },
    ),
    (
        "tile/entries/x001/x234/067",
        TileId {
            level: 0,
            index: 1_234_067,
            width: 256,
        },
    ),
    (
        "tile/entries/x001/x234/067.p/6",
        TileId {
            level: 0,
            index: 1_234_067,
            width: 6,
        },
    ),
    (
        "tile/entries/x003/x057/500",
        TileId {
            level: 0,
            index: 3_057_500,
            width: 256,
        },
    ),
];

/// Paths that are not canonical tile paths, each with why.
const INVALID_TILE_PATHS: &[&str] = &[
    "tile/5/123/456/078",        // Go: groups without `x`
    "tile/-1/123/456/078",       // Go: negative level
    "tile/1/data/x003/x057/500", // sumdb's data tiles
    "tile/8/0/000",              // sumdb layout with a height
    "tile/00/000",               // level with a leading zero
    "tile/01/000",
    "tile/+1/000",
    "tile/64/000", // level past 63
    "tile/100/000",
    "tile/a/000",
    "tile//000",
    "tile/0/000.p/256", // a full tile has no suffix
    "tile/0/000.p/0",
    "tile/0/000.p/05",
    "tile/0/000.p/+5",
    "tile/0/000.p/-5",
    "tile/0/000.p/",
    "tile/0/000.p/5/",
    "tile/0/000.p/5.p/5",
    "tile/0/000.p/1000",
    "tile/0/000.q/5",
    "tile/0/00", // not three digits
    "tile/0/0",
    "tile/0/0000",
    "tile/0/+01",
    "tile/0/x000/001", // leading zero group
    "tile/0/x000/x001/000",
    "tile/0/x001",    // `x` on the last group
    "tile/0/001/234", // no `x` on the first group
    "tile/0/x001/x234",
    "tile/0/X001/234",
    "tile/0/xx01/234",
    "tile/0/x01/234",
    "tile/0/x001//234",
    "tile/0/x001/234/",
    "tile/0/",
    "tile/0",
    "tile/",
    "tile",
    "",
    "/tile/0/000",
    "tile/0/000 ",
    " tile/0/000",
    "tile/0/000\n",
    "Tile/0/000",
    "tile/0/\u{0660}\u{0660}\u{0660}", // Arabic-Indic digits
    "tile/entries/000",                // a bundle, not a hash tile
    "tile/0/x018/x446/x744/x073/x709/x551/616", // past u64::MAX
    "tile/0/x099/x999/x999/x999/x999/x999/999",
    "tile/0/x001/x000/x000/x000/x000/x000/x000/000", // eight groups
];

const INVALID_BUNDLE_PATHS: &[&str] = &[
    "tile/entries/000.p/256",
    "tile/entries/000.p/0",
    "tile/entries/0",
    "tile/entries/x000/000",
    "tile/entries/x001",
    "tile/entries/",
    "tile/entries",
    "tile/0/000",
    "tile/data/000",
    "tile/entry/000",
    "tile/entries/000/",
    "tile/entries/x018/x446/x744/x073/x709/x551/616",
];

#[test]
fn valid_tile_paths_parse_and_print_back() {
    for (path, want) in VALID_TILE_PATHS {
        assert_eq!(TileId::parse_path(path).as_ref(), Ok(want), "{path}");
        assert_eq!(want.path(), *path);
        assert_eq!(want.to_string(), *path);
        assert_eq!(
            TileId::new(want.level, want.index, want.width).as_ref(),
            Ok(want)
        );
        assert!(TileId::parse_entries_path(path).is_err(), "{path}");
    }
}

#[test]
fn valid_bundle_paths_parse_and_print_back() {
    for (path, want) in VALID_BUNDLE_PATHS {
        assert_eq!(
            TileId::parse_entries_path(path).as_ref(),
            Ok(want),
            "{path}"
        );
        assert_eq!(want.entries_path(), *path);
        assert!(TileId::parse_path(path).is_err(), "{path}");
    }
}

#[test]
fn invalid_paths_are_refused_with_a_reason() {
    for path in INVALID_TILE_PATHS {
        let err = TileId::parse_path(path).expect_err(path);
        let shown = err.to_string();
        assert!(shown.contains("is not a tile path: "), "{shown}");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }
    for path in INVALID_BUNDLE_PATHS {
        let err = TileId::parse_entries_path(path).expect_err(path);
        assert!(
            err.to_string().contains("is not an entry bundle path: "),
            "{err}"
        );
    }
}

#[test]
fn path_errors_say_what_is_wrong() {
    let reason = |p: &str| match TileId::parse_path(p) {
        Err(TileError::TilePath { reason, .. }) => reason,
        other => panic!("{p}: {other:?}"),
    };
    assert!(reason("tile/00/000").contains("level"));
    assert!(reason("tile/0/000.p/256").contains("full tile has no `.p/` suffix"));
    assert!(reason("tile/0/x000/001").contains("x001/x234/067"));
    assert!(reason("tile/entries/000").contains("level"));
    // A long hostile path is cut short in the message.
    let long = format!("tile/0/{}", "x001/".repeat(10_000));
    assert!(TileId::parse_path(&long).unwrap_err().to_string().len() < 400);
}

#[test]
fn paths_round_trip_for_random_tiles() {
    let mut rng = Rng(1);
    for _ in 0..20_000 {
        let level = rng.range(0, 63) as u8;
        let index = match rng.range(0, 3) {
            0 => rng.range(0, 2000),
            1 => u64::MAX - rng.range(0, 2000),
            _ => rng.next() >> rng.range(0, 63),
        };
        let width = if rng.range(0, 1) == 0 {
            256
        } else {
            rng.range(1, 255) as u16
        };
        let t = TileId::new(level, index, width).unwrap();
        assert_eq!(TileId::parse_path(&t.path()), Ok(t));
        let b = id(0, index, width);
        assert_eq!(TileId::parse_entries_path(&b.entries_path()), Ok(b));
    }
}

#[test]
fn tile_ids_are_checked() {
    assert!(TileId::new(0, 0, 0).is_err());
    assert!(TileId::new(0, 0, 257).is_err());
    assert!(TileId::new(64, 0, 1).is_err());
    assert!(TileId::new(63, u64::MAX, 1).is_ok());
    let e = TileId::new(0, 0, 0).unwrap_err().to_string();
    assert_eq!(
        e,
        "there is no tile at level 0, index 0, width 0: the width must be 1 to 256"
    );
    assert!(id(3, 4, 256).is_full() && !id(3, 4, 255).is_full());
    assert_eq!(TileId::full(1, 2), id(1, 2, 256));
}

// ---------------------------------------------------------------------------------------------
// Which tiles a tree has

/// The tiles of a tree of `size` leaves, computed the slow way: group the hash positions of each
/// stored level by tile and count them.
fn tiles_by_counting(size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    let mut n = size; // hashes at tree level 8L
    let mut level = 0u8;
    while n > 0 {
        let mut counts: Vec<u16> = Vec::new();
        for p in 0..n {
            let t = (p / 256) as usize;
            if counts.len() <= t {
                counts.push(0);
            }
            counts[t] += 1;
        }
        for (i, c) in counts.iter().enumerate() {
            out.push(id(level, i as u64, *c));
        }
        n /= 256;
        level += 1;
    }
    out
}

#[test]
fn tiles_for_every_size_up_to_2000_match_counting() {
    for size in 0..=2000u64 {
        let tiles = tiles_for_size(size);
        assert_eq!(tiles, tiles_by_counting(size), "size {size}");
        assert_eq!(tiles, tiles_touched(0, size));
        let bundles = entry_bundles_for_size(size);
        let level0: Vec<TileId> = tiles.iter().copied().filter(|t| t.level == 0).collect();
        assert_eq!(bundles, level0, "size {size}");
        let entries: u64 = bundles.iter().map(|t| u64::from(t.width)).sum();
        assert_eq!(entries, size);
    }
}

/// Per level: (full tiles, partial width or 0).
fn shape(size: u64) -> Vec<(u64, u16)> {
    let tiles = tiles_for_size(size);
    let levels = tiles.iter().map(|t| t.level).max().map_or(0, |l| l + 1);
    (0..levels)
        .map(|l| {
            let at: Vec<&TileId> = tiles.iter().filter(|t| t.level == l).collect();
            let full = at.iter().filter(|t| t.is_full()).count() as u64;
            let partial = at.iter().find(|t| !t.is_full()).map_or(0, |t| t.width);
            // Full tiles are numbered from 0; the partial one follows them.
            for (i, t) in at.iter().enumerate() {
                assert_eq!(t.index, i as u64);
            }
            (full, partial)
        })
        .collect()
}

#[test]
fn tiles_for_the_spec_examples_and_large_sizes() {
    // The spec: "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial
    // level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and
    // one partial level 2 tile of width 1".
    assert_eq!(shape(70_000), vec![(273, 112), (1, 17), (0, 1)]);
    // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile
    // of width 1".
    assert_eq!(shape(256), vec![(1, 0), (0, 1)]);
    assert_eq!(shape(65_536), vec![(256, 0), (1, 0), (0, 1)]);
    assert_eq!(shape(65_537), vec![(256, 1), (1, 0), (0, 1)]);
    assert_eq!(
        shape(16_777_216 + 5),
        vec![(65_536, 5), (256, 0), (1, 0), (0, 1)]
    );
    assert_eq!(
        tiles_for_size(16_777_216 + 5).len(),
        65_536 + 1 + 256 + 1 + 1
    );
    // The last full tile and the partial at level 0.
    let t = tiles_for_size(16_777_216 + 5);
    assert!(t.contains(&id(0, 65_535, 256)) && t.contains(&id(0, 65_536, 5)));
    assert!(t.contains(&id(3, 0, 1)));
    // The largest tree: seven partial levels of 255 and a top partial of 255.
    let last: Vec<TileId> = tiles_touched(u64::MAX - 1, u64::MAX);
    assert_eq!(last, vec![id(0, u64::MAX >> 8, 255)]);
    assert!(
        tiles_touched(u64::MAX - 300, u64::MAX)
            .iter()
            .all(|t| TileId::new(t.level, t.index, t.width).is_ok())
    );
}

#[test]
fn tiles_touched_is_what_the_new_tree_has_and_the_old_does_not() {
    let check = |old: u64, new: u64| {
        let touched = tiles_touched(old, new);
        let before: BTreeSet<TileId> = tiles_for_size(old).into_iter().collect();
        let want: Vec<TileId> = tiles_for_size(new)
            .into_iter()
            .filter(|t| !before.contains(t))
            .collect();
        assert_eq!(touched, want, "{old} -> {new}");
    };
    for new in 0..=600u64 {
        for old in 0..=new {
            check(old, new);
        }
    }
    let mut rng = Rng(2);
    for _ in 0..300 {
        let new = rng.range(0, 300_000);
        let old = rng.range(0, new);
        check(old, new);
        check(new.saturating_sub(rng.range(0, 3)), new);
    }
    // The sizes of Go's TestNewTilesForSize case 49516517 -> 49516586 (which uses height 10),
    // here at height 8: tile 0/193423 completes, and the level-0 and level-1 partials change
    // (49516586 = 193424·256 + 42, 193424 = 755·256 + 144); level 2 (755 hashes) is unchanged.
    assert_eq!(
        tiles_touched(49_516_517, 49_516_586),
        vec![id(0, 193_423, 256), id(0, 193_424, 42), id(1, 755, 144)],
    );
    assert!(tiles_touched(10, 10).is_empty());
    assert!(tiles_touched(11, 10).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Entry bundles

#[test]
fn bundles_round_trip() {
    let mut rng = Rng(3);
    for _ in 0..500 {
        let count = rng.range(1, 256) as usize;
        let entries: Vec<Vec<u8>> = (0..count)
            .map(|_| {
                let len = match rng.range(0, 9) {
                    0 => 0,
                    1 => 65_535,
                    _ => rng.range(0, 300) as usize,
                };
                (0..len).map(|_| rng.next() as u8).collect()
            })
            .collect();
        let bytes = encode_bundle(&entries).unwrap();
        assert_eq!(
            bytes.len(),
            entries.iter().map(|e| e.len() + 2).sum::<usize>()
        );
        let back = decode_bundle(&bytes, count).unwrap();
        assert_eq!(back, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
        // Any other count is refused.
        if count < 256 {
            assert!(decode_bundle(&bytes, count + 1).is_err());
        }
        if count > 1 {
            assert!(decode_bundle(&bytes, count - 1).is_err());
        }
    }
}

#[test]
fn bundle_encoding_is_length_prefixed_big_endian() {
    let entries: [&[u8]; 3] = [b"", b"a", &[0x10; 0x0102]];
    let bytes = encode_bundle(&entries).unwrap();
    assert_eq!(&bytes[..5], &[0, 0, 0, 1, b'a']);
    assert_eq!(&bytes[5..7], &[0x01, 0x02]);
    assert_eq!(bytes.len(), 2 + 3 + 2 + 0x0102);
}

#[test]
fn bundle_encoding_refuses_oversized_entries_and_bad_counts() {
    let big = vec![0u8; 65_536];
    let ok = vec![0u8; 65_535];
    assert!(encode_bundle(&[ok.as_slice()]).is_ok());
    let err = encode_bundle(&[b"x".as_slice(), big.as_slice()]).unwrap_err();
    assert_eq!(
        err,
        TileError::EntryTooLarge {
            entry: 1,
            len: 65_536
        }
    );
    assert!(err.to_string().starts_with("entry 1 is 65536 bytes long"));
    assert_eq!(
        encode_bundle::<&[u8]>(&[]),
        Err(TileError::BundleCount { count: 0 })
    );
    let many = vec![b"".as_slice(); 257];
    assert_eq!(
        encode_bundle(&many),
        Err(TileError::BundleCount { count: 257 })
    );
    assert!(encode_bundle(&many[..256]).is_ok());
}

#[test]
fn bundle_decoding_names_the_position_of_what_is_wrong() {
    let bytes = encode_bundle(&[b"abc".as_slice(), b"de"]).unwrap(); // 00 03 a b c 00 02 d e
    assert_eq!(bytes.len(), 9);
    // Cut inside the second length.
    assert_eq!(
        decode_bundle(&bytes[..6], 2),
        Err(TileError::TruncatedLength {
            entry: 1,
            offset: 5,
            len: 6
        })
    );
    // Cut inside the second entry.
    assert_eq!(
        decode_bundle(&bytes[..8], 2),
        Err(TileError::TruncatedEntry {
            entry: 1,
            offset: 7,
            claimed: 2,
            available: 1
        })
    );
    // Ends after one entry.
    assert_eq!(
        decode_bundle(&bytes[..5], 2),
        Err(TileError::MissingEntries {
            found: 1,
            expected: 2
        })
    );
    assert_eq!(
        decode_bundle(&[], 1),
        Err(TileError::MissingEntries {
            found: 0,
            expected: 1
        })
    );
    // Bytes after the expected entries.
    assert_eq!(
        decode_bundle(&bytes, 1),
        Err(TileError::TrailingBytes {
            expected: 1,
            offset: 5,
            extra: 4
        })
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        decode_bundle(&longer, 2),
        Err(TileError::TrailingBytes {
            expected: 2,
            offset: 9,
            extra: 1
        })
    );
    // Counts outside 1..=256.
    assert_eq!(
        decode_bundle(&bytes, 0),
        Err(TileError::BundleCount { count: 0 })
    );
    assert_eq!(
        decode_bundle(&bytes, 257),
        Err(TileError::BundleCount { count: 257 })
    );
    // The messages read well.
    assert_eq!(
        decode_bundle(&bytes[..8], 2).unwrap_err().to_string(),
        "entry 1 of the bundle starts at byte 7 and claims 2 bytes, but only 1 remain"
    );
    assert_eq!(
        decode_bundle(&bytes, 1).unwrap_err().to_string(),
        "the entry bundle has 4 unexpected bytes after its 1 entries, from byte 5"
    );
}

// ---------------------------------------------------------------------------------------------
// Hash tiles

#[test]
fn hash_tiles_round_trip_and_check_their_length() {
    let hashes: Vec<Hash> = (0..256u32)
        .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
        .collect();
    for width in [1usize, 2, 17, 255, 256] {
        let bytes = encode_tile(&hashes[..width]);
        assert_eq!(bytes.len(), 32 * width);
        assert_eq!(
            &bytes[32..32 * width.min(2)],
            &hashes[1][..32 * (width.min(2) - 1)]
        );
        assert_eq!(decode_tile(&bytes, width).unwrap(), &hashes[..width]);
        if width > 1 {
            assert!(decode_tile(&bytes, width - 1).is_err());
        }
        assert!(decode_tile(&bytes[1..], width).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            decode_tile(&longer, width),
            Err(TileError::TileLength {
                width,
                expected: 32 * width,
                len: 32 * width + 1
            })
        );
    }
    assert_eq!(decode_tile(&[], 0), Err(TileError::TileWidth { width: 0 }));
    assert_eq!(
        decode_tile(&[0; 32 * 257], 257),
        Err(TileError::TileWidth { width: 257 })
    );
    assert_eq!(
        decode_tile(&[0; 31], 1).unwrap_err().to_string(),
        "a hash tile of width 1 is 32 bytes long, but this one is 31 bytes"
    );
}

// ---------------------------------------------------------------------------------------------
// Trees through tiles

/// Every complete subtree hash of a tree built by appending: what an in-memory log knows.
#[derive(Default)]
struct Subtrees {
    hashes: HashMap<(u32, u64), Hash>,
    range: CompactRange,
    leaves: Vec<Hash>,
}

impl Subtrees {
    fn with_leaves(n: u64) -> Subtrees {
        let mut s = Subtrees::default();
        s.append(n);
        s
    }

    fn append(&mut self, n: u64) {
        for _ in 0..n {
            let i = self.range.size();
            let leaf = merkle::leaf_hash(format!("entry {i}").as_bytes());
            self.leaves.push(leaf);
            for st in self.range.append(leaf) {
                self.hashes.insert((st.level, st.index), st.hash);
            }
        }
    }
}

impl HashSource for Subtrees {
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        self.hashes
            .get(&(level, index))
            .copied()
            .ok_or(MerkleError::Source {
                level,
                index,
                reason: "not in memory".into(),
            })
    }
}

/// Writes the tiles an append from `old` to the tree's size touches, as a log would.
fn write_tiles(tree: &Subtrees, old: u64, store: &mut HashMap<TileId, Vec<u8>>) {
    for t in tiles_touched(old, tree.range.size()) {
        let hashes = hashes_for_tile(&t, tree).unwrap();
        assert_eq!(hashes.len(), usize::from(t.width));
        store.insert(t, encode_tile(&hashes));
    }
}

/// Checks roots and proofs through the tiles against the in-memory tree, for `size` and a few
/// smaller sizes.
fn check_through_tiles(tree: &Subtrees, store: &HashMap<TileId, Vec<u8>>, rng: &mut Rng) {
    let size = tree.range.size();
    let via = TileHashes::new(store, size);
    assert_eq!(
        merkle::tree_hash(&via, size).unwrap(),
        tree.range.root(),
        "size {size}"
    );
    assert_eq!(CompactRange::from_source(&via, size).unwrap(), tree.range);
    if size == 0 {
        return;
    }
    for _ in 0..12 {
        let index = rng.range(0, size - 1);
        assert_eq!(
            merkle::inclusion_proof(&via, index, size).unwrap(),
            merkle::inclusion_proof(tree, index, size).unwrap(),
            "inclusion of {index} in {size}"
        );
        let old = rng.range(0, size);
        assert_eq!(
            merkle::consistency_proof(&via, old, size).unwrap(),
            merkle::consistency_proof(tree, old, size).unwrap(),
            "consistency {old} -> {size}"
        );
        // An older tree's root from the newer tree's tiles.
        assert_eq!(
            merkle::tree_hash(&via, old).unwrap(),
            merkle::tree_hash(tree, old).unwrap()
        );
    }
    // The edges: first and last leaf, sizes around tile boundaries.
    for index in [0, size - 1] {
        let proof = merkle::inclusion_proof(&via, index, size).unwrap();
        merkle::verify_inclusion(
            &tree.leaves[index as usize],
            index,
            size,
            &proof,
            &tree.range.root(),
        )
        .unwrap();
    }
    for old in [1, 255, 256, 257, 65_535, 65_536, 65_537, size - 1] {
        if old <= size {
            let proof = merkle::consistency_proof(&via, old, size).unwrap();
            let old_root = merkle::tree_hash(tree, old).unwrap();
            merkle::verify_consistency(old, size, &old_root, &tree.range.root(), &proof).unwrap();
        }
    }
}

#[test]
fn proofs_through_tiles_equal_proofs_from_the_leaves() {
    let mut rng = Rng(4);
    let mut sizes = vec![
        1u64, 2, 3, 255, 256, 257, 511, 512, 513, 65_535, 65_536, 65_537, 70_000,
    ];
    sizes.extend((0..5).map(|_| rng.range(1, 70_000)));
    for size in sizes {
        let tree = Subtrees::with_leaves(size);
        let mut store = HashMap::new();
        write_tiles(&tree, 0, &mut store);
        assert_eq!(store.len(), tiles_for_size(size).len());
        check_through_tiles(&tree, &store, &mut rng);
    }
}

#[test]
fn the_slice_source_and_the_tiles_agree_on_tile_contents() {
    // `hashes_for_tile` over the leaves themselves (recomputed from scratch) and over the stored
    // subtrees give the same tiles.
    let tree = Subtrees::with_leaves(66_000);
    for t in tiles_for_size(66_000)
        .into_iter()
        .filter(|t| t.level > 0 || t.index % 37 == 0)
    {
        assert_eq!(
            hashes_for_tile(&t, &tree.leaves[..]).unwrap(),
            hashes_for_tile(&t, &tree).unwrap(),
            "{t}"
        );
    }
}

#[test]
fn a_log_growing_in_batches_keeps_every_size_provable() {
    let mut rng = Rng(5);
    let mut tree = Subtrees::default();
    let mut store = HashMap::new();
    let mut sizes = vec![0u64];
    while tree.range.size() < 70_000 {
        let old = tree.range.size();
        let batch = match rng.range(0, 4) {
            0 => 1,
            1 => rng.range(1, 300),
            _ => rng.range(1, 9000),
        };
        tree.append(batch);
        write_tiles(&tree, old, &mut store);
        sizes.push(tree.range.size());
        // Each checkpointed size stays provable from the tiles (its partial tiles are kept).
        let size = *sizes
            .get(rng.range(0, sizes.len() as u64 - 1) as usize)
            .unwrap();
        let via = TileHashes::new(&store, size);
        assert_eq!(
            merkle::tree_hash(&via, size).unwrap(),
            merkle::tree_hash(&tree, size).unwrap()
        );
    }
    check_through_tiles(&tree, &store, &mut rng);
}

#[test]
fn a_deleted_partial_tile_is_read_from_the_full_tile() {
    // A log that keeps only the tiles of its latest size (70,000) has deleted the partial tiles of
    // the tree of 300 leaves (tile/0/001.p/44, tile/1/000.p/1); the full tiles hold those hashes.
    let tree = Subtrees::with_leaves(70_000);
    let mut store = HashMap::new();
    for t in tiles_for_size(70_000) {
        store.insert(t, encode_tile(&hashes_for_tile(&t, &tree).unwrap()));
    }
    assert!(!store.contains_key(&id(0, 1, 44)) && !store.contains_key(&id(1, 0, 1)));
    let via = TileHashes::new(&store, 300);
    assert_eq!(
        merkle::tree_hash(&via, 300).unwrap(),
        merkle::tree_hash(&tree, 300).unwrap()
    );
    let proof = merkle::inclusion_proof(&via, 299, 300).unwrap();
    assert_eq!(proof, merkle::inclusion_proof(&tree, 299, 300).unwrap());

    // When neither the partial nor the full tile exists, the partial one is named.
    let tree = Subtrees::with_leaves(600);
    let mut store = HashMap::new();
    write_tiles(&tree, 0, &mut store); // has tile/1/000.p/2, not .p/1 nor the full tile
    let via = TileHashes::new(&store, 300);
    assert_eq!(via.hash(8, 0), Err(TileError::missing(&id(1, 0, 1))));
    assert_eq!(via.hash(7, 1).unwrap(), tree.subtree(7, 1).unwrap()); // from tile/0/001
}

#[test]
fn missing_and_malformed_tiles_are_named() {
    let tree = Subtrees::with_leaves(1000);
    let mut store = HashMap::new();
    write_tiles(&tree, 0, &mut store);
    store.remove(&id(0, 1, 256));
    let via = TileHashes::new(&store, 1000);
    let err = merkle::inclusion_proof(&via, 300, 1000).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read the hash of subtree (level 0, index 301): tile `tile/0/001` is missing"
    );
    store.insert(id(0, 1, 256), vec![0; 100]);
    let via = TileHashes::new(&store, 1000);
    let err = via.hash(0, 300).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tile `tile/0/001` is malformed: a hash tile of width 256 is 8192 bytes long, but this one is 100 bytes"
    );
    // A partial tile that cannot be read, nor its full tile: the partial is named.
    store.remove(&id(0, 3, 232));
    let via = TileHashes::new(&store, 1000);
    assert_eq!(via.hash(0, 999), Err(TileError::missing(&id(0, 3, 232))));
    // Outside the tree.
    assert_eq!(
        via.hash(0, 1000),
        Err(TileError::OutsideTree {
            level: 0,
            index: 1000,
            size: 1000
        })
    );
    assert_eq!(
        via.hash(10, 0),
        Err(TileError::OutsideTree {
            level: 10,
            index: 0,
            size: 1000
        })
    );
    assert_eq!(
        via.hash(64, 0),
        Err(TileError::OutsideTree {
            level: 64,
            index: 0,
            size: 1000
        })
    );
    assert_eq!(
        via.hash(3, u64::MAX),
        Err(TileError::OutsideTree {
            level: 3,
            index: u64::MAX,
            size: 1000
        })
    );
}

#[test]
fn a_tampered_tile_changes_what_comes_out() {
    let tree = Subtrees::with_leaves(5000);
    let mut store = HashMap::new();
    write_tiles(&tree, 0, &mut store);
    let root = tree.range.root();
    let tile = store.get_mut(&id(0, 7, 256)).unwrap();
    tile[40] ^= 1; // hash 1 of tile 7: leaf 1793
    let via = TileHashes::new(&store, 5000);
    // The root is computed from tile/1/000.p/19, so it does not notice: tiles authenticate nothing
    // by themselves. A proof that uses the tampered hash fails against the signed root.
    assert_eq!(merkle::tree_hash(&via, 5000).unwrap(), root);
    let proof = merkle::inclusion_proof(&via, 1792, 5000).unwrap();
    assert_eq!(
        merkle::verify_inclusion(&tree.leaves[1792], 1792, 5000, &proof, &root),
        Err(MerkleError::Mismatch)
    );
}

#[test]
fn hashes_for_tile_refuses_bad_ids_and_names_the_tile() {
    let leaves: Vec<Hash> = (0..10u8).map(|i| merkle::leaf_hash(&[i])).collect();
    assert!(matches!(
        hashes_for_tile(&id(0, 0, 0), &leaves[..]),
        Err(TileError::InvalidTile { .. })
    ));
    // The last tile whose hashes are numbered below 2^64 is fine (the source has no such leaves).
    let err = hashes_for_tile(&id(0, u64::MAX >> 8, 256), &leaves[..]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot compute the hashes of tile"),
        "{err}"
    );
    let err = hashes_for_tile(&id(0, (u64::MAX >> 8) + 1, 1), &leaves[..]).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("its hashes would be numbered past 2^64"),
        "{err}"
    );
    let err = hashes_for_tile(&id(0, 0, 11), &leaves[..]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot compute the hashes of tile `tile/0/000.p/11`: "),
        "{err}"
    );
    assert_eq!(hashes_for_tile(&id(0, 0, 10), &leaves[..]).unwrap(), leaves);
}

/// A reader that counts how often it is asked, to see the cache at work.
struct Counting<'a> {
    store: &'a HashMap<TileId, Vec<u8>>,
    reads: std::cell::Cell<usize>,
}

impl TileReader for Counting<'_> {
    fn read(&self, id: &TileId) -> Result<Vec<u8>, TileError> {
        self.reads.set(self.reads.get() + 1);
        self.store.read(id)
    }
}

#[test]
fn a_proof_reads_each_tile_once() {
    let tree = Subtrees::with_leaves(70_000);
    let mut store = HashMap::new();
    write_tiles(&tree, 0, &mut store);
    let reader = Counting {
        store: &store,
        reads: std::cell::Cell::new(0),
    };
    let via = TileHashes::new(reader, 70_000);
    merkle::inclusion_proof(&via, 12_345, 70_000).unwrap();
    // Level 0 tile 48, level 1 tile 0 (full) and the partials on the right edge.
    assert!(
        via.reader().reads.get() <= 6,
        "{} reads",
        via.reader().reads.get()
    );
    assert_eq!(tiles::TILE_WIDTH, 256);
    assert_eq!(tiles::TILE_HEIGHT, 8);
}
