//! Witness cosignatures (C2SP `tlog-cosignature` v1, Ed25519): the specification's example, a
//! real cosignature by a production witness, witness keys from transparency-dev/formats' tests,
//! round trips and rejections.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, VerifyingKey};
use qwarden_ledger::checkpoint::{self, Checkpoint, CheckpointError};
use qwarden_ledger::cosignature::{
    ALG_COSIGNATURE_V1, CosignatureError, CosignatureVerifier, Cosigner, MAX_TIMESTAMP,
};
use qwarden_ledger::merkle;
use qwarden_ledger::note::{self, Note, NoteError, NoteSigner, NoteVerifier};

// The example of c2sp.org/tlog-cosignature: a checkpoint with a log signature and a cosignature
// by witness.example.com/w1 (no keys are published for it).
const SPEC_COSIGNED: &str = "example.com/behind-the-sofa\n\
20852163\n\
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
\n\
\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

// Witness keys from transparency-dev/formats, note/note_cosigv1_test.go (TestCoSigV1NewVerifier).
const REMORA_VKEY: &str = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";
const PLAIN_ED25519_VKEY: &str = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6";

// A production checkpoint cosigned by remora.n621.de (see tests/checkpoint.rs for its source).
const ARCHE_CHECKPOINT: &str = include_str!("vectors/arche2025h1-checkpoint.txt");
const ARCHE_VKEY: &str =
    "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f";

fn checkpoint_text(size: u64) -> String {
    Checkpoint {
        origin: "example.com/log".into(),
        size,
        root: merkle::leaf_hash(&size.to_be_bytes()),
        extensions: vec![],
    }
    .to_text()
}

fn log() -> NoteSigner {
    NoteSigner::generate("example.com/log").unwrap()
}

#[test]
fn the_specification_example_has_the_specified_layout() {
    let note = Note::parse(SPEC_COSIGNED.as_bytes()).unwrap();
    let w = &note.signatures()[1];
    assert_eq!(w.name(), "witness.example.com/w1");
    assert_eq!(w.key_id(), 0x8d66cf3f);
    // timestamp (8 bytes, big-endian) || Ed25519 signature (64 bytes); the timestamp is the one
    // of the specification's example message "time 1679315147".
    assert_eq!(w.signature().len(), 72);
    assert_eq!(
        u64::from_be_bytes(w.signature()[..8].try_into().unwrap()),
        1679315147
    );
    // The witness key is not published: asking for it reports the cosignature missing.
    let someone = Cosigner::generate("witness.example.com/w1").unwrap();
    assert!(matches!(
        someone.verifier().verify(&note),
        Err(CosignatureError::Missing { .. })
    ));
}

#[test]
fn transparency_dev_formats_timestamp_vector_has_the_specified_layout() {
    // TestCoSigV1Timestamp: this signature's timestamp is 1727964367.
    let raw = BASE64
        .decode("ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==")
        .unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    assert_eq!(
        u64::from_be_bytes(raw[4..12].try_into().unwrap()),
        1727964367
    );
}

