//! The TOTP second factor for production approvals (RFC 6238 over RFC 4226 HOTP).
//!
//! The parameters are the ones every authenticator app supports and most assume whatever the
//! provisioning URI says: HMAC-SHA1, 30-second steps counted from the Unix epoch, 6 digits.
//! SHA-1's collision weakness does not reach HMAC-SHA1 as used here. Secrets are 20 random bytes
//! (160 bits, RFC 4226's recommended length) from the operating system; secrets read back from
//! base32 must hold at least RFC 4226's minimum of 128 bits.
//!
//! [`verify`] accepts the code of the current step and of one step either side. One step of skew
//! covers a phone clock up to 30 seconds off and the seconds spent reading and typing a code that
//! was about to roll over, while keeping the window at three codes: a guess is right with odds of
//! about 3 in a million, so callers should still limit how many wrong codes they take. Two steps
//! or more are refused; the fix for a drifting clock is to set it right, not to widen the window.
//!
//! A code, once accepted, must not be accepted again: someone who saw it over the approver's
//! shoulder or in a log would otherwise have 30 to 90 seconds to reuse it. [`verify`] therefore
//! refuses any step at or before the last accepted one, recorded in a [`TotpState`]. That state
//! belongs to one approver, because each approver has their own secret and their own sequence of
//! codes, and the caller persists it (it is serde-serialisable) next to that approver's
//! enrolment: this module keeps nothing, and a state held only in memory would let a code be
//! replayed after a restart. The caller must save the updated state before the approval counts,
//! and must not run two verifications against the same approver's state at once.

use std::fmt;

use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};
use sha1::Sha1;

/// Seconds per TOTP time step.
pub const PERIOD_SECS: u64 = 30;

/// Digits in a TOTP code.
pub const DIGITS: usize = 6;

/// Bytes in a secret made by [`TotpSecret::generate`] (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;

/// The shortest secret accepted, in bytes (RFC 4226's minimum of 128 bits).
const MIN_SECRET_LEN: usize = 16;

/// `10^DIGITS`, to reduce the truncated HMAC to a code.
const CODE_MODULUS: u32 = 1_000_000;

/// Why a TOTP secret could not be made or read, or why a code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// The code is not exactly 6 ASCII digits.
    #[error(
        "not a TOTP code: a code is exactly 6 digits (0-9); type the 6 digits the authenticator app shows for qwarden, without spaces"
    )]
    Malformed,
    /// The code is well formed but matches none of the accepted steps.
    #[error(
        "the code does not match: check the authenticator app's clock and this machine's (codes change every 30 seconds and only one step of skew is allowed) and that this is the code for qwarden"
    )]
    Wrong,
    /// The code matches, but for a step at or before the last one accepted for this approver.
    #[error(
        "this code was already used (each code is good for one approval only, and codes older than the last one used are refused); wait for the authenticator app to show the next code and enter that"
    )]
    Replayed,
    /// The operating system's random source failed.
    #[error("cannot make a TOTP secret: the operating system's random source failed: {0}")]
    Random(String),
    /// The secret text is not a usable base32 secret; the message says what is wrong.
    #[error("not a usable TOTP secret: {0}")]
    BadSecret(String),
}

/// A TOTP shared secret: the key both qwarden and the approver's authenticator app hold.
///
/// Its [`Debug`] output is redacted; the secret leaves only through [`TotpSecret::to_base32`]
/// and [`TotpSecret::provisioning_uri`].
#[derive(Clone)]
pub struct TotpSecret {
    /// The raw secret bytes.
    bytes: Vec<u8>,
    /// HMAC-SHA1 already keyed with `bytes`, cloned for each code.
    mac: Hmac<Sha1>,
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

impl TotpSecret {
    /// A new secret of [`SECRET_LEN`] random bytes from the operating system.
    ///
    /// # Errors
    ///
    /// [`TotpError::Random`] if the operating system's random source fails.
    pub fn generate() -> Result<Self, TotpError> {
        let mut bytes = vec![0_u8; SECRET_LEN];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| TotpError::Random(e.to_string()))?;
        Self::from_bytes(bytes)
    }

