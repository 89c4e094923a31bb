//! The search index narrows searches but is never trusted: edits to it hide or add nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support_events/mod.rs"]
mod support_events;

use qwarden_ledger::cas::MemCas;
use qwarden_ledger::event::{Event, Kind};
use qwarden_ledger::index::{Index, IndexKey, Query, index_key};
use qwarden_ledger::log::{CheckpointPolicy, Ledger};
use qwarden_ledger::note::NoteSigner;
use qwarden_ledger::reader::LogReader;

/// A ledger holding `rounds` copies of every sample event, alternating between two sessions.
fn ledger(dir: &std::path::Path, rounds: usize) -> (Ledger, Vec<Event>) {
    let signer = NoteSigner::generate("index.test/qwarden/1").unwrap();
    let ledger = Ledger::open(dir, signer, CheckpointPolicy::default()).unwrap();
    let mut events = Vec::new();
    for r in 0..rounds {
        for e in support_events::samples() {
            let e = e.with_session(if r % 2 == 0 { "even" } else { "odd" });
            ledger
                .append(e.to_jcs(&mut MemCas::new()).unwrap())
                .unwrap();
            events.push(e);
        }
    }
    (ledger, events)
}

fn key() -> IndexKey {
    index_key("PRIVATE+KEY+index.test/qwarden/1+00000000+AAAA")
}

fn search(dir: &std::path::Path, ledger: &Ledger, q: &Query) -> Vec<u64> {
    search_with(dir, ledger, q, Some(&key()))
}

fn search_with(
    dir: &std::path::Path,
    ledger: &Ledger,
    q: &Query,
    key: Option<&IndexKey>,
) -> Vec<u64> {
    let reader = LogReader::open(dir, ledger.verifier()).unwrap();
    let index = Index::update(dir, &reader, key).unwrap();
    index.search(&reader, q).map(|r| r.unwrap().0).collect()
}

fn expected(events: &[Event], q: &Query) -> Vec<u64> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            q.kind.is_none_or(|k| e.kind() == k)
                && q.session
                    .as_deref()
                    .is_none_or(|s| e.session.as_deref() == Some(s))
                && q.since.is_none_or(|t| e.time.unix_nanos() >= t)
        })
        .map(|(i, _)| i as u64)
        .collect()
}

fn queries(events: &[Event]) -> Vec<Query> {
    let mid = events[events.len() / 2].time.unix_nanos();
    vec![
        Query::default(),
        Query {
            kind: Some(Kind::Exec),
            ..Query::default()
        },
        Query {
            session: Some("odd".into()),
            ..Query::default()
        },
        Query {
            session: Some("odd".into()),
            kind: Some(Kind::NetDecision),
            since: Some(mid),
        },
        Query {
            session: Some("-".into()),
            ..Query::default()
        },
        Query {
            since: Some(i128::MAX),
            ..Query::default()
        },
    ]
}

#[test]
fn searches_match_a_full_scan_and_the_index_grows_with_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (l, mut events) = ledger(tmp.path(), 3);
    for q in queries(&events) {
        assert_eq!(search(tmp.path(), &l, &q), expected(&events, &q), "{q:?}");
    }
    assert!(tmp.path().join("index/entries.tsv").exists());
    // More entries: the index is extended, not stale.
    for e in support_events::samples() {
        let e = e.with_session("odd");
        l.append(e.to_jcs(&mut MemCas::new()).unwrap()).unwrap();
        events.push(e);
    }
    for q in queries(&events) {
        assert_eq!(search(tmp.path(), &l, &q), expected(&events, &q), "{q:?}");
    }
}

#[test]
fn an_edited_index_hides_nothing_and_adds_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (l, events) = ledger(tmp.path(), 2);
    let q = Query {
        kind: Some(Kind::Exec),
        ..Query::default()
    };
    let want = expected(&events, &q);
    assert!(!want.is_empty());
    assert_eq!(search(tmp.path(), &l, &q), want);
    let path = tmp.path().join("index/entries.tsv");
    let text = std::fs::read_to_string(&path).unwrap();
    // Relabel every exec row as a file read and every file read as an exec: an index trusted as
    // it stands would hide the execs and return file reads instead.
    let edited = text
        .replace("\texec\t", "\tTMP\t")
        .replace("\tfile.read\t", "\texec\t")
        .replace("\tTMP\t", "\tfile.read\t");
    assert_ne!(edited, text);
    std::fs::write(&path, &edited).unwrap();
    assert_eq!(
        search(tmp.path(), &l, &q),
        want,
        "the MAC check must catch the edit and rebuild"
    );
    // Even with its MAC line recomputed by someone without the key, the edit is refused.
    let forged =
        edited.rsplit_once("mac\t").unwrap().0.to_owned() + "mac\t" + &"ab".repeat(32) + "\n";
    std::fs::write(&path, forged).unwrap();
    assert_eq!(search(tmp.path(), &l, &q), want);
    // An index made with another key is not trusted either.
    std::fs::write(&path, &edited).unwrap();
    let other = index_key("PRIVATE+KEY+someone-else");
    assert_eq!(search_with(tmp.path(), &l, &q, Some(&other)), want);
    // Without any key the index is built in memory, and still right.
    assert_eq!(search_with(tmp.path(), &l, &q, None), want);
}

#[test]
fn a_garbage_index_is_rebuilt_and_a_read_only_ledger_is_searched_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let (l, events) = ledger(tmp.path(), 2);
    std::fs::create_dir_all(tmp.path().join("index")).unwrap();
    std::fs::write(tmp.path().join("index/entries.tsv"), b"\x00garbage\n").unwrap();
    let q = Query {
        session: Some("even".into()),
        ..Query::default()
    };
    assert_eq!(search(tmp.path(), &l, &q), expected(&events, &q));
}
