//! Session handles: what an agent holds instead of a provider key.
//!
//! At session start the supervisor mints one opaque handle per granted provider, bound to the
//! session, the agent, the provider and the manifest digest, and puts it in the sandbox's
//! environment where the provider SDK expects its key. Only qwarden's gateway accepts a handle,
//! and only for that binding; the real key never enters the sandbox.
//!
//! A handle is 256 bits from the operating system's random source, written `qwh_` followed by
//! 43 base64url characters (no padding). It lives for [`HANDLE_TTL`] and the supervisor renews
//! it while the session runs, so a handle copied out of a finished session is useless. The
//! [`HandleTable`] lives in the supervisor's memory only and never stores a handle: it is keyed
//! by the handle's SHA-256, which is also the only form the audit ledger records
//! ([`Handle::digest`]). Looking a handle up by its hash means no comparison ever runs on the
//! handle's own bytes, so response timing tells an attacker nothing about a guess.
//!
//! Time is always passed in, never read from a hidden clock, so expiry is deterministic in tests.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// How every handle starts.
pub const HANDLE_PREFIX: &str = "qwh_";

/// How long a handle lives after it is minted or last renewed.
pub const HANDLE_TTL: Duration = Duration::minutes(15);

/// Random bytes in a handle.
const HANDLE_BYTES: usize = 32;

/// Length of the base64url text of [`HANDLE_BYTES`] without padding.
const ENCODED_LEN: usize = 43;

/// A session handle. Zeroised when dropped; `Debug` shows only its digest.
#[derive(Clone)]
pub struct Handle(Zeroizing<String>);

impl Handle {
    /// The handle's text (`qwh_…`), for the one place that needs it: the sandbox's environment.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `sha256:<hex>` of the handle's text: what the ledger records instead of the handle.
    pub fn digest(&self) -> String {
        digest(&self.0)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle(<redacted> {})", self.digest())
    }
}

/// `sha256:<hex>` of any text presented as a handle (a refused one too), for the ledger.
pub fn digest(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// What a handle is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The session id.
    pub session: String,
    /// The agent's name, from its manifest.
    pub agent: String,
    /// The provider whose key the handle stands for: its name in the workstation profile
    /// (`ibm`, `ionq`, `local`…). A name, not a kind: a profile may have two IBM accounts, and
    /// one's handle must not unlock the other's key.
    pub provider: String,
    /// The digest of the agent's signed manifest (`sha256:<hex>`).
    pub manifest_digest: String,
}

/// Why a handle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// The text is not shaped like a handle.
    #[error(
        "not a qwarden handle: expected `qwh_` followed by 43 base64url characters; use the value qwarden put in the session's environment"
    )]
    Malformed,
    /// Well formed, but this supervisor never issued it.
    #[error(
        "unknown qwarden handle: this supervisor did not issue it (a handle is valid only in the session that received it); use the value in the session's environment"
    )]
    Unknown,
    /// Its session ended and the supervisor revoked it.
    #[error(
        "the qwarden handle was revoked when its session ended; start a new session for a new handle"
    )]
    Revoked,
    /// It was not renewed in time.
    #[error(
        "the qwarden handle expired at {expired_at} (handles last 15 minutes and are renewed only while their session runs); start a new session for a new handle"
    )]
    Expired {
        /// When it expired.
        expired_at: OffsetDateTime,
    },
    /// It belongs to another session.
    #[error(
        "the qwarden handle belongs to another session; use the handle in this session's environment"
    )]
    WrongSession,
    /// It stands for another provider's key.
    #[error(
        "the qwarden handle is for provider `{bound}`, not `{requested}`; use the `{requested}` handle from the session's environment"
    )]
    WrongProvider {
        /// The provider it is bound to.
        bound: String,
        /// The provider it was presented for.
        requested: String,
    },
    /// The operating system's random source failed.
    #[error("cannot mint a handle: the operating system's random source failed: {0}")]
    Randomness(String),
}

/// One minted handle, by the SHA-256 of its text.
#[derive(Debug)]
struct Slot {
    binding: Binding,
    expires: OffsetDateTime,
    revoked: bool,
}

