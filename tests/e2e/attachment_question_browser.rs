//! Issue 13 in a real Chromium, against the built daemon on the shipped config: a citizen
//! files a complaint with a photo through the public form on a 360-px phone; a kasi logs in
//! to the admin pages on a desktop, sees the photo's preview on the complaint page (the
//! `<img>` decoded: `naturalWidth > 0`), opens it and downloads it byte for byte, and asks
//! the citizen a question from the page; the citizen opens the status page with ticket and
//! code, reads the question and answers it with text and a file; the kasi sees the answer,
//! the new attachment and the complaint back in triage. Every citizen page is measured (no
//! horizontal scroll, tap targets ≥ 44 px) and every step photographed.

use aduan_e2e::browser::{Driver, Screen, Ui};
use aduan_e2e::{Daemon, Staff};
use futures::FutureExt as _;
use serde_json::json;

const KASI: &str = "kasi.1";
const KASI_PASSWORD: &str = "Lovina-2026-kasi";

/// No `None`/`null`/template tags in what the page shows or carries.
async fn assert_clean(ui: &Ui, what: &str) {
    let seen = ui.visible_text().await;
    let src = ui.source().await;
    for a in ["None", "null", "undefined", "{{", "}}", "{%", "%}", "NaN"] {
        assert!(!seen.contains(a), "{what}: the page shows `{a}`:\n{seen}");
        assert!(!src.contains(a), "{what}: the source carries `{a}`");
    }
}

