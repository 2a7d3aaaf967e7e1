//! The Meta [`MediaFetcher`] for the three platforms:
//!
//! - WhatsApp Cloud API: the webhook carries only a media id. `GET {graph}/{media-id}` with
//!   the WhatsApp access token answers `{url, mime_type, file_size, …}`; the file is then
//!   downloaded from that (short-lived) URL with the same bearer token.
//! - Messenger and Instagram: the attachment's `payload.url` is downloaded as it is (a
//!   signed CDN link that expires; no token is sent to it).
//!
//! Invariants: never more than `limit` bytes are held (announced size, `Content-Length`,
//! then the body is cut off); only `http`/`https` URLs are fetched; error texts carry
//! neither a URL nor a token (reqwest errors are taken without their URL, Graph errors
//! are classified from their body). A 4xx other than 429 (gone, expired, invalid id) is
//! permanent; 429, 5xx, network errors and token problems (code 190) are retried.

use std::time::Duration;

use aduan_core::media::{FetchError, Fetched, MediaFetcher, MediaJob};
use aduan_core::types::Channel;
use async_trait::async_trait;
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::config::{MetaConfig, Secret};
use crate::send::{GraphError, classify};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request timeout of a download.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// Downloads the media of Meta webhooks (see the module docs).
#[derive(Clone)]
pub struct MetaFetcher {
    client: reqwest::Client,
    graph: Option<Url>,
    whatsapp_token: Secret,
}

fn clean(e: reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "network error"
    };
    format!("{what}: {}", e.without_url())
}

impl MetaFetcher {
    pub fn new(cfg: &MetaConfig) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(DOWNLOAD_TIMEOUT)
            .user_agent(concat!("aduan/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let graph = Url::parse(cfg.graph_api_url.trim_end_matches('/'))
            .ok()
            .filter(|u| !u.cannot_be_a_base());
        MetaFetcher {
            client,
            graph,
            whatsapp_token: cfg.whatsapp_access_token.clone(),
        }
    }

    /// The WhatsApp media id → its download URL and announced size.
    async fn whatsapp_url(
        &self,
        media_id: &str,
    ) -> Result<(Url, Option<u64>, Option<String>), FetchError> {
        let Some(mut url) = self.graph.clone() else {
            return Err(FetchError::Unavailable(
                "channels.meta.graph_api_url is not a URL".into(),
            ));
        };
        if let Ok(mut p) = url.path_segments_mut() {
            p.pop_if_empty().push(media_id);
        }
        let resp = self
            .client
            .get(url)
            .bearer_auth(self.whatsapp_token.expose())
            .send()
            .await
            .map_err(|e| FetchError::Transient(format!("media URL: {}", clean(e))))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .bytes()
            .await
            .map_err(|e| FetchError::Transient(format!("media URL: {}", clean(e))))?;
        if !status.is_success() {
            return Err(match classify(status.as_u16(), &headers, &body) {
                GraphError::Transient { message, after } => match after {
                    Some(after) => FetchError::RetryAfter { after, message },
                    None => FetchError::Transient(message),
                },
                GraphError::Token(m) => FetchError::Transient(m),
                GraphError::WindowClosed(m) | GraphError::Permanent(m) => {
                    FetchError::Unavailable(m)
                }
            });
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|_| FetchError::Transient("media URL: the answer is not JSON".into()))?;
        let url = v
            .get("url")
            .and_then(Value::as_str)
            .and_then(|u| Url::parse(u).ok())
            .ok_or_else(|| FetchError::Unavailable("media URL: no url in the answer".into()))?;
        // `file_size` is a number in some answers and a string in others.
        let size = v.get("file_size").and_then(|s| {
            s.as_u64()
                .or_else(|| s.as_str().and_then(|s| s.trim().parse().ok()))
        });
        let mime = v
            .get("mime_type")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok((url, size, mime))
    }

    /// GET `url` (with `bearer` when given), at most `limit` bytes.
    async fn download(
        &self,
        url: Url,
        bearer: Option<&str>,
        limit: u64,
    ) -> Result<Fetched, FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Unavailable("not an http(s) URL".into()));
        }
        let mut req = self.client.get(url);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| FetchError::Transient(format!("download: {}", clean(e))))?;
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
            .map_err(|e| FetchError::Transient(format!("download: {}", clean(e))))?
        {
            if data.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge { size: None });
            }
            data.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            data,
            content_type: content_type.filter(|c| !c.starts_with("application/octet-stream")),
        })
    }
}

#[async_trait]
impl MediaFetcher for MetaFetcher {
    async fn fetch(&self, job: &MediaJob, limit: u64) -> Result<Fetched, FetchError> {
        match job.channel {
            Channel::Whatsapp => {
                let (url, size, mime) = self.whatsapp_url(&job.source).await?;
                if let Some(size) = size.filter(|s| *s > limit) {
                    return Err(FetchError::TooLarge { size: Some(size) });
                }
                let token = self.whatsapp_token.expose().to_string();
                let mut f = self.download(url, Some(&token), limit).await?;
                if f.content_type.is_none() {
                    f.content_type = mime;
                }
                Ok(f)
            }
            Channel::Messenger | Channel::Instagram => {
                let url = Url::parse(job.source.trim())
                    .map_err(|_| FetchError::Unavailable("the attachment URL is invalid".into()))?;
                self.download(url, None, limit).await
            }
            other => Err(FetchError::Unavailable(format!(
                "no Meta media on channel {other}"
            ))),
        }
    }
}
