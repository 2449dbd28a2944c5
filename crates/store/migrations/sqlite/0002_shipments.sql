-- Shipments and carrier tracking events. Events are kept by parcel (carrier, tracking number),
-- not by shipment, so events that arrive before the seller's shipment are attached when it does.
CREATE TABLE shipments (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    service TEXT,
    label_created_at INTEGER,
    origin_postal_code TEXT,
    destination_postal_code TEXT,
    estimated_delivery INTEGER,
    status TEXT NOT NULL,
    status_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (carrier, tracking_number)
);
CREATE INDEX shipments_order ON shipments (order_id);

CREATE TABLE tracking_events (
    id INTEGER PRIMARY KEY,
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX tracking_events_parcel ON tracking_events (carrier, tracking_number);
