//! Every log line written while a capture's guard lives (the current thread: use a
//! current-thread runtime), at `debug` and above, for tests that hold logs to the privacy
//! oracle.
//!
//! `tracing` caches each callsite's interest for the whole process, computed by whichever
//! thread reaches the callsite first and against that thread's subscriber. A parallel test
//! without a capture would cache `never` for a line this capture expects, and the line
//! would be lost. So the first capture also installs a global subscriber that is interested
//! in everything and records nothing: every callsite stays enabled, and each event still
//! goes only to the subscriber of the thread that emits it.

use std::sync::{Arc, Mutex, Once};

use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// A log sink for one test (cheap to clone; clones share the text).
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Route this thread's `tracing` output here until the guard is dropped.
    pub fn start(&self) -> tracing::subscriber::DefaultGuard {
        static ANCHOR: Once = Once::new();
        // Another global subscriber set first serves as well: it is the default of threads
        // without a capture either way.
        ANCHOR.call_once(|| drop(tracing::subscriber::set_global_default(Anchor)));
        let sink = self.0.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Enabled for every callsite, keeps nothing.
struct Anchor;

impl Subscriber for Anchor {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::always()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
