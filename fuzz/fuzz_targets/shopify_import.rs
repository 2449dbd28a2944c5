//! Any bytes given as a Shopify export: the parser returns orders and row errors, never panics,
//! and every order it accepts is valid and names the lines it came from.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = herald_core::import::shopify::parse(data) {
        for p in &file.orders {
            assert!(!p.lines.is_empty());
            assert!(p.order.items.iter().all(|i| i.quantity > 0));
        }
    }
});
