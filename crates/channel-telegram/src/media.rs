//! The Telegram [`MediaFetcher`]: `getFile(file_id)` gives a `file_path`, and the file is
//! served at `{api_url}/file/bot<token>/<file_path>` (Bot API, "getFile"; the link is valid
//! for at least an hour, bots may download files of up to 20 MB).
//!
//! The download URL is built here and not by the client library: teloxide pushes the whole
//! `file_path` as one URL path segment, which percent-encodes its `/`
//! (`/file/bot<token>/photos%2Ffile_1.jpg`), a path the Bot API server does not document.
//! [`file_url`] keeps every segment of `file_path` a path segment of its own, as documented
//! (`/file/bot<token>/photos/file_1.jpg`).
//!
//! Invariants: never more than `limit` bytes are held (the announced size is checked, then
//! the `Content-Length`, then the body is cut off); error texts name neither the token nor
//! the URL (reqwest errors are taken without their URL, and scrubbed of the token).

use std::time::Duration;

use aduan_core::media::{FetchError, Fetched, MediaFetcher, MediaJob};
use async_trait::async_trait;
use reqwest::{StatusCode, Url};
use teloxide::Bot;
use teloxide::requests::Requester;
use teloxide::types::FileId;

use crate::bot::{Failure, api_url, build_bot, classify, scrub};
use crate::config::TelegramConfig;

/// Whole-request timeout of a download (a file of up to 20 MB on a slow line).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// The documented download URL of `file_path` under the Bot API base `api`.
pub fn file_url(api: &Url, token: &str, file_path: &str) -> Url {
    let mut url = api.clone();
    if let Ok(mut segs) = url.path_segments_mut() {
        segs.pop_if_empty();
        segs.push("file");
        segs.push(&format!("bot{token}"));
        for s in file_path.split('/').filter(|s| !s.is_empty()) {
            segs.push(s);
        }
    }
    url
}

/// Downloads Telegram files (see the module docs).
#[derive(Clone)]
pub struct TelegramFetcher {
    bot: Bot,
    token: String,
    api: Url,
    client: reqwest::Client,
}

impl TelegramFetcher {
    pub fn new(cfg: &TelegramConfig) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(DOWNLOAD_TIMEOUT)
            .build()
            .unwrap_or_default();
        TelegramFetcher {
            bot: build_bot(cfg, Duration::from_secs(30)),
            token: cfg.token.expose().to_string(),
            api: api_url(&cfg.api_url)
                .unwrap_or_else(|_| Url::parse("http://127.0.0.1:9").expect("static URL")),
            client,
        }
    }

    fn clean(&self, e: reqwest::Error) -> String {
        let what = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "network error"
        };
        scrub(&self.token, &format!("{what}: {}", e.without_url()))
    }
}

#[async_trait]
impl MediaFetcher for TelegramFetcher {
    async fn fetch(&self, job: &MediaJob, limit: u64) -> Result<Fetched, FetchError> {
        let file = match self.bot.get_file(FileId(job.source.clone())).await {
            Ok(f) => f,
            Err(e) => {
                return Err(match classify(&self.token, &e) {
                    Failure::Permanent(m) if m.contains("too big") => {
                        FetchError::TooLarge { size: job.size }
                    }
                    Failure::Permanent(m) | Failure::Forbidden(m) => {
                        FetchError::Unavailable(format!("getFile: {m}"))
                    }
                    Failure::Migrated(_) => {
                        FetchError::Unavailable("getFile: chat migrated".into())
                    }
                    Failure::RetryAfter(s) => FetchError::RetryAfter {
                        after: chrono::Duration::seconds(i64::from(s)),
                        message: format!("getFile: flood control, retry after {s} s"),
                    },
                    Failure::Transient(m) => FetchError::Transient(format!("getFile: {m}")),
                });
            }
        };
        // teloxide fills a missing `file_size` with u32::MAX.
        let announced = (file.meta.size != u32::MAX).then_some(u64::from(file.meta.size));
        if let Some(size) = announced.filter(|s| *s > limit) {
            return Err(FetchError::TooLarge { size: Some(size) });
        }
        if file.path.trim().is_empty() {
            return Err(FetchError::Unavailable("Telegram gave no file_path".into()));
        }
        let url = file_url(&self.api, &self.token, &file.path);
        let mut resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| FetchError::Transient(format!("download: {}", self.clean(e))))?;
        let status = resp.status();
        if !status.is_success() {
            let why = format!("download: HTTP {}", status.as_u16());
            return Err(
                if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
                    FetchError::Unavailable(why)
                } else {
                    FetchError::Transient(why)
                },
            );
        }
        if let Some(len) = resp.content_length().filter(|l| *l > limit) {
            return Err(FetchError::TooLarge { size: Some(len) });
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut data = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError::Transient(format!("download: {}", self.clean(e))))?
        {
            if data.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge {
                    size: announced.or(Some(data.len() as u64 + chunk.len() as u64)),
                });
            }
            data.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            data,
            // Telegram's file server answers application/octet-stream; the message's own
            // type (kept on the job) wins over it.
            content_type: content_type.filter(|c| !c.starts_with("application/octet-stream")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slash_of_file_path_stays_a_slash() {
        let api = api_url("https://api.telegram.org").unwrap();
        assert_eq!(
            file_url(&api, "123:ABC", "photos/file_1.jpg").as_str(),
            "https://api.telegram.org/file/bot123:ABC/photos/file_1.jpg"
        );
        let api = api_url("http://127.0.0.1:8081/tg/").unwrap();
        assert_eq!(
            file_url(&api, "1:x", "documents/file 2.pdf").as_str(),
            "http://127.0.0.1:8081/tg/file/bot1:x/documents/file%202.pdf"
        );
        // What the client library would request instead.
        let mut lib = api_url("https://api.telegram.org").unwrap();
        lib.path_segments_mut()
            .unwrap()
            .push("file")
            .push("bot1:x")
            .push("photos/file_1.jpg");
        assert!(lib.as_str().ends_with("photos%2Ffile_1.jpg"));
    }
}
