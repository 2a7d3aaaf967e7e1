//! The page handlers. Every action goes through the [`Desk`](aduan_core::desk::Desk), which
//! checks the role (403), the visibility for bidang users (404) and the state (409) and
//! masks identity in the views it returns.

use aduan_core::desk::{ComplaintView, DeskError, MAX_BODY_CHARS, QueueLine, Submission};
use aduan_core::desk_reports::{ReportAction, ReportView};
use aduan_core::logbook::{self, Month};
use aduan_core::model::ReplyStatus;
use aduan_core::report::MonthlyReport;
use aduan_core::types::{BidangCode, Category, Channel, Resolution, Role, State};
use aduan_core::workflow::{Command, ReviewDecision};
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Fields, Me, Page, check_csrf, enc, me_json, see_other, store_error_page};
use crate::render::{
    self, action_label, category_label, channel_label, countdown, error_page, local, page,
    reply_kind_label, reply_status_label, report_state_label, state_label, step_label,
};

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn tz(st: &AppState) -> Tz {
    st.desk.config().policy.calendar.timezone()
}

fn month_now(st: &AppState) -> Month {
    Month::of(st.desk.now(), tz(st))
}

fn bidang_name(st: &AppState, code: &str) -> String {
    st.desk
        .config()
        .bidang
        .iter()
        .find(|b| b.code.as_str() == code)
        .map(|b| b.name.clone())
        .unwrap_or_else(|| code.to_string())
}

/// Fixed notices after an action (`?pesan=…`); unknown codes show nothing.
fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "dicatat" => "Pengaduan telah dicatat di log book.",
        "assign" => "Pengaduan diteruskan ke bidang.",
        "close" => "Pengaduan ditutup.",
        "solution" => "Solusi dikirim ke Kasi untuk diperiksa.",
        "approve" => "Jawaban disetujui; staf dapat menindaklanjuti ke pengadu.",
        "return" => "Pengaduan dikembalikan ke bidang.",
        "follow-up" => "Tindak lanjut ke pengadu dicatat; pengaduan selesai.",
        "sign" => "Baris log book telah diparaf.",
        "share-identity" => "Identitas pengadu dibagikan kepada bidang.",
        "conclusion" => "Kesimpulan disimpan.",
        "decision" => "Keputusan Kepala Dinas disimpan.",
        "receipt" => "Penerimaan log book dicatat.",
        "send" => "Laporan akan dikirim ulang dalam satu menit.",
        _ => return None,
    })
}

