//! aduan-channel-email: the e-mail channel of the complaint desk.
//!
//! - [`parse`]: [`normalize`] turns one raw RFC 5322 message into an [`InboundMail`]:
//!   threading ids, sender, decoded subject and text, attachments within [`Limits`], the
//!   RFC 3834 classification ([`AutoKind`]) and the subject's ticket tag.
//! - [`html`]: the small HTML-to-text converter used for HTML-only mail.
//! - [`smtp`]: [`SmtpSender`], the [`ReplySender`](aduan_core::outbox::ReplySender) that
//!   sends acknowledgements, answers and escalations by SMTP with threading headers.
//! - [`testing`]: [`SmtpSink`](testing::SmtpSink), an in-process SMTP server for tests
//!   (this crate's and other crates').

#![warn(missing_docs)]

pub mod html;
pub mod parse;
pub mod smtp;
pub mod testing;

pub use parse::{AutoKind, InboundMail, Limits, ParseError, normalize};
pub use smtp::{Security, SmtpConfigError, SmtpSender, SmtpSettings};
