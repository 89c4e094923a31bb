//! The rules that decide whether a value is a provider credential: which variable and key
//! names belong to which provider, what each provider's credentials look like, and what is
//! obviously a placeholder.
//!
//! A value is a finding only with context, to keep false positives low. Three strengths:
//! - an **explicit** name (`QISKIT_IBM_TOKEN`, `IONQ_API_KEY`, `aws_secret_access_key`,
//!   `QNX_REFRESH_TOKEN`) or a provider's own structure (the `token` of a saved Qiskit
//!   account, `save_account(token=…)`, `IonQProvider("…")`, `Authorization: apiKey …`, a
//!   Nexus token file): any plausible secret (no spaces, 16 characters or more, not a
//!   placeholder) is a finding;
//! - a **generic** name (`token`, `api_key`, `TOKEN`, `MY_API_TOKEN`) in a file that mentions
//!   a provider (`qiskit`, `ionq`, `braket`, `qnexus`, …): only a value with that provider's
//!   exact shape (a 44-character IBM Cloud key, 128 hexadecimal characters, …);
//! - no name at all: only an AWS access key id (`AKIA`/`ASIA` and 16 base-32 characters),
//!   whose shape alone says what it is.

use crate::handle::HANDLE_PREFIX;
use crate::secret::Provider;

use super::finding::FindingKind;
use super::import::PLACEHOLDER_PREFIX;

/// The longest value considered (AWS session tokens and Nexus JWTs run to a few KiB).
pub(crate) const MAX_VALUE: usize = 16 * 1024;

/// The providers a file mentions, which let a generic name count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Hints {
    pub(crate) ibm: bool,
    pub(crate) ionq: bool,
    pub(crate) aws: bool,
    pub(crate) quantinuum: bool,
}

impl Hints {
    /// The providers `text` mentions (case-insensitive).
    pub(crate) fn of(text: &[u8]) -> Hints {
        let lower = text.to_ascii_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|n| contains(&lower, n.as_bytes()));
        Hints {
            ibm: has(&[
                "qiskit",
                "ibmq",
                "ibm_quantum",
                "ibm-quantum",
                "ibm quantum",
                "ibm_cloud",
                "ibm-cloud",
                "ibmcloud",
                "cloud.ibm.com",
                "quantum.ibm.com",
                "quantum-computing.ibm.com",
            ]),
            ionq: has(&["ionq"]),
            aws: has(&["braket", "boto3", "botocore", "aws_", "amazonaws"]),
            quantinuum: has(&["quantinuum", "qnexus", "pytket", "qnx"]),
        }
    }

    /// One provider's hint.
    #[cfg(test)]
    pub(crate) fn only(provider: Provider) -> Hints {
        let mut h = Hints::default();
        h.set(provider);
        h
    }

    /// Adds a provider.
    pub(crate) fn set(&mut self, provider: Provider) {
        match provider {
            Provider::Ibm => self.ibm = true,
            Provider::Ionq => self.ionq = true,
            Provider::Aws => self.aws = true,
            Provider::Quantinuum => self.quantinuum = true,
        }
    }

    fn providers(self) -> impl Iterator<Item = Provider> {
        [
            (self.ibm, Provider::Ibm),
            (self.ionq, Provider::Ionq),
            (self.aws, Provider::Aws),
            (self.quantinuum, Provider::Quantinuum),
        ]
        .into_iter()
        .filter_map(|(on, p)| on.then_some(p))
    }
}

/// Whether `needle` occurs in `hay`.
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// What a variable or key name says about its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyClass {
    /// The name says which provider (and maybe which kind).
    Explicit(Provider, Option<FindingKind>),
    /// A generic secret name (`token`, `api_key`, `REFRESH_TOKEN`…): the provider comes from
    /// the context.
    Generic,
}

/// The longest name classified.
const MAX_KEY: usize = 64;

