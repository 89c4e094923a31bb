//! What each fuzz target checks, beyond "does not panic". Shared with the workspace test
//! `crates/policy/tests/fuzz_corpus.rs`, which replays the committed corpus with these same checks
//! on stable Rust, so CI covers the corpus even where cargo-fuzz cannot run.
//!
//! The qwarden-ledger targets' checks are in `ledger_checks.rs`, replayed by
//! `crates/ledger/tests/fuzz_corpus.rs`.

#![allow(dead_code, reason = "each fuzz target uses one of these checks")]

use std::path::Path;

use qwarden_policy::diag::{Location, SourceError};
use qwarden_policy::host::HostPattern;
use qwarden_policy::manifest::digest;
use qwarden_policy::signature::AllowedSigners;
use qwarden_policy::{Manifest, Profile};

/// `Manifest::parse` on arbitrary UTF-8: a manifest, or errors that point into the text.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Manifest::parse(text, Path::new("fuzz.toml")) {
        Ok(m) => {
            assert_eq!(m.digest, digest(data));
            for h in &m.network {
                check_location(text, h.at);
                assert_eq!(
                    h.value.to_string().parse::<HostPattern>().as_ref(),
                    Ok(&h.value)
                );
            }
            for b in &m.qpu.backends {
                check_location(text, b.at);
                assert!(m.qpu.providers.iter().any(|p| p.value == b.value.provider));
            }
            for p in m.filesystem.read.iter().chain(&m.filesystem.write) {
                check_location(text, p.at);
            }
        }
        Err(e) => check_errors(text, &e.errors),
    }
}

/// `Profile::parse` on arbitrary UTF-8.
pub fn profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Profile::parse(text, Path::new("fuzz.toml")) {
        Ok(p) => {
            for provider in &p.providers {
                assert_eq!(provider.endpoints.len(), provider.endpoint_hosts.len());
            }
            if p.tier == qwarden_policy::Tier::Prod {
                assert!(p.approvals.prod.threshold >= 2);
            }
        }
        Err(e) => check_errors(text, &e.errors),
    }
}

/// `HostPattern` parsing, and the Display round trip: `parse(display(p)) == p`, stably.
pub fn host_pattern(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // One pattern per line, so a corpus file can hold several.
    for line in text.lines() {
        let Ok(p) = line.parse::<HostPattern>() else {
            continue;
        };
        let shown = p.to_string();
        let again = shown
            .parse::<HostPattern>()
            .unwrap_or_else(|e| panic!("`{line}` shows as `{shown}`, which does not parse: {e}"));
        assert_eq!(again, p, "`{line}` shows as `{shown}`");
        assert_eq!(again.to_string(), shown);
        assert!(p.covers(&p));
        assert_eq!(p.intersect(&p).as_ref(), Some(&p));
    }
}

/// `AllowedSigners::parse` on arbitrary UTF-8; errors must render.
pub fn allowed_signers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = AllowedSigners::parse(text, Path::new("allowed_signers")) {
        assert!(!e.to_string().is_empty());
    }
}

/// Errors are sorted, few, located inside the text, and each has a hint.
fn check_errors(text: &str, errors: &[SourceError]) {
    assert!(!errors.is_empty());
    assert!(errors.len() <= 101, "{} errors", errors.len());
    for pair in errors.windows(2) {
        if let [a, b] = pair {
            assert!(
                (a.at.line, a.at.col) <= (b.at.line, b.at.col),
                "unsorted: {a} / {b}"
            );
        }
    }
    for e in errors {
        check_location(text, e.at);
        assert!(
            e.hint.as_deref().is_some_and(|h| !h.trim().is_empty()),
            "no hint: {e}"
        );
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("fuzz.toml:{}:{}: ", e.at.line, e.at.col)));
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "raw control character in {shown:?}"
        );
    }
}

/// `at` is a position inside `text` (or just after its last character).
fn check_location(text: &str, at: Location) {
    let line = text.split('\n').nth(at.line.wrapping_sub(1));
    let line = line.unwrap_or_else(|| panic!("line {} is past the end", at.line));
    assert!(
        at.col >= 1 && at.col <= line.chars().count() + 1,
        "column {} is outside line {} ({:?})",
        at.col,
        at.line,
        line
    );
}
