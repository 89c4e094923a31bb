//! Fuzz target `approval_vote`: see `../approvals_checks.rs` for what it checks.
#![no_main]

#[path = "../approvals_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::approval_vote(data));
