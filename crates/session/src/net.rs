//! The egress proxy's decisions as `net.decision` events, through the recorder's queue.

use std::sync::mpsc::SyncSender;

use qwarden_egress::{Decision, Sink};
use qwarden_ledger::event::{Event, NetDecision, Timestamp, Verdict};

use crate::events::{Item, Queue};

/// Sends every decision to the recorder.
pub struct LedgerSink(Queue);

impl LedgerSink {
    /// A sink feeding `tx`.
    pub fn new(tx: SyncSender<Item>) -> LedgerSink {
        LedgerSink(Queue::new(tx))
    }

    /// Lets go of the queue, so the recorder can finish once everything else has.
    pub fn close(&self) {
        self.0.close();
    }
}

impl Sink for LedgerSink {
    fn record(&self, decision: Decision) {
        self.0.send(Item::Net(Box::new(decision)));
    }
}

/// A decision as a `net.decision` event (without session and agent).
pub fn event(d: &Decision) -> Event {
    let mut details = serde_json::Map::new();
    details.insert("via".into(), d.via.as_str().into());
    for (k, v) in [
        ("sni", &d.sni),
        ("request", &d.request),
        ("asked_as", &d.asked_as),
        ("error", &d.error),
    ] {
        if let Some(v) = v {
            details.insert(k.into(), v.clone().into());
        }
    }
    Event::new(
        Timestamp::now(),
        NetDecision {
            host: d.host.clone(),
            port: d.port,
            address: d.address,
            protocol: d.via.protocol().to_owned(),
            verdict: if d.allowed {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            rule: (!d.rule.is_empty()).then(|| d.rule.clone()),
            bytes_up: d.bytes_up,
            bytes_down: d.bytes_down,
            duration_ms: u64::try_from(d.duration.as_millis()).unwrap_or(u64::MAX),
        },
    )
    .with_details(serde_json::Value::Object(details))
}
