//! The writer's memory of the parcels it judged last: each one's row as the writer last wrote
//! it, so that the next scans of a parcel in transit are judged without reading its row back
//! from SQLite (a third of the writer's work on a batch of scans, docs/benchmarks.md).
//!
//! Only the writer connection uses it, under the writer's lock, and it holds a row only while
//! that row is certainly the stored one:
//! - a batch of scans takes the rows of its parcels out, and puts them back, as written, only
//!   once its transaction has committed; a batch that fails leaves them out;
//! - every other statement that changes a shipment's row or state makes the writer forget it
//!   first (`SqliteStore`'s shipment, webhook and sweep writes); `with_writer`, which runs any
//!   SQL, forgets every parcel;
//! - a write by another connection (another process on the same file) changes SQLite's
//!   `data_version`, and the writer then forgets every parcel.
//!
//! A parcel not held is read from SQLite, as before; the memory only saves work.

use crate::Result;
use crate::watch::ArrivalRow;
use rusqlite::Connection;
// foldhash rather than std's SipHash: hashing tracking numbers with SipHash (here and for a
// batch's parcels) cost 0.7 M instructions of a 1,000-scan batch, and foldhash's per-process
// random seed still keeps crafted numbers from piling into one bucket.
use foldhash::HashMap;

/// How many parcels are held at most (about 0.7 KiB each, reckoned from the row's 288 bytes,
/// its strings and the map's slack, so about 35 MiB at most): the parcels in
/// transit of a seller shipping a few thousand orders a day. Past it, an arbitrary eighth is
/// forgotten.
pub(crate) const HELD_PARCELS: usize = 50_000;

/// Parcel rows by tracking number (a number two carriers share is held for one of them).
pub(crate) struct Parcels {
    rows: HashMap<String, ArrivalRow>,
    /// The database's `data_version` when the rows were last known to be current.
    data_version: Option<i64>,
    /// How many parcels are held at most.
    limit: usize,
}

impl Default for Parcels {
    fn default() -> Self {
        Self {
            rows: HashMap::default(),
            data_version: None,
            limit: HELD_PARCELS,
        }
    }
}

impl Parcels {
    /// Forgets every parcel if another connection wrote to the database since the last check.
    /// Call inside the writer's transaction, before taking rows.
    pub(crate) fn check(&mut self, c: &Connection) -> Result<()> {
        let version: i64 = c
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if self.data_version != Some(version) {
            self.rows.clear();
            self.data_version = Some(version);
        }
        Ok(())
    }

    /// The row of a parcel, taken out: the caller puts it back with [`Parcels::keep`] once
    /// what it wrote has committed.
    pub(crate) fn take(&mut self, carrier: &str, tracking_number: &str) -> Option<ArrivalRow> {
        let row = self.rows.remove(tracking_number)?;
        if row.shipment.carrier == carrier {
            return Some(row);
        }
        // Another carrier's parcel with the same number: it stays.
        self.rows.insert(row.shipment.tracking_number.clone(), row);
        None
    }

    /// Forgets a parcel whose row is about to change (or just changed) in another way.
    pub(crate) fn forget(&mut self, carrier: &str, tracking_number: &str) {
        self.take(carrier, tracking_number);
    }

    /// Forgets every parcel.
    pub(crate) fn forget_all(&mut self) {
        self.rows.clear();
    }

    /// Holds rows as just committed.
    pub(crate) fn keep(&mut self, rows: Vec<ArrivalRow>) {
        let limit = self.limit;
        for row in rows {
            self.rows.insert(row.shipment.tracking_number.clone(), row);
        }
        if self.rows.len() > limit {
            // Which parcels go does not matter for correctness; a map's order is arbitrary.
            let mut over = self.rows.len() - limit + limit / 8;
            self.rows.retain(|_, _| {
                if over == 0 {
                    return true;
                }
                over -= 1;
                false
            });
        }
    }

    /// How many parcels are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// A memory holding at most `n` parcels (tests).
    #[cfg(test)]
    pub(crate) fn holding_at_most(n: usize) -> Self {
        Self {
            limit: n,
            ..Default::default()
        }
    }

    /// Every held row, for tests that compare them with the stored ones.
    #[cfg(test)]
    pub(crate) fn rows(&self) -> impl Iterator<Item = &ArrivalRow> {
        self.rows.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::ShipmentRow;

    fn row(carrier: &str, number: &str) -> ArrivalRow {
        ArrivalRow {
            shipment: ShipmentRow {
                id: 1,
                order_id: 1,
                carrier: carrier.into(),
                tracking_number: number.into(),
                service: None,
                label_created_at: None,
                origin_postal_code: None,
                destination_postal_code: None,
                estimated_delivery: None,
                created_at: 0,
                updated_at: 0,
            },
            problem_keys: "[]".into(),
            status: "in_transit".into(),
            next_check_at: None,
            digest: None,
            status_at: None,
        }
    }

    #[test]
    fn a_row_is_taken_once_and_only_for_its_carrier() {
        let mut held = Parcels::default();
        held.keep(vec![row("usps", "1Z1"), row("ups", "1Z2")]);
        assert!(
            held.take("fedex", "1Z1").is_none(),
            "another carrier's number"
        );
        assert!(held.take("usps", "1Z1").is_some());
        assert!(
            held.take("usps", "1Z1").is_none(),
            "taken rows are out until kept"
        );
        held.forget("ups", "1Z2");
        assert_eq!(held.len(), 0);
    }

    #[test]
    fn past_its_limit_the_memory_forgets_parcels() {
        let mut held = Parcels::holding_at_most(16);
        held.keep((0..16).map(|i| row("usps", &format!("N{i}"))).collect());
        assert_eq!(held.len(), 16, "up to the limit everything is held");
        held.keep(vec![row("usps", "N16")]);
        assert_eq!(
            held.len(),
            14,
            "one over the limit forgets it and an eighth more"
        );
        held.keep((17..100).map(|i| row("usps", &format!("N{i}"))).collect());
        assert_eq!(held.len(), 14);
    }
}
