//! The digest as an e-mail: `multipart/mixed` of a `multipart/related` (an
//! `multipart/alternative` of plain text and HTML, plus the charts as inline PNG images
//! referenced by `cid:`) and the month's logbook as an XLSX attachment.

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

use crate::render::DigestBody;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Build the digest mail. `message_id` is without `<>`.
pub fn build(
    from: &Mailbox,
    to: &[Mailbox],
    body: &DigestBody,
    xlsx: Vec<u8>,
    xlsx_name: &str,
    message_id: &str,
) -> Result<Message, lettre::error::Error> {
    let mut b = Message::builder()
        .from(from.clone())
        .subject(body.subject.clone())
        .message_id(Some(format!("<{message_id}>")));
    for m in to {
        b = b.to(m.clone());
    }
    let mut related = MultiPart::related().multipart(
        MultiPart::alternative()
            .singlepart(SinglePart::plain(body.text.clone()))
            .singlepart(SinglePart::html(body.html.clone())),
    );
    for (cid, png) in &body.images {
        related = related.singlepart(Attachment::new_inline(cid.clone()).body(
            png.clone(),
            ContentType::parse("image/png").expect("static"),
        ));
    }
    let mixed = MultiPart::mixed().multipart(related).singlepart(
        Attachment::new(xlsx_name.to_string())
            .body(xlsx, ContentType::parse(XLSX).expect("static")),
    );
    let mut msg = b.multipart(mixed)?;
    // A report, not a reply: automatic responders must not answer it (RFC 3834).
    msg.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("Auto-Submitted"),
        "auto-generated".into(),
    ));
    Ok(msg)
}
