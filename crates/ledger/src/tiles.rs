//! The C2SP `tlog-tiles` layout: how the Merkle tree and the entries are cut into immutable files.
//!
//! A *tile* at level `L` holds up to 256 consecutive hashes of tree level `8·L`: level 0 holds leaf
//! hashes, and each hash of level `L ≥ 1` is the root of a *full* tile of level `L - 1`. The hashes
//! between two tile levels are not stored; they are recomputed by hashing a tile's aligned runs.
//! A tree of `s` leaves has, at each level `L`, `⌊s / 256^(L+1)⌋` full tiles and, where
//! `⌊s / 256^L⌋ mod 256` is not zero, one partial tile of that width at its right edge.
//! *Entry bundles* hold the entries themselves, 256 to a full bundle, each entry preceded by its
//! length as a big-endian `u16`; bundle `N` holds the entries whose leaf hashes are tile `0/N`.
//!
//! Paths follow the specification exactly: `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`,
//! with `N` written in three-digit groups, every group but the last prefixed with `x`
//! (1234067 → `x001/x234/067`). Parsing accepts only that canonical form.
//!
//! Everything here is sans-IO: [`TileReader`] is the one seam through which stored tiles come in,
//! and [`TileHashes`] turns any such reader into a [`merkle::HashSource`] for proofs.
//!
//! Specification: <https://c2sp.org/tlog-tiles>.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

use crate::merkle::{self, Hash, HashSource, MerkleError};

/// Levels of the Merkle tree one tile spans: a tile is a subtree of height 8.
pub const TILE_HEIGHT: u32 = 8;

/// Hashes in a full tile, and entries in a full entry bundle (`2^TILE_HEIGHT`).
pub const TILE_WIDTH: u16 = 256;

/// The highest tile level a path may name (the specification allows 0 to 63).
pub const MAX_LEVEL: u8 = 63;

/// The largest entry an entry bundle can hold: its length must fit a big-endian `u16`.
pub const MAX_ENTRY_SIZE: usize = 65_535;

/// Bytes in one hash of a hash tile (SHA-256).
pub const HASH_SIZE: usize = 32;

/// Tile levels a tree of at most `u64::MAX` leaves can have: `8 · 8 = 64` tree levels.
const TILE_LEVELS: u8 = 8;

