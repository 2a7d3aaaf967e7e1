//! aduan-channel-email: the e-mail channel of the complaint desk.
//!
//! - [`parse`]: [`normalize`] turns one raw RFC 5322 message into an [`InboundMail`]:
//!   threading ids, sender, decoded subject and text, attachments within [`Limits`], the
//!   RFC 3834 classification ([`AutoKind`]) and the subject's ticket tag.
//! - [`html`]: the small HTML-to-text converter used for HTML-only mail.
//! - [`config`]: [`EmailConfig`], the `[channels.email]` section (IMAP and SMTP settings).
//! - [`imap`]: [`run_intake`], the IMAP reader that commits every message exactly once
//!   (durable UID cursor, IDLE or polling, reconnect with backoff, archive mailbox).
//! - [`smtp`]: [`SmtpSender`], the [`ReplySender`](aduan_core::outbox::ReplySender) that
//!   sends acknowledgements, answers and escalations by SMTP with threading headers.
//! - [`testing`]: [`SmtpSink`](testing::SmtpSink), an in-process SMTP server, and
//!   [`Dovecot`](testing::dovecot::Dovecot), a throw-away local IMAP server, for tests and
//!   benchmarks (this crate's and other crates'), behind the `testing` feature.
//! - [`channel`]: `EmailConfig::build`, the channel's one shape (GUIDE habit 16).

#![warn(missing_docs)]

pub mod channel;
pub mod config;
pub mod html;
pub mod imap;
pub mod parse;
pub mod smtp;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;

pub use config::{EmailConfig, Secret};
pub use imap::{EmailContext, run_intake};
pub use parse::{AutoKind, InboundMail, Limits, ParseError, normalize};
pub use smtp::{Security, SmtpConfigError, SmtpSender, SmtpSettings};
