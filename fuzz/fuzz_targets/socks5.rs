//! Fuzz target `socks5`: see `../egress_checks.rs` for what it checks.
#![no_main]

#[path = "../egress_checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::socks5(data));
