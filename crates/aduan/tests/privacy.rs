//! The privacy oracle (GUIDE habit 18) over every surface a division, an error text, a
//! metric or the mailed digest reaches, on SQLite and PostgreSQL, property-based: random
//! citizens (names, addresses, e-mails, phones, NIKs in the spellings citizens use, glued
//! to words; attachments named `KTP_<nama>_<NIK>.jpg`) file complaints by the JSON API and
//! the web form, and the procedure runs through the real staff API with the real SMTP
//! sender against a server that refuses the citizen's address quoting it (550).
//!
//! Surfaces: the staff API as a bidang (queue, detail with messages, history, replies and
//! their errors, attachments, the answers to its own actions), the logbook in every format
//! as a bidang asks for it (refused), the masked logbook in every format (JSON, CSV, HTML,
//! XLSX), stored reply errors as any staff member sees them,
//! API error texts, `GET /metrics`, and the month digest: the JSON of `aduan digest`, every
//! MIME part of the mail an SMTP server receives, the XLSX inside it (every XML member),
//! the charts' PNG bytes.

mod common;

use std::io::Read as _;
use std::time::Duration;

use aduan_channel_email::testing::{RcptReply, SmtpSink};
use aduan_core::testing::privacy::{Citizen, PrivacyOracle, citizen, sample};
use aduan_core::types::Role;
use common::{Backend, Options, TestApp, spawn};
use serde_json::{Value, json};

/// Complaints (random citizens) per backend.
const CASES: usize = 16;

fn email_config(port: u16) -> String {
    format!(
        "[channels.email]\nenabled = true\nimap_host = \"\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsmtp_security = \"none\"\nfrom = \"Pengaduan <pengaduan@buleleng.example>\"\n"
    )
}

struct Filed {
    ticket: String,
    citizen: Citizen,
    oracle: PrivacyOracle,
}

