-- Attachment shares and access codes out of stored acknowledgements, SQLite flavour.
-- Instants are INTEGER unix milliseconds (UTC). Keep the logical shape identical to
-- migrations/postgres/0004_attachment_shares.sql. Independent of 0003 (numbered for another
-- change), so it may be applied before or after it.

-- A kasi showed one attachment (its name and file) to a bidang, with a reason (SPEC §4).
-- Every share is kept: who, why, when.
CREATE TABLE attachment_shares (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    attachment_id INTEGER NOT NULL REFERENCES attachments (id),
    bidang        TEXT    NOT NULL,
    shared_by     TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    at            INTEGER NOT NULL
);
CREATE INDEX attachment_shares_attachment_idx ON attachment_shares (attachment_id, bidang);

-- Access codes are not kept once the acknowledgement left (SPEC §6). Earlier versions kept
-- the code in the conversation's copy of a sent acknowledgement and in the outbox row's
-- variables of every sent or failed row: take it out of both (the copy first, while the
-- variables still name the code). Rows whose variables are not plain JSON (sealed at rest)
-- are left alone.
UPDATE messages
SET text = replace(text, COALESCE((
        SELECT json_extract(o.vars, '$.access_code') FROM outbox o
        WHERE o.complaint_id = messages.complaint_id AND o.kind = 'ack'
          AND o.status <> 'pending'
          AND (CASE WHEN json_valid(o.vars) THEN json_extract(o.vars, '$.access_code') END)
              IS NOT NULL
        ORDER BY o.id LIMIT 1), ''), '••••••')
WHERE direction = 'out' AND EXISTS (
        SELECT 1 FROM outbox o
        WHERE o.complaint_id = messages.complaint_id AND o.kind = 'ack'
          AND o.status <> 'pending'
          AND (CASE WHEN json_valid(o.vars) THEN json_extract(o.vars, '$.access_code') END)
              IS NOT NULL);

UPDATE outbox SET vars = json_remove(vars, '$.access_code')
WHERE status <> 'pending'
  AND (CASE WHEN json_valid(vars) THEN json_extract(vars, '$.access_code') END) IS NOT NULL;
