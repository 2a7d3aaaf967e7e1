//! A real headless Chromium over WebDriver (fantoccini + Debian's chromedriver), shared by
//! every browser test of the workspace.
//!
//! `scripts/chromium-test` installs Debian's `chromium` and `chromium-driver` when they are
//! missing and starts ChromeDriver on a loopback port; when that fails the test FAILS (it
//! never skips), with the script's output in the message. Screenshots land under
//! `<target>/tmp/screenshots/<suite>/`.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// ChromeDriver started by `scripts/chromium-test`; stopped (by its pid file) on drop.
pub struct Driver {
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

impl Driver {
    /// Install (when missing) and start ChromeDriver on a free loopback port.
    pub fn start() -> Driver {
        let script = crate::repo_root().join("scripts/chromium-test");
        let dir = tempfile::tempdir().unwrap();
        let port = crate::free_port();
        let out = Process::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir.path())
            .arg(port.to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        if !out.status.success() {
            panic!(
                "Chromium/ChromeDriver is required for the browser tests and could not be \
                 started by scripts/chromium-test (it installs Debian's chromium and \
                 chromium-driver with apt-get when /usr/bin/chromium or /usr/bin/chromedriver \
                 is missing).\nexit: {}\nstdout:\n{}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Driver { script, dir, port }
    }
}

/// The window a test looks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// A 360 × 740 CSS-pixel phone (device emulation: touch, device pixel ratio 2, a
    /// mobile user agent, the page's viewport meta honoured).
    Phone,
    /// A 1366 × 768 desktop window.
    Desktop,
}

impl Screen {
    pub fn name(self) -> &'static str {
        match self {
            Screen::Phone => "phone",
            Screen::Desktop => "desktop",
        }
    }
    fn width(self) -> u32 {
        match self {
            Screen::Phone => 360,
            Screen::Desktop => 1366,
        }
    }
}

/// What [`Ui::layout`] measured on the current page.
#[derive(Debug)]
pub struct Layout {
    /// `document.documentElement.scrollWidth`
    pub scroll_width: f64,
    /// `window.innerWidth`
    pub inner_width: f64,
    /// Interactive elements (links, buttons, fields, choice labels) lower than 44 CSS px,
    /// as `tag#id "text" height`.
    pub small_targets: Vec<String>,
}

/// One browser session.
pub struct Ui {
    pub c: Client,
    base: String,
    shots: PathBuf,
    screen: Screen,
}

impl Ui {
    /// Open a Chromium session for `base` on `screen`, with a fresh profile in `profile`;
    /// screenshots go to `<target>/tmp/screenshots/<suite>/`.
    pub async fn open(
        driver: &Driver,
        base: &str,
        profile: &Path,
        screen: Screen,
        suite: &str,
    ) -> Ui {
        let mut opts = json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--no-first-run",
                "--window-size=1366,768",
                "--lang=id-ID",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        if screen == Screen::Phone {
            opts["mobileEmulation"] = json!({
                "deviceMetrics": {"width": 360, "height": 740, "pixelRatio": 2.0, "touch": true, "mobile": true},
                "userAgent": "Mozilla/5.0 (Linux; Android 14; SM-A155F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36",
            });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), opts);
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session via ChromeDriver: {e}"));
        let shots = screenshot_dir(suite);
        Ui {
            c,
            base: base.to_string(),
            shots,
            screen,
        }
    }

    pub fn screen(&self) -> Screen {
        self.screen
    }

    /// Where this session's screenshots go.
    pub fn shots(&self) -> &Path {
        &self.shots
    }

    /// Close the session (call it also when a step failed).
    pub async fn close(&self) {
        let _ = self.c.clone().close().await;
    }

