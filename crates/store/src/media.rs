//! Media jobs (table `media_jobs`, migration 0007): the files of chat messages, written with
//! the complaint or the message that carries them and fetched later by a worker under a
//! lease; and the once-only notices to citizens (table `intake_notices`).
//!
//! Invariants:
//! - A job's row is written by [`job_args`] only: the platform reference, the file name and
//!   the album are sealed, the job key (`"<message id>#<n>"`) and the album also kept as
//!   keyed hashes. `(channel, external_id)` is unique, so a redelivery adds no second job.
//! - Lease protocol as in the outbox: a claim sets `claimed_until` and a fresh
//!   `claim_token` on due pending rows whose lease is absent or expired; a completion applies
//!   only while the token matches, so a worker whose lease ran out (it died, or hung) cannot
//!   store a file another worker has since claimed.
//! - A completion is one transaction: the attachment (through
//!   [`crate::attachments::attachment_args`], which seals) or the failure's history line,
//!   with the job's final status. A final outcome drops the platform reference.
//! - Look-ups by hash try the current key's and the oldest key's hash (a key rotation in
//!   progress).

use chrono::{DateTime, Duration, Utc};

use aduan_core::media::{
    MEDIA_FAILED_ACTION, MediaJob, MediaJobStatus, MediaKind, MediaOutcome, MediaStatus,
    NewMediaJob,
};
use aduan_core::model::Cursor;
use aduan_core::store::StoreError;
use aduan_core::types::{Channel, State, TicketNumber};
use aduan_core::workflow::HistoryEntry;

use crate::attachments::{ATTACHMENT_RETURNING_ID, attachment_args};
use crate::backend::{Arg, Backend, Insert, RowExt, Stmt, args, db_err, from_ms};
use crate::complaints::{EXTERNAL_ID, HISTORY, history_args};
use crate::intake::{cursor_stmts, first_and_last};
use crate::rows;
use crate::vault::Vault;

/// Keyed-hash domain of albums.
pub(crate) const ALBUM: &str = "media_album";

/// Channels a claim may name (the platforms of one channel crate; padded by repeating).
pub(crate) const MAX_CLAIM_CHANNELS: usize = 4;

/// One pending job; see [`job_args`]. `$12` is the creation time, also when it is due.
pub(crate) const MEDIA_JOB: Insert = Insert {
    head: "INSERT INTO media_jobs (complaint_id, channel, kind, external_id, external_ref, \
           group_hash, group_ref, source, filename, content_type, announced_size, \
           next_attempt_at, created_at, status, attempts, max_attempts) VALUES ",
    row: "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, 'pending', 0, $13)",
    per_row: 13,
    tail: "",
};

/// [`MEDIA_JOB`] that skips a job whose key is stored already (a redelivered album file).
const MEDIA_JOB_NEW: Insert = Insert {
    tail: " ON CONFLICT (channel, external_id) DO NOTHING",
    ..MEDIA_JOB
};

const MARK_DONE: &str = "\
    UPDATE media_jobs SET status = 'done', attempts = attempts + 1, source = NULL, \
    last_error = NULL, claimed_until = NULL, claim_token = NULL, finished_at = $3 \
    WHERE id = $1 AND claim_token = $2 AND status = 'pending' \
    RETURNING complaint_id";

const SET_ATTACHMENT: &str = "UPDATE media_jobs SET attachment_id = $2 WHERE id = $1";

const MARK_FAILED: &str = "\
    UPDATE media_jobs SET status = 'failed', attempts = attempts + 1, source = NULL, \
    last_error = $3, claimed_until = NULL, claim_token = NULL, finished_at = $4 \
    WHERE id = $1 AND claim_token = $2 AND status = 'pending' \
    RETURNING complaint_id";

/// An unreadable row (its sealed data does not open) is failed at claim time.
const FAIL_CORRUPT: &str = "\
    UPDATE media_jobs SET status = 'failed', source = NULL, last_error = $2, \
    claimed_until = NULL, claim_token = NULL, finished_at = $3 WHERE id = $1";

const MARK_RETRY: &str = "\
    UPDATE media_jobs SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4, \
    claimed_until = NULL, claim_token = NULL \
    WHERE id = $1 AND claim_token = $2 AND status = 'pending'";