    /// Reads a secret written in RFC 4648 base32, as [`TotpSecret::to_base32`] writes it or an
    /// authenticator app shows it: letters of either case, `=` padding optional, and spaces
    /// (any ASCII whitespace) ignored.
    ///
    /// # Errors
    ///
    /// [`TotpError::BadSecret`] if the text is not canonical base32 or decodes to fewer than 16
    /// bytes (128 bits). The message never repeats the secret.
    pub fn from_base32(text: &str) -> Result<Self, TotpError> {
        Self::from_bytes(base32_decode(text)?)
    }

    /// The secret in RFC 4648 base32: upper case, no padding.
    #[must_use]
    pub fn to_base32(&self) -> String {
        base32_encode(&self.bytes)
    }

    /// The 6-digit code (zero-padded) for the 30-second step holding `unix_secs`.
    #[must_use]
    pub fn code_at(&self, unix_secs: u64) -> String {
        self.code_for_step(unix_secs / PERIOD_SECS)
    }

    /// The Key Uri Format URI (`otpauth://totp/…`) an authenticator app scans, usually from a QR
    /// code, to enrol this secret under `issuer` and `account`.
    ///
    /// `issuer` and `account` are percent-encoded (everything but RFC 3986's unreserved
    /// characters), in the label and in the `issuer` parameter alike. Neither should contain a
    /// `:`, which the format uses to separate them.
    #[must_use]
    pub fn provisioning_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = percent_encode(issuer);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECS}",
            account = percent_encode(account),
            secret = self.to_base32(),
        )
    }

    /// A secret from raw bytes, refused if shorter than [`MIN_SECRET_LEN`].
    fn from_bytes(bytes: Vec<u8>) -> Result<Self, TotpError> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(TotpError::BadSecret(format!(
                "it holds {} bytes, and a secret needs at least {MIN_SECRET_LEN} (128 bits); enrol the approver again for a new secret",
                bytes.len()
            )));
        }
        let mac = <Hmac<Sha1> as Mac>::new_from_slice(&bytes)
            .map_err(|e| TotpError::BadSecret(format!("HMAC-SHA1 refused the key: {e}")))?;
        Ok(Self { bytes, mac })
    }

    /// RFC 4226 HOTP for `step`, dynamically truncated to 31 bits, before reduction to digits.
    fn truncated(&self, step: u64) -> u32 {
        let mut mac = self.mac.clone();
        mac.update(&step.to_be_bytes());
        let hash: [u8; 20] = mac.finalize().into_bytes().into();
        let [.., last] = hash;
        let offset = usize::from(last & 0x0f);
        // `offset` is at most 15, so the 4 bytes from it lie within the 20.
        let word = hash
            .iter()
            .skip(offset)
            .take(4)
            .fold(0_u32, |acc, b| (acc << 8) | u32::from(*b));
        word & 0x7fff_ffff
    }

    /// The zero-padded code for time step `step`.
    fn code_for_step(&self, step: u64) -> String {
        format!(
            "{:0width$}",
            self.truncated(step) % CODE_MODULUS,
            width = DIGITS
        )
    }
}

/// One approver's replay protection: the last time step whose code was accepted.
///
/// Start from [`TotpState::default`] at enrolment, and persist it after every successful
/// [`verify`] (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpState {
    /// The last accepted step, if any code was ever accepted.
    last_step: Option<u64>,
}

impl TotpState {
    /// The last time step whose code was accepted, if any.
    #[must_use]
    pub fn last_step(&self) -> Option<u64> {
        self.last_step
    }
}

/// Checks `code` against `secret` at `unix_secs`, refusing replays, and returns the accepted
/// time step.
///
/// The codes of the current step and one step either side are accepted. Every candidate is
/// compared in full, without stopping at the first difference. Among matching steps, the
/// earliest one after `state`'s last accepted step is taken, and `state` then records it.
///
/// # Errors
///
/// - [`TotpError::Malformed`] if `code` is not exactly 6 ASCII digits;
/// - [`TotpError::Replayed`] if it matches only steps at or before the last accepted one;
/// - [`TotpError::Wrong`] if it matches none of the accepted steps.
///
/// `state` is changed only on success.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    unix_secs: u64,
    state: &mut TotpState,
) -> Result<u64, TotpError> {
    let code = code.as_bytes();
    if code.len() != DIGITS || !code.iter().all(u8::is_ascii_digit) {
        return Err(TotpError::Malformed);
    }
    let now = unix_secs / PERIOD_SECS;
    let candidates = [now.checked_sub(1), Some(now), now.checked_add(1)];
    // Compare against every candidate before looking at any result.
    let matches = candidates.map(|step| {
        step.map(|step| {
            (
                step,
                constant_time_eq(secret.code_for_step(step).as_bytes(), code),
            )
        })
    });
    let mut matched_any = false;
    let mut accepted = None;
    for (step, is_match) in matches.into_iter().flatten() {
        if !is_match {
            continue;
        }
        matched_any = true;
        if accepted.is_none() && state.last_step.is_none_or(|last| step > last) {
            accepted = Some(step);
        }
    }
    match accepted {
        Some(step) => {
            state.last_step = Some(step);
            Ok(step)
        }
        None if matched_any => Err(TotpError::Replayed),
        None => Err(TotpError::Wrong),
    }
}