/// What went wrong with a tile, an entry bundle or one of their paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// A string that is not a canonical hash-tile path.
    #[error("`{path}` is not a tile path: {reason}")]
    TilePath {
        /// The path, with control characters escaped and very long input cut short.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A string that is not a canonical entry-bundle path.
    #[error("`{path}` is not an entry bundle path: {reason}")]
    BundlePath {
        /// The path, with control characters escaped and very long input cut short.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A tile level, index or width that no tile has.
    #[error("there is no tile at level {level}, index {index}, width {width}: {reason}")]
    InvalidTile {
        /// The level asked for.
        level: u8,
        /// The index asked for.
        index: u64,
        /// The width asked for.
        width: u16,
        /// Which of them is out of range.
        reason: &'static str,
    },
    /// An entry too long for the `u16` length prefix of a bundle.
    #[error(
        "entry {entry} is {len} bytes long, but a bundle entry holds at most 65535 bytes; store large payloads in the content-addressed store and log their digest"
    )]
    EntryTooLarge {
        /// The entry's position in the bundle (from 0).
        entry: usize,
        /// Its length.
        len: usize,
    },
    /// A bundle of no entries or of more than 256.
    #[error("an entry bundle holds 1 to 256 entries, not {count}")]
    BundleCount {
        /// The number of entries asked for.
        count: usize,
    },
    /// A bundle that ends inside the two-byte length of an entry.
    #[error(
        "the entry bundle is cut off inside the length of entry {entry}, at byte {offset} of {len}"
    )]
    TruncatedLength {
        /// The entry whose length is cut off (from 0).
        entry: usize,
        /// Where its length starts.
        offset: usize,
        /// The bundle's length.
        len: usize,
    },
    /// A bundle that ends inside an entry.
    #[error(
        "entry {entry} of the bundle starts at byte {offset} and claims {claimed} bytes, but only {available} remain"
    )]
    TruncatedEntry {
        /// The entry that is cut off (from 0).
        entry: usize,
        /// Where its bytes start (after the length).
        offset: usize,
        /// The length its prefix claims.
        claimed: usize,
        /// The bytes left in the bundle.
        available: usize,
    },
    /// A bundle with fewer entries than its width says.
    #[error("the entry bundle ends after {found} entries, but {expected} were expected")]
    MissingEntries {
        /// The entries it holds.
        found: usize,
        /// The entries it should hold (the bundle's width).
        expected: usize,
    },
    /// A bundle with bytes after its last expected entry.
    #[error(
        "the entry bundle has {extra} unexpected bytes after its {expected} entries, from byte {offset}"
    )]
    TrailingBytes {
        /// The entries it should hold (the bundle's width).
        expected: usize,
        /// Where the extra bytes start.
        offset: usize,
        /// How many there are.
        extra: usize,
    },
    /// A tile width outside 1 to 256.
    #[error("a hash tile holds 1 to 256 hashes, not {width}")]
    TileWidth {
        /// The width asked for.
        width: usize,
    },
    /// A hash tile whose length does not match its width.
    #[error("a hash tile of width {width} is {expected} bytes long, but this one is {len} bytes")]
    TileLength {
        /// The tile's width.
        width: usize,
        /// The bytes it should have (`32 · width`).
        expected: usize,
        /// The bytes it has.
        len: usize,
    },
    /// A subtree that is not complete inside the tree.
    #[error(
        "the subtree at level {level}, index {index} is not complete in a tree of {size} leaves"
    )]
    OutsideTree {
        /// The subtree's level.
        level: u32,
        /// Its index at that level.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A tile that is not stored.
    #[error("tile `{path}` is missing")]
    Missing {
        /// The tile's path.
        path: String,
    },
    /// A tile that could not be read.
    #[error("cannot read tile `{path}`: {reason}")]
    Read {
        /// The tile's path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A stored tile that does not decode.
    #[error("tile `{path}` is malformed: {source}")]
    Malformed {
        /// The tile's path.
        path: String,
        /// Why it does not decode.
        source: Box<TileError>,
    },
    /// The hashes a tile should hold could not be computed.
    #[error("cannot compute the hashes of tile `{path}`: {source}")]
    Hashes {
        /// The tile's path.
        path: String,
        /// What the hash source said.
        source: MerkleError,
    },
}

impl TileError {
    /// The error a [`TileReader`] returns for a tile it does not have.
    pub fn missing(id: &TileId) -> TileError {
        TileError::Missing { path: id.path() }
    }

    /// The error a [`TileReader`] returns when its storage fails.
    pub fn read(id: &TileId, reason: impl fmt::Display) -> TileError {
        TileError::Read {
            path: id.path(),
            reason: reason.to_string(),
        }
    }
}

/// One tile (or entry bundle) of the tree: the `index`-th tile at `level`, holding `width` hashes.
///
/// Level-0 tiles and entry bundles share their index and width, so the same `TileId` names both
/// ([`TileId::path`] and [`TileId::entries_path`]). A width of 256 ([`TILE_WIDTH`]) is a full,
/// immutable tile; 1 to 255 is a partial tile at the right edge of some tree.
///
/// The fields are public for convenience; [`TileId::new`] and the path parsers check them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// The tile level: its hashes are those of tree level `8 · level`.
    pub level: u8,
    /// The tile's position within its level.
    pub index: u64,
    /// The number of hashes (or entries) it holds, 1 to 256.
    pub width: u16,
}

impl TileId {
    /// Checks the coordinates: a level of at most 63 ([`MAX_LEVEL`]) and a width of 1 to 256.
    pub fn new(level: u8, index: u64, width: u16) -> Result<TileId, TileError> {
        check(level, width).map_err(|reason| TileError::InvalidTile {
            level,
            index,
            width,
            reason,
        })?;
        Ok(TileId {
            level,
            index,
            width,
        })
    }

