//! Any bytes given as an Amazon order report: never a panic; accepted orders are valid.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = herald_core::import::amazon::parse(data) {
        for p in &file.orders {
            assert!(!p.lines.is_empty());
            assert!(p.order.items.iter().all(|i| i.quantity_shipped <= i.quantity));
        }
    }
});
