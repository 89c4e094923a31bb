//! Fuzz-style regression test: tens of thousands of mutants of real signed notes and checkpoints
//! (fixed seed, hand-rolled PRNG) go through the parsers and verifiers. Nothing may panic; what
//! parses must re-encode to the same bytes; and our verdicts must match those of an independent
//! implementation (Cloudflare azul's `signed_note` and `tlog_tiles`) except where we are
//! stricter on purpose (duplicate signature lines, control characters in checkpoint lines).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use qwarden_ledger::checkpoint::{self, Checkpoint};
use qwarden_ledger::cosignature::{CosignatureVerifier, Cosigner};
use qwarden_ledger::merkle;
use qwarden_ledger::note::{self, Note, NoteError, NoteSigner, NoteVerifier};
use signed_note::{StandardVerifier, VerifierList};

/// SplitMix64: small, fast and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const BYTES: &[u8] = &[
    b'\n', b' ', b'+', b'=', b'/', 0xe2, 0x80, 0x94, 0x00, 0x7f, 0xff, b'0', b'A', b'\r', 0xc3,
    b'\t',
];
const TOKENS: &[&str] = &[
    "\n",
    "\n\n",
    "\u{2014} ",
    "\u{2014}",
    " ",
    "+",
    "=",
    "==",
    "0",
    "AAAA",
    "\u{a0}",
    "\n\u{2014} ",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..=rng.below(3) {
        let len = b.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                b[i] = BYTES[rng.below(BYTES.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                b.splice(i..i, t.iter().copied());
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(8)).min(len);
                b.drain(i..j);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(100)).min(len);
                let chunk = b[i..j].to_vec();
                let k = rng.below(len + 1);
                b.splice(k..k, chunk);
            }
            5 => {
                // Swap two lines.
                let mut lines: Vec<Vec<u8>> =
                    b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect();
                let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                lines.swap(i, j);
                b = lines.join(&b'\n');
            }
            6 if len > 0 => b.truncate(rng.below(len)),
            _ => flip_decoded_bit(rng, &mut b),
        }
    }
    b
}

/// Re-encodes the last word of a random line with one decoded bit flipped, so that signatures
/// stay well-formed but become wrong.
fn flip_decoded_bit(rng: &mut Rng, b: &mut Vec<u8>) {
    let nth = rng.below(8);
    let mut start = 0;
    for (i, line) in b.split(|&c| c == b'\n').enumerate() {
        if i == nth {
            break;
        }
        start += line.len() + 1;
    }
    let Some(rest) = b.get(start..) else {
        return;
    };
    let end = start + rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
    let line = &b[start..end];
    let word = start + line.iter().rposition(|&c| c == b' ').map_or(0, |p| p + 1);
    if let Ok(mut raw) = BASE64.decode(&b[word..end])
        && !raw.is_empty()
    {
        let k = rng.below(raw.len());
        raw[k] ^= 1 << rng.below(8);
        b.splice(word..end, BASE64.encode(&raw).into_bytes());
    }
}

struct Keys {
    ours: Vec<NoteVerifier>,
    theirs: Vec<String>,
    witnesses: Vec<CosignatureVerifier>,
}

