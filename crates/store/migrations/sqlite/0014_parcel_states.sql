-- Each parcel's tracking state, which every new scan rewrites, apart from the shipment's own
-- record, which the seller's updates and the sweep write: a scan then rewrites a short row
-- (about 130 bytes) instead of the whole shipment (about 220), and SQLite rebuilds 5 columns
-- instead of 16 (docs/benchmarks.md). A shipment has exactly one; both are written together.
-- changed_at: when herald last changed the status or its time (the shipment's updated_at is
-- the later of this and its own).
CREATE TABLE parcel_states (
    shipment_id INTEGER PRIMARY KEY REFERENCES shipments (id),
    status TEXT NOT NULL,
    status_at INTEGER,
    digest TEXT,
    changed_at INTEGER NOT NULL
);
INSERT INTO parcel_states (shipment_id, status, status_at, digest, changed_at)
    SELECT id, status, status_at, digest, updated_at FROM shipments;
ALTER TABLE shipments DROP COLUMN status;
ALTER TABLE shipments DROP COLUMN status_at;
ALTER TABLE shipments DROP COLUMN digest;
