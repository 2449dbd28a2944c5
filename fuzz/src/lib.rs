//! What herald's fuzz targets share.

use herald_core::providers::Provider;

/// Any bytes as a provider webhook body (after its signature passed): parsed into checked
/// tracking events or a reason for the dead-letter list, never a panic; and the signature check
/// itself never panics on any header.
pub fn webhook(provider: Provider, data: &[u8]) {
    match provider.parse_payload(data) {
        Ok(payload) => {
            for e in &payload.events {
                assert!(!e.carrier.is_empty() && e.carrier.len() <= 32);
                assert!(!e.tracking_number.is_empty() && e.tracking_number.len() <= 64);
            }
            let _ = herald_core::tracking::current(&payload.events);
        }
        Err(reason) => assert!(!reason.is_empty()),
    }
    let header = String::from_utf8_lossy(&data[..data.len().min(200)]);
    let _ = provider.verify("fuzz-secret", Some(&header), data, jiff::Timestamp::UNIX_EPOCH);
}
