//! The tests' log capture keeps every line its thread writes, even a line that a thread
//! without a capture reached first: `tracing` caches a callsite's interest for the whole
//! process, and without the capture's global anchor that thread would cache `never`.
//! (A parallel test without a capture lost "telegram: complaint received" this way.)
//! Alone in its binary, so no other capture is alive to hide the effect.

use aduan_core::testing::LogCapture;

fn shared_line(n: u32) {
    tracing::info!(n, "the shared line");
}

#[test]
fn a_line_first_reached_by_a_thread_without_a_capture_is_still_captured() {
    let logs = LogCapture::default();
    let _guard = logs.start();
    std::thread::spawn(|| shared_line(1)).join().unwrap();
    shared_line(2);
    let text = logs.text();
    assert!(text.contains("the shared line n=2"), "captured: {text:?}");
    assert!(
        !text.contains("n=1"),
        "another thread's line captured: {text:?}"
    );
}
