//! Interoperability with an independent implementation: Cloudflare azul's `signed_note` (a port
//! of `golang.org/x/mod/sumdb/note`) and `tlog_tiles` (tlog-checkpoint). Keys, notes and
//! checkpoints made by either side are read and verified by the other, byte for byte.
//!
//! azul 0.2 does not implement tlog-cosignature; cosignatures are checked against a production
//! witness's cosignature in `tests/cosignature.rs` instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qwarden_ledger::checkpoint::{self, Checkpoint};
use qwarden_ledger::merkle;
use qwarden_ledger::note::{Note, NoteError, NoteSigner, NoteVerifier};
use signed_note::{StandardSigner, StandardVerifier, VerifierList};

const TEXTS: &[&str] = &[
    "hello\n",
    "\n",
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n",
    "with\n\nblank lines\n\n\ninside\n",
    "unicode \u{1f980} \u{2014} \u{e8}\u{a0}\u{85}\u{7f}\n",
];

fn their_list(vkeys: &[String]) -> VerifierList {
    VerifierList::new(
        vkeys
            .iter()
            .map(|k| Box::new(StandardVerifier::new(k).unwrap()) as Box<dyn signed_note::Verifier>)
            .collect(),
    )
}

fn their_sign(text: &str, signers: &[&StandardSigner]) -> Vec<u8> {
    let mut n = signed_note::Note::new(text.as_bytes(), &[]).unwrap();
    let dyns: Vec<&dyn signed_note::Signer> = signers
        .iter()
        .map(|s| *s as &dyn signed_note::Signer)
        .collect();
    n.add_sigs(&dyns).unwrap();
    n.to_bytes()
}

#[test]
fn our_keys_and_notes_are_accepted_by_azul() {
    let ours = NoteSigner::generate("example.com/log").unwrap();
    let vkey = ours.verifier().to_vkey();
    let theirs = StandardSigner::new(&ours.to_skey()).unwrap();
    for text in TEXTS {
        let signed = ours.sign(text).unwrap();
        // Ed25519 is deterministic: the same key signs the same note to the same bytes.
        assert_eq!(their_sign(text, &[&theirs]), signed.as_bytes());
        let n = signed_note::Note::from_bytes(signed.as_bytes()).unwrap();
        let (ok, unknown) = n.verify(&their_list(std::slice::from_ref(&vkey))).unwrap();
        assert_eq!(ok.len(), 1);
        assert!(unknown.is_empty());
        assert_eq!(ok[0].name(), "example.com/log");
        assert_eq!(ok[0].id(), ours.key_id());
        assert_eq!(n.text(), text.as_bytes());
    }
}

#[test]
fn azul_keys_and_notes_are_accepted_by_us() {
    let (skey, vkey) = signed_note::generate_key(&mut rand_core::OsRng, "example.org/their-log");
    let ours = NoteSigner::from_skey(&skey).unwrap();
    assert_eq!(&*ours.to_skey(), &skey);
    let v = NoteVerifier::from_vkey(&vkey).unwrap();
    assert_eq!(v.to_vkey(), vkey);
    assert_eq!(ours.verifier(), v);
    let theirs = StandardSigner::new(&skey).unwrap();
    for text in TEXTS {
        let signed = their_sign(text, &[&theirs]);
        let note = Note::parse(&signed).unwrap();
        assert_eq!(note.text(), *text);
        assert_eq!(note.verify(std::slice::from_ref(&v)).unwrap().len(), 1);
        assert_eq!(note.to_bytes(), signed);
        assert_eq!(ours.sign(text).unwrap().as_bytes(), signed.as_slice());
    }
}

#[test]
fn multiply_signed_notes_agree() {
    let (s1, v1) = signed_note::generate_key(&mut rand_core::OsRng, "a.example/one");
    let (s2, v2) = signed_note::generate_key(&mut rand_core::OsRng, "b.example/two");
    let ours3 = NoteSigner::generate("c.example/three").unwrap();
    let t1 = StandardSigner::new(&s1).unwrap();
    let t2 = StandardSigner::new(&s2).unwrap();
    let text = "example.com/log\n7\nAAAA\n";
    let theirs = their_sign(text, &[&t1, &t2]);
    // Append our signature to their note; both sides verify all three.
    let all = [
        theirs.clone(),
        ours3.signature_line(text).unwrap().into_bytes(),
    ]
    .concat();
    let note = Note::parse(&all).unwrap();
    let verifiers = [
        NoteVerifier::from_vkey(&v1).unwrap(),
        NoteVerifier::from_vkey(&v2).unwrap(),
        ours3.verifier(),
    ];
    assert_eq!(note.verify(&verifiers).unwrap().len(), 3);
    assert_eq!(note.to_bytes(), all);
    let n = signed_note::Note::from_bytes(&all).unwrap();
    let (ok, unknown) = n
        .verify(&their_list(&[
            v1.clone(),
            v2.clone(),
            ours3.verifier().to_vkey(),
        ]))
        .unwrap();
    assert_eq!((ok.len(), unknown.len()), (3, 0));
    // Knowing only one key, both ignore the other two.
    let (ok, unknown) = n.verify(&their_list(std::slice::from_ref(&v2))).unwrap();
    assert_eq!((ok.len(), unknown.len()), (1, 2));
    assert_eq!(note.verify(&verifiers[1..2]).unwrap().len(), 1);
}

