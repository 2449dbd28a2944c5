//! Any text as the `cursor` of a list (`GET /api/v1/orders?cursor=...`): a cursor the API could
//! have returned, or refused; never a panic, and a cursor read back is written as it was read.
#![no_main]
use herald_store::Cursor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(cursor) = Cursor::parse(text) {
        assert_eq!(Cursor::parse(&cursor.to_string()), Some(cursor));
    }
});
