//! What the qwarden-vault fuzz target `secret_scan` checks, beyond "does not panic". Shared with
//! the workspace test `crates/vault/tests/fuzz_corpus.rs`, which replays the committed corpus
//! (`corpus/secret_scan/`) with these same checks on stable Rust. Apart from the other checks
//! files because each crate's replay test includes its checks file and depends only on its own
//! crate.

#![allow(dead_code, reason = "the replay test uses some of these items")]

use std::path::Path;

use qwarden_vault::scan::{self, Edit, FileKind, Finding};

/// The file kind an input's first byte selects (a letter, so that seeds stay readable); any
/// other byte selects [`FileKind::Text`]. The rest of the input is the file's content.
pub const KINDS: &[(u8, FileKind)] = &[
    (b'q', FileKind::QiskitAccounts),
    (b'r', FileKind::Qiskitrc),
    (b'a', FileKind::AwsShared),
    (b'x', FileKind::NexusAuth),
    (b'e', FileKind::DotEnv),
    (b'n', FileKind::Notebook),
    (b'p', FileKind::Python),
    (b's', FileKind::Shell),
    (b't', FileKind::Toml),
    (b'y', FileKind::Yaml),
    (b'j', FileKind::Json),
    (b'i', FileKind::Ini),
];

/// The file kind and content an input stands for (`None` for the empty input).
pub fn split(data: &[u8]) -> Option<(FileKind, &[u8])> {
    let (first, content) = data.split_first()?;
    let kind = KINDS
        .iter()
        .find(|(b, _)| b == first)
        .map_or(FileKind::Text, |(_, k)| *k);
    Some((kind, content))
}

/// The findings in an input.
pub fn findings(data: &[u8]) -> Vec<Finding> {
    match split(data) {
        Some((kind, content)) => scan::scan_content(kind, Path::new("fuzz"), content),
        None => Vec::new(),
    }
}

/// The placeholder the check writes.
const PLACEHOLDER: &str = "qwarden-vault:fuzz";

/// `scan::scan_content` on arbitrary bytes, read as the kind the first byte selects.
///
/// Every finding's span is inside the buffer, findings are sorted and do not overlap, and the
/// same bytes give the same findings again. A finding's line is the line of its first byte, its
/// provider is its kind's, and the bytes at its span are its value, verbatim or JSON-escaped.
/// The preview shows at most 6 of the value's characters, and neither the JSON nor the `Debug`
/// form of a finding holds the value; no value is a qwarden placeholder. Replacing every
/// finding with a placeholder in memory succeeds and, when the input was JSON, leaves JSON.
pub fn secret_scan(data: &[u8]) {
    let Some((kind, content)) = split(data) else {
        return;
    };
    let found = scan::scan_content(kind, Path::new("fuzz"), content);
    let again = scan::scan_content(kind, Path::new("fuzz"), content);
    assert_eq!(
        found
            .iter()
            .map(|f| (f.span.clone(), f.kind))
            .collect::<Vec<_>>(),
        again
            .iter()
            .map(|f| (f.span.clone(), f.kind))
            .collect::<Vec<_>>(),
        "not deterministic"
    );
    let mut end = 0;
    for f in &found {
        check_finding(content, f);
        assert!(
            f.span.start >= end,
            "unsorted or overlapping at {:?}",
            f.span
        );
        end = f.span.end;
    }
    let edits: Vec<Edit<'_>> = found.iter().map(|f| (f, PLACEHOLDER)).collect();
    let out = scan::rewrite_content(content, &edits)
        .unwrap_or_else(|e| panic!("the findings of a scan cannot be rewritten: {e}"));
    assert_eq!(
        out.len(),
        content.len() + found.iter().map(|_| PLACEHOLDER.len()).sum::<usize>()
            - found.iter().map(|f| f.span.len()).sum::<usize>()
    );
    if is_json(content) {
        assert!(is_json(&out), "a rewrite broke a JSON document");
    }
}

fn check_finding(content: &[u8], f: &Finding) {
    assert_eq!(f.path.as_deref(), Some(Path::new("fuzz")));
    assert!(
        f.span.start < f.span.end && f.span.end <= content.len(),
        "span {:?} outside {} bytes",
        f.span,
        content.len()
    );
    let before = content.get(..f.span.start).unwrap_or_default();
    let line = 1 + before.iter().filter(|b| **b == b'\n').count();
    assert_eq!(
        usize::try_from(f.line).ok(),
        Some(line),
        "line of {:?}",
        f.span
    );
    assert!(f.column >= 1);
    assert_eq!(f.provider, f.kind.provider());
    assert!(f.path.is_some() && !f.is_environment());
    let value = f.secret().expose().to_owned();
    assert!(!value.is_empty());
    assert!(!value.starts_with(scan::PLACEHOLDER_PREFIX));
    let raw = content.get(f.span.clone()).unwrap_or_default();
    assert!(
        raw == value.as_bytes() || json_unescape(raw).as_deref() == Some(value.as_str()),
        "the bytes at {:?} are not the value",
        f.span
    );
    let shown: Vec<char> = f.preview.chars().filter(|c| *c != '…').collect();
    assert!(shown.len() <= 6, "preview {:?}", f.preview);
    assert!(f.preview.contains('…'));
    // The key and account names come from the file and could, in a hostile one, spell the
    // value; anything else in the output must not hold it.
    let named = [f.key.as_deref(), f.account.as_deref()]
        .iter()
        .flatten()
        .any(|n| n.contains(value.as_str()));
    if !named {
        let json = serde_json::to_string(f).unwrap_or_default();
        assert!(
            !json.contains(value.as_str()),
            "JSON output holds the value"
        );
        assert!(
            !format!("{f:?}").contains(value.as_str()),
            "Debug output holds the value"
        );
    }
}

/// The inside of a JSON string, decoded.
fn json_unescape(raw: &[u8]) -> Option<String> {
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice(&quoted).ok()
}

fn is_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok()
}
