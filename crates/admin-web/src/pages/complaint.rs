//! `GET /admin/complaints/{ticket}` (the detail) and `POST /admin/complaints/{ticket}/{action}`
//! (the workflow actions: assign, close, solution, review, follow-up, sign, share-identity,
//! ask — a question to the citizen that pauses the step's clock).
//!
//! Every action goes through [`Desk::act`](aduan_core::desk::Desk::act), so role (403),
//! visibility (404), state (409) and masking rules are the API's; the `actions` flags built
//! here only decide which forms the page shows. Every post checks the CSRF token first, caps
//! its text fields at [`MAX_BODY_CHARS`](aduan_core::desk::MAX_BODY_CHARS) and redirects
//! with a fixed notice code, never with user text. Attachments are listed as the desk shows
//! them to the user (a bidang user without a share gets neutral labels and no links: a file
//! name can carry a name or a NIK); `GET …/attachments/{id}` serves the file and a kasi shares
//! one attachment with the bidang through `POST …/attachments/{id}/share`.

use aduan_core::desk::{ComplaintView, DeskError};
use aduan_core::model::ReplyStatus;
use aduan_core::types::{BidangCode, Channel, Resolution, Role, State};
use aduan_core::workflow::{Command, ReviewDecision};
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    QueryResult, base, bidang_name, check_len, desk_error, not_found_page, notice, tz, with,
};
use crate::AppState;
use crate::auth::{Fields, Me, Page, check_csrf, enc, see_other};
use crate::render::{
    self, action_label, category_label, channel_label, countdown, local, page, reply_kind_label,
    reply_status_label, state_label, step_label,
};

#[derive(Deserialize)]
pub struct DetailQuery {
    pesan: Option<String>,
}

