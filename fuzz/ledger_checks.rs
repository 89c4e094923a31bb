//! What the qwarden-ledger fuzz targets check, beyond "does not panic". Shared with the workspace
//! test `crates/ledger/tests/fuzz_corpus.rs`, which replays the committed corpus with these same
//! checks on stable Rust.
//!
//! These live apart from `checks.rs` because each replay test includes its checks file as a
//! module and depends only on its own crate: `qwarden-policy`'s test cannot name the ledger, nor
//! the ledger's the policy crate.

#![allow(dead_code, reason = "each fuzz target uses one of these checks")]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock, PoisonError};

use qwarden_ledger::cas::MemCas;
use qwarden_ledger::checkpoint::{self, Checkpoint};
use qwarden_ledger::cosignature::{CosignatureVerifier, Cosigner, MAX_TIMESTAMP};
use qwarden_ledger::event::Event;
use qwarden_ledger::merkle::{self, Hash};
use qwarden_ledger::note::{MAX_SIGNATURES, Note, NoteSigner, NoteVerifier};
use qwarden_ledger::ocsf;
use qwarden_ledger::proof::{MAX_PROOF_BYTES, Proof, ProofError};
use qwarden_ledger::tiles::{
    TileError, TileHashes, TileId, decode_bundle, decode_tile, encode_bundle, encode_tile,
};
use qwarden_ledger::witness::{
    CONTENT_TYPE_SIZE, CONTENT_TYPE_TEXT, Response, StoreError, TreeHead, Witness, WitnessStore,
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

// ---------------------------------------------------------------------------------------------
// Signed notes, checkpoints, proofs, events and the witness

/// The log key the `signed_note`, `checkpoint`, `tlog_proof` and `witness_add_checkpoint` seeds
/// are signed with, and the key those targets verify with. A test key, public on purpose: it
/// signs nothing but fuzz seeds.
pub const LOG_SKEY: &str =
    "PRIVATE+KEY+fuzz.example/log+20fa9272+AcSsGZAVQc95ACI6zL6u6qeH0rmpZ/GVOnsPvjujyy9s";

/// The witness key of the seeds' cosignatures and of the `witness_add_checkpoint` target's
/// witness (a public test key too).
pub const WITNESS_SKEY: &str =
    "PRIVATE+KEY+fuzz.example/witness+6378be07+BDwu4wtbDtEzxHf4SJX9ROixyxapmTCPE3MMwxYTJWvU";

/// The origin of the seeds' log: the name of [`LOG_SKEY`].
pub const LOG_ORIGIN: &str = "fuzz.example/log";

/// The log key, read from [`LOG_SKEY`].
pub fn log_signer() -> NoteSigner {
    NoteSigner::from_skey(LOG_SKEY).unwrap_or_else(|e| panic!("the fixed log key: {e}"))
}

/// The witness key, read from [`WITNESS_SKEY`].
pub fn cosigner() -> Cosigner {
    Cosigner::from_skey(WITNESS_SKEY).unwrap_or_else(|e| panic!("the fixed witness key: {e}"))
}

/// The fixed keys, read once.
struct Keys {
    signer: NoteSigner,
    log: NoteVerifier,
    witness: CosignatureVerifier,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let signer = log_signer();
        Keys {
            log: signer.verifier(),
            signer,
            witness: cosigner().verifier(),
        }
    })
}

/// The verifier of [`LOG_SKEY`].
pub fn log_verifier() -> NoteVerifier {
    keys().log.clone()
}

/// The verifier of [`WITNESS_SKEY`].
pub fn witness_verifier() -> CosignatureVerifier {
    keys().witness.clone()
}