    /// The full tile at `level`, `index` (unchecked, like a struct literal).
    pub fn full(level: u8, index: u64) -> TileId {
        TileId {
            level,
            index,
            width: TILE_WIDTH,
        }
    }

    /// Whether the tile is full (256 hashes) and so will never change.
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The tile's path relative to the log prefix: `tile/<L>/<N>` or `tile/<L>/<N>.p/<W>`.
    ///
    /// A width of 256 or more is written as a full tile; a `TileId` that [`TileId::new`] refuses
    /// gets a path that [`TileId::parse_path`] refuses too.
    pub fn path(&self) -> String {
        format!(
            "tile/{}/{}",
            self.level,
            encode_index(self.index, self.width)
        )
    }

    /// The path of the entry bundle with this index and width: `tile/entries/<N>[.p/<W>]`.
    ///
    /// Only level-0 tiles have entry bundles; the level is not part of the path.
    pub fn entries_path(&self) -> String {
        format!("tile/entries/{}", encode_index(self.index, self.width))
    }

    /// Parses a hash-tile path, accepting only the canonical form [`TileId::path`] writes, as the
    /// specification defines it: a level of 0 to 63 and a width of 1 to 255 without leading zeros
    /// or signs, no `.p/256` (a full tile has no suffix), and index groups of exactly three digits
    /// with `x` on all but the last and no leading `x000` group. An index past `u64::MAX` is
    /// refused.
    pub fn parse_path(path: &str) -> Result<TileId, TileError> {
        let bad = |reason| TileError::TilePath {
            path: shown(path),
            reason,
        };
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| bad(TILE_PATH_FORM))?;
        let (level, rest) = rest.split_once('/').ok_or_else(|| bad(TILE_PATH_FORM))?;
        let level = parse_small(level, u16::from(MAX_LEVEL)).ok_or_else(|| bad(LEVEL_FORM))?;
        let level = u8::try_from(level).map_err(|_| bad(LEVEL_FORM))?;
        let id = parse_index_and_width(level, rest).map_err(bad)?;
        if id.path() != path {
            return Err(bad(NOT_CANONICAL));
        }
        Ok(id)
    }

    /// Parses an entry-bundle path (`tile/entries/<N>[.p/<W>]`, canonical form only, as for
    /// [`TileId::parse_path`]); the result has level 0.
    pub fn parse_entries_path(path: &str) -> Result<TileId, TileError> {
        let bad = |reason| TileError::BundlePath {
            path: shown(path),
            reason,
        };
        let rest = path
            .strip_prefix("tile/entries/")
            .ok_or_else(|| bad(BUNDLE_PATH_FORM))?;
        let id = parse_index_and_width(0, rest).map_err(bad)?;
        if id.entries_path() != path {
            return Err(bad(NOT_CANONICAL));
        }
        Ok(id)
    }
}

/// Shows the tile's path.
impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

const TILE_PATH_FORM: &str = "expected `tile/<L>/<N>` or `tile/<L>/<N>.p/<W>`";
const BUNDLE_PATH_FORM: &str = "expected `tile/entries/<N>` or `tile/entries/<N>.p/<W>`";
const LEVEL_FORM: &str = "the level must be a decimal number from 0 to 63 without leading zeros";
const INDEX_FORM: &str = "the index must be written in groups of three digits, every group but the last prefixed with `x` and without leading `x000` groups, like `x001/x234/067` for 1234067";
const WIDTH_FORM: &str = "the width after `.p/` must be a decimal number from 1 to 255 without leading zeros; a full tile has no `.p/` suffix";
const NOT_CANONICAL: &str = "it is not in the canonical form";

/// Why `(level, index, width)` names no tile, if it does not.
fn check(level: u8, width: u16) -> Result<(), &'static str> {
    if level > MAX_LEVEL {
        return Err("the level must be at most 63");
    }
    if width == 0 || width > TILE_WIDTH {
        return Err("the width must be 1 to 256");
    }
    Ok(())
}