fn complaint_json(st: &AppState, me: &Me, v: &ComplaintView) -> Value {
    let tz = tz(st);
    let now = st.desk.now();
    let mut c = serde_json::to_value(v).unwrap_or(Value::Null);
    let (cd, class) = countdown(v.due_at, now);
    c["state_label"] = state_label(v.state).into();
    c["channel_label"] = channel_label(v.channel).into();
    c["manual"] = v.channel.is_manual().into();
    c["category_label"] = category_label(v.category).into();
    c["received_local"] = local(v.received_at, tz).into();
    c["updated_local"] = local(v.updated_at, tz).into();
    c["due_local"] = v.due_at.map(|d| local(d, tz)).into();
    c["due_iso"] = v.due_at.map(|d| d.to_rfc3339()).into();
    c["countdown"] = cd.into();
    c["countdown_class"] = class.into();
    c["status_label"] = match v.status {
        Some(Resolution::Selesai) => "selesai",
        Some(Resolution::Tidak) => "tidak",
        None => "",
    }
    .into();
    c["bidang_name"] = v
        .bidang
        .as_ref()
        .map(|b| bidang_name(st, b.as_str()))
        .into();
    c["paraf"] = match &v.paraf {
        Some(p) => json!({"by": p.by, "at": local(p.at, tz)}),
        None => Value::Null,
    };
    c["history"] = v
        .history
        .iter()
        .map(|h| {
            json!({
                "step": h.step.map(step_label),
                "action": action_label(&h.action),
                "state": state_label(h.state),
                "actor": h.actor,
                "at": local(h.at, tz),
                "due": h.due_at.map(|d| local(d, tz)),
                "elapsed": h.elapsed_minutes.map(|m| render::span(m.round() as i64)),
                "breached": h.breached,
                "note": h.note,
            })
        })
        .collect::<Vec<_>>()
        .into();
    c["messages"] = v
        .messages
        .iter()
        .map(|m| {
            json!({
                "incoming": m.direction == aduan_core::model::Direction::In,
                "at": local(m.at, tz),
                "text": m.text,
            })
        })
        .collect::<Vec<_>>()
        .into();
    c["replies"] = v
        .replies
        .iter()
        .map(|r| {
            // A pending reply whose attempts failed is "tertunda" (held up, e.g. by an
            // outage), with the time of its next attempt in the office's zone.
            let held_up = r.status == ReplyStatus::Pending && r.attempts > 0;
            json!({
                "kind": reply_kind_label(r.kind.as_str()),
                "channel": channel_label(r.channel),
                "status": if held_up {
                    "tertunda"
                } else {
                    reply_status_label(r.status.as_str())
                },
                "next": r.next_attempt_at.filter(|_| held_up).map(|t| local(t, tz)),
                "failed": r.status == ReplyStatus::Failed,
                "attempts": r.attempts,
                "last_error": r.last_error,
                "created": local(r.created_at, tz),
                "sent": r.sent_at.map(|t| local(t, tz)),
            })
        })
        .collect::<Vec<_>>()
        .into();
    // File names can carry a name or a NIK: the desk gives a bidang user without a share
    // the neutral label instead, and no link.
    let share_attachments = me.role() == Role::Kasi && v.state != State::Closed;
    c["attachments"] = v
        .attachments
        .iter()
        .map(|a| {
            let shared_names: Vec<String> = a
                .shared_with
                .iter()
                .map(|b| bidang_name(st, b.as_str()))
                .collect();
            json!({
                "id": a.id,
                "name": a.filename,
                "hidden": a.name_hidden,
                "downloadable": a.downloadable,
                "content_type": a.content_type,
                "size_kb": (a.size.max(0) + 1023) / 1024,
                // The in-page preview (only where the file itself may be opened).
                "preview": match aduan_http::Preview::of(&a.content_type) {
                    Some(_) if !a.downloadable => "",
                    Some(aduan_http::Preview::Image) => "image",
                    Some(aduan_http::Preview::Pdf) => "pdf",
                    None => "",
                },
                "shared_with": shared_names,
                "share_form": share_attachments
                    && v.bidang.as_ref().is_some_and(|b| !a.shared_with.contains(b)),
            })
        })
        .collect::<Vec<_>>()
        .into();
    if v.identity_hidden {
        c["complainant"] = Value::Null;
    }
    // How the staf's follow-up reaches the citizen.
    let cfg = st.desk.config();
    let route = match v.channel {
        Channel::Phone | Channel::Letter | Channel::Fax | Channel::WalkIn => "manual",
        Channel::Web | Channel::Email => {
            if v.complainant.email.is_some() && cfg.reply_channels.contains(&Channel::Email) {
                "email"
            } else {
                "status_only"
            }
        }
        ch => {
            if v.complainant.handle.is_some() && cfg.reply_channels.contains(&ch) {
                "channel"
            } else {
                "status_only"
            }
        }
    };
    let role = me.role();
    let open = v.state != State::Closed;
    let bidang_options: Vec<Value> = cfg
        .bidang
        .iter()
        .map(|b| {
            json!({
                "code": b.code.as_str(),
                "name": b.name,
                "suggested": v.suggested_bidang.as_ref() == Some(&b.code),
            })
        })
        .collect();
    c["actions"] = json!({
        "assign": role == Role::Kasi && v.state == State::Triage,
        "close": role == Role::Kasi && v.state == State::Triage,
        "review": role == Role::Kasi && v.state == State::Review,
        "share": role == Role::Kasi && open && v.bidang.is_some(),
        "solution": role == Role::Bidang && v.state == State::InBidang,
        "follow_up": role == Role::Staf && v.state == State::FollowUp,
        "sign": role == Role::Kabid && v.state == State::Closed && v.paraf.is_none(),
        "ask": (role == Role::Kasi && matches!(v.state, State::Triage | State::Review))
            || (role == Role::Bidang && v.state == State::InBidang),
        "wait_days": cfg.policy.wait_citizen_days,
        "route": route,
        "bidang_options": bidang_options,
        "suggested_name": v.suggested_bidang.as_ref().map(|b| bidang_name(st, b.as_str())),
        "answer_draft": v.answer.clone().or_else(|| v.solution.clone()).unwrap_or_default(),
    });
    c["question"] = match &v.question {
        Some(q) => json!({
            "text": q.text,
            "asked": local(q.asked_at, tz),
            "asked_from": state_label(q.asked_from),
            "remaining": render::span(q.remaining_minutes.round() as i64),
            "overdue": q.remaining_minutes < 0.0,
            "until": q.wait_until.map(|t| local(t, tz)),
        }),
        None => Value::Null,
    };
    c["rating"] = match &v.rating {
        Some(r) => json!({"score": r.score, "comment": r.comment, "at": local(r.at, tz)}),
        None => Value::Null,
    };
    c["has_failed_reply"] = v
        .replies
        .iter()
        .any(|r| r.status == ReplyStatus::Failed)
        .into();
    c
}

/// `GET /admin/complaints/{ticket}`.
pub async fn detail(
    AxState(st): AxState<AppState>,
    me: Me,
    Path(ticket): Path<String>,
    q: QueryResult<DetailQuery>,
) -> Page {
    let v = st
        .desk
        .staff()
        .view(&me.actor, &ticket)
        .await
        .map_err(|e| desk_error(e, None))?;
    let pesan = q.ok().and_then(|Query(q)| q.pesan);
    let title = format!("Pengaduan {}", v.ticket);
    let ctx = with(
        base(&st, &me, &title, "queue"),
        json!({
            "c": complaint_json(&st, &me, &v),
            "notice": notice(pesan.as_deref()),
        }),
    );
    Ok(page(StatusCode::OK, "complaint.html", &ctx))
}

#[derive(Deserialize)]
pub struct FileQuery {
    inline: Option<String>,
}

