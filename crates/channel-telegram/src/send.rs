//! [`TelegramSender`]: the outbox's [`ReplySender`] for Telegram, and [`split_message`].
//!
//! A reply goes to the chat id in `item.recipient` as plain text (no `parse_mode`, so
//! nothing needs escaping). Texts longer than Telegram's 4096 characters are split on
//! paragraph, line or word boundaries and sent in order; the first part answers the
//! citizen's message when `item.vars["reply_to_message_id"]` is set (with
//! `allow_sending_without_reply`, so a deleted message does not fail the reply).
//!
//! Errors: 429 → [`SendError::RetryAfter`] with Telegram's `retry_after`; 403 (bot blocked,
//! user deactivated) → [`SendError::Permanent`], so staff see the reply failed; other 400s
//! → permanent; 5xx, network errors and timeouts → transient. When a later part of a long
//! text fails, that part is retried here (waiting out a short `retry_after`), because
//! retrying the whole reply would repeat the parts already delivered.

use std::time::Duration;

use aduan_core::outbox::{RenderedReply, ReplySender, SendError};
use async_trait::async_trait;
use teloxide::Bot;
use teloxide::payloads::SendMessageSetters;
use teloxide::requests::Requester;
use teloxide::types::{ChatId, MessageId, ReplyParameters};

use crate::bot::{Failure, build_bot, classify};
use crate::config::TelegramConfig;
use crate::{HealthFn, TelegramContext};

/// Longest message text, in UTF-16 code units (how Telegram counts; never fewer than
/// characters).
pub const MAX_MESSAGE_UTF16: usize = 4096;

/// Default HTTP timeout of a send.
const SEND_TIMEOUT: Duration = Duration::from_secs(17);
/// Longest wait for a later part of a split message before giving up for now.
const MAX_PART_WAIT: Duration = Duration::from_secs(30);

/// Sends outbox replies with the Bot API.
#[derive(Clone)]
pub struct TelegramSender {
    bot: Bot,
    token: String,
    cfg: TelegramConfig,
    health: HealthFn,
}

impl std::fmt::Debug for TelegramSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramSender")
            .field("api_url", &self.cfg.api_url)
            .finish_non_exhaustive()
    }
}

/// The reply sender of the channel (see the module docs).
pub fn sender(cfg: &TelegramConfig, ctx: &TelegramContext) -> TelegramSender {
    TelegramSender {
        bot: build_bot(cfg, SEND_TIMEOUT),
        token: cfg.token.expose().to_string(),
        cfg: cfg.clone(),
        health: ctx.health.clone(),
    }
}

impl TelegramSender {
    /// The same sender with another HTTP timeout per call (default 17 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.bot = build_bot(&self.cfg, timeout);
        self
    }

    async fn send_text(
        &self,
        chat: i64,
        reply_to: Option<i32>,
        text: &str,
    ) -> Result<Option<String>, SendError> {
        let parts = split_message(text, MAX_MESSAGE_UTF16);
        if parts.is_empty() {
            return Err(SendError::Permanent(
                "pesan kosong tidak dapat dikirim".into(),
            ));
        }
        let total = parts.len();
        let mut chat = chat;
        let mut first = None;
        for (i, part) in parts.into_iter().enumerate() {
            let mut waited = Duration::ZERO;
            let mut tries = 0u32;
            let mut migrated = false;
            loop {
                let mut req = self.bot.send_message(ChatId(chat), part.clone());
                if i == 0
                    && let Some(r) = reply_to
                {
                    req = req.reply_parameters(
                        ReplyParameters::new(MessageId(r)).allow_sending_without_reply(),
                    );
                }
                let err = match req.await {
                    Ok(m) => {
                        first.get_or_insert_with(|| format!("{chat}:{}", m.id.0));
                        break;
                    }
                    Err(e) => e,
                };
                if matches!(
                    err,
                    teloxide::RequestError::Api(teloxide::ApiError::InvalidToken)
                ) {
                    (self.health)(Some(
                        "Telegram menolak token bot (channels.telegram.token)".into(),
                    ));
                }
                let sent_before = i > 0;
                match classify(&self.token, &err) {
                    Failure::RetryAfter(s) => {
                        let wait = Duration::from_secs(s as u64);
                        if sent_before && waited + wait <= MAX_PART_WAIT {
                            tokio::time::sleep(wait).await;
                            waited += wait;
                            continue;
                        }
                        if sent_before {
                            tracing::warn!(
                                part = i + 1,
                                total,
                                "telegram: flood control in the middle of a split reply; earlier parts will be sent again"
                            );
                        }
                        return Err(SendError::RetryAfter {
                            after: chrono::Duration::seconds(s as i64),
                            message: format!("Telegram: Too Many Requests, retry after {s} s"),
                        });
                    }
                    Failure::Forbidden(m) => {
                        let what = if m.contains("blocked") {
                            "bot diblokir oleh pengguna"
                        } else {
                            "Telegram menolak pengiriman ke chat ini"
                        };
                        return Err(SendError::Permanent(format!("{what} ({m})")));
                    }
                    Failure::Permanent(m) => {
                        return Err(SendError::Permanent(format!("Telegram menolak pesan: {m}")));
                    }
                    Failure::Migrated(to) if !migrated => {
                        tracing::info!(
                            "telegram: group moved to a supergroup; sending to the new chat"
                        );
                        chat = to;
                        migrated = true;
                        continue;
                    }
                    Failure::Migrated(to) => {
                        return Err(SendError::Permanent(format!(
                            "chat pindah ke supergroup {to}"
                        )));
                    }
                    Failure::Transient(m) => {
                        if sent_before && tries < 2 {
                            tries += 1;
                            tokio::time::sleep(Duration::from_secs(tries as u64)).await;
                            continue;
                        }
                        return Err(SendError::Transient(format!("Telegram: {m}")));
                    }
                }
            }
        }
        Ok(first)
    }
}

