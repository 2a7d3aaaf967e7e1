//! aduan-digest: the month-end report (SOP steps 6–8) and the logbook exports.
//!
//! - [`xlsx`]: the logbook FM-PDIP-03-02 as a workbook.
//! - [`chart`]: bar charts as PNG for the digest e-mail.

pub mod chart;
pub mod xlsx;
