//! Handles: every refusal, the TTL boundary, renewal, revocation and digests.

use time::macros::datetime;

use super::*;

const T0: OffsetDateTime = datetime!(2026-11-27 09:00:00 UTC);

fn binding(session: &str, provider: &str) -> Binding {
    Binding {
        session: session.to_owned(),
        agent: "circuit-helper".to_owned(),
        provider: provider.to_owned(),
        manifest_digest: format!("sha256:{}", "ab".repeat(32)),
    }
}

fn minted(table: &mut HandleTable, session: &str, provider: &str) -> Handle {
    table.mint(binding(session, provider), T0).unwrap()
}

#[test]
fn a_fresh_handle_is_accepted_for_its_binding() {
    let mut table = HandleTable::new();
    let h = minted(&mut table, "s1", "ibm");
    let b = table.check(h.expose(), "ibm", "s1", T0).unwrap();
    assert_eq!(b, &binding("s1", "ibm"));
}

#[test]
fn handles_are_qwh_and_256_random_bits() {
    let mut table = HandleTable::new();
    let a = minted(&mut table, "s1", "ibm");
    let b = minted(&mut table, "s1", "ibm");
    for h in [&a, &b] {
        let body = h.expose().strip_prefix("qwh_").unwrap();
        assert_eq!(body.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert!(
            body.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
    assert_ne!(a.expose(), b.expose());
}

#[test]
fn malformed_texts_are_refused_as_malformed() {
    let mut table = HandleTable::new();
    let h = minted(&mut table, "s1", "ibm");
    let text = h.expose();
    let body = &text[4..];
    let non_canonical = {
        // The last character of 32 bytes carries 4 unused bits; setting one is another spelling.
        let mut bytes = body.as_bytes().to_vec();
        let last = bytes.last_mut().unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let idx = alphabet.iter().position(|c| c == last).unwrap();
        *last = alphabet[(idx & !0b11) | 0b01];
        format!("qwh_{}", String::from_utf8(bytes).unwrap())
    };
    for bad in [
        String::new(),
        "qwh_".to_owned(),
        body.to_owned(),
        format!("QWH_{body}"),
        format!("qwh_{}", &body[1..]),
        format!("{text}A"),
        format!("{text}="),
        format!("qwh_{}", body.replace(|_| true, "+")),
        format!(" {text}"),
        non_canonical,
    ] {
        assert_eq!(
            table.check(&bad, "ibm", "s1", T0),
            Err(HandleError::Malformed),
            "{bad:?}"
        );
    }
}

#[test]
fn a_well_formed_handle_never_issued_is_unknown() {
    let mut table = HandleTable::new();
    let _ = minted(&mut table, "s1", "ibm");
    let other = HandleTable::new().mint(binding("s1", "ibm"), T0).unwrap();
    assert_eq!(
        table.check(other.expose(), "ibm", "s1", T0),
        Err(HandleError::Unknown)
    );
}

#[test]
fn expiry_is_exactly_fifteen_minutes_after_minting() {
    let mut table = HandleTable::new();
    let h = minted(&mut table, "s1", "ionq");
    let last_valid = T0 + Duration::minutes(15) - Duration::nanoseconds(1);
    assert!(table.check(h.expose(), "ionq", "s1", last_valid).is_ok());
    let at = T0 + Duration::minutes(15);
    assert_eq!(
        table.check(h.expose(), "ionq", "s1", at),
        Err(HandleError::Expired { expired_at: at })
    );
    assert_eq!(
        table.check(h.expose(), "ionq", "s1", at + Duration::hours(5)),
        Err(HandleError::Expired { expired_at: at })
    );
}

#[test]
fn renewal_extends_live_handles_of_the_session_only() {
    let mut table = HandleTable::new();
    let ibm = minted(&mut table, "s1", "ibm");
    let ionq = minted(&mut table, "s1", "ionq");
    let other = minted(&mut table, "s2", "ibm");
    let t = T0 + Duration::minutes(10);
    assert_eq!(table.renew("s1", t), 2);
    let later = T0 + Duration::minutes(20);
    assert!(table.check(ibm.expose(), "ibm", "s1", later).is_ok());
    assert!(table.check(ionq.expose(), "ionq", "s1", later).is_ok());
    assert!(matches!(
        table.check(other.expose(), "ibm", "s2", later),
        Err(HandleError::Expired { .. })
    ));
    // The new expiry is the renewal time plus the TTL, to the nanosecond.
    let end = t + HANDLE_TTL;
    assert_eq!(
        table.check(ibm.expose(), "ibm", "s1", end),
        Err(HandleError::Expired { expired_at: end })
    );
}

#[test]
fn renewal_does_not_revive_an_expired_handle() {
    let mut table = HandleTable::new();
    let h = minted(&mut table, "s1", "ibm");
    let late = T0 + Duration::minutes(16);
    assert_eq!(table.renew("s1", late), 0);
    assert!(matches!(
        table.check(h.expose(), "ibm", "s1", late),
        Err(HandleError::Expired { .. })
    ));
}

#[test]
fn a_session_renewed_every_five_minutes_keeps_its_handle() {
    let mut table = HandleTable::new();
    let h = minted(&mut table, "s1", "ibm");
    let mut now = T0;
    for _ in 0..24 {
        now += Duration::minutes(5);
        assert_eq!(table.renew("s1", now), 1);
        assert!(table.check(h.expose(), "ibm", "s1", now).is_ok());
    }
}

#[test]
fn revocation_ends_the_sessions_handles_and_names_their_digests() {
    let mut table = HandleTable::new();
    let ibm = minted(&mut table, "s1", "ibm");
    let ionq = minted(&mut table, "s1", "ionq");
    let other = minted(&mut table, "s2", "ibm");
    let mut expected = vec![
        (ibm.digest(), "ibm".to_owned()),
        (ionq.digest(), "ionq".to_owned()),
    ];
    expected.sort();
    assert_eq!(table.revoke_session("s1"), expected);
    assert_eq!(table.revoke_session("s1"), Vec::<(String, String)>::new());
    for (h, p) in [(&ibm, "ibm"), (&ionq, "ionq")] {
        assert_eq!(
            table.check(h.expose(), p, "s1", T0),
            Err(HandleError::Revoked)
        );
    }
    assert_eq!(table.renew("s1", T0), 0);
    assert_eq!(
        table.check(ibm.expose(), "ibm", "s1", T0),
        Err(HandleError::Revoked)
    );
    assert!(table.check(other.expose(), "ibm", "s2", T0).is_ok());
}

#[test]
fn a_handle_from_another_session_is_refused() {
    let mut table = HandleTable::new();
    let h = minted(&mut table, "s1", "ibm");
    assert_eq!(
        table.check(h.expose(), "ibm", "s2", T0),
        Err(HandleError::WrongSession)
    );
}

#[test]
fn a_handle_for_another_provider_is_refused() {
    let mut table = HandleTable::new();
    let h = minted(&mut table, "s1", "ibm");
    let err = table.check(h.expose(), "ionq", "s1", T0).unwrap_err();
    assert_eq!(
        err,
        HandleError::WrongProvider {
            bound: "ibm".into(),
            requested: "ionq".into()
        }
    );
    assert!(err.to_string().contains("`ibm`, not `ionq`"), "{err}");
}

#[test]
fn refusals_never_echo_the_handle() {
    let mut table = HandleTable::new();
    let h = minted(&mut table, "s1", "ibm");
    let errors = [
        table.check(h.expose(), "ionq", "s1", T0).unwrap_err(),
        table.check(h.expose(), "ibm", "s2", T0).unwrap_err(),
        table
            .check(h.expose(), "ibm", "s1", T0 + Duration::hours(1))
            .unwrap_err(),
    ];
    for e in errors {
        assert!(!e.to_string().contains(&h.expose()[4..]), "{e}");
    }
}

#[test]
fn digests_are_sha256_of_the_text_and_never_the_handle() {
    let mut table = HandleTable::new();
    let h = minted(&mut table, "s1", "ibm");
    let d = h.digest();
    assert_eq!(
        d,
        format!("sha256:{}", hex::encode(Sha256::digest(h.expose())))
    );
    assert_eq!(d, digest(h.expose()));
    assert_ne!(d, h.expose());
    assert!(!d.contains(&h.expose()[4..]));
    assert!(d.starts_with("sha256:") && d.len() == 7 + 64);
}

#[test]
fn debug_is_redacted() {
    let mut table = HandleTable::new();
    let h = minted(&mut table, "s1", "ibm");
    let shown = format!("{h:?}");
    assert!(!shown.contains(&h.expose()[4..]), "{shown}");
    assert!(shown.contains("<redacted>") && shown.contains(&h.digest()));
    let table_shown = format!("{table:?}");
    assert!(!table_shown.contains(&h.expose()[4..]));
}
