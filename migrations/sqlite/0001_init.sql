-- aduan schema, SQLite flavour. Applied once by aduan-store's migration runner inside a
-- transaction. Every instant is INTEGER unix milliseconds (UTC); booleans are INTEGER 0/1;
-- JSON is TEXT. Keep the logical shape identical to migrations/postgres/0001_init.sql.

-- Per-month ticket sequence: the upsert on this row numbers complaints gap-free.
CREATE TABLE ticket_counters (
    month TEXT PRIMARY KEY,            -- "YYYYMM" in the office time zone
    last  INTEGER NOT NULL
);

CREATE TABLE complaints (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket           TEXT    NOT NULL UNIQUE,
    channel          TEXT    NOT NULL,
    external_id      TEXT,
    received_at      INTEGER NOT NULL,
    name             TEXT,
    address          TEXT,
    email            TEXT,
    phone            TEXT,
    handle           TEXT,
    category         TEXT,
    target           TEXT,
    body             TEXT    NOT NULL,
    letter_number    TEXT,
    state            TEXT    NOT NULL,
    state_entered_at INTEGER NOT NULL,
    due_at           INTEGER,
    bidang           TEXT,
    solution         TEXT,
    answer           TEXT,
    status           TEXT,
    close_reason     TEXT,
    paraf_by         TEXT,
    paraf_at         INTEGER,
    access_code_hash TEXT,
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    -- Redelivery dedup; NULL external ids never collide.
    UNIQUE (channel, external_id)
);
CREATE INDEX complaints_queue_idx    ON complaints (state, due_at);
CREATE INDEX complaints_bidang_idx   ON complaints (bidang, state);
CREATE INDEX complaints_received_idx ON complaints (received_at);

CREATE TABLE identity_shares (
    complaint_id INTEGER NOT NULL REFERENCES complaints (id),
    bidang       TEXT    NOT NULL,
    PRIMARY KEY (complaint_id, bidang)
);

CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id INTEGER NOT NULL REFERENCES complaints (id),
    direction    TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    at           INTEGER NOT NULL,
    text         TEXT    NOT NULL,
    external_id  TEXT,
    channel      TEXT    NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX messages_complaint_idx ON messages (complaint_id, at);

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id INTEGER NOT NULL REFERENCES complaints (id),
    filename     TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    data         BLOB    NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX attachments_complaint_idx ON attachments (complaint_id);

CREATE TABLE history (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id    INTEGER NOT NULL REFERENCES complaints (id),
    step            TEXT,
    action          TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    at              INTEGER NOT NULL,
    due_at          INTEGER,
    elapsed_seconds INTEGER,
    breached        INTEGER NOT NULL DEFAULT 0,
    note            TEXT
);
CREATE INDEX history_complaint_idx ON history (complaint_id, id);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    bidang        TEXT,
    display_name  TEXT,
    token_hash    TEXT    NOT NULL UNIQUE,
    password_hash TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id    INTEGER NOT NULL REFERENCES complaints (id),
    kind            TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    template        TEXT    NOT NULL,
    vars            TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    claim_token     TEXT,
    last_error      TEXT,
    external_id     TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due_idx       ON outbox (status, next_attempt_at);
CREATE INDEX outbox_complaint_idx ON outbox (complaint_id);