    pub async fn goto(&self, path: &str) {
        self.c
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("goto {path}: {e}"));
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("element `{css}` not found: {e}"))
    }

    /// Is `css` on the page now (no waiting)?
    pub async fn has(&self, css: &str) -> bool {
        self.c.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// The current value of a form field.
    pub async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    pub async fn source(&self) -> String {
        self.c.source().await.unwrap()
    }

    /// The text the user sees (`document.body.innerText`).
    pub async fn visible_text(&self) -> String {
        self.c
            .execute("return document.body.innerText;", vec![])
            .await
            .unwrap()
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Path and query of the current page.
    pub async fn path(&self) -> String {
        let u = self.c.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// Measure the page: horizontal overflow and interactive elements under 44 CSS px.
    pub async fn layout(&self) -> Layout {
        let v = self
            .c
            .execute(
                r#"
const bad = [];
const sel = 'a[href], button, select, textarea, input:not([type=hidden]):not([type=radio]):not([type=checkbox]), label.choice';
for (const e of document.querySelectorAll(sel)) {
  const r = e.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  if (r.height < 44) bad.push(`${e.tagName.toLowerCase()}#${e.id} "${(e.innerText || e.value || '').slice(0, 30)}" ${r.height.toFixed(1)}px`);
}
return [document.documentElement.scrollWidth, window.innerWidth, bad];
"#,
                vec![],
            )
            .await
            .unwrap();
        Layout {
            scroll_width: v[0].as_f64().unwrap(),
            inner_width: v[1].as_f64().unwrap(),
            small_targets: v[2]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect(),
        }
    }

    /// Assert the page fits its window without horizontal scroll and every tap target is
    /// at least 44 px high.
    pub async fn assert_usable(&self, what: &str) {
        let l = self.layout().await;
        assert!(
            l.scroll_width <= l.inner_width,
            "{what} on {}: {} px wide in a {} px window (horizontal scroll)",
            self.screen.name(),
            l.scroll_width,
            l.inner_width
        );
        if self.screen == Screen::Phone {
            assert_eq!(l.inner_width, 360.0, "the phone window is 360 CSS px");
        }
        assert!(
            l.small_targets.is_empty(),
            "{what} on {}: tap targets under 44 px: {:?}",
            self.screen.name(),
            l.small_targets
        );
    }

    /// A full-page screenshot `<name>-<screen>.png` (the window grows to the page's height
    /// for the shot, then returns). Returns its path.
    pub async fn shot(&self, name: &str) -> PathBuf {
        let p = self
            .shots
            .join(format!("{name}-{}.png", self.screen.name()));
        let png = match self.screen {
            Screen::Phone => self.phone_full_page().await,
            Screen::Desktop => {
                let h = self
                    .c
                    .execute(
                        "return [Math.max(document.documentElement.scrollHeight, document.body.scrollHeight), window.outerHeight - window.innerHeight];",
                        vec![],
                    )
                    .await
                    .unwrap();
                let page_h = h[0].as_f64().unwrap_or(768.0) as u32;
                let chrome_h = h[1].as_f64().unwrap_or(0.0) as u32;
                let (w0, h0) = self.c.get_window_size().await.unwrap();
                let full = (page_h + chrome_h).clamp(768, 6000);
                self.c
                    .set_window_size(self.screen.width(), full)
                    .await
                    .unwrap();
                let png = self.c.screenshot().await.unwrap();
                self.c.set_window_size(w0 as u32, h0 as u32).await.unwrap();
                png
            }
        };
        std::fs::write(&p, png).unwrap();
        println!("screenshot: {}", p.display());
        p
    }

    /// Under device emulation the window size does not change the viewport, so the whole
    /// page is captured through ChromeDriver's DevTools bridge (`captureBeyondViewport`).
    async fn phone_full_page(&self) -> Vec<u8> {
        use base64::Engine as _;
        let v = self
            .c
            .issue_cmd(Cdp {
                cmd: "Page.captureScreenshot",
                params: json!({"format": "png", "captureBeyondViewport": true}),
            })
            .await
            .unwrap_or_else(|e| panic!("full-page screenshot: {e}"));
        base64::engine::general_purpose::STANDARD
            .decode(v["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG")
    }

    /// The current page printed to PDF on A4 landscape (the stylesheet's print rules).
    pub async fn print_pdf(&self, name: &str) -> PathBuf {
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
        p
    }
}

impl Ui {
    /// The current page printed to PDF as its stylesheet asks (the CSS `@page` size and
    /// orientation win: DevTools `Page.printToPDF` with `preferCSSPageSize`). Returns the
    /// file and each page's size in points (A4 portrait is 595.3 × 841.9).
    pub async fn print_pdf_css(&self, name: &str) -> (PathBuf, Vec<(f64, f64)>) {
        use base64::Engine as _;
        let v = self
            .c
            .issue_cmd(Cdp {
                cmd: "Page.printToPDF",
                params: json!({"preferCSSPageSize": true, "printBackground": true}),
            })
            .await
            .unwrap_or_else(|e| panic!("printToPDF: {e}"));
        let pdf = base64::engine::general_purpose::STANDARD
            .decode(v["data"].as_str().expect("pdf data"))
            .expect("base64 PDF");
        assert!(pdf.starts_with(b"%PDF"), "print output is a PDF");
        let p = self.shots.join(format!("{name}.pdf"));
        std::fs::write(&p, &pdf).unwrap();
        println!("printed: {}", p.display());
        (p, media_boxes(&pdf))
    }

    /// A screenshot of the page as it prints (CSS print media emulated), then back to screen.
    pub async fn shot_print(&self, name: &str) -> PathBuf {
        let media = |m: &str| Cdp {
            cmd: "Emulation.setEmulatedMedia",
            params: json!({ "media": m }),
        };
        self.c.issue_cmd(media("print")).await.unwrap();
        let p = self.shot(name).await;
        self.c.issue_cmd(media("")).await.unwrap();
        p
    }
}

/// The `/MediaBox [x0 y0 x1 y1]` sizes of a PDF's pages (width, height in points).
pub fn media_boxes(pdf: &[u8]) -> Vec<(f64, f64)> {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/MediaBox")
        .filter_map(|(i, _)| {
            let rest = &text[i..];
            let open = rest.find('[')?;
            let close = rest.find(']')?;
            let n: Vec<f64> = rest[open + 1..close]
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (n.len() == 4).then(|| (n[2] - n[0], n[3] - n[1]))
        })
        .collect()
}

/// `<target>/tmp/screenshots/<suite>/`, created.
pub fn screenshot_dir(suite: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let d = target.join("tmp/screenshots").join(suite);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// ChromeDriver's `POST /session/{id}/goog/cdp/execute`: one Chrome DevTools command.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"cmd": self.cmd, "params": self.params}).to_string()),
        )
    }
}
