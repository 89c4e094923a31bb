//! Checkpoints: the examples of C2SP `tlog-checkpoint` and `tlog-witness`, a real checkpoint of a
//! production log, round trips, and strict rejection of malformed or mismatched checkpoints.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qwarden_ledger::checkpoint::{self, Checkpoint, CheckpointError};
use qwarden_ledger::merkle;
use qwarden_ledger::note::{Note, NoteError, NoteSigner, NoteVerifier};

// The example of c2sp.org/tlog-checkpoint (its key is not published).
const SPEC_CHECKPOINT: &str = "example.com/behind-the-sofa\n\
20852163\n\
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
\n\
\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

// The checkpoint of the add-checkpoint example of c2sp.org/tlog-witness: two log signatures
// with the same key name and different key ids.
const WITNESS_SPEC_CHECKPOINT: &str = "example.com/behind-the-sofa\n\
20852163\n\
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
\n\
\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";

/// A checkpoint of Google's `arche2025h1.staging.ct.transparency.dev` static-ct log with the log's
/// Ed25519 note signature, its RFC 6962 STH signature (type 0x05) and four witness cosignatures,
/// as quoted in the tests of an independent Python tlog implementation. The production
/// signatures authenticate it.
const ARCHE_CHECKPOINT: &str = include_str!("vectors/arche2025h1-checkpoint.txt");

/// The verifier key of that log.
const ARCHE_VKEY: &str =
    "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f";

const ROOT_B64: &str = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";

fn cp(origin: &str, size: u64, extensions: &[&str]) -> Checkpoint {
    Checkpoint {
        origin: origin.to_owned(),
        size,
        root: merkle::leaf_hash(format!("{origin} {size}").as_bytes()),
        extensions: extensions.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn the_tlog_checkpoint_specification_example() {
    let note = Note::parse(SPEC_CHECKPOINT.as_bytes()).unwrap();
    let c = Checkpoint::parse(note.text()).unwrap();
    assert_eq!(c.origin, "example.com/behind-the-sofa");
    assert_eq!(c.size, 20852163);
    assert_eq!(
        hex::encode(c.root),
        "0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62"
    );
    assert!(c.extensions.is_empty());
    assert_eq!(c.to_text(), note.text());
    assert_eq!(note.signatures()[0].name(), "example.com/behind-the-sofa");
    assert_eq!(note.signatures()[0].key_id(), 0x033de0ae);

    let w = Note::parse(WITNESS_SPEC_CHECKPOINT.as_bytes()).unwrap();
    assert_eq!(w.signatures().len(), 2);
    assert_eq!(w.signatures()[1].key_id(), 0xa292ea05);
    assert_eq!(Checkpoint::parse(w.text()).unwrap(), c);
}

#[test]
fn a_real_production_checkpoint_opens() {
    let log = NoteVerifier::from_vkey(ARCHE_VKEY).unwrap();
    assert_eq!(log.to_vkey(), ARCHE_VKEY);
    let (c, note) = checkpoint::open(ARCHE_CHECKPOINT.as_bytes(), &log).unwrap();
    assert_eq!(c.origin, "arche2025h1.staging.ct.transparency.dev");
    assert_eq!(c.size, 1432088532);
    assert_eq!(note.signatures().len(), 6);
    assert_eq!(note.to_bytes(), ARCHE_CHECKPOINT.as_bytes());
    // Re-encoding the checkpoint reproduces the signed text exactly.
    assert_eq!(c.to_text(), note.text());

    // Clobber the size: the log signature no longer verifies.
    let clobbered = ARCHE_CHECKPOINT.replacen("1432088532", "42", 1);
    assert!(matches!(
        checkpoint::open(clobbered.as_bytes(), &log),
        Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
    ));
    // With someone else's key, nothing verifies.
    let other = NoteSigner::generate("arche2025h1.staging.ct.transparency.dev").unwrap();
    assert_eq!(
        checkpoint::open(ARCHE_CHECKPOINT.as_bytes(), &other.verifier()),
        Err(CheckpointError::Note(NoteError::NotVerified))
    );
}

#[test]
fn text_round_trips() {
    for c in [
        cp("example.com/log", 0, &[]),
        cp("example.com/log", 1, &[]),
        cp("example.com/log", u64::MAX, &[]),
        cp("e", 123, &["abc", "def"]),
        cp(
            "log with spaces and + is allowed by the format",
            7,
            &["\u{2014} ext"],
        ),
    ] {
        c.validate().unwrap();
        let text = c.to_text();
        assert!(text.ends_with('\n'));
        assert_eq!(Checkpoint::parse(&text).unwrap(), c, "{text:?}");
    }
    let empty = Checkpoint {
        origin: "example.com/log".into(),
        size: 0,
        root: merkle::empty_root(),
        extensions: vec![],
    };
    assert_eq!(
        empty.to_text(),
        "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    );
}

#[test]
fn sign_and_open_round_trip() {
    let signer = NoteSigner::generate("example.com/log").unwrap();
    let c = cp("example.com/log", 42, &[]);
    let signed = checkpoint::sign(&c, &signer).unwrap();
    assert!(signed.starts_with(&c.to_text()));
    let (opened, note) = checkpoint::open(signed.as_bytes(), &signer.verifier()).unwrap();
    assert_eq!(opened, c);
    assert_eq!(note.text(), c.to_text());
    assert_eq!(note.to_bytes(), signed.as_bytes());

    // Extensions are signed too.
    let c = cp("example.com/log", 43, &["x-ext"]);
    let signed = checkpoint::sign(&c, &signer).unwrap();
    let tampered = signed.replacen("x-ext", "y-ext", 1);
    assert!(matches!(
        checkpoint::open(tampered.as_bytes(), &signer.verifier()),
        Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
    ));
}

#[test]
fn a_flipped_byte_anywhere_in_a_signed_checkpoint_is_caught() {
    let signer = NoteSigner::generate("example.com/log").unwrap();
    let signed = checkpoint::sign(&cp("example.com/log", 1000, &[]), &signer).unwrap();
    let bytes = signed.as_bytes();
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x02, 0x20] {
            let mut b = bytes.to_vec();
            b[i] ^= bit;
            if b == bytes {
                continue;
            }
            if let Ok((c, _)) = checkpoint::open(&b, &signer.verifier()) {
                panic!("byte {i} bit {bit:#x} accepted: {c:?}");
            }
        }
    }
}

#[test]
fn leading_zero_and_malformed_sizes() {
    for size in [
        "01",
        "00",
        "007",
        "+1",
        "-1",
        " 1",
        "1 ",
        "1e3",
        "0x10",
        "",
        "18446744073709551616",
        "\u{661}",
    ] {
        let text = format!("example.com/log\n{size}\n{ROOT_B64}\n");
        assert_eq!(
            Checkpoint::parse(&text),
            Err(CheckpointError::InvalidSize {
                found: size.to_owned()
            }),
            "{size:?}"
        );
    }
    assert_eq!(
        Checkpoint::parse(&format!("o\n0\n{ROOT_B64}\n"))
            .unwrap()
            .size,
        0
    );
    assert_eq!(
        Checkpoint::parse(&format!("o\n18446744073709551615\n{ROOT_B64}\n"))
            .unwrap()
            .size,
        u64::MAX
    );
}

#[test]
fn wrong_root_lengths_and_encodings() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    for root in [
        b64.encode([7u8; 31]),
        b64.encode([7u8; 33]),
        b64.encode([7u8; 64]),
        String::new(),
        ROOT_B64.trim_end_matches('=').to_owned(), // unpadded
        base64::engine::general_purpose::URL_SAFE.encode([0xfbu8; 32]), // URL alphabet
        format!(" {ROOT_B64}"),
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=".to_owned(), // stray bits
        hex::encode([7u8; 32]),
    ] {
        let text = format!("example.com/log\n5\n{root}\n");
        assert_eq!(
            Checkpoint::parse(&text),
            Err(CheckpointError::InvalidRoot {
                found: root.clone()
            }),
            "{root:?}"
        );
    }
}

