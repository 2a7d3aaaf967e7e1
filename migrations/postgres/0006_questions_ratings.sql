-- Questions to the citizen with a paused clock, ratings and reply threading (issue 13),
-- PostgreSQL flavour. Instants are BIGINT unix milliseconds (UTC). Keep the logical shape identical to
-- migrations/sqlite/0006_questions_ratings.sql. Independent of 0007 and 0008.
--
-- Columns marked "sealed" hold vault-sealed text (citizen data at rest, SPEC §6) and are
-- re-sealed by key rotation (crates/store/src/reseal.rs).

-- While state = 'waiting_citizen': the state the question was asked from, the working
-- seconds left of that step (negative when it was overdue) and the question (sealed).
-- due_at then holds the end of the citizen's wait.
ALTER TABLE complaints ADD COLUMN asked_from TEXT;
ALTER TABLE complaints ADD COLUMN ask_remaining_seconds BIGINT;
ALTER TABLE complaints ADD COLUMN question TEXT;
-- Working seconds the running step ran before its pauses (added when the step stops).
ALTER TABLE complaints ADD COLUMN step_carried_seconds BIGINT NOT NULL DEFAULT 0;
-- The citizen's rating, once: score 1-5, comment (sealed), when.
ALTER TABLE complaints ADD COLUMN rating_score BIGINT CHECK (rating_score BETWEEN 1 AND 5);
ALTER TABLE complaints ADD COLUMN rating_comment TEXT;
ALTER TABLE complaints ADD COLUMN rated_at BIGINT;
-- When the answer (follow-up) was given: a chat rating counts from it.
ALTER TABLE complaints ADD COLUMN answered_at BIGINT;
-- How replies join the citizen's conversation (JSON of the thread of their newest message
-- that carried one: subject, In-Reply-To, References, Telegram message; sealed).
ALTER TABLE complaints ADD COLUMN reply_thread TEXT;

-- The SLA timer's scan of questions whose wait ended.
CREATE INDEX complaints_waiting_idx ON complaints (due_at) WHERE state = 'waiting_citizen';
-- A chat rating's complaint: the sender's answered, unrated complaints.
CREATE INDEX complaints_rateable_idx ON complaints (channel, handle_hash, answered_at)
    WHERE rating_score IS NULL AND answered_at IS NOT NULL;
