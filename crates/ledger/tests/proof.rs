//! Offline receipts (C2SP `tlog-proof@v1`): text round trips, the specification's example, proofs
//! made over real ledgers of several sizes verifying for every entry, witness cosignatures, and
//! every way a proof can be wrong being refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use qwarden_ledger::checkpoint::{self, Checkpoint};
use qwarden_ledger::cosignature::Cosigner;
use qwarden_ledger::log::{CheckpointPolicy, Ledger};
use qwarden_ledger::merkle::Hash;
use qwarden_ledger::note::{Note, NoteSigner, NoteVerifier};
use qwarden_ledger::proof::{HEADER, MAX_PROOF_BYTES, Proof, ProofError, Verified};
use qwarden_ledger::reader::LogReader;

const ORIGIN: &str = "example.test/qwarden/proof-log";

/// The example of c2sp.org/tlog-proof. Its signatures are elided (`[...]`), so it parses but
/// cannot verify.
const SPEC_EXAMPLE: &str = "c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

\u{2014} example.com/fancylog hI2DJw[...]1roloI=
\u{2014} witness1.example mJirIklj[...]qY9v2B/5bg==
\u{2014} witness2.example TnKKVHLX[...]xwYwrSjgow==
\u{2014} witness3.example S4X82uH5[...]3oEcROGLFQ==
";

// ---------------------------------------------------------------------------------------------
// Helpers

/// Entry `i` of the test logs: JSON-like text of varying length, some bytes not UTF-8.
fn entry(i: u64) -> Vec<u8> {
    let mut e = format!("{{\"entry\":{i},\"pad\":\"").into_bytes();
    e.extend((0..i % 50).map(|j| (i + j) as u8));
    e.extend_from_slice(b"\"}");
    e
}

/// A ledger in a temporary directory, signed by a fresh key named `origin`.
struct Log {
    dir: tempfile::TempDir,
    ledger: Ledger,
    verifier: NoteVerifier,
}

impl Log {
    fn new(origin: &str) -> Log {
        let dir = tempfile::tempdir().unwrap();
        let signer = NoteSigner::generate(origin).unwrap();
        let verifier = signer.verifier();
        let ledger = Ledger::open(dir.path(), signer, CheckpointPolicy::default()).unwrap();
        Log {
            dir,
            ledger,
            verifier,
        }
    }

    /// A log holding `entry(0..size)`.
    fn with_size(origin: &str, size: u64) -> Log {
        let log = Log::new(origin);
        log.grow_to(0, size);
        log
    }

