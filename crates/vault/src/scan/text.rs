//! Scanning text for credentials: assignments (`KEY=value`, `key: value`, `key = "value"`,
//! `os.environ["KEY"] = "value"`, `token="…"` in a call), INI sections, provider calls
//! (`save_account("…")`, `IonQProvider("…")`), `Authorization: apiKey …` headers and AWS
//! access key ids anywhere.
//!
//! One pass over lines with a hand-written matcher rather than a regular-expression engine:
//! the grammar is small, every offset is checked (no indexing that can panic on hostile
//! input), and the scanner reports exactly the value's bytes, which is what the importer
//! rewrites. The same code scans plain files and the decoded strings of JSON documents
//! (notebook cells), whose offsets the caller maps back to the file.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::secret::Provider;

use super::detect::{Hints, KeyClass, is_aws_access_key_id, key_class, plausible, strong, weak};
use super::finding::FindingKind;

/// How a file writes values, which decides whether an unquoted word can be one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Python: values are string literals; a bare word is a variable. Lines starting with
    /// `%env` or `!` (IPython) are read as shell.
    Python,
    /// Shell and `.env`: `KEY=value`, quoted or not.
    Shell,
    /// INI (`~/.aws/credentials`, `qiskitrc`): `[section]` lines and `key = value`.
    Ini,
    /// YAML: `key: value`, quoted or not.
    Yaml,
    /// TOML: values are quoted.
    Toml,
    /// Anything else (notebook markdown and outputs, unknown text): quoted or not.
    Plain,
}

impl Flavor {
    fn bare_values(self) -> bool {
        !matches!(self, Flavor::Python | Flavor::Toml)
    }
}

/// What a file's own structure says about its generic names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileCtx {
    /// Nothing.
    None,
    /// A Qiskit account file (`qiskitrc`, `qiskit-ibm.json`): `token` is an IBM credential.
    Qiskit,
    /// An AWS shared credentials or config file: sections are profiles.
    Aws,
    /// A Nexus token file: every token is a Quantinuum one.
    Nexus,
}

/// A credential found in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    /// The value's bytes in the scanned text.
    pub(crate) span: Range<usize>,
    /// What it is.
    pub(crate) kind: FindingKind,
    /// The name it is assigned to, if any.
    pub(crate) key: Option<String>,
    /// The AWS profile or Qiskit account, if the file says.
    pub(crate) account: Option<String>,
}

/// Scans `text`, returning hits sorted by position, none overlapping.
pub(crate) fn scan_text(text: &[u8], flavor: Flavor, file: FileCtx, hints: Hints) -> Vec<Hit> {
    let mut hits = Vec::new();
    let calls = calls(text, &mut hits);
    let mut section: Option<String> = None;
    let mut start = 0;
    while start <= text.len() {
        let end = text
            .get(start..)
            .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
            .map_or(text.len(), |n| start + n);
        let line_end = if end > start && text.get(end - 1) == Some(&b'\r') {
            end - 1
        } else {
            end
        };
        let line = Line {
            text: text.get(start..line_end).unwrap_or_default(),
            at: start,
        };
        line.scan(flavor, file, hints, &calls, &mut section, &mut hits);
        start = end + 1;
    }
    auth_headers(text, &mut hits);
    aws_key_ids(text, &mut hits);
    dedupe(hits)
}

/// Keeps the first of overlapping hits (the most specific detectors run first), sorted.
pub(crate) fn dedupe(hits: Vec<Hit>) -> Vec<Hit> {
    first_of_overlapping(hits, |h| &h.span)
}

/// Keeps, of items whose spans overlap, the one that comes first in `items` (and drops empty
/// spans); returns them sorted by position. O(n log n), whatever the input.
pub(crate) fn first_of_overlapping<T>(items: Vec<T>, span: impl Fn(&T) -> &Range<usize>) -> Vec<T> {
    let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        let r = span(&item).clone();
        if r.is_empty() {
            continue;
        }
        // Kept spans do not overlap each other, so only the nearest on each side can overlap.
        let before = taken
            .range(..=r.start)
            .next_back()
            .is_some_and(|(_, end)| *end > r.start);
        let after = taken
            .range(r.start..)
            .next()
            .is_some_and(|(start, _)| *start < r.end);
        if before || after {
            continue;
        }
        taken.insert(r.start, r.end);
        kept.push(item);
    }
    kept.sort_by_key(|item| span(item).start);
    kept
}

