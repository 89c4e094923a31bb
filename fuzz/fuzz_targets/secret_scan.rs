//! Fuzz target `secret_scan`: see `../vault_checks.rs` for what it checks.
#![no_main]

#[path = "../vault_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::secret_scan(data));
