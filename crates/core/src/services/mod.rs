//! The desk's services, each over the store roles it uses (see [`crate::desk`]):
//! [`Intake`] (channels), [`Staff`] (the SOP workflow), [`Reports`] (monthly report and
//! escalation), [`Accounts`] (staff accounts), [`Audit`] (the audit log), [`Media`] (the
//! worker fetching the files of chat messages).

mod accounts;
mod audit;
mod intake;
pub mod media;
pub mod reports;
mod staff;

pub use accounts::Accounts;
pub use audit::{Audit, Verification};
pub use intake::Intake;
pub use media::{MEDIA_LEASE, Media, MediaFetchers};
pub use reports::Reports;
pub use staff::{LogbookCursor, LogbookSlice, Staff};
