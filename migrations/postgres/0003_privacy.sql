-- Identity at rest (SPEC §6). aduan-store seals identity fields, everything the citizen wrote
-- and attachment bytes with the identity key before writing them; look-up keys become keyed
-- hashes. This migration only adds the columns and indexes the sealed layout needs and marks
-- the database for the one-time sealing pass that follows the migrations (rows written
-- before this version are plaintext until then). Keep the logical shape identical in both
-- flavours.

-- The platform's own id of the first message, sealed (external_id now holds its keyed hash).
ALTER TABLE complaints ADD COLUMN external_ref TEXT;
-- Keyed hash of the channel handle: threading chat messages into the open complaint.
ALTER TABLE complaints ADD COLUMN handle_hash TEXT;
ALTER TABLE messages ADD COLUMN external_ref TEXT;
ALTER TABLE outbox ADD COLUMN external_ref TEXT;
-- Keyed hash of the lower-cased recipient: the daily acknowledgement cap.
ALTER TABLE outbox ADD COLUMN recipient_hash TEXT;

DROP INDEX complaints_handle_idx;
CREATE INDEX complaints_handle_idx ON complaints (channel, handle_hash);
DROP INDEX outbox_acks_idx;
CREATE INDEX outbox_acks_idx ON outbox (channel, recipient_hash, created_at)
    WHERE kind = 'ack';

-- Work list of the sealing pass; removed when every older row is sealed.
INSERT INTO cursors (key, value, updated_at) VALUES ('privacy.seal', '', NULL);