/// `Event::from_jcs` on arbitrary bytes (one audit entry). An accepted entry re-encodes with
/// `to_jcs` to the very same bytes without storing anything in the CAS (it holds no plain
/// secret and no oversized inline payload), reads back to the same event, resolves to itself
/// when it has no reference, and exports to an OCSF object.
pub fn event(data: &[u8]) {
    let event = match Event::from_jcs(data) {
        Ok(e) => e,
        Err(e) => return check_message(&e.to_string(), false),
    };
    let mut cas = MemCas::new();
    let again = event
        .to_jcs(&mut cas)
        .unwrap_or_else(|e| panic!("an accepted entry does not re-encode: {e}"));
    assert!(
        again == data,
        "an accepted entry re-encodes to other bytes: {}",
        String::from_utf8_lossy(&again)
    );
    assert!(
        cas.is_empty(),
        "re-encoding an accepted entry stored a blob"
    );
    let back =
        Event::from_jcs(&again).unwrap_or_else(|e| panic!("a re-encoded entry is refused: {e}"));
    assert_eq!(back, event);
    if event.is_resolved() {
        let resolved = event
            .resolve(&cas)
            .unwrap_or_else(|e| panic!("an entry without references does not resolve: {e}"));
        assert_eq!(resolved, event);
    }
    let row = ocsf::to_ocsf(&event, LOG_ORIGIN, 0, &merkle::leaf_hash(data));
    assert!(row.is_object());
}

/// `Note::parse` on arbitrary bytes. A parsed note serialises back to the same bytes and holds a
/// text ending in a newline and 1 to 100 signatures from distinct keys. Verifying it with the
/// fixed log and witness keys never panics, and agrees with itself: a note the log key verifies
/// opens as a checkpoint exactly when its text is a checkpoint of that log, and a cosignature
/// verifies only on a checkpoint.
pub fn signed_note(data: &[u8]) {
    let note = match Note::parse(data) {
        Ok(n) => n,
        Err(e) => return check_message(&e.to_string(), false),
    };
    assert!(
        note.to_bytes() == data,
        "a parsed note re-serialises to other bytes"
    );
    assert!(note.text().ends_with('\n'));
    let sigs = note.signatures();
    assert!(
        !sigs.is_empty() && sigs.len() <= MAX_SIGNATURES,
        "{}",
        sigs.len()
    );
    for (i, a) in sigs.iter().enumerate() {
        assert!(
            sigs.iter()
                .skip(i + 1)
                .all(|b| (b.name(), b.key_id()) != (a.name(), a.key_id())),
            "two signatures from `{}`",
            a.name()
        );
        assert!(a.to_line().ends_with('\n'));
    }
    let keys = keys();
    let opened = checkpoint::open(data, &keys.log);
    match note.verify(std::slice::from_ref(&keys.log)) {
        Ok(signers) => {
            assert!(
                signers
                    .iter()
                    .all(|k| k.name == keys.log.name() && k.key_id == keys.log.key_id())
            );
            let expected = Checkpoint::parse(note.text())
                .ok()
                .filter(|c| c.origin == keys.log.name());
            assert_eq!(opened.ok().map(|(c, _)| c), expected);
        }
        Err(e) => {
            check_message(&e.to_string(), false);
            assert!(
                opened.is_err(),
                "a checkpoint opens without a valid log signature"
            );
        }
    }
    match keys.witness.verify(&note) {
        Ok(t) => {
            assert!(t <= MAX_TIMESTAMP);
            assert!(Checkpoint::parse(note.text()).is_ok());
        }
        Err(e) => check_message(&e.to_string(), false),
    }
}

/// `Checkpoint::parse` on arbitrary UTF-8 (a note's text). A parsed checkpoint passes
/// `validate`, prints back to the same text and parses again to itself; one of the fixed log
/// signs and opens again to itself.
pub fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cp = match Checkpoint::parse(text) {
        Ok(c) => c,
        Err(e) => return check_message(&e.to_string(), false),
    };
    assert_eq!(cp.validate(), Ok(()));
    assert_eq!(cp.to_text(), text);
    assert_eq!(Checkpoint::parse(&cp.to_text()).as_ref(), Ok(&cp));
    let keys = keys();
    if cp.origin == keys.log.name() {
        let signed = checkpoint::sign(&cp, &keys.signer)
            .unwrap_or_else(|e| panic!("a parsed checkpoint of the log does not sign: {e}"));
        let (opened, note) = checkpoint::open(signed.as_bytes(), &keys.log)
            .unwrap_or_else(|e| panic!("a freshly signed checkpoint does not open: {e}"));
        assert_eq!(opened, cp);
        assert_eq!(note.text(), text);
    } else {
        assert!(checkpoint::sign(&cp, &keys.signer).is_err());
    }
}

