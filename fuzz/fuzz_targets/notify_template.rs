//! Any text as a seller's template (subject, text and HTML split at NUL bytes), for every
//! message kind: validation accepts it with a one-line subject or refuses it with a message,
//! and never panics.
#![no_main]
use herald_core::notify::MessageKind;
use herald_core::notify::templates::{TemplateSet, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    let set = TemplateSet {
        subject: parts.next().unwrap_or_default().to_string(),
        text: parts.next().unwrap_or_default().to_string(),
        html: parts.next().unwrap_or_default().to_string(),
    };
    for kind in MessageKind::ALL {
        match validate(kind, &set) {
            Ok(r) => assert!(!r.subject.is_empty() && !r.subject.contains('\n')),
            Err(e) => assert!(!e.message.is_empty()),
        }
    }
});