/// A letter, digit or `_`.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A character of a variable or key name (`-` for YAML keys and command-line flags).
fn is_name(b: u8) -> bool {
    is_word(b) || b == b'-'
}

fn skip_blank(s: &[u8], mut k: usize) -> usize {
    while matches!(s.get(k), Some(b' ' | b'\t')) {
        k += 1;
    }
    k
}

fn skip_space(s: &[u8], mut k: usize) -> usize {
    while s.get(k).is_some_and(u8::is_ascii_whitespace) {
        k += 1;
    }
    k
}

/// One line of the text, and where it starts.
struct Line<'a> {
    text: &'a [u8],
    at: usize,
}

impl Line<'_> {
    fn scan(
        &self,
        flavor: Flavor,
        file: FileCtx,
        hints: Hints,
        calls: &Calls,
        section: &mut Option<String>,
        hits: &mut Vec<Hit>,
    ) {
        let line = self.text;
        let lead = skip_space(line, 0);
        let trimmed = line.get(lead..).unwrap_or_default();
        if flavor == Flavor::Ini && trimmed.starts_with(b"[") {
            if let Some(close) = trimmed.iter().position(|b| *b == b']') {
                let name = trimmed.get(1..close).unwrap_or_default();
                *section = Some(String::from_utf8_lossy(name.trim_ascii()).into_owned());
            }
            return;
        }
        let flavor = if flavor == Flavor::Python
            && (trimmed.starts_with(b"%env")
                || trimmed.starts_with(b"%set_env")
                || trimmed.starts_with(b"!"))
        {
            Flavor::Shell
        } else {
            flavor
        };
        let mut i = 0;
        while let Some(&b) = line.get(i) {
            let starts_name = (b.is_ascii_alphabetic() || b == b'_')
                && !i
                    .checked_sub(1)
                    .and_then(|p| line.get(p))
                    .is_some_and(|p| is_word(*p));
            if !starts_name {
                i += 1;
                continue;
            }
            let j = i + line
                .get(i..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| is_name(**b))
                .count();
            let name = line.get(i..j).unwrap_or_default();
            let Some(class) = key_class(name) else {
                i = j;
                continue;
            };
            let Some(value) = value_after(line, i, j, flavor) else {
                i = j;
                continue;
            };
            let bytes = line.get(value.clone()).unwrap_or_default();
            let kind = match class {
                KeyClass::Explicit(p, k) => strong(p, k, Some(name), bytes),
                KeyClass::Generic => {
                    let at = self.at + i;
                    match calls.around(at) {
                        Some(provider) => strong(provider, None, Some(name), bytes),
                        None => match file {
                            FileCtx::Qiskit if name.eq_ignore_ascii_case(b"token") => {
                                strong(Provider::Ibm, None, Some(name), bytes)
                            }
                            FileCtx::Nexus => strong(Provider::Quantinuum, None, Some(name), bytes),
                            _ => weak(hints, bytes),
                        },
                    }
                }
            };
            if let Some(kind) = kind {
                let account = match (file, section.as_deref()) {
                    (FileCtx::Aws, Some(s)) => {
                        Some(s.strip_prefix("profile ").unwrap_or(s).trim().to_owned())
                    }
                    _ => None,
                };
                hits.push(Hit {
                    span: self.at + value.start..self.at + value.end,
                    kind,
                    key: Some(String::from_utf8_lossy(name).into_owned()),
                    account,
                });
            }
            i = value.end.max(j);
        }
    }
}

