//! Fuzz target `witness_add_checkpoint`: see `../ledger_checks.rs` for what it checks.
#![no_main]

#[path = "../ledger_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::witness_add_checkpoint(data));
