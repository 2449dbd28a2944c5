//! Any bytes as a batch body: whatever items the quick split finds (`api::batch::split_items`),
//! once each parses on its own, are exactly the items serde's full parse finds.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Some(items) = herald_server::api::batch::split_items(data, "events") else {
        return;
    };
    if items
        .iter()
        .any(|i| serde_json::from_slice::<serde_json::Value>(i).is_err())
    {
        // The request then goes the one-thread way, which names what is wrong.
        return;
    }
    let whole: Vec<&RawValue> = match serde_json::from_slice::<Vec<&RawValue>>(data) {
        Ok(v) => v,
        Err(_) => {
            let mut map: BTreeMap<&str, Vec<&RawValue>> =
                serde_json::from_slice(data).expect("split items that parse make a valid body");
            assert_eq!(map.len(), 1);
            map.remove("events").expect("the batch's key")
        }
    };
    assert_eq!(whole.len(), items.len());
    for (raw, item) in whole.iter().zip(&items) {
        assert_eq!(raw.get().as_bytes(), item.trim_ascii());
    }
});
