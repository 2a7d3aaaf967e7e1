-- Media of chat messages fetched as durable jobs, and once-only notices to citizens, SQLite
-- flavour. Instants are INTEGER unix milliseconds (UTC). Keep the logical shape identical to
-- migrations/postgres/0007_media_jobs.sql. Independent of 0006 and 0008 (other changes), so
-- it may be applied before or after them.

-- One file of a citizen's chat message (a photo, a voice note, a document …), written in the
-- same transaction as the complaint or the message, then fetched from the platform by a
-- worker holding a lease (like the outbox). Sealed like the identity: `source` (the
-- platform's file id, media id or URL; NULL once the job is finished), `filename`,
-- `last_error`, `external_ref` and `group_ref`. `external_id` is the keyed hash of
-- "<message id>#<n>" (a redelivery adds no second job); `group_hash` the keyed hash of the
-- album a file belongs to (Telegram media_group_id with the chat).
CREATE TABLE media_jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id    INTEGER NOT NULL REFERENCES complaints (id),
    channel         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    external_id     TEXT,
    external_ref    TEXT,
    group_hash      TEXT,
    group_ref       TEXT,
    source          TEXT,
    filename        TEXT    NOT NULL,
    content_type    TEXT,
    announced_size  INTEGER,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    claim_token     TEXT,
    last_error      TEXT,
    attachment_id   INTEGER REFERENCES attachments (id),
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    UNIQUE (channel, external_id)
);
CREATE INDEX media_jobs_due_idx       ON media_jobs (status, next_attempt_at);
CREATE INDEX media_jobs_complaint_idx ON media_jobs (complaint_id);
CREATE INDEX media_jobs_group_idx     ON media_jobs (channel, group_hash)
    WHERE group_hash IS NOT NULL;

-- A citizen was told once why a message is not a complaint (an unsupported message type):
-- a redelivery of the same message finds its row and is not answered again. `external_id`
-- is the keyed hash of the platform's message id, `external_ref` its sealed copy.
CREATE TABLE intake_notices (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    channel      TEXT    NOT NULL,
    external_id  TEXT    NOT NULL,
    external_ref TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    at           INTEGER NOT NULL,
    UNIQUE (channel, external_id)
);
