//! Row → domain record mapping, shared by both backends.
//!
//! Every `SELECT` that feeds a mapper here lists exactly the columns the mapper reads (the
//! `*_COLUMNS` macros), so the SQL and the mapping stay side by side. Stored strings are
//! re-parsed into domain types; anything that does not parse is [`StoreError::Corrupt`],
//! never a panic.

use aduan_core::model::{
    AttachmentMeta, ComplaintRecord, Direction, EscalationCandidate, Identity, Message, OutboxItem,
    Pause, QueueItem, RATING_RANGE, Rating, ReplyKind, ReplyStatus, ReplyThread, ReplyView,
    ReportRecord, ReportState, User,
};
use aduan_core::store::StoreError;
use aduan_core::types::{BidangCode, State, TicketNumber, Username};
use aduan_core::workflow::HistoryEntry;

use crate::backend::RowExt;
use crate::vault::Vault;

/// A sealed nullable text column `table.column` of `r`, opened.
fn sealed<R: RowExt>(
    r: &R,
    v: &Vault,
    table_col: &'static str,
) -> Result<Option<String>, StoreError> {
    let col = table_col.split_once('.').map_or(table_col, |(_, c)| c);
    v.open_opt(table_col, r.opt_str_ref(col)?)
}

/// A sealed non-NULL text column, opened.
fn sealed_text<R: RowExt>(r: &R, v: &Vault, table_col: &'static str) -> Result<String, StoreError> {
    let col = table_col.split_once('.').map_or(table_col, |(_, c)| c);
    v.open(table_col, r.str_ref(col)?)
}

/// Columns read by [`complaint`], unqualified (table `complaints`).
macro_rules! complaint_columns {
    () => {
        "id, ticket, channel, external_ref, received_at, name, address, email, phone, handle, \
         category, target, body, letter_number, state, state_entered_at, due_at, bidang, \
         solution, answer, status, close_reason, paraf_by, paraf_at, access_code_hash, version, \
         created_at, updated_at, asked_from, ask_remaining_seconds, question, \
         step_carried_seconds, rating_score, rating_comment, rated_at, answered_at, reply_thread"
    };
}
pub(crate) use complaint_columns;

/// Columns read by [`history`] (table `history`, aliased `h`).
macro_rules! history_columns {
    () => {
        "h.complaint_id, h.step, h.action, h.state, h.actor, h.at, h.due_at, h.elapsed_seconds, \
         h.breached, h.note"
    };
}
pub(crate) use history_columns;

/// Columns read by [`user`] (table `users`).
macro_rules! user_columns {
    () => {
        "id, username, role, bidang, display_name, disabled, created_at, password_hash"
    };
}
pub(crate) use user_columns;

/// Columns read by [`report`] (table `reports`).
macro_rules! report_columns {
    () => {
        "month, state, report_json, created_at, submitted_at, conclusion, conclusion_by, \
         conclusion_at, decision, decision_by, decision_at, decide_due_at, received_by, \
         received_at, receive_due_at, delivery_attempts, last_error, resend_requested, \
         risks_json, conclusion_pending, conclusion_sent_at, conclusion_attempts, \
         conclusion_error"
    };
}
pub(crate) use report_columns;

pub(crate) fn ticket(s: &str) -> Result<TicketNumber, StoreError> {
    TicketNumber::parse(s).map_err(|e| StoreError::Corrupt(format!("ticket `{s}`: {e}")))
}

pub(crate) fn bidang(s: &str) -> Result<BidangCode, StoreError> {
    BidangCode::parse(s).map_err(|e| StoreError::Corrupt(format!("bidang `{s}`: {e}")))
}

pub(crate) fn opt_bidang<R: RowExt>(r: &R, col: &str) -> Result<Option<BidangCode>, StoreError> {
    r.opt_str_ref(col)?.map(bidang).transpose()
}

/// A complaint row with empty conversation, history, replies, attachments and shares.
pub(crate) fn complaint<R: RowExt>(r: &R, v: &Vault) -> Result<ComplaintRecord, StoreError> {
    Ok(ComplaintRecord {
        id: r.i64("id")?,
        ticket: ticket(r.str_ref("ticket")?)?,
        channel: r.parsed("channel")?,
        external_id: sealed(r, v, "complaints.external_ref")?,
        received_at: r.at("received_at")?,
        identity: Identity {
            name: sealed(r, v, "complaints.name")?,
            address: sealed(r, v, "complaints.address")?,
            email: sealed(r, v, "complaints.email")?,
            phone: sealed(r, v, "complaints.phone")?,
            handle: sealed(r, v, "complaints.handle")?,
        },
        category: r.opt_parsed("category")?,
        target: sealed(r, v, "complaints.target")?,
        body: sealed_text(r, v, "complaints.body")?,
        letter_number: r.opt_text("letter_number")?,
        state: r.parsed("state")?,
        state_entered_at: r.at("state_entered_at")?,
        due_at: r.opt_at("due_at")?,
        bidang: opt_bidang(r, "bidang")?,
        solution: sealed(r, v, "complaints.solution")?,
        answer: sealed(r, v, "complaints.answer")?,
        status: r.opt_parsed("status")?,
        close_reason: r.opt_text("close_reason")?,
        paraf_by: r.opt_text("paraf_by")?,
        paraf_at: r.opt_at("paraf_at")?,
        identity_shared_with: Vec::new(),
        attachment_shares: Vec::new(),
        access_code_hash: sealed(r, v, "complaints.access_code_hash")?,
        pause: pause(r, v)?,
        carried_seconds: r.i64("step_carried_seconds")?,
        rating: rating(r, v)?,
        answered_at: r.opt_at("answered_at")?,
        reply_thread: reply_thread(r, v)?,
        version: r.i64("version")?,
        created_at: r.at("created_at")?,
        updated_at: r.at("updated_at")?,
        messages: Vec::new(),
        history: Vec::new(),
        replies: Vec::new(),
        attachments: Vec::new(),
    })
}

