-- Each parcel's tracking state, which every new scan rewrites, apart from the shipment's own
-- record, which the seller's updates and the sweep write: a scan then writes a new version of
-- a short row instead of the whole shipment. A shipment has exactly one; both are written
-- together.
-- changed_at: when herald last changed the status or its time (the shipment's updated_at is
-- the later of this and its own).
CREATE TABLE parcel_states (
    shipment_id BIGINT PRIMARY KEY REFERENCES shipments (id),
    status TEXT NOT NULL,
    status_at BIGINT,
    digest TEXT,
    changed_at BIGINT NOT NULL
);
INSERT INTO parcel_states (shipment_id, status, status_at, digest, changed_at)
    SELECT id, status, status_at, digest, updated_at FROM shipments;
ALTER TABLE shipments DROP COLUMN status;
ALTER TABLE shipments DROP COLUMN status_at;
ALTER TABLE shipments DROP COLUMN digest;
