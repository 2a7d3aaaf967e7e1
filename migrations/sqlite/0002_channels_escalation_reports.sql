-- Channel intake, SLA escalation and the monthly report, SQLite flavour. Instants are
-- INTEGER unix milliseconds (UTC), booleans INTEGER 0/1. Keep the logical shape identical to
-- migrations/postgres/0002_channels_escalation_reports.sql.

-- Intake cursors (IMAP UID, Telegram offset, …), written in the same transaction as the
-- message they advance past.
CREATE TABLE cursors (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER
);

-- Named leases ("one mailbox reader among replicas").
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT    NOT NULL,
    until  INTEGER NOT NULL
);

-- The state_entered_at (ms) of the step that was escalated; a new step re-arms escalation.
ALTER TABLE complaints ADD COLUMN escalated_for INTEGER;

-- Running steps by due time (escalation scan and next wake-up).
CREATE INDEX complaints_escalation_idx ON complaints (due_at)
    WHERE state <> 'closed' AND due_at IS NOT NULL;
-- Threading chat messages into the open complaint of a handle.
CREATE INDEX complaints_handle_idx ON complaints (channel, handle);
-- Threading by Message-ID (In-Reply-To / References) on any channel.
CREATE INDEX messages_external_idx ON messages (external_id) WHERE external_id IS NOT NULL;
-- Bounces and threading by the platform id of a sent reply.
CREATE INDEX outbox_external_idx ON outbox (external_id) WHERE external_id IS NOT NULL;
-- The daily acknowledgement cap per recipient.
CREATE INDEX outbox_acks_idx ON outbox (channel, lower(recipient), created_at)
    WHERE kind = 'ack';

-- Monthly reports (SOP steps 6-8), one row per "YYYY-MM".
CREATE TABLE reports (
    month                  TEXT PRIMARY KEY,
    state                  TEXT    NOT NULL
        CHECK (state IN ('draft', 'submitted', 'decided', 'received')),
    report_json            TEXT    NOT NULL,
    created_at             INTEGER NOT NULL,
    submitted_at           INTEGER,
    conclusion             TEXT,
    conclusion_by          TEXT,
    conclusion_at          INTEGER,
    decision               TEXT,
    decision_by            TEXT,
    decision_at            INTEGER,
    decide_due_at          INTEGER,
    received_by            TEXT,
    received_at            INTEGER,
    receive_due_at         INTEGER,
    delivery_attempts      INTEGER NOT NULL DEFAULT 0,
    last_error             TEXT,
    resend_requested       INTEGER NOT NULL DEFAULT 0,
    delivery_claimed_until INTEGER
);