/// The value assigned to the name at `i..j` of `line`, if an assignment follows it.
fn value_after(line: &[u8], i: usize, j: usize, flavor: Flavor) -> Option<Range<usize>> {
    let quote = i
        .checked_sub(1)
        .and_then(|p| line.get(p))
        .filter(|q| matches!(q, b'"' | b'\''));
    let mut k = j;
    let mut quoted_key = false;
    if let Some(q) = quote
        && line.get(k) == Some(q)
    {
        k += 1;
        quoted_key = true;
    }
    if line.get(k) == Some(&b']') {
        k += 1;
    }
    k = skip_blank(line, k);
    match line.get(k) {
        Some(b'=') if line.get(k + 1) != Some(&b'=') => k += 1,
        Some(b':') => match line.get(k + 1) {
            Some(b':') => return None,
            Some(b'=') => k += 2,
            _ => {
                k += 1;
                // A Python annotation: `TOKEN: str = "…"`.
                if flavor == Flavor::Python {
                    let a = skip_blank(line, k);
                    let e = a + line
                        .get(a..)
                        .unwrap_or_default()
                        .iter()
                        .take_while(|b| is_word(**b))
                        .count();
                    let eq = skip_blank(line, e);
                    if e > a && line.get(eq) == Some(&b'=') && line.get(eq + 1) != Some(&b'=') {
                        k = eq + 1;
                    }
                }
            }
        },
        // `os.environ.setdefault("KEY", "value")`, `os.getenv("KEY", "value")`.
        Some(b',') if quoted_key => k += 1,
        _ => return None,
    }
    let k = skip_blank(line, k);
    // `"KEY=value"` inside a string literal (a Python list of environment entries, a YAML
    // list item): the value runs to the string's closing quote.
    if let Some(q) = quote.filter(|_| !quoted_key)
        && !matches!(line.get(k), Some(b'"' | b'\''))
    {
        let len = line.get(k..)?.iter().position(|b| b == q || *b == b'\\')?;
        return (len > 0 && line.get(k + len) == Some(q)).then_some(k..k + len);
    }
    literal(line, k, flavor)
}

/// The string literal (or, where the flavor allows, the bare word) at `k`: its contents.
fn literal(s: &[u8], k: usize, flavor: Flavor) -> Option<Range<usize>> {
    let mut k = k;
    let next_is_quote = |k: usize| matches!(s.get(k + 1), Some(b'"' | b'\''));
    match s.get(k)? {
        b'r' | b'R' | b'b' | b'B' | b'u' | b'U' if next_is_quote(k) => k += 1,
        // An f-string interpolates: its text is not the value.
        b'f' | b'F' if next_is_quote(k) => return None,
        _ => {}
    }
    let q = *s.get(k)?;
    if q == b'"' || q == b'\'' {
        if s.get(k + 1) == Some(&q) && s.get(k + 2) == Some(&q) {
            return None;
        }
        let start = k + 1;
        let len = s
            .get(start..)?
            .iter()
            .position(|b| *b == q || *b == b'\\' || *b == b'\n')?;
        if s.get(start + len) != Some(&q) {
            return None;
        }
        return Some(start..start + len);
    }
    if !flavor.bare_values() {
        return None;
    }
    let rest = s.get(k..)?;
    let len = rest
        .iter()
        .position(|b| {
            b.is_ascii_whitespace()
                || matches!(b, b'"' | b'\'' | b'`' | b',' | b';' | b')' | b'}' | b']')
        })
        .unwrap_or(rest.len());
    (len > 0).then_some(k..k + len)
}

/// The arguments of a call whose keyword arguments (`token=`, `api_key=`) belong to a
/// provider.
struct Call {
    args: Range<usize>,
    provider: Provider,
}

/// The provider calls in a text, sorted by where their arguments start, with the furthest
/// end so far at each one, so that finding a call around an offset is a binary search.
struct Calls {
    calls: Vec<Call>,
    furthest: Vec<usize>,
}

impl Calls {
    fn new(mut calls: Vec<Call>) -> Calls {
        calls.sort_by_key(|c| c.args.start);
        let mut best: Option<usize> = None;
        let mut furthest = Vec::with_capacity(calls.len());
        for (i, c) in calls.iter().enumerate() {
            let end_of = |j: usize| calls.get(j).map_or(0, |c: &Call| c.args.end);
            if best.is_none_or(|b| c.args.end > end_of(b)) {
                best = Some(i);
            }
            furthest.push(best.unwrap_or(i));
        }
        Calls { calls, furthest }
    }

    /// The provider of a call whose arguments hold offset `at`.
    fn around(&self, at: usize) -> Option<Provider> {
        let n = self.calls.partition_point(|c| c.args.start <= at);
        let best = self.furthest.get(n.checked_sub(1)?)?;
        let call = self.calls.get(*best)?;
        (call.args.end > at).then_some(call.provider)
    }
}

