//! The desk's services, each over the store roles it uses (see [`crate::desk`]):
//! [`Intake`] (channels), [`Staff`] (the SOP workflow), [`Reports`] (monthly report and
//! escalation), [`Accounts`] (staff accounts), [`Audit`] (the audit log).

mod accounts;
mod audit;
mod intake;
pub mod reports;
mod staff;

pub use accounts::Accounts;
pub use audit::{Audit, Verification};
pub use intake::Intake;
pub use reports::Reports;
pub use staff::Staff;