/// The open question of a complaint row (all three columns set, or none).
fn pause<R: RowExt>(r: &R, v: &Vault) -> Result<Option<Pause>, StoreError> {
    let (Some(from), Some(remaining), Some(question)) = (
        r.opt_parsed::<State>("asked_from")?,
        r.opt_i64("ask_remaining_seconds")?,
        sealed(r, v, "complaints.question")?,
    ) else {
        return Ok(None);
    };
    Ok(Some(Pause {
        asked_from: from,
        remaining_seconds: remaining,
        question,
    }))
}

/// The rating of a complaint row.
fn rating<R: RowExt>(r: &R, v: &Vault) -> Result<Option<Rating>, StoreError> {
    let (Some(score), Some(at)) = (r.opt_i64("rating_score")?, r.opt_at("rated_at")?) else {
        return Ok(None);
    };
    let score = u8::try_from(score)
        .ok()
        .filter(|s| RATING_RANGE.contains(s))
        .ok_or_else(|| StoreError::Corrupt(format!("rating score {score}")))?;
    Ok(Some(Rating {
        score,
        comment: sealed(r, v, "complaints.rating_comment")?,
        at,
    }))
}

/// The stored reply thread (sealed JSON of [`ReplyThread::write_vars`]).
fn reply_thread<R: RowExt>(r: &R, v: &Vault) -> Result<ReplyThread, StoreError> {
    match sealed(r, v, "complaints.reply_thread")? {
        None => Ok(ReplyThread::default()),
        Some(text) => {
            let vars: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("reply thread: {e}")))?;
            Ok(ReplyThread::from_vars(&vars))
        }
    }
}

/// The stored form of a reply thread (None for an empty one), sealed.
pub(crate) fn reply_thread_arg(t: Option<&ReplyThread>, v: &Vault) -> Option<String> {
    let t = t.filter(|t| **t != ReplyThread::default())?;
    let mut vars = serde_json::json!({});
    t.write_vars(&mut vars);
    Some(v.seal("complaints.reply_thread", &vars.to_string()))
}

/// `(complaint_id, entry)` from a row with [`history_columns`].
pub(crate) fn history<R: RowExt>(r: &R, v: &Vault) -> Result<(i64, HistoryEntry), StoreError> {
    Ok((
        r.i64("complaint_id")?,
        HistoryEntry {
            step: r.opt_parsed("step")?,
            action: r.text("action")?,
            state: r.parsed("state")?,
            actor: r.text("actor")?,
            at: r.at("at")?,
            due_at: r.opt_at("due_at")?,
            elapsed_seconds: r.opt_i64("elapsed_seconds")?,
            breached: r.boolean("breached")?,
            note: sealed(r, v, "history.note")?,
        },
    ))
}

/// `(complaint_id, bidang)` of an identity share.
pub(crate) fn share<R: RowExt>(r: &R) -> Result<(i64, BidangCode), StoreError> {
    Ok((r.i64("complaint_id")?, bidang(r.str_ref("bidang")?)?))
}

/// A conversation message (`direction, at, text, external_ref, channel`).
pub(crate) fn message<R: RowExt>(r: &R, v: &Vault) -> Result<Message, StoreError> {
    let direction = match r.text("direction")?.as_str() {
        "in" => Direction::In,
        "out" => Direction::Out,
        other => return Err(StoreError::Corrupt(format!("direction `{other}`"))),
    };
    Ok(Message {
        direction,
        at: r.at("at")?,
        text: sealed_text(r, v, "messages.text")?,
        external_id: sealed(r, v, "messages.external_ref")?,
        channel: r.parsed("channel")?,
    })
}

fn reply_kind<R: RowExt>(r: &R) -> Result<ReplyKind, StoreError> {
    let s = r.text("kind")?;
    ReplyKind::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("reply kind `{s}`")))
}

