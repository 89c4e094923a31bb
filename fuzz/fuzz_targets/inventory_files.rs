//! Fuzz target `inventory_files`: see `../bundle_checks.rs` for what it checks.
#![no_main]

#[path = "../bundle_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::inventory_files(data));
