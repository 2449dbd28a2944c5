//! Any bytes as an uploaded coupon-code file (`POST /api/v1/offer-codes`): either codes that
//! are each 3-64 letters, digits, '-' or '_', without repeats, or a refusal that names a line;
//! never a panic. Also any text as a webhook endpoint's signing secret and URL.
#![no_main]
use herald_core::notify::{offers, webhook};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match offers::parse_codes(text) {
        Ok(codes) => {
            assert!(!codes.is_empty());
            let mut seen = std::collections::HashSet::new();
            for c in &codes {
                assert!((3..=64).contains(&c.len()), "{c:?}");
                assert!(c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
                assert!(seen.insert(c), "{c:?} twice");
            }
        }
        Err(e) => assert!(e.starts_with("line ") || e.starts_with("no codes"), "{e}"),
    }
    if let Ok(s) = webhook::SigningSecret::parse(text) {
        assert_eq!(webhook::SigningSecret::parse(&s.reveal()).unwrap(), s);
        let sig = s.sign("msg_x", 1, data);
        assert!(s.verify("msg_x", 1, data, &sig));
    }
    let _ = webhook::check_url(text);
});