/// The `<img>` behind `css` once the browser finished with it: `naturalWidth` (0 when it
/// could not be decoded or was refused).
async fn image_width(ui: &Ui, css: &str) -> f64 {
    for _ in 0..100 {
        let v =
            ui.c.execute(
                "const i = document.querySelector(arguments[0]); \
                 return i && i.complete ? i.naturalWidth : -1;",
                vec![json!(css)],
            )
            .await
            .unwrap();
        let w = v.as_f64().unwrap();
        if w >= 0.0 {
            return w;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{css} never finished loading");
}

/// `fetch(path)` from the page (the session's cookie): status, two headers, byte count.
async fn fetch_from_page(ui: &Ui, path: &str) -> serde_json::Value {
    ui.c.execute_async(
        "const done = arguments[arguments.length - 1]; \
         fetch(arguments[0], {credentials: 'same-origin'}) \
           .then(r => r.arrayBuffer().then(b => done({status: r.status, \
             disposition: r.headers.get('content-disposition'), \
             frame: r.headers.get('x-frame-options'), size: b.byteLength}))) \
           .catch(e => done({error: String(e)}));",
        vec![json!(path)],
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_open_a_photo_and_the_citizen_answers_a_question() {
    let driver = Driver::start();
    let daemon = Daemon::start(&[]);
    let out = daemon.cli(
        &[
            "user",
            "add",
            "--username",
            KASI,
            "--role",
            "kasi",
            "--password-stdin",
        ],
        Some(&format!("{KASI_PASSWORD}\n")),
    );
    assert!(
        out.status.success(),
        "aduan user add {KASI}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let api = Staff::new(&daemon, token);
    let phone_profile = tempfile::tempdir().unwrap();
    let desk_profile = tempfile::tempdir().unwrap();
    let citizen = Ui::open(
        &driver,
        &daemon.base,
        phone_profile.path(),
        Screen::Phone,
        "attachment-question",
    )
    .await;
    let kasi = Ui::open(
        &driver,
        &daemon.base,
        desk_profile.path(),
        Screen::Desktop,
        "attachment-question",
    )
    .await;
    let outcome = std::panic::AssertUnwindSafe(walk(&citizen, &kasi, &api))
        .catch_unwind()
        .await;
    citizen.close().await;
    kasi.close().await;
    if let Err(p) = outcome {
        eprintln!("daemon log:\n{}", daemon.log());
        std::panic::resume_unwind(p);
    }
    let log = daemon.log();
    assert!(
        !log.contains("made.sari"),
        "the daemon's log names the citizen"
    );
    let status = daemon.stop();
    assert!(status.success(), "SIGTERM exits 0, got {status}");
}

async fn walk(citizen: &Ui, kasi: &Ui, api: &Staff) {
    // ---- The citizen files a complaint with a photo (a real PNG: the form itself).
    citizen.goto("/pengaduan").await;
    citizen.find("#complaint-form").await;
    citizen.fill("#name", "Ni Made Sari").await;
    citizen.fill("#email", "made.sari@example.com").await;
    citizen.fill("#phone", "0812 3456 7890").await;
    citizen.fill("#target", "Loket KK").await;
    citizen
        .fill(
            "#body",
            "Nama ayah di KK saya salah cetak. Foto KK terlampir, mohon dibetulkan.",
        )
        .await;
    citizen.click("input[name=category][value=pelayanan]").await;
    let photo = citizen.shot("01-form-photo").await;
    let photo_bytes = std::fs::metadata(&photo).unwrap().len();
    citizen
        .find("#attachments")
        .await
        .send_keys(&photo.display().to_string())
        .await
        .unwrap();
    citizen.click("#submit").await;
    citizen.find("#access-code").await;
    let ticket = citizen.text("#ticket").await;
    let code = citizen.text("#access-code").await;
    assert!(ticket.starts_with("ADU-"), "{ticket}");
    assert!(
        citizen
            .visible_text()
            .await
            .contains("1 lampiran ikut diterima")
    );

    // ---- The kasi logs in and opens the complaint: the photo is shown in the page.
    kasi.goto("/admin/login").await;
    kasi.fill("#username", KASI).await;
    kasi.fill("#password", KASI_PASSWORD).await;
    kasi.click("#login-submit").await;
    kasi.find("nav").await;
    let page = format!("/admin/complaints/{ticket}");
    kasi.goto(&page).await;
    kasi.find("#attachments").await;
    let (st, d) = api.get(&format!("/api/v1/admin/complaints/{ticket}")).await;
    assert_eq!(st, 200, "{d}");
    let id = d["attachments"][0]["id"].as_i64().expect("attachment id");
    assert_eq!(d["attachments"][0]["size"], json!(photo_bytes));
    let preview = format!("#attachment-preview-{id}");
    let width = image_width(kasi, &preview).await;
    assert!(width > 0.0, "the preview image did not load");
    let shown = kasi
        .c
        .execute(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect(); \
             return [r.width, r.height];",
            vec![json!(preview)],
        )
        .await
        .unwrap();
    let (w, h) = (shown[0].as_f64().unwrap(), shown[1].as_f64().unwrap());
    assert!(
        w > 20.0 && w <= 320.0 && h > 20.0 && h <= 240.0,
        "a visible thumbnail, not the full image: {shown}"
    );
    let file = format!("/admin/complaints/{ticket}/attachments/{id}");
    assert_eq!(
        kasi.find(&format!("#attachment-download-{id}"))
            .await
            .attr("href")
            .await
            .unwrap()
            .as_deref(),
        Some(file.as_str())
    );
    assert_clean(kasi, "the admin complaint page").await;
    let l = kasi.layout().await;
    assert!(
        l.scroll_width <= l.inner_width,
        "admin page scrolls sideways"
    );
    kasi.shot("02-admin-attachment-preview").await;

    // The download link: the same bytes, as a download, never framed.
    let r = fetch_from_page(kasi, &file).await;
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["size"], json!(photo_bytes), "{r}");
    assert!(
        r["disposition"]
            .as_str()
            .unwrap()
            .starts_with("attachment;"),
        "{r}"
    );
    assert_eq!(r["frame"], "DENY");
    // Opening the preview: the browser shows the image itself.
    let open = kasi
        .find(&format!("#attachment-open-{id}"))
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(open, format!("{file}?inline=1"));
    kasi.goto(&open).await;
    let doc = kasi
        .c
        .execute(
            "return [document.contentType, document.images.length ? \
             (document.images[0].complete ? document.images[0].naturalWidth : -1) : 0];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(doc[0], "image/png", "{doc}");
    assert!(doc[1].as_f64().unwrap() > 0.0 || image_width(kasi, "img").await > 0.0);
    kasi.shot("03-admin-attachment-opened").await;

    // ---- The kasi asks the citizen from the page.
    let question = "Mohon kirim foto halaman KK yang memuat nama ayah dengan jelas, \
                    beserta foto akta kelahiran Anda.";
    kasi.goto(&page).await;
    kasi.fill("#ask-question", question).await;
    kasi.click("#ask-submit").await;
    kasi.find("#open-question").await;
    assert_eq!(kasi.text("#open-question-text").await, question);
    assert_eq!(kasi.text("#state").await, "Menunggu jawaban pengadu");

    // ---- The citizen opens the status page and sees the question.
    citizen.goto("/pengaduan/status").await;
    citizen.fill("#ticket", &ticket).await;
    citizen.fill("#code", &code).await;
    citizen.click("#status-submit").await;
    citizen.find("#question").await;
    assert_eq!(
        citizen.text("#status-state").await,
        "Menunggu jawaban Anda atas pertanyaan petugas"
    );
    assert_eq!(citizen.text("#question-text").await, question);
    // The question was asked from triage: that step is the current one.
    assert_eq!(
        citizen.text(".steps li[aria-current=step]").await,
        "Ditelaah oleh Kasi Kerjasama"
    );
    assert_clean(citizen, "the status page with a question").await;
    citizen
        .assert_usable("the status page with a question")
        .await;
    let shot = citizen.shot("04-citizen-question").await;

    // ---- The citizen answers with text and a file (the page they are looking at).
    let answer = "Foto KK halaman depan dan akta kelahiran saya kirim bersama pesan ini.";
    citizen.fill("#answer-text", answer).await;
    citizen
        .find("#answer-files")
        .await
        .send_keys(&shot.display().to_string())
        .await
        .unwrap();
    citizen.click("#answer-submit").await;
    citizen.find("#notice-message_sent").await;
    assert_eq!(
        citizen.text("#status-state").await,
        "Sedang ditelaah oleh Kasi Kerjasama"
    );
    assert!(!citizen.has("#question").await, "the question is answered");
    assert_clean(citizen, "the status page after the answer").await;
    citizen
        .assert_usable("the status page after the answer")
        .await;
    citizen.shot("05-citizen-answered").await;

    // ---- The kasi sees the answer, its file and the complaint back in triage.
    kasi.goto(&page).await;
    kasi.find("#attachments").await;
    assert_eq!(kasi.text("#state").await, "Penelaahan Kasi");
    assert!(!kasi.has("#open-question").await);
    let seen = kasi.visible_text().await;
    assert!(seen.contains(answer), "the answer on the page:\n{seen}");
    let (_, d) = api.get(&format!("/api/v1/admin/complaints/{ticket}")).await;
    let files = d["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{d}");
    let second = files[1]["id"].as_i64().unwrap();
    assert_eq!(
        files[1]["size"],
        json!(std::fs::metadata(&shot).unwrap().len())
    );
    assert!(image_width(kasi, &format!("#attachment-preview-{second}")).await > 0.0);
    assert_clean(kasi, "the admin page after the answer").await;
    kasi.shot("06-admin-after-answer").await;
}