/// Provider calls: the name, the provider, and whether the first positional argument is the
/// credential.
const CALLS: &[(&str, Provider, bool)] = &[
    // qiskit-ibm-runtime, qiskit-ibm-provider and qiskit-ibmq-provider.
    ("save_account", Provider::Ibm, true),
    ("enable_account", Provider::Ibm, true),
    ("QiskitRuntimeService", Provider::Ibm, false),
    ("IBMProvider", Provider::Ibm, true),
    // qiskit-ionq and cirq-ionq.
    ("IonQProvider", Provider::Ionq, true),
    ("ionq.Service", Provider::Ionq, false),
];

/// The longest argument list followed.
const MAX_ARGS: usize = 8 * 1024;

/// Finds provider calls; pushes a hit for a credential passed as the first positional
/// argument.
fn calls(text: &[u8], hits: &mut Vec<Hit>) -> Calls {
    let mut out = Vec::new();
    for (name, provider, positional) in CALLS {
        let name = name.as_bytes();
        let mut from = 0;
        while let Some(found) = find(text, name, from) {
            from = found + name.len();
            if found
                .checked_sub(1)
                .and_then(|p| text.get(p))
                .is_some_and(|b| is_word(*b))
            {
                continue;
            }
            let open = skip_space(text, from);
            if text.get(open) != Some(&b'(') {
                continue;
            }
            let args = open + 1..close_paren(text, open + 1);
            if *positional
                && let Some(v) = first_positional(text, args.clone())
                && let Some(kind) = strong(
                    *provider,
                    None,
                    None,
                    text.get(v.clone()).unwrap_or_default(),
                )
            {
                hits.push(Hit {
                    span: v,
                    kind,
                    key: None,
                    account: None,
                });
            }
            out.push(Call {
                args,
                provider: *provider,
            });
        }
    }
    Calls::new(out)
}

/// The offset of the `)` closing a call whose arguments start at `from` (or where the search
/// gave up), skipping nested brackets and string literals.
fn close_paren(text: &[u8], from: usize) -> usize {
    let limit = text.len().min(from.saturating_add(MAX_ARGS));
    let mut depth = 0usize;
    let mut k = from;
    while k < limit {
        match text.get(k) {
            Some(b'(' | b'[' | b'{') => depth += 1,
            Some(b')' | b']' | b'}') => {
                if depth == 0 {
                    return k;
                }
                depth -= 1;
            }
            Some(&q @ (b'"' | b'\'')) => {
                k += 1;
                while k < limit && !matches!(text.get(k), Some(b) if *b == q || *b == b'\n') {
                    if text.get(k) == Some(&b'\\') {
                        k += 1;
                    }
                    k += 1;
                }
            }
            _ => {}
        }
        k += 1;
    }
    limit
}

/// The contents of the first argument of a call, if it is a string literal on its own
/// (followed by `,` or `)`).
fn first_positional(text: &[u8], args: Range<usize>) -> Option<Range<usize>> {
    let k = skip_space(text, args.start);
    let v = literal(text, k, Flavor::Python)?;
    let after = skip_space(text, v.end + 1);
    matches!(text.get(after), Some(b',' | b')')).then_some(v)
}

/// The first occurrence of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// `Authorization: apiKey <key>` (IonQ's API), as a header line, a `curl -H` argument or a
/// Python dictionary entry.
fn auth_headers(text: &[u8], hits: &mut Vec<Hit>) {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = find(&lower, b"authorization", from) {
        from = found + b"authorization".len();
        let mut k = from;
        while matches!(lower.get(k), Some(b'"' | b'\'' | b']' | b' ' | b'\t')) {
            k += 1;
        }
        if !matches!(lower.get(k), Some(b':' | b'=')) {
            continue;
        }
        k += 1;
        while matches!(lower.get(k), Some(b'"' | b'\'' | b' ' | b'\t')) {
            k += 1;
        }
        if !lower.get(k..).is_some_and(|r| r.starts_with(b"apikey")) {
            continue;
        }
        k += b"apikey".len();
        let v = skip_blank(&lower, k);
        if v == k {
            continue;
        }
        let len = text
            .get(v..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
            })
            .count();
        let span = v..v + len;
        if let Some(kind) = strong(
            Provider::Ionq,
            Some(FindingKind::IonqApiKey),
            None,
            text.get(span.clone()).unwrap_or_default(),
        ) {
            hits.push(Hit {
                span,
                kind,
                key: Some("Authorization".to_owned()),
                account: None,
            });
        }
    }
}

