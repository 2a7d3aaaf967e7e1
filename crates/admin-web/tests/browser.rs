//! The admin pages in a real headless Chromium, driven over WebDriver (fantoccini +
//! chromedriver): every SOP role logs in and one complaint walks from manual entry to the
//! Kabid's paraf, then the Kepala Dinas decides on the monthly report. Screenshots of the
//! main pages are saved under `<target>/tmp/screenshots/admin/` for review. The browser
//! session itself is the shared one of `aduan_e2e::browser`.
//!
//! `scripts/chromium-test` installs Debian's `chromium` and `chromium-driver` when they are
//! missing and starts ChromeDriver on a loopback port. When that fails this test FAILS (it
//! never skips), with the script's output in the message.

mod common;

use aduan_core::logbook::Month;
use aduan_e2e::browser::{Driver, Screen, Ui};
use common::*;
use futures::FutureExt as _;

/// The staff pages' own steps on top of the shared browser session.
trait StaffUi {
    async fn login(&self, user: &str);
    async fn logout(&self);
}

impl StaffUi for Ui {
    async fn login(&self, user: &str) {
        self.goto("/admin/login").await;
        self.fill("#username", user).await;
        self.fill("#password", password_of(user)).await;
        self.click("#login-submit").await;
        self.find("#who").await;
        assert_eq!(self.path().await, "/admin", "{user} lands on the queue");
    }