const STATE_OF: &str = "SELECT state FROM complaints WHERE id = $1";

/// `$1..$4` the channels.
const NEXT_DUE: &str = "\
    SELECT MIN(CASE WHEN claimed_until IS NOT NULL AND claimed_until > next_attempt_at \
    THEN claimed_until ELSE next_attempt_at END) AS due \
    FROM media_jobs WHERE status = 'pending' AND channel IN ($1, $2, $3, $4)";

const BY_ALBUM: &str = "\
    SELECT c.ticket FROM media_jobs j JOIN complaints c ON c.id = j.complaint_id \
    WHERE j.channel = $1 AND j.group_hash IN ($2, $3) ORDER BY j.id DESC LIMIT 1";

const KEY_STORED: &str = "\
    SELECT id FROM media_jobs WHERE channel = $1 AND external_id IN ($2, $3) LIMIT 1";

const OF_COMPLAINT: &str = "\
    SELECT id, channel, kind, status, attempts, last_error, attachment_id FROM media_jobs \
    WHERE complaint_id = $1 ORDER BY id";

const NOTICE_STORED: &str = "\
    SELECT id FROM intake_notices WHERE channel = $1 AND external_id IN ($2, $3) LIMIT 1";

const NOTICE: &str = "\
    INSERT INTO intake_notices (channel, external_id, external_ref, reason, at) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel, external_id) DO NOTHING";

/// Arguments of one [`MEDIA_JOB`] row: the one place a job's citizen data is written.
pub(crate) fn job_args(
    complaint_id: i64,
    channel: Channel,
    j: &NewMediaJob,
    now: DateTime<Utc>,
    v: &Vault,
) -> Vec<Arg> {
    let size = j.size.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
    args![
        complaint_id,
        channel.as_str(),
        j.kind.as_str(),
        v.blind_opt(EXTERNAL_ID, j.key.as_deref()),
        v.seal_opt("media_jobs.external_ref", j.key.as_deref()),
        v.blind_opt(ALBUM, j.album.as_deref()),
        v.seal_opt("media_jobs.group_ref", j.album.as_deref()),
        v.seal("media_jobs.source", &j.source),
        v.seal("media_jobs.filename", &j.filename),
        j.content_type.as_deref(),
        size,
        now,
        j.max_attempts,
    ]
}

/// The statements inserting `jobs` of one complaint.
pub(crate) fn job_stmts(
    complaint_id: i64,
    channel: Channel,
    jobs: &[NewMediaJob],
    now: DateTime<Utc>,
    v: &Vault,
) -> Vec<Stmt> {
    MEDIA_JOB.stmts(
        jobs.iter()
            .map(|j| job_args(complaint_id, channel, j, now, v))
            .collect(),
    )
}

/// `channels` as the four claim parameters (padded by repeating the first).
fn channel_params(channels: &[Channel]) -> Result<Vec<Arg>, StoreError> {
    let Some(first) = channels.first() else {
        return Err(StoreError::Other("a media claim names no channel".into()));
    };
    if channels.len() > MAX_CLAIM_CHANNELS {
        return Err(StoreError::Other(format!(
            "a media claim names more than {MAX_CLAIM_CHANNELS} channels"
        )));
    }
    Ok((0..MAX_CLAIM_CHANNELS)
        .map(|i| Arg::from(channels.get(i).unwrap_or(first).as_str()))
        .collect())
}

fn job_row<R: RowExt>(r: &R, v: &Vault) -> Result<MediaJob, StoreError> {
    let kind = r.text("kind")?;
    Ok(MediaJob {
        id: r.i64("id")?,
        complaint_id: r.i64("complaint_id")?,
        ticket: rows::ticket(r.str_ref("ticket")?)?,
        channel: r.parsed("channel")?,
        kind: MediaKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("media kind `{kind}`")))?,
        source: v.open("media_jobs.source", r.str_ref("source")?)?,
        filename: v.open("media_jobs.filename", r.str_ref("filename")?)?,
        content_type: r.opt_text("content_type")?,
        size: r
            .opt_i64("announced_size")?
            .and_then(|s| u64::try_from(s).ok()),
        attempts: r.i32("attempts")?,
        max_attempts: r.i32("max_attempts")?,
        claim_token: r.text("claim_token")?,
    })
}