/// The context every page of a logged-in user shares.
fn base(st: &AppState, me: &Me, title: &str, active: &str) -> Value {
    let now = month_now(st);
    let prev = now.prev();
    let mut nav = vec![("queue", "/admin".to_string(), "Antrean")];
    match me.role() {
        Role::Staf => {
            nav.push(("new", "/admin/complaints/new".into(), "Catat pengaduan"));
            nav.push(("failed", "/admin/replies/failed".into(), "Balasan gagal"));
            nav.push(("logbook", format!("/admin/logbook/{now}"), "Log book"));
        }
        Role::Kasi => {
            nav.push(("logbook", format!("/admin/logbook/{now}"), "Log book"));
            nav.push((
                "report",
                format!("/admin/reports/{prev}"),
                "Laporan bulanan",
            ));
            nav.push(("failed", "/admin/replies/failed".into(), "Balasan gagal"));
        }
        Role::Bidang => {}
        Role::Kabid => {
            nav.push((
                "logbook",
                format!("/admin/logbook/{now}"),
                "Log book & paraf",
            ));
            nav.push((
                "report",
                format!("/admin/reports/{prev}"),
                "Laporan bulanan",
            ));
        }
        Role::Kadis => {
            nav.push((
                "report",
                format!("/admin/reports/{prev}"),
                "Laporan bulanan",
            ));
            nav.push(("logbook", format!("/admin/logbook/{now}"), "Log book"));
        }
    }
    let nav: Vec<Value> = nav
        .into_iter()
        .map(|(k, href, label)| json!({"href": href, "label": label, "active": k == active}))
        .collect();
    json!({
        "title": title,
        "office": st.desk.config().office_name,
        "me": me_json(st, me),
        "csrf": me.csrf,
        "nav": nav,
        "server_now": st.desk.now().to_rfc3339(),
        "calendar_missing_year": st
            .desk
            .config()
            .policy
            .calendar
            .next_year_warning(st.desk.now())
            .map(|m| m.year),
    })
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

fn field_label(f: &str) -> &str {
    match f {
        "body" => "Isi pengaduan",
        "name" => "Nama lengkap",
        "address" => "Alamat",
        "email" => "Alamat email",
        "phone" => "No. HP",
        "handle" => "Akun",
        "target" => "Sasaran pengaduan",
        "category" => "Kategori",
        "channel" => "Sumber",
        "received_at" => "Waktu diterima",
        "letter_number" => "Nomor surat",
        "bidang" => "Bidang",
        "text" => "Isian",
        "reason" => "Alasan",
        "message" => "Tindak lanjut",
        "note" => "Catatan",
        "status" => "Status",
        "decision" => "Keputusan",
        other => other,
    }
}

fn translate(field: &str, msg: &str) -> String {
    if msg.ends_with("must not be empty") || msg == "missing" {
        return "wajib diisi".into();
    }
    if let Some(n) = msg
        .strip_prefix("longer than ")
        .and_then(|r| r.strip_suffix(" characters"))
    {
        return format!("lebih dari {n} karakter");
    }
    if msg == "too long" {
        return "terlalu panjang".into();
    }
    if msg.contains("future") {
        return "tidak boleh di masa depan".into();
    }
    match field {
        "email" => "alamat email tidak valid".into(),
        "phone" => "nomor HP tidak valid (6 sampai 16 angka)".into(),
        "category" => "kategori tidak dikenal".into(),
        "bidang" => "bidang tidak dikenal".into(),
        "channel" => "sumber harus telepon, surat, faks atau datang langsung".into(),
        _ => msg.to_string(),
    }
}

/// A desk refusal as an error page; `back` is where the user came from.
fn desk_error(e: DeskError, back: Option<&str>) -> Response {
    match e {
        DeskError::Invalid { field, message } => error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Isian tidak valid",
            &format!("{}: {}.", field_label(&field), translate(&field, &message)),
            back,
        ),
        DeskError::NotFound => error_page(
            StatusCode::NOT_FOUND,
            "Tidak ditemukan",
            "Data yang diminta tidak ditemukan atau bukan untuk bidang Anda.",
            Some("/admin"),
        ),
        DeskError::Forbidden(_) => error_page(
            StatusCode::FORBIDDEN,
            "Akses ditolak",
            "Peran Anda tidak berwenang untuk halaman atau tindakan ini.",
            Some("/admin"),
        ),
        DeskError::InvalidState { state, .. } => error_page(
            StatusCode::CONFLICT,
            "Tindakan tidak dapat dilakukan",
            &format!(
                "Tindakan ini tidak dapat dilakukan karena pengaduan sedang pada tahap “{}”.",
                state_label(state)
            ),
            back,
        ),
        DeskError::InvalidReportState { state } => error_page(
            StatusCode::CONFLICT,
            "Tindakan tidak dapat dilakukan",
            &format!(
                "Tindakan ini tidak dapat dilakukan pada laporan berstatus “{}”.",
                report_state_label(state.as_str())
            ),
            back,
        ),
        DeskError::Store(e) => store_error_page(e),
    }
}

fn forbidden() -> Response {
    desk_error(DeskError::Forbidden(String::new()), None)
}

fn bad_request(message: &str) -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Permintaan tidak valid",
        message,
        Some("/admin"),
    )
}

// The error is the finished refusal page, built once per request; boxing gains nothing.
#[allow(clippy::result_large_err)]
fn parse_month(s: &str) -> Result<Month, Response> {
    Month::parse(s).map_err(|_| bad_request("Bulan harus ditulis dengan format YYYY-MM."))
}

// The error is the finished refusal page, built once per request; boxing gains nothing.
#[allow(clippy::result_large_err)]
fn check_len(field: &str, s: &str) -> Result<(), Response> {
    if s.chars().count() > MAX_BODY_CHARS {
        return Err(desk_error(
            DeskError::invalid(field, format!("longer than {MAX_BODY_CHARS} characters")),
            None,
        ));
    }
    Ok(())
}

// ---- queue ------------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct QueueQuery {
    state: Option<String>,
    pesan: Option<String>,
}

