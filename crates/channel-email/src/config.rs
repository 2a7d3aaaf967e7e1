//! `[channels.email]`: the configuration of the e-mail channel (IMAP intake and SMTP
//! replies), with secrets that never print.
//!
//! The binary deserializes the section into [`EmailConfig`], reports
//! [`EmailConfig::validate`]'s problems at start-up, builds the reply sender from
//! [`EmailConfig::smtp_settings`] and, when [`EmailConfig::intake_enabled`], spawns
//! [`run_intake`](crate::imap::run_intake).

use std::time::Duration;

use aduan_core::types::EmailAddress;
use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

use crate::smtp::{Security, SmtpSettings};

pub use aduan_core::secret::Secret;

/// `[channels.email]`: IMAP intake and SMTP replies.
///
/// Intake runs when `enabled` is true and `imap_host` is set; replies (acknowledgements,
/// answers, escalations) go out by SMTP when `enabled` is true and `smtp_host` is set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Turn the e-mail channel on (default false).
    #[serde(default)]
    pub enabled: bool,
    /// IMAP server host name (also the TLS server name). Empty: no intake, replies only.
    #[serde(default)]
    pub imap_host: String,
    /// IMAP server port (default 993).
    #[serde(default = "default_imap_port")]
    pub imap_port: u16,
    /// `none` (plain TCP, local servers and tests only), `starttls` or `tls` (default).
    #[serde(default = "default_tls")]
    pub imap_security: String,
    /// IMAP login name.
    #[serde(default)]
    pub username: String,
    /// IMAP password.
    #[serde(default)]
    pub password: Secret,
    /// Mailbox read for complaints (default `INBOX`). `/` separates hierarchy levels and is
    /// translated to the server's own separator.
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// Mailbox each message is moved to once it is stored (default `Aduan/Diproses`);
    /// created when absent. Mail is never deleted.
    #[serde(default = "default_archive")]
    pub archive_mailbox: String,
    /// Wait for new mail with IMAP IDLE when the server offers it (default true).
    #[serde(default = "default_true")]
    pub idle: bool,
    /// How often to look for new mail without IDLE, e.g. `60s`, `2m` (default `60s`).
    #[serde(default = "default_poll_interval")]
    pub poll_interval: String,
    /// SMTP submission server host name.
    #[serde(default)]
    pub smtp_host: String,
    /// SMTP port (default 587).
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default = "default_starttls")]
    pub smtp_security: String,
    /// SMTP login name; authentication is used only when this is set.
    #[serde(default)]
    pub smtp_username: String,
    /// SMTP password.
    #[serde(default)]
    pub smtp_password: Secret,
    /// Sender of every reply, a mailbox like `Pengaduan Disdukcapil <pengaduan@…>`. Its
    /// domain also names our Message-IDs.
    #[serde(default)]
    pub from: String,
    /// Largest message read whole, in bytes (default 26214400, 25 MiB; SPEC §2). The intake
    /// reads `RFC822.SIZE` first and never downloads more: a larger message becomes a
    /// complaint from its header section alone, with a note asking to send it again with
    /// smaller attachments.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u64,
}

fn default_imap_port() -> u16 {
    993
}
fn default_smtp_port() -> u16 {
    587
}
fn default_tls() -> String {
    "tls".into()
}
fn default_starttls() -> String {
    "starttls".into()
}
fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_archive() -> String {
    "Aduan/Diproses".into()
}
fn default_true() -> bool {
    true
}
fn default_poll_interval() -> String {
    "60s".into()
}
fn default_max_message_bytes() -> u64 {
    crate::parse::DEFAULT_MAX_MESSAGE_BYTES
}

