//! The reply outbox: rows written in the same transaction as the change that caused them,
//! then leased by the reply worker.
//!
//! Lease protocol: a claim sets `claimed_until` and a fresh random `claim_token` on due
//! pending rows whose lease is absent or expired. Completion only applies while the token
//! still matches; once a lease expired and another worker re-claimed the row, the first
//! worker's completion is ignored (`Ok(false)`). A successful send also records the outbound
//! message in the complaint's conversation, in the same transaction.
//!
//! Secrets: once a row's outcome is final (sent, failed, or failed as unreadable) its
//! variables are rewritten without [`aduan_core::secret::SECRET_REPLY_VARS`], so the
//! access code of an acknowledgement is kept only while the acknowledgement is pending.

use chrono::{DateTime, Duration, Utc};

use aduan_core::model::{Direction, NewReply, OutboxItem, ReplyOutcome};
use aduan_core::secret::without_secret_vars;
use aduan_core::store::StoreError;
use aduan_core::types::{Channel, TicketNumber};

use crate::backend::{Arg, Backend, Insert, RowExt, args, db_err, from_ms};
use crate::complaints::{EXTERNAL_ID, SENT_MESSAGE, message_args};
use crate::rows;
use crate::vault::Vault;

/// Queue a reply: pending, no attempts yet, due at `now` (`$8`, also its creation time),
/// with its reply key (`$10`, [`new_reply_key`]).
pub(crate) const REPLY: Insert = Insert {
    head: "INSERT INTO outbox (complaint_id, kind, channel, recipient, template, vars, status, \
           attempts, max_attempts, next_attempt_at, created_at, recipient_hash, reply_key) VALUES ",
    row: "($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $8, $9, $10)",
    per_row: 10,
    tail: "",
};

/// A reply's key, fixed when it is queued and reused by every send (migration 0009): a
/// UUIDv7, the local part of an e-mail reply's Message-ID.
pub(crate) fn new_reply_key() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `$3`: the variables without their secrets.
const FAIL_CORRUPT: &str = "\
    UPDATE outbox SET status = 'failed', last_error = $2, vars = $3, claimed_until = NULL, \
    claim_token = NULL WHERE id = $1";

/// `$5`: the variables without their secrets (the access code has gone out).
const MARK_SENT: &str = "\
    UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = $3, \
    external_id = $4, external_ref = $5, vars = $6, last_error = NULL, claimed_until = NULL, \
    claim_token = NULL \
    WHERE id = $1 AND claim_token = $2 AND status = 'pending' \
    RETURNING complaint_id, channel";

const MARK_RETRY: &str = "\
    UPDATE outbox SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4, \
    claimed_until = NULL, claim_token = NULL \
    WHERE id = $1 AND claim_token = $2 AND status = 'pending'";

/// `$4`: the variables without their secrets (nothing will render them again).
const MARK_FAILED: &str = "\
    UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $3, \
    vars = $4, claimed_until = NULL, claim_token = NULL \
    WHERE id = $1 AND claim_token = $2 AND status = 'pending'";

/// When the worker should look again: a pending row is due at `next_attempt_at`, or when
/// its current lease runs out if that is later.
const NEXT_DUE: &str = "\
    SELECT MIN(CASE WHEN claimed_until IS NOT NULL AND claimed_until > next_attempt_at \
    THEN claimed_until ELSE next_attempt_at END) AS due \
    FROM outbox WHERE status = 'pending'";

/// The stored form of a reply's variables (the one place they are written).
pub(crate) fn vars_text(vars: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(vars).map_err(|e| StoreError::Other(format!("outbox vars: {e}")))
}

/// The stored variables of a row whose outcome is final: without their secrets, sealed.
fn final_vars(vars: &serde_json::Value, v: &Vault) -> Result<String, StoreError> {
    Ok(v.seal("outbox.vars", &vars_text(&without_secret_vars(vars))?))
}

/// Arguments of one [`REPLY`] row: recipient and template variables sealed; the recipient also as a keyed hash of its lower
/// case (the acknowledgement cap).
pub(crate) fn reply_args(
    complaint_id: i64,
    r: &NewReply,
    now: DateTime<Utc>,
    v: &Vault,
) -> Result<Vec<Arg>, StoreError> {
    let vars = vars_text(&r.vars)?;
    Ok(args![
        complaint_id,
        r.kind.as_str(),
        r.channel.as_str(),
        v.seal("outbox.recipient", &r.recipient),
        r.template.as_str(),
        v.seal("outbox.vars", &vars),
        r.max_attempts,
        now,
        recipient_hash(v, &r.recipient),
        new_reply_key(),
    ])
}

/// Keyed-hash domain of reply recipients.
pub(crate) const RECIPIENT: &str = "recipient";

/// The keyed hash the acknowledgement cap looks a recipient up by (case-insensitive).
pub(crate) fn recipient_hash(v: &Vault, recipient: &str) -> String {
    v.blind(RECIPIENT, &recipient.trim().to_lowercase())
}

