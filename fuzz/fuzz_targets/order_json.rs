//! Any bytes as a `POST /api/v1/orders` body: parsed into valid orders or a clear error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match herald_server::api::orders::parse_orders(data) {
        Ok(orders) => assert!(!orders.is_empty()),
        Err(e) => assert!(!e.detail.is_empty()),
    }
});
