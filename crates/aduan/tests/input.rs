//! Bad input gets a precise 4xx with the SPEC's JSON error body and loses nothing; the
//! public form works urlencoded and multipart with attachments; the rate limit answers 429.

mod common;

use aduan_core::types::Role;
use common::{Backend, Options, spawn};
use serde_json::json;

async fn raw(
    app: &common::TestApp,
    path: &str,
    ct: Option<&str>,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let mut r = app.http.post(app.url(path)).body(body);
    if let Some(ct) = ct {
        r = r.header("content-type", ct);
    }
    let resp = r.send().await.unwrap();
    let st = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (st, serde_json::from_str(&text).unwrap_or(json!(text)))
}

fn assert_error(v: &serde_json::Value) {
    assert!(
        v["error"]["code"].is_string() && v["error"]["message"].is_string(),
        "not a SPEC error body: {v}"
    );
}

async fn json_intake_rejects_bad_input(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let (ticket, code) = app
        .submit(json!({"body": "Pengaduan pertama yang sah."}))
        .await;
    let ct = Some("application/json");
    let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
        ("malformed", ct, b"{\"body\": ".to_vec(), 400),
        ("not json at all", ct, b"hello".to_vec(), 400),
        (
            "wrong content type",
            Some("text/plain"),
            b"{\"body\":\"x\"}".to_vec(),
            415,
        ),
        ("no content type", None, b"{\"body\":\"x\"}".to_vec(), 415),
        ("missing body", ct, b"{\"name\":\"x\"}".to_vec(), 422),
        (
            "unknown field",
            ct,
            b"{\"body\":\"x\",\"nik\":\"1\"}".to_vec(),
            422,
        ),
        (
            "unknown category",
            ct,
            b"{\"body\":\"x\",\"category\":\"keuangan\"}".to_vec(),
            422,
        ),
        ("empty body", ct, b"{\"body\":\"   \"}".to_vec(), 422),
        ("wrong type", ct, b"{\"body\":42}".to_vec(), 422),
        (
            "bad email",
            ct,
            b"{\"body\":\"x\",\"email\":\"not-an-address\"}".to_vec(),
            422,
        ),
        (
            "bad phone",
            ct,
            b"{\"body\":\"x\",\"phone\":\"call me\"}".to_vec(),
            422,
        ),
        (
            "over-long name",
            ct,
            format!("{{\"body\":\"x\",\"name\":\"{}\"}}", "a".repeat(300)).into_bytes(),
            422,
        ),
        (
            "over-long body",
            ct,
            format!("{{\"body\":\"{}\"}}", "a".repeat(20_001)).into_bytes(),
            422,
        ),
        (
            "over 1 MiB",
            ct,
            format!("{{\"body\":\"{}\"}}", "a".repeat(1_100_000)).into_bytes(),
            413,
        ),
        ("array", ct, b"[]".to_vec(), 422),
    ];
    for (what, ct, body, want) in cases {
        let (st, v) = raw(&app, "/api/v1/complaints", ct, body).await;
        assert_eq!(st, want, "{what}: {v}");
        assert_error(&v);
    }
    // Nothing accepted was lost, and only the one complaint exists.
    let (st, v) = app
        .get_json(
            &format!("/api/v1/complaints/{ticket}/status?code={code}"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let (_, q) = app.get_json("/api/v1/admin/queue", Some(&kasi)).await;
    assert_eq!(q.as_array().unwrap().len(), 1);

    // Staff JSON over 1 MiB is 413 too.
    let (st, v) = app
        .post_json(
            &format!("/api/v1/admin/complaints/{ticket}/close"),
            Some(&kasi),
            json!({"status": "tidak", "reason": "x".repeat(1_100_000)}),
        )
        .await;
    assert_eq!(st, 413, "{v}");
}

async fn status_is_the_same_404_for_wrong_code_and_unknown_ticket(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let (ticket, code) = app.submit(json!({"body": "Cek status."})).await;
    let (a_st, a) = app
        .get_json(
            &format!("/api/v1/complaints/{ticket}/status?code=WRONGCODE2"),
            None,
        )
        .await;
    let (b_st, bb) = app
        .get_json(
            "/api/v1/complaints/ADU-209912-0001/status?code=WRONGCODE2",
            None,
        )
        .await;
    let (c_st, c) = app
        .get_json(&format!("/api/v1/complaints/{ticket}/status"), None)
        .await;
    assert_eq!((a_st, b_st, c_st), (404, 404, 404));
    assert_eq!(a, bb);
    assert_eq!(a, c);
    // Codes are accepted case-insensitively.
    let (st, _) = app
        .get_json(
            &format!(
                "/api/v1/complaints/{ticket}/status?code={}",
                code.to_lowercase()
            ),
            None,
        )
        .await;
    assert_eq!(st, 200);
}

async fn idempotency_key_makes_retries_safe(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let send = || {
        app.http
            .post(app.url("/api/v1/complaints"))
            .header("Idempotency-Key", "form-7f3a")
            .json(&json!({"body": "Dikirim dua kali karena jaringan putus."}))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.unwrap();
    let second = send().await.unwrap();
    assert_eq!(second.status(), 200);
    let second: serde_json::Value = second.json().await.unwrap();
    assert_eq!(first["ticket"], second["ticket"]);
    assert_eq!(second["duplicate"], true);
}

async fn public_form_urlencoded_and_multipart(b: Backend) {
    let mut o = Options::new(b);
    o.max_attachment_bytes = 64 * 1024;
    let app = spawn(o).await;
    let page = app.http.get(app.url("/pengaduan")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for label in [
        "Nama Lengkap",
        "Alamat",
        "Alamat email",
        "No. HP",
        "Sasaran Pengaduan",
        "Perilaku Pegawai",
        "Sarana Prasarana",
        "Pelayanan",
        "Lain-lain",
        "Isi Pengaduan",
    ] {
        assert!(html.contains(label), "form lacks {label}");
    }
    // urlencoded
    let r = app
        .http
        .post(app.url("/pengaduan"))
        .form(&[
            ("name", "Wayan"),
            ("category", "sarana_prasarana"),
            ("body", "Kursi ruang tunggu rusak <script>alert(1)</script>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let re = regex::Regex::new(r"ADU-\d{6}-\d{4}").unwrap();
    let ticket = re
        .find(&html)
        .expect("receipt shows the ticket")
        .as_str()
        .to_string();
    let code_re = regex::Regex::new(r#"id="access-code">([A-Z0-9]{10})<"#).unwrap();
    let code = code_re.captures(&html).expect("receipt shows the code")[1].to_string();
    let (st, v) = app
        .get_json(
            &format!("/api/v1/complaints/{ticket}/status?code={code}"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");

    // multipart with an attachment
    let form = reqwest::multipart::Form::new()
        .text("body", "Foto antrean terlampir.")
        .text("category", "pelayanan")
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(vec![7u8; 1000])
                .file_name("antrean.jpg")
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
    let t2 = re.find(&html).unwrap().as_str().to_string();
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{t2}"), Some(&kasi))
        .await;
    assert_eq!(d["attachments"][0]["filename"], "antrean.jpg");
    assert_eq!(d["attachments"][0]["size"], 1000);

    // oversized attachment → 413, nothing stored
    let form = reqwest::multipart::Form::new()
        .text("body", "Berkas terlalu besar.")
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(vec![1u8; 65 * 1024]).file_name("besar.pdf"),
        );
    let r = app
        .http
        .post(app.url("/pengaduan"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // empty complaint → form again with 422
    let r = app
        .http
        .post(app.url("/pengaduan"))
        .form(&[("body", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("wajib diisi"));
    // wrong content type
    let r = app
        .http
        .post(app.url("/pengaduan"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let (_, q) = app.get_json("/api/v1/admin/queue", Some(&kasi)).await;
    assert_eq!(q.as_array().unwrap().len(), 2);
    // citizen text is escaped on staff-facing HTML (logbook)
    let month = format!("{}-{}", &ticket[4..8], &ticket[8..10]);
    let page = app
        .http
        .get(app.url(&format!("/api/v1/admin/logbook?month={month}&format=html")))
        .bearer_auth(&kasi)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("FM-PDIP-03-02") && page.contains(&ticket));
    assert!(
        !page.contains("<script>alert"),
        "citizen text must be escaped"
    );
}

async fn rate_limit_answers_429(b: Backend) {
    let mut o = Options::new(b);
    o.rate_limit = "3/hour";
    let app = spawn(o).await;
    for _ in 0..3 {
        app.submit(json!({"body": "Pengaduan."})).await;
    }
    let (st, v) = app
        .post_json("/api/v1/complaints", None, json!({"body": "Satu lagi."}))
        .await;
    assert_eq!(st, 429, "{v}");
    assert_eq!(v["error"]["code"], "rate_limited");
}

async fn health_ready_metrics(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let (st, _) = app.get_json("/healthz", None).await;
    assert_eq!(st, 200);
    let (st, v) = app.get_json("/readyz", None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["database"], "ok");
    app.submit(json!({"body": "Untuk metrik."})).await;
    let m = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("aduan_intake_total"), "{m}");
    let (st, v) = app.get_json("/no/such/page", None).await;
    assert_eq!(st, 404);
    assert_error(&v);
}

on_both_backends!(
    json_intake_rejects_bad_input,
    status_is_the_same_404_for_wrong_code_and_unknown_ticket,
    idempotency_key_makes_retries_safe,
    public_form_urlencoded_and_multipart,
    rate_limit_answers_429,
    health_ready_metrics,
);
