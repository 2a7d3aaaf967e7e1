//! E-mail normalisation and HTML→text.

use aduan_channel_email::html::html_to_text;
use aduan_channel_email::parse::max_text_len;
use aduan_channel_email::{Limits, normalize as normalize_mail};
use aduan_core::types::TicketNumber;
use sha2::{Digest, Sha256};

/// Small limits, so that fuzz-sized inputs reach the truncation and skipping paths.
pub const LIMITS: Limits = Limits {
    max_attachment_bytes: 2048,
    max_attachments: 2,
    max_text_chars: 1000,
    max_message_bytes: 1 << 20,
};

/// `normalize` on a raw RFC 5322 message.
pub fn normalize(data: &[u8]) {
    let Ok(mail) = normalize_mail(data, &LIMITS) else {
        return;
    };
    let chars = mail.text.chars().count();
    assert!(
        chars <= max_text_len(&LIMITS),
        "text of {chars} characters beyond the limit"
    );
    assert!(mail.attachments.len() <= LIMITS.max_attachments);
    for a in &mail.attachments {
        assert!(a.data.len() as u64 <= LIMITS.max_attachment_bytes);
    }
    assert_eq!(mail.content_hash, hex::encode(Sha256::digest(data)));
    if let Some(tag) = &mail.ticket_tag {
        assert!(
            TicketNumber::parse(tag).is_ok(),
            "invalid ticket tag {tag:?}"
        );
        assert!(mail.subject.contains(tag.as_str()));
    }
    assert_eq!(mail.subject, mail.subject.trim());
    let _ = mail.is_loop(&["pengaduan@bulelengkab.example".to_string()]);
    let _ = mail.reply_address();
    let _ = mail.auto.may_acknowledge();
}

/// `html_to_text` on a document (the bytes read as UTF-8, lossily, as the parser hands it
/// decoded text).
pub fn html(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let out = html_to_text(&input);
    assert!(
        out.len() <= 2 * input.len(),
        "{} bytes of text out of {} bytes of HTML",
        out.len(),
        input.len()
    );
    assert_eq!(out, out.trim(), "output not trimmed");
    assert!(!out.contains("\n\n\n"), "more than one blank line");
}