/// `GET /admin/complaints/{ticket}/attachments/{id}[?inline=1]`: the file, by the desk's
/// rules (a bidang user gets the 404 page unless the kasi shared the identity or this
/// attachment). `?inline=1` asks for the in-page preview: an image or PDF is answered
/// `inline` and frameable by the same origin ([`aduan_http::file_inline`]); every other
/// file is still a download. `inline` other than `0`/`1`: 400.
pub async fn attachment(
    AxState(st): AxState<AppState>,
    me: Me,
    Path((ticket, id)): Path<(String, String)>,
    q: QueryResult<FileQuery>,
) -> Page {
    let inline = match q.ok().and_then(|Query(q)| q.inline).as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return Err(super::bad_request("Parameter inline harus 0 atau 1.")),
    };
    let f = st
        .desk
        .staff()
        .attachment(&me.actor, &ticket, aduan_http::attachment_id(&id))
        .await
        .map_err(|e| desk_error(e, None))?;
    let serve = if inline {
        aduan_http::file_inline
    } else {
        aduan_http::file_download
    };
    Ok(serve(&f.meta.media_type(), &f.meta.filename, f.data))
}

/// `POST /admin/complaints/{ticket}/attachments/{id}/share` (kasi, with a reason).
pub async fn share_attachment(
    AxState(st): AxState<AppState>,
    me: Me,
    Path((ticket, id)): Path<(String, String)>,
    f: Fields,
) -> Page {
    check_csrf(&st, &me, &f)?;
    let back = format!("/admin/complaints/{}", enc(&ticket));
    let reason = f.text("reason");
    check_len("reason", &reason)?;
    let v = st
        .desk
        .staff()
        .share_attachment(&me.actor, &ticket, aduan_http::attachment_id(&id), &reason)
        .await
        .map_err(|e| desk_error(e, Some(&back)))?;
    Ok(see_other(&format!(
        "/admin/complaints/{}?pesan=share-attachment",
        enc(v.ticket.as_str())
    )))
}

/// `POST /admin/complaints/{ticket}/{action}`.
pub async fn act(
    AxState(st): AxState<AppState>,
    me: Me,
    Path((ticket, action)): Path<(String, String)>,
    f: Fields,
) -> Page {
    check_csrf(&st, &me, &f)?;
    let back = format!("/admin/complaints/{}", enc(&ticket));
    let invalid = |field: &str, msg: &str| desk_error(DeskError::invalid(field, msg), Some(&back));
    let note = f.opt("note");
    if let Some(n) = &note {
        check_len("note", n)?;
    }
    let cmd = match action.as_str() {
        "assign" => {
            let code = f.get("bidang").unwrap_or("").trim();
            if code.is_empty() {
                return Err(invalid("bidang", "missing"));
            }
            let bidang =
                BidangCode::parse(code).map_err(|_| invalid("bidang", "unknown bidang"))?;
            Command::Assign { bidang, note }
        }
        "close" => {
            let status: Resolution = f
                .get("status")
                .unwrap_or("")
                .parse()
                .map_err(|_| invalid("status", "harus selesai atau tidak"))?;
            let reason = f.text("reason");
            check_len("reason", &reason)?;
            Command::Close { status, reason }
        }
        "solution" => {
            let text = f.text("text");
            check_len("text", &text)?;
            Command::Solution { text }
        }
        "review" => {
            let decision = match f.get("decision") {
                Some("approve") => ReviewDecision::Approve,
                Some("return") => ReviewDecision::Return,
                _ => return Err(invalid("decision", "pilih setujui atau kembalikan")),
            };
            Command::Review { decision, note }
        }
        "follow-up" => {
            let message = f.text("message");
            check_len("message", &message)?;
            Command::FollowUp { message }
        }
        "sign" => Command::Sign,
        "share-identity" => {
            let reason = f.text("reason");
            check_len("reason", &reason)?;
            Command::ShareIdentity { reason }
        }
        "ask" => {
            let question = f.text("question");
            if question.chars().count() > aduan_core::workflow::MAX_QUESTION_CHARS {
                return Err(invalid("question", "terlalu panjang"));
            }
            Command::Ask { question }
        }
        _ => return Err(not_found_page()),
    };
    let pesan = match &cmd {
        Command::Review {
            decision: ReviewDecision::Approve,
            ..
        } => "approve",
        Command::Review {
            decision: ReviewDecision::Return,
            ..
        } => "return",
        _ => action.as_str(),
    };
    let v = st
        .desk
        .staff()
        .act(&me.actor, &ticket, cmd)
        .await
        .map_err(|e| desk_error(e, Some(&back)))?;
    Ok(see_other(&format!(
        "/admin/complaints/{}?pesan={pesan}",
        enc(v.ticket.as_str())
    )))
}
