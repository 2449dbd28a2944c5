-- The outbox: every message herald owes a customer, written in the same transaction as the
-- change that causes it, then delivered (or skipped, with the reason) by the sender worker.
CREATE TABLE messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- "order id:kind:occurrence": the same message is never enqueued twice. Its index also
    -- finds an order's messages (a range of keys), so no index on order_id is needed.
    dedupe_key TEXT NOT NULL UNIQUE,
    order_id BIGINT REFERENCES orders (id),
    kind TEXT NOT NULL,
    -- What the message is about beyond its order, as JSON (shipment, case, deadline...).
    facts TEXT NOT NULL,
    -- The moment the message is about; it is sent only within notify.window_hours of it.
    about_at BIGINT NOT NULL,
    -- pending, sending, sent, skipped, dead, or marketplace (for the seller to send).
    status TEXT NOT NULL,
    channel TEXT,
    recipient TEXT,
    subject TEXT,
    body TEXT,
    message_id TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    -- When a worker should next look at it: the next try while pending, the end of the lease
    -- while sending (a node that died mid-send leaves it to be retried), NULL once settled.
    next_attempt_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX messages_due ON messages (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
-- What needs the seller: dead letters and the marketplace queue (other states are listed by
-- scanning newest first).
CREATE INDEX messages_attention ON messages (status, id) WHERE status IN ('dead', 'marketplace');

-- The seller's own wording per message kind (validated when saved).
CREATE TABLE message_templates (
    kind TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    text TEXT NOT NULL,
    html TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The buyer tracking page of each order (/t/TOKEN): an unguessable token. Orders stored before
-- this version get one here.
ALTER TABLE orders ADD COLUMN page_token TEXT;
UPDATE orders SET page_token = substr(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 1, 48) WHERE page_token IS NULL;
CREATE UNIQUE INDEX orders_page_token ON orders (page_token);

-- Delivery status notifications received (POST /api/v1/inbound/email, herald bounces import),
-- one row per recipient they report on. A hard bounce (failed, 5.x.x) makes the address
-- undeliverable: herald stops mailing it.
CREATE TABLE bounces (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    diagnostic TEXT,
    hard INTEGER NOT NULL,
    -- The outbox message that bounced, when the report carries its Message-ID.
    message_id BIGINT,
    order_id BIGINT,
    received_at BIGINT NOT NULL
);
CREATE INDEX bounces_address ON bounces (address, id);
