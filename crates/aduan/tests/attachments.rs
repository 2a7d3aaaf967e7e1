//! Attachments through the staff API (SPEC §4) against the whole daemon on SQLite and
//! PostgreSQL: the file with safe download headers, 404 for an id that is not of the ticket,
//! the bidang rule (own division only, and only after the kasi shared the identity or that
//! attachment), the share action (kasi only, reason required and bounded) and neutral labels
//! wherever a bidang user would otherwise read a file name.

mod common;

use aduan_core::desk::Submission;
use aduan_core::model::NewAttachment;
use aduan_core::types::{Channel, Role};
use common::{Backend, Options, TestApp, spawn};
use serde_json::{Value, json};

const NAME: &str = "Ni Luh Putu Sariasih";
const EMAIL: &str = "luhputu.sari@contoh.id";
const PHONE: &str = "081234567890";
const NIK: &str = "5108014506900002";

fn ktp_name() -> String {
    format!("KTP_Sariasih_{NIK}.jpg")
}
const LETTER: &str = "Surat Pernyataan—Pémuteran.pdf";

/// The privacy oracle for these tests: none of the complainant's identity, nor the file
/// names, in `out`.
fn assert_private(out: &str, what: &str, names: &[&str]) {
    for n in [NAME, "Sariasih", EMAIL, "luhputu", PHONE, NIK]
        .into_iter()
        .chain(names.iter().copied())
    {
        assert!(!out.contains(n), "{what}: `{n}` leaked:\n{out}");
    }
}

