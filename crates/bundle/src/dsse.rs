//! in-toto Statement v1 in a DSSE envelope: the signed form of bundles and re-run verdicts.
//!
//! A [`Statement`] names its subjects by SHA-256 and carries a typed predicate. It is signed as
//! a DSSE envelope: the signature is Ed25519 over the pre-authentication encoding
//! `PAE(payloadType, payload) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body` (lengths in
//! ASCII decimal bytes), never over the JSON itself, so the payload's bytes are exactly what
//! was signed and no canonicalisation is needed to verify
//! (<https://github.com/secure-systems-lab/dsse/blob/master/protocol.md>). The envelope's
//! `keyid` is the verifying key's SHA-256, hex.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// One subject of a statement: a name and its digests (`{"sha256": "<hex>"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// What it is, e.g. `counts.json`.
    pub name: String,
    /// Its digests by algorithm.
    pub digest: std::collections::BTreeMap<String, String>,
}

impl Subject {
    /// A subject named `name` with the SHA-256 of `bytes`.
    pub fn of(name: impl Into<String>, bytes: &[u8]) -> Subject {
        let mut digest = std::collections::BTreeMap::new();
        digest.insert("sha256".to_owned(), hex::encode(Sha256::digest(bytes)));
        Subject {
            name: name.into(),
            digest,
        }
    }
}

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// What kind of predicate follows (a URI).
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate.
    pub predicate: serde_json::Value,
}

impl Statement {
    /// A statement about `subject` with `predicate` of `predicate_type`.
    pub fn new(
        subject: Vec<Subject>,
        predicate_type: impl Into<String>,
        predicate: serde_json::Value,
    ) -> Statement {
        Statement {
            type_: STATEMENT_TYPE.to_owned(),
            subject,
            predicate_type: predicate_type.into(),
            predicate,
        }
    }
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Which key: the SHA-256 of its 32 bytes, hex.
    pub keyid: String,
    /// The signature, standard base64.
    pub sig: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The payload, standard base64.
    pub payload: String,
    /// Its type.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Its signatures.
    pub signatures: Vec<Signature>,
}

/// Why an envelope does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DsseError {
    /// The payload is not base64.
    #[error("the envelope's payload is not base64")]
    Payload,
    /// The payload type is not the one expected.
    #[error("the envelope carries `{found}`, not `{expected}`")]
    PayloadType {
        /// Expected.
        expected: String,
        /// Found.
        found: String,
    },
    /// No signature by the key verifies.
    #[error(
        "no signature in the envelope verifies with key {keyid}: it was signed by another key, or its payload was changed"
    )]
    NotSigned {
        /// The key looked for.
        keyid: String,
    },
    /// The payload is not an in-toto statement.
    #[error("the payload is not an in-toto Statement v1: {0}")]
    Statement(String),
}

/// `PAE(payload_type, payload)`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The key id of `key`.
pub fn keyid(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Signs `payload` of `payload_type` with `key`.
pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Envelope {
    let sig = key.sign(&pae(payload_type, payload));
    Envelope {
        payload: STANDARD.encode(payload),
        payload_type: payload_type.to_owned(),
        signatures: vec![Signature {
            keyid: keyid(&key.verifying_key()),
            sig: STANDARD.encode(sig.to_bytes()),
        }],
    }
}

/// Signs `statement` (as compact JSON) with `key`.
pub fn sign_statement(statement: &Statement, key: &SigningKey) -> Result<Envelope, DsseError> {
    let payload = serde_json::to_vec(statement).map_err(|e| DsseError::Statement(e.to_string()))?;
    Ok(sign(IN_TOTO_PAYLOAD_TYPE, &payload, key))
}

/// The payload of `envelope` if a signature by `key` verifies over it as `payload_type`.
pub fn verify(
    envelope: &Envelope,
    payload_type: &str,
    key: &VerifyingKey,
) -> Result<Vec<u8>, DsseError> {
    if envelope.payload_type != payload_type {
        return Err(DsseError::PayloadType {
            expected: payload_type.to_owned(),
            found: envelope.payload_type.chars().take(80).collect(),
        });
    }
    let payload = STANDARD
        .decode(&envelope.payload)
        .map_err(|_| DsseError::Payload)?;
    let message = pae(payload_type, &payload);
    let id = keyid(key);
    let verified = envelope.signatures.iter().any(|s| {
        STANDARD
            .decode(&s.sig)
            .ok()
            .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok())
            .is_some_and(|sig| key.verify(&message, &sig).is_ok())
    });
    if verified {
        Ok(payload)
    } else {
        Err(DsseError::NotSigned { keyid: id })
    }
}

