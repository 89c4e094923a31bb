//! Fuzz target `qpy`: see `../qpy_checks.rs` for what it checks.
#![no_main]

#[path = "../qpy_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::qpy(data));
