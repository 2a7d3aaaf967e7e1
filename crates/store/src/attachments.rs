//! Attachments: writing them (with a new complaint or with a message appended to one),
//! reading one back with its content for download, and the kasi's shares of single
//! attachments with a bidang (table `attachment_shares`, migration 0004).
//!
//! Invariants:
//! - The citizen data of an attachment (its file name and its bytes) is written by
//!   [`attachment_args`] and read by [`read`], and nowhere else: these two functions are
//!   where sealing at rest goes.
//! - An attachment is looked up by `(ticket, id)` together: an id of another complaint is
//!   not found, so a URL can never reach across complaints.
//! - A share is written with its history line in one transaction, and only when the
//!   attachment belongs to the complaint named; every share is kept (who, why, when).

use chrono::{DateTime, Utc};

use aduan_core::model::{
    AttachmentFile, AttachmentMeta, AttachmentShare, NewAttachment, NewAttachmentShare,
};
use aduan_core::store::StoreError;
use aduan_core::types::{BidangCode, TicketNumber};

use crate::backend::{Arg, Backend, Conn, Insert, RowExt, args, db_err};
use crate::complaints::{HISTORY, history_args};
use crate::vault::Vault;

/// One attachment row; see [`attachment_args`].
pub(crate) const ATTACHMENT: Insert = Insert {
    head: "INSERT INTO attachments (complaint_id, filename, content_type, size, data, \
           created_at) VALUES ",
    row: "($1, $2, $3, $4, $5, $6)",
    per_row: 6,
    tail: "",
};

/// One attachment row returning its id (a fetched media file); arguments from
/// [`attachment_args`].
pub(crate) const ATTACHMENT_RETURNING_ID: &str = "\
    INSERT INTO attachments (complaint_id, filename, content_type, size, data, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

/// Attachment `$2` of the complaint with ticket `$1`, with the columns [`read`] reads.
const FILE_OF_TICKET: &str = "\
    SELECT a.id, a.filename, a.content_type, a.size, a.data \
    FROM attachments a JOIN complaints c ON c.id = a.complaint_id \
    WHERE c.ticket = $1 AND a.id = $2";

/// Share attachment `$1` of complaint `$2` with bidang `$3` (by `$4`, reason `$5`, at
/// `$6`); inserts nothing when the attachment is not that complaint's.
const SHARE: &str = "\
    INSERT INTO attachment_shares (attachment_id, bidang, shared_by, reason, at) \
    SELECT a.id, $3, $4, $5, $6 FROM attachments a WHERE a.id = $1 AND a.complaint_id = $2";

const SHARES_OF: &str = "\
    SELECT s.attachment_id, s.bidang, s.shared_by, s.reason, s.at \
    FROM attachment_shares s JOIN attachments a ON a.id = s.attachment_id \
    WHERE a.complaint_id = $1 ORDER BY s.id";

/// Arguments of one [`ATTACHMENT`] row: the one place an attachment's file name and bytes
/// are written.
pub(crate) fn attachment_args(
    complaint_id: i64,
    a: &NewAttachment,
    at: DateTime<Utc>,
    v: &Vault,
) -> Vec<Arg> {
    let size = i64::try_from(a.data.len()).unwrap_or(i64::MAX);
    args![
        complaint_id,
        v.seal("attachments.filename", &a.filename),
        a.content_type.as_str(),
        size,
        v.seal_bytes("attachments.data", &a.data),
        at,
    ]
}

/// An attachment row (`id, filename, content_type, size`, and `data` when `with_data`):
/// the one place an attachment's file name and bytes are read.
pub(crate) fn read<R: RowExt>(
    r: &R,
    with_data: bool,
    v: &Vault,
) -> Result<(AttachmentMeta, Option<Vec<u8>>), StoreError> {
    let meta = AttachmentMeta {
        id: r.i64("id")?,
        filename: v.open("attachments.filename", r.str_ref("filename")?)?,
        content_type: r.text("content_type")?,
        size: r.i64("size")?,
    };
    let data = if with_data {
        Some(v.open_bytes("attachments.data", &r.bytes("data")?)?)
    } else {
        None
    };
    Ok((meta, data))
}

fn share_row<R: RowExt>(r: &R) -> Result<AttachmentShare, StoreError> {
    let bidang = r.text("bidang")?;
    Ok(AttachmentShare {
        attachment_id: r.i64("attachment_id")?,
        bidang: BidangCode::parse(&bidang)
            .map_err(|e| StoreError::Corrupt(format!("bidang `{bidang}`: {e}")))?,
        shared_by: r.text("shared_by")?,
        reason: r.text("reason")?,
        at: r.at("at")?,
    })
}

/// Attachment `id` of `ticket` with its content.
pub(crate) async fn file<B: Backend>(
    b: &B,
    ticket: &TicketNumber,
    id: i64,
) -> Result<Option<AttachmentFile>, StoreError> {
    let mut conn = b.reader().await?;
    let Some(row) =
        B::fetch_optional(&mut conn, FILE_OF_TICKET, args![ticket.as_str(), id]).await?
    else {
        return Ok(None);
    };
    let (meta, data) = read(&row, true, b.vault())?;
    Ok(Some(AttachmentFile {
        meta,
        data: data.unwrap_or_default(),
    }))
}

/// Record a share and its history line; false (nothing written) when the attachment is
/// not the complaint's.
pub(crate) async fn share<B: Backend>(b: &B, s: NewAttachmentShare) -> Result<bool, StoreError> {
    let NewAttachmentShare {
        complaint_id,
        share,
        history,
        audit,
    } = s;
    let mut h = b.writer().await?;
    let mut tx = B::begin_write(&mut h).await?;
    let n = B::execute(
        &mut tx,
        SHARE,
        args![
            share.attachment_id,
            complaint_id,
            share.bidang.as_str(),
            share.shared_by,
            share.reason,
            share.at,
        ],
    )
    .await?;
    if n == 0 {
        tx.rollback().await.map_err(db_err)?;
        return Ok(false);
    }
    let stmt = HISTORY.one(history_args(complaint_id, &history, b.vault()));
    B::execute_built(&mut tx, stmt.sql, stmt.args).await?;
    if let Some(e) = &audit {
        crate::audit::append_in::<B>(&mut tx, e).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}

/// The shares of a complaint's attachments, oldest first.
pub(crate) async fn shares<B: Backend>(
    b: &B,
    complaint_id: i64,
) -> Result<Vec<AttachmentShare>, StoreError> {
    let mut conn = b.reader().await?;
    shares_in::<B>(&mut conn, complaint_id).await
}

/// [`shares`] on an open connection or transaction (the complaint's read snapshot).
pub(crate) async fn shares_in<B: Backend>(
    conn: &mut Conn<B>,
    complaint_id: i64,
) -> Result<Vec<AttachmentShare>, StoreError> {
    B::fetch_all(conn, SHARES_OF, args![complaint_id])
        .await?
        .iter()
        .map(share_row)
        .collect()
}
