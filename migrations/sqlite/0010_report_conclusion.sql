-- The monthly report in SOP order (SPEC §3, issue 17): draft → submitted → concluded →
-- decided → received. The Kasi's conclusion is a state of its own (the Kepala Dinas decides
-- on it), it carries risk-register entries (JSON), and it is delivered by mail to the
-- Kepala Dinas and the ISO coordinator, leased like the digest so one replica sends it.
-- SQLite cannot change a CHECK constraint: the table is rebuilt with the new state list.
CREATE TABLE reports_new (
    month                    TEXT PRIMARY KEY,
    state                    TEXT    NOT NULL
        CHECK (state IN ('draft', 'submitted', 'concluded', 'decided', 'received')),
    report_json              TEXT    NOT NULL,
    created_at               INTEGER NOT NULL,
    submitted_at             INTEGER,
    conclusion               TEXT,
    conclusion_by            TEXT,
    conclusion_at            INTEGER,
    decision                 TEXT,
    decision_by              TEXT,
    decision_at              INTEGER,
    decide_due_at            INTEGER,
    received_by              TEXT,
    received_at              INTEGER,
    receive_due_at           INTEGER,
    delivery_attempts        INTEGER NOT NULL DEFAULT 0,
    last_error               TEXT,
    resend_requested         INTEGER NOT NULL DEFAULT 0,
    delivery_claimed_until   INTEGER,
    -- JSON array of risk-register entries {risk, cause, frequency, control, owner}.
    risks_json               TEXT,
    -- The conclusion (as last written) still has to be mailed.
    conclusion_pending       INTEGER NOT NULL DEFAULT 0,
    conclusion_sent_at       INTEGER,
    conclusion_attempts      INTEGER NOT NULL DEFAULT 0,
    conclusion_error         TEXT,
    conclusion_claimed_until INTEGER
);
INSERT INTO reports_new (month, state, report_json, created_at, submitted_at, conclusion,
    conclusion_by, conclusion_at, decision, decision_by, decision_at, decide_due_at,
    received_by, received_at, receive_due_at, delivery_attempts, last_error,
    resend_requested, delivery_claimed_until)
SELECT month, state, report_json, created_at, submitted_at, conclusion, conclusion_by,
    conclusion_at, decision, decision_by, decision_at, decide_due_at, received_by,
    received_at, receive_due_at, delivery_attempts, last_error, resend_requested,
    delivery_claimed_until
FROM reports;
DROP TABLE reports;
ALTER TABLE reports_new RENAME TO reports;
-- A report delivered and concluded before this migration is concluded.
UPDATE reports SET state = 'concluded' WHERE state = 'submitted' AND conclusion IS NOT NULL;