#[test]
fn structural_rejections() {
    let cases: [(&str, CheckpointError); 8] = [
        ("", CheckpointError::NotTerminated),
        ("example.com/log\n5\nroot", CheckpointError::NotTerminated),
        (
            "example.com/log\n5\n",
            CheckpointError::TooFewLines { found: 2 },
        ),
        (
            "example.com/log\n",
            CheckpointError::TooFewLines { found: 1 },
        ),
        ("\n5\nx\n", CheckpointError::EmptyOrigin),
        (
            "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next\n\n",
            CheckpointError::EmptyExtension { line: 5 },
        ),
        (
            "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n",
            CheckpointError::EmptyExtension { line: 4 },
        ),
        (
            "example.com/log\r\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            CheckpointError::ControlCharacter { line: 1 },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(Checkpoint::parse(text), Err(want), "{text:?}");
    }
}

#[test]
fn origin_mismatch() {
    let signer = NoteSigner::generate("example.com/log").unwrap();
    // Signing a checkpoint of another origin is refused.
    assert_eq!(
        checkpoint::sign(&cp("example.com/other", 1, &[]), &signer),
        Err(CheckpointError::OriginMismatch {
            origin: "example.com/other".into(),
            key: "example.com/log".into()
        })
    );
    // A note whose signature is valid but whose checkpoint names another origin is refused.
    let c = cp("example.com/other", 1, &[]);
    let signed = signer.sign(&c.to_text()).unwrap();
    assert_eq!(
        checkpoint::open(signed.as_bytes(), &signer.verifier()),
        Err(CheckpointError::OriginMismatch {
            origin: "example.com/other".into(),
            key: "example.com/log".into()
        })
    );
}

#[test]
fn invalid_checkpoints_are_not_signed() {
    let signer = NoteSigner::generate("example.com/log").unwrap();
    let mut c = cp("example.com/log", 1, &["ok", "two\nlines"]);
    assert_eq!(
        checkpoint::sign(&c, &signer),
        Err(CheckpointError::InvalidExtension { index: 1 })
    );
    c.extensions = vec![String::new()];
    assert_eq!(
        checkpoint::sign(&c, &signer),
        Err(CheckpointError::EmptyExtension { line: 4 })
    );
    c.extensions.clear();
    c.origin = String::new();
    assert_eq!(c.validate(), Err(CheckpointError::EmptyOrigin));
}

#[test]
fn a_signed_note_that_is_not_a_checkpoint_is_refused_after_verification() {
    let signer = NoteSigner::generate("example.com/log").unwrap();
    let signed = signer.sign("example.com/log\nnot a size\nx\n").unwrap();
    assert!(matches!(
        checkpoint::open(signed.as_bytes(), &signer.verifier()),
        Err(CheckpointError::InvalidSize { .. })
    ));
    // An unsigned-looking text is never parsed: verification comes first.
    let stranger = NoteSigner::generate("example.com/log").unwrap();
    let signed = stranger.sign("example.com/log\nnot a size\nx\n").unwrap();
    assert_eq!(
        checkpoint::open(signed.as_bytes(), &signer.verifier()),
        Err(CheckpointError::Note(NoteError::NotVerified))
    );
}