#[test]
fn witness_verifier_keys_from_transparency_dev_formats() {
    let v = CosignatureVerifier::from_vkey(REMORA_VKEY).unwrap();
    assert_eq!(v.name(), "remora.n621.de");
    assert_eq!(v.key_id(), 0xda77ade7);
    assert_eq!(v.to_vkey(), REMORA_VKEY);
    // A type-0x01 key is a note key, not a cosignature key: refused (formats converts it; we
    // keep the types apart so that one key is not silently used for two purposes).
    assert!(NoteVerifier::from_vkey(PLAIN_ED25519_VKEY).is_ok());
    assert_eq!(
        CosignatureVerifier::from_vkey(PLAIN_ED25519_VKEY),
        Err(CosignatureError::Note(NoteError::WrongKeyType {
            found: 0x01,
            expected: ALG_COSIGNATURE_V1
        }))
    );
    assert_eq!(
        NoteVerifier::from_vkey(REMORA_VKEY),
        Err(NoteError::WrongKeyType {
            found: 0x04,
            expected: 0x01
        })
    );
    for bad in [
        "bananas.sigstore.dev+12344556",
        "rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!",
        "rekor.sigstore.dev+12345678+AwEB",
        "rekor.sigstore.dev+NOT_A_NUMBER+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
        "remora.n621.de+00000000+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
    ] {
        assert!(CosignatureVerifier::from_vkey(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_real_production_cosignature_verifies() {
    let (c, note) = checkpoint::open(
        ARCHE_CHECKPOINT.as_bytes(),
        &NoteVerifier::from_vkey(ARCHE_VKEY).unwrap(),
    )
    .unwrap();
    assert_eq!(c.size, 1432088532);
    let remora = CosignatureVerifier::from_vkey(REMORA_VKEY).unwrap();
    assert_eq!(remora.verify(&note).unwrap(), 1779573024);

    // The same cosignature over a different size does not verify.
    let clobbered = ARCHE_CHECKPOINT.replacen("1432088532", "42", 1);
    let note = Note::parse(clobbered.as_bytes()).unwrap();
    assert_eq!(
        remora.verify(&note),
        Err(CosignatureError::InvalidSignature {
            name: "remora.n621.de".into(),
            key_id: 0xda77ade7
        })
    );
}

#[test]
fn cosign_and_verify_round_trip() {
    let log = log();
    let witness = Cosigner::generate("witness.example/w1").unwrap();
    let text = checkpoint_text(10);
    let signed = checkpoint::sign(&Checkpoint::parse(&text).unwrap(), &log).unwrap();
    let line = witness.cosign(&text, 1_700_000_000).unwrap();
    assert!(line.starts_with("\u{2014} witness.example/w1 "));
    assert!(line.ends_with('\n'));
    let cosigned = format!("{signed}{line}");

    let (_, note) = checkpoint::open(cosigned.as_bytes(), &log.verifier()).unwrap();
    assert_eq!(witness.verifier().verify(&note).unwrap(), 1_700_000_000);
    // The log's key alone does not accept the witness signature as its own, and vice versa.
    assert_eq!(note.verify(&[log.verifier()]).unwrap().len(), 1);
    // Timestamps 0 and 2^63-1 are allowed.
    for ts in [0, MAX_TIMESTAMP] {
        let line = witness.cosign(&text, ts).unwrap();
        let note = Note::parse(format!("{signed}{line}").as_bytes()).unwrap();
        assert_eq!(witness.verifier().verify(&note).unwrap(), ts);
    }
    // Extension lines are cosigned.
    let ext = format!("{}ext\n", text);
    let signed_ext = log.sign(&ext).unwrap();
    let line = witness.cosign(&ext, 5).unwrap();
    let note = Note::parse(format!("{signed_ext}{line}").as_bytes()).unwrap();
    assert_eq!(witness.verifier().verify(&note).unwrap(), 5);
}

#[test]
fn the_signed_message_and_key_id_are_as_specified() {
    let witness = Cosigner::generate("witness.example/w1").unwrap();
    let v = witness.verifier();
    let vkey = v.to_vkey();
    let pk_raw = BASE64.decode(vkey.splitn(3, '+').nth(2).unwrap()).unwrap();
    assert_eq!(pk_raw[0], 0x04);
    let pk: [u8; 32] = pk_raw[1..].try_into().unwrap();
    assert_eq!(
        witness.key_id(),
        note::key_id("witness.example/w1", 0x04, &pk)
    );
    assert_eq!(v.key_id(), witness.key_id());
    assert_eq!(
        format!("{:08x}", v.key_id()),
        vkey.split('+').nth(1).unwrap()
    );

    // Check the signature independently with ed25519-dalek over the spec's message.
    let text = checkpoint_text(20852163);
    let line = witness.cosign(&text, 1679315147).unwrap();
    let b64 = line.trim_end().rsplit(' ').next().unwrap();
    let raw = BASE64.decode(b64).unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    assert_eq!(
        u32::from_be_bytes(raw[..4].try_into().unwrap()),
        witness.key_id()
    );
    assert_eq!(&raw[4..12], &1679315147u64.to_be_bytes());
    let msg = format!("cosignature/v1\ntime 1679315147\n{text}");
    let sig = Signature::from_slice(&raw[12..]).unwrap();
    VerifyingKey::from_bytes(&pk)
        .unwrap()
        .verify_strict(msg.as_bytes(), &sig)
        .unwrap();
}

#[test]
fn witness_keys_round_trip() {
    let witness = Cosigner::generate("witness.example/w1").unwrap();
    let skey = witness.to_skey();
    assert!(skey.starts_with("PRIVATE+KEY+witness.example/w1+"));
    let again = Cosigner::from_skey(&skey).unwrap();
    assert_eq!(again.verifier(), witness.verifier());
    assert_eq!(again.name(), "witness.example/w1");
    assert_eq!(
        CosignatureVerifier::from_vkey(&witness.verifier().to_vkey()).unwrap(),
        witness.verifier()
    );
    // A note signer's private key is not a cosigner's, and the other way round.
    let log = log();
    assert!(matches!(
        Cosigner::from_skey(&log.to_skey()),
        Err(CosignatureError::Note(NoteError::WrongKeyType { .. }))
    ));
    assert!(matches!(
        NoteSigner::from_skey(&skey),
        Err(NoteError::WrongKeyType { .. })
    ));
    assert!(!format!("{witness:?}").contains(skey.splitn(5, '+').nth(4).unwrap()));
    assert!(Cosigner::generate("has space").is_err());
}

#[test]
fn altered_cosignatures_fail() {
    let log = log();
    let witness = Cosigner::generate("witness.example/w1").unwrap();
    let text = checkpoint_text(10);
    let signed = log.sign(&text).unwrap();
    let line = witness.cosign(&text, 1000).unwrap();
    let raw = BASE64
        .decode(line.trim_end().rsplit(' ').next().unwrap())
        .unwrap();
    let relabel = |raw: &[u8]| {
        Note::parse(
            format!(
                "{signed}\u{2014} witness.example/w1 {}\n",
                BASE64.encode(raw)
            )
            .as_bytes(),
        )
        .unwrap()
    };
    let invalid = Err(CosignatureError::InvalidSignature {
        name: "witness.example/w1".into(),
        key_id: witness.key_id(),
    });
    // A changed timestamp.
    let mut r = raw.clone();
    r[11] ^= 1;
    assert_eq!(witness.verifier().verify(&relabel(&r)), invalid);
    // Every byte of the Ed25519 signature.
    for i in 12..r.len() {
        let mut r = raw.clone();
        r[i] ^= 0x80;
        assert_eq!(witness.verifier().verify(&relabel(&r)), invalid, "byte {i}");
    }
    // A timestamp beyond 2^63-1.
    let mut r = raw.clone();
    r[4] = 0x80;
    assert_eq!(
        witness.verifier().verify(&relabel(&r)),
        Err(CosignatureError::TimestampOutOfRange {
            timestamp: 0x8000_0000_0000_03e8
        })
    );
    // Wrong lengths.
    for len in [5, 12, 71, 73, 4 + 8 + 2420] {
        let mut r = raw.clone();
        r.resize(len, 0);
        assert_eq!(
            witness.verifier().verify(&relabel(&r)),
            Err(CosignatureError::WrongLength {
                name: "witness.example/w1".into(),
                len: len - 4
            })
        );
    }
    // A changed checkpoint.
    let other = log.sign(&checkpoint_text(11)).unwrap();
    let note = Note::parse(format!("{other}{line}").as_bytes()).unwrap();
    assert_eq!(witness.verifier().verify(&note), invalid);
    // Another witness's key.
    let impostor = Cosigner::generate("witness.example/w1").unwrap();
    let note = Note::parse(format!("{signed}{line}").as_bytes()).unwrap();
    assert!(matches!(
        impostor.verifier().verify(&note),
        Err(CosignatureError::Missing { .. })
    ));
    // A plain note signature by the same key and name is not a cosignature (other key id).
    assert!(matches!(
        witness
            .verifier()
            .verify(&Note::parse(signed.as_bytes()).unwrap()),
        Err(CosignatureError::Missing { .. })
    ));
}

#[test]
fn only_checkpoints_are_cosigned() {
    let witness = Cosigner::generate("witness.example/w1").unwrap();
    assert!(matches!(
        witness.cosign("not a checkpoint\n", 1),
        Err(CosignatureError::Checkpoint(
            CheckpointError::TooFewLines { .. }
        ))
    ));
    assert!(matches!(
        witness.cosign("example.com/log\n01\nAAAA\n", 1),
        Err(CosignatureError::Checkpoint(
            CheckpointError::InvalidSize { .. }
        ))
    ));
    assert_eq!(
        witness.cosign(&checkpoint_text(1), MAX_TIMESTAMP + 1),
        Err(CosignatureError::TimestampOutOfRange {
            timestamp: MAX_TIMESTAMP + 1
        })
    );
}

#[test]
fn azul_signed_note_ignores_cosignatures_it_does_not_know() {
    // An independent signed-note implementation verifies the log signature on a cosigned
    // checkpoint, treating the cosignature as a signature from an unknown key.
    use signed_note::{StandardVerifier, VerifierList};
    let log = log();
    let witness = Cosigner::generate("witness.example/w1").unwrap();
    let text = checkpoint_text(3);
    let cosigned = format!(
        "{}{}",
        log.sign(&text).unwrap(),
        witness.cosign(&text, 77).unwrap()
    );
    let theirs = signed_note::Note::from_bytes(cosigned.as_bytes()).unwrap();
    let v = StandardVerifier::new(&log.verifier().to_vkey()).unwrap();
    let (ok, unknown) = theirs
        .verify(&VerifierList::new(vec![Box::new(v)]))
        .unwrap();
    assert_eq!(ok.len(), 1);
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].name(), "witness.example/w1");
    assert_eq!(unknown[0].id(), witness.key_id());
    assert_eq!(theirs.to_bytes(), cosigned.as_bytes());
}
