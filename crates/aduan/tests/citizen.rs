//! The citizen's pages over HTTP, as a browser posts them: the form (every field sent, most
//! of them empty), refusals that keep what was typed with one message per field, the
//! receipt, the status page, the error pages, and the security headers of every public
//! answer. The same path in a real Chromium is `tests/e2e/citizen_browser.rs`.

mod common;

use aduan_core::types::Role;
use common::*;

/// Nothing a template left behind: no `None`/`null`/`undefined`, no unrendered tags.
fn assert_clean(what: &str, html: &str) {
    for artefact in [
        "None",
        ">none<",
        "\"none\"",
        "null",
        "undefined",
        "{{",
        "}}",
        "{%",
        "%}",
        "NaN",
    ] {
        assert!(
            !html.contains(artefact),
            "{what}: shows template artefact `{artefact}`:\n{html}"
        );
    }
    assert!(
        html.contains("<html lang=\"id\">"),
        "{what}: not marked Indonesian"
    );
}

/// SPEC §4 / issue 10: the staff pages' security headers on every public answer, and no
/// caching (receipts and status answers carry the access code).
fn assert_public_headers(what: &str, r: &reqwest::Response) {
    let h = r.headers();
    let get = |k: &str| {
        h.get(k)
            .unwrap_or_else(|| panic!("{what}: no {k} header"))
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        get("content-security-policy"),
        aduan_http::CONTENT_SECURITY_POLICY,
        "{what}"
    );
    assert!(get("content-security-policy").contains("frame-ancestors 'none'"));
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "same-origin", "{what}");
    assert_eq!(get("cache-control"), "no-store", "{what}");
}

/// What a browser sends for the form when the citizen fills in name, e-mail and the
/// complaint only: every other field is present and empty.
fn browser_post(name: &str, email: &str, phone: &str, body: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", name.into()),
        ("address", String::new()),
        ("email", email.into()),
        ("phone", phone.into()),
        ("target", String::new()),
        ("body", body.into()),
    ]
}

