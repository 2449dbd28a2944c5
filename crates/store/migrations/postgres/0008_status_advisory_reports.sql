-- The store advisory (one at a time, cleared by deleting its row) and customers' problem
-- reports from the status page's "Having trouble?" form.
CREATE TABLE status_advisory (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    message TEXT NOT NULL,
    level TEXT NOT NULL,
    until_at BIGINT,
    expires_at BIGINT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE status_reports (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    component_id TEXT,
    body TEXT NOT NULL,
    reported_at BIGINT NOT NULL
);
CREATE INDEX status_reports_recent ON status_reports (reported_at);

-- Keys every node must share, made once by whichever node needs one first (the report form's
-- token key).
CREATE TABLE shared_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
