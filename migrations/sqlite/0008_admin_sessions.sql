-- Admin login sessions and the login form's single-use tokens, SQLite flavour. Instants are
-- INTEGER unix milliseconds (UTC). Keep the logical shape identical to
-- migrations/postgres/0008_admin_sessions.sql. Independent of other migrations (no foreign
-- key), so it may be applied before or after them. No citizen data: staff usernames and
-- random nonces only.

-- One row per login to the admin pages; `id` is the random nonce carried in the signed
-- session cookie. A request is served only while its row exists, is not revoked and has not
-- expired: logout sets `revoked_at`, a password change or a disabled account sets it on all
-- of the user's rows. Rows are pruned once expired.
CREATE TABLE admin_sessions (
    id          TEXT    PRIMARY KEY,
    username    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX admin_sessions_username ON admin_sessions (username);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);

-- Login-form tokens already spent (any replica): a replayed form is refused. Kept until the
-- token would have expired anyway, then pruned.
CREATE TABLE login_tokens (
    nonce       TEXT    PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX login_tokens_expires ON login_tokens (expires_at);