    /// Appends `entry(from..to)`: one by one while small, then in one batch.
    fn grow_to(&self, from: u64, to: u64) {
        if to - from <= 8 {
            for i in from..to {
                assert_eq!(self.ledger.append(entry(i)).unwrap(), i);
            }
        } else {
            let batch: Vec<_> = (from..to).map(entry).collect();
            assert_eq!(self.ledger.append_all(&batch).unwrap(), from);
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn reader(&self) -> LogReader {
        LogReader::open(self.dir(), &self.verifier).unwrap()
    }

    /// The proof of entry `index` at the latest checkpoint, made through the reader as `qwarden
    /// audit prove` does.
    fn prove(&self, index: u64) -> Proof {
        let r = self.reader();
        let entry = r.entry(index).unwrap();
        Proof::make(&r.hashes(), index, &entry, r.checkpoint_text(), r.size()).unwrap()
    }
}

/// A log of 7 entries and the proof of entry 3 (three hashes: 2, 0-1, 4-6).
fn sample() -> (Log, Proof) {
    let log = Log::with_size(ORIGIN, 7);
    let proof = log.prove(3);
    assert_eq!(proof.path.len(), 3);
    (log, proof)
}

fn verify(log: &Log, proof: &Proof) -> Result<Verified, ProofError> {
    proof.verify(&log.verifier, &[], None)
}

fn text(proof: &Proof) -> String {
    String::from_utf8(proof.to_text()).unwrap()
}

fn assert_not_included(result: Result<Verified, ProofError>) {
    match result {
        Err(ProofError::NotIncluded { .. }) => {}
        other => panic!("expected `not included`, got {other:?}"),
    }
}

fn assert_bad_checkpoint(result: Result<Verified, ProofError>) {
    match result {
        Err(ProofError::Checkpoint(_)) => {}
        other => panic!("expected a checkpoint error, got {other:?}"),
    }
}

fn assert_malformed(bytes: &[u8]) {
    match Proof::parse(bytes) {
        Err(e @ ProofError::Malformed(_)) => {
            let shown = e.to_string();
            assert!(shown.starts_with("not a valid tlog proof: "), "{shown}");
            assert!(shown.contains("hint: "), "{shown}");
        }
        other => panic!(
            "expected {:?} to be malformed, got {other:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

/// The signed checkpoint `note` with one more signature line.
fn with_line(note: &[u8], line: &str) -> Vec<u8> {
    let mut out = note.to_vec();
    out.extend_from_slice(line.as_bytes());
    out
}

// ---------------------------------------------------------------------------------------------
// Text

#[test]
fn text_round_trips() {
    let hashes: Vec<Hash> = (0..64u8).map(|i| [i; 32]).collect();
    let checkpoint =
        b"example.com/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n".to_vec();
    let cases = [
        Proof {
            extra: None,
            index: 0,
            path: vec![],
            checkpoint: checkpoint.clone(),
        },
        Proof {
            extra: Some(vec![]),
            index: 1,
            path: hashes[..1].to_vec(),
            checkpoint: checkpoint.clone(),
        },
        Proof {
            extra: Some((0..=255).collect()),
            index: u64::MAX,
            path: hashes.clone(),
            checkpoint: checkpoint.clone(),
        },
        Proof {
            extra: Some(b"\n\n".to_vec()),
            index: 10,
            path: hashes[..10].to_vec(),
            checkpoint: vec![],
        },
    ];
    for p in cases {
        let t = p.to_text();
        assert!(t.starts_with(format!("{HEADER}\n").as_bytes()));
        let again = Proof::parse(&t).unwrap();
        assert_eq!(again, p);
        assert_eq!(again.to_text(), t);
    }
    // And the other way: text that parses prints back unchanged.
    let (_log, proof) = sample();
    let t = proof.to_text();
    assert_eq!(Proof::parse(&t).unwrap().to_text(), t);
}

#[test]
fn the_layout_is_the_specifications() {
    let (_log, proof) = sample();
    let t = text(&proof);
    let (head, cp) = t.split_once("\n\n").unwrap();
    let lines: Vec<&str> = head.lines().collect();
    assert_eq!(lines[0], "c2sp.org/tlog-proof@v1");
    assert!(lines[1].starts_with("extra "));
    assert_eq!(lines[2], "index 3");
    assert_eq!(lines.len(), 3 + 3);
    assert_eq!(cp.as_bytes(), proof.checkpoint.as_slice());
    assert!(cp.starts_with(&format!("{ORIGIN}\n7\n")));
}

#[test]
fn the_specification_example_parses() {
    let proof = Proof::parse(SPEC_EXAMPLE.as_bytes()).unwrap();
    assert_eq!(proof.index, 73894);
    let extra = proof.extra.as_deref().unwrap();
    assert!(extra.starts_with(b"age-v1.2.1-darwin-arm64.tar.gz"));
    assert_eq!(extra.len(), 39);
    assert_eq!(proof.path.len(), 5);
    assert_eq!(proof.path[0][..3], [0x81, 0x22, 0xb2]);
    assert_eq!(proof.path[4][..2], [0x00, 0x70]);
    assert_eq!(proof.to_text(), SPEC_EXAMPLE.as_bytes());
    // The checkpoint is there verbatim: its text parses, its elided signatures do not.
    let cp = std::str::from_utf8(&proof.checkpoint).unwrap();
    let (body, signatures) = cp.split_once("\n\n").unwrap();
    let parsed = Checkpoint::parse(&format!("{body}\n")).unwrap();
    assert_eq!(parsed.origin, "example.com/fancylog");
    assert_eq!(parsed.size, 109482);
    assert_eq!(signatures.lines().count(), 4);
    assert!(Note::parse(&proof.checkpoint).is_err());
    // So it never verifies, whatever the key.
    let key = NoteSigner::generate("example.com/fancylog")
        .unwrap()
        .verifier();
    assert_bad_checkpoint(proof.verify(&key, &[], None));
}

// ---------------------------------------------------------------------------------------------
// Real ledgers

#[test]
fn every_entry_of_logs_of_several_sizes_proves() {
    let log = Log::new(ORIGIN);
    let mut size = 0;
    let mut early = Vec::new();
    for target in [1, 2, 7, 256, 257, 1000] {
        log.grow_to(size, target);
        size = target;
        let r = log.reader();
        assert_eq!(r.size(), size);
        for index in 0..size {
            let e = r.entry(index).unwrap();
            assert_eq!(e, entry(index));
            let proof = Proof::make(&r.hashes(), index, &e, r.checkpoint_text(), r.size()).unwrap();
            // Through the file format, as `audit prove` writes it and `audit verify-proof` reads it.
            let parsed = Proof::parse(&proof.to_text()).unwrap();
            assert_eq!(parsed, proof);
            let verified = parsed
                .verify(&log.verifier, &[], None)
                .unwrap_or_else(|e| panic!("entry {index} of {size}: {e}"));
            assert_eq!(&verified.checkpoint, r.checkpoint());
            assert_eq!(verified.entry, e);
            assert!(verified.witnesses.is_empty());
            // The same entry given apart from the proof verifies too.
            assert!(parsed.verify(&log.verifier, &[], Some(&e)).is_ok());
            if index == size - 1 {
                early.push(proof);
            }
        }
        // No proof for an entry past the end.
        match Proof::make(&r.hashes(), size, b"x", r.checkpoint_text(), size) {
            Err(ProofError::Make { index, .. }) => assert_eq!(index, size),
            other => panic!("{other:?}"),
        }
    }
    // A proof stays valid as the log grows: it is checked against its own checkpoint.
    for proof in &early {
        assert!(verify(&log, proof).is_ok());
    }
}

// ---------------------------------------------------------------------------------------------
// Tampering

#[test]
fn a_flipped_proof_hash_is_refused() {
    let (log, proof) = sample();
    assert!(verify(&log, &proof).is_ok());
    for i in 0..proof.path.len() {
        for bit in [0, 7] {
            let mut bad = proof.clone();
            bad.path[i][i * 5 % 32] ^= 1 << bit;
            assert_not_included(verify(&log, &bad));
            let reparsed = Proof::parse(&bad.to_text()).unwrap();
            assert_not_included(verify(&log, &reparsed));
        }
    }
}

#[test]
fn a_wrong_index_is_refused() {
    let (log, proof) = sample();
    for index in [0, 1, 2, 4, 5, 6, 7, 8, u64::MAX] {
        let bad = Proof {
            index,
            ..proof.clone()
        };
        assert_not_included(verify(&log, &bad));
    }
    match verify(&log, &Proof { index: 7, ..proof }) {
        Err(
            e @ ProofError::NotIncluded {
                index: 7, size: 7, ..
            },
        ) => {
            assert!(e.to_string().contains("entry 7"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_truncated_or_extended_path_is_refused() {
    let (log, proof) = sample();
    let mut short = proof.clone();
    short.path.pop();
    assert_not_included(verify(&log, &short));
    let mut first_only = proof.clone();
    first_only.path.truncate(1);
    assert_not_included(verify(&log, &first_only));
    let empty = Proof {
        path: vec![],
        ..proof.clone()
    };
    assert_not_included(verify(&log, &empty));
    let mut long = proof.clone();
    long.path.push([0; 32]);
    assert_not_included(verify(&log, &long));
    let mut doubled = proof.clone();
    doubled.path.insert(0, proof.path[0]);
    assert_not_included(verify(&log, &doubled));
    // The last hash moved first: same hashes, wrong order.
    let mut rotated = proof.clone();
    rotated.path.rotate_right(1);
    assert_not_included(verify(&log, &rotated));
}

#[test]
fn another_entry_is_refused() {
    let (log, proof) = sample();
    // Given apart from the proof (`--entry`): it replaces `extra`.
    for other in [entry(4), entry(2), vec![], b"{\"entry\":3}".to_vec()] {
        assert_not_included(proof.verify(&log.verifier, &[], Some(&other)));
    }
    // In the proof's `extra`.
    let swapped = Proof {
        extra: Some(entry(4)),
        ..proof.clone()
    };
    assert_not_included(verify(&log, &swapped));
    // The right entry given apart wins over a wrong `extra`.
    assert!(swapped.verify(&log.verifier, &[], Some(&entry(3))).is_ok());
    // Entry 4 with entry 3's index and path.
    let four = log.prove(4);
    let mixed = Proof {
        extra: four.extra.clone(),
        ..proof
    };
    assert_not_included(verify(&log, &mixed));
}

#[test]
fn no_entry_at_all_is_refused() {
    let (log, proof) = sample();
    let bare = Proof {
        extra: None,
        ..proof
    };
    let t = text(&bare);
    assert!(!t.contains("extra"));
    let parsed = Proof::parse(t.as_bytes()).unwrap();
    match verify(&log, &parsed) {
        Err(e @ ProofError::NoEntry) => assert!(e.to_string().contains("--entry"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parsed
            .verify(&log.verifier, &[], Some(&entry(3)))
            .unwrap()
            .entry,
        entry(3)
    );
}

#[test]
fn the_wrong_log_key_is_refused() {
    let (log, proof) = sample();
    // Another key with the same name (another log claiming the origin), and another name.
    for other in [ORIGIN, "example.test/qwarden/other"] {
        let key = NoteSigner::generate(other).unwrap().verifier();
        assert_bad_checkpoint(proof.verify(&key, &[], None));
    }
    match proof.verify(&NoteSigner::generate(ORIGIN).unwrap().verifier(), &[], None) {
        Err(e) => assert!(e.to_string().contains("--key"), "{e}"),
        Ok(_) => unreachable!(),
    }
    assert!(verify(&log, &proof).is_ok());
}

#[test]
fn a_checkpoint_of_another_log_is_refused() {
    let (log, proof) = sample();
    // Another log, same size, other entries.
    let other = Log::new("example.test/qwarden/other");
    for i in 0..7 {
        other
            .ledger
            .append(format!("other {i}").into_bytes())
            .unwrap();
    }
    let foreign = Proof {
        checkpoint: other.reader().checkpoint_text().to_vec(),
        ..proof.clone()
    };
    assert_bad_checkpoint(verify(&log, &foreign));
    // Checked with that log's own key, the entry is not in it.
    assert_not_included(foreign.verify(&other.verifier, &[], None));
    // A log with the same origin and the same entries, but its own key.
    let twin = Log::with_size(ORIGIN, 7);
    let twin_cp = Proof {
        checkpoint: twin.reader().checkpoint_text().to_vec(),
        ..proof.clone()
    };
    assert_bad_checkpoint(verify(&log, &twin_cp));
    assert!(twin_cp.verify(&twin.verifier, &[], None).is_ok());
    // An older checkpoint of the same log (size 7 of a log now 8) does not cover a newer entry.
    log.grow_to(7, 8);
    let newest = log.prove(7);
    let stale = Proof {
        checkpoint: proof.checkpoint.clone(),
        ..newest.clone()
    };
    assert_not_included(verify(&log, &stale));
    assert!(verify(&log, &newest).is_ok());
}

#[test]
fn every_flipped_byte_is_refused() {
    let (log, proof) = sample();
    let t = proof.to_text();
    let cp_start = t.len() - proof.checkpoint.len();
    for at in 0..t.len() {
        for bit in [0, 5] {
            let mut bad = t.clone();
            bad[at] ^= 1 << bit;
            let result = Proof::parse(&bad).and_then(|p| verify(&log, &p));
            assert!(
                result.is_err(),
                "byte {at} ^ {} verifies: {:?}",
                1 << bit,
                String::from_utf8_lossy(&bad)
            );
            // A flip inside the checkpoint is a checkpoint problem, or breaks the text.
            if at >= cp_start {
                match result {
                    Err(ProofError::Checkpoint(_) | ProofError::Malformed(_)) => {}
                    other => panic!("byte {at} of the checkpoint: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn a_checkpoint_with_a_flipped_byte_is_refused() {
    let (log, proof) = sample();
    let cp = String::from_utf8(proof.checkpoint.clone()).unwrap();
    // Size, root hash, origin, signature: each changed and still well-formed.
    let root = cp.lines().nth(2).unwrap();
    let sig = cp.lines().last().unwrap();
    let mut flipped_root = root.as_bytes().to_vec();
    flipped_root[0] = if flipped_root[0] == b'A' { b'B' } else { b'A' };
    let mut flipped_sig = sig.as_bytes().to_vec();
    let mid = flipped_sig.len() / 2;
    flipped_sig[mid] = if flipped_sig[mid] == b'A' { b'B' } else { b'A' };
    for (from, to) in [
        ("\n7\n".to_owned(), "\n8\n".to_owned()),
        (root.to_owned(), String::from_utf8(flipped_root).unwrap()),
        (format!("{ORIGIN}\n"), format!("{ORIGIN}x\n")),
        (sig.to_owned(), String::from_utf8(flipped_sig).unwrap()),
    ] {
        let bad = Proof {
            checkpoint: cp.replacen(&from, &to, 1).into_bytes(),
            ..proof.clone()
        };
        assert_ne!(bad.checkpoint, proof.checkpoint);
        assert_bad_checkpoint(verify(&log, &bad));
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed text

#[test]
fn a_non_canonical_index_is_refused() {
    let (_log, proof) = sample();
    let t = text(&proof);
    for bad in [
        "index 03",
        "index 00",
        "index +3",
        "index -3",
        "index 3 ",
        "index  3",
        "index 0x3",
        "index ",
        "index",
        "Index 3",
        "index 18446744073709551616",
    ] {
        assert_malformed(t.replacen("index 3", bad, 1).as_bytes());
    }
    for good in ["index 0", "index 18446744073709551615"] {
        assert!(Proof::parse(t.replacen("index 3", good, 1).as_bytes()).is_ok());
    }
}

#[test]
fn a_missing_blank_line_is_refused() {
    let (_log, proof) = sample();
    let t = text(&proof);
    assert_malformed(t.replacen("\n\n", "\n", 1).as_bytes());
    let head = t.split_once("\n\n").unwrap().0;
    assert_malformed(head.as_bytes());
    assert_malformed(format!("{head}\n").as_bytes());
}

#[test]
fn too_many_hashes_are_refused() {
    let (_log, proof) = sample();
    let max = Proof {
        path: vec![[3; 32]; 64],
        ..proof.clone()
    };
    assert_eq!(Proof::parse(&max.to_text()).unwrap().path.len(), 64);
    let over = Proof {
        path: vec![[3; 32]; 65],
        ..proof
    };
    assert_malformed(&over.to_text());
}

#[test]
fn a_file_over_one_mib_is_refused() {
    let (_log, proof) = sample();
    // A proof of exactly the limit (a large `extra`) parses; one byte more does not.
    let base = proof.to_text().len();
    let extra_len = (MAX_PROOF_BYTES - base) / 4 * 3;
    let mut big = Proof {
        extra: Some(vec![7; extra_len]),
        ..proof.clone()
    };
    let mut t = big.to_text();
    let slack = MAX_PROOF_BYTES - t.len();
    // Pad the checkpoint (unparsed until verification) up to the limit.
    big.checkpoint.extend(std::iter::repeat_n(b'x', slack));
    t = big.to_text();
    assert_eq!(t.len(), MAX_PROOF_BYTES);
    assert_eq!(Proof::parse(&t).unwrap(), big);
    big.checkpoint.push(b'x');
    assert_malformed(&big.to_text());
    assert_malformed(&vec![b'\n'; MAX_PROOF_BYTES + 1]);
}

#[test]
fn other_malformed_proofs_are_refused() {
    let (_log, proof) = sample();
    let t = text(&proof);
    let extra_line = t.lines().nth(1).unwrap().to_owned();
    let hash_line = t.lines().nth(3).unwrap().to_owned();
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        b"\n\n".to_vec(),
        t.replacen(HEADER, "c2sp.org/tlog-proof@v2", 1).into_bytes(),
        t.replacen(HEADER, "c2sp.org/tlog-proof", 1).into_bytes(),
        t.replace('\n', "\r\n").into_bytes(),
        // No index line.
        t.replacen("index 3\n", "", 1).into_bytes(),
        // `extra` after `index`.
        t.replacen(
            &format!("{extra_line}\nindex 3\n"),
            &format!("index 3\n{extra_line}\n"),
            1,
        )
        .into_bytes(),
        // Two `extra` lines.
        t.replacen(&extra_line, &format!("{extra_line}\n{extra_line}"), 1)
            .into_bytes(),
        // `extra` not base64, or not canonical base64.
        t.replacen(&extra_line, "extra not*base64", 1).into_bytes(),
        t.replacen(&extra_line, extra_line.trim_end_matches('='), 1)
            .into_bytes(),
        // A hash line of 31 bytes, unpadded, with a space.
        t.replacen(
            &hash_line,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
            1,
        )
        .into_bytes(),
        t.replacen(&hash_line, hash_line.trim_end_matches('='), 1)
            .into_bytes(),
        t.replacen(&hash_line, &format!(" {hash_line}"), 1)
            .into_bytes(),
        // Not UTF-8.
        {
            let mut b = t.clone().into_bytes();
            b[30] = 0xff;
            b
        },
    ];
    for bad in cases {
        assert_malformed(&bad);
    }
}

// ---------------------------------------------------------------------------------------------
// Witnesses

#[test]
fn cosignatures_are_reported_when_their_witness_is_given() {
    let (log, proof) = sample();
    let w1 = Cosigner::generate("witness.example/one").unwrap();
    let w2 = Cosigner::generate("witness.example/two").unwrap();
    let w3 = Cosigner::generate("witness.example/three").unwrap();
    let note = Note::parse(&proof.checkpoint).unwrap();
    let cosigned = Proof {
        checkpoint: with_line(
            &with_line(
                &proof.checkpoint,
                &w1.cosign(note.text(), 1_780_000_001).unwrap(),
            ),
            &w2.cosign(note.text(), 1_780_000_002).unwrap(),
        ),
        ..proof.clone()
    };
    // Through the file format.
    let cosigned = Proof::parse(&cosigned.to_text()).unwrap();
    let witnesses = |given: &[&Cosigner]| {
        let verifiers: Vec<_> = given.iter().map(|c| c.verifier()).collect();
        cosigned
            .verify(&log.verifier, &verifiers, None)
            .unwrap()
            .witnesses
    };
    let one = ("witness.example/one".to_owned(), 1_780_000_001);
    let two = ("witness.example/two".to_owned(), 1_780_000_002);
    // Unknown cosignatures are ignored: the proof verifies with the log key alone.
    assert_eq!(witnesses(&[]), vec![]);
    assert_eq!(witnesses(&[&w1]), vec![one.clone()]);
    assert_eq!(witnesses(&[&w2]), vec![two.clone()]);
    assert_eq!(witnesses(&[&w2, &w1]), vec![two, one.clone()]);
    // A given witness that did not cosign is simply not reported.
    assert_eq!(witnesses(&[&w3, &w1]), vec![one]);
    assert_eq!(witnesses(&[&w3]), vec![]);
    // The uncosigned proof reports no witness either.
    assert!(
        proof
            .verify(&log.verifier, &[w1.verifier()], None)
            .unwrap()
            .witnesses
            .is_empty()
    );
}

#[test]
fn a_cosignature_on_another_checkpoint_is_not_reported() {
    let (log, proof) = sample();
    let w = Cosigner::generate("witness.example/one").unwrap();
    // The witness's line for another tree head of the log, pasted under this checkpoint.
    let note = Note::parse(&proof.checkpoint).unwrap();
    let mut other = Checkpoint::parse(note.text()).unwrap();
    other.size = 6;
    let forged = Proof {
        checkpoint: with_line(
            &proof.checkpoint,
            &w.cosign(&other.to_text(), 1_780_000_000).unwrap(),
        ),
        ..proof.clone()
    };
    let verified = forged.verify(&log.verifier, &[w.verifier()], None).unwrap();
    assert!(verified.witnesses.is_empty());
    // The log's own signature over the cosigned note still verifies.
    assert!(checkpoint::open(&forged.checkpoint, &log.verifier).is_ok());
}
