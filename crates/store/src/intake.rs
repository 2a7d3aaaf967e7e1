//! What channel intake needs besides creating complaints and appending messages: cursors,
//! finding the complaint a message continues, bounces, the acknowledgement cap, the last
//! inbound time and named leases.
//!
//! Invariants:
//! - A cursor carried by a write ([`NewComplaint::cursor`](aduan_core::model::NewComplaint),
//!   [`TransitionWrite::cursor`](aduan_core::model::TransitionWrite)) is upserted by
//!   [`cursor_stmt`] inside that write's transaction, so a committed message and its cursor
//!   are never apart. [`set_cursor`] advances one alone.
//! - Lookups by id go through the unique `(channel, external_id)` keys or the partial
//!   `external_id` indexes of migration 0002; "newest" means the highest complaint id.
//! - A lease is taken, renewed or taken over by one conditional upsert, so two holders can
//!   never both believe they hold a live lease.

use chrono::{DateTime, Utc};

use aduan_core::model::Cursor;
use aduan_core::store::StoreError;
use aduan_core::types::{Channel, State, TicketNumber};

use crate::backend::{Arg, Backend, MAX_PARAMS, RowExt, Stmt, args, fetch_one};
use crate::complaints::EXTERNAL_ID;
use crate::create::HANDLE;
use crate::outbox::{RECIPIENT, recipient_hash};
use crate::rows;

/// Upsert cursor `$1` to `$2` (`$3` the time written).
pub(crate) const UPSERT_CURSOR: &str = "\
    INSERT INTO cursors (key, value, updated_at) VALUES ($1, $2, $3) \
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

const GET_CURSOR: &str = "SELECT value FROM cursors WHERE key = $1";

/// The complaint holding message `($1, hash $2 or $3)`, or created from it (the current key's
/// hash and the oldest key's; they are equal outside a key rotation).
const BY_EXTERNAL_ID: &str = "\
    SELECT c.ticket FROM messages m JOIN complaints c ON c.id = m.complaint_id \
    WHERE m.channel = $1 AND m.external_id IN ($2, $3) \
    UNION ALL \
    SELECT ticket FROM complaints WHERE channel = $1 AND external_id IN ($2, $3) \
    LIMIT 1";

/// `$4` is the closed state; `$2`, `$3` the handle's keyed hashes.
const OPEN_FOR_HANDLE: &str = "\
    SELECT ticket FROM complaints WHERE channel = $1 AND handle_hash IN ($2, $3) \
    AND state <> $4 ORDER BY id DESC LIMIT 1";

/// Uses `complaints_rateable_idx`.
const RATEABLE_FOR_HANDLE: &str = "\
    SELECT ticket FROM complaints WHERE channel = $1 AND handle_hash IN ($2, $3) \
    AND rating_score IS NULL AND answered_at IS NOT NULL AND answered_at >= $4 \
    AND state = $5 ORDER BY answered_at DESC, id DESC LIMIT 1";

const FAIL_REPLY: &str = "\
    UPDATE outbox SET status = 'failed', last_error = $3, claimed_until = NULL, \
    claim_token = NULL WHERE external_id IN ($1, $2)";

/// Uses `outbox_acks_idx` (the recipient's keyed hash, `kind` predicate).
const COUNT_ACKS: &str = "\
    SELECT COUNT(*) AS n FROM outbox \
    WHERE kind = 'ack' AND channel = $1 AND recipient_hash IN ($2, $3) AND created_at >= $4";

const LAST_INBOUND: &str = "\
    SELECT MAX(m.at) AS at FROM messages m JOIN complaints c ON c.id = m.complaint_id \
    WHERE c.ticket = $1 AND m.direction = 'in'";

/// Insert lease `$1` for holder `$2` until `$3`, or take it over when it is the same
/// holder's or expired at `$4`. Affects no row when another holder's lease is live.
const TRY_LEASE: &str = "\
    INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
    WHERE leases.holder = excluded.holder OR leases.until <= $4";

const RELEASE_LEASE: &str = "DELETE FROM leases WHERE name = $1 AND holder = $2";

/// Prefix under which the e-mail intake stores an inbound Message-ID.
const MSGID_PREFIX: &str = "msgid:";

/// The current key's hash and the oldest key's (equal outside a rotation); a ring of more
/// than two keys is rotated one key at a time, so the middle keys hold no rows.
pub(crate) fn first_and_last(mut hashes: Vec<String>) -> (String, String) {
    let last = hashes.pop().unwrap_or_default();
    let first = hashes.into_iter().next().unwrap_or_else(|| last.clone());
    (first, last)
}

/// The statement upserting cursor `key` to `value`, for a write's batch.
pub(crate) fn cursor_stmt(key: &str, value: &str) -> Stmt {
    Stmt {
        sql: UPSERT_CURSOR.to_string(),
        args: args![key, value, Utc::now()],
    }
}