/// `N[.p/W]` for a tile index and width.
fn encode_index(index: u64, width: u16) -> String {
    // A u64 has at most 20 decimal digits: 7 groups.
    let mut groups = Vec::with_capacity(7);
    let mut n = index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let mut out = String::with_capacity(groups.len() * 5 + 6);
    let last = groups.len().saturating_sub(1);
    for (i, group) in groups.iter().rev().enumerate() {
        if i < last {
            out.push_str(&format!("x{group:03}/"));
        } else {
            out.push_str(&format!("{group:03}"));
        }
    }
    if width < TILE_WIDTH {
        out.push_str(&format!(".p/{width}"));
    }
    out
}

/// Parses the `N[.p/W]` part of a path.
fn parse_index_and_width(level: u8, rest: &str) -> Result<TileId, &'static str> {
    let (index, width) = match rest.split_once(".p/") {
        Some((index, width)) => {
            let width = parse_small(width, TILE_WIDTH - 1)
                .filter(|w| *w >= 1)
                .ok_or(WIDTH_FORM)?;
            (index, width)
        }
        None => (rest, TILE_WIDTH),
    };
    let index = parse_index(index).ok_or(INDEX_FORM)?;
    check(level, width)?;
    Ok(TileId {
        level,
        index,
        width,
    })
}

/// A decimal number of at most three digits, no sign, no leading zeros, at most `max`.
fn parse_small(s: &str, max: u16) -> Option<u16> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse::<u16>().ok().filter(|v| *v <= max)
}

