//! The admin pages in a real headless Chromium, driven over WebDriver (fantoccini +
//! chromedriver): every SOP role logs in and one complaint walks from manual entry to the
//! Kabid's paraf, then the Kepala Dinas decides on the monthly report. Screenshots of the
//! main pages are saved under `$CARGO_TARGET_TMPDIR/screenshots/` for review.
//!
//! `scripts/chromium-test` installs Debian's `chromium` and `chromium-driver` when they are
//! missing and starts ChromeDriver on a loopback port. When that fails this test FAILS (it
//! never skips), with the script's output in the message.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use aduan_core::logbook::Month;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt as _;
use serde_json::json;

/// ChromeDriver started by `scripts/chromium-test`; stopped on drop.
struct Driver {
    script: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Process::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_driver() -> Driver {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/chromium-test");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = Process::new("bash")
        .arg(&script)
        .arg("start")
        .arg(dir.path())
        .arg(port.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    if !out.status.success() {
        panic!(
            "Chromium/ChromeDriver is required for the admin page browser test and could not be \
             started by scripts/chromium-test (it installs Debian's chromium and chromium-driver \
             with apt-get when /usr/bin/chromium or /usr/bin/chromedriver is missing).\n\
             exit: {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Driver { script, dir, port }
}

fn screenshot_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Ui {
    c: Client,
    base: String,
    shots: PathBuf,
}

impl Ui {
    async fn open(driver: &Driver, base: &str, profile: &Path) -> Ui {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--window-size=1366,768",
                    "--lang=id-ID",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session via ChromeDriver: {e}"));
        Ui {
            c,
            base: base.to_string(),
            shots: screenshot_dir(),
        }
    }

    async fn goto(&self, path: &str) {
        self.c
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("goto {path}: {e}"));
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("element `{css}` not found: {e}"))
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    async fn source(&self) -> String {
        self.c.source().await.unwrap()
    }

    async fn path(&self) -> String {
        let u = self.c.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// A full-page screenshot at 1366 px width (the window grows to the page's height for
    /// the shot, then returns to 1366×768).
    async fn shot(&self, name: &str) {
        let dims = self
            .c
            .execute(
                "return [Math.max(document.documentElement.scrollHeight, document.body.scrollHeight), window.outerHeight - window.innerHeight];",
                vec![],
            )
            .await
            .unwrap();
        let page_h = dims[0].as_f64().unwrap_or(768.0) as u32;
        let chrome_h = dims[1].as_f64().unwrap_or(0.0) as u32;
        let (w0, h0) = self.c.get_window_size().await.unwrap();
        let full = (page_h + chrome_h).clamp(768, 6000);
        self.c.set_window_size(1366, full).await.unwrap();
        let png = self.c.screenshot().await.unwrap();
        self.c.set_window_size(w0 as u32, h0 as u32).await.unwrap();
        let p = self.shots.join(format!("{name}.png"));
        std::fs::write(&p, png).unwrap();
        println!("screenshot: {}", p.display());
    }

    /// The current page printed to PDF on A4 landscape (the browser's print pipeline, so the
    /// stylesheet's print rules apply).
    async fn print_pdf(&self, name: &str) {
        use fantoccini::wd::{PrintConfiguration, PrintOrientation, PrintSize};
        let cfg = PrintConfiguration::builder()
            .orientation(PrintOrientation::Landscape)
            .size(PrintSize::A4)
            .background(true)
            .build()
            .unwrap();
        let pdf = self.c.print(cfg).await.unwrap();
        assert!(pdf.starts_with(b"%PDF"), "print output is a PDF");
        let p = self.shots.join(format!("{name}.pdf"));
        std::fs::write(&p, pdf).unwrap();
        println!("printed: {}", p.display());
    }

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
    let driver = start_driver();
    let app = spawn().await;
    let profile = tempfile::tempdir().unwrap();
    let ui = Ui::open(&driver, &app.base, profile.path()).await;
    // Close the browser session even when a step fails, then report the failure.
    let outcome = std::panic::AssertUnwindSafe(walk(&ui, &app))
        .catch_unwind()
        .await;
    let _ = ui.c.clone().close().await;
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

    // ---- Next month: the report of March, delivered to the Kepala Dinas, who decides.
    app.clock.advance(chrono::Duration::days(23));
    ui.login("kadis").await;
    ui.shot("13-kadis-beranda").await;
    ui.goto("/admin/reports/2026-03").await;
    assert!(ui.text("#report-state").await.contains("Draf"));
    app.desk
        .report_delivered(Month::parse("2026-03").unwrap())
        .await
        .unwrap();
    ui.goto("/admin/reports/2026-03").await;
    let loaded = ui
        .c
        .execute(
            "return ['chart-category','chart-bidang','chart-steps'].every(function (id) { var i = document.getElementById(id); return i && i.complete && i.naturalWidth > 0; });",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded, json!(true), "the chart images load under the CSP");
    assert_eq!(ui.text("#total").await, "2");
    ui.shot("14-kadis-laporan-bulanan").await;
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
    println!("screenshots saved in {}", ui.shots.display());
}