/// Classifies a variable or key name, in any case, with `-` or `.` for `_`.
pub(crate) fn key_class(name: &[u8]) -> Option<KeyClass> {
    if name.is_empty() || name.len() > MAX_KEY {
        return None;
    }
    let n: Vec<u8> = name
        .iter()
        .map(|b| match b {
            b'-' | b'.' => b'_',
            b => b.to_ascii_uppercase(),
        })
        .collect();
    let n = n.as_slice();
    let has = |s: &str| contains(n, s.as_bytes());
    let ends = |s: &str| n.ends_with(s.as_bytes());
    use FindingKind as K;
    use Provider as P;
    // AWS's own names first: `AWS_ACCESS_KEY_ID` ends in `_ID`, which is excluded below.
    match n {
        b"AWS_ACCESS_KEY_ID" => return Some(KeyClass::Explicit(P::Aws, Some(K::AwsAccessKeyId))),
        b"AWS_SECRET_ACCESS_KEY" | b"AWS_SECRET_KEY" => {
            return Some(KeyClass::Explicit(P::Aws, Some(K::AwsSecretAccessKey)));
        }
        b"AWS_SESSION_TOKEN" | b"AWS_SECURITY_TOKEN" => {
            return Some(KeyClass::Explicit(P::Aws, Some(K::AwsSessionToken)));
        }
        _ => {}
    }
    // Names of something else about a credential: where it is, what it is called, its id.
    for suffix in [
        "_FILE",
        "_PATH",
        "_URL",
        "_NAME",
        "_ID",
        "_DIR",
        "_TYPE",
        "_EXPIRY",
        "_EXPIRES",
        "_EXPIRATION",
        "_TTL",
        "_TIMEOUT",
        "_LENGTH",
        "_HEADER",
        "_PREFIX",
        "_VAR",
        "_ENV",
    ] {
        if ends(suffix) {
            return None;
        }
    }
    let secretish = has("TOKEN") || has("KEY") || has("SECRET");
    if (has("QISKIT")
        || has("IBMQ")
        || n.starts_with(b"IBM_")
        || has("IBM_QUANTUM")
        || has("IBMCLOUD")
        || n == b"QE_TOKEN")
        && (has("TOKEN") || has("APIKEY") || has("API_KEY"))
    {
        return Some(KeyClass::Explicit(P::Ibm, None));
    }
    if has("IONQ") && secretish {
        return Some(KeyClass::Explicit(P::Ionq, Some(K::IonqApiKey)));
    }
    if n.starts_with(b"QNX_") || n.starts_with(b"QUANTINUUM_") || n.starts_with(b"NEXUS_QNX") {
        let kind = if has("PASSWORD") || has("PASSWD") || ends("_PWD") || ends("_PASS") {
            K::QuantinuumPassword
        } else if has("REFRESH") {
            K::QuantinuumRefreshToken
        } else if has("ACCESS") || has("ID_TOKEN") {
            K::QuantinuumAccessToken
        } else if secretish {
            K::QuantinuumToken
        } else {
            return None;
        };
        return Some(KeyClass::Explicit(P::Quantinuum, Some(kind)));
    }
    if ends("TOKEN") || ends("APIKEY") || ends("API_KEY") || ends("AUTH_KEY") {
        return Some(KeyClass::Generic);
    }
    None
}

/// The kind a value gets in a context that names its provider (explicitly or by structure);
/// `None` if it is not a plausible secret. `name` refines the kind where the provider has
/// several (`refresh_token` / `access_token`).
pub(crate) fn strong(
    provider: Provider,
    kind: Option<FindingKind>,
    name: Option<&[u8]>,
    value: &[u8],
) -> Option<FindingKind> {
    let kind = kind.unwrap_or_else(|| default_kind(provider, name, value));
    if !plausible(kind, value) {
        return None;
    }
    Some(kind)
}

/// The kind a value gets under a generic name in a file that mentions `hints`: only a value
/// with one of those providers' exact shape.
pub(crate) fn weak(hints: Hints, value: &[u8]) -> Option<FindingKind> {
    if is_placeholder(value) {
        return None;
    }
    hints.providers().find_map(|p| shaped(p, value))
}

