//! Telegram updates, as the webhook receives them (and `getUpdates` returns them).

use aduan_channel_telegram::intake::fuzzing::read_update;
use aduan_core::types::TicketNumber;

/// A webhook body: JSON, then intake's reading of the update.
pub fn update(data: &[u8]) {
    let Ok(update) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let r = read_update(&update);
    if let Some(name) = &r.name {
        assert!(
            name.chars().count() <= 200,
            "name of {} chars",
            name.chars().count()
        );
        assert!(!name.trim().is_empty());
    }
    assert!(r.tickets.len() <= 3);
    for t in &r.tickets {
        assert!(TicketNumber::parse(t).is_ok(), "invalid ticket {t:?}");
    }
    if let Some(text) = &r.text {
        assert_eq!(text, text.trim());
    }
    if r.command.is_some() {
        assert!(r.text.as_deref().is_some_and(|t| t.starts_with('/')));
    }
}
