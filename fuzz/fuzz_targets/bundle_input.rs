//! Fuzz target `bundle_input`: see `../bundle_checks.rs` for what it checks.
#![no_main]

#[path = "../bundle_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::bundle_input(data));