/// States the role acts in (the "needs you" view of the home page).
fn my_states(role: Role) -> &'static [State] {
    match role {
        Role::Staf => &[State::Received, State::FollowUp],
        Role::Kasi => &[State::Triage, State::Review],
        Role::Bidang => &[State::InBidang],
        Role::Kabid => &[State::Closed],
        Role::Kadis => &[
            State::Received,
            State::Triage,
            State::InBidang,
            State::Review,
            State::FollowUp,
        ],
    }
}

fn queue_line(st: &AppState, l: &QueueLine) -> Value {
    let now = st.desk.now();
    let (cd, class) = countdown(l.due_at, now);
    json!({
        "ticket": l.ticket.as_str(),
        "channel": channel_label(l.channel),
        "state": l.state.as_str(),
        "state_label": state_label(l.state),
        "bidang": l.bidang.as_ref().map(|b| b.as_str()),
        "bidang_name": l.bidang.as_ref().map(|b| bidang_name(st, b.as_str())),
        "received": local(l.received_at, tz(st)),
        "due": l.due_at.map(|d| local(d, tz(st))),
        "due_iso": l.due_at.map(|d| d.to_rfc3339()),
        "countdown": cd,
        "countdown_class": class,
        "breached": l.breached,
    })
}

enum Filter {
    Mine,
    All,
    One(State),
}

/// `GET /admin`: the user's own queue.
pub async fn home(AxState(st): AxState<AppState>, me: Me, q: QueryResult<QueueQuery>) -> Page {
    let pesan = q.ok().and_then(|Query(q)| q.pesan);
    queue_page(&st, &me, Filter::Mine, pesan.as_deref()).await
}

/// `GET /admin/queue?state=S`.
pub async fn queue(AxState(st): AxState<AppState>, me: Me, q: QueryResult<QueueQuery>) -> Page {
    let Ok(Query(q)) = q else {
        return Err(bad_request("Parameter antrean tidak valid."));
    };
    let filter = match q.state.as_deref().map(str::trim) {
        None | Some("") | Some("all") | Some("semua") => Filter::All,
        Some("mine") => Filter::Mine,
        Some(s) => Filter::One(
            s.parse::<State>()
                .map_err(|_| bad_request("Tahap tidak dikenal. Pilih salah satu tab antrean."))?,
        ),
    };
    queue_page(&st, &me, filter, q.pesan.as_deref()).await
}

async fn queue_page(st: &AppState, me: &Me, filter: Filter, pesan: Option<&str>) -> Page {
    let all = st
        .desk
        .queue(&me.actor, None)
        .await
        .map_err(|e| desk_error(e, None))?;
    let mine = my_states(me.role());
    let count = |s: &[State]| all.iter().filter(|l| s.contains(&l.state)).count();
    let mut tabs = vec![json!({
        "href": "/admin",
        "label": "Perlu tindakan Anda",
        "count": count(mine),
        "active": matches!(filter, Filter::Mine),
    })];
    for s in [
        State::Received,
        State::Triage,
        State::InBidang,
        State::Review,
        State::FollowUp,
        State::Closed,
    ] {
        let n = count(&[s]);
        if s == State::Received && n == 0 {
            continue;
        }
        tabs.push(json!({
            "href": format!("/admin/queue?state={}", s.as_str()),
            "label": state_label(s),
            "count": n,
            "active": matches!(filter, Filter::One(x) if x == s),
        }));
    }
    tabs.push(json!({
        "href": "/admin/queue?state=all",
        "label": "Semua",
        "count": all.len(),
        "active": matches!(filter, Filter::All),
    }));
    let lines: Vec<Value> = match filter {
        Filter::Mine => all
            .iter()
            .filter(|l| mine.contains(&l.state))
            .map(|l| queue_line(st, l))
            .collect(),
        Filter::All => all.iter().map(|l| queue_line(st, l)).collect(),
        // Ask the desk again so a long closed list is not cut by the unfiltered limit.
        Filter::One(s) => st
            .desk
            .queue(&me.actor, Some(s))
            .await
            .map_err(|e| desk_error(e, None))?
            .iter()
            .map(|l| queue_line(st, l))
            .collect(),
    };
    let breached = lines.iter().filter(|l| l["breached"] == true).count();
    let title = match filter {
        Filter::Mine => "Antrean Anda".to_string(),
        Filter::All => "Semua pengaduan".to_string(),
        Filter::One(s) => format!("Antrean: {}", state_label(s)),
    };
    let now = month_now(st);
    let ctx = with(
        base(st, me, &title, "queue"),
        json!({
            "tabs": tabs,
            "lines": lines,
            "breached_count": breached,
            "notice": notice(pesan),
            "home": matches!(filter, Filter::Mine),
            "month_now": now.to_string(),
            "month_prev": now.prev().to_string(),
        }),
    );
    Ok(page(StatusCode::OK, "queue.html", &ctx))
}

