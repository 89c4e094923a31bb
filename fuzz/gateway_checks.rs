//! What the qwarden-gateway fuzz target `ibm_job` checks, beyond "does not panic". Shared with
//! the workspace test `crates/gateway/tests/fuzz_corpus.rs`, which replays the committed corpus
//! (`corpus/ibm_job/`) with these same checks on stable Rust. Apart from the other checks files
//! because each crate's replay test includes its checks file and depends only on its own crate.

#![allow(dead_code, reason = "the replay test uses some of these items")]

use qwarden_gateway::admission::{ShotSource, Shots};
use qwarden_gateway::ibm;
use serde_json::{Map, Value};

/// The shots IBM runs a PUB with when neither the PUB nor the request says.
pub const IBM_DEFAULT_SHOTS: u64 = 4096;

/// The longest refusal the gateway may send back (it is a 400 body an agent reads).
pub const MAX_MESSAGE: usize = 1000;

/// The job an input stands for: a JSON object, or `None` (not JSON, or JSON of another type).
pub fn job(data: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(data) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// What `ibm::sampler_shots` says of a job: every PUB's shots, or the 400 message.
pub type Counted = Result<Vec<Shots>, String>;

/// `ibm::sampler_shots` on an input's job, and the job as it leaves (`None` if the input is not
/// a JSON object).
pub fn shots(data: &[u8]) -> Option<(Counted, Map<String, Value>)> {
    let mut body = job(data)?;
    let out = ibm::sampler_shots(&mut body);
    Some((out, body))
}

/// The number of PUBs in a job's `params.pubs`, if it is an array.
fn pub_count(body: &Map<String, Value>) -> Option<usize> {
    body.get("params")?.get("pubs")?.as_array().map(Vec::len)
}

/// `ibm::sampler_shots` on an IBM Qiskit Runtime `POST /jobs` body as an agent's SDK sends it.
///
/// A refused job gets a message that is not empty and shorter than [`MAX_MESSAGE`], and its
/// body is left as it was. An admitted one has one count of at least 1 per PUB; its body is left
/// as it was unless a PUB runs with the provider default, in which case the only change is
/// `params.options.default_shots` set to [`IBM_DEFAULT_SHOTS`]. Counting the job as it leaves
/// again gives the same counts and changes nothing more, so what runs is what was admitted.
pub fn ibm_job(data: &[u8]) {
    let Some(original) = job(data) else {
        return;
    };
    let mut body = original.clone();
    match ibm::sampler_shots(&mut body) {
        Err(message) => {
            assert!(!message.is_empty(), "empty refusal");
            assert!(
                message.chars().count() < MAX_MESSAGE,
                "a refusal of {} characters",
                message.chars().count()
            );
            assert_eq!(body, original, "a refused job was modified");
        }
        Ok(shots) => {
            assert_eq!(Some(shots.len()), pub_count(&body), "not one count per PUB");
            for s in &shots {
                assert!(s.count >= 1, "{s:?}");
            }
            let defaulted = shots
                .iter()
                .any(|s| s.source == ShotSource::ProviderDefault);
            if defaulted {
                let written = body
                    .get("params")
                    .and_then(|p| p.get("options"))
                    .and_then(|o| o.get("default_shots"))
                    .and_then(Value::as_u64);
                assert_eq!(
                    written,
                    Some(IBM_DEFAULT_SHOTS),
                    "the default was not written"
                );
                assert_eq!(
                    without_default_shots(body.clone()),
                    without_default_shots(original),
                    "more than default_shots changed"
                );
            } else {
                assert_eq!(
                    body, original,
                    "an admitted job without defaults was modified"
                );
            }
            let mut again = body.clone();
            let second = ibm::sampler_shots(&mut again)
                .unwrap_or_else(|e| panic!("admitted, then refused as it leaves: {e}"));
            assert_eq!(
                second.iter().map(|s| s.count).collect::<Vec<_>>(),
                shots.iter().map(|s| s.count).collect::<Vec<_>>(),
                "the job as it leaves counts differently"
            );
            assert!(
                second
                    .iter()
                    .all(|s| s.source != ShotSource::ProviderDefault),
                "the provider default still applies to the job as it leaves"
            );
            assert_eq!(again, body, "counting the job as it leaves changed it");
        }
    }
}

/// A job without `params.options.default_shots`, and with an `options` object left empty by
/// its removal dropped (the gateway adds the object when it writes the default).
fn without_default_shots(mut body: Map<String, Value>) -> Map<String, Value> {
    if let Some(Value::Object(params)) = body.get_mut("params") {
        if let Some(Value::Object(options)) = params.get_mut("options") {
            options.remove("default_shots");
            if options.is_empty() {
                params.remove("options");
            }
        } else if params.get("options") == Some(&Value::Null) {
            params.remove("options");
        }
    }
    body
}