/// Lease up to `limit` due rows until `now + lease`.
///
/// A row whose stored data no longer parses is marked failed (with the reason) in the same
/// transaction instead of blocking the outbox.
pub(crate) async fn claim<B: Backend>(
    b: &B,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u32,
) -> Result<Vec<OutboxItem>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let v = b.vault();
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    let claimed = B::fetch_all(
        &mut tx,
        B::CLAIM_REPLIES_SQL,
        args![now + lease, token, now, i64::from(limit)],
    )
    .await?;
    let mut items = Vec::with_capacity(claimed.len());
    for row in claimed {
        match rows::outbox_item(&row, v) {
            Ok(item) => items.push(item),
            Err(e) => {
                let id = row.i64("id")?;
                tracing::error!(outbox_id = id, error = %e, "unreadable outbox row marked failed");
                let error = v.seal("outbox.last_error", &e.to_string());
                // Unreadable variables are not kept either: they may hold a secret.
                let kept = match row
                    .text("vars")
                    .and_then(|s| v.open("outbox.vars", &s))
                    .map(|t| serde_json::from_str(&t))
                {
                    Ok(Ok(vars)) => final_vars(&vars, v)?,
                    _ => v.seal("outbox.vars", "{}"),
                };
                B::execute(&mut tx, FAIL_CORRUPT, args![id, error, kept]).await?;
            }
        }
    }
    tx.commit().await.map_err(db_err)?;
    items.sort_by_key(|i| i.id);
    Ok(items)
}

/// Record a send outcome if `item`'s lease is still ours.
pub(crate) async fn complete<B: Backend>(
    b: &B,
    item: &OutboxItem,
    outcome: ReplyOutcome,
) -> Result<bool, StoreError> {
    let r = complete_row(b, item, outcome).await;
    b.note_write(&r);
    r
}

async fn complete_row<B: Backend>(
    b: &B,
    item: &OutboxItem,
    outcome: ReplyOutcome,
) -> Result<bool, StoreError> {
    let token = item.claim_token.as_str();
    let v = b.vault();
    match outcome {
        ReplyOutcome::Sent {
            external_id,
            at,
            text,
        } => {
            let mut h = b.writer().await?;
            let mut tx = B::begin_write(&mut h).await?;
            let ext = external_id.as_deref();
            let marked = B::fetch_optional(
                &mut tx,
                MARK_SENT,
                args![
                    item.id,
                    token,
                    at,
                    v.blind_opt(EXTERNAL_ID, ext),
                    v.seal_opt("outbox.external_ref", ext),
                    final_vars(&item.vars, v)?,
                ],
            )
            .await?;
            let Some(row) = marked else {
                tx.rollback().await.map_err(db_err)?;
                return Ok(false);
            };
            let complaint_id = row.i64("complaint_id")?;
            let channel = row.text("channel")?;
            let m = SENT_MESSAGE.one(message_args(
                complaint_id,
                &channel,
                Direction::Out,
                at,
                &text,
                ext,
                v,
            ));
            B::execute_built(&mut tx, m.sql, m.args).await?;
            tx.commit().await.map_err(db_err)?;
            Ok(true)
        }
        ReplyOutcome::Retry {
            error,
            next_attempt_at,
        } => {
            let mut conn = b.writer().await?;
            let error = v.seal("outbox.last_error", &error);
            let n = B::execute(
                &mut conn,
                MARK_RETRY,
                args![item.id, token, error, next_attempt_at],
            )
            .await?;
            Ok(n > 0)
        }
        ReplyOutcome::Failed { error } => {
            let mut conn = b.writer().await?;
            let error = v.seal("outbox.last_error", &error);
            let vars = final_vars(&item.vars, v)?;
            let n = B::execute(&mut conn, MARK_FAILED, args![item.id, token, error, vars]).await?;
            Ok(n > 0)
        }
    }
}

/// Earliest moment a pending row may be claimed, if any.
pub(crate) async fn next_due<B: Backend>(b: &B) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut conn = b.reader().await?;
    let row = B::fetch_optional(&mut conn, NEXT_DUE, args![]).await?;
    match row {
        Some(r) => r.opt_i64("due")?.map(|ms| from_ms(ms, "due")).transpose(),
        None => Ok(None),
    }
}

/// Complaints with a failed reply, received from `$1` on, newest first, at most `$2`. The
/// failed rows are found by `outbox_due_idx (status, …)`, their complaints by primary key.
const FAILED_COMPLAINTS: &str = "\
    SELECT c.id, c.ticket, c.channel FROM complaints c \
    WHERE c.id IN (SELECT o.complaint_id FROM outbox o WHERE o.status = 'failed') \
    AND c.received_at >= $1 \
    ORDER BY c.id DESC LIMIT $2";

pub(crate) async fn failed_complaints<B: Backend>(
    b: &B,
    received_from: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<(TicketNumber, Channel)>, StoreError> {
    let mut conn = b.reader().await?;
    let rows = B::fetch_all(
        &mut conn,
        FAILED_COMPLAINTS,
        args![received_from, i64::from(limit)],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                rows::ticket(r.str_ref("ticket")?)?,
                r.parsed::<Channel>("channel")?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aduan_core::model::ReplyStatus;

    #[test]
    fn status_strings_in_sql_match_the_domain() {
        for (status, sql) in [
            (ReplyStatus::Pending, REPLY.row),
            (ReplyStatus::Sent, MARK_SENT),
            (ReplyStatus::Failed, MARK_FAILED),
        ] {
            assert!(sql.contains(&format!("'{}'", status.as_str())));
        }
    }
}