/// The kind of a value whose provider is known but whose name does not say the kind.
fn default_kind(provider: Provider, name: Option<&[u8]>, value: &[u8]) -> FindingKind {
    use FindingKind as K;
    match provider {
        Provider::Ibm if is_ibm_quantum_token(value) => K::IbmQuantumToken,
        Provider::Ibm => K::IbmCloudApiKey,
        Provider::Ionq => K::IonqApiKey,
        Provider::Aws if is_aws_access_key_id(value) => K::AwsAccessKeyId,
        Provider::Aws if value.len() == 40 => K::AwsSecretAccessKey,
        Provider::Aws => K::AwsSessionToken,
        Provider::Quantinuum => {
            let n = name.map(<[u8]>::to_ascii_lowercase).unwrap_or_default();
            if contains(&n, b"refresh") {
                K::QuantinuumRefreshToken
            } else if contains(&n, b"access")
                || contains(&n, b"id_token")
                || contains(&n, b"id-token")
            {
                K::QuantinuumAccessToken
            } else {
                K::QuantinuumToken
            }
        }
    }
}

/// The kind of a value with exactly one of `provider`'s shapes.
fn shaped(provider: Provider, value: &[u8]) -> Option<FindingKind> {
    use FindingKind as K;
    let kind = match provider {
        Provider::Ibm if is_ibm_quantum_token(value) => K::IbmQuantumToken,
        Provider::Ibm if is_ibm_cloud_api_key(value) => K::IbmCloudApiKey,
        Provider::Ionq if is_ionq_api_key(value) => K::IonqApiKey,
        Provider::Aws if is_aws_access_key_id(value) => K::AwsAccessKeyId,
        Provider::Aws if value.len() == 40 && value.iter().all(|b| is_base64(*b)) => {
            K::AwsSecretAccessKey
        }
        Provider::Quantinuum if is_jwt(value) => K::QuantinuumAccessToken,
        _ => return None,
    };
    plausible(kind, value).then_some(kind)
}

/// An IBM Cloud API key: 44 characters `[A-Za-z0-9_-]`.
pub(crate) fn is_ibm_cloud_api_key(v: &[u8]) -> bool {
    v.len() == 44
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

/// A legacy IBM Quantum token: 128 hexadecimal characters.
pub(crate) fn is_ibm_quantum_token(v: &[u8]) -> bool {
    v.len() == 128 && v.iter().all(u8::is_ascii_hexdigit)
}

/// An IonQ API key as generated by IonQ Cloud: 32 to 64 letters and digits, both present.
fn is_ionq_api_key(v: &[u8]) -> bool {
    (32..=64).contains(&v.len())
        && v.iter().all(u8::is_ascii_alphanumeric)
        && v.iter().any(u8::is_ascii_digit)
        && v.iter().any(u8::is_ascii_alphabetic)
}

/// An AWS access key id: `AKIA` (long-term) or `ASIA` (temporary) and 16 base-32 characters.
pub(crate) fn is_aws_access_key_id(v: &[u8]) -> bool {
    v.len() == 20
        && (v.starts_with(b"AKIA") || v.starts_with(b"ASIA"))
        && v.iter()
            .skip(4)
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(b))
}

/// A JSON Web Token: three base64url parts, the first a JSON header (`eyJ`).
fn is_jwt(v: &[u8]) -> bool {
    v.starts_with(b"eyJ")
        && v.iter().filter(|b| **b == b'.').count() == 2
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// Characters a token may hold: letters, digits and `._~+/=-` (base64, base64url, JWTs,
/// hexadecimal).
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-')
}