fn seeds() -> (Vec<Vec<u8>>, Keys) {
    let peter = NoteSigner::from_skey(
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    )
    .unwrap();
    let enoch = NoteSigner::from_skey(
        "PRIVATE+KEY+EnochRoot+af0cfe78+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .unwrap();
    // A deterministic witness key: seed 0x07 repeated.
    let seed = [7u8; 32];
    let pk = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let id = note::key_id("witness.example/w1", 0x04, pk.as_bytes());
    let wskey = format!(
        "PRIVATE+KEY+witness.example/w1+{id:08x}+{}",
        BASE64.encode([&[0x04u8][..], &seed].concat())
    );
    let witness = Cosigner::from_skey(&wskey).unwrap();
    let arche = NoteVerifier::from_vkey(
        "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f",
    )
    .unwrap();
    let remora = CosignatureVerifier::from_vkey(
        "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
    )
    .unwrap();

    let text = "If you think cryptography is the answer to your problem,\n\
                then you don't know what your problem is.\n";
    let doubly = format!(
        "{}{}",
        peter.sign(text).unwrap(),
        enoch.signature_line(text).unwrap()
    );
    let cp = Checkpoint {
        origin: "PeterNeumann".into(),
        size: 20852163,
        root: merkle::leaf_hash(b"x"),
        extensions: vec!["ext".into()],
    };
    let cosigned = format!(
        "{}{}",
        checkpoint::sign(&cp, &peter).unwrap(),
        witness.cosign(&cp.to_text(), 1_679_315_147).unwrap()
    );
    let arche_note = include_str!("vectors/arche2025h1-checkpoint.txt");
    let spec = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    let seeds = vec![
        peter.sign(text).unwrap().into_bytes(),
        doubly.into_bytes(),
        cosigned.into_bytes(),
        arche_note.as_bytes().to_vec(),
        spec.as_bytes().to_vec(),
    ];
    let ours = vec![peter.verifier(), enoch.verifier(), arche];
    let theirs = ours.iter().map(NoteVerifier::to_vkey).collect();
    let keys = Keys {
        ours,
        theirs,
        witnesses: vec![witness.verifier(), remora],
    };
    (seeds, keys)
}

fn their_list(vkeys: &[String]) -> VerifierList {
    VerifierList::new(
        vkeys
            .iter()
            .map(|k| Box::new(StandardVerifier::new(k).unwrap()) as Box<dyn signed_note::Verifier>)
            .collect(),
    )
}

#[derive(Default, Debug)]
struct Counts {
    parsed: usize,
    verified: usize,
    checkpoints: usize,
    cosignatures: usize,
}

fn check(input: &[u8], keys: &Keys, counts: &mut Counts) {
    let ours = Note::parse(input);
    let theirs = signed_note::Note::from_bytes(input);
    match (&ours, &theirs) {
        (Ok(_), Err(e)) => panic!("azul rejects ({e}) what we accept: {input:?}"),
        (Err(e), Ok(_)) => assert!(
            matches!(e, NoteError::DuplicateSignature { .. }),
            "we reject ({e}) what azul accepts: {:?}",
            String::from_utf8_lossy(input)
        ),
        _ => {}
    }
    let Ok(note) = ours else {
        return;
    };
    counts.parsed += 1;
    assert_eq!(note.to_bytes(), input, "parse/encode round trip");

    let our_verdict = note.verify(&keys.ours);
    let their_verdict = theirs.as_ref().unwrap().verify(&their_list(&keys.theirs));
    assert_eq!(
        our_verdict.is_ok(),
        their_verdict.is_ok(),
        "verdicts differ ({our_verdict:?}) on {:?}",
        String::from_utf8_lossy(input)
    );
    if let Ok(v) = &our_verdict {
        counts.verified += 1;
        assert_eq!(v.len(), their_verdict.unwrap().0.len());
    }

    // Checkpoint parsing of the note text: round trip, and agreement with tlog_tiles.
    let ours_cp = Checkpoint::parse(note.text());
    let theirs_cp = tlog_tiles::Checkpoint::from_bytes(note.text().as_bytes());
    assert_eq!(
        ours_cp.is_ok(),
        theirs_cp.is_ok(),
        "checkpoint verdicts differ ({ours_cp:?}) on {:?}",
        note.text()
    );
    if let Ok(cp) = &ours_cp {
        counts.checkpoints += 1;
        assert_eq!(cp.to_text(), note.text());
    }
    for log in &keys.ours {
        let _ = checkpoint::open(input, log);
    }
    for w in &keys.witnesses {
        if w.verify(&note).is_ok() {
            counts.cosignatures += 1;
        }
    }
}

#[test]
fn mutated_notes_never_panic_and_agree_with_azul() {
    let (seeds, keys) = seeds();
    let mut rng = Rng(0x5eed_0fc2_5b20_2025);
    let mut counts = Counts::default();
    for seed in &seeds {
        // The unmutated seeds are fully valid.
        check(seed, &keys, &mut counts);
    }
    assert_eq!(counts.parsed, seeds.len());
    for _ in 0..10_000 {
        for seed in &seeds {
            let m = mutate(&mut rng, seed);
            check(&m, &keys, &mut counts);
        }
    }
    // The mutants exercise both sides of every decision.
    assert!(counts.parsed > 1_000, "{counts:?}");
    assert!(counts.verified > 100, "{counts:?}");
    assert!(counts.checkpoints > 100, "{counts:?}");
    assert!(counts.cosignatures > 10, "{counts:?}");
}

#[test]
fn mutated_checkpoint_texts_never_panic_and_agree_with_tlog_tiles() {
    let mut rng = Rng(42);
    let seeds = [
        "example.com/log\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nextension one\nextension two\n",
    ];
    let mut accepted = 0;
    for _ in 0..10_000 {
        for seed in seeds {
            let m = mutate(&mut rng, seed.as_bytes());
            let Ok(text) = std::str::from_utf8(&m) else {
                continue;
            };
            let ours = Checkpoint::parse(text);
            if let Ok(cp) = &ours {
                accepted += 1;
                assert_eq!(cp.to_text(), text);
            }
            // Control characters other than newline are refused by us only (see note_interop).
            if text.bytes().any(|b| b < 0x20 && b != b'\n') {
                assert!(ours.is_err());
                continue;
            }
            let theirs = tlog_tiles::Checkpoint::from_bytes(text.as_bytes());
            assert_eq!(ours.is_ok(), theirs.is_ok(), "{text:?}: {ours:?}");
        }
    }
    assert!(accepted > 1_000, "{accepted}");
}
