//! What the qwarden-ledger fuzz targets check, beyond "does not panic". Shared with the workspace
//! test `crates/ledger/tests/fuzz_corpus.rs`, which replays the committed corpus with these same
//! checks on stable Rust.
//!
//! These live apart from `checks.rs` because each replay test includes its checks file as a
//! module and depends only on its own crate: `qwarden-policy`'s test cannot name the ledger, nor
//! the ledger's the policy crate.

#![allow(dead_code, reason = "each fuzz target uses one of these checks")]

use std::collections::HashMap;

use qwarden_ledger::merkle::{self, Hash};
use qwarden_ledger::tiles::{
    TileError, TileHashes, TileId, decode_bundle, decode_tile, encode_bundle, encode_tile,
};

/// `decode_bundle` on arbitrary bytes. The first byte picks the expected count (1 to 256), the
/// rest is the bundle. A decoded bundle encodes back to the same bytes and holds exactly that
/// many entries; any other count is refused; errors render as one lower-case line.
pub fn entry_bundle(data: &[u8]) {
    let Some((&first, bundle)) = data.split_first() else {
        return;
    };
    let expected = usize::from(first) + 1;
    match decode_bundle(bundle, expected) {
        Ok(entries) => {
            assert_eq!(entries.len(), expected);
            let again = encode_bundle(&entries)
                .unwrap_or_else(|e| panic!("a decoded bundle does not encode: {e}"));
            assert_eq!(again, bundle);
            let total: usize = entries.iter().map(|e| e.len() + 2).sum();
            assert_eq!(total, bundle.len());
            for other in [expected - 1, expected + 1] {
                assert!(
                    decode_bundle(bundle, other).is_err(),
                    "{other} entries also decode"
                );
            }
        }
        Err(e) => check_error(&e),
    }
}

/// `decode_tile` on arbitrary bytes. The first byte picks the width (1 to 256), the rest is the
/// tile. A decoded tile encodes back to the same bytes; and served as the only tile of a tree of
/// `width` leaves, it gives through [`TileHashes`] the same root and proofs as its hashes do in
/// memory.
pub fn hash_tile(data: &[u8]) {
    let Some((&first, tile)) = data.split_first() else {
        return;
    };
    let width = usize::from(first) + 1;
    match decode_tile(tile, width) {
        Ok(hashes) => {
            assert_eq!(hashes.len(), width);
            assert_eq!(encode_tile(&hashes), tile);
            check_through_tile(&hashes, tile);
        }
        Err(e) => {
            assert_ne!(tile.len(), width * 32);
            check_error(&e);
        }
    }
}

/// Roots and proofs over `hashes` (a level-0 tile of a tree of `hashes.len()` leaves) agree
/// whether read through the stored tile or from memory.
fn check_through_tile(hashes: &[Hash], tile: &[u8]) {
    let size = hashes.len() as u64;
    let Ok(width) = u16::try_from(hashes.len()) else {
        return;
    };
    let id = TileId {
        level: 0,
        index: 0,
        width,
    };
    let mut store = HashMap::from([(id, tile.to_vec())]);
    let root = merkle::tree_hash(hashes, size);
    if let Ok(root) = root
        && width == 256
    {
        // A tree of 256 leaves also has the level-1 tile holding their root.
        store.insert(
            TileId {
                level: 1,
                index: 0,
                width: 1,
            },
            encode_tile(&[root]),
        );
    }
    let via = TileHashes::new(&store, size);
    assert_eq!(merkle::tree_hash(&via, size), root);
    // A leaf picked by the tile's own bytes, and a size before it.
    let index = u64::from(tile.first().copied().unwrap_or(0)) % size;
    assert_eq!(
        merkle::inclusion_proof(&via, index, size),
        merkle::inclusion_proof(hashes, index, size)
    );
    let old = u64::from(tile.last().copied().unwrap_or(0)) % (size + 1);
    assert_eq!(
        merkle::consistency_proof(&via, old, size),
        merkle::consistency_proof(hashes, old, size)
    );
}

/// `TileId::parse_path` and `parse_entries_path`, one path per line of UTF-8. What parses prints
/// back to the same path; errors render as one lower-case line.
pub fn tile_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.split('\n') {
        match TileId::parse_path(line) {
            Ok(id) => {
                assert_eq!(id.path(), line);
                assert_eq!(TileId::new(id.level, id.index, id.width), Ok(id));
            }
            Err(e) => check_error(&e),
        }
        match TileId::parse_entries_path(line) {
            Ok(id) => {
                assert_eq!(id.entries_path(), line);
                assert_eq!(id.level, 0);
            }
            Err(e) => check_error(&e),
        }
    }
}

/// An error message is one line, starts lower-case or with a quoted input, and holds no raw
/// control characters.
fn check_error(e: &TileError) {
    let shown = e.to_string();
    assert!(!shown.is_empty());
    assert!(
        shown.starts_with(|c: char| c.is_lowercase() || c == '`'),
        "{shown}"
    );
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(shown.len() < 1000, "{} bytes", shown.len());
}