async fn file(app: &TestApp, body: &str, files: Vec<NewAttachment>) -> String {
    app.desk
        .intake()
        .submit(Submission {
            channel: Some(Channel::Web),
            name: Some(NAME.into()),
            email: Some(EMAIL.into()),
            phone: Some(PHONE.into()),
            body: body.into(),
            attachments: files,
            with_access_code: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .ticket
        .to_string()
}

fn att(name: &str, content_type: &str, data: &[u8]) -> NewAttachment {
    NewAttachment {
        filename: name.into(),
        content_type: content_type.into(),
        data: data.to_vec(),
    }
}

/// GET with a bearer token: (status, headers, bytes).
async fn get_file(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app.http.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

fn header(h: &reqwest::header::HeaderMap, k: &str) -> String {
    h.get(k)
        .unwrap_or_else(|| panic!("header {k} missing"))
        .to_str()
        .unwrap()
        .to_string()
}

fn ids(detail: &Value) -> Vec<i64> {
    detail["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect()
}

async fn attachments_through_the_staff_api(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let staf = app.user("staf1", Role::Staf, None).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let dafduk = app.user("dafduk1", Role::Bidang, Some("dafduk")).await;
    let capil = app.user("capil1", Role::Bidang, Some("capil")).await;
    let kabid = app.user("kabid1", Role::Kabid, None).await;
    let photo: Vec<u8> = (0..=255u8).cycle().take(122_880).collect();
    let ktp = ktp_name();
    let ticket = file(
        &app,
        &format!("KK saya rusak. Terlampir {ktp} dan {LETTER}. Hubungi {PHONE}."),
        vec![
            att(&ktp, "image/jpeg", &photo),
            att(LETTER, "application/pdf", b"%PDF-1.4 surat"),
            att("halaman.html", "text/html", b"<script>alert(1)</script>"),
            att("aneh.bin", "bukan tipe", b"\x00\x01"),
        ],
    )
    .await;
    let other = file(
        &app,
        "KTP-el saya belum jadi.",
        vec![att("lain.jpg", "image/jpeg", b"x")],
    )
    .await;
    let (st, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&kasi))
        .await;
    assert_eq!(st, 200, "{d}");
    let [ktp_id, letter_id, html_id, odd_id] = ids(&d)[..] else {
        panic!("four attachments: {d}")
    };
    let (_, od) = app
        .get_json(&format!("/api/v1/admin/complaints/{other}"), Some(&kasi))
        .await;
    let foreign_id = ids(&od)[0];
    assert_eq!(d["attachments"][0]["filename"], ktp.as_str());
    assert_eq!(
        d["attachments"][0]["label"],
        "lampiran 1 (image/jpeg, 120 KB)"
    );
    assert_eq!(d["attachments"][0]["name_hidden"], false);
    assert_eq!(d["attachments"][0]["downloadable"], true);
    let path = |id: i64| format!("/api/v1/admin/complaints/{ticket}/attachments/{id}");

    // The file with its stored type and the download headers.
    let (st, h, bytes) = get_file(&app, &path(ktp_id), Some(&kasi)).await;
    assert_eq!(st, 200);
    assert_eq!(bytes, photo);
    assert_eq!(header(&h, "content-type"), "image/jpeg");
    assert_eq!(
        header(&h, "content-disposition"),
        format!("attachment; filename=\"{ktp}\"; filename*=UTF-8''{ktp}")
    );
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(&h, "content-security-policy"),
        aduan_http::ATTACHMENT_CSP
    );
    assert_eq!(header(&h, "cache-control"), "no-store, private");
    // A name beyond ASCII: an ASCII fallback and the exact name, RFC 5987-encoded.
    let (st, h, bytes) = get_file(&app, &path(letter_id), Some(&kasi)).await;
    assert_eq!((st, bytes.as_slice()), (200, &b"%PDF-1.4 surat"[..]));
    assert_eq!(
        header(&h, "content-disposition"),
        "attachment; filename=\"Surat Pernyataan_P_muteran.pdf\"; \
         filename*=UTF-8''Surat%20Pernyataan%E2%80%94P%C3%A9muteran.pdf"
    );
    // HTML stays a download that could not run anything; a malformed type is octet-stream.
    let (_, h, _) = get_file(&app, &path(html_id), Some(&kasi)).await;
    assert_eq!(header(&h, "content-type"), "text/html");
    assert!(header(&h, "content-disposition").starts_with("attachment;"));
    assert!(header(&h, "content-security-policy").contains("sandbox"));
    let (_, h, _) = get_file(&app, &path(odd_id), Some(&kasi)).await;
    assert_eq!(header(&h, "content-type"), "application/octet-stream");
    // Every staff role may open files of a complaint it sees.
    for t in [&staf, &kabid] {
        assert_eq!(get_file(&app, &path(ktp_id), Some(t)).await.0, 200);
    }

    // 404 for anything that is not an attachment of this ticket; 401 without a token.
    for p in [
        path(foreign_id),
        format!("/api/v1/admin/complaints/{other}/attachments/{ktp_id}"),
        format!("/api/v1/admin/complaints/{ticket}/attachments/abc"),
        format!("/api/v1/admin/complaints/{ticket}/attachments/-1"),
        format!("/api/v1/admin/complaints/{ticket}/attachments/99999999999999999999"),
        format!("/api/v1/admin/complaints/ADU-202603-9999/attachments/{ktp_id}"),
        format!("/api/v1/admin/complaints/bukan-tiket/attachments/{ktp_id}"),
    ] {
        let (st, v) = app.get_json(&p, Some(&kasi)).await;
        assert_eq!(st, 404, "{p}: {v}");
        assert_eq!(v["error"]["code"], "not_found", "{p}");
    }
    assert_eq!(get_file(&app, &path(ktp_id), None).await.0, 401);

    // A bidang user: nothing before the complaint is routed to its division …
    assert_eq!(get_file(&app, &path(ktp_id), Some(&dafduk)).await.0, 404);
    let (st, _) = app
        .act(&kasi, &ticket, "assign", json!({"bidang": "dafduk"}))
        .await;
    assert_eq!(st, 200);
    // … then labels, in the list and in the texts, and no files.
    let (st, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&dafduk))
        .await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["identity_hidden"], true);
    assert_private(
        &d.to_string(),
        "bidang detail",
        &["KTP_", "Pémuteran", "halaman.html", "aneh.bin"],
    );
    assert_eq!(
        d["attachments"][0]["filename"],
        "lampiran 1 (image/jpeg, 120 KB)"
    );
    assert_eq!(
        d["attachments"][1]["filename"],
        "lampiran 2 (application/pdf, 1 KB)"
    );
    assert_eq!(d["attachments"][0]["name_hidden"], true);
    assert_eq!(d["attachments"][0]["downloadable"], false);
    assert!(
        d["body"].as_str().unwrap().contains(
            "Terlampir lampiran 1 (image/jpeg, 120 KB) dan lampiran 2 (application/pdf, 1 KB)."
        ),
        "{}",
        d["body"]
    );
    for id in [ktp_id, letter_id, html_id, odd_id] {
        let (st, v) = app.get_json(&path(id), Some(&dafduk)).await;
        assert_eq!(st, 404);
        assert_private(&v.to_string(), "bidang 404", &["KTP_"]);
        assert_eq!(get_file(&app, &path(id), Some(&capil)).await.0, 404);
    }

    // Sharing one attachment: the kasi only, with a reason of bounded length.
    let share = |id: i64| format!("attachments/{id}/share");
    let reason = json!({"reason": "Perlu mencocokkan foto KTP dengan data"});
    for t in [&staf, &dafduk, &kabid] {
        let (st, v) = app.act(t, &ticket, &share(ktp_id), reason.clone()).await;
        assert_eq!(st, 403, "{v}");
    }
    for (body, why) in [
        (json!({"reason": "  "}), "blank"),
        (json!({"reason": "x".repeat(501)}), "too long"),
        (json!({}), "missing"),
        (json!({"reason": "ok", "bidang": "capil"}), "unknown field"),
    ] {
        let (st, v) = app.act(&kasi, &ticket, &share(ktp_id), body).await;
        assert_eq!(st, 422, "{why}: {v}");
    }
    for id in [foreign_id, 0] {
        let (st, _) = app.act(&kasi, &ticket, &share(id), reason.clone()).await;
        assert_eq!(st, 404);
    }
    let (st, v) = app
        .act(&kasi, &ticket, "attachments/abc/share", reason.clone())
        .await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(get_file(&app, &path(ktp_id), Some(&dafduk)).await.0, 404);
    let (st, v) = app
        .act(&kasi, &ticket, &share(ktp_id), reason.clone())
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["attachments"][0]["shared_with"], json!(["dafduk"]));
    assert!(
        v["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["action"] == "share_attachment"
                && h["note"].as_str().unwrap().contains("lampiran 1")),
        "{v}"
    );

    // The bidang now opens that one, under its name; the others stay labels.
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&dafduk))
        .await;
    assert_eq!(d["attachments"][0]["filename"], ktp.as_str());
    assert_eq!(d["attachments"][0]["downloadable"], true);
    assert_eq!(
        d["attachments"][1]["filename"],
        "lampiran 2 (application/pdf, 1 KB)"
    );
    assert_private(&d["complainant"].to_string(), "still hidden", &[]);
    assert!(!d.to_string().contains("Pémuteran"));
    let (st, _, bytes) = get_file(&app, &path(ktp_id), Some(&dafduk)).await;
    assert_eq!((st, bytes == photo), (200, true));
    assert_eq!(get_file(&app, &path(letter_id), Some(&dafduk)).await.0, 404);
    assert_eq!(get_file(&app, &path(ktp_id), Some(&capil)).await.0, 404);

    // Sharing the identity opens every attachment to that bidang.
    let (st, _) = app
        .act(
            &kasi,
            &ticket,
            "share-identity",
            json!({"reason": "Perlu menghubungi pemohon"}),
        )
        .await;
    assert_eq!(st, 200);
    for id in [letter_id, html_id, odd_id] {
        assert_eq!(get_file(&app, &path(id), Some(&dafduk)).await.0, 200);
    }
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&dafduk))
        .await;
    assert_eq!(d["attachments"][1]["filename"], LETTER);

    // No share on a complaint not routed to a bidang, nor on a closed one: 409.
    let (st, v) = app
        .act(&kasi, &other, &share(foreign_id), reason.clone())
        .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["state"], "triage");
    let (st, _) = app
        .act(
            &kasi,
            &other,
            "close",
            json!({"status": "tidak", "reason": "duplikat"}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = app.act(&kasi, &other, &share(foreign_id), reason).await;
    assert_eq!(st, 409, "{v}");
}

/// A citizen's photo sent as a reply (e-mail, chat) is kept as an attachment of the
/// complaint, with a label for the bidang like any other.
async fn attachments_of_a_reply_are_kept(b: Backend) {
    let app = spawn(Options::new(b)).await;
    let kasi = app.user("kasi1", Role::Kasi, None).await;
    let dafduk = app.user("dafduk1", Role::Bidang, Some("dafduk")).await;
    let first = app
        .desk
        .intake()
        .receive(aduan_core::desk::Inbound {
            submission: Submission {
                channel: Some(Channel::Email),
                external_id: Some("msgid:first@warga.example".into()),
                email: Some(EMAIL.into()),
                body: "KTP saya belum jadi.".into(),
                with_access_code: true,
                ..Default::default()
            },
            thread: vec![],
            cursor: None,
        })
        .await
        .unwrap();
    let aduan_core::desk::Received::Created(r) = first else {
        panic!("{first:?}")
    };
    let ticket = r.ticket.to_string();
    let ktp = ktp_name();
    let reply = app
        .desk
        .intake()
        .receive(aduan_core::desk::Inbound {
            submission: Submission {
                channel: Some(Channel::Email),
                external_id: Some("msgid:second@warga.example".into()),
                email: Some(EMAIL.into()),
                body: "Foto KTP lama terlampir.".into(),
                attachments: vec![att(&ktp, "image/jpeg", b"\xff\xd8\xff")],
                with_access_code: true,
                ..Default::default()
            },
            thread: vec![aduan_core::desk::ThreadHint::MessageIds(vec![
                "first@warga.example".into(),
            ])],
            cursor: None,
        })
        .await
        .unwrap();
    assert!(
        matches!(reply, aduan_core::desk::Received::Appended { .. }),
        "{reply:?}"
    );
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&kasi))
        .await;
    assert_eq!(d["attachments"][0]["filename"], ktp.as_str(), "{d}");
    let id = ids(&d)[0];
    let p = format!("/api/v1/admin/complaints/{ticket}/attachments/{id}");
    let (st, _, bytes) = get_file(&app, &p, Some(&kasi)).await;
    assert_eq!((st, bytes), (200, b"\xff\xd8\xff".to_vec()));
    app.act(&kasi, &ticket, "assign", json!({"bidang": "dafduk"}))
        .await;
    let (_, d) = app
        .get_json(&format!("/api/v1/admin/complaints/{ticket}"), Some(&dafduk))
        .await;
    // The message's "[lampiran: …]" line names the file too: a label for the bidang.
    assert_private(&d.to_string(), "bidang detail", &["KTP_"]);
    assert!(
        d.to_string()
            .contains("[lampiran: lampiran 1 (image/jpeg, 1 KB)]"),
        "{d}"
    );
}

on_both_backends!(
    attachments_through_the_staff_api,
    attachments_of_a_reply_are_kept
);
