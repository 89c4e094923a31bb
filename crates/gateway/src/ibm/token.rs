//! The gateway's own IAM: a session handle exchanged for a short-lived, JWT-shaped bearer token.
//!
//! qiskit-ibm-runtime decodes the access token without verifying it and reads its `iat` and
//! `exp` claims to know when to renew (provider-traffic README, "Minimal responses"), so the
//! token is a real JWT: HS256 over `{"iss", "sub", "iat", "exp", "jti"}` with a key made for this
//! gateway and never written anywhere. The gateway accepts only tokens it issued and that have
//! not expired, and maps each back to the handle it was issued for, so a handle that expires or
//! is revoked takes its bearer tokens with it (the handle is checked again on every use).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use qwarden_vault::Secret;
use rand_core::{OsRng, RngCore};
use serde_json::{Value, json};
use sha2::Sha256;

/// How long an access token lives. Shorter than a handle's 15 minutes; the SDK renews at 80 %.
pub const TOKEN_LIFETIME_SECS: u64 = 600;

/// Issues and checks the gateway's access tokens.
pub struct TokenIssuer {
    key: [u8; 32],
    issued: Mutex<HashMap<String, (Secret, u64)>>,
}

/// An issued access token.
#[derive(Debug)]
pub struct Issued {
    /// The token text.
    pub token: Secret,
    /// When it was issued (Unix seconds).
    pub iat: u64,
    /// When it expires (Unix seconds).
    pub exp: u64,
}

impl TokenIssuer {
    /// An issuer with a fresh random key.
    pub fn new() -> Result<TokenIssuer, String> {
        let mut key = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut key)
            .map_err(|e| format!("the operating system's random source failed: {e}"))?;
        Ok(TokenIssuer {
            key,
            issued: Mutex::new(HashMap::new()),
        })
    }

    fn mac(&self) -> Result<Hmac<Sha256>, &'static str> {
        // HMAC takes keys of any length, so this does not fail in practice.
        Hmac::<Sha256>::new_from_slice(&self.key).map_err(|_| "the token key is unusable")
    }

    /// A token for `handle` (already checked), naming `provider`, issued at `now`.
    pub fn issue(&self, handle: &str, provider: &str, now: u64) -> Result<Issued, String> {
        let mut jti = [0u8; 16];
        OsRng
            .try_fill_bytes(&mut jti)
            .map_err(|e| format!("the operating system's random source failed: {e}"))?;
        let jti = hex::encode(jti);
        let exp = now + TOKEN_LIFETIME_SECS;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims =
            json!({"iss": "qwarden-gateway", "sub": provider, "iat": now, "exp": exp, "jti": jti});
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac()?;
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        if let Ok(mut issued) = self.issued.lock() {
            issued.retain(|_, (_, e)| *e > now);
            issued.insert(jti, (Secret::new(handle), exp));
        }
        Ok(Issued {
            token: Secret::new(format!("{signing_input}.{signature}")),
            iat: now,
            exp,
        })
    }

    /// The handle a token was issued for, if the token is this issuer's, intact and live at
    /// `now`. `Err` says why not.
    pub fn check(&self, token: &str, now: u64) -> Result<Secret, &'static str> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("the bearer token is not a token this gateway issued");
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| "the bearer token is not a token this gateway issued")?;
        let mut mac = self.mac()?;
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| "the bearer token is not a token this gateway issued")?;
        let claims: Value = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or("the bearer token's claims are unreadable")?;
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        if exp <= now {
            return Err(
                "the bearer token has expired: exchange the handle again at /identity/token",
            );
        }
        let jti = claims.get("jti").and_then(Value::as_str).unwrap_or("");
        self.issued
            .lock()
            .ok()
            .and_then(|issued| issued.get(jti).map(|(h, _)| h.clone()))
            .ok_or("the bearer token is not a token this gateway issued")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn issued_tokens_are_jwts_that_map_back_to_their_handle() {
        let issuer = TokenIssuer::new().unwrap();
        let t = issuer.issue("qwh_abc", "ibm", 1_000).unwrap();
        let text = t.token.expose();
        let payload = text.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["iat"], 1_000);
        assert_eq!(claims["exp"], 1_000 + TOKEN_LIFETIME_SECS);
        assert!(!text.contains("qwh_abc"));
        assert_eq!(issuer.check(text, 1_001).unwrap().expose(), "qwh_abc");
    }

    #[test]
    fn expired_forged_and_foreign_tokens_are_refused() {
        let issuer = TokenIssuer::new().unwrap();
        let t = issuer.issue("qwh_abc", "ibm", 1_000).unwrap();
        let text = t.token.expose().to_owned();
        assert!(
            issuer
                .check(&text, 1_000 + TOKEN_LIFETIME_SECS)
                .unwrap_err()
                .contains("expired")
        );
        // Claims changed (a later exp) without the key.
        let mut parts: Vec<String> = text.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(
            json!({"iss": "qwarden-gateway", "sub": "ibm", "iat": 1, "exp": u64::MAX, "jti": "x"})
                .to_string(),
        );
        assert!(issuer.check(&parts.join("."), 1_001).is_err());
        // Another gateway's token.
        let other = TokenIssuer::new().unwrap();
        let foreign = other.issue("qwh_abc", "ibm", 1_000).unwrap();
        assert!(issuer.check(foreign.token.expose(), 1_001).is_err());
        for junk in ["", "a.b", "a.b.c.d", "...", "qwh_abc"] {
            assert!(issuer.check(junk, 1_001).is_err(), "{junk}");
        }
    }
}