/// The handles a supervisor issued. In memory only: a handle outlives neither its session nor
/// the supervisor process.
#[derive(Debug, Default)]
pub struct HandleTable {
    slots: HashMap<[u8; 32], Slot>,
}

impl HandleTable {
    /// An empty table.
    pub fn new() -> HandleTable {
        HandleTable::default()
    }

    /// Mints a handle for `binding`, valid until `now` + [`HANDLE_TTL`].
    pub fn mint(&mut self, binding: Binding, now: OffsetDateTime) -> Result<Handle, HandleError> {
        let mut bytes = Zeroizing::new([0u8; HANDLE_BYTES]);
        OsRng
            .try_fill_bytes(bytes.as_mut_slice())
            .map_err(|e| HandleError::Randomness(e.to_string()))?;
        let mut text = Zeroizing::new(String::with_capacity(HANDLE_PREFIX.len() + ENCODED_LEN));
        text.push_str(HANDLE_PREFIX);
        URL_SAFE_NO_PAD.encode_string(bytes.as_slice(), &mut text);
        self.slots.insert(
            key(&text),
            Slot {
                binding,
                expires: now + HANDLE_TTL,
                revoked: false,
            },
        );
        Ok(Handle(text))
    }

    /// Checks a handle presented for `provider` in `session` at `now`; returns what it is bound to.
    ///
    /// Refusals, in the order they are checked: [`HandleError::Malformed`], `Unknown`, `Revoked`,
    /// `Expired` (at exactly the expiry instant too), `WrongSession`, `WrongProvider`.
    pub fn check(
        &self,
        text: &str,
        provider: &str,
        session: &str,
        now: OffsetDateTime,
    ) -> Result<&Binding, HandleError> {
        if !well_formed(text) {
            return Err(HandleError::Malformed);
        }
        let slot = self.slots.get(&key(text)).ok_or(HandleError::Unknown)?;
        if slot.revoked {
            return Err(HandleError::Revoked);
        }
        if now >= slot.expires {
            return Err(HandleError::Expired {
                expired_at: slot.expires,
            });
        }
        if slot.binding.session != session {
            return Err(HandleError::WrongSession);
        }
        if slot.binding.provider != provider {
            return Err(HandleError::WrongProvider {
                bound: slot.binding.provider.clone(),
                requested: provider.to_owned(),
            });
        }
        Ok(&slot.binding)
    }

    /// Extends every live (unexpired, unrevoked) handle of `session` to `now` + [`HANDLE_TTL`];
    /// the supervisor calls it periodically while the session runs. An expired handle stays
    /// expired. Returns how many handles were renewed.
    pub fn renew(&mut self, session: &str, now: OffsetDateTime) -> usize {
        let mut renewed = 0;
        for slot in self.slots.values_mut() {
            if slot.binding.session == session && !slot.revoked && now < slot.expires {
                slot.expires = slot.expires.max(now + HANDLE_TTL);
                renewed += 1;
            }
        }
        renewed
    }

    /// Revokes every handle of `session` (at its end). Returns the digest and provider of each
    /// handle revoked now, sorted by digest, for the ledger.
    pub fn revoke_session(&mut self, session: &str) -> Vec<(String, String)> {
        let mut revoked: Vec<(String, String)> = self
            .slots
            .iter_mut()
            .filter(|(_, s)| s.binding.session == session && !s.revoked)
            .map(|(k, s)| {
                s.revoked = true;
                (
                    format!("sha256:{}", hex::encode(k)),
                    s.binding.provider.clone(),
                )
            })
            .collect();
        revoked.sort();
        revoked
    }
}

/// The table's key for a handle's text: its SHA-256 (the bytes of [`digest`]).
fn key(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// `qwh_` and the canonical base64url text of 32 bytes.
fn well_formed(text: &str) -> bool {
    let Some(body) = text.strip_prefix(HANDLE_PREFIX) else {
        return false;
    };
    if body.len() != ENCODED_LEN {
        return false;
    }
    let mut out = Zeroizing::new([0u8; HANDLE_BYTES + 3]);
    // The engine refuses padding and non-canonical trailing bits, so one handle has one spelling.
    URL_SAFE_NO_PAD
        .decode_slice(body, out.as_mut_slice())
        .is_ok_and(|n| n == HANDLE_BYTES)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests;