/// The statement in `envelope`, if `key` signed it.
pub fn verify_statement(envelope: &Envelope, key: &VerifyingKey) -> Result<Statement, DsseError> {
    let payload = verify(envelope, IN_TOTO_PAYLOAD_TYPE, key)?;
    let statement: Statement =
        serde_json::from_slice(&payload).map_err(|e| DsseError::Statement(e.to_string()))?;
    if statement.type_ != STATEMENT_TYPE {
        return Err(DsseError::Statement(format!(
            "its _type is not {STATEMENT_TYPE}"
        )));
    }
    Ok(statement)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn pae_matches_the_specs_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn a_signed_statement_verifies_and_round_trips_as_json() {
        let k = key(7);
        let st = Statement::new(
            vec![Subject::of("counts.json", br#"{"00":500,"11":500}"#)],
            "https://qwarden.dev/bundle/v1",
            serde_json::json!({"backend": "local:statevector", "shots": 1000}),
        );
        let env = sign_statement(&st, &k).unwrap();
        let text = serde_json::to_string(&env).unwrap();
        assert!(text.contains("\"payloadType\":\"application/vnd.in-toto+json\""));
        let back: Envelope = serde_json::from_str(&text).unwrap();
        assert_eq!(verify_statement(&back, &k.verifying_key()).unwrap(), st);
        assert_eq!(env.signatures[0].keyid, keyid(&k.verifying_key()));
        assert_eq!(
            st.subject[0].digest["sha256"],
            hex::encode(Sha256::digest(br#"{"00":500,"11":500}"#))
        );
    }

    #[test]
    fn tampering_and_the_wrong_key_are_caught() {
        let k = key(7);
        let st = Statement::new(
            vec![],
            "https://qwarden.dev/bundle/v1",
            serde_json::json!({}),
        );
        let env = sign_statement(&st, &k).unwrap();
        // Another key.
        assert!(matches!(
            verify_statement(&env, &key(8).verifying_key()),
            Err(DsseError::NotSigned { .. })
        ));
        // The payload changed.
        let mut changed = env.clone();
        let mut payload = STANDARD.decode(&changed.payload).unwrap();
        payload.push(b' ');
        changed.payload = STANDARD.encode(payload);
        assert!(verify_statement(&changed, &k.verifying_key()).is_err());
        // The type changed (PAE binds it).
        let mut retyped = env.clone();
        retyped.payload_type = "application/json".into();
        assert!(matches!(
            verify_statement(&retyped, &k.verifying_key()),
            Err(DsseError::PayloadType { .. })
        ));
        assert!(verify(&retyped, "application/json", &k.verifying_key()).is_err());
        // A signature that is not one, and none at all.
        let mut junk = env.clone();
        junk.signatures[0].sig = "!!".into();
        assert!(verify_statement(&junk, &k.verifying_key()).is_err());
        let mut unsigned = env;
        unsigned.signatures.clear();
        assert!(verify_statement(&unsigned, &k.verifying_key()).is_err());
        // A signed payload that is not a statement.
        let not_statement = sign(IN_TOTO_PAYLOAD_TYPE, b"{}", &k);
        assert!(matches!(
            verify_statement(&not_statement, &k.verifying_key()),
            Err(DsseError::Statement(_))
        ));
    }
}