async fn form_as_a_browser_posts_it(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let r = app.http.get(app.url("/pengaduan")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_public_headers("GET /pengaduan", &r);
    let html = r.text().await.unwrap();
    assert_clean("empty form", &html);
    for id in ["name", "address", "email", "phone", "target", "body"] {
        // Every field starts empty (the first round printed "None" in each).
        let re = regex::Regex::new(&format!(r#"id="{id}"[^>]*value="([^"]*)""#)).unwrap();
        if let Some(c) = re.captures(&html) {
            assert_eq!(&c[1], "", "field {id} is not empty");
        }
    }

    // The failing post of the first round: name, e-mail and complaint; phone left empty.
    let r = app
        .http
        .post(app.url("/pengaduan"))
        .form(&browser_post(
            "Ni Made Sari",
            "made.sari@example.com",
            "",
            "KTP-el saya belum jadi sejak dua bulan.",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_public_headers("receipt", &r);
    let html = r.text().await.unwrap();
    assert_clean("receipt", &html);
    let ticket = regex::Regex::new(r#"id="ticket">(ADU-\d{6}-\d{4})<"#)
        .unwrap()
        .captures(&html)
        .expect("receipt shows the ticket")[1]
        .to_string();
    let code = regex::Regex::new(r#"id="access-code">([A-Z0-9]{10})<"#)
        .unwrap()
        .captures(&html)
        .expect("receipt shows the access code")[1]
        .to_string();
    // This daemon has no SMTP: the receipt promises no e-mail it cannot send.
    assert!(!html.contains("dikirim ke alamat email"), "{html}");

    // The status page with them, lower case as a citizen may type them.
    let r = app
        .http
        .get(app.url(&format!(
            "/pengaduan/status?ticket={}&code={}",
            ticket.to_lowercase(),
            code.to_lowercase()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_public_headers("status page", &r);
    let html = r.text().await.unwrap();
    assert_clean("status page", &html);
    assert!(
        html.contains("Sedang ditelaah oleh Kasi Kerjasama"),
        "{html}"
    );
    assert!(html.contains("WITA"), "times in office time: {html}");
    assert!(
        !html.contains("made.sari"),
        "the status page shows no identity"
    );

    // The JSON status answer: headers too.
    let r = app
        .http
        .get(app.url(&format!("/api/v1/complaints/{ticket}/status?code={code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_public_headers("JSON status", &r);
    let r = app
        .http
        .post(app.url("/api/v1/complaints"))
        .json(&serde_json::json!({"body": "Antrean panjang."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_public_headers("JSON 201 with access code", &r);

    // Staff act; the page follows.
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let (s, v) = app
        .act(
            &kasi,
            &ticket,
            "close",
            serde_json::json!({"status": "tidak", "reason": "ganda"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let html = app
        .http
        .get(app.url(&format!("/pengaduan/status?ticket={ticket}&code={code}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_clean("closed status page", &html);
    assert!(html.contains("Ditutup tanpa tindak lanjut"), "{html}");
}

/// With an e-mail sender the receipt says the acknowledgement goes by e-mail too.
async fn receipt_promises_email_only_when_it_can_send(b: Backend) {
    #[derive(Default)]
    struct Sink;
    #[async_trait::async_trait]
    impl aduan_core::outbox::ReplySender for Sink {
        async fn send(
            &self,
            _: &aduan_core::outbox::RenderedReply,
        ) -> Result<Option<String>, aduan_core::outbox::SendError> {
            Ok(None)
        }
    }
    let mut o = Options::new(b);
    o.senders.insert(
        aduan_core::types::Channel::Email,
        std::sync::Arc::new(Sink) as std::sync::Arc<dyn aduan_core::outbox::ReplySender>,
    );
    let app = spawn(o).await;
    let html = app
        .http
        .post(app.url("/pengaduan"))
        .form(&browser_post(
            "Wayan",
            "wayan@example.com",
            "",
            "Antrean panjang.",
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Tanda terima juga dikirim ke alamat email"),
        "{html}"
    );
    let html = app
        .http
        .post(app.url("/pengaduan"))
        .form(&browser_post("Wayan", "", "", "Tanpa email."))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("dikirim ke alamat email"), "{html}");
}

async fn refused_post_keeps_what_was_typed(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let r = app
        .http
        .post(app.url("/pengaduan"))
        .form(&browser_post(
            "Ketut <Budi> & \"Ayu\"",
            "ketut@",
            "nol delapan satu dua",
            "   ",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_public_headers("refused post", &r);
    let html = r.text().await.unwrap();
    assert_clean("refused form", &html);
    // What was typed is back in the fields, escaped.
    assert!(
        html.contains(r#"value="Ketut &lt;Budi&gt; &amp; &quot;Ayu&quot;""#),
        "{html}"
    );
    assert!(html.contains(r#"value="ketut@""#));
    assert!(html.contains(r#"value="nol delapan satu dua""#));
    // One message per field, beside it, and the field marked invalid.
    for (field, words) in [
        ("email", "Alamat email tidak valid"),
        ("phone", "No. HP tidak valid"),
        ("body", "Isi pengaduan wajib diisi"),
    ] {
        assert!(
            html.contains(&format!(
                r#"<p class="field-error" id="{field}-error">{words}"#
            )),
            "no message beside {field}:\n{html}"
        );
        assert!(html.contains(&format!(r#"aria-describedby="{field}-error""#)));
    }
    assert!(!html.contains(r#"id="name-error""#), "name was fine");
    // Nothing was stored.
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let (_, q) = app.get_json("/api/v1/admin/queue", Some(&kasi)).await;
    assert_eq!(q.as_array().unwrap().len(), 0);
}

async fn refusal_pages_are_pages(b: Backend) {
    let mut o = Options::new(b);
    o.max_attachment_bytes = 8 * 1024;
    o.rate_limit = "2/hour";
    let app = spawn(o).await;
    // Too large an attachment: the form again, typed text kept, the limit named.
    let form = reqwest::multipart::Form::new()
        .text("name", "Gede")
        .text("body", "Foto KK terlampir.")
        .part(
            "attachments",
            reqwest::multipart::Part::bytes(vec![1u8; 9 * 1024]).file_name("kk.jpg"),
        );
    let r = app
        .http
        .post(app.url("/pengaduan"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_public_headers("413 page", &r);
    let html = r.text().await.unwrap();
    assert_clean("413 page", &html);
    assert!(html.contains("Lampiran terlalu besar"), "{html}");
    assert!(html.contains(r#"value="Gede""#), "typed name kept: {html}");
    assert!(html.contains(">Foto KK terlampir.</textarea>"));
    // Malformed multipart: a page, not JSON.
    let r = app
        .http
        .post(app.url("/pengaduan"))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nno end")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert_clean("400 page", &html);
    assert!(html.contains("Formulir tidak terbaca"));
    // The rate limit (2/hour; two posts used above): the form again, text kept.
    let r = app
        .http
        .post(app.url("/pengaduan"))
        .form(&browser_post("Gede", "", "", "Pengaduan ketiga."))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_public_headers("429 page", &r);
    let html = r.text().await.unwrap();
    assert_clean("429 page", &html);
    assert!(html.contains("Terlalu banyak pengaduan"));
    assert!(html.contains(">Pengaduan ketiga.</textarea>"));
    // Unknown ticket or wrong code: the same page and status.
    let wrong = app
        .http
        .get(app.url("/pengaduan/status?ticket=ADU-202612-0001&code=ZZZZZZZZZZ"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    assert_public_headers("status 404", &wrong);
    let html = wrong.text().await.unwrap();
    assert_clean("status 404", &html);
    assert!(html.contains("tidak dikenal"));
    let garbage = app
        .http
        .get(app.url("/pengaduan/status?ticket=%00%FF&code=%3Cscript%3E"))
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 404);
    let html = garbage.text().await.unwrap();
    assert!(html.contains("&lt;SCRIPT&gt;"), "echoed input is escaped");
    // An unknown public page.
    let r = app
        .http
        .get(app.url("/pengaduan/tidak-ada"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_public_headers("public 404", &r);
    let html = r.text().await.unwrap();
    assert_clean("public 404", &html);
    assert!(html.contains("Halaman tidak ditemukan"));
    // The stylesheet may be cached; it carries the other headers.
    let css = app
        .http
        .get(app.url("/static/aduan.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["cache-control"], "public, max-age=3600");
    assert_eq!(css.headers()["x-content-type-options"], "nosniff");
}

on_both_backends!(
    form_as_a_browser_posts_it,
    receipt_promises_email_only_when_it_can_send,
    refused_post_keeps_what_was_typed,
    refusal_pages_are_pages
);
