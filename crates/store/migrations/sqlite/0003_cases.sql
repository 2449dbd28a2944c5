-- The parcel watchdog: when each shipment is next due for the problem rules, the problems it
-- has already had a case for, the cases themselves, and every provider webhook received.
ALTER TABLE shipments ADD COLUMN next_check_at INTEGER;
-- JSON list of problem keys ("stalled@<since µs>") already put in a case.
ALTER TABLE shipments ADD COLUMN problem_keys TEXT NOT NULL DEFAULT '[]';
-- Shipments stored before this version are reviewed once by the first sweep.
UPDATE shipments SET next_check_at = updated_at WHERE status NOT IN ('delivered', 'cancelled');
CREATE INDEX shipments_due ON shipments (next_check_at) WHERE next_check_at IS NOT NULL;

CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    shipment_id INTEGER NOT NULL REFERENCES shipments (id),
    order_id INTEGER NOT NULL REFERENCES orders (id),
    -- The worst problem (open ones first), and every kind it has held as ",stalled,overdue,".
    kind TEXT NOT NULL,
    kinds TEXT NOT NULL,
    -- JSON: {"problems": [...], "entries": [...]}, the case's problems and timeline.
    file TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    closed_at INTEGER,
    close_reason TEXT,
    first_action_due INTEGER NOT NULL,
    first_action_at INTEGER,
    overdue_alerted INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);
-- A shipment has at most one open case, whichever node opens it.
CREATE UNIQUE INDEX cases_one_open_per_shipment ON cases (shipment_id) WHERE closed_at IS NULL;
CREATE INDEX cases_opened ON cases (opened_at, id);
CREATE INDEX cases_first_action_due ON cases (first_action_due)
    WHERE first_action_at IS NULL AND closed_at IS NULL AND overdue_alerted = 0;
ALTER TABLE alerts ADD COLUMN case_id INTEGER REFERENCES cases (id);

-- Every webhook that passed its signature check, as received, for audit; those that could not
-- be read are the dead-letter list.
CREATE TABLE webhook_payloads (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    body BLOB NOT NULL,
    -- accepted or dead_letter
    outcome TEXT NOT NULL,
    reason TEXT,
    events INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_payloads_dead ON webhook_payloads (id) WHERE outcome = 'dead_letter';