/// The statements for the cursors of several writes in order: one per key, the last
/// value of a key winning (an upsert may not touch a row twice in one statement).
pub(crate) fn cursor_stmts<'a>(cursors: impl IntoIterator<Item = &'a Cursor>) -> Vec<Stmt> {
    let mut last: Vec<(&str, &str)> = Vec::new();
    for Cursor { key: k, value: v } in cursors {
        match last.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v,
            None => last.push((k, v)),
        }
    }
    // In key order: concurrent groups (PostgreSQL) lock the cursor rows in the same order.
    last.sort_unstable_by_key(|(k, _)| *k);
    last.into_iter().map(|(k, v)| cursor_stmt(k, v)).collect()
}

pub(crate) async fn get_cursor<B: Backend>(b: &B, key: &str) -> Result<Option<String>, StoreError> {
    let mut conn = b.reader().await?;
    B::fetch_optional(&mut conn, GET_CURSOR, args![key])
        .await?
        .map(|r| r.text("value"))
        .transpose()
}

pub(crate) async fn set_cursor<B: Backend>(
    b: &B,
    key: &str,
    value: &str,
) -> Result<(), StoreError> {
    let mut conn = b.writer().await?;
    B::execute(&mut conn, UPSERT_CURSOR, args![key, value, Utc::now()])
        .await
        .map(drop)
}

/// The complaints (newest first, at most `limit`) with a message whose external id is one
/// of `ids` (or `msgid:<id>`, the e-mail intake's form), or a reply sent with one of them.
pub(crate) async fn tickets_by_message_ids<B: Backend>(
    b: &B,
    ids: &[String],
    limit: u32,
) -> Result<Vec<TicketNumber>, StoreError> {
    if ids.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let v = b.vault();
    // Every id in both forms, hashed under every key of the ring.
    let (mut plain, mut prefixed) = (Vec::new(), Vec::new());
    for id in ids {
        plain.extend(v.blinds(EXTERNAL_ID, id));
        prefixed.extend(v.blinds(EXTERNAL_ID, &format!("{MSGID_PREFIX}{id}")));
    }
    let mut conn = b.reader().await?;
    let mut found: Vec<(i64, String)> = Vec::new();
    for (chunk, pchunk) in plain
        .chunks(MAX_PARAMS / 2)
        .zip(prefixed.chunks(MAX_PARAMS / 2))
    {
        let mut params: Vec<Arg> = chunk.iter().map(|h| Arg::from(h.as_str())).collect();
        params.extend(pchunk.iter().map(|h| Arg::from(h.as_str())));
        params.push(Arg::from(i64::from(limit)));
        // Only placeholders go into the SQL; the ids are bound.
        let sql = message_ids_sql(chunk.len());
        for r in B::fetch_all_built(&mut conn, sql, params).await? {
            let id = r.i64("id")?;
            if !found.iter().any(|(f, _)| *f == id) {
                found.push((id, r.text("ticket")?));
            }
        }
    }
    found.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
    found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    found.iter().map(|(_, t)| rows::ticket(t)).collect()
}