/// AWS access key ids anywhere, as whole words: their shape alone says what they are.
fn aws_key_ids(text: &[u8], hits: &mut Vec<Hit>) {
    for (i, w) in text.windows(4).enumerate() {
        if w != b"AKIA" && w != b"ASIA" {
            continue;
        }
        let span = i..i + 20;
        let before = i.checked_sub(1).and_then(|p| text.get(p));
        let after = text.get(span.end);
        if before.is_some_and(u8::is_ascii_alphanumeric)
            || after.is_some_and(u8::is_ascii_alphanumeric)
        {
            continue;
        }
        let Some(v) = text.get(span.clone()) else {
            continue;
        };
        if is_aws_access_key_id(v) && plausible(FindingKind::AwsAccessKeyId, v) {
            hits.push(Hit {
                span,
                kind: FindingKind::AwsAccessKeyId,
                key: None,
                account: None,
            });
        }
    }
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

    const IBM_KEY: &str = "Qw4rd3nT3stK3y_0123456789-abcdefGHIJKLmnopQR";
    const IONQ_KEY: &str = "Qw4rd3nIonQT3stK3y0123456789abcd";
    const AWS_ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn scan(text: &str, flavor: Flavor) -> Vec<(String, FindingKind, Option<String>)> {
        scan_text(
            text.as_bytes(),
            flavor,
            FileCtx::None,
            Hints::of(text.as_bytes()),
        )
        .into_iter()
        .map(|h| (text[h.span].to_owned(), h.kind, h.key))
        .collect()
    }

    fn values(text: &str, flavor: Flavor) -> Vec<String> {
        scan(text, flavor).into_iter().map(|(v, _, _)| v).collect()
    }

    #[test]
    fn fixture_values_have_their_shapes() {
        assert_eq!(IBM_KEY.len(), 44);
        assert_eq!(IONQ_KEY.len(), 32);
    }

    #[test]
    fn dotenv_assignments() {
        let env = format!(
            "# provider keys\nIONQ_API_KEY={IONQ_KEY}\nexport QISKIT_IBM_TOKEN=\"{IBM_KEY}\"\n\
             AWS_ACCESS_KEY_ID='{AWS_ID}'\r\nAWS_SECRET_ACCESS_KEY={AWS_SECRET} # inline comment\n\
             IBM_CLOUD_API_KEY=\nQUANTINUUM_PASSWORD=${{QNX_PW}}\n"
        );
        let got = scan(&env, Flavor::Shell);
        assert_eq!(
            got,
            vec![
                (
                    IONQ_KEY.to_owned(),
                    FindingKind::IonqApiKey,
                    Some("IONQ_API_KEY".to_owned())
                ),
                (
                    IBM_KEY.to_owned(),
                    FindingKind::IbmCloudApiKey,
                    Some("QISKIT_IBM_TOKEN".to_owned())
                ),
                (
                    AWS_ID.to_owned(),
                    FindingKind::AwsAccessKeyId,
                    Some("AWS_ACCESS_KEY_ID".to_owned())
                ),
                (
                    AWS_SECRET.to_owned(),
                    FindingKind::AwsSecretAccessKey,
                    Some("AWS_SECRET_ACCESS_KEY".to_owned())
                ),
            ]
        );
    }

    #[test]
    fn python_calls_and_assignments() {
        let py = format!(
            "from qiskit_ibm_runtime import QiskitRuntimeService\n\n\
             QiskitRuntimeService.save_account(\n    channel=\"ibm_quantum_platform\",\n    token=\"{IBM_KEY}\",\n    overwrite=True,\n)\n\
             service = QiskitRuntimeService(channel='ibm_quantum_platform', token='{IBM_KEY}')\n\
             IBMQ.enable_account(\"{}\")\n\
             os.environ[\"IONQ_API_KEY\"] = \"{IONQ_KEY}\"\n\
             os.environ.setdefault('AWS_SECRET_ACCESS_KEY', '{AWS_SECRET}')\n\
             token = os.environ[\"QISKIT_IBM_TOKEN\"]\n\
             TOKEN: str = \"{IBM_KEY}\"\n",
            "0a1b2c3d4e5f6789".repeat(8)
        );
        let got = values(&py, Flavor::Python);
        let env = format!("subprocess.run(cmd, env=[\"IONQ_API_KEY={IONQ_KEY}\", 'X=1'])\n");
        assert_eq!(values(&env, Flavor::Python), vec![IONQ_KEY.to_owned()]);
        assert!(
            values(
                "env = ['IONQ_API_KEY=']\nx = \"IONQ_API_KEY=abc\\\"\n",
                Flavor::Python
            )
            .is_empty()
        );
        assert_eq!(
            got,
            vec![
                IBM_KEY.to_owned(),
                IBM_KEY.to_owned(),
                "0a1b2c3d4e5f6789".repeat(8),
                IONQ_KEY.to_owned(),
                AWS_SECRET.to_owned(),
                IBM_KEY.to_owned()
            ]
        );
        let kinds: Vec<_> = scan(&py, Flavor::Python)
            .into_iter()
            .map(|(_, k, _)| k)
            .collect();
        assert_eq!(kinds[2], FindingKind::IbmQuantumToken);
    }

    #[test]
    fn ionq_provider_and_headers() {
        let py = format!(
            "from qiskit_ionq import IonQProvider\nprovider = IonQProvider(\"{IONQ_KEY}\")\n\
             p2 = IonQProvider(token=\"{IONQ_KEY}\")\nheaders = {{\"Authorization\": \"apiKey {IONQ_KEY}\"}}\n"
        );
        assert_eq!(values(&py, Flavor::Python), vec![IONQ_KEY.to_owned(); 3]);
        let sh =
            format!("curl -H 'Authorization: apiKey {IONQ_KEY}' https://api.ionq.co/v0.4/jobs\n");
        assert_eq!(
            scan(&sh, Flavor::Shell),
            vec![(
                IONQ_KEY.to_owned(),
                FindingKind::IonqApiKey,
                Some("Authorization".to_owned())
            )]
        );
        let sh = "curl -H \"Authorization: apiKey $IONQ_API_KEY\" https://api.ionq.co/v0.4/jobs\n";
        assert!(scan(sh, Flavor::Shell).is_empty());
    }

    #[test]
    fn generic_names_need_a_hint_and_a_shape() {
        // A 44-character value under a generic name, in a file that mentions no provider.
        let yaml = format!("service:\n  token: {IBM_KEY}\n  checksum: {IBM_KEY}\n");
        assert!(values(&yaml, Flavor::Yaml).is_empty());
        let yaml = format!("# qiskit settings\nibm:\n  token: {IBM_KEY}\n  checksum: {IBM_KEY}\n");
        assert_eq!(values(&yaml, Flavor::Yaml), vec![IBM_KEY.to_owned()]);
        // The hint is there but the value does not have IBM's shape.
        let yaml = "# qiskit settings\nibm:\n  token: 0123456789abcdefghijklmnopqrst\n";
        assert!(values(yaml, Flavor::Yaml).is_empty());
        // A bare word in Python is a variable.
        let py = "import qiskit\nTOKEN = IBM_TOKEN_FROM_SOMEWHERE_ELSE_0123456789abcdefghi\n";
        assert!(values(py, Flavor::Python).is_empty());
    }

    #[test]
    fn placeholders_are_not_findings() {
        let env = "IONQ_API_KEY=<your-api-key>\nQISKIT_IBM_TOKEN=\"${IBM_TOKEN}\"\n\
                   IBM_CLOUD_API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nIONQ_API_KEY=qwarden-vault:ionq\n\
                   AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX\nAWS_SECRET_ACCESS_KEY=\nIONQ_API_KEY=YOUR_IONQ_KEY\n";
        assert!(
            values(env, Flavor::Shell).is_empty(),
            "{:?}",
            values(env, Flavor::Shell)
        );
    }

    #[test]
    fn aws_ini_profiles() {
        let ini = format!(
            "[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n\n\
             [profile dev]\nregion = us-east-1\naws_access_key_id=ASIAIOSFODNN7EXAMPLE\n\
             aws_secret_access_key={AWS_SECRET}\naws_session_token = {}\n",
            "IQoJb3JpZ2luX2VjEFAaCXVzLWVhc3QtMSJHMEUCIQD".repeat(4)
        );
        let hits = scan_text(ini.as_bytes(), Flavor::Ini, FileCtx::Aws, Hints::default());
        let got: Vec<_> = hits
            .iter()
            .map(|h| (h.kind, h.account.clone().unwrap()))
            .collect();
        use FindingKind as K;
        assert_eq!(
            got,
            vec![
                (K::AwsAccessKeyId, "default".to_owned()),
                (K::AwsSecretAccessKey, "default".to_owned()),
                (K::AwsAccessKeyId, "dev".to_owned()),
                (K::AwsSecretAccessKey, "dev".to_owned()),
                (K::AwsSessionToken, "dev".to_owned()),
            ]
        );
    }

    #[test]
    fn bare_aws_key_ids_are_whole_words() {
        assert_eq!(
            values(&format!("key id is {AWS_ID}, keep it safe"), Flavor::Plain),
            vec![AWS_ID.to_owned()]
        );
        assert!(values(&format!("X{AWS_ID}"), Flavor::Plain).is_empty());
        assert!(values(&format!("{AWS_ID}9"), Flavor::Plain).is_empty());
        assert!(values("AKIAIOSFODNN7EXAMPL", Flavor::Plain).is_empty());
    }

    #[test]
    fn qiskitrc() {
        let rc = format!(
            "[ibmq]\ntoken = {}\nurl = https://auth.quantum-computing.ibm.com/api\nverify = True\n",
            "0a1b2c3d".repeat(16)
        );
        let hits = scan_text(
            rc.as_bytes(),
            Flavor::Ini,
            FileCtx::Qiskit,
            Hints::default(),
        );
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].kind, FindingKind::IbmQuantumToken);
        assert_eq!(hits[0].account, None);
    }

    #[test]
    fn overlapping_hits_keep_the_first() {
        let hit = |span: Range<usize>, kind| Hit {
            span,
            kind,
            key: None,
            account: None,
        };
        use FindingKind as K;
        let kept = dedupe(vec![
            hit(10..20, K::IonqApiKey),
            hit(15..25, K::AwsAccessKeyId),
            hit(0..10, K::AwsSecretAccessKey),
            hit(5..12, K::AwsSessionToken),
            hit(20..30, K::IbmCloudApiKey),
            hit(19..21, K::IbmQuantumToken),
            hit(40..40, K::QuantinuumToken),
        ]);
        let got: Vec<_> = kept.iter().map(|h| (h.span.clone(), h.kind)).collect();
        assert_eq!(
            got,
            vec![
                (0..10, K::AwsSecretAccessKey),
                (10..20, K::IonqApiKey),
                (20..30, K::IbmCloudApiKey)
            ]
        );
    }

    #[test]
    fn calls_around_an_offset() {
        let call = |args: Range<usize>, provider| Call { args, provider };
        let calls = Calls::new(vec![
            call(50..60, Provider::Ionq),
            call(0..100, Provider::Ibm),
            call(200..210, Provider::Ionq),
        ]);
        assert_eq!(calls.around(55), Some(Provider::Ibm));
        assert_eq!(calls.around(99), Some(Provider::Ibm));
        assert_eq!(calls.around(100), None);
        assert_eq!(calls.around(205), Some(Provider::Ionq));
        assert_eq!(calls.around(210), None);
        assert_eq!(Calls::new(Vec::new()).around(0), None);
    }

    #[test]
    fn hostile_lines_do_not_panic() {
        for t in [
            "=",
            "TOKEN",
            "TOKEN=",
            "TOKEN:",
            "'TOKEN'",
            "save_account(",
            "save_account(\"",
            "Authorization:",
            "authorization: apikey",
            "AKIA",
            "r'",
            "f\"",
            "x=\"\\",
        ] {
            for f in [
                Flavor::Python,
                Flavor::Shell,
                Flavor::Ini,
                Flavor::Yaml,
                Flavor::Toml,
                Flavor::Plain,
            ] {
                let _ = scan_text(
                    t.as_bytes(),
                    f,
                    FileCtx::Qiskit,
                    Hints::of(b"qiskit ionq braket qnx"),
                );
            }
        }
    }
}
