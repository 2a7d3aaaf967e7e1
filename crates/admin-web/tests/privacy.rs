//! The privacy oracle (GUIDE habit 18) over the admin pages a division opens, on SQLite and
//! PostgreSQL, property-based: random citizens (identity spelled as citizens spell it, in
//! the text, in the kasi's routing note, in an attachment named `KTP_<nama>_<NIK>.jpg`,
//! and in a reply error that quotes their address) and every page of a bidang user — home,
//! queues, each complaint before and after its solution, the refused logbook, export and
//! report pages, a 404.

mod common;

use aduan_core::desk::Submission;
use aduan_core::model::{NewAttachment, ReplyOutcome};
use aduan_core::testing::privacy::{PrivacyOracle, citizen, sample};
use aduan_core::types::{BidangCode, Channel};
use aduan_core::workflow::Command;
use common::*;
use reqwest::StatusCode;

/// Random citizens per backend.
const CASES: usize = 12;

struct Page {
    status: StatusCode,
    location: String,
    body: String,
}

/// A logged-in, cookie-keeping client that does not follow redirects.
struct Session {
    c: reqwest::Client,
    base: String,
}

fn csrf_of(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
    re.captures(html).expect("a csrf field")[1].to_string()
}

impl Session {
    async fn login(app: &TestApp, user: &str) -> Session {
        let s = Session {
            c: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
        };
        let token = csrf_of(&s.get("/admin/login").await.body);
        let r = s
            .post(
                "/admin/login",
                &[
                    ("username", user),
                    ("password", password_of(user)),
                    ("csrf", &token),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "login {user}");
        s
    }
    async fn get(&self, path: &str) -> Page {
        let r = self
            .c
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        Page {
            status: r.status(),
            location: location(&r),
            body: r.text().await.unwrap(),
        }
    }
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .c
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        Page {
            status: r.status(),
            location: location(&r),
            body: r.text().await.unwrap(),
        }
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn bidang_pages_carry_no_identity(postgres: bool) {
    let app = spawn_on(postgres).await;
    let (seed, citizens) = sample(citizen(), CASES);
    eprintln!("privacy oracle seed: {seed} (replay with ADUAN_ORACLE_SEED={seed})");
    let kasi = app.actor("ayu.kasi");
    let mut filed = Vec::new();
    for c in &citizens {
        let id = c.identity();
        let r = app
            .desk
            .intake()
            .submit(Submission {
                channel: Some(Channel::Web),
                name: id.name,
                address: id.address,
                email: id.email,
                phone: Some(c.phone.clone()),
                target: Some("Loket KTP-el".into()),
                category: Some("pelayanan".into()),
                body: c.complaint_text(true),
                attachments: vec![NewAttachment {
                    filename: c.attachment_name.clone(),
                    content_type: "image/jpeg".into(),
                    data: vec![0xff, 0xd8, 0xff],
                }],
                with_access_code: true,
                ..Default::default()
            })
            .await
            .unwrap();
        let ticket = r.ticket.to_string();
        app.desk
            .staff()
            .act(
                &kasi,
                &ticket,
                Command::Assign {
                    bidang: BidangCode::parse("dafduk").unwrap(),
                    note: Some(format!(
                        "Pengadu {} ({}), HP {}",
                        c.name_spelled, c.nik_spelled, c.phone_spelled
                    )),
                },
            )
            .await
            .unwrap();
        filed.push((ticket, c.clone(), PrivacyOracle::for_citizen(c)));
    }
    // Each acknowledgement failed with an error that quotes the address, as rows written
    // before errors were stored without their recipient may do: the view masks it.
    let items = app
        .desk
        .store()
        .claim_replies(
            aduan_core::desk::Clock::now(&app.clock),
            chrono::Duration::minutes(1),
            100,
        )
        .await
        .unwrap();
    assert_eq!(items.len(), CASES);
    for item in &items {
        app.desk
            .store()
            .complete_reply(
                item,
                ReplyOutcome::Failed {
                    error: format!(
                        "permanent error (550): 5.1.1 <{}>: Recipient address rejected",
                        item.recipient
                    ),
                },
            )
            .await
            .unwrap();
    }

    let bidang = Session::login(&app, "dafduk1").await;
    let all = |surface: &str, body: &str| {
        for (_, _, o) in &filed {
            o.assert_clean(surface, body);
        }
    };
    for path in [
        "/admin",
        "/admin/queue?state=all",
        "/admin/queue?state=in_bidang",
    ] {
        let p = bidang.get(path).await;
        assert_eq!(p.status, StatusCode::OK, "{path}");
        all(path, &p.body);
    }
    for (ticket, _, oracle) in &filed {
        let path = format!("/admin/complaints/{ticket}");
        let p = bidang.get(&path).await;
        assert_eq!(p.status, StatusCode::OK, "{path}");
        assert!(p.body.contains("Identitas pelapor dirahasiakan"), "{path}");
        assert!(p.body.contains("550"), "the failed reply is shown: {path}");
        assert!(
            p.body.contains("ADU-202601-0007"),
            "tickets survive: {path}"
        );
        oracle.assert_clean(&path, &p.body);
        let r = bidang
            .post(
                &format!("{path}/solution"),
                &[
                    ("text", "KTP-el sudah dicetak; silakan ambil di loket 3."),
                    ("csrf", &csrf_of(&p.body)),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let after = bidang.get(&r.location).await;
        assert_eq!(after.status, StatusCode::OK);
        oracle.assert_clean(&format!("{path} after the solution"), &after.body);
    }
    // Pages a division may not open: refused, and the refusal is clean.
    for path in [
        "/admin/logbook/2026-03",
        "/admin/logbook/2026-03/export/csv",
        "/admin/logbook/2026-03/export/xlsx",
        "/admin/reports/2026-03",
        "/admin/replies/failed",
        "/admin/complaints/ADU-202603-9999",
    ] {
        let p = bidang.get(path).await;
        assert!(
            p.status == StatusCode::FORBIDDEN || p.status == StatusCode::NOT_FOUND,
            "{path}: {}",
            p.status
        );
        all(path, &p.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidang_pages_carry_no_identity_sqlite() {
    bidang_pages_carry_no_identity(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidang_pages_carry_no_identity_postgres() {
    bidang_pages_carry_no_identity(true).await
}
