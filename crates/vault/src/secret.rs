//! A secret value in memory, and the providers secrets belong to.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A provider credential. Zeroised when dropped; `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a value (the caller's copy should be zeroised too).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The value, for the one place that needs it (the gateway's request to the provider).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Who issued a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// IBM Quantum (an IBM Cloud API key, or a legacy IBM Quantum token).
    Ibm,
    /// IonQ.
    Ionq,
    /// Amazon Web Services (Braket).
    Aws,
    /// Quantinuum (Nexus).
    Quantinuum,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 4] = [
        Provider::Ibm,
        Provider::Ionq,
        Provider::Aws,
        Provider::Quantinuum,
    ];

    /// As written in commands and files.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Ibm => "ibm",
            Provider::Ionq => "ionq",
            Provider::Aws => "aws",
            Provider::Quantinuum => "quantinuum",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Provider {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown provider `{s}`; known: ibm, ionq, aws, quantinuum"))
    }
}
