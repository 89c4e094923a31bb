//! Installed distributions: PEP 503 names, the quantum packages the inventory looks for, and the
//! parsers of a `.dist-info` directory's `METADATA` and `RECORD` (PEP 376, PEP 627).
//!
//! Everything here takes bytes and returns values, and never panics on junk: these files are
//! written by whatever installed the package, which is not trusted.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// The quantum packages, by their PEP 503 normalised name.
///
/// SDKs and provider clients (Qiskit, Cirq, TKET, Braket, PennyLane, pyQuil, Q#, Azure Quantum,
/// Nexus), simulators and the formats they share (Aer, stim, QuTiP, OpenQASM 3, Qibo, CUDA-Q,
/// cuQuantum) and error mitigation (Mitiq). Every package of the families in [`QUANTUM_FAMILIES`]
/// counts as well.
pub const QUANTUM_PACKAGES: &[&str] = &[
    "qiskit",
    "qiskit-terra",
    "cirq",
    "pytket",
    "qnexus",
    "pennylane",
    "pyquil",
    "qcs-sdk-python",
    "qsharp",
    "azure-quantum",
    "qutip",
    "openqasm3",
    "stim",
    "qibo",
    "cudaq",
    "cuda-quantum",
    "cuquantum-python",
    "tensorflow-quantum",
    "mitiq",
];

/// Name prefixes whose every package is a quantum package: `qiskit-aer`, `qiskit-ibm-runtime`,
/// `qiskit-ionq`, `cirq-core`, `cirq-google`, `pytket-qiskit`, `pennylane-lightning`,
/// `amazon-braket-sdk`, `amazon-braket-default-simulator`, …
pub const QUANTUM_FAMILIES: &[&str] = &[
    "qiskit-",
    "cirq-",
    "pytket-",
    "pennylane-",
    "amazon-braket-",
];

/// A distribution name normalised as PEP 503 says: lower case, every run of `-`, `_` and `.`
/// replaced by one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// Whether a PEP 503 normalised name is one of the quantum packages.
pub fn is_quantum(normalized: &str) -> bool {
    QUANTUM_PACKAGES.contains(&normalized)
        || QUANTUM_FAMILIES
            .iter()
            .any(|f| normalized.len() > f.len() && normalized.starts_with(f))
}

/// The `Name` and `Version` of a `METADATA` file (core metadata, an RFC 822 header block).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `Name:`, as written.
    pub name: Option<String>,
    /// `Version:`, as written.
    pub version: Option<String>,
}

/// Reads the first `Name:` and `Version:` of the header block (up to the first empty line).
/// Header names are case-insensitive; continuation lines and other headers are ignored.
pub fn parse_metadata(bytes: &[u8]) -> Metadata {
    let text = String::from_utf8_lossy(bytes);
    let mut meta = Metadata::default();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let slot = if key.eq_ignore_ascii_case("name") {
            &mut meta.name
        } else if key.eq_ignore_ascii_case("version") {
            &mut meta.version
        } else {
            continue;
        };
        if slot.is_none() {
            *slot = Some(value.to_owned());
        }
        if meta.name.is_some() && meta.version.is_some() {
            break;
        }
    }
    meta
}

/// A hash algorithm a `RECORD` may name (PEP 376 allows any of `hashlib`'s; pip writes sha256).
/// MD5 and SHA-1 are refused as too weak to tell a modified file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }
}

/// One row of a `RECORD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordRow {
    /// A file with its expected hash (and size, when given and a number).
    Hashed {
        /// The path, relative to the directory holding the `.dist-info` (may contain `..`).
        path: String,
        /// The algorithm.
        algorithm: HashAlgorithm,
        /// The expected digest.
        digest: Vec<u8>,
        /// The expected size in bytes.
        size: Option<u64>,
    },
    /// A file listed without a hash (the `RECORD` itself, `.pyc` files): not checked.
    Unhashed {
        /// The path.
        path: String,
    },
    /// A row that cannot be checked, and why.
    Malformed {
        /// The row's first line (1-based).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Parses a `RECORD`: CSV rows `path,algorithm=urlsafe-base64-digest-without-padding,size`
/// (Python's `csv` dialect: `"` quotes, `""` inside quotes, `\n` or `\r\n` line ends). Empty
/// lines are ignored.
pub fn parse_record(bytes: &[u8]) -> Vec<RecordRow> {
    let text = String::from_utf8_lossy(bytes);
    csv_rows(&text)
        .into_iter()
        .filter_map(|(line, fields)| match fields {
            Ok(fields) => record_row(line, fields),
            Err(reason) => Some(RecordRow::Malformed { line, reason }),
        })
        .collect()
}

fn record_row(line: usize, fields: Vec<String>) -> Option<RecordRow> {
    let mut it = fields.into_iter();
    let path = it.next().unwrap_or_default();
    let hash = it.next().unwrap_or_default();
    let size = it.next().unwrap_or_default();
    let malformed = |reason: &str| {
        Some(RecordRow::Malformed {
            line,
            reason: reason.to_owned(),
        })
    };
    if path.is_empty() {
        return if hash.is_empty() && size.is_empty() {
            None
        } else {
            malformed("the path is empty")
        };
    }
    if it.next().is_some() {
        return malformed("more than three fields");
    }
    if hash.is_empty() {
        return Some(RecordRow::Unhashed { path });
    }
    let Some((name, encoded)) = hash.split_once('=') else {
        return malformed("the hash is not `algorithm=digest`");
    };
    let algorithm = match name.to_ascii_lowercase().as_str() {
        "sha256" => HashAlgorithm::Sha256,
        "sha384" => HashAlgorithm::Sha384,
        "sha512" => HashAlgorithm::Sha512,
        _ => return malformed("the hash algorithm is not sha256, sha384 or sha512"),
    };
    let engine = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let Ok(digest) = engine.decode(encoded) else {
        return malformed("the digest is not URL-safe base64");
    };
    if digest.len() != algorithm.digest_len() {
        return malformed("the digest has the wrong length");
    }
    Some(RecordRow::Hashed {
        path,
        algorithm,
        digest,
        size: size.trim().parse().ok(),
    })
}

/// Rows of CSV text with the line each starts on; a row with an unterminated quote or text after
/// a closing quote is an error.
fn csv_rows(text: &str) -> Vec<(usize, Result<Vec<String>, String>)> {
    let mut rows = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut error = None;
        loop {
            match chars.next() {
                None => break,
                Some('\n') => {
                    line += 1;
                    break;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some(',') => fields.push(std::mem::take(&mut field)),
                Some('"') if field.is_empty() => {
                    // A quoted field: up to the closing quote, `""` is a quote.
                    let mut closed = false;
                    while let Some(c) = chars.next() {
                        match c {
                            '"' if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            '"' => {
                                closed = true;
                                break;
                            }
                            c => {
                                if c == '\n' {
                                    line += 1;
                                }
                                field.push(c);
                            }
                        }
                    }
                    if !closed {
                        error = Some("a quote is not closed".to_owned());
                    } else if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                        error = Some("text after a closing quote".to_owned());
                    }
                }
                Some(c) => field.push(c),
            }
        }
        fields.push(field);
        if fields.len() == 1 && fields.first().is_some_and(String::is_empty) && error.is_none() {
            continue;
        }
        rows.push((start, error.map_or(Ok(fields), Err)));
    }
    rows
}
