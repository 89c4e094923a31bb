//! The real providers a session's gateway forwards to, and the environment that points the
//! agent's SDKs at the gateway instead of at them.
//!
//! The variables are the ones the SDKs were observed to honour (shared/fixtures/
//! provider-traffic/README.md): qiskit-ionq reads `IONQ_API_URL` / `IONQ_API_KEY` (and their
//! `QISKIT_IONQ_` and `_TOKEN` spellings); qiskit-ibm-runtime reads `QISKIT_IBM_TOKEN`,
//! `QISKIT_IBM_INSTANCE`, `QISKIT_IBM_URL` (which must contain `experimental`, or the SDK
//! rewrites it to a host of its own), `IAM_URL`, and `QISKIT_FUNCTIONS_EXPERIMENTAL=1` (which
//! skips IBM Cloud's instance search). Setting `QISKIT_IBM_TOKEN` makes the environment win over
//! any saved account. The only credential in any of them is the session's handle.

use std::sync::Arc;

use qwarden_gateway::upstream::ibm::{IbmEndpoints, IbmUpstream};
use qwarden_gateway::upstream::ionq::{CalibrationStore, IonqUpstream, KeySource};

/// The granted IonQ provider the gateway forwards to.
#[derive(Clone)]
pub struct Ionq {
    /// Its name in the profile.
    pub provider: String,
    /// Its API base URL, ending in `/v0.4`.
    pub base_url: String,
    /// Extra certificate authorities (PEM) trusted for it.
    pub ca_pem: Option<Vec<u8>>,
    /// Where its key comes from (the vault, unlocked by the human before the session).
    pub keys: Arc<dyn KeySource>,
}

/// The granted IBM provider the gateway forwards to.
#[derive(Clone)]
pub struct Ibm {
    /// Its name in the profile.
    pub provider: String,
    /// Its runtime API, IAM and instance.
    pub endpoints: IbmEndpoints,
    /// Extra certificate authorities (PEM) trusted for it.
    pub ca_pem: Option<Vec<u8>>,
    /// Where its key comes from.
    pub keys: Arc<dyn KeySource>,
}

impl std::fmt::Debug for Ionq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ionq")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Ibm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ibm")
            .field("provider", &self.provider)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl Ionq {
    /// The adapter, or why this provider cannot be offered.
    pub fn adapter(&self, cas: Arc<dyn CalibrationStore>) -> Result<IonqUpstream, String> {
        let up = IonqUpstream::new(
            self.provider.clone(),
            &self.base_url,
            self.keys.clone(),
            cas,
        )?;
        match &self.ca_pem {
            Some(pem) => up.trusting(pem),
            None => Ok(up),
        }
    }
}

impl Ibm {
    /// The adapter, or why this provider cannot be offered.
    pub fn adapter(&self, cas: Arc<dyn CalibrationStore>) -> Result<IbmUpstream, String> {
        let up = IbmUpstream::new(
            self.provider.clone(),
            &self.endpoints,
            self.keys.clone(),
            cas,
        )?;
        match &self.ca_pem {
            Some(pem) => up.trusting(pem),
            None => Ok(up),
        }
    }
}

/// The variable holding a provider's handle: `QWARDEN_HANDLE_<NAME>`.
pub fn handle_var(provider: &str) -> String {
    format!(
        "QWARDEN_HANDLE_{}",
        provider.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// The SDK variables for the providers offered, given the gateway's port and the handles'
/// variables.
pub fn sdk_env(
    port: u16,
    handles: &[(String, String)],
    ionq: Option<&str>,
    ibm: Option<(&str, &str)>,
) -> Vec<(String, String)> {
    let handle = |provider: &str| {
        let var = handle_var(provider);
        handles
            .iter()
            .find(|(k, _)| *k == var)
            .map(|(_, h)| h.clone())
    };
    let gateway = format!("http://127.0.0.1:{port}");
    let mut env = Vec::new();
    if let Some(h) = ionq.and_then(handle) {
        let url = format!("{gateway}/v0.4");
        for (k, v) in [
            ("IONQ_API_URL", &url),
            ("QISKIT_IONQ_API_URL", &url),
            ("IONQ_API_KEY", &h),
            ("IONQ_API_TOKEN", &h),
            ("QISKIT_IONQ_API_TOKEN", &h),
        ] {
            env.push((k.to_owned(), v.clone()));
        }
    }
    if let Some((provider, crn)) = ibm
        && let Some(h) = handle(provider)
    {
        for (k, v) in [
            ("QISKIT_IBM_TOKEN", h),
            ("QISKIT_IBM_INSTANCE", crn.to_owned()),
            ("QISKIT_IBM_CHANNEL", "ibm_quantum_platform".to_owned()),
            ("QISKIT_IBM_URL", format!("{gateway}/experimental/api/v1")),
            ("IAM_URL", gateway.clone()),
            ("QISKIT_FUNCTIONS_EXPERIMENTAL", "1".to_owned()),
        ] {
            env.push((k.to_owned(), v));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdks_point_at_the_gateway_with_handles_only() {
        let handles = vec![
            ("QWARDEN_HANDLE_IONQ_LAB".to_owned(), "qwh_1".to_owned()),
            ("QWARDEN_HANDLE_IBM".to_owned(), "qwh_2".to_owned()),
        ];
        let env = sdk_env(8787, &handles, Some("ionq-lab"), Some(("ibm", "crn:v1:x")));
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("IONQ_API_URL"), Some("http://127.0.0.1:8787/v0.4"));
        assert_eq!(get("IONQ_API_KEY"), Some("qwh_1"));
        assert_eq!(get("QISKIT_IBM_TOKEN"), Some("qwh_2"));
        assert_eq!(
            get("QISKIT_IBM_URL"),
            Some("http://127.0.0.1:8787/experimental/api/v1")
        );
        assert_eq!(get("IAM_URL"), Some("http://127.0.0.1:8787"));
        assert_eq!(get("QISKIT_IBM_INSTANCE"), Some("crn:v1:x"));
        // No handle minted for a provider: nothing for its SDK.
        assert!(sdk_env(1, &[], Some("ionq"), Some(("ibm", "crn:x"))).is_empty());
    }
}
