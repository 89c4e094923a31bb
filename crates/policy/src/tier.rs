//! Workstation tiers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How much a workstation trusts agents, from most to least permissive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[serde(expecting = "a tier name")]
pub enum Tier {
    /// A scratch machine: agents write in place and install packages, but never reach a real QPU.
    Sandbox,
    /// A shared development machine: writes become a review branch, QPU jobs need one approval.
    Staging,
    /// A production machine: agents read only, and every QPU job needs M-of-N approvals.
    Prod,
}

impl Tier {
    /// Every tier, in order.
    pub const ALL: [Tier; 3] = [Tier::Sandbox, Tier::Staging, Tier::Prod];

    /// The tier's name as written in profiles and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Sandbox => "sandbox",
            Tier::Staging => "staging",
            Tier::Prod => "prod",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tier name that is not one of `sandbox`, `staging`, `prod`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier `{0}`: expected one of `sandbox`, `staging`, `prod`")]
pub struct UnknownTier(pub String);

impl FromStr for Tier {
    type Err = UnknownTier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sandbox" => Ok(Tier::Sandbox),
            "staging" => Ok(Tier::Staging),
            "prod" => Ok(Tier::Prod),
            other => Err(UnknownTier(other.to_owned())),
        }
    }
}