/// File `c`'s complaint: by the JSON API (even `i`) or the web form with an attachment.
async fn file(app: &TestApp, i: usize, c: &Citizen) -> String {
    if i.is_multiple_of(2) {
        let (ticket, _) = app
            .submit(json!({
                "name": c.name, "address": c.address, "email": c.email, "phone": c.phone,
                "target": "Loket KTP-el", "category": "pelayanan", "body": c.complaint_text(true),
            }))
            .await;
        return ticket;
    }
    let form = reqwest::multipart::Form::new()
        .text("name", c.name.clone())
        .text("address", c.address.clone())
        .text("email", c.email.clone())
        .text("phone", c.phone.clone())
        .text("category", "pelayanan")
        .text("body", c.complaint_text(true))
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3])
                .file_name(c.attachment_name.clone())
                .mime_str("image/jpeg")
                .unwrap(),
        );
    let r = app
        .http
        .post(app.url("/pengaduan"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let re = regex::Regex::new(r"ADU-\d{6}-\d{4}").unwrap();
    re.find_iter(&html)
        .map(|m| m.as_str().to_string())
        .find(|t| t != "ADU-202601-0007")
        .expect("receipt shows the ticket")
}

/// Poll `f` until it is true (at most 30 s).
async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn replies_failed(app: &TestApp, kasi: &str, filed: &[Filed], n: usize) -> bool {
    for f in filed {
        let (_, d) = app
            .get_json(
                &format!("/api/v1/admin/complaints/{}", f.ticket),
                Some(kasi),
            )
            .await;
        let failed = d["replies"]
            .as_array()
            .map(|a| a.iter().filter(|r| r["status"] == "failed").count())
            .unwrap_or(0);
        if failed < n {
            return false;
        }
    }
    true
}

/// Every oracle on `text`.
fn all_clean(filed: &[Filed], surface: &str, text: &str) {
    for f in filed {
        f.oracle.assert_clean(surface, text);
    }
}

async fn no_identity_on_any_surface(b: Backend) {
    let (sink, mut inbox) = SmtpSink::start_with(RcptReply::RejectQuotingAddress)
        .await
        .unwrap();
    let mut o = Options::new(b);
    o.extra_config = email_config(sink.port());
    let app = spawn(o).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let staf = app.user("staf1", Role::Staf, None).await;
    let dafduk = app.user("dafduk1", Role::Bidang, Some("dafduk")).await;
    let (seed, citizens) = sample(citizen(), CASES);
    eprintln!("privacy oracle seed: {seed} (replay with ADUAN_ORACLE_SEED={seed})");

    let mut filed = Vec::new();
    for (i, c) in citizens.iter().enumerate() {
        let ticket = file(&app, i, c).await;
        filed.push(Filed {
            ticket,
            oracle: PrivacyOracle::for_citizen(c),
            citizen: c.clone(),
        });
    }
    // The kasi routes each complaint with a note that quotes the citizen.
    for f in &filed {
        let c = &f.citizen;
        let (st, v) = app
            .act(
                &kasi,
                &f.ticket,
                "assign",
                json!({"bidang": "dafduk", "note": format!(
                    "Hubungi {} ({}) di {}, alamat {}", c.name, c.nik_spelled, c.phone_spelled, c.address)}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
    // The acknowledgements are refused by the server, which quotes the address.
    wait_until("refused acknowledgements", || {
        replies_failed(&app, &kasi, &filed, 1)
    })
    .await;
    for f in &filed {
        let (_, d) = app
            .get_json(
                &format!("/api/v1/admin/complaints/{}", f.ticket),
                Some(&kasi),
            )
            .await;
        let err = d["replies"][0]["last_error"].as_str().unwrap_or_default();
        assert!(err.contains("550"), "the refusal is kept: {err}");
        f.oracle
            .assert_clean("stored reply errors (kasi view)", &d["replies"].to_string());
    }

    // The division: queue, and each complaint in full.
    let (st, q) = app
        .get_json("/api/v1/admin/queue?state=in_bidang", Some(&dafduk))
        .await;
    assert_eq!(st, 200);
    assert_eq!(q.as_array().unwrap().len(), CASES, "{q}");
    all_clean(&filed, "bidang queue", &q.to_string());
    for (i, f) in filed.iter().enumerate() {
        let (st, d) = app
            .get_json(
                &format!("/api/v1/admin/complaints/{}", f.ticket),
                Some(&dafduk),
            )
            .await;
        assert_eq!(st, 200);
        for k in ["name", "address", "email", "phone", "handle"] {
            assert!(d["complainant"][k].is_null(), "{k}: {d}");
        }
        // Attachment names carry names and NIKs; the division sees neutral labels.
        if i % 2 == 1 {
            assert_eq!(d["attachments"].as_array().unwrap().len(), 1, "{d}");
        }
        f.oracle.assert_clean("bidang detail", &d.to_string());
        assert!(
            d["body"].as_str().unwrap().contains("ADU-202601-0007")
                && d["body"].as_str().unwrap().contains("Rp 50.000"),
            "tickets and ordinary numbers survive: {}",
            d["body"]
        );
        // The division's own action answers with its view.
        let (st, v) = app
            .act(
                &dafduk,
                &f.ticket,
                "solution",
                json!({"text": "Data sudah dicek; KTP-el dicetak ulang."}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        f.oracle
            .assert_clean("bidang solution answer", &v.to_string());
    }
    // Approved, and answered to the citizen with a message that names them.
    for f in &filed {
        let c = &f.citizen;
        let (st, v) = app
            .act(&kasi, &f.ticket, "review", json!({"decision": "approve"}))
            .await;
        assert_eq!(st, 200, "{v}");
        let (st, v) = app
            .act(
                &staf,
                &f.ticket,
                "follow-up",
                json!({"message": format!(
                    "Yth. {}, KTP-el atas NIK {} sudah dapat diambil. Konfirmasi ke {}.",
                    c.name_spelled, c.nik_spelled, c.phone_spelled)}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
    wait_until("refused answers", || replies_failed(&app, &kasi, &filed, 2)).await;
    for f in &filed {
        let (st, d) = app
            .get_json(
                &format!("/api/v1/admin/complaints/{}", f.ticket),
                Some(&dafduk),
            )
            .await;
        assert_eq!(st, 200);
        assert!(d["answer"].is_string(), "{d}");
        assert_eq!(
            d["replies"].as_array().unwrap().len(),
            2,
            "ack and answer: {d}"
        );
        f.oracle
            .assert_clean("bidang detail after the answer", &d.to_string());
    }

    // The logbook in every format: refused to a division, and the refusal is clean.
    let month = format!("{}-{}", &filed[0].ticket[4..8], &filed[0].ticket[8..10]);
    for format in ["json", "csv", "xlsx", "html"] {
        let r = app
            .http
            .get(app.url(&format!(
                "/api/v1/admin/logbook?month={month}&format={format}"
            )))
            .bearer_auth(&dafduk)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{format}");
        all_clean(
            &filed,
            &format!("bidang logbook {format}"),
            &r.text().await.unwrap(),
        );
    }

    // API error texts never echo what was typed.
    let c = &filed[0].citizen;
    let digits: String = c.phone.chars().filter(char::is_ascii_digit).collect();
    for body in [
        json!({"name": c.name, "phone": digits.parse::<u64>().unwrap(), "body": "x"}),
        json!({"name": [c.name], "body": c.complaint_text(true)}),
        json!({"name": c.name, "email": format!("{}@@x", c.email), "body": "x"}),
        json!({"name": c.name, "phone": format!("{}x{}", c.phone, c.nik), "body": "x"}),
        json!({"name": c.name, "category": c.name, "body": "x"}),
        json!({"name": c.name, "address": c.address, "body": ""}),
        json!({"nama": c.name, "body": "x"}),
    ] {
        let (st, v) = app
            .post_json("/api/v1/complaints", None, body.clone())
            .await;
        assert!((400..500).contains(&st), "{st} {v}");
        filed[0]
            .oracle
            .assert_clean(&format!("API error for {body}"), &v.to_string());
    }
    let (st, v) = app
        .post_json(
            &format!("/api/v1/admin/complaints/{}/assign", filed[0].ticket),
            Some(&dafduk),
            json!({"bidang": c.name}),
        )
        .await;
    assert!((400..500).contains(&st), "{st} {v}");
    filed[0]
        .oracle
        .assert_clean("staff API error", &v.to_string());

    // The masked logbook (what readers outside the office get) in every format.
    let m = aduan_core::logbook::Month::parse(&month).unwrap();
    let tz = app.desk.config().policy.calendar.timezone();
    let recs = app.desk.reports().month_records(m).await.unwrap();
    let rows = aduan_core::logbook::rows(&recs, aduan_core::logbook::Masking::Identity);
    assert_eq!(rows.len(), CASES);
    let json = serde_json::to_string(&rows).unwrap();
    all_clean(&filed, "masked logbook json", &json);
    let csv = aduan_core::logbook::to_csv(&rows, tz);
    all_clean(&filed, "masked logbook csv", &csv);
    let office = app.desk.config().office_name.clone();
    let html = aduan_admin::render_logbook_html(&office, m, &rows, tz).unwrap();
    all_clean(&filed, "masked logbook html", &html);
    let xlsx = aduan_digest::xlsx::logbook_xlsx(&office, m, &rows, tz).unwrap();
    check_xlsx(&filed, "masked logbook xlsx", &xlsx);

    // Metrics.
    let m = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    all_clean(&filed, "/metrics", &m);

    // The month digest, built and mailed by the command an operator runs.
    sink.set_rcpt_reply(RcptReply::Accept);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aduan"))
        .arg("--config")
        .arg(&app.config_path)
        .args(["digest", "--month", &month, "--send"])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8(out.stdout).unwrap();
    let v: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(v["totals"]["complaints"], CASES);
    assert!(
        !v["frequent_problems"].as_array().unwrap().is_empty(),
        "terms are found: {v}"
    );
    all_clean(&filed, "aduan digest JSON", &report);
    all_clean(
        &filed,
        "aduan digest stderr",
        &String::from_utf8_lossy(&out.stderr),
    );
    let mail = loop {
        let m = tokio::time::timeout(Duration::from_secs(20), inbox.recv())
            .await
            .expect("the digest is mailed")
            .unwrap();
        if m.rcpt_to == vec!["kadis@example.go.id".to_string()] {
            break m;
        }
    };
    check_digest_mail(&filed, &mail.data);

    // The Kasi's conclusion (SOP step 6), typed by someone who knows the complainants:
    // names, phones and addresses in the text and in the risk register's cells. Mailed by
    // the daemon to the Kepala Dinas (and the ISO coordinator), it names none of them.
    let quoted = |f: &Filed| {
        let c = &f.citizen;
        format!(
            "Sdr. {} (HP {}, {}) menunggu KTP-el",
            c.name_spelled, c.phone_bare, c.address_spelled
        )
    };
    let text = filed
        .iter()
        .take(4)
        .map(quoted)
        .collect::<Vec<_>>()
        .join("; ");
    let (a, b) = (&filed[0].citizen, &filed[1 % filed.len()].citizen);
    let risks = json!([{
        "risk": format!("KTP-el {} belum jadi", a.name),
        "cause": format!("blangko habis, dikeluhkan {} ({})", b.name_spelled, b.phone),
        "frequency": CASES,
        "control": format!("hubungi {} di {}", a.email, a.address),
        "owner": "Bidang Dafduk",
    }]);
    let (st, v) = app
        .post_json(
            &format!("/api/v1/admin/reports/{month}/conclusion"),
            Some(&kasi),
            json!({ "text": text, "risks": risks }),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let mail = loop {
        let m = tokio::time::timeout(Duration::from_secs(30), inbox.recv())
            .await
            .expect("the conclusion is mailed")
            .unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&m.data[..]);
        let subject = parsed
            .as_ref()
            .and_then(|p| p.subject())
            .unwrap_or_default()
            .to_string();
        if m.rcpt_to.iter().any(|r| r == "kadis@example.go.id")
            && subject.starts_with("Kesimpulan Kasi")
        {
            break m;
        }
    };
    check_conclusion_mail(&filed, &mail.data);
}

/// Every part of the conclusion mail, decoded: its texts, the register as CSV and every
/// member of its XLSX; the register still says what the risk is.
fn check_conclusion_mail(filed: &[Filed], raw: &[u8]) {
    use mail_parser::MimeHeaders as _;
    all_clean(
        filed,
        "conclusion mail (raw)",
        &String::from_utf8_lossy(raw),
    );
    let msg = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a MIME message");
    let (mut texts, mut xlsx, mut said) = (0, 0, false);
    for (i, part) in msg.parts.iter().enumerate() {
        let name = part.attachment_name().unwrap_or_default().to_string();
        let surface = format!("conclusion mail part {i} {name}");
        let mut check = |t: &str| {
            all_clean(filed, &surface, t);
            said |= t.contains("blangko habis");
        };
        match &part.body {
            mail_parser::PartType::Text(t) | mail_parser::PartType::Html(t) => {
                texts += 1;
                check(t);
            }
            mail_parser::PartType::Binary(b) | mail_parser::PartType::InlineBinary(b) => {
                if b.starts_with(b"PK\x03\x04") {
                    xlsx += 1;
                    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(b.to_vec()))
                        .expect("the register is a zip");
                    for k in 0..zip.len() {
                        let mut member = zip.by_index(k).unwrap();
                        let mut xml = String::new();
                        member.read_to_string(&mut xml).unwrap();
                        check(&xml);
                    }
                } else {
                    check(&String::from_utf8_lossy(b));
                }
            }
            mail_parser::PartType::Message(_) | mail_parser::PartType::Multipart(_) => {}
        }
    }
    assert!(texts >= 2, "plain text and HTML parts");
    assert_eq!(xlsx, 1, "the risk register workbook");
    assert!(said, "the cause is still there, without the name");
}

/// Every part of the digest mail, decoded, and every member of its XLSX.
fn check_digest_mail(filed: &[Filed], raw: &[u8]) {
    use mail_parser::MimeHeaders as _;
    all_clean(filed, "digest mail (raw)", &String::from_utf8_lossy(raw));
    let msg = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a MIME message");
    let (mut texts, mut pngs, mut xlsx) = (0, 0, 0);
    for (i, part) in msg.parts.iter().enumerate() {
        let name = part.attachment_name().unwrap_or_default().to_string();
        let surface = format!("digest mail part {i} {name}");
        match &part.body {
            mail_parser::PartType::Text(t) | mail_parser::PartType::Html(t) => {
                texts += 1;
                all_clean(filed, &surface, t);
            }
            mail_parser::PartType::Binary(b) | mail_parser::PartType::InlineBinary(b) => {
                if b.starts_with(b"\x89PNG") {
                    pngs += 1;
                    for f in filed {
                        f.oracle.assert_clean_bytes(&surface, b);
                    }
                } else if b.starts_with(b"PK\x03\x04") {
                    xlsx += 1;
                    check_xlsx(filed, &surface, b);
                } else {
                    panic!("unexpected binary part {surface}");
                }
            }
            mail_parser::PartType::Message(_) | mail_parser::PartType::Multipart(_) => {}
        }
    }
    assert!(texts >= 2, "plain text and HTML parts");
    assert!(pngs >= 3, "charts");
    assert_eq!(xlsx, 1, "the logbook workbook");
}

/// Every XML member of a workbook; the masked logbook still says what the complaints were
/// about.
fn check_xlsx(filed: &[Filed], surface: &str, bytes: &[u8]) {
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("the logbook is a zip");
    let mut shared = String::new();
    for k in 0..zip.len() {
        let mut member = zip.by_index(k).unwrap();
        let member_name = member.name().map(|n| n.into_owned()).unwrap_or_default();
        let mut xml = String::new();
        member.read_to_string(&mut xml).unwrap();
        all_clean(filed, &format!("{surface} / {member_name}"), &xml);
        // The texts: in the shared strings, or inline in the sheet (constant-memory mode).
        if member_name.ends_with("sharedStrings.xml") || member_name.contains("worksheets/") {
            shared.push_str(&xml);
        }
    }
    for f in filed {
        assert!(
            shared.contains(&f.ticket),
            "{surface}: {} missing",
            f.ticket
        );
    }
    assert!(shared.contains("KTP-el saya belum jadi"), "{shared}");
}

on_both_backends!(no_identity_on_any_surface);
