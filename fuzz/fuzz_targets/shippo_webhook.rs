//! Any bytes as a Shippo webhook body; see `herald_fuzz::webhook`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| herald_fuzz::webhook(herald_core::providers::Provider::Shippo, data));
