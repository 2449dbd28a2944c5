//! Any bytes as a `POST /api/v1/inbound/email` body or a message of an imported mailbox: read
//! as a delivery status notification or refused with a reason, never a panic; every reported
//! recipient has an address.
#![no_main]
use herald_core::notify::bounce;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match bounce::parse(data) {
        Ok(b) => {
            assert!(!b.recipients.is_empty());
            for r in &b.recipients {
                assert!(r.address.contains('@'));
                let _ = r.is_hard();
            }
            if let Some(id) = &b.original_message_id {
                let _ = bounce::outbox_id(id);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    for m in bounce::split_mbox(data) {
        let _ = bounce::parse(&m);
    }
});