/// `Proof::parse` on arbitrary bytes (a `tlog-proof` file). A parsed proof prints back
/// (`to_text`) to the same bytes and parses again to itself. Verifying it with the fixed log and
/// witness keys never panics; when it verifies, it proves what it says: the checkpoint opens with
/// the log key, the entry is `extra`, its leaf is at `index` under the signed root, any other
/// entry is refused, and only the fixed witness is reported.
pub fn tlog_proof(data: &[u8]) {
    let proof = match Proof::parse(data) {
        Ok(p) => p,
        Err(e) => return check_message(&e.to_string(), true),
    };
    assert!(data.len() <= MAX_PROOF_BYTES);
    assert!(proof.path.len() <= 64, "{} hashes", proof.path.len());
    let text = proof.to_text();
    assert!(text == data, "a parsed proof prints back to other bytes");
    assert_eq!(Proof::parse(&text).ok().as_ref(), Some(&proof));
    let keys = keys();
    let verified = match proof.verify(&keys.log, std::slice::from_ref(&keys.witness), None) {
        Ok(v) => v,
        Err(e) => {
            if proof.extra.is_none() && checkpoint::open(&proof.checkpoint, &keys.log).is_ok() {
                assert!(matches!(e, ProofError::NoEntry), "{e}");
            }
            return check_message(&e.to_string(), true);
        }
    };
    let (cp, _) = checkpoint::open(&proof.checkpoint, &keys.log)
        .unwrap_or_else(|e| panic!("a verified proof's checkpoint does not open: {e}"));
    assert_eq!(verified.checkpoint, cp);
    assert_eq!(Some(verified.entry.as_slice()), proof.extra.as_deref());
    assert!(proof.index < cp.size);
    assert_eq!(
        merkle::verify_inclusion(
            &merkle::leaf_hash(&verified.entry),
            proof.index,
            cp.size,
            &proof.path,
            &cp.root
        ),
        Ok(())
    );
    assert!(
        verified
            .witnesses
            .iter()
            .all(|(name, t)| name == keys.witness.name() && *t <= MAX_TIMESTAMP)
    );
    let mut other = verified.entry.clone();
    other.push(b'!');
    assert!(matches!(
        proof.verify(&keys.log, &[], Some(&other)),
        Err(ProofError::NotIncluded { .. })
    ));
}

/// A [`WitnessStore`] in memory: the latest tree head and checkpoint of each origin.
#[derive(Debug, Default)]
pub struct MemStore {
    heads: Mutex<BTreeMap<String, (TreeHead, Vec<u8>)>>,
}

impl WitnessStore for MemStore {
    fn load(&self, origin: &str) -> Result<Option<TreeHead>, StoreError> {
        let heads = self.heads.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(heads.get(origin).map(|(head, _)| *head))
    }

    fn save(&self, origin: &str, head: &TreeHead, checkpoint: &[u8]) -> Result<(), StoreError> {
        let mut heads = self.heads.lock().unwrap_or_else(PoisonError::into_inner);
        heads.insert(origin.to_owned(), (*head, checkpoint.to_vec()));
        Ok(())
    }
}

/// The answers `tlog-witness` prescribes for `add-checkpoint`, but `500`, which only a failing
/// store causes and an in-memory one never does.
pub const WITNESS_STATUSES: [u16; 6] = [200, 400, 403, 404, 409, 422];

/// The time (POSIX seconds) of the `i`-th request of a `witness_add_checkpoint` input.
pub fn request_time(i: usize) -> u64 {
    1_780_000_000 + i as u64
}

/// `Witness::add_checkpoint` on arbitrary request bodies: see [`witness_responses`].
pub fn witness_add_checkpoint(data: &[u8]) {
    witness_responses(data);
}

