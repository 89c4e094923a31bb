//! Fuzz target `qasm`: see `../qasm_checks.rs` for what it checks.
#![no_main]

#[path = "../qasm_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::qasm(data));
