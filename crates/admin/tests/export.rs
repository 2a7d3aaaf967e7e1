//! The staff API's logbook exports and report reads, through the real router.
//!
//! - Exports are written page by page: more than one page of complaints takes more than
//!   one page query and the body arrives in several chunks (not one string built first).
//! - CSV cells never start a formula (CSV injection: `=`, `+`, `-`, `@`, TAB, CR).
//! - `GET /api/v1/admin/reports/{month}` of an ended month only reads: no report row, no
//!   outbox row, on SQLite and PostgreSQL; a staff step (POST) builds the draft.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use aduan_core::desk::{Desk, Submission};
use aduan_core::model::NewUser;
use aduan_core::store::Store;
use aduan_core::testing::{ManualClock, desk_config};
use aduan_core::types::{BidangCode, Channel, Role, Username};
use aduan_core::workflow::{Actor, Command, ReviewDecision};
use aduan_store::testing::{self, FaultStore};
use axum::body::Body;
use axum::extract::Request;
use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use tower::ServiceExt;

fn wita(m: u32, d: u32, h: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Makassar
        .with_ymd_and_hms(2026, m, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn actor(role: Role, bidang: Option<&str>) -> Actor {
    Actor::Staff {
        username: format!("{}.api", role.as_str()),
        role,
        bidang: bidang.map(|b| BidangCode::parse(b).unwrap()),
    }
}

/// A user of `role` whose API token is `<role>-token-0123456789abcdef`.
async fn user(desk: &Desk, role: Role, bidang: Option<&str>) -> String {
    let token = format!("{}-token-0123456789abcdef", role.as_str());
    desk.accounts()
        .create(
            &Actor::System,
            NewUser {
                username: Username::parse(&format!("{}.api", role.as_str())).unwrap(),
                role,
                bidang: bidang.map(|b| BidangCode::parse(b).unwrap()),
                display_name: None,
                token_hash: aduan_core::secret::hash_secret(&token),
                password_hash: None,
                created_at: Utc::now(),
            },
        )
        .await
        .unwrap();
    token
}

/// Status and the body's chunks as they arrived.
async fn get(desk: &Desk, token: &str, uri: &str) -> (u16, Vec<Vec<u8>>) {
    send(desk, token, "GET", uri).await
}

async fn send(desk: &Desk, token: &str, method: &str, uri: &str) -> (u16, Vec<Vec<u8>>) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(if method == "POST" {
            Body::from(r#"{"text": "Masalah terbanyak: antrian KTP-el."}"#)
        } else {
            Body::empty()
        })
        .unwrap();
    let resp = aduan_admin::router(desk.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let mut chunks = Vec::new();
    let mut s = resp.into_body().into_data_stream();
    while let Some(c) = s.next().await {
        chunks.push(c.expect("the body streams without error").to_vec());
    }
    (status, chunks)
}

async fn desk_on(store: Arc<dyn Store>) -> (Desk, Arc<FaultStore>, ManualClock) {
    store.migrate().await.unwrap();
    let fault = Arc::new(FaultStore::new(store));
    let clock = ManualClock::new(wita(3, 2, 8));
    let desk = Desk::new(
        fault.clone(),
        Arc::new(clock.clone()),
        desk_config([Channel::Email]),
    );
    (desk, fault, clock)
}

async fn submit(desk: &Desk, body: &str) -> String {
    let sub = Submission {
        channel: Some(Channel::Web),
        name: Some("Made Sudarma".into()),
        body: body.into(),
        ..Default::default()
    };
    desk.intake().submit(sub).await.unwrap().ticket.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_written_page_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::connect(&testing::fresh_sqlite_url(dir.path()))
        .await
        .unwrap();
    let (desk, fault, _clock) = desk_on(store).await;
    let kasi = user(&desk, Role::Kasi, None).await;
    let n = 2 * aduan_core::logbook::PAGE_ROWS as usize + 7;
    for i in 0..n {
        submit(&desk, &format!("KTP-el nomor {i} belum jadi")).await;
    }
    for format in ["csv", "html", "json", "xlsx"] {
        let before = fault.pages_read.load(Ordering::SeqCst);
        let (status, chunks) = get(
            &desk,
            &kasi,
            &format!("/api/v1/admin/logbook?month=2026-03&format={format}"),
        )
        .await;
        assert_eq!(status, 200, "{format}");
        let pages = fault.pages_read.load(Ordering::SeqCst) - before;
        assert_eq!(pages, 3, "{format}: one store query per page of 500");
        let body: Vec<u8> = chunks.concat();
        if format == "xlsx" {
            assert_eq!(&body[..4], b"PK\x03\x04", "a zip");
            continue;
        }
        // The head and each page arrive as chunks of their own.
        assert!(chunks.len() >= 4, "{format}: {} chunks", chunks.len());
        let text = String::from_utf8(body).unwrap();
        match format {
            "csv" => assert_eq!(text.matches("\r\n").count(), n + 1),
            "html" => assert_eq!(text.matches("<td class=\"no\">").count(), n),
            _ => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["rows"].as_array().unwrap().len(), n);
                assert_eq!(v["rows"][n - 1]["no"], n);
            }
        }
    }
    // The division still gets 403, before any page is read.
    let bidang = user(&desk, Role::Bidang, Some("dafduk")).await;
    let before = fault.pages_read.load(Ordering::SeqCst);
    let (status, _) = get(
        &desk,
        &bidang,
        "/api/v1/admin/logbook?month=2026-03&format=csv",
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(fault.pages_read.load(Ordering::SeqCst), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_cells_never_start_a_formula() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::connect(&testing::fresh_sqlite_url(dir.path()))
        .await
        .unwrap();
    let (desk, _fault, _clock) = desk_on(store).await;
    let kasi_token = user(&desk, Role::Kasi, None).await;
    let (kasi, dafduk, staf) = (
        actor(Role::Kasi, None),
        actor(Role::Bidang, Some("dafduk")),
        actor(Role::Staf, None),
    );
    // The cells a citizen or staff writes from their first character: the division's
    // solution and the answer to the citizen.
    let leads = [
        ("\t=HYPERLINK(\"http://x\")", "\r=1+1"),
        ("=SUM(A1)", "+1+1"),
        ("-2+3", "@SUM(A1)"),
        (" =1+1", "\"=1+1"),
    ];
    for (solution, answer) in leads {
        let t = submit(&desk, "KTP-el belum jadi").await;
        let steps = [
            (
                &kasi,
                Command::Assign {
                    bidang: BidangCode::parse("dafduk").unwrap(),
                    note: None,
                },
            ),
            (
                &dafduk,
                Command::Solution {
                    text: solution.into(),
                },
            ),
            (
                &kasi,
                Command::Review {
                    decision: ReviewDecision::Approve,
                    note: None,
                },
            ),
            (
                &staf,
                Command::FollowUp {
                    message: answer.into(),
                },
            ),
        ];
        for (a, c) in steps {
            desk.staff().act(a, &t, c).await.unwrap();
        }
    }
    let (status, chunks) = get(
        &desk,
        &kasi_token,
        "/api/v1/admin/logbook?month=2026-03&format=csv",
    )
    .await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(chunks.concat()).unwrap();
    for (solution, answer) in leads {
        for cell in [solution, answer] {
            let quoted = format!("\"'{}", cell.replace('"', "\"\""));
            assert!(csv.contains(&quoted), "{cell:?} not defused in {csv}");
        }
    }
}

async fn report_get_is_read_only(store: Arc<dyn Store>) {
    let (desk, _fault, clock) = desk_on(store.clone()).await;
    let kasi = user(&desk, Role::Kasi, None).await;
    submit(&desk, "Antrian KTP-el panjang").await;
    submit(&desk, "Antrian KTP-el tidak tertib").await;
    // The month has not ended: 404, nothing built.
    let (status, _) = get(&desk, &kasi, "/api/v1/admin/reports/2026-03").await;
    assert_eq!(status, 404);
    clock.set(wita(4, 3, 9));
    let replies_before = store.next_reply_due().await.unwrap();
    let audit_before = format!("{:?}", desk.audit().verify().await.unwrap());
    for _ in 0..2 {
        let (status, chunks) = get(&desk, &kasi, "/api/v1/admin/reports/2026-03").await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&chunks.concat()).unwrap();
        assert_eq!(v["stored"], false, "{v}");
        assert_eq!(v["state"], "draft");
        assert_eq!(v["report"]["totals"]["complaints"], 2);
    }
    // No report row (so nothing for the digest scheduler to mail), no outbox row, no
    // audit entry.
    assert!(store.get_report("2026-03").await.unwrap().is_none());
    assert_eq!(store.next_reply_due().await.unwrap(), replies_before);
    assert_eq!(
        format!("{:?}", desk.audit().verify().await.unwrap()),
        audit_before
    );
    // A staff step (a POST) builds the draft and records the step.
    let (status, chunks) = send(
        &desk,
        &kasi,
        "POST",
        "/api/v1/admin/reports/2026-03/conclusion",
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&chunks.concat()));
    let stored = store.get_report("2026-03").await.unwrap().expect("built");
    let v: serde_json::Value = serde_json::from_str(&stored.report_json).unwrap();
    assert_eq!(v["totals"]["complaints"], 2);
    let (_, chunks) = get(&desk, &kasi, "/api/v1/admin/reports/2026-03").await;
    let v: serde_json::Value = serde_json::from_slice(&chunks.concat()).unwrap();
    assert_eq!(v["stored"], true, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_report_get_is_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::connect(&testing::fresh_sqlite_url(dir.path()))
        .await
        .unwrap();
    report_get_is_read_only(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_report_get_is_read_only() {
    let url = testing::fresh_postgres_url().await;
    let store = testing::connect(&url).await.unwrap();
    report_get_is_read_only(store.clone()).await;
    drop(store);
    testing::drop_postgres_database(&url).await;
}