#[async_trait]
impl ReplySender for TelegramSender {
    async fn send(&self, reply: &RenderedReply) -> Result<Option<String>, SendError> {
        let item = &reply.item;
        let chat: i64 = item.recipient.trim().parse().map_err(|_| {
            SendError::Permanent(format!(
                "chat id Telegram tidak valid: {:?}",
                item.recipient
            ))
        })?;
        let reply_to = item
            .vars
            .get("reply_to_message_id")
            .and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .and_then(|v| i32::try_from(v).ok())
            .filter(|v| *v > 0);
        self.send_text(chat, reply_to, &reply.text).await
    }
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Split `text` into parts of at most `max` UTF-16 code units, preferring paragraph
/// breaks, then line breaks (both only in the second half of a part), then spaces; a
/// single word longer than `max` is cut. Whitespace at the cuts is dropped; the parts in
/// order hold the whole text. Blank text gives no parts.
pub fn split_message(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if utf16_len(rest) <= max {
            parts.push(rest.to_string());
            break;
        }
        // Largest prefix (in bytes) that fits.
        let mut units = 0;
        let mut fit = 0;
        for (i, c) in rest.char_indices() {
            if units + c.len_utf16() > max {
                break;
            }
            units += c.len_utf16();
            fit = i + c.len_utf8();
        }
        if fit == 0 {
            // `max` is smaller than one character: send that character alone.
            fit = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let window = &rest[..fit];
        let half = fit / 2;
        let at_fit = rest[fit..].starts_with(char::is_whitespace);
        let cut = window
            .rfind("\n\n")
            .filter(|&i| i >= half)
            .or_else(|| window.rfind('\n').filter(|&i| i >= half))
            .or_else(|| at_fit.then_some(fit))
            .or_else(|| {
                window
                    .char_indices()
                    .rev()
                    .find(|(_, c)| c.is_whitespace())
                    .map(|(i, _)| i)
                    .filter(|&i| i > 0)
            })
            .unwrap_or(fit);
        let head = rest[..cut].trim_end();
        let (head, cut) = if head.is_empty() {
            (&rest[..fit], fit)
        } else {
            (head, cut)
        };
        parts.push(head.to_string());
        rest = rest[cut..].trim_start();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(parts: &[String]) -> Vec<String> {
        parts
            .iter()
            .flat_map(|p| p.split_whitespace().map(str::to_string))
            .collect()
    }

    #[test]
    fn short_and_blank() {
        assert_eq!(split_message("halo", 10), vec!["halo"]);
        assert!(split_message("  \n ", 10).is_empty());
        assert_eq!(split_message("abcdefghij", 10), vec!["abcdefghij"]);
    }

    #[test]
    fn prefers_paragraphs_then_lines_then_words() {
        let t = "aaaa bbbb\n\ncccc dddd eeee";
        assert_eq!(split_message(t, 14), vec!["aaaa bbbb", "cccc dddd eeee"]);
        let t = "aaaa bbbb\ncccc dddd";
        assert_eq!(split_message(t, 12), vec!["aaaa bbbb", "cccc dddd"]);
        let t = "aaaa bbbb cccc dddd";
        assert_eq!(split_message(t, 12), vec!["aaaa bbbb", "cccc dddd"]);
        assert_eq!(split_message("aaaa bbbb", 4), vec!["aaaa", "bbbb"]);
    }

    #[test]
    fn long_words_are_cut_and_multibyte_is_safe() {
        assert_eq!(split_message("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        // Emoji count two UTF-16 units.
        let t = "😀😀😀";
        assert_eq!(split_message(t, 4), vec!["😀😀", "😀"]);
        let t = "é".repeat(9);
        let p = split_message(&t, 4);
        assert_eq!(p.concat(), t);
        assert!(p.iter().all(|s| utf16_len(s) <= 4));
        assert_eq!(split_message("😀😀", 1), vec!["😀", "😀"]);
    }

    #[test]
    fn keeps_every_word_in_order() {
        let text: String = (0..3000)
            .map(|i| {
                if i % 37 == 0 {
                    format!("paragraf{i}\n\n")
                } else if i % 11 == 0 {
                    format!("baris{i}\n")
                } else {
                    format!("kata{i} ")
                }
            })
            .collect();
        let parts = split_message(&text, 4096);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| utf16_len(p) <= 4096 && !p.is_empty()));
        assert_eq!(
            words(&parts),
            text.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        );
    }
}
