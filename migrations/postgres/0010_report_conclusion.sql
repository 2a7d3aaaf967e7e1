-- The monthly report in SOP order (SPEC §3, issue 17): draft → submitted → concluded →
-- decided → received. The Kasi's conclusion is a state of its own (the Kepala Dinas decides
-- on it), it carries risk-register entries (JSON), and it is delivered by mail to the
-- Kepala Dinas and the ISO coordinator, leased like the digest so one replica sends it.
ALTER TABLE reports DROP CONSTRAINT IF EXISTS reports_state_check;
ALTER TABLE reports ADD CONSTRAINT reports_state_check
    CHECK (state IN ('draft', 'submitted', 'concluded', 'decided', 'received'));
-- JSON array of risk-register entries {risk, cause, frequency, control, owner}.
ALTER TABLE reports ADD COLUMN risks_json TEXT;
-- The conclusion (as last written) still has to be mailed.
ALTER TABLE reports ADD COLUMN conclusion_pending BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE reports ADD COLUMN conclusion_sent_at BIGINT;
ALTER TABLE reports ADD COLUMN conclusion_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN conclusion_error TEXT;
ALTER TABLE reports ADD COLUMN conclusion_claimed_until BIGINT;
-- A report delivered and concluded before this migration is concluded.
UPDATE reports SET state = 'concluded' WHERE state = 'submitted' AND conclusion IS NOT NULL;
