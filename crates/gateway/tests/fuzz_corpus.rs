//! Replays the committed fuzz corpora of the IBM job reader (`fuzz/corpus/ibm_job/`) and of the
//! provider result and circuit readers (`fuzz/corpus/provider_results/`) through the fuzz
//! targets' checks (`fuzz/gateway_checks.rs`, `fuzz/provider_results_checks.rs`) on stable Rust,
//! and checks that each seed is accepted or refused as its name says.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use qwarden_gateway::admission::ShotSource;

#[path = "../../../fuzz/gateway_checks.rs"]
mod checks;

#[path = "../../../fuzz/provider_results_checks.rs"]
mod results_checks;

#[path = "../../../fuzz/replay.rs"]
mod replay;
use replay::{corpus, expectation, fuzz_dir};

/// What a fuzz target runs on one input.
type Check = fn(&[u8]);

/// The gateway's fuzz targets, by the name of their corpus directory, with their checks file.
const TARGETS: &[(&str, &str, Check)] = &[
    ("ibm_job", "gateway_checks.rs", checks::ibm_job),
    (
        "provider_results",
        "provider_results_checks.rs",
        results_checks::provider_results,
    ),
];

fn seed(name: &str) -> Vec<u8> {
    corpus("ibm_job")
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no seed {name}"))
        .1
}

/// The counts and sources of a seed, or its refusal.
fn shots(name: &str) -> Result<Vec<(u64, ShotSource)>, String> {
    let (out, _) = checks::shots(&seed(name)).unwrap_or_else(|| panic!("{name} is not a job"));
    out.map(|v| v.into_iter().map(|s| (s.count, s.source)).collect())
}

#[test]
fn every_target_is_declared_and_has_a_corpus() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("qwarden-gateway = { path = \"../crates/gateway\" }"));
    for (name, checks_file, _) in TARGETS {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
            "{name}"
        );
        let target =
            std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            target.contains(&format!("#[path = \"../{checks_file}\"]")),
            "{name}"
        );
        assert!(target.contains(&format!("checks::{name}(data)")), "{name}");
        let seeds = corpus(name);
        assert!(seeds.len() < 50, "{name}: keep the corpus small");
        for ok in [true, false] {
            assert!(
                seeds.iter().any(|(n, _)| expectation(n) == Some(ok)),
                "{name}: no {} seed",
                if ok { "ok-" } else { "bad-" }
            );
        }
    }
}

#[test]
fn the_corpus_passes_the_fuzz_checks() {
    for (target, _, check) in TARGETS {
        for (name, bytes) in corpus(target) {
            let outcome = std::panic::catch_unwind(|| check(&bytes));
            assert!(
                outcome.is_ok(),
                "fuzz target `{target}` fails on corpus file `{name}`"
            );
        }
    }
}

#[test]
fn seeds_are_admitted_or_refused_as_named() {
    for (name, bytes) in corpus("ibm_job") {
        let Some(ok) = expectation(&name) else {
            continue;
        };
        let (out, _) = checks::shots(&bytes).unwrap_or_else(|| panic!("{name} is not a job"));
        assert_eq!(out.is_ok(), ok, "{name}: {out:?}");
    }
}

#[test]
fn seeds_count_the_shots_the_sdk_asked_for() {
    use ShotSource::*;
    assert_eq!(shots("ok-sampler-v2-shots-1000"), Ok(vec![(1000, Circuit)]));
    assert_eq!(shots("ok-run-shots-1000"), Ok(vec![(1000, Circuit)]));
    assert_eq!(shots("ok-pub-shots-777"), Ok(vec![(777, Circuit)]));
    assert_eq!(
        shots("ok-provider-default"),
        Ok(vec![(checks::IBM_DEFAULT_SHOTS, ProviderDefault)])
    );
    assert_eq!(shots("ok-default-shots-555"), Ok(vec![(555, Request)]));
    assert_eq!(shots("ok-pub-shots-over-default"), Ok(vec![(222, Circuit)]));
    assert_eq!(
        shots("ok-experimental-default-shots-9999"),
        Ok(vec![(9999, Request)])
    );
    assert_eq!(shots("ok-twirling-64x100"), Ok(vec![(6400, Twirling)]));
    assert_eq!(shots("ok-cost-tags-private"), Ok(vec![(100, Circuit)]));
    assert_eq!(
        shots("ok-two-pubs-100-200"),
        Ok(vec![(100, Circuit), (200, Circuit)])
    );
    // 777 shots for each of four parameter sets, read from a `.npy` header in a zlib stream
    // that inflates from a few kilobytes to 4 MiB.
    assert_eq!(
        shots("ok-zlib-bomb-4-parameter-sets"),
        Ok(vec![(4 * 777, Circuit)])
    );
}

#[test]
fn the_provider_default_is_written_into_the_job() {
    let (out, body) = checks::shots(&seed("ok-provider-default")).unwrap();
    assert!(out.is_ok());
    assert_eq!(
        body["params"]["options"]["default_shots"],
        checks::IBM_DEFAULT_SHOTS
    );
    let (_, body) = checks::shots(&seed("ok-run-shots-1000")).unwrap();
    assert!(body["params"]["options"].get("default_shots").is_none());
}