/// Smallest accepted `max_message_bytes` (a header section must fit).
pub const MIN_MESSAGE_BYTES: u64 = 16 * 1024;
/// Largest accepted `max_message_bytes` (a message is held in memory while parsed).
pub const MAX_MESSAGE_BYTES: u64 = 1024 * 1024 * 1024;

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            enabled: false,
            imap_host: String::new(),
            imap_port: default_imap_port(),
            imap_security: default_tls(),
            username: String::new(),
            password: Secret::default(),
            mailbox: default_mailbox(),
            archive_mailbox: default_archive(),
            idle: true,
            poll_interval: default_poll_interval(),
            smtp_host: String::new(),
            smtp_port: default_smtp_port(),
            smtp_security: default_starttls(),
            smtp_username: String::new(),
            smtp_password: Secret::default(),
            from: String::new(),
            max_message_bytes: default_max_message_bytes(),
        }
    }
}

/// Shortest accepted `poll_interval`.
const MIN_POLL: Duration = Duration::from_secs(1);

fn parse_security(key: &str, value: &str) -> Result<Security, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "none" => Ok(Security::None),
        "starttls" => Ok(Security::StartTls),
        "tls" => Ok(Security::Tls),
        other => Err(format!(
            "`channels.email.{key}`: `{other}` is not one of none, starttls, tls"
        )),
    }
}

impl EmailConfig {
    /// Whether IMAP intake runs: the channel is enabled and `imap_host` is set.
    pub fn intake_enabled(&self) -> bool {
        self.enabled && !self.imap_host.trim().is_empty()
    }

    /// The IMAP transport security.
    pub fn imap_security(&self) -> Result<Security, String> {
        parse_security("imap_security", &self.imap_security)
    }

    /// `poll_interval` parsed (at least one second).
    pub fn poll_interval(&self) -> Result<Duration, String> {
        let d = humantime::parse_duration(self.poll_interval.trim()).map_err(|e| {
            format!(
                "`channels.email.poll_interval`: `{}` is not a duration like `60s` or `2m` ({e})",
                self.poll_interval
            )
        })?;
        if d < MIN_POLL {
            return Err(format!(
                "`channels.email.poll_interval`: `{}` is shorter than 1s",
                self.poll_interval
            ));
        }
        Ok(d)
    }

    /// The `from` mailbox parsed.
    pub fn from_mailbox(&self) -> Result<Mailbox, String> {
        if self.from.trim().is_empty() {
            return Err(
                "`channels.email.from`: required (e.g. `Pengaduan <pengaduan@example.go.id>`)"
                    .into(),
            );
        }
        self.from
            .trim()
            .parse()
            .map_err(|e| format!("`channels.email.from`: `{}`: {e}", self.from))
    }

