//! Any bytes as a `POST /api/v1/tracking-events` body: parsed into valid events or a clear
//! error, and the parcel state of whatever parses is computable.
#![no_main]
use herald_core::tracking::{TrackingEventInput, current, history};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = herald_server::api::batch::parse_batch::<TrackingEventInput>(data, "events", "tracking events", 10_000)
        .and_then(|b| herald_server::api::batch::validate_all(b, TrackingEventInput::validate));
    match parsed {
        Ok(events) => {
            assert!(!events.is_empty());
            let h = history(&events);
            assert!(h.len() <= events.len());
            assert!(current(&events).is_some());
        }
        Err(e) => assert!(!e.detail.is_empty()),
    }
});