// ---- complaint detail and actions ---------------------------------------------------------

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
            json!({
                "kind": reply_kind_label(r.kind.as_str()),
                "channel": channel_label(r.channel),
                "status": reply_status_label(r.status.as_str()),
                "failed": r.status == ReplyStatus::Failed,
                "attempts": r.attempts,
                "last_error": r.last_error,
                "created": local(r.created_at, tz),
                "sent": r.sent_at.map(|t| local(t, tz)),
            })
        })
        .collect::<Vec<_>>()
        .into();
    // File names can carry a name or a NIK: bidang users without a share see none.
    c["attachments"] = v
        .attachments
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "name": if v.identity_hidden { format!("Lampiran {}", i + 1) } else { a.filename.clone() },
                "content_type": a.content_type,
                "size_kb": (a.size + 1023) / 1024,
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
        "route": route,
        "bidang_options": bidang_options,
        "suggested_name": v.suggested_bidang.as_ref().map(|b| bidang_name(st, b.as_str())),
        "answer_draft": v.answer.clone().or_else(|| v.solution.clone()).unwrap_or_default(),
    });
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
        .act(&me.actor, &ticket, cmd)
        .await
        .map_err(|e| desk_error(e, Some(&back)))?;
    Ok(see_other(&format!(
        "/admin/complaints/{}?pesan={pesan}",
        enc(v.ticket.as_str())
    )))
}

// ---- manual entry ---------------------------------------------------------------------------

const MANUAL_CHANNELS: [(Channel, &str); 4] = [
    (Channel::Phone, "Telepon"),
    (Channel::Letter, "Surat"),
    (Channel::Fax, "Faks"),
    (Channel::WalkIn, "Datang langsung"),
];

fn new_page(
    st: &AppState,
    me: &Me,
    status: StatusCode,
    values: Value,
    errors: &[String],
) -> Response {
    let categories: Vec<Value> = Category::ALL
        .iter()
        .map(|c| json!({"value": c.as_str(), "label": c.label()}))
        .collect();
    let channels: Vec<Value> = MANUAL_CHANNELS
        .iter()
        .map(|(c, l)| json!({"value": c.as_str(), "label": l}))
        .collect();
    let ctx = with(
        base(st, me, "Catat pengaduan (FM-PDIP-03-01)", "new"),
        json!({
            "v": values,
            "errors": errors,
            "categories": categories,
            "channels": channels,
            "max_body": MAX_BODY_CHARS,
        }),
    );
    page(status, "new.html", &ctx)
}

/// `GET /admin/complaints/new` (staf).
pub async fn new_form(AxState(st): AxState<AppState>, me: Me) -> Page {
    if me.role() != Role::Staf {
        return Err(forbidden());
    }
    let v = json!({
        "channel": "phone",
        "received_at": render::local_input(st.desk.now(), tz(&st)),
    });
    Ok(new_page(&st, &me, StatusCode::OK, v, &[]))
}

/// Parse a `datetime-local` value (or RFC 3339) in the office time zone.
fn parse_local(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .and_then(|n| tz.from_local_datetime(&n).earliest())
        .map(|t| t.with_timezone(&Utc))
}

