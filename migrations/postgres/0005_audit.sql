-- The hash-chained audit log (SPEC §6), PostgreSQL flavour. Keep the logical shape identical to
-- migrations/sqlite/0005_audit.sql.
--
-- One chain in id order: ids are assigned by the appender (last id + 1, inside the write
-- transaction), `prev_hash` is the hash of the entry before (64 zeros for the first) and
-- `hash` = sha256(prev_hash || canonical(id, at, actor, role, action, ticket, detail)); see
-- crates/core/src/audit.rs. `prev_hash` is unique: the chain cannot fork. No foreign key to
-- complaints: the log is evidence and stands on its own. Nothing here is complainant
-- identity (ticket numbers, staff usernames, codes and reasons typed by staff only).
CREATE TABLE audit_log (
    id        BIGINT  PRIMARY KEY,
    at        BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    role      TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    ticket    TEXT,
    detail    TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL UNIQUE,
    hash      TEXT    NOT NULL
);
-- The entries of a complaint, and of a time range, in chain order.
CREATE INDEX audit_log_ticket_idx ON audit_log (ticket, id) WHERE ticket IS NOT NULL;
CREATE INDEX audit_log_at_idx ON audit_log (at, id);
