//! Instants as herald stores them: UTC microseconds since the Unix epoch, plus the few time
//! formats that arrive from outside.

use jiff::Timestamp;

/// Microseconds since the Unix epoch, UTC. The one representation of an instant in storage.
pub fn to_micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

/// The inverse of [`to_micros`]; out-of-range values clamp to jiff's limits.
pub fn from_micros(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(if us < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// Formats an instant as RFC 3339 in UTC with second precision, e.g. `2025-12-06T15:37:33Z`.
pub fn rfc3339(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Formats a zoned time as RFC 3339 with its offset, e.g. `2025-12-09T23:59:59-05:00`.
pub fn rfc3339_zoned(z: &jiff::Zoned) -> String {
    z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}