/// `$1..$n` the ids, `$n+1..$2n` their `msgid:` forms, `$2n+1` the limit.
fn message_ids_sql(n: usize) -> String {
    let list = |from: usize| {
        (from..from + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (plain, prefixed) = (list(1), list(n + 1));
    let limit = 2 * n + 1;
    format!(
        "SELECT id, ticket FROM complaints WHERE id IN ( \
         SELECT complaint_id FROM messages WHERE external_id IN ({plain}) \
         UNION SELECT complaint_id FROM messages WHERE external_id IN ({prefixed}) \
         UNION SELECT complaint_id FROM outbox WHERE external_id IN ({plain})) \
         ORDER BY id DESC LIMIT ${limit}"
    )
}

/// Most recipients one [`open_tickets_acknowledged_to`] look-up takes (a sender has an address
/// and perhaps a Reply-To).
const MAX_ACK_RECIPIENTS: usize = 16;

/// The complaints (newest first, at most `limit`) not in `closed` with an acknowledgement on
/// `channel` to one of `recipients` (by the keyed hash of the lower-cased address under the
/// ring's first and last key; `outbox_acks_idx`).
pub(crate) async fn open_tickets_acknowledged_to<B: Backend>(
    b: &B,
    channel: Channel,
    recipients: &[String],
    limit: u32,
) -> Result<Vec<TicketNumber>, StoreError> {
    let v = b.vault();
    let mut hashes: Vec<String> = Vec::new();
    for r in recipients.iter().take(MAX_ACK_RECIPIENTS) {
        let lower = r.trim().to_lowercase();
        if lower.is_empty() {
            continue;
        }
        let (h, old) = first_and_last(v.blinds(RECIPIENT, &lower));
        for h in [h, old] {
            if !hashes.contains(&h) {
                hashes.push(h);
            }
        }
    }
    if hashes.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let mut params: Vec<Arg> = vec![
        Arg::from(State::Closed.as_str()),
        Arg::from(channel.as_str()),
        Arg::from(i64::from(limit)),
    ];
    params.extend(hashes.iter().map(|h| Arg::from(h.as_str())));
    // Only placeholders go into the SQL; the hashes are bound.
    let list = (4..4 + hashes.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT ticket FROM complaints WHERE state <> $1 AND id IN ( \
         SELECT complaint_id FROM outbox WHERE kind = 'ack' AND channel = $2 \
         AND recipient_hash IN ({list})) ORDER BY id DESC LIMIT $3"
    );
    let mut conn = b.reader().await?;
    B::fetch_all_built(&mut conn, sql, params)
        .await?
        .iter()
        .map(|r| rows::ticket(r.str_ref("ticket")?))
        .collect()
}

pub(crate) async fn ticket_by_external_id<B: Backend>(
    b: &B,
    channel: Channel,
    external_id: &str,
) -> Result<Option<TicketNumber>, StoreError> {
    let (h, old) = first_and_last(b.vault().blinds(EXTERNAL_ID, external_id));
    let mut conn = b.reader().await?;
    B::fetch_optional(&mut conn, BY_EXTERNAL_ID, args![channel.as_str(), h, old])
        .await?
        .map(|r| rows::ticket(r.str_ref("ticket")?))
        .transpose()
}

pub(crate) async fn open_ticket_for_handle<B: Backend>(
    b: &B,
    channel: Channel,
    handle: &str,
) -> Result<Option<TicketNumber>, StoreError> {
    let (h, old) = first_and_last(b.vault().blinds(HANDLE, handle));
    let mut conn = b.reader().await?;
    B::fetch_optional(
        &mut conn,
        OPEN_FOR_HANDLE,
        args![channel.as_str(), h, old, State::Closed.as_str()],
    )
    .await?
    .map(|r| rows::ticket(r.str_ref("ticket")?))
    .transpose()
}

pub(crate) async fn rateable_ticket_for_handle<B: Backend>(
    b: &B,
    channel: Channel,
    handle: &str,
    answered_since: DateTime<Utc>,
) -> Result<Option<TicketNumber>, StoreError> {
    let (h, old) = first_and_last(b.vault().blinds(HANDLE, handle));
    let mut conn = b.reader().await?;
    B::fetch_optional(
        &mut conn,
        RATEABLE_FOR_HANDLE,
        args![
            channel.as_str(),
            h,
            old,
            answered_since,
            State::Closed.as_str()
        ],
    )
    .await?
    .map(|r| rows::ticket(r.str_ref("ticket")?))
    .transpose()
}

/// Fail the outbox row sent (or queued) with `external_id`, whatever its status.
pub(crate) async fn fail_reply_by_external_id<B: Backend>(
    b: &B,
    external_id: &str,
    error: &str,
) -> Result<bool, StoreError> {
    let v = b.vault();
    let (h, old) = first_and_last(v.blinds(EXTERNAL_ID, external_id));
    let error = v.seal("outbox.last_error", error);
    let mut conn = b.writer().await?;
    Ok(B::execute(&mut conn, FAIL_REPLY, args![h, old, error]).await? > 0)
}

pub(crate) async fn count_acks_since<B: Backend>(
    b: &B,
    channel: Channel,
    recipient: &str,
    since: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let v = b.vault();
    let (h, old) = if v.key_count() > 1 {
        let lower = recipient.trim().to_lowercase();
        first_and_last(v.blinds(RECIPIENT, &lower))
    } else {
        let h = recipient_hash(v, recipient);
        (h.clone(), h)
    };
    let mut conn = b.reader().await?;
    fetch_one::<B>(
        &mut conn,
        COUNT_ACKS,
        args![channel.as_str(), h, old, since],
    )
    .await?
    .i64("n")
}

pub(crate) async fn last_inbound_at<B: Backend>(
    b: &B,
    ticket: &TicketNumber,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut conn = b.reader().await?;
    match B::fetch_optional(&mut conn, LAST_INBOUND, args![ticket.as_str()]).await? {
        Some(r) => r.opt_at("at"),
        None => Ok(None),
    }
}

pub(crate) async fn try_lease<B: Backend>(
    b: &B,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut conn = b.writer().await?;
    Ok(B::execute(&mut conn, TRY_LEASE, args![name, holder, until, now]).await? > 0)
}

pub(crate) async fn release_lease<B: Backend>(
    b: &B,
    name: &str,
    holder: &str,
) -> Result<(), StoreError> {
    let mut conn = b.writer().await?;
    B::execute(&mut conn, RELEASE_LEASE, args![name, holder])
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_lookup_numbers_both_forms() {
        let sql = message_ids_sql(2);
        assert_eq!(sql.matches("external_id IN ($1, $2)").count(), 2);
        assert_eq!(sql.matches("external_id IN ($3, $4)").count(), 1);
        assert!(sql.ends_with("LIMIT $5"), "{sql}");
    }

    #[test]
    fn cursors_of_a_group_keep_the_last_value_per_key() {
        let cs = [
            Cursor::new("a", "1"),
            Cursor::new("b", "1"),
            Cursor::new("a", "2"),
        ];
        let stmts = cursor_stmts(&cs);
        assert_eq!(stmts.len(), 2);
        assert_eq!(stmts[0].args[..2], args!["a", "2"][..]);
        assert_eq!(stmts[1].args[..2], args!["b", "1"][..]);
    }
}
