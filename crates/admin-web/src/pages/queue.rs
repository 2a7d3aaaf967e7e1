//! `GET /admin` (the user's own queue) and `GET /admin/queue?state=S` (one tab).
//!
//! The lines come from [`Desk::queue`](aduan_core::desk::Desk::queue), which already limits
//! a bidang user to the division's complaints and masks identity; this module only groups
//! them into tabs ("needs you" by role, one per state, all) and formats due times. The tab
//! counts come from one unfiltered call; a single-state tab asks the desk again so that the
//! unfiltered limit does not cut a long list.

use aduan_core::desk::QueueLine;
use aduan_core::types::{Role, State};
use axum::extract::{Query, State as AxState};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{QueryResult, bad_request, base, bidang_name, desk_error, month_now, notice, tz, with};
use crate::AppState;
use crate::auth::{Me, Page};
use crate::render::{channel_label, countdown, local, page, state_label};

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
            State::WaitingCitizen,
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
        .staff()
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
        State::WaitingCitizen,
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
            .staff()
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
