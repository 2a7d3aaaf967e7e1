//! Inputs the fuzzers found (`fuzz/`, docs/fuzzing.md) that broke an invariant of the Meta
//! webhook's payload parsing, each kept as a test. The raw inputs are in
//! `fuzz/regressions/meta/`, which the fuzz replay test runs too.

mod common;

use axum::http::StatusCode;
use common::harness;

/// A message whose `mid` (Messenger, Instagram) or `id` (WhatsApp) is blank was taken as a
/// message with the deduplication key "": every later such message, from any citizen, was
/// then a "duplicate" of the first and silently dropped. A blank id is no id: the delivery
/// is refused as a whole, before anything is stored, like one without the field.
#[tokio::test]
async fn a_blank_message_id_is_no_id() {
    let h = harness().await;
    let messenger = |sender: &str, mid: &str| {
        format!(
            r#"{{"object":"page","entry":[{{"id":"P","messaging":[{{"sender":{{"id":"{sender}"}},"recipient":{{"id":"P"}},"timestamp":1767225599000,"message":{{"mid":"{mid}","text":"Lampu jalan mati di Jl. Ahmad Yani"}}}}]}}]}}"#
        )
    };
    let whatsapp = |id: &str| {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"W","changes":[{{"field":"messages","value":{{"messages":[{{"from":"6281234567890","id":"{id}","timestamp":"1767225600","type":"text","text":{{"body":"Akta belum jadi"}}}}]}}}}]}}]}}"#
        )
    };
    for body in [
        messenger("PSID_A", ""),
        messenger("PSID_B", "  "),
        whatsapp(""),
        whatsapp(" "),
    ] {
        let (s, v) = h.deliver(body.as_bytes()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("empty message id")),
            "{v}"
        );
    }
    assert!(h.complaints().await.is_empty());
    // Real ids still pass.
    let (s, v) = h.deliver(messenger("PSID_A", "m_1").as_bytes()).await;
    assert_eq!((s, v["created"].clone()), (StatusCode::OK, 1.into()), "{v}");
    let (s, v) = h.deliver(whatsapp("wamid.X").as_bytes()).await;
    assert_eq!((s, v["created"].clone()), (StatusCode::OK, 1.into()), "{v}");
    h.teardown().await;
}
