//! `[channels.telegram]`: the configuration of the Telegram channel, with secrets that never
//! print.

use serde::{Deserialize, Serialize};

pub use aduan_core::secret::Secret;

/// The public Bot API server.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// How updates reach aduan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// aduan asks with `getUpdates` (long polling); no public URL needed.
    #[default]
    Polling,
    /// Telegram POSTs each update to `/webhooks/telegram` (set up with `setWebhook`).
    Webhook,
}

/// `[channels.telegram]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// Receive complaints over Telegram and send replies there.
    #[serde(default)]
    pub enabled: bool,
    /// The bot token from @BotFather (`123456789:AA…`).
    #[serde(default)]
    pub token: Secret,
    /// Bot API base URL, without the `/bot<token>` part.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// `"polling"` (getUpdates long polling) or `"webhook"` (`POST /webhooks/telegram`).
    #[serde(default)]
    pub mode: Mode,
    /// The `secret_token` given to `setWebhook`; every webhook request must carry it in
    /// `X-Telegram-Bot-Api-Secret-Token`. Required in webhook mode (1–256 characters of
    /// `A-Z a-z 0-9 _ -`).
    #[serde(default)]
    pub webhook_secret: Secret,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.to_string()
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            enabled: false,
            token: Secret::default(),
            api_url: default_api_url(),
            mode: Mode::default(),
            webhook_secret: Secret::default(),
        }
    }
}

impl TelegramConfig {
    /// Check the section as a whole; `Err` names the offending key. A disabled section is
    /// always valid.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let token = self.token.expose();
        if token.trim().is_empty() {
            return Err("channels.telegram.token: required when the channel is enabled".into());
        }
        if token.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err("channels.telegram.token: must not contain spaces or `/`".into());
        }
        crate::bot::api_url(&self.api_url)
            .map_err(|e| format!("channels.telegram.api_url: {e}"))?;
        if self.mode == Mode::Webhook {
            let s = self.webhook_secret.expose();
            if s.is_empty() || s.len() > 256 {
                return Err(
                    "channels.telegram.webhook_secret: required in webhook mode (1-256 characters)"
                        .into(),
                );
            }
            if !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(
                    "channels.telegram.webhook_secret: only A-Z, a-z, 0-9, `_` and `-` are allowed"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_masking() {
        let c: TelegramConfig = toml_like(r#"{"token": "123:SECRET"}"#);
        assert!(!c.enabled);
        assert_eq!(c.api_url, DEFAULT_API_URL);
        assert_eq!(c.mode, Mode::Polling);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
        let ser = serde_json::to_string(&c).unwrap();
        assert!(!ser.contains("SECRET"), "{ser}");
        assert!(ser.contains("\"token\":\"********\""), "{ser}");
        assert!(ser.contains("\"webhook_secret\":\"\""), "{ser}");
    }

    #[test]
    fn unknown_keys_and_modes_are_refused() {
        assert!(serde_json::from_str::<TelegramConfig>(r#"{"tokn": "x"}"#).is_err());
        assert!(serde_json::from_str::<TelegramConfig>(r#"{"mode": "push"}"#).is_err());
        let c: TelegramConfig = toml_like(r#"{"mode": "webhook"}"#);
        assert_eq!(c.mode, Mode::Webhook);
    }

    #[test]
    fn validation() {
        let mut c = TelegramConfig {
            enabled: true,
            token: "123:ABC".into(),
            ..Default::default()
        };
        assert_eq!(c.validate(), Ok(()));
        c.mode = Mode::Webhook;
        assert!(c.validate().unwrap_err().contains("webhook_secret"));
        c.webhook_secret = "bad secret!".into();
        assert!(c.validate().unwrap_err().contains("webhook_secret"));
        c.webhook_secret = "Rahasia_123-x".into();
        assert_eq!(c.validate(), Ok(()));
        c.api_url = "ftp://x".into();
        assert!(c.validate().unwrap_err().contains("api_url"));
        c.api_url = "http://127.0.0.1:8081".into();
        c.token = "".into();
        assert!(c.validate().unwrap_err().contains("token"));
        assert_eq!(TelegramConfig::default().validate(), Ok(()));
    }

    fn toml_like(s: &str) -> TelegramConfig {
        serde_json::from_str(s).unwrap()
    }
}
