//! aduan-core: the domain of the complaint desk, with no I/O.
//!
//! - [`audit`]: the hash-chained audit log's entries, hash and chain check.
//! - [`types`]: parsed values (ticket number, channel, category, role, e-mail, phone, NIK).
//! - [`workflow`]: the SOP state machine as a pure transition function.
//! - [`calendar`] and [`sla`]: working-time arithmetic and step due times.
//! - [`model`] and [`store`]: the records and the `Store` trait the backends implement.
//! - [`desk`]: the use cases (intake, staff actions, views with identity protection).
//! - [`media`]: files of chat messages fetched by a durable job after the commit.
//! - [`outbox`]: the reply worker over the `ReplySender` seam; [`templates`]: reply texts.
//! - [`mask`], [`secret`]: masking of personal data, access codes and tokens.
//! - [`wake`]: wake-ups of the outbox worker and the SLA timer by the writes that give
//!   them work.
//! - [`subject`]: reply and forward prefixes of subjects, for threading a reply by its subject.

pub mod audit;
pub mod calendar;
pub mod desk;
/// The report service's types, at their old path.
pub mod desk_reports {
    pub use crate::services::reports::*;
}
pub mod fields;
pub mod intake_outcome;
pub mod logbook;
pub mod mask;
pub mod media;
pub mod model;
pub mod outbox;
pub mod problems;
pub mod report;
pub mod secret;
pub mod services;
pub mod sla;
pub mod store;
pub mod subject;
pub mod templates;
#[cfg(feature = "testing")]
pub mod testing;
pub mod types;
pub mod wake;
pub mod workflow;
