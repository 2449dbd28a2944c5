-- herald schema v1 (SQLite). Instants are INTEGER microseconds since the Unix epoch, UTC.
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    number TEXT NOT NULL,
    state TEXT NOT NULL,
    customer_email TEXT,
    data TEXT NOT NULL,
    -- The order's lifecycle steps as JSON: [{"kind", "at", "recorded_at"}] (at most seven).
    history TEXT NOT NULL,
    placed_at INTEGER NOT NULL,
    shipped_at INTEGER,
    closed_at INTEGER,
    ship_by INTEGER NOT NULL,
    at_risk_from INTEGER NOT NULL,
    awaiting_ship_by INTEGER,
    alert_due_at INTEGER,
    as_of INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX orders_awaiting ON orders (awaiting_ship_by, id) WHERE awaiting_ship_by IS NOT NULL;
CREATE INDEX orders_alert_due ON orders (alert_due_at) WHERE alert_due_at IS NOT NULL;
CREATE INDEX orders_placed ON orders (placed_at);
CREATE INDEX orders_ship_by ON orders (ship_by);
CREATE INDEX orders_state ON orders (state, id);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    order_id INTEGER REFERENCES orders (id),
    message TEXT NOT NULL,
    due_at INTEGER,
    raised_at INTEGER NOT NULL
);
CREATE INDEX alerts_raised ON alerts (raised_at, id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