/// `POST /admin/complaints/new` (staf).
pub async fn new_submit(AxState(st): AxState<AppState>, me: Me, f: Fields) -> Page {
    check_csrf(&st, &me, &f)?;
    if me.role() != Role::Staf {
        return Err(forbidden());
    }
    let keys = [
        "channel",
        "received_at",
        "letter_number",
        "name",
        "address",
        "email",
        "phone",
        "target",
        "category",
        "body",
    ];
    let values: Value = keys
        .iter()
        .map(|k| (k.to_string(), Value::String(f.text(k))))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let mut errors = Vec::new();
    let channel = match f.get("channel").unwrap_or("").parse::<Channel>() {
        Ok(c) if c.is_manual() => Some(c),
        _ => {
            errors.push(format!(
                "{}: {}.",
                field_label("channel"),
                translate("channel", "")
            ));
            None
        }
    };
    let received_at = match f.opt("received_at") {
        None => None,
        Some(s) => match parse_local(s.trim(), tz(&st)) {
            Some(t) => Some(t),
            None => {
                errors.push("Waktu diterima: format tanggal dan jam tidak valid.".into());
                None
            }
        },
    };
    let body = f.text("body");
    if body.chars().count() > MAX_BODY_CHARS {
        errors.push(format!(
            "Isi pengaduan: lebih dari {MAX_BODY_CHARS} karakter."
        ));
    }
    if !errors.is_empty() {
        return Ok(new_page(
            &st,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            values,
            &errors,
        ));
    }
    let sub = Submission {
        channel,
        received_at,
        name: f.opt("name"),
        address: f.opt("address"),
        email: f.opt("email"),
        phone: f.opt("phone"),
        target: f.opt("target"),
        category: f.opt("category"),
        body,
        letter_number: f.opt("letter_number"),
        ..Default::default()
    };
    match st.desk.manual_entry(&me.actor, sub).await {
        Ok(r) => Ok(see_other(&format!(
            "/admin/complaints/{}?pesan=dicatat",
            enc(r.ticket.as_str())
        ))),
        Err(DeskError::Invalid { field, message }) => Ok(new_page(
            &st,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            values,
            &[format!(
                "{}: {}.",
                field_label(&field),
                translate(&field, &message)
            )],
        )),
        Err(e) => Err(desk_error(e, None)),
    }
}

// ---- logbook --------------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct LogbookQuery {
    diparaf: Option<u32>,
    gagal: Option<u32>,
}

/// `GET /admin/logbook`: this month's logbook.
pub async fn logbook_now(AxState(st): AxState<AppState>, _me: Me) -> Response {
    see_other(&format!("/admin/logbook/{}", month_now(&st)))
}

/// `GET /admin/logbook/{YYYY-MM}`: the printable FM-PDIP-03-02.
pub async fn logbook(
    AxState(st): AxState<AppState>,
    me: Me,
    Path(month): Path<String>,
    q: QueryResult<LogbookQuery>,
) -> Page {
    let month = parse_month(&month)?;
    let rows = st
        .desk
        .logbook(&me.actor, month)
        .await
        .map_err(|e| desk_error(e, None))?;
    let tz = tz(&st);
    let can_paraf = me.role() == Role::Kabid;
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "no": r.no,
                "ticket": r.ticket,
                "text": r.text,
                "source": r.source,
                "received": local(r.received_at, tz),
                "bidang": r.bidang.as_ref().map(|b| bidang_name(&st, b)),
                "solution": r.solution,
                "answer": r.answer,
                "status": r.status_cell(),
                "state": state_label(r.state.parse().unwrap_or(State::Triage)),
                "closed": r.state == "closed",
                "paraf": r.paraf_cell(tz),
                "signable": can_paraf && r.state == "closed" && r.paraf.is_none(),
            })
        })
        .collect();
    let signable = rows.iter().filter(|r| r["signable"] == true).count();
    let (diparaf, gagal) = match q {
        Ok(Query(q)) => (q.diparaf, q.gagal),
        Err(_) => (None, None),
    };
    let ctx = with(
        base(
            &st,
            &me,
            &format!("Log book {}", month.label_id()),
            "logbook",
        ),
        json!({
            "month": month.to_string(),
            "month_label": month.label_id(),
            "prev": month.prev().to_string(),
            "next": month.next().to_string(),
            "columns": logbook::COLUMNS,
            "rows": rows,
            "can_paraf": can_paraf,
            "signable": signable,
            "diparaf": diparaf,
            "gagal": gagal,
        }),
    );
    Ok(page(StatusCode::OK, "logbook.html", &ctx))
}

