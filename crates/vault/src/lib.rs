//! qwarden's credential vault: where provider keys live, outside every sandbox.
//!
//! - [`secret`]: the in-memory [`Secret`] (zeroised, never printed) and [`Provider`].
//! - [`store`]: secrets encrypted at rest with age in the state directory, unlocked by a
//!   passphrase or an identity file kept outside every sandbox.
//! - [`handle`]: the opaque, 15-minute session handles an agent gets instead of a key, which only
//!   qwarden's gateway accepts.
//! - [`scan`]: finding plaintext provider credentials on disk and in the environment, and moving
//!   them into the vault.

pub mod handle;
pub mod scan;
pub mod secret;
pub mod store;

pub use handle::{Binding, Handle, HandleError, HandleTable};
pub use secret::{Provider, Secret};
pub use store::{Entry, Unlock, UnlockKind, Vault, VaultError};
