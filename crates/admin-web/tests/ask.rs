//! The question to the citizen from the admin complaint page (CSRF form), on SQLite and
//! PostgreSQL: the kasi's form in triage and review, the division's in in_bidang, none for
//! other roles (and a post of theirs refused); the page and the queue show the open
//! question; the citizen's answer and the rating appear; a division reads them masked.

mod common;

use aduan_core::desk::{Inbound, Received, Submission, ThreadHint};
use aduan_core::types::{BidangCode, Channel, State, TicketNumber};
use aduan_core::workflow::Command;
use common::*;
use reqwest::StatusCode;
use reqwest::header::LOCATION;

struct Browser {
    c: reqwest::Client,
    base: String,
}

impl Browser {
    async fn login(app: &TestApp, user: &str) -> Browser {
        let b = Browser {
            c: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
        };
        let page = b.get("/admin/login").await.1;
        let r = b
            .post(
                "/admin/login",
                &[
                    ("username", user),
                    ("password", password_of(user)),
                    ("csrf", &csrf_of(&page)),
                ],
            )
            .await;
        assert_eq!(r.0, StatusCode::SEE_OTHER, "login {user}: {}", r.1);
        b
    }
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .c
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap().replace("&#x2f;", "/"))
    }
    /// POST returning (status, body, Location).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let r = self
            .c
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let loc = r
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (r.status(), r.text().await.unwrap(), loc)
    }
}

fn csrf_of(html: &str) -> String {
    let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
    re.captures(html)
        .unwrap_or_else(|| panic!("no csrf field in page:\n{html}"))[1]
        .to_string()
}

async fn state_of(app: &TestApp, ticket: &str) -> State {
    app.desk
        .staff()
        .view(&app.actor("ayu.kasi"), ticket)
        .await
        .unwrap()
        .state
}

async fn ask_from_the_complaint_page(postgres: bool) {
    let app = spawn_on(postgres).await;
    let ticket = app.web_complaint(&body_with_identity()).await;
    let page = format!("/admin/complaints/{ticket}");
    let ask = format!("/admin/complaints/{ticket}/ask");
    let kasi = Browser::login(&app, "ayu.kasi").await;
    let staf = Browser::login(&app, "sri.staf").await;
    let dafduk = Browser::login(&app, "dafduk1").await;

    let (s, html) = kasi.get(&page).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("id=\"form-ask\""), "the kasi asks in triage");
    let (_, staf_html) = staf.get(&page).await;
    assert!(!staf_html.contains("id=\"form-ask\""));
    // No token, no question; a staf's post with its own token is refused by role.
    let question = format!("Apakah {CITIZEN_NAME} dapat dihubungi di {CITIZEN_PHONE}?");
    let (s, body, _) = kasi.post(&ask, &[("question", question.as_str())]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.contains("CSRF"), "{body}");
    let (s, _, _) = staf
        .post(
            &ask,
            &[
                ("question", question.as_str()),
                ("csrf", &csrf_of(&staf_html)),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(state_of(&app, &ticket).await, State::Triage);

    let (s, _, loc) = kasi
        .post(
            &ask,
            &[("question", question.as_str()), ("csrf", &csrf_of(&html))],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(loc, format!("/admin/complaints/{ticket}?pesan=ask"));
    assert_eq!(state_of(&app, &ticket).await, State::WaitingCitizen);
    let (_, html) = kasi.get(&loc).await;
    assert!(
        html.contains("waktu langkah ini dihentikan sementara"),
        "notice"
    );
    assert!(
        html.contains("id=\"open-question\"") && html.contains("Sariasih"),
        "{html}"
    );
    assert!(html.contains("Menunggu jawaban pengadu"));
    assert!(!html.contains("id=\"form-ask\""), "asked already");
    let (_, queue) = kasi.get("/admin/queue?state=waiting_citizen").await;
    assert!(queue.contains(&ticket), "{queue}");
    // Asking again from a stale page is the state's 409.
    let (s, _, _) = kasi
        .post(&ask, &[("question", "Lagi?"), ("csrf", &csrf_of(&html))])
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // The citizen answers; the kasi routes it; the division asks from its step.
    app.clock.advance(chrono::Duration::hours(1));
    // By e-mail from the address the web complaint gave, naming the ticket.
    let r = app
        .desk
        .intake()
        .receive(Inbound {
            submission: Submission {
                channel: Some(Channel::Email),
                external_id: Some("msgid:jawaban-1@contoh.id".into()),
                email: Some(CITIZEN_EMAIL.into()),
                body: format!("Ya, di {CITIZEN_PHONE}"),
                ..Default::default()
            },
            thread: vec![ThreadHint::Ticket(TicketNumber::parse(&ticket).unwrap())],
            cursor: None,
        })
        .await
        .unwrap();
    assert!(matches!(r, Received::Appended { .. }), "{r:?}");
    assert_eq!(state_of(&app, &ticket).await, State::Triage);
    app.desk
        .staff()
        .act(
            &app.actor("ayu.kasi"),
            &ticket,
            Command::Assign {
                bidang: BidangCode::parse("dafduk").unwrap(),
                note: None,
            },
        )
        .await
        .unwrap();
    let (_, html) = kasi.get(&page).await;
    assert!(
        !html.contains("id=\"form-ask\""),
        "in_bidang is the division's step"
    );
    let (_, html) = dafduk.get(&page).await;
    assert!(html.contains("id=\"form-ask\""));
    for n in identity_needles() {
        assert!(!html.contains(n), "`{n}` shown to the division:\n{html}");
    }
    assert!(
        html.contains("Pertanyaan ke pengadu"),
        "the history shows the question"
    );
    assert!(html.contains("Jawaban pengadu"), "and the answer");
    let (s, _, _) = dafduk
        .post(
            &ask,
            &[("question", "Kapan KK hilang?"), ("csrf", &csrf_of(&html))],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, html) = dafduk.get(&page).await;
    assert!(html.contains("Kapan KK hilang?"));
    for n in identity_needles() {
        assert!(!html.contains(n), "`{n}` shown to the division:\n{html}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_from_the_complaint_page_on_sqlite() {
    ask_from_the_complaint_page(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_from_the_complaint_page_on_postgres() {
    ask_from_the_complaint_page(true).await;
}
