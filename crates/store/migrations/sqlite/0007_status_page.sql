-- The status page: components and groups, their status history (uptime bars), incidents and
-- scheduled maintenance with their updates, the admin API's request keys, and one change
-- counter that every node polls.
CREATE TABLE status_components (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    group_id TEXT,
    is_group INTEGER NOT NULL,
    position BIGINT NOT NULL,
    status TEXT NOT NULL,
    showcase INTEGER NOT NULL,
    only_show_if_degraded INTEGER NOT NULL,
    start_date TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    removed_at BIGINT
);

CREATE TABLE status_changes (
    id INTEGER PRIMARY KEY,
    component_id TEXT NOT NULL REFERENCES status_components (id),
    status TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX status_changes_by_component ON status_changes (component_id, at);

CREATE TABLE status_incidents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    impact TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    monitoring_at BIGINT,
    resolved_at BIGINT,
    scheduled_for BIGINT,
    scheduled_until BIGINT,
    component_ids TEXT NOT NULL
);
CREATE INDEX status_incidents_recent ON status_incidents (updated_at);

CREATE TABLE status_updates (
    id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES status_incidents (id),
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    display_at BIGINT NOT NULL,
    affected TEXT NOT NULL,
    next_update_by BIGINT,
    estimated_restore_at BIGINT
);
CREATE INDEX status_updates_by_incident ON status_updates (incident_id, created_at);

CREATE TABLE status_requests (
    request_key TEXT PRIMARY KEY,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE status_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO status_meta (id, version) VALUES (1, 0);
