//! Fuzz target `provider_results`: see `../provider_results_checks.rs` for what it checks.
#![no_main]

#[path = "../provider_results_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::provider_results(data));
