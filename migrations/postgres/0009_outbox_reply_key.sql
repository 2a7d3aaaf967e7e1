-- Replies idempotent across crashes (SPEC §5): every outbox row gets a random key when it is
-- queued, and every send of the row reuses it. The e-mail sender builds the Message-ID from
-- it (`<{reply_key}@{domain}>`), so a reply resent after a crash that cut it off once the
-- mail server had taken it is the same message, which mail systems and clients deduplicate.
-- Rows queued before this migration get a key now (before any of them is sent again).
ALTER TABLE outbox ADD COLUMN reply_key TEXT NOT NULL DEFAULT '';
UPDATE outbox SET reply_key = md5(random()::text || clock_timestamp()::text || id::text)
    WHERE reply_key = '';
