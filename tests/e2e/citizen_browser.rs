//! The citizen's whole path in a real Chromium, on a 360-px phone and on a desktop, against
//! the built daemon on the shipped config: open the form, post it with a mistake (refused,
//! what was typed kept, a message beside the field), fix it, attach a file, submit, read
//! the ticket and access code from the receipt, type them into the status page, watch the
//! state change as staff act (through the staff API, with accounts made by `aduan user
//! add`), and read the final answer. Every page is measured (no horizontal scroll, tap
//! targets ≥ 44 px), searched for template artefacts, and photographed.

use aduan_e2e::browser::{Driver, Screen, Ui};
use aduan_e2e::{Daemon, Staff};
use futures::FutureExt as _;
use serde_json::json;

/// No `None`/`null`/template tags in what the citizen sees or in the page source.
async fn assert_clean(ui: &Ui, what: &str) {
    let seen = ui.visible_text().await;
    let src = ui.source().await;
    for a in ["None", "null", "undefined", "{{", "}}", "{%", "%}", "NaN"] {
        assert!(!seen.contains(a), "{what}: the page shows `{a}`:\n{seen}");
        assert!(!src.contains(a), "{what}: the source carries `{a}`");
    }
}

async fn page_check(ui: &Ui, what: &str, shot: &str) {
    assert_clean(ui, what).await;
    ui.assert_usable(what).await;
    ui.shot(shot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizen_path_on_a_phone_and_a_desktop() {
    let driver = Driver::start();
    let daemon = Daemon::start(&[]);
    let staff = Tokens {
        kasi: Staff::new(&daemon, daemon.user_add("kasi.1", "kasi", None)),
        bidang: Staff::new(
            &daemon,
            daemon.user_add("dafduk.1", "bidang", Some("dafduk")),
        ),
        staf: Staff::new(&daemon, daemon.user_add("staf.1", "staf", None)),
    };
    for screen in [Screen::Phone, Screen::Desktop] {
        let profile = tempfile::tempdir().unwrap();
        let ui = Ui::open(&driver, &daemon.base, profile.path(), screen, "citizen").await;
        let outcome = std::panic::AssertUnwindSafe(walk(&ui, &daemon, &staff))
            .catch_unwind()
            .await;
        ui.close().await;
        if let Err(p) = outcome {
            eprintln!("daemon log:\n{}", daemon.log());
            std::panic::resume_unwind(p);
        }
    }
    let status = daemon.stop();
    assert!(status.success(), "SIGTERM exits 0, got {status}");
}

struct Tokens {
    kasi: Staff,
    bidang: Staff,
    staf: Staff,
}

async fn walk(ui: &Ui, daemon: &Daemon, staff: &Tokens) {
    let screen = ui.screen().name();
    // ---- The form, as a citizen opens it.
    ui.goto("/pengaduan").await;
    ui.find("#complaint-form").await;
    for id in ["#name", "#address", "#email", "#phone", "#target", "#body"] {
        assert_eq!(ui.value(id).await, "", "{id} starts empty");
    }
    page_check(ui, "the empty form", "01-form").await;

    // ---- A mistake in the phone number: refused, nothing lost, the message beside it.
    let name = format!("Ni Made Sari ({screen})");
    let body = "KTP-el saya belum jadi sejak dua bulan, padahal sudah rekam di kecamatan.";
    ui.fill("#name", &name).await;
    ui.fill("#email", "made.sari@example.com").await;
    ui.fill("#phone", "0812-34ab-7890").await;
    ui.fill("#target", "Loket KTP-el").await;
    ui.fill("#body", body).await;
    ui.click("input[name=category][value=pelayanan]").await;
    ui.click("#submit").await;
    ui.find("#phone-error").await;
    assert!(ui.text("#phone-error").await.contains("No. HP tidak valid"));
    assert_eq!(ui.value("#name").await, name, "typed name kept");
    assert_eq!(ui.value("#email").await, "made.sari@example.com");
    assert_eq!(ui.value("#phone").await, "0812-34ab-7890");
    assert_eq!(ui.value("#body").await, body);
    assert_eq!(
        ui.find("input[name=category][value=pelayanan]")
            .await
            .prop("checked")
            .await
            .unwrap()
            .as_deref(),
        Some("true"),
        "the chosen category stays chosen"
    );
    assert!(ui.has("#form-errors").await);
    page_check(ui, "the refused form", "02-form-refused").await;

    // ---- Fixed, with an attachment (a real PNG: the form's own screenshot).
    ui.fill("#phone", "0812 3456 7890").await;
    let photo = ui.shot("02b-attachment").await;
    let photo_bytes = std::fs::metadata(&photo).unwrap().len();
    ui.find("#attachments")
        .await
        .send_keys(&photo.display().to_string())
        .await
        .unwrap();
    ui.click("#submit").await;

    // ---- The receipt: ticket and access code.
    ui.find("#access-code").await;
    let ticket = ui.text("#ticket").await;
    let code = ui.text("#access-code").await;
    assert!(ticket.starts_with("ADU-") && ticket.len() >= 15, "{ticket}");
    assert_eq!(code.len(), 10, "{code}");
    let seen = ui.visible_text().await;
    assert!(seen.contains("1 lampiran ikut diterima"), "{seen}");
    // The shipped config has no SMTP: no promise of an e-mail that cannot be sent.
    assert!(!seen.contains("dikirim ke alamat email"), "{seen}");
    page_check(ui, "the receipt", "03-receipt").await;

    // Staff can open what was attached, byte for byte the same size.
    let (st, d) = staff
        .kasi
        .get(&format!("/api/v1/admin/complaints/{ticket}"))
        .await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["complainant"]["name"], json!(name));
    assert_eq!(d["attachments"][0]["size"], json!(photo_bytes), "{d}");
    assert_eq!(d["category"], "pelayanan");

    // ---- The status page, with the ticket and code typed in (lower case, spaces around).
    ui.goto("/pengaduan/status").await;
    ui.fill("#ticket", &format!(" {} ", ticket.to_lowercase()))
        .await;
    ui.fill("#code", &code.to_lowercase()).await;
    ui.click("#status-submit").await;
    ui.find("#status").await;
    assert_eq!(ui.text("#status-ticket").await, ticket);
    assert_eq!(
        ui.text("#status-state").await,
        "Sedang ditelaah oleh Kasi Kerjasama"
    );
    let seen = ui.visible_text().await;
    assert!(seen.contains("WITA"), "times in office time: {seen}");
    assert!(
        !seen.contains("made.sari"),
        "no identity on the status page"
    );
    page_check(ui, "the status page", "04-status-triage").await;

    // ---- Staff act; the citizen reloads and sees each step.
    staff
        .kasi
        .act(
            &ticket,
            "assign",
            json!({"bidang": "dafduk", "note": "KTP-el"}),
        )
        .await;
    ui.c.refresh().await.unwrap();
    assert_eq!(
        ui.text("#status-state").await,
        "Sedang ditangani oleh bidang terkait"
    );
    staff
        .bidang
        .act(
            &ticket,
            "solution",
            json!({"text": "Blangko tersedia kembali; KTP-el dicetak hari ini."}),
        )
        .await;
    ui.c.refresh().await.unwrap();
    assert_eq!(ui.text("#status-state").await, "Jawaban sedang diperiksa");
    staff
        .kasi
        .act(&ticket, "review", json!({"decision": "approve"}))
        .await;
    let answer = "Yth. Ibu, KTP-el Anda sudah dicetak dan dapat diambil di loket 3 \
                  Disdukcapil Buleleng pada jam kerja dengan membawa tanda terima ini.";
    staff
        .staf
        .act(&ticket, "follow-up", json!({"message": answer}))
        .await;
    ui.c.refresh().await.unwrap();
    assert_eq!(ui.text("#status-state").await, "Selesai ditangani");
    assert!(
        ui.text("#answer").await.contains("loket 3"),
        "the final answer is shown"
    );
    page_check(ui, "the answered status page", "05-status-answered").await;

    // ---- A wrong code: the refusal page.
    ui.goto(&format!(
        "/pengaduan/status?ticket={ticket}&code=ZZZZZZZZZZ"
    ))
    .await;
    ui.find("#not-found").await;
    page_check(ui, "the wrong-code page", "06-status-not-found").await;
    ui.goto("/pengaduan/tidak-ada").await;
    ui.find("#error-message").await;
    page_check(ui, "the public 404 page", "07-not-found").await;
    assert!(
        !daemon.log().contains("made.sari"),
        "the daemon's log names the citizen"
    );
}