/// `POST /admin/logbook/{YYYY-MM}/paraf` (kabid): one line (`one`) or all selected (`select`).
pub async fn paraf(
    AxState(st): AxState<AppState>,
    me: Me,
    Path(month): Path<String>,
    f: Fields,
) -> Page {
    check_csrf(&st, &me, &f)?;
    let month = parse_month(&month)?;
    if me.role() != Role::Kabid {
        return Err(forbidden());
    }
    let tickets: Vec<String> = match f.get("one").filter(|t| !t.trim().is_empty()) {
        Some(t) => vec![t.trim().to_string()],
        None => f.all("select").map(|t| t.trim().to_string()).collect(),
    };
    let mut seen = std::collections::HashSet::new();
    let (mut ok, mut failed) = (0u32, 0u32);
    for t in tickets
        .iter()
        .filter(|t| seen.insert(t.as_str()))
        .take(1000)
    {
        match st.desk.act(&me.actor, t, Command::Sign).await {
            Ok(_) => ok += 1,
            Err(DeskError::Store(e)) if !e.is_transient() => return Err(store_error_page(e)),
            Err(_) => failed += 1,
        }
    }
    Ok(see_other(&format!(
        "/admin/logbook/{month}?diparaf={ok}&gagal={failed}"
    )))
}

/// `GET /admin/logbook/{YYYY-MM}/export/{csv|xlsx}`.
pub async fn export(
    AxState(st): AxState<AppState>,
    me: Me,
    Path((month, format)): Path<(String, String)>,
) -> Page {
    let month = parse_month(&month)?;
    if format != "csv" && format != "xlsx" {
        return Err(not_found_page());
    }
    let rows = st
        .desk
        .logbook(&me.actor, month)
        .await
        .map_err(|e| desk_error(e, None))?;
    let tz = tz(&st);
    let name = format!("logbook-FM-PDIP-03-02-{month}.{format}");
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    if format == "csv" {
        return Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            logbook::to_csv(&rows, tz),
        )
            .into_response());
    }
    match aduan_digest::xlsx::logbook_xlsx(&st.desk.config().office_name, month, &rows, tz) {
        Ok(bytes) => Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    ),
                ),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            bytes,
        )
            .into_response()),
        Err(e) => {
            tracing::error!(error = %e, "logbook xlsx failed");
            Err(error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Kesalahan server",
                "Berkas XLSX tidak dapat dibuat.",
                None,
            ))
        }
    }
}

// ---- monthly report -------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct ReportQuery {
    pesan: Option<String>,
}

/// `GET /admin/reports`: the last ended month.
pub async fn report_latest(AxState(st): AxState<AppState>, _me: Me) -> Response {
    see_other(&format!("/admin/reports/{}", month_now(&st).prev()))
}

/// The month's report, built on first request once the month has ended (as the API does).
/// `Ok(None)`: the month has not ended yet.
async fn load_report(st: &AppState, me: &Me, month: Month) -> Result<Option<ReportView>, Response> {
    match st.desk.report(&me.actor, month).await {
        Ok(v) => Ok(Some(v)),
        Err(DeskError::NotFound) => {
            if month >= month_now(st) {
                return Ok(None);
            }
            st.desk
                .build_report(month)
                .await
                .map_err(|e| desk_error(e, None))?;
            st.desk
                .report(&me.actor, month)
                .await
                .map(Some)
                .map_err(|e| desk_error(e, None))
        }
        Err(e) => Err(desk_error(e, None)),
    }
}

fn category_key_label(k: &str) -> String {
    k.parse::<Category>()
        .map(|c| c.label().to_string())
        .unwrap_or_else(|_| "Tanpa kategori".into())
}

fn bidang_key_label(st: &AppState, k: &str) -> String {
    if k == "belum_ditentukan" {
        "Belum ditentukan".into()
    } else {
        bidang_name(st, k)
    }
}