    async fn logout(&self) {
        self.click("#logout").await;
        self.find("#login-form").await;
        assert!(self.source().await.contains("Anda telah keluar"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_complaint_from_manual_entry_to_paraf_in_chromium() {
    let driver = Driver::start();
    let app = spawn().await;
    let profile = tempfile::tempdir().unwrap();
    let ui = Ui::open(&driver, &app.base, profile.path(), Screen::Desktop, "admin").await;
    // Close the browser session even when a step fails, then report the failure.
    let outcome = std::panic::AssertUnwindSafe(walk(&ui, &app))
        .catch_unwind()
        .await;
    ui.close().await;
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

async fn walk(ui: &Ui, app: &TestApp) {
    // Another division's complaint, which the dafduk user must never reach.
    let theirs = app
        .web_complaint(&format!(
            "Akta kelahiran anak saya salah ketik. {}",
            body_with_identity()
        ))
        .await;
    app.desk
        .staff()
        .act(
            &app.actor("ayu.kasi"),
            &theirs,
            aduan_core::workflow::Command::Assign {
                bidang: aduan_core::types::BidangCode::parse("capil").unwrap(),
                note: None,
            },
        )
        .await
        .unwrap();

    // ---- Staf: log a letter complaint (FM-PDIP-03-01 + letter number + received time).
    ui.goto("/admin/login").await;
    ui.shot("01-login").await;
    ui.login("sri.staf").await;
    ui.shot("02-staf-antrean").await;
    ui.click("#new-complaint").await;
    ui.find("#form-new").await;
    ui.find("#channel")
        .await
        .select_by_value("letter")
        .await
        .unwrap();
    ui.fill("#letter_number", "470/12/DISDUKCAPIL/2026").await;
    ui.fill("#name", CITIZEN_NAME).await;
    ui.fill("#address", CITIZEN_ADDRESS).await;
    ui.fill("#email", CITIZEN_EMAIL).await;
    ui.fill("#phone", CITIZEN_PHONE).await;
    ui.fill("#target", "Loket KTP-el").await;
    ui.click("input[name=category][value=pelayanan]").await;
    ui.fill("#body", &body_with_identity()).await;
    let received = ui.find("#received_at").await.prop("value").await.unwrap();
    assert_eq!(
        received.as_deref(),
        Some("2026-03-10T10:00"),
        "received time defaults to now"
    );
    ui.shot("03-staf-catat-pengaduan").await;
    ui.click("#new-submit").await;
    let ticket = ui.text("#ticket").await;
    assert!(ticket.starts_with("ADU-202603-"), "{ticket}");
    assert!(ui.text("#notice").await.contains("dicatat"));
    ui.shot("04-staf-pengaduan-tercatat").await;

    // ---- Staf: the web complaint's e-mail acknowledgement failed for good; the page of
    // failed replies, reached from the menu, names it with the server's answer and the
    // other contact to answer by.
    let claimed = app
        .desk
        .store()
        .claim_replies(app.desk.now(), chrono::Duration::minutes(1), 10)
        .await
        .unwrap();
    assert!(!claimed.is_empty(), "the acknowledgement is queued");
    for item in &claimed {
        app.desk
            .store()
            .complete_reply(
                item,
                aduan_core::model::ReplyOutcome::Failed {
                    error: "550 5.1.1 <warga@contoh.id>: mailbox unavailable".into(),
                },
            )
            .await
            .unwrap();
    }
    ui.click("nav a[href='/admin/replies/failed']").await;
    ui.find("table#failed").await;
    assert_eq!(ui.path().await, "/admin/replies/failed");
    let src = ui.source().await;
    assert!(src.contains("Balasan yang gagal terkirim"), "{src}");
    assert!(
        src.contains(&theirs),
        "the failed complaint is listed: {src}"
    );
    assert!(
        src.contains("mailbox unavailable"),
        "with the server's answer"
    );
    ui.shot("04b-staf-balasan-gagal").await;
    ui.logout().await;

    // ---- Kasi: the queue with its countdown, then assign with the routing suggestion.
    ui.login("ayu.kasi").await;
    let src = ui.source().await;
    assert!(src.contains(&ticket) && src.contains("sisa "), "kasi queue");
    ui.shot("05-kasi-antrean").await;
    ui.click(&format!("a.ticket[href='/admin/complaints/{ticket}']"))
        .await;
    let chosen = ui.find("#assign-bidang").await.prop("value").await.unwrap();
    assert_eq!(
        chosen.as_deref(),
        Some("dafduk"),
        "suggested bidang preselected"
    );
    assert!(
        ui.source().await.contains(CITIZEN_NAME),
        "kasi sees the identity"
    );
    ui.shot("06-kasi-detail-teruskan").await;
    ui.fill("#assign-note", "Mohon dicek status cetak KTP-el.")
        .await;
    ui.click("#assign-submit").await;
    assert!(ui.text("#notice").await.contains("diteruskan"));
    assert!(ui.text("#bidang").await.contains("Pendaftaran Penduduk"));
    ui.logout().await;

    // ---- Bidang: own inbox only, identity masked, other division's complaint 404.
    ui.login("dafduk1").await;
    let src = ui.source().await;
    assert!(src.contains(&ticket), "dafduk inbox lists the complaint");
    assert!(
        !src.contains(&theirs),
        "another division's complaint listed"
    );
    ui.shot("07-bidang-kotak-masuk").await;
    ui.click(&format!("a.ticket[href='/admin/complaints/{ticket}']"))
        .await;
    ui.find("#identity-hidden").await;
    let src = ui.source().await;
    for n in identity_needles() {
        assert!(
            !src.contains(n),
            "identity `{n}` visible to the bidang user"
        );
    }
    assert!(src.contains("[NIK disamarkan]") && src.contains("[email disamarkan]"));
    ui.shot("08-bidang-detail-identitas-tersamar").await;
    ui.fill(
        "#solution-text",
        "KTP-el sudah dicetak dan dapat diambil di loket 3 pukul 08.00-14.00.",
    )
    .await;
    ui.click("#solution-submit").await;
    assert!(ui.text("#notice").await.contains("Solusi dikirim"));
    ui.goto(&format!("/admin/complaints/{theirs}")).await;
    assert_eq!(ui.text("#error-title").await, "Tidak ditemukan");
    let src = ui.source().await;
    assert!(!src.contains("Akta kelahiran") && !src.contains(CITIZEN_NAME));
    ui.goto("/admin/logbook/2026-03").await;
    assert_eq!(ui.text("#error-title").await, "Akses ditolak");
    ui.goto("/admin").await;
    ui.logout().await;

    // ---- Kasi: approve.
    ui.login("ayu.kasi").await;
    ui.goto(&format!("/admin/complaints/{ticket}")).await;
    assert!(ui.text("#solution").await.contains("loket 3"));
    ui.click("#approve-submit").await;
    assert!(ui.text("#notice").await.contains("disetujui"));
    ui.logout().await;

    // ---- Staf: follow-up (a letter: recorded, not sent).
    ui.login("sri.staf").await;
    ui.goto(&format!("/admin/complaints/{ticket}")).await;
    let draft = ui
        .find("#follow-up-message")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        draft.as_deref(),
        Some("KTP-el sudah dicetak dan dapat diambil di loket 3 pukul 08.00-14.00.")
    );
    ui.shot("09-staf-tindak-lanjut").await;
    ui.fill(
        "#follow-up-message",
        "Dijawab dengan surat no. 470/15/2026: KTP-el dapat diambil di loket 3.",
    )
    .await;
    ui.click("#follow-up-submit").await;
    assert!(ui.text("#notice").await.contains("selesai"));
    assert_eq!(ui.text("#state").await, "Ditutup");
    ui.logout().await;

    // ---- Kabid: the printable logbook, select all with the script, paraf the selection.
    ui.login("kabid.pdip").await;
    ui.goto("/admin/logbook/2026-03").await;
    ui.find("#paraf-form").await;
    ui.shot("10-kabid-logbook-FM-PDIP-03-02").await;
    // CSRF refusal in the browser: a tampered token is refused with 403.
    ui.c.execute(
        "document.querySelector('#paraf-form input[name=csrf]').value = 'dipalsukan';",
        vec![],
    )
    .await
    .unwrap();
    ui.click("#paraf-selected").await;
    assert_eq!(ui.text("#error-title").await, "Permintaan ditolak");
    assert!(ui.source().await.contains("CSRF"));
    ui.goto("/admin/logbook/2026-03").await;
    let boxes = format!("input[name=select][value='{ticket}']");
    ui.click("#select-all").await;
    assert!(
        ui.find(&boxes).await.is_selected().await.unwrap(),
        "the select-all script (served under the CSP) ticks the lines"
    );
    ui.click("#paraf-selected").await;
    assert!(ui.text("#paraf-result").await.contains("1 baris diparaf"));
    let src = ui.source().await;
    assert!(src.contains("kabid.pdip (10-03-2026)"), "paraf cell filled");
    ui.shot("11-kabid-logbook-diparaf").await;
    ui.goto(&format!("/admin/complaints/{ticket}")).await;
    assert!(ui.text("#paraf").await.starts_with("kabid.pdip"));
    ui.shot("12-detail-riwayat-lengkap").await;
    ui.logout().await;

    // Two more complaints of March: one problem in two spellings, for the report.
    app.web_complaint("KTP elektronik saya belum jadi sudah dua bulan.")
        .await;
    app.web_complaint("e-KTP blm jadi, padahal sudah rekam di kecamatan.")
        .await;

    // ---- Next month: the report of March, delivered to the Kepala Dinas, who decides.
    app.clock.advance(chrono::Duration::days(23));
    ui.login("kadis").await;
    ui.shot("13-kadis-beranda").await;
    ui.goto("/admin/reports/2026-03").await;
    assert!(ui.text("#report-state").await.contains("Draf"));
    // The page only previews an unbuilt month (a GET writes nothing); the month-end job
    // builds the report and delivers it.
    app.desk
        .reports()
        .build_report(Month::parse("2026-03").unwrap())
        .await
        .unwrap();
    app.desk
        .reports()
        .report_delivered(Month::parse("2026-03").unwrap())
        .await
        .unwrap();
    // The Kadis waits for the Kasi's conclusion (SOP steps 6–7): no decision form before it.
    ui.goto("/admin/reports/2026-03").await;
    assert!(
        ui.text("#awaiting-conclusion")
            .await
            .contains("kesimpulan Kasi")
    );
    ui.logout().await;
    ui.login("ayu.kasi").await;
    ui.goto("/admin/reports/2026-03").await;
    // The frequent problems as the Kasi meets them: one problem in its spellings, with the
    // division it comes from; she picks it into the risk register and writes its cause.
    let problems = ui.text("#problems").await;
    assert!(problems.contains("KTP-el belum jadi"), "{problems}");
    ui.click("#pilih-0").await;
    ui.fill("#penyebab-0", "stok blangko habis di akhir bulan")
        .await;
    ui.shot("14a-kasi-memilih-masalah").await;
    ui.fill(
        "#conclusion-text",
        "Masalah terbanyak: KTP-el belum jadi; penyebab: stok blangko habis di akhir bulan.",
    )
    .await;
    ui.click("#conclusion-submit").await;
    assert!(ui.text("#conclusion").await.contains("stok blangko"));
    assert!(
        ui.text("#risks")
            .await
            .contains("stok blangko habis di akhir bulan")
    );
    ui.shot("14a-kasi-kesimpulan").await;
    ui.logout().await;
    ui.login("kadis").await;
    ui.goto("/admin/reports/2026-03").await;
    let loaded = ui
        .c
        .execute(
            "return ['chart-category','chart-bidang','chart-channel','chart-steps','chart-trend'].every(function (id) { var i = document.getElementById(id); return i && i.complete && i.naturalWidth > 0; });",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        loaded,
        serde_json::json!(true),
        "the chart images load under the CSP"
    );
    assert_eq!(ui.text("#total").await, "4");
    assert!(ui.text("#steps").await.contains("Kasi Kerjasama"));
    ui.shot("14-kadis-laporan-bulanan").await;
    // Printed as the stylesheet asks: A4 portrait, without the forms.
    let (_, pages) = ui.print_pdf_css("14b-laporan-bulanan-A4").await;
    assert!(
        pages
            .iter()
            .all(|&(w, h)| (w - 595.3).abs() < 2.0 && (h - 841.9).abs() < 2.0),
        "A4 portrait pages: {pages:?}"
    );
    ui.shot_print("14c-laporan-bulanan-cetak").await;
    ui.fill(
        "#decision-text",
        "Tambah stok blangko KTP-el dan umumkan jadwal pengambilan di media sosial.",
    )
    .await;
    ui.click("#decision-submit").await;
    assert!(ui.text("#decision").await.contains("Tambah stok blangko"));
    ui.shot("15-kadis-keputusan").await;
    ui.logout().await;

    // ---- The printable logbook as the Kasi sees it (no paraf controls).
    ui.login("ayu.kasi").await;
    ui.goto("/admin/logbook/2026-03").await;
    assert!(ui.source().await.contains("FM-PDIP-03-02"));
    ui.shot("16-logbook-kasi").await;
    ui.print_pdf("16-logbook-FM-PDIP-03-02-2026-03").await;
    println!("screenshots saved in {}", ui.shots().display());
}