    /// The office's own addresses: `from`, and `username` / `smtp_username` when they are
    /// e-mail addresses. Mail from them is never acknowledged, and replies to them are
    /// refused (mail loop).
    pub fn own_addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |a: &str| {
            let a = a.trim().to_ascii_lowercase();
            if EmailAddress::parse(&a).is_ok() && !out.contains(&a) {
                out.push(a);
            }
        };
        if let Ok(m) = self.from_mailbox() {
            add(m.email.as_ref());
        }
        add(&self.username);
        add(&self.smtp_username);
        out
    }

    /// Settings for [`SmtpSender::new`](crate::SmtpSender::new): host, port, security,
    /// credentials (when `smtp_username` is set), `from`, the Message-ID domain (the domain of
    /// `from`) and the own addresses.
    pub fn smtp_settings(&self) -> Result<SmtpSettings, String> {
        let from = self.from_mailbox()?;
        let security = parse_security("smtp_security", &self.smtp_security)?;
        if self.smtp_host.trim().is_empty() {
            return Err("`channels.email.smtp_host`: required when e-mail is enabled".into());
        }
        let domain = from.email.domain().to_string();
        let mut s = SmtpSettings::new(self.smtp_host.trim(), self.smtp_port, from, domain);
        s.security = security;
        if !self.smtp_username.is_empty() {
            s.username = Some(self.smtp_username.clone());
            s.password = Some(self.smtp_password.expose().to_string());
        }
        s.own_addresses = self.own_addresses();
        Ok(s)
    }

    /// Every problem of an enabled configuration, each naming its key as
    /// `` `channels.email.<key>` ``; empty when the channel is disabled or usable. The SMTP
    /// keys are checked when `smtp_host` is set (replies), the IMAP keys when `imap_host` is
    /// set (intake); at least one of the two is required.
    pub fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.enabled {
            return out;
        }
        let replies = !self.smtp_host.trim().is_empty();
        if !replies && !self.intake_enabled() {
            out.push(
                "`channels.email.enabled`: set `imap_host` (intake) and/or `smtp_host` (replies)"
                    .into(),
            );
        }
        if replies {
            if let Err(e) = self.smtp_settings() {
                out.push(e);
            }
            if self.smtp_port == 0 {
                out.push("`channels.email.smtp_port`: must be 1-65535".into());
            }
        }
        if !self.intake_enabled() {
            return out;
        }
        if let Err(e) = self.imap_security() {
            out.push(e);
        }
        if self.imap_port == 0 {
            out.push("`channels.email.imap_port`: must be 1-65535".into());
        }
        if self.username.trim().is_empty() {
            out.push("`channels.email.username`: required when `imap_host` is set".into());
        }
        if self.password.is_empty() {
            out.push("`channels.email.password`: required when `imap_host` is set".into());
        }
        for (key, value) in [
            ("imap_host", &self.imap_host),
            ("username", &self.username),
            ("mailbox", &self.mailbox),
            ("archive_mailbox", &self.archive_mailbox),
        ] {
            if value.contains(['\r', '\n', '\0']) {
                out.push(format!(
                    "`channels.email.{key}`: must not contain line breaks"
                ));
            }
        }
        if self.password.expose().contains(['\r', '\n', '\0']) {
            out.push("`channels.email.password`: must not contain line breaks".into());
        }
        if self.mailbox.trim().is_empty() {
            out.push("`channels.email.mailbox`: must not be empty".into());
        }
        if self.archive_mailbox.trim().is_empty() {
            out.push("`channels.email.archive_mailbox`: must not be empty".into());
        } else if self
            .archive_mailbox
            .trim()
            .eq_ignore_ascii_case(self.mailbox.trim())
        {
            out.push(
                "`channels.email.archive_mailbox`: must differ from `channels.email.mailbox`"
                    .into(),
            );
        }
        if let Err(e) = self.poll_interval() {
            out.push(e);
        }
        if !(MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            out.push(format!(
                "`channels.email.max_message_bytes`: {} is outside {MIN_MESSAGE_BYTES}-{MAX_MESSAGE_BYTES}",
                self.max_message_bytes
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<EmailConfig, String> {
        toml::from_str(toml_text).map_err(|e| e.to_string())
    }

    fn enabled() -> EmailConfig {
        EmailConfig {
            enabled: true,
            imap_host: "imap.example.go.id".into(),
            username: "pengaduan@example.go.id".into(),
            password: Secret::new("rahasia"),
            smtp_host: "smtp.example.go.id".into(),
            from: "Pengaduan Disdukcapil <pengaduan@example.go.id>".into(),
            ..EmailConfig::default()
        }
    }

    #[test]
    fn defaults() {
        let c = parse("").expect("defaults");
        assert_eq!(c, EmailConfig::default());
        assert!(!c.enabled);
        assert_eq!(c.imap_port, 993);
        assert_eq!(c.imap_security, "tls");
        assert_eq!(c.mailbox, "INBOX");
        assert_eq!(c.archive_mailbox, "Aduan/Diproses");
        assert!(c.idle);
        assert_eq!(c.poll_interval().expect("poll"), Duration::from_secs(60));
        assert_eq!(c.smtp_port, 587);
        assert_eq!(c.smtp_security, "starttls");
        assert_eq!(c.max_message_bytes, 26_214_400);
        assert!(!c.intake_enabled());
        assert!(c.validate().is_empty(), "disabled is always valid");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = parse("imap_hots = \"x\"").expect_err("unknown key");
        assert!(e.contains("imap_hots"), "{e}");
    }

    #[test]
    fn secrets_never_print() {
        let c = enabled();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("rahasia"), "{dbg}");
        let json = serde_json::to_value(&c).expect("serialize");
        assert_eq!(json["password"], "********");
        assert_eq!(json["smtp_password"], "");
    }

    #[test]
    fn a_complete_config_is_valid() {
        let c = enabled();
        assert_eq!(c.validate(), Vec::<String>::new());
        assert!(c.intake_enabled());
        let s = c.smtp_settings().expect("smtp");
        assert_eq!(s.host, "smtp.example.go.id");
        assert_eq!(s.port, 587);
        assert_eq!(s.security, Security::StartTls);
        assert_eq!(s.message_id_domain, "example.go.id");
        assert_eq!(s.username, None);
        assert_eq!(s.own_addresses, vec!["pengaduan@example.go.id".to_string()]);
        let with_auth = EmailConfig {
            smtp_username: "relay@example.go.id".into(),
            smtp_password: Secret::new("pw"),
            ..c
        };
        let s = with_auth.smtp_settings().expect("smtp");
        assert_eq!(s.username.as_deref(), Some("relay@example.go.id"));
        assert_eq!(s.password.as_deref(), Some("pw"));
        assert_eq!(s.own_addresses.len(), 2);
    }

    #[test]
    fn replies_only_needs_no_imap_settings() {
        let c = EmailConfig {
            imap_host: String::new(),
            username: String::new(),
            password: Secret::default(),
            ..enabled()
        };
        assert!(!c.intake_enabled());
        assert_eq!(c.validate(), Vec::<String>::new());
    }

    #[test]
    fn problems_name_their_keys() {
        let c = EmailConfig {
            imap_security: "ssl".into(),
            smtp_security: "plain".into(),
            username: String::new(),
            password: Secret::default(),
            archive_mailbox: "inbox".into(),
            poll_interval: "soon".into(),
            from: "not a mailbox".into(),
            max_message_bytes: 100,
            ..enabled()
        };
        let problems = c.validate().join("\n");
        for key in [
            "imap_security",
            "username",
            "password",
            "archive_mailbox",
            "poll_interval",
            "from",
            "max_message_bytes",
        ] {
            assert!(
                problems.contains(&format!("`channels.email.{key}`")),
                "{key} missing in:\n{problems}"
            );
        }
        let c = EmailConfig {
            smtp_security: "plain".into(),
            ..enabled()
        };
        assert!(c.validate()[0].contains("`channels.email.smtp_security`"));
        let c = EmailConfig {
            poll_interval: "100ms".into(),
            ..enabled()
        };
        assert!(c.validate()[0].contains("shorter than 1s"));
        let c = parse("max_message_bytes = 65536").expect("parse");
        assert_eq!(c.max_message_bytes, 65_536);
        assert!(parse("max_message_bytes = -1").is_err());
        let c = EmailConfig {
            max_message_bytes: 2 * MAX_MESSAGE_BYTES,
            ..enabled()
        };
        assert!(c.validate()[0].contains("`channels.email.max_message_bytes`"));
        // Intake without replies is allowed; neither is not.
        let c = EmailConfig {
            smtp_host: String::new(),
            ..enabled()
        };
        assert_eq!(c.validate(), Vec::<String>::new());
        assert!(
            c.smtp_settings()
                .is_err_and(|e| e.contains("`channels.email.smtp_host`"))
        );
        let c = EmailConfig {
            smtp_host: String::new(),
            imap_host: String::new(),
            ..enabled()
        };
        assert!(c.validate()[0].contains("`channels.email.enabled`"));
    }

    #[test]
    fn security_values() {
        for (v, s) in [
            ("none", Security::None),
            ("STARTTLS", Security::StartTls),
            ("tls", Security::Tls),
        ] {
            let c = EmailConfig {
                imap_security: v.into(),
                ..enabled()
            };
            assert_eq!(c.imap_security(), Ok(s));
        }
    }
}
