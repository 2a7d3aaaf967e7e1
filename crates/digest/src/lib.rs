//! aduan-digest: the month-end report (SOP steps 6–8) and the logbook exports.
//!
//! - [`xlsx`]: the logbook FM-PDIP-03-02 as a workbook.
//! - [`chart`]: bar charts as PNG for the digest e-mail.
//! - [`mail`]: the digest e-mail (HTML + text + inline charts + XLSX attachment).
//! - [`render`]: the digest e-mail's HTML and text bodies.
//! - [`conclusion`]: the Kasi's conclusion as an e-mail to the Kepala Dinas and the ISO
//!   coordinator.
//! - [`risk`]: the conclusion as ISO 9001 risk-register entries (CSV, XLSX).

pub mod chart;
pub mod conclusion;
pub mod mail;
pub mod render;
pub mod risk;
pub mod xlsx;
