//! `GET /admin/replies/failed` (staf and kasi): replies that could not be delivered, with
//! what staff need to answer the citizen another way.
//!
//! Looks at the complaints received this month and last month that did not come in
//! manually, newest first, at most [`FAILED_SCAN_LIMIT`] of them, each through
//! [`Desk::view`](aduan_core::desk::Desk::view) so that masking holds; the page says when
//! the limit cut the list.

use aduan_core::desk::DeskError;
use aduan_core::model::ReplyStatus;
use aduan_core::types::Role;
use axum::extract::State as AxState;
use axum::http::StatusCode;
use serde_json::json;

use super::{base, desk_error, forbidden, month_now, tz, with};
use crate::AppState;
use crate::auth::{Me, Page};
use crate::render::{channel_label, local, page, reply_kind_label, state_label};

/// Complaints with failed replies the page lists at most (the newest).
const FAILED_SCAN_LIMIT: usize = 500;

/// `GET /admin/replies/failed`: replies that could not be delivered, of the complaints
/// received this month and last month, with what staff need to answer another way. The
/// complaints come from the failed outbox rows (not from the two months' logbooks).
pub async fn failed_replies(AxState(st): AxState<AppState>, me: Me) -> Page {
    if !matches!(me.role(), Role::Staf | Role::Kasi) {
        return Err(forbidden());
    }
    let tz = tz(&st);
    let now = month_now(&st);
    let mut items = Vec::new();
    let found = st
        .desk
        .staff()
        .failed_reply_complaints(&me.actor, now.prev(), FAILED_SCAN_LIMIT as u32)
        .await
        .map_err(|e| desk_error(e, None))?;
    let limited = found.len() >= FAILED_SCAN_LIMIT;
    for (ticket, channel) in found {
        // Manual complaints (letter, phone, fax, walk-in) get nothing sent back on their
        // channel; the page lists the digital ones, as it always did.
        if channel.is_manual() {
            continue;
        }
        let v = match st.desk.staff().view(&me.actor, ticket.as_str()).await {
            Ok(v) => v,
            Err(DeskError::NotFound) => continue,
            Err(e) => return Err(desk_error(e, None)),
        };
        for rep in v.replies.iter().filter(|x| x.status == ReplyStatus::Failed) {
            items.push(json!({
                "ticket": v.ticket.as_str(),
                "state_label": state_label(v.state),
                "channel": channel_label(rep.channel),
                "kind": reply_kind_label(rep.kind.as_str()),
                "attempts": rep.attempts,
                "error": rep.last_error,
                "created": local(rep.created_at, tz),
                "answer": v.answer,
                "name": v.complainant.name,
                "email": v.complainant.email,
                "phone": v.complainant.phone,
                "handle": v.complainant.handle,
            }));
        }
    }
    let ctx = with(
        base(&st, &me, "Balasan yang gagal terkirim", "failed"),
        json!({
            "items": items,
            "months": [now.label_id(), now.prev().label_id()],
            "limited": limited,
        }),
    );
    Ok(page(StatusCode::OK, "failed.html", &ctx))
}