/// The input is one or more `add-checkpoint` request bodies separated by 0xff bytes (which no
/// acceptable body holds), posted in order, the `i`-th at [`request_time`]`(i)`, to one fresh
/// witness that cosigns with [`WITNESS_SKEY`], knows the log [`LOG_ORIGIN`] by [`LOG_SKEY`] and
/// keeps its state in a [`MemStore`]. Every answer has one of [`WITNESS_STATUSES`]; a `409`
/// that carries a size carries the witness's size; a refusal leaves the state as it was; a `200`
/// is a cosignature by the witness, at the request's time, on the submitted checkpoint, which is
/// a checkpoint of the log that does not roll the witness back and is now its recorded state.
/// Returns the answers.
pub fn witness_responses(data: &[u8]) -> Vec<Response> {
    let keys = keys();
    let mut witness = Witness::new(cosigner(), MemStore::default());
    witness
        .add_log(LOG_ORIGIN, keys.log.clone())
        .unwrap_or_else(|e| panic!("the fixed log: {e}"));
    let latest = |w: &Witness| {
        w.latest(LOG_ORIGIN)
            .unwrap_or_else(|e| panic!("the in-memory store fails: {e}"))
    };
    let mut answers = Vec::new();
    for (i, body) in data.split(|&b| b == 0xff).enumerate() {
        let before = latest(&witness);
        let now = request_time(i);
        let r = witness.add_checkpoint(body, now);
        let after = latest(&witness);
        let shown = std::str::from_utf8(&r.body)
            .unwrap_or_else(|_| panic!("answer {} is not UTF-8", r.status));
        assert!(WITNESS_STATUSES.contains(&r.status), "{} {shown}", r.status);
        assert!(shown.ends_with('\n'), "{shown:?}");
        if r.status != 200 {
            assert_eq!(
                after, before,
                "a refused request changed the witness's state"
            );
        }
        if r.content_type == CONTENT_TYPE_SIZE {
            assert_eq!(r.status, 409);
            assert_eq!(shown, format!("{}\n", before.map_or(0, |h| h.size)));
        } else {
            assert_eq!(r.content_type, CONTENT_TYPE_TEXT);
        }
        if r.status == 200 {
            check_cosigned(body, shown, now, before, after);
        }
        answers.push(r);
    }
    answers
}

/// A `200` answer to `body` at `now`, with the witness's state `before` and `after`.
fn check_cosigned(
    body: &[u8],
    line: &str,
    now: u64,
    before: Option<TreeHead>,
    after: Option<TreeHead>,
) {
    let keys = keys();
    // The checkpoint follows the first empty line (the proof lines before it are never empty).
    let note_bytes = body
        .windows(2)
        .position(|w| w == b"\n\n")
        .and_then(|at| body.get(at + 2..))
        .unwrap_or_else(|| panic!("a cosigned request has no empty line"));
    let (cp, note) = checkpoint::open(note_bytes, &keys.log)
        .unwrap_or_else(|e| panic!("the witness cosigned what the log key does not open: {e}"));
    let head = TreeHead {
        size: cp.size,
        root: cp.root,
    };
    assert_eq!(after, Some(head));
    if let Some(b) = before {
        assert!(
            b.size <= cp.size,
            "the witness went back from {} to {}",
            b.size,
            cp.size
        );
        if b.size == cp.size {
            assert_eq!(b.root, cp.root, "the witness cosigned a fork");
        }
    }
    let cosigned = format!("{}\n{line}", note.text());
    let cosigned = Note::parse(cosigned.as_bytes())
        .unwrap_or_else(|e| panic!("the answer is not one signature line: {e}"));
    assert_eq!(cosigned.signatures().len(), 1, "{line}");
    assert_eq!(keys.witness.verify(&cosigned), Ok(now));
}

/// A refusal renders as a message that starts lower-case or with a quoted input, and holds no C0
/// control character (an escape sequence from hostile input would reach the terminal) but,
/// where `multiline`, the newlines before hints.
fn check_message(shown: &str, multiline: bool) {
    assert!(!shown.is_empty());
    assert!(
        shown.starts_with(|c: char| c.is_lowercase() || c == '`'),
        "{shown}"
    );
    assert!(
        !shown.chars().any(|c| c < ' ' && !(multiline && c == '\n')),
        "{shown:?}"
    );
}