/// Whether `a` and `b` are equal, looking at every byte (an xor-fold, no early exit).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The RFC 4648 base32 character for a 5-bit value.
fn base32_char(value: u8) -> char {
    let value = value & 0x1f;
    char::from(if value < 26 {
        b'A' + value
    } else {
        b'2' + (value - 26)
    })
}

/// The 5-bit value of an RFC 4648 base32 character, either case.
fn base32_value(c: char) -> Option<u8> {
    let byte = u8::try_from(c).ok()?;
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a'),
        b'2'..=b'7' => Some(byte - b'2' + 26),
        _ => None,
    }
}

/// RFC 4648 base32, upper case, no padding.
fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(base32_char(((buffer >> bits) & 0x1f) as u8));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(base32_char(((buffer << (5 - bits)) & 0x1f) as u8));
    }
    out
}

/// RFC 4648 base32, either case, `=` padding optional, ASCII whitespace ignored. Refuses
/// non-canonical text (impossible lengths, padding in the middle or of the wrong length, unused
/// trailing bits set). Error messages never quote the secret.
fn base32_decode(text: &str) -> Result<Vec<u8>, TotpError> {
    let compact: Vec<char> = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let padding = compact.iter().rev().take_while(|&&c| c == '=').count();
    let data = compact.get(..compact.len() - padding).unwrap_or_default();
    if data.is_empty() {
        return Err(TotpError::BadSecret(
            "it is empty; paste the base32 secret (letters A-Z and digits 2-7)".to_owned(),
        ));
    }
    if padding > 0 && (padding >= 8 || (data.len() + padding) % 8 != 0) {
        return Err(TotpError::BadSecret(
            "its `=` padding is the wrong length; copy the secret exactly, or leave the padding out"
                .to_owned(),
        ));
    }
    if matches!(data.len() % 8, 1 | 3 | 6) {
        return Err(TotpError::BadSecret(format!(
            "{} base32 characters cannot encode whole bytes, so some are missing or extra; copy the secret exactly",
            data.len()
        )));
    }
    let mut out = Vec::with_capacity(data.len() * 5 / 8);
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    for (position, &c) in data.iter().enumerate() {
        let Some(value) = base32_value(c) else {
            return Err(TotpError::BadSecret(format!(
                "character {} is not base32 (only letters A-Z, digits 2-7, spaces and trailing `=` are allowed); copy the secret exactly",
                position + 1
            )));
        };
        buffer = (buffer << 5) | u16::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    if buffer != 0 {
        return Err(TotpError::BadSecret(
            "its last character is not canonical base32 (unused trailing bits are set); copy the secret exactly"
                .to_owned(),
        ));
    }
    Ok(out)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// RFC 6238 Appendix B's SHA-1 secret.
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap()
    }

    /// The RFC 6238 Appendix B SHA-1 vectors: time and 8-digit TOTP.
    const RFC6238_SHA1: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn rfc6238_sha1_vectors() {
        let secret = rfc_secret();
        for (time, eight) in RFC6238_SHA1 {
            assert_eq!(secret.code_at(time), eight[2..], "time {time}");
            let full = format!("{:08}", secret.truncated(time / PERIOD_SECS) % 100_000_000);
            assert_eq!(full, eight, "time {time}");
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        // RFC 4226 Appendix D, same secret, counters 0..9.
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        let secret = rfc_secret();
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(secret.code_for_step(counter as u64), *code);
        }
    }

    #[test]
    fn codes_are_zero_padded_six_digits() {
        let secret = rfc_secret();
        assert_eq!(secret.code_at(1_234_567_890), "005924");
        for t in (0..3000).map(|i| i * PERIOD_SECS) {
            let code = secret.code_at(t);
            assert_eq!(code.len(), DIGITS);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn rfc4648_base32_vectors() {
        let vectors = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base32_encode(plain.as_bytes()), encoded, "{plain:?}");
            if !plain.is_empty() {
                assert_eq!(
                    base32_decode(encoded).unwrap(),
                    plain.as_bytes(),
                    "{encoded:?}"
                );
            }
        }
        // The RFC's padded forms, and lower case.
        for (plain, padded) in [
            ("f", "MY======"),
            ("fo", "MZXQ===="),
            ("foo", "MZXW6==="),
            ("foob", "MZXW6YQ="),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI======"),
        ] {
            assert_eq!(
                base32_decode(padded).unwrap(),
                plain.as_bytes(),
                "{padded:?}"
            );
            let lower = padded.to_ascii_lowercase();
            assert_eq!(
                base32_decode(&lower).unwrap(),
                plain.as_bytes(),
                "{lower:?}"
            );
        }
    }

    #[test]
    fn base32_round_trip() {
        let secret = rfc_secret();
        assert_eq!(secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let again = TotpSecret::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(again.bytes, secret.bytes);

        let generated = TotpSecret::generate().unwrap();
        assert_eq!(generated.bytes.len(), SECRET_LEN);
        assert_eq!(generated.to_base32().len(), 32);
        let back = TotpSecret::from_base32(&generated.to_base32()).unwrap();
        assert_eq!(back.bytes, generated.bytes);
        assert_eq!(
            back.code_at(1_700_000_000),
            generated.code_at(1_700_000_000)
        );

        for len in 0..=41 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(
                base32_decode(&base32_encode(&bytes)).unwrap_or_default(),
                bytes
            );
        }
    }

    #[test]
    fn two_generated_secrets_differ() {
        let a = TotpSecret::generate().unwrap();
        let b = TotpSecret::generate().unwrap();
        assert_ne!(a.bytes, b.bytes);
    }

    #[test]
    fn bad_base32_is_refused_without_echoing_the_secret() {
        let cases = [
            "",
            "   ",
            "====",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1", // `1` is not base32
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQG", // 33 characters: not whole bytes
            "GEZDGNBVGY3TQOJQ=GEZDGNBVGY3TQOJQ", // padding in the middle
            "MZ",                               // unused trailing bits set
            "MY=",                              // wrong padding length
            "GEZDGNBVGY3TQOJQ",                 // 10 bytes: too short
        ];
        for text in cases {
            let err = TotpSecret::from_base32(text).unwrap_err();
            assert!(matches!(err, TotpError::BadSecret(_)), "{text:?}: {err:?}");
            if text.len() > 4 {
                assert!(!err.to_string().contains(text), "{text:?}: {err}");
            }
        }
        assert!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQ")
                .unwrap_err()
                .to_string()
                .contains("at least 16")
        );
    }

    #[test]
    fn debug_is_redacted() {
        let secret = rfc_secret();
        let debug = format!("{secret:?}");
        assert_eq!(debug, "TotpSecret([redacted])");
        assert!(!debug.contains("GEZD"));
    }

    #[test]
    fn verify_accepts_current_step_and_updates_state() {
        let secret = rfc_secret();
        let mut state = TotpState::default();
        let now = 1_111_111_111;
        let step = verify(&secret, "050471", now, &mut state).unwrap();
        assert_eq!(step, now / PERIOD_SECS);
        assert_eq!(state.last_step(), Some(step));
    }

    #[test]
    fn one_step_of_skew_is_accepted_two_are_refused() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let step = now / PERIOD_SECS;
        for (offset, ok) in [
            (-2_i64, false),
            (-1, true),
            (0, true),
            (1, true),
            (2, false),
        ] {
            let code_step = step.checked_add_signed(offset).unwrap();
            let code = secret.code_for_step(code_step);
            let mut state = TotpState::default();
            let result = verify(&secret, &code, now, &mut state);
            if ok {
                assert_eq!(result, Ok(code_step), "offset {offset}");
                assert_eq!(state.last_step(), Some(code_step));
            } else {
                assert_eq!(result, Err(TotpError::Wrong), "offset {offset}");
                assert_eq!(state, TotpState::default());
            }
        }
    }

    #[test]
    fn skew_window_near_the_epoch() {
        let secret = rfc_secret();
        let mut state = TotpState::default();
        assert_eq!(
            verify(&secret, &secret.code_for_step(0), 5, &mut state),
            Ok(0)
        );
        let mut state = TotpState::default();
        assert_eq!(
            verify(&secret, &secret.code_for_step(1), 5, &mut state),
            Ok(1)
        );
    }

    #[test]
    fn replays_are_refused() {
        let secret = rfc_secret();
        let now = 2_000_000_000;
        let step = now / PERIOD_SECS;
        let mut state = TotpState::default();
        let code = secret.code_at(now);
        assert_eq!(verify(&secret, &code, now, &mut state), Ok(step));

        // The same code again, in the same step and in the next one (still within skew).
        assert_eq!(
            verify(&secret, &code, now, &mut state),
            Err(TotpError::Replayed)
        );
        assert_eq!(
            verify(&secret, &code, now + PERIOD_SECS, &mut state),
            Err(TotpError::Replayed)
        );
        // An older step's code, still inside the skew window.
        let older = secret.code_for_step(step - 1);
        assert_eq!(
            verify(&secret, &older, now, &mut state),
            Err(TotpError::Replayed)
        );
        assert_eq!(state.last_step(), Some(step));

        // The next step's code is fine, once.
        let next = secret.code_for_step(step + 1);
        assert_eq!(
            verify(&secret, &next, now + PERIOD_SECS, &mut state),
            Ok(step + 1)
        );
        assert_eq!(
            verify(&secret, &next, now + PERIOD_SECS, &mut state),
            Err(TotpError::Replayed)
        );

        let message = TotpError::Replayed.to_string();
        assert!(message.contains("already used") && message.contains("next code"));
    }

    #[test]
    fn replay_state_survives_serde() {
        let secret = rfc_secret();
        let now = 1_111_111_109;
        let mut state = TotpState::default();
        let code = secret.code_at(now);
        verify(&secret, &code, now, &mut state).unwrap();
        let json = serde_json::to_string(&state).unwrap();
        let mut restored: TotpState = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, state);
        assert_eq!(
            verify(&secret, &code, now, &mut restored),
            Err(TotpError::Replayed)
        );

        let fresh: TotpState = serde_json::from_str(r#"{"last_step":null}"#).unwrap();
        assert_eq!(fresh, TotpState::default());
    }

    #[test]
    fn malformed_codes_are_refused() {
        let secret = rfc_secret();
        let now = 1_111_111_111;
        for code in [
            "12345",
            "1234567",
            "12a456",
            "",
            " 50471",
            "050 471",
            "０５０４７１",
        ] {
            let mut state = TotpState::default();
            assert_eq!(
                verify(&secret, code, now, &mut state),
                Err(TotpError::Malformed),
                "{code:?}"
            );
            assert_eq!(state, TotpState::default());
        }
        assert!(TotpError::Malformed.to_string().contains("6 digits"));
    }

    #[test]
    fn wrong_code_is_refused_with_advice() {
        let secret = rfc_secret();
        let mut state = TotpState::default();
        let now = 1_111_111_111;
        let right = secret.code_at(now);
        let wrong = if right == "000000" {
            "000001"
        } else {
            "000000"
        };
        assert_eq!(
            verify(&secret, wrong, now, &mut state),
            Err(TotpError::Wrong)
        );
        assert_eq!(state, TotpState::default());
        let message = TotpError::Wrong.to_string();
        assert!(message.contains("clock") && message.contains("qwarden"));
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"123456", b"123456"));
        assert!(!constant_time_eq(b"123456", b"123457"));
        assert!(!constant_time_eq(b"023456", b"123456"));
        assert!(!constant_time_eq(b"12345", b"123456"));
    }

    #[test]
    fn provisioning_uri_format() {
        let secret = rfc_secret();
        assert_eq!(
            secret.provisioning_uri("qwarden", "alice@lab"),
            "otpauth://totp/qwarden:alice%40lab?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=qwarden&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(
            secret.provisioning_uri("Quantum Lab & Co", "bob:ü"),
            "otpauth://totp/Quantum%20Lab%20%26%20Co:bob%3A%C3%BC?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Quantum%20Lab%20%26%20Co&algorithm=SHA1&digits=6&period=30"
        );
    }
}
