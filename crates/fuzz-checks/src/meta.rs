//! Meta webhook deliveries (Messenger, Instagram, WhatsApp Cloud API).

use aduan_channel_meta::payload::{Event, parse};
use aduan_channel_meta::signature::{sign, verify};

const SECRET: &[u8] = b"fuzz_app_secret";

/// A delivery body. The signature check runs first, as in the webhook: the right
/// signature passes, a forged one (the body's first line taken as the header) does not.
pub fn payload(data: &[u8]) {
    let good = sign(SECRET, data);
    assert!(verify(SECRET, data, Some(good.as_bytes())).is_ok());
    let forged = data.split(|b| *b == b'\n').next().unwrap_or_default();
    if forged != good.as_bytes() {
        assert!(verify(SECRET, data, Some(forged)).is_err());
    }
    let Ok(events) = parse(data) else {
        return;
    };
    for e in events {
        if let Event::Message(m) = e {
            assert!(
                !m.external_id.trim().is_empty(),
                "message without an id: {m:?}"
            );
            assert!(
                !m.sender.trim().is_empty(),
                "message without a sender: {m:?}"
            );
            assert!(
                !m.body.trim().is_empty() || !m.media.is_empty(),
                "message without text or media: {m:?}"
            );
            let _ = m.sent_at();
        }
    }
}