fn report_json(st: &AppState, me: &Me, month: Month, v: &ReportView) -> Value {
    let tz = tz(st);
    let now = st.desk.now();
    let rep: Option<MonthlyReport> = serde_json::from_value(v.report.clone()).ok();
    let rows = |m: &std::collections::BTreeMap<String, usize>, label: &dyn Fn(&str) -> String| {
        m.iter()
            .map(|(k, n)| json!({"label": label(k), "count": n}))
            .collect::<Vec<_>>()
    };
    let figures = rep.as_ref().map(|r| {
        json!({
            "complaints": r.totals.complaints,
            "by_channel": rows(&r.totals.by_channel, &|k| k.parse::<Channel>().map(|c| c.source_label().to_string()).unwrap_or_else(|_| k.to_string())),
            "by_category": rows(&r.totals.by_category, &category_key_label),
            "by_bidang": rows(&r.totals.by_bidang, &|k| bidang_key_label(st, k)),
            "by_status": rows(&r.totals.by_status, &|k| match k {
                "selesai" => "Selesai".to_string(),
                "tidak" => "Tidak selesai".to_string(),
                _ => "Belum selesai".to_string(),
            }),
            "steps": r.steps.iter().map(|s| json!({
                "label": step_label(s.step),
                "count": s.count,
                "within": s.within_standard,
                "pct": s.within_standard_pct,
                "median": s.median_minutes,
                "p90": s.p90_minutes,
            })).collect::<Vec<_>>(),
            "problems": r.frequent_problems.iter().map(|p| json!({
                "term": p.term, "count": p.count, "examples": p.examples,
            })).collect::<Vec<_>>(),
            "backlog": r.backlog,
            "breaches": r.breaches.iter().map(|b| json!({
                "ticket": b.ticket,
                "step": step_label(b.step),
                "responsible": render::role_label(b.responsible),
                "due": b.due_at.map(|d| local(d, tz)),
                "done": b.done_at.map(|d| local(d, tz)),
            })).collect::<Vec<_>>(),
            "change": r.change,
        })
    });
    let signed = |s: &Option<aduan_core::desk_reports::Signed>| {
        s.as_ref()
            .map(|s| json!({"text": s.text, "by": s.by, "at": local(s.at, tz)}))
    };
    let (decide_cd, decide_class) = if v.decision.is_none() {
        countdown(v.decide_due_at, now)
    } else {
        (String::new(), "")
    };
    let (receive_cd, receive_class) = if v.receipt.is_none() {
        countdown(v.receive_due_at, now)
    } else {
        (String::new(), "")
    };
    let state = v.state.as_str();
    let role = me.role();
    json!({
        "month": month.to_string(),
        "month_label": month.label_id(),
        "state": state,
        "state_label": report_state_label(state),
        "submitted": v.submitted_at.map(|t| local(t, tz)),
        "conclusion": signed(&v.conclusion),
        "decision": signed(&v.decision),
        "receipt": signed(&v.receipt),
        "decide_due": v.decide_due_at.map(|t| local(t, tz)),
        "decide_countdown": decide_cd,
        "decide_class": decide_class,
        "decide_breached": v.decide_breached,
        "receive_due": v.receive_due_at.map(|t| local(t, tz)),
        "receive_countdown": receive_cd,
        "receive_class": receive_class,
        "receive_breached": v.receive_breached,
        "delivery_attempts": v.delivery_attempts,
        "last_error": v.last_error,
        "resend_requested": v.resend_requested,
        "figures": figures,
        "can": {
            "conclusion": role == Role::Kasi && state != "received",
            "decision": role == Role::Kadis && state == "submitted",
            "receipt": role == Role::Kasi && state == "decided",
            "send": role == Role::Kasi,
        },
    })
}

/// `GET /admin/reports/{YYYY-MM}`.
pub async fn report(
    AxState(st): AxState<AppState>,
    me: Me,
    Path(month): Path<String>,
    q: QueryResult<ReportQuery>,
) -> Page {
    let month = parse_month(&month)?;
    let pesan = q.ok().and_then(|Query(q)| q.pesan);
    let title = format!("Laporan bulanan {}", month.label_id());
    let Some(v) = load_report(&st, &me, month).await? else {
        let ctx = with(
            base(&st, &me, &title, "report"),
            json!({
                "pending": true,
                "r": {"month": month.to_string(), "month_label": month.label_id()},
                "prev": month.prev().to_string(),
            }),
        );
        return Ok(page(StatusCode::NOT_FOUND, "report.html", &ctx));
    };
    let ctx = with(
        base(&st, &me, &title, "report"),
        json!({
            "pending": false,
            "r": report_json(&st, &me, month, &v),
            "prev": month.prev().to_string(),
            "next": if month.next() < month_now(&st) { Some(month.next().to_string()) } else { None },
            "notice": notice(pesan.as_deref()),
        }),
    );
    Ok(page(StatusCode::OK, "report.html", &ctx))
}