#[test]
fn seeds_are_refused_for_what_their_names_say() {
    let refusal = |name: &str| shots(name).unwrap_err();
    assert!(refusal("bad-estimator-program").contains("SamplerV2"));
    assert!(refusal("bad-executor-program").contains("\"executor\""));
    assert!(refusal("bad-shots-0").contains("params.pubs[0][2]"));
    assert!(refusal("bad-pubs-not-array").contains("params.pubs"));
    assert!(refusal("bad-parameter-values-not-ndarray").contains("not an encoded ndarray"));
    assert!(refusal("bad-ndarray-not-base64").contains("not base64"));
    assert!(refusal("bad-zlib-bomb-no-npy-header").contains(".npy header"));
    // A long id chosen by the agent is echoed only in part.
    let long = refusal("bad-long-program-id");
    assert!(long.contains("SamplerV2") && long.len() < 300, "{long}");
}

fn result_seed(name: &str) -> Vec<u8> {
    corpus("provider_results")
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no seed {name}"))
        .1
}

/// The refusal of a provider_results seed.
fn result_refusal(name: &str) -> String {
    results_checks::outcome(&result_seed(name))
        .unwrap_or_else(|| panic!("{name} names no reader"))
        .unwrap_err()
}

#[test]
fn provider_results_seeds_are_accepted_or_refused_as_named() {
    for (name, bytes) in corpus("provider_results") {
        let Some(ok) = expectation(&name) else {
            continue;
        };
        let out =
            results_checks::outcome(&bytes).unwrap_or_else(|| panic!("{name} names no reader"));
        assert_eq!(out.is_ok(), ok, "{name}: {out:?}");
    }
}

#[test]
fn provider_results_seeds_count_what_the_transcripts_say() {
    use qwarden_gateway::ibm::results::sampler_counts;
    use qwarden_gateway::ionq_results::ionq_counts;
    let counts = |pairs: &[(&str, u64)]| -> qwarden_sim::Counts {
        pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    };
    let body = |name: &str| {
        let seed = result_seed(name);
        let start = seed.iter().position(|b| *b == b'\n').unwrap() + 1;
        seed[start..].to_vec()
    };
    let bell = sampler_counts(&body("ok-sampler-transcript-bell-1000")).unwrap();
    assert_eq!(bell[0].joined, counts(&[("00", 488), ("11", 512)]));
    let joined = sampler_counts(&body("ok-sampler-join-alpha-beta")).unwrap();
    assert_eq!(joined[0].joined, counts(&[("01000", 1), ("10111", 1)]));
    assert_eq!(
        ionq_counts(&body("ok-ionq-transcript-simulator"), 2, 1000).unwrap(),
        counts(&[("00", 500), ("11", 500)])
    );
    assert_eq!(
        ionq_counts(&body("ok-ionq-transcript-qpu"), 2, 1000).unwrap(),
        counts(&[("00", 509), ("11", 491)])
    );
    let job: serde_json::Value =
        serde_json::from_slice(&body("ok-circuit-transcript-bell-job")).unwrap();
    let circuit = qwarden_sim::ionq::parse(&job).unwrap();
    assert_eq!((circuit.num_qubits, circuit.instructions.len()), (2, 4));
}

#[test]
fn provider_results_seeds_are_refused_for_what_their_names_say() {
    assert!(result_refusal("bad-sampler-failed-job-text").contains("not JSON"));
    assert!(result_refusal("bad-sampler-estimator-pub").contains("SamplerPubResult"));
    assert!(result_refusal("bad-sampler-not-base64").contains("base64"));
    assert!(result_refusal("bad-sampler-not-zlib").contains("zlib"));
    assert!(result_refusal("bad-sampler-int64-list").contains("int64"));
    // 4 MiB inflated behind a header that claims 1000 bytes.
    assert!(result_refusal("bad-sampler-zlib-bomb-header-lies").contains("1000 bytes"));
    assert!(result_refusal("bad-sampler-npy-shape-lies").contains("1000 bytes"));
    assert!(result_refusal("bad-sampler-num-bits-too-large").contains("16384"));
    assert!(result_refusal("bad-sampler-num-bits-mismatch").contains("2 bytes per shot"));
    assert!(result_refusal("bad-sampler-float-dtype").contains("uint8"));
    assert!(result_refusal("bad-sampler-registers-disagree").contains("same shape"));
    assert!(result_refusal("bad-ionq-duplicate-outcome").contains("twice"));
    assert!(result_refusal("bad-ionq-leading-zero").contains("leading zero"));
    assert!(result_refusal("bad-ionq-outcome-too-large").contains("2 qubits"));
    assert!(result_refusal("bad-ionq-sum-0.9").contains("sum to"));
    assert!(result_refusal("bad-ionq-zero-shots").contains("0 shots"));
    assert!(result_refusal("bad-circuit-unknown-gate").contains("`u3`"));
    assert!(result_refusal("bad-circuit-qubit-out-of-range").contains("qubit 2"));
    assert!(result_refusal("bad-circuit-multi-circuit-job").contains("input.circuits"));
    assert!(result_refusal("bad-circuit-pauliexp").contains("pauliexp"));
    assert!(result_refusal("bad-circuit-two-controlled-y").contains("2 controls"));
    assert!(result_refusal("bad-circuit-too-many-qubits").contains("13"));
    assert!(result_refusal("bad-circuit-ms-angle-0.3").contains("0.25"));
}
