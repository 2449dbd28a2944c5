-- Status page subscribers (e-mail with double opt-in, webhooks) and the notices they are
-- owed: one per incident or maintenance update (written with the update), one per
-- maintenance reminder; each fanned out to the outbox in batches, remembering how far it got.
CREATE TABLE status_subscribers (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    component_ids TEXT NOT NULL,
    pending_component_ids TEXT,
    secret TEXT,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    left_at BIGINT,
    UNIQUE (channel, address)
);

CREATE TABLE status_notices (
    id INTEGER PRIMARY KEY,
    notice_key TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL,
    update_id TEXT,
    event TEXT NOT NULL,
    component_ids TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    fanned_to BIGINT NOT NULL DEFAULT 0,
    done_at BIGINT
);
CREATE INDEX status_notices_open ON status_notices (done_at, id);