/// `GET /admin/reports/{YYYY-MM}/chart/{category|bidang|steps}.png`.
pub async fn chart(
    AxState(st): AxState<AppState>,
    me: Me,
    Path((month, file)): Path<(String, String)>,
) -> Page {
    let month = parse_month(&month)?;
    let cid = match file.as_str() {
        "category.png" => "chart-category",
        "bidang.png" => "chart-bidang",
        "steps.png" => "chart-steps",
        _ => return Err(not_found_page()),
    };
    let v = load_report(&st, &me, month)
        .await?
        .ok_or_else(not_found_page)?;
    let rep: MonthlyReport = serde_json::from_value(v.report).map_err(|_| not_found_page())?;
    let names: Vec<(String, String)> = st
        .desk
        .config()
        .bidang
        .iter()
        .map(|b| (b.code.to_string(), b.name.clone()))
        .collect();
    let body =
        aduan_digest::render::render(&st.desk.config().office_name, month, &rep, &names, tz(&st))
            .map_err(|e| {
            tracing::error!(error = %e, "report charts failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Kesalahan server",
                "Grafik tidak dapat dibuat.",
                None,
            )
        })?;
    let png = body
        .images
        .into_iter()
        .find(|(id, _)| id == cid)
        .map(|(_, b)| b)
        .ok_or_else(not_found_page)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// `POST /admin/reports/{YYYY-MM}/{conclusion|decision|receipt|send}`.
pub async fn report_act(
    AxState(st): AxState<AppState>,
    me: Me,
    Path((month, action)): Path<(String, String)>,
    f: Fields,
) -> Page {
    check_csrf(&st, &me, &f)?;
    let month = parse_month(&month)?;
    let back = format!("/admin/reports/{month}");
    let a = match action.as_str() {
        "conclusion" | "decision" => {
            let text = f.text("text");
            check_len("text", &text)?;
            if action == "conclusion" {
                ReportAction::Conclusion(text)
            } else {
                ReportAction::Decision(text)
            }
        }
        "receipt" => ReportAction::Receipt,
        "send" => ReportAction::Resend,
        _ => return Err(not_found_page()),
    };
    st.desk
        .report_act(&me.actor, month, a)
        .await
        .map_err(|e| desk_error(e, Some(&back)))?;
    Ok(see_other(&format!("{back}?pesan={action}")))
}

// ---- failed replies -------------------------------------------------------------------------

/// Complaints looked at by the failed-replies page at most.
const FAILED_SCAN_LIMIT: usize = 500;

/// `GET /admin/replies/failed`: replies that could not be delivered, of the complaints
/// received this month and last month, with what staff need to answer another way.
pub async fn failed_replies(AxState(st): AxState<AppState>, me: Me) -> Page {
    if !matches!(me.role(), Role::Staf | Role::Kasi) {
        return Err(forbidden());
    }
    let tz = tz(&st);
    let now = month_now(&st);
    let mut items = Vec::new();
    let mut scanned = 0usize;
    'months: for m in [now, now.prev()] {
        let rows = st
            .desk
            .logbook(&me.actor, m)
            .await
            .map_err(|e| desk_error(e, None))?;
        for r in rows.iter().rev() {
            let manual = r
                .channel
                .parse::<Channel>()
                .map(|c| c.is_manual())
                .unwrap_or(true);
            if manual {
                continue;
            }
            if scanned >= FAILED_SCAN_LIMIT {
                break 'months;
            }
            scanned += 1;
            let v = match st.desk.view(&me.actor, &r.ticket).await {
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
    }
    let ctx = with(
        base(&st, &me, "Balasan yang gagal terkirim", "failed"),
        json!({
            "items": items,
            "months": [now.label_id(), now.prev().label_id()],
            "limited": scanned >= FAILED_SCAN_LIMIT,
        }),
    );
    Ok(page(StatusCode::OK, "failed.html", &ctx))
}

// ---- static and fallbacks -------------------------------------------------------------------

/// `GET /admin/static/admin.css`.
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        render::STYLESHEET,
    )
        .into_response()
}

/// `GET /admin/static/admin.js`.
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        render::SCRIPT,
    )
        .into_response()
}

fn not_found_page() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Halaman tidak ditemukan",
        "Halaman yang diminta tidak ada.",
        Some("/admin"),
    )
}

/// Any other path under `/admin/`.
pub async fn not_found() -> Response {
    not_found_page()
}