/// Lease up to `limit` due jobs of `channels` until `now + lease`.
pub(crate) async fn claim<B: Backend>(
    b: &B,
    channels: &[Channel],
    now: DateTime<Utc>,
    lease: Duration,
    limit: u32,
) -> Result<Vec<MediaJob>, StoreError> {
    if limit == 0 || channels.is_empty() {
        return Ok(Vec::new());
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let v = b.vault();
    let mut params = args![now + lease, token, now, i64::from(limit)];
    params.extend(channel_params(channels)?);
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    let claimed = B::fetch_all(&mut tx, B::CLAIM_MEDIA_SQL, params).await?;
    let mut jobs = Vec::with_capacity(claimed.len());
    for row in claimed {
        match job_row(&row, v) {
            Ok(job) => jobs.push(job),
            Err(e) => {
                let id = row.i64("id")?;
                tracing::error!(media_job = id, error = %e, "unreadable media job marked failed");
                let error = v.seal("media_jobs.last_error", &e.to_string());
                B::execute(&mut tx, FAIL_CORRUPT, args![id, error, now]).await?;
            }
        }
    }
    tx.commit().await.map_err(db_err)?;
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

/// Record an attempt if `job`'s lease is still ours.
pub(crate) async fn complete<B: Backend>(
    b: &B,
    job: &MediaJob,
    outcome: MediaOutcome,
) -> Result<bool, StoreError> {
    let v = b.vault();
    let token = job.claim_token.as_str();
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    match outcome {
        MediaOutcome::Stored { attachment, at } => {
            let Some(row) = B::fetch_optional(&mut tx, MARK_DONE, args![job.id, token, at]).await?
            else {
                tx.rollback().await.map_err(db_err)?;
                return Ok(false);
            };
            let complaint_id = row.i64("complaint_id")?;
            let inserted = B::fetch_optional(
                &mut tx,
                ATTACHMENT_RETURNING_ID,
                attachment_args(complaint_id, &attachment, at, v),
            )
            .await?
            .ok_or_else(|| StoreError::Other("attachment insert returned no id".into()))?;
            let attachment_id = inserted.i64("id")?;
            B::execute(&mut tx, SET_ATTACHMENT, args![job.id, attachment_id]).await?;
        }
        MediaOutcome::Failed { note, error, at } => {
            let error = v.seal("media_jobs.last_error", &error);
            let Some(row) =
                B::fetch_optional(&mut tx, MARK_FAILED, args![job.id, token, error, at]).await?
            else {
                tx.rollback().await.map_err(db_err)?;
                return Ok(false);
            };
            let complaint_id = row.i64("complaint_id")?;
            let state: State = B::fetch_optional(&mut tx, STATE_OF, args![complaint_id])
                .await?
                .ok_or_else(|| StoreError::Corrupt("media job of no complaint".into()))?
                .parsed("state")?;
            let line = HistoryEntry {
                step: None,
                action: MEDIA_FAILED_ACTION.into(),
                state,
                actor: "sistem".into(),
                at,
                due_at: None,
                elapsed_seconds: None,
                breached: false,
                note: Some(note),
            };
            let stmt = HISTORY.one(history_args(complaint_id, &line, v));
            B::execute_built(&mut tx, stmt.sql, stmt.args).await?;
        }
        MediaOutcome::Retry {
            error,
            next_attempt_at,
        } => {
            let error = v.seal("media_jobs.last_error", &error);
            let n = B::execute(
                &mut tx,
                MARK_RETRY,
                args![job.id, token, error, next_attempt_at],
            )
            .await?;
            if n == 0 {
                tx.rollback().await.map_err(db_err)?;
                return Ok(false);
            }
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}

/// When a pending job of `channels` is claimable next.
pub(crate) async fn next_due<B: Backend>(
    b: &B,
    channels: &[Channel],
) -> Result<Option<DateTime<Utc>>, StoreError> {
    if channels.is_empty() {
        return Ok(None);
    }
    let mut conn = b.reader().await?;
    let row = B::fetch_optional(&mut conn, NEXT_DUE, channel_params(channels)?).await?;
    match row {
        Some(r) => r.opt_i64("due")?.map(|ms| from_ms(ms, "due")).transpose(),
        None => Ok(None),
    }
}

/// Add `jobs` to complaint `complaint_id` with `cursor`; false (only the cursor written)
/// when one of their keys is stored already.
pub(crate) async fn add<B: Backend>(
    b: &B,
    complaint_id: i64,
    channel: Channel,
    jobs: Vec<NewMediaJob>,
    now: DateTime<Utc>,
    cursor: Option<Cursor>,
) -> Result<bool, StoreError> {
    let v = b.vault();
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    let mut seen = false;
    for key in jobs.iter().filter_map(|j| j.key.as_deref()) {
        let (first, last) = first_and_last(v.blinds(EXTERNAL_ID, key));
        if B::fetch_optional(&mut tx, KEY_STORED, args![channel.as_str(), first, last])
            .await?
            .is_some()
        {
            seen = true;
            break;
        }
    }
    let mut added = false;
    if !seen {
        for j in &jobs {
            let stmt = MEDIA_JOB_NEW.one(job_args(complaint_id, channel, j, now, v));
            added |= B::execute_built(&mut tx, stmt.sql, stmt.args).await? > 0;
        }
    }
    let cursor = cursor_stmts(cursor.as_ref());
    if !cursor.is_empty() {
        B::execute_batch(&mut tx, cursor).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(added)
}

/// The newest complaint with a job of `album`.
pub(crate) async fn ticket_for_album<B: Backend>(
    b: &B,
    channel: Channel,
    album: &str,
) -> Result<Option<TicketNumber>, StoreError> {
    let (first, last) = first_and_last(b.vault().blinds(ALBUM, album));
    let mut conn = b.reader().await?;
    B::fetch_optional(&mut conn, BY_ALBUM, args![channel.as_str(), first, last])
        .await?
        .map(|r| rows::ticket(r.str_ref("ticket")?))
        .transpose()
}

/// The jobs of a complaint, oldest first.
pub(crate) async fn of_complaint<B: Backend>(
    b: &B,
    complaint_id: i64,
) -> Result<Vec<MediaJobStatus>, StoreError> {
    let v = b.vault();
    let mut conn = b.reader().await?;
    B::fetch_all(&mut conn, OF_COMPLAINT, args![complaint_id])
        .await?
        .iter()
        .map(|r| {
            let kind = r.text("kind")?;
            let status = r.text("status")?;
            Ok(MediaJobStatus {
                id: r.i64("id")?,
                channel: r.parsed("channel")?,
                kind: MediaKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("media kind `{kind}`")))?,
                status: MediaStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("media status `{status}`")))?,
                attempts: r.i32("attempts")?,
                last_error: v.open_opt("media_jobs.last_error", r.opt_str_ref("last_error")?)?,
                attachment_id: r.opt_i64("attachment_id")?,
            })
        })
        .collect()
}

/// Note a notice for `(channel, external_id)` with `cursor`: true the first time.
pub(crate) async fn record_notice<B: Backend>(
    b: &B,
    channel: Channel,
    external_id: &str,
    reason: &str,
    at: DateTime<Utc>,
    cursor: Option<Cursor>,
) -> Result<bool, StoreError> {
    let v = b.vault();
    let (first, last) = first_and_last(v.blinds(EXTERNAL_ID, external_id));
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    let seen = B::fetch_optional(&mut tx, NOTICE_STORED, args![channel.as_str(), first, last])
        .await?
        .is_some();
    let mut fresh = false;
    if !seen {
        fresh = B::execute(
            &mut tx,
            NOTICE,
            args![
                channel.as_str(),
                v.blind(EXTERNAL_ID, external_id),
                v.seal("intake_notices.external_ref", external_id),
                reason,
                at,
            ],
        )
        .await?
            > 0;
    }
    let cursor = cursor_stmts(cursor.as_ref());
    if !cursor.is_empty() {
        B::execute_batch(&mut tx, cursor).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_channels_are_padded_and_bounded() {
        let p = channel_params(&[Channel::Telegram]).unwrap();
        assert_eq!(p.len(), MAX_CLAIM_CHANNELS);
        assert!(p.iter().all(|a| *a == Arg::from("telegram")));
        assert!(channel_params(&[]).is_err());
        assert!(channel_params(&[Channel::Telegram; 5]).is_err());
        assert!(MEDIA_JOB_NEW.tail.contains("DO NOTHING"));
        assert!(MEDIA_JOB.row.contains("'pending'"));
    }
}