/// An outbox row as staff see it.
pub(crate) fn reply_view<R: RowExt>(r: &R, v: &Vault) -> Result<ReplyView, StoreError> {
    let status = r.text("status")?;
    Ok(ReplyView {
        kind: reply_kind(r)?,
        channel: r.parsed("channel")?,
        status: ReplyStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("reply status `{status}`")))?,
        attempts: r.i32("attempts")?,
        last_error: sealed(r, v, "outbox.last_error")?,
        created_at: r.at("created_at")?,
        sent_at: r.opt_at("sent_at")?,
        next_attempt_at: if status == ReplyStatus::Pending.as_str() {
            r.opt_at("next_attempt_at")?
        } else {
            None
        },
    })
}

/// A freshly claimed outbox row (with `ticket` joined in).
pub(crate) fn outbox_item<R: RowExt>(r: &R, v: &Vault) -> Result<OutboxItem, StoreError> {
    let vars = sealed_text(r, v, "outbox.vars")?;
    Ok(OutboxItem {
        id: r.i64("id")?,
        complaint_id: r.i64("complaint_id")?,
        ticket: ticket(r.str_ref("ticket")?)?,
        kind: reply_kind(r)?,
        channel: r.parsed("channel")?,
        recipient: sealed_text(r, v, "outbox.recipient")?,
        template: r.text("template")?,
        vars: serde_json::from_str(&vars)
            .map_err(|e| StoreError::Corrupt(format!("outbox vars: {e}")))?,
        attempts: r.i32("attempts")?,
        max_attempts: r.i32("max_attempts")?,
        queued_at: r.at("created_at")?,
        claim_token: r.text("claim_token")?,
        reply_key: r.text("reply_key")?,
    })
}

/// Attachment metadata (`id, filename, content_type, size`), read by
/// [`crate::attachments::read`].
pub(crate) fn attachment<R: RowExt>(r: &R, v: &Vault) -> Result<AttachmentMeta, StoreError> {
    crate::attachments::read(r, false, v).map(|(meta, _)| meta)
}

/// A queue line (`ticket, channel, state, received_at, due_at, bidang`).
pub(crate) fn queue_item<R: RowExt>(r: &R) -> Result<QueueItem, StoreError> {
    Ok(QueueItem {
        ticket: ticket(r.str_ref("ticket")?)?,
        channel: r.parsed("channel")?,
        state: r.parsed("state")?,
        received_at: r.at("received_at")?,
        due_at: r.opt_at("due_at")?,
        bidang: opt_bidang(r, "bidang")?,
    })
}

/// A staff account from a row with [`user_columns`].
pub(crate) fn user<R: RowExt>(r: &R) -> Result<User, StoreError> {
    let name = r.text("username")?;
    Ok(User {
        id: r.i64("id")?,
        username: Username::parse(&name)
            .map_err(|e| StoreError::Corrupt(format!("username `{name}`: {e}")))?,
        role: r.parsed("role")?,
        bidang: opt_bidang(r, "bidang")?,
        display_name: r.opt_text("display_name")?,
        disabled: r.boolean("disabled")?,
        created_at: r.at("created_at")?,
        password_hash: r.opt_text("password_hash")?,
    })
}

/// A running step past due (`id, ticket, state, state_entered_at, due_at, bidang`).
pub(crate) fn escalation_candidate<R: RowExt>(r: &R) -> Result<EscalationCandidate, StoreError> {
    Ok(EscalationCandidate {
        complaint_id: r.i64("id")?,
        ticket: ticket(r.str_ref("ticket")?)?,
        state: r.parsed("state")?,
        state_entered_at: r.at("state_entered_at")?,
        due_at: r.at("due_at")?,
        bidang: opt_bidang(r, "bidang")?,
    })
}

/// A monthly report from a row with [`report_columns`].
pub(crate) fn report<R: RowExt>(r: &R) -> Result<ReportRecord, StoreError> {
    let state = r.text("state")?;
    Ok(ReportRecord {
        month: r.text("month")?,
        state: ReportState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("report state `{state}`")))?,
        report_json: r.text("report_json")?,
        created_at: r.at("created_at")?,
        submitted_at: r.opt_at("submitted_at")?,
        conclusion: r.opt_text("conclusion")?,
        conclusion_by: r.opt_text("conclusion_by")?,
        conclusion_at: r.opt_at("conclusion_at")?,
        decision: r.opt_text("decision")?,
        decision_by: r.opt_text("decision_by")?,
        decision_at: r.opt_at("decision_at")?,
        decide_due_at: r.opt_at("decide_due_at")?,
        received_by: r.opt_text("received_by")?,
        received_at: r.opt_at("received_at")?,
        receive_due_at: r.opt_at("receive_due_at")?,
        delivery_attempts: r.i32("delivery_attempts")?,
        last_error: r.opt_text("last_error")?,
        resend_requested: r.boolean("resend_requested")?,
        risks: match r.opt_text("risks_json")? {
            Some(j) => serde_json::from_str(&j)
                .map_err(|e| StoreError::Corrupt(format!("report risks: {e}")))?,
            None => Vec::new(),
        },
        conclusion_pending: r.boolean("conclusion_pending")?,
        conclusion_sent_at: r.opt_at("conclusion_sent_at")?,
        conclusion_attempts: r.i32("conclusion_attempts")?,
        conclusion_error: r.opt_text("conclusion_error")?,
    })
}
