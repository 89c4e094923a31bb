//! Fuzz target `ibm_job`: see `../gateway_checks.rs` for what it checks.
#![no_main]

#[path = "../gateway_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::ibm_job(data));