#[test]
fn both_reject_the_same_tampering() {
    let ours = NoteSigner::generate("example.com/log").unwrap();
    let vkey = ours.verifier().to_vkey();
    let signed = ours
        .sign("example.com/log\n5\nAAAA\n")
        .unwrap()
        .into_bytes();
    for i in 0..signed.len() {
        let mut b = signed.clone();
        b[i] ^= 0x04;
        let our_ok = Note::parse(&b)
            .and_then(|n| n.verify(std::slice::from_ref(&ours.verifier())))
            .is_ok();
        let their_ok = signed_note::Note::from_bytes(&b)
            .ok()
            .and_then(|n| n.verify(&their_list(std::slice::from_ref(&vkey))).ok())
            .is_some();
        assert!(!our_ok, "we accepted a change at byte {i}");
        assert!(!their_ok, "azul accepted a change at byte {i}");
    }
    // A note from an unknown key only.
    let stranger = NoteSigner::generate("example.com/log").unwrap();
    let s = stranger.sign("x\n").unwrap();
    assert_eq!(
        Note::parse(s.as_bytes())
            .unwrap()
            .verify(&[ours.verifier()]),
        Err(NoteError::NotVerified)
    );
    assert!(
        signed_note::Note::from_bytes(s.as_bytes())
            .unwrap()
            .verify(&their_list(&[vkey]))
            .is_err()
    );
}

#[test]
fn our_checkpoints_read_the_same_in_tlog_tiles() {
    let log = NoteSigner::generate("example.com/log").unwrap();
    for (size, exts) in [(0u64, vec![]), (1, vec![]), (u64::MAX, vec!["a", "b c"])] {
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size,
            root: merkle::leaf_hash(&size.to_le_bytes()),
            extensions: exts.iter().map(|s| (*s).to_owned()).collect(),
        };
        let signed = checkpoint::sign(&cp, &log).unwrap();
        let n = signed_note::Note::from_bytes(signed.as_bytes()).unwrap();
        let (ok, _) = n.verify(&their_list(&[log.verifier().to_vkey()])).unwrap();
        assert_eq!(ok.len(), 1);
        let theirs = tlog_tiles::Checkpoint::from_bytes(n.text()).unwrap();
        assert_eq!(theirs.origin(), cp.origin);
        assert_eq!(theirs.size(), cp.size);
        assert_eq!(theirs.hash().0, cp.root);
        let ext: String = exts.iter().map(|e| format!("{e}\n")).collect();
        assert_eq!(theirs.extension(), ext);
        assert_eq!(theirs.to_bytes(), cp.to_text().as_bytes());
    }
}

#[test]
fn tlog_tiles_checkpoints_signed_by_azul_open_with_us() {
    let (skey, vkey) = signed_note::generate_key(&mut rand_core::OsRng, "example.org/log");
    let signer = StandardSigner::new(&skey).unwrap();
    let root = merkle::leaf_hash(b"root");
    let theirs =
        tlog_tiles::Checkpoint::new("example.org/log", 20852163, tlog_tiles::Hash(root), "")
            .unwrap();
    let text = String::from_utf8(theirs.to_bytes()).unwrap();
    let signed = their_sign(&text, &[&signer]);
    let (cp, note) = checkpoint::open(&signed, &NoteVerifier::from_vkey(&vkey).unwrap()).unwrap();
    assert_eq!(cp.origin, "example.org/log");
    assert_eq!(cp.size, 20852163);
    assert_eq!(cp.root, root);
    assert_eq!(note.to_bytes(), signed);
}

/// Checkpoint texts both parsers must judge alike, and the few where we are knowingly stricter.
#[test]
fn checkpoint_parsers_agree() {
    const R: &str = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    let agree: Vec<String> = vec![
        format!("o\n0\n{R}\n"),
        format!("example.com/log\n123\n{R}\n"),
        format!("example.com/log\n123\n{R}\nabc\ndef\n"),
        format!("example.com/log\n18446744073709551615\n{R}\n"),
        format!("\n123\n{R}\n"),
        format!("o\n0123\n{R}\n"),
        format!("o\n00\n{R}\n"),
        format!("o\n+1\n{R}\n"),
        format!("o\n-1\n{R}\n"),
        format!("o\n0xab\n{R}\n"),
        format!("o\n18446744073709551616\n{R}\n"),
        format!("o\n1\n{}\n", R.trim_end_matches('=')),
        "o\n1\nQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBCg==\n".to_owned(),
        "o\n1\nAAAA\n".to_owned(),
        format!("o\n1\n{R}\nabc\n\n"),
        format!("o\n1\n{R}\nabc"),
        format!("o\n1\n{R}"),
        "o\n1\n".to_owned(),
        String::new(),
    ];
    for text in &agree {
        let ours = Checkpoint::parse(text).is_ok();
        let theirs = tlog_tiles::Checkpoint::from_bytes(text.as_bytes()).is_ok();
        assert_eq!(ours, theirs, "{text:?}");
    }
    // Stricter on purpose: control characters inside lines (a signed note could not carry
    // them anyway).
    for text in [format!("o\r\n1\n{R}\n"), format!("o\n1\n{R}\next\t\n")] {
        assert!(Checkpoint::parse(&text).is_err(), "{text:?}");
        assert!(
            tlog_tiles::Checkpoint::from_bytes(text.as_bytes()).is_ok(),
            "{text:?}"
        );
    }
}