/// `xDDD/…/DDD` → the index, refusing anything but the canonical grouping.
fn parse_index(s: &str) -> Option<u64> {
    let groups: Vec<&str> = s.split('/').collect();
    if groups.len() > 7 {
        return None;
    }
    let (last, init) = groups.split_last()?;
    let mut n = 0u64;
    for (i, group) in init.iter().enumerate() {
        let value = three_digits(group.strip_prefix('x')?)?;
        if i == 0 && value == 0 {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(value)?;
    }
    n.checked_mul(1000)?.checked_add(three_digits(last)?)
}

/// Exactly three ASCII digits.
fn three_digits(s: &str) -> Option<u64> {
    if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `path` as it may appear in an error message: control characters escaped, long input cut.
fn shown(path: &str) -> String {
    const MAX: usize = 120;
    let mut out: String = path
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if path.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

/// Every hash tile a tree of `size` leaves has: at each level the full tiles, then the partial
/// tile at the right edge if there is one; level by level from 0, in index order. The empty tree
/// has none.
///
/// This is one `TileId` per 255 leaves or so; bound `size` before calling it on untrusted input.
pub fn tiles_for_size(size: u64) -> Vec<TileId> {
    tiles_touched(0, size)
}

/// Every entry bundle a tree of `size` leaves has (the level-0 tiles of [`tiles_for_size`]; use
/// [`TileId::entries_path`] for their paths).
pub fn entry_bundles_for_size(size: u64) -> Vec<TileId> {
    let mut out: Vec<TileId> = (0..size >> TILE_HEIGHT)
        .map(|index| TileId::full(0, index))
        .collect();
    let width = partial_width(size);
    if width > 0 {
        out.push(TileId {
            level: 0,
            index: size >> TILE_HEIGHT,
            width,
        });
    }
    out
}

/// The hash tiles an append from `old_size` to `new_size` leaves must write: the tiles the new
/// tree has that the old one does not have in the same form (the full tiles completed since, and
/// the new partial tiles at the right edge). Nothing, if `new_size <= old_size`.
///
/// The entry bundles it must write are the level-0 tiles of the result.
pub fn tiles_touched(old_size: u64, new_size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    if new_size <= old_size {
        return out;
    }
    for level in 0..TILE_LEVELS {
        let shift = TILE_HEIGHT * u32::from(level);
        let old_n = old_size >> shift;
        let new_n = new_size >> shift;
        if old_n == new_n {
            // Equal here, equal at every level above.
            break;
        }
        out.extend(
            (old_n >> TILE_HEIGHT..new_n >> TILE_HEIGHT).map(|index| TileId::full(level, index)),
        );
        let width = partial_width(new_n);
        if width > 0 {
            out.push(TileId {
                level,
                index: new_n >> TILE_HEIGHT,
                width,
            });
        }
    }
    out
}

/// `n mod 256`: the width of the partial tile over `n` hashes (0 for none).
fn partial_width(n: u64) -> u16 {
    // The mask keeps 8 bits, which always fit.
    u16::try_from(n & 0xff).unwrap_or(0)
}

/// Encodes an entry bundle: each entry as its length (big-endian `u16`) followed by its bytes.
///
/// Refuses an entry over 65535 bytes ([`MAX_ENTRY_SIZE`]) and a bundle of no entries or more
/// than 256. Empty entries are allowed.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    if entries.is_empty() || entries.len() > usize::from(TILE_WIDTH) {
        return Err(TileError::BundleCount {
            count: entries.len(),
        });
    }
    let total = entries.iter().map(|e| e.as_ref().len() + 2).sum();
    let mut out = Vec::with_capacity(total);
    for (entry, bytes) in entries.iter().enumerate() {
        let bytes = bytes.as_ref();
        let len = u16::try_from(bytes.len()).map_err(|_| TileError::EntryTooLarge {
            entry,
            len: bytes.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
    }
    Ok(out)
}

/// Decodes an entry bundle that must hold exactly `expected` entries (its width, 1 to 256).
///
/// A bundle cut off inside a length or an entry, one that ends early, and one with bytes after its
/// last entry are each refused with an error naming the entry and the byte offset.
pub fn decode_bundle(data: &[u8], expected: usize) -> Result<Vec<&[u8]>, TileError> {
    if expected == 0 || expected > usize::from(TILE_WIDTH) {
        return Err(TileError::BundleCount { count: expected });
    }
    let mut entries = Vec::with_capacity(expected);
    let mut rest = data;
    let mut offset = 0usize;
    while entries.len() < expected {
        if rest.is_empty() {
            return Err(TileError::MissingEntries {
                found: entries.len(),
                expected,
            });
        }
        let Some((len, after)) = rest.split_first_chunk::<2>() else {
            return Err(TileError::TruncatedLength {
                entry: entries.len(),
                offset,
                len: data.len(),
            });
        };
        let claimed = usize::from(u16::from_be_bytes(*len));
        let Some((entry, after)) = after.split_at_checked(claimed) else {
            return Err(TileError::TruncatedEntry {
                entry: entries.len(),
                offset: offset + 2,
                claimed,
                available: after.len(),
            });
        };
        entries.push(entry);
        rest = after;
        offset += 2 + claimed;
    }
    if !rest.is_empty() {
        return Err(TileError::TrailingBytes {
            expected,
            offset,
            extra: rest.len(),
        });
    }
    Ok(entries)
}

/// Encodes a hash tile: its hashes, concatenated.
///
/// A stored tile holds 1 to 256 hashes; [`decode_tile`] refuses any other count.
pub fn encode_tile(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

/// Decodes a hash tile of `width` hashes (1 to 256): exactly `32 · width` bytes.
pub fn decode_tile(data: &[u8], width: usize) -> Result<Vec<Hash>, TileError> {
    if width == 0 || width > usize::from(TILE_WIDTH) {
        return Err(TileError::TileWidth { width });
    }
    let expected = width * HASH_SIZE;
    let (hashes, rest) = data.as_chunks::<HASH_SIZE>();
    if data.len() != expected || !rest.is_empty() {
        return Err(TileError::TileLength {
            width,
            expected,
            len: data.len(),
        });
    }
    Ok(hashes.to_vec())
}

/// The hashes tile `id` holds in a tree whose complete subtrees `src` knows: hash `i` is the root
/// of the subtree at tree level `8 · level`, index `256 · index + i`.
///
/// Use it to write a tile, and to check a stored one against hashes recomputed from the entries.
pub fn hashes_for_tile(
    id: &TileId,
    src: &(impl HashSource + ?Sized),
) -> Result<Vec<Hash>, TileError> {
    let invalid = |reason| TileError::InvalidTile {
        level: id.level,
        index: id.index,
        width: id.width,
        reason,
    };
    check(id.level, id.width).map_err(invalid)?;
    let level = TILE_HEIGHT * u32::from(id.level);
    let first = id
        .index
        .checked_mul(u64::from(TILE_WIDTH))
        .filter(|first| first.checked_add(u64::from(id.width) - 1).is_some())
        .ok_or_else(|| invalid("its hashes would be numbered past 2^64"))?;
    (0..u64::from(id.width))
        .map(|i| src.subtree(level, first + i))
        .collect::<Result<Vec<Hash>, MerkleError>>()
        .map_err(|source| TileError::Hashes {
            path: id.path(),
            source,
        })
}

/// Where stored tiles come from: a directory, an HTTP client, a map in memory.
pub trait TileReader {
    /// The stored bytes of hash tile `id` (exactly that width; not the entry bundle).
    ///
    /// Return [`TileError::missing`] for a tile that is not stored, [`TileError::read`] when the
    /// storage fails.
    fn read(&self, id: &TileId) -> Result<Vec<u8>, TileError>;
}

impl<R: TileReader + ?Sized> TileReader for &R {
    fn read(&self, id: &TileId) -> Result<Vec<u8>, TileError> {
        (**self).read(id)
    }
}

/// Tiles held in memory, by id.
impl<S: BuildHasher> TileReader for HashMap<TileId, Vec<u8>, S> {
    fn read(&self, id: &TileId) -> Result<Vec<u8>, TileError> {
        self.get(id).cloned().ok_or_else(|| TileError::missing(id))
    }
}

/// The tree of `size` leaves as its stored tiles: a [`merkle::HashSource`] for tree hashes,
/// proofs and [`merkle::CompactRange::from_source`].
///
/// A hash between tile levels is recomputed from the aligned run of tile hashes below it. On the
/// right edge the partial tile of the width `size` implies is read; if that one cannot be read,
/// the full tile is tried, since a log may delete a partial tile once the full one exists.
///
/// Nothing is authenticated here: check what comes out (a root, a proof) against a signed
/// checkpoint. The last tile read at each level is kept, so a proof reads each tile once.
pub struct TileHashes<R> {
    reader: R,
    size: u64,
    /// The last tile read at each tile level, decoded.
    cache: RefCell<[Option<CachedTile>; TILE_LEVELS as usize]>,
}

/// A decoded tile kept by [`TileHashes`].
type CachedTile = (TileId, Vec<Hash>);

impl<R: fmt::Debug> fmt::Debug for TileHashes<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TileHashes")
            .field("reader", &self.reader)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl<R: TileReader> TileHashes<R> {
    /// The tree of `size` leaves stored in `reader`'s tiles.
    pub fn new(reader: R, size: u64) -> TileHashes<R> {
        TileHashes {
            reader,
            size,
            cache: RefCell::new(Default::default()),
        }
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tile reader.
    pub fn reader(&self) -> &R {
        &self.reader
    }

    /// Gives the tile reader back.
    pub fn into_reader(self) -> R {
        self.reader
    }

    /// The hash of the complete subtree of `2^level` leaves starting at leaf `index << level`.
    pub fn hash(&self, level: u32, index: u64) -> Result<Hash, TileError> {
        let outside = || TileError::OutsideTree {
            level,
            index,
            size: self.size,
        };
        let leaves = 1u64.checked_shl(level).ok_or_else(outside)?;
        let end = index
            .checked_add(1)
            .and_then(|i| i.checked_mul(leaves))
            .ok_or_else(outside)?;
        if end > self.size {
            return Err(outside());
        }
        // The subtree is 2^k consecutive hashes of tree level 8·tile_level, aligned, so inside one
        // tile. Its end fits in a u64, so none of these shifts loses bits.
        let tile_level = level / TILE_HEIGHT;
        let k = level % TILE_HEIGHT;
        let first = index << k;
        let count = 1usize << k;
        let stored = self.size >> (TILE_HEIGHT * tile_level);
        let tile_index = first >> TILE_HEIGHT;
        let width = stored
            .saturating_sub(tile_index << TILE_HEIGHT)
            .min(u64::from(TILE_WIDTH));
        let id = TileId {
            level: u8::try_from(tile_level).map_err(|_| outside())?,
            index: tile_index,
            width: u16::try_from(width).map_err(|_| outside())?,
        };
        let offset = usize::try_from(first & 0xff).map_err(|_| outside())?;
        self.with_tile(&id, |hashes| {
            hashes.get(offset..offset + count).map(fold_run)
        })?
        .ok_or_else(|| TileError::Malformed {
            path: id.path(),
            source: Box::new(TileError::TileLength {
                width: usize::from(id.width),
                expected: usize::from(id.width) * HASH_SIZE,
                len: 0,
            }),
        })
    }

    /// Runs `f` on the decoded hashes of tile `id`, from the cache or the reader.
    fn with_tile<T>(&self, id: &TileId, f: impl FnOnce(&[Hash]) -> T) -> Result<T, TileError> {
        let slot = usize::from(id.level);
        if let Ok(cache) = self.cache.try_borrow()
            && let Some(Some((cached, hashes))) = cache.get(slot)
            && cached == id
        {
            return Ok(f(hashes));
        }
        let hashes = self.load(id)?;
        let out = f(&hashes);
        if let Ok(mut cache) = self.cache.try_borrow_mut()
            && let Some(entry) = cache.get_mut(slot)
        {
            *entry = Some((*id, hashes));
        }
        Ok(out)
    }

    /// Reads and decodes tile `id`, falling back to the full tile for a partial one.
    fn load(&self, id: &TileId) -> Result<Vec<Hash>, TileError> {
        let malformed = |id: &TileId, e: TileError| TileError::Malformed {
            path: id.path(),
            source: Box::new(e),
        };
        match self.reader.read(id) {
            Ok(data) => decode_tile(&data, usize::from(id.width)).map_err(|e| malformed(id, e)),
            Err(original) if !id.is_full() => {
                let full = TileId::full(id.level, id.index);
                let Ok(data) = self.reader.read(&full) else {
                    return Err(original);
                };
                let mut hashes =
                    decode_tile(&data, usize::from(TILE_WIDTH)).map_err(|e| malformed(&full, e))?;
                hashes.truncate(usize::from(id.width));
                Ok(hashes)
            }
            Err(e) => Err(e),
        }
    }
}

impl<R: TileReader> HashSource for TileHashes<R> {
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        self.hash(level, index).map_err(|e| MerkleError::Source {
            level,
            index,
            reason: e.to_string(),
        })
    }
}

/// The root of a run of `2^k` hashes.
fn fold_run(run: &[Hash]) -> Hash {
    let mut layer = run.to_vec();
    while layer.len() > 1 {
        layer = layer
            .as_chunks::<2>()
            .0
            .iter()
            .map(|[left, right]| merkle::node_hash(left, right))
            .collect();
    }
    layer.first().copied().unwrap_or_else(merkle::empty_root)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn index_encoding_matches_the_spec_example() {
        assert_eq!(encode_index(1_234_067, 256), "x001/x234/067");
        assert_eq!(encode_index(0, 256), "000");
        assert_eq!(encode_index(999, 256), "999");
        assert_eq!(encode_index(1000, 256), "x001/000");
        assert_eq!(
            encode_index(u64::MAX, 255),
            "x018/x446/x744/x073/x709/x551/615.p/255"
        );
        assert_eq!(
            parse_index("x018/x446/x744/x073/x709/x551/615"),
            Some(u64::MAX)
        );
        assert_eq!(parse_index("x018/x446/x744/x073/x709/x551/616"), None);
        assert_eq!(parse_index("x000/001"), None);
    }

    #[test]
    fn fold_run_is_the_subtree_root() {
        let leaves: Vec<Hash> = (0..8u8).map(|i| merkle::leaf_hash(&[i])).collect();
        for k in 0..=3u32 {
            let n = 1usize << k;
            assert_eq!(
                fold_run(&leaves[..n]),
                merkle::tree_hash(&leaves[..], n as u64).unwrap()
            );
        }
    }

    #[test]
    fn shown_escapes_and_cuts() {
        assert_eq!(shown("a\nb"), "a\\nb");
        let long = "x".repeat(500);
        assert_eq!(shown(&long).chars().count(), 121);
    }
}