/// Whether `value` could be a credential of `kind`: not a placeholder, long enough, made of
/// the characters such credentials are made of, and not trivially repetitive.
pub(crate) fn plausible(kind: FindingKind, value: &[u8]) -> bool {
    if is_placeholder(value) || value.len() > MAX_VALUE {
        return false;
    }
    match kind {
        FindingKind::AwsAccessKeyId => is_aws_access_key_id(value),
        FindingKind::QuantinuumPassword => {
            value.len() >= 8
                && value
                    .iter()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\' | b'`'))
                && distinct(value) >= 4
        }
        FindingKind::AwsSecretAccessKey | FindingKind::AwsSessionToken => {
            value.len() >= 16
                && value.iter().all(|b| is_base64(*b) || *b == b'=')
                && distinct(value) >= 6
        }
        _ => {
            value.len() >= 16
                && value.iter().all(|b| is_token_char(*b))
                && distinct(value) >= 6
                && !value.iter().all(u8::is_ascii_digit)
        }
    }
}

/// How many different bytes `v` holds (up to 256).
fn distinct(v: &[u8]) -> usize {
    let mut seen = [false; 256];
    for b in v {
        if let Some(s) = seen.get_mut(usize::from(*b)) {
            *s = true;
        }
    }
    seen.iter().filter(|s| **s).count()
}

/// Words that mark a value as a stand-in for a credential rather than one.
const PLACEHOLDER_WORDS: &[&str] = &[
    "your",
    "xxxx",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "replace",
    "insert",
    "redacted",
    "dummy",
    "fake",
    "goes_here",
    "_here",
    "-here",
    "todo",
    "fixme",
    "...",
    "\u{2026}",
    "****",
    "<",
    ">",
    "${",
    "{{",
    "}}",
    "%(",
];

/// Whether `value` is obviously not a real credential: empty, qwarden's own placeholder or
/// session handle, a variable reference or template (`$VAR`, `${VAR}`, `{{ x }}`, `%(x)s`,
/// `<your-token>`), a word such as `your`, `xxxx`, `changeme`, `dummy`, `...`, one repeated
/// character, or a name in capitals (`YOUR_API_KEY`, `IBM_TOKEN`).
pub(crate) fn is_placeholder(value: &[u8]) -> bool {
    let Some(first) = value.first() else {
        return true;
    };
    if value.starts_with(PLACEHOLDER_PREFIX.as_bytes())
        || value.starts_with(HANDLE_PREFIX.as_bytes())
    {
        return true;
    }
    if matches!(first, b'$' | b'<' | b'{' | b'%' | b'[' | b'(' | b'@') {
        return true;
    }
    // Only short values are written by hand; in a long random token (a session token, a JWT)
    // four letters spelling a word are chance.
    if value.len() <= 100 {
        let lower = value.to_ascii_lowercase();
        if PLACEHOLDER_WORDS
            .iter()
            .any(|w| contains(&lower, w.as_bytes()))
        {
            return true;
        }
    }
    if value.iter().all(|b| b == first) {
        return true;
    }
    value.contains(&b'_')
        && value.iter().any(u8::is_ascii_uppercase)
        && value
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    const IBM_KEY: &[u8] = b"Qw4rd3nT3stK3y_0123456789-abcdefGHIJKLmnopQR";

    #[test]
    fn names() {
        use FindingKind as K;
        use KeyClass::*;
        use Provider as P;
        for (name, class) in [
            ("QISKIT_IBM_TOKEN", Some(Explicit(P::Ibm, None))),
            ("IBMQ_TOKEN", Some(Explicit(P::Ibm, None))),
            ("IBM_CLOUD_API_KEY", Some(Explicit(P::Ibm, None))),
            ("IBM_QUANTUM_TOKEN", Some(Explicit(P::Ibm, None))),
            ("ibm-api-key", Some(Explicit(P::Ibm, None))),
            ("QE_TOKEN", Some(Explicit(P::Ibm, None))),
            ("IONQ_API_KEY", Some(Explicit(P::Ionq, Some(K::IonqApiKey)))),
            (
                "aws_access_key_id",
                Some(Explicit(P::Aws, Some(K::AwsAccessKeyId))),
            ),
            (
                "aws_secret_access_key",
                Some(Explicit(P::Aws, Some(K::AwsSecretAccessKey))),
            ),
            (
                "AWS_SESSION_TOKEN",
                Some(Explicit(P::Aws, Some(K::AwsSessionToken))),
            ),
            (
                "QNX_REFRESH_TOKEN",
                Some(Explicit(P::Quantinuum, Some(K::QuantinuumRefreshToken))),
            ),
            (
                "QUANTINUUM_PASSWORD",
                Some(Explicit(P::Quantinuum, Some(K::QuantinuumPassword))),
            ),
            (
                "QUANTINUUM_API_TOKEN",
                Some(Explicit(P::Quantinuum, Some(K::QuantinuumToken))),
            ),
            ("token", Some(Generic)),
            ("apikey", Some(Generic)),
            ("refresh_token", Some(Generic)),
            ("MY_SERVICE_TOKEN", Some(Generic)),
            ("QISKIT_IBM_URL", None),
            ("QISKIT_IBM_INSTANCE", None),
            ("QISKIT_IBM_TOKEN_FILE", None),
            ("IBM_CLOUD_API_KEY_ID", None),
            ("QUANTINUUM_USER", None),
            ("checksum", None),
            ("key", None),
        ] {
            assert_eq!(key_class(name.as_bytes()), class, "{name}");
        }
    }

    #[test]
    fn placeholders() {
        for p in [
            "",
            "<your-token>",
            "${IONQ_API_KEY}",
            "$IONQ_API_KEY",
            "{{ secrets.IBM }}",
            "xxxxxxxxxxxxxxxxxxxx",
            "YOUR_API_KEY",
            "IBM_TOKEN",
            "changeme-changeme-123",
            "qwarden-vault:ibm",
            "qwh_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            "paste-your-key-here",
            "%(token)s",
            "...",
            "0000000000000000",
            "REDACTED",
        ] {
            assert!(is_placeholder(p.as_bytes()), "{p}");
        }
        for real in [
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            std::str::from_utf8(IBM_KEY).unwrap(),
        ] {
            assert!(!is_placeholder(real.as_bytes()), "{real}");
        }
    }

    #[test]
    fn shapes() {
        assert!(is_ibm_cloud_api_key(IBM_KEY));
        assert!(!is_ibm_cloud_api_key(&IBM_KEY[1..]));
        assert!(is_ibm_quantum_token(&[b'a'; 128]));
        assert!(is_aws_access_key_id(b"AKIAIOSFODNN7EXAMPLE"));
        assert!(is_aws_access_key_id(b"ASIAIOSFODNN7EXAMPLE"));
        assert!(!is_aws_access_key_id(b"AKIAIOSFODNN7EXAMPL0"));
        assert!(!is_aws_access_key_id(b"AKIAIOSFODNN7EXAMPL"));
        assert!(is_jwt(b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
    }

    #[test]
    fn weak_needs_the_shape_and_a_hint() {
        let ibm = Hints::only(Provider::Ibm);
        assert_eq!(weak(ibm, IBM_KEY), Some(FindingKind::IbmCloudApiKey));
        assert_eq!(weak(Hints::default(), IBM_KEY), None);
        assert_eq!(weak(ibm, b"not-the-right-shape-at-all-0123"), None);
        assert_eq!(weak(Hints::only(Provider::Ionq), IBM_KEY), None);
    }

    #[test]
    fn strong_needs_a_plausible_value() {
        use FindingKind as K;
        assert_eq!(
            strong(Provider::Ibm, None, None, IBM_KEY),
            Some(K::IbmCloudApiKey)
        );
        assert_eq!(strong(Provider::Ibm, None, None, &[b'7'; 128]), None);
        assert_eq!(strong(Provider::Ibm, None, None, b"short"), None);
        assert_eq!(
            strong(Provider::Ibm, None, None, b"has spaces in it, so no"),
            None
        );
        assert_eq!(
            strong(Provider::Quantinuum, None, Some(b"refresh_token"), IBM_KEY),
            Some(K::QuantinuumRefreshToken)
        );
        assert_eq!(
            strong(
                Provider::Aws,
                Some(K::AwsAccessKeyId),
                None,
                b"AKIA-not-an-id-at-all"
            ),
            None
        );
    }

    #[test]
    fn hints() {
        let h = Hints::of(b"from qiskit_ibm_runtime import QiskitRuntimeService");
        assert!(h.ibm && !h.ionq && !h.aws && !h.quantinuum);
        let h = Hints::of(b"import boto3\nfrom braket.aws import AwsDevice\nimport qnexus");
        assert!(!h.ibm && h.aws && h.quantinuum);
    }
}
