//! Delivery of the monthly digest by SMTP (the e-mail channel's sender).

use std::sync::Arc;

use aduan_channel_email::SmtpSender;
use aduan_core::desk::Desk;
use aduan_core::logbook::Month;
use lettre::message::Mailbox;

use crate::schedulers::{DigestDelivery, logbook_xlsx};

/// Sends the digest to `[digest] recipients`.
pub struct SmtpDigest {
    pub sender: Arc<SmtpSender>,
    pub recipients: Vec<Mailbox>,
    pub bidang_names: Vec<(String, String)>,
}

#[async_trait::async_trait]
impl DigestDelivery for SmtpDigest {
    async fn deliver(&self, desk: &Desk, month: Month) -> Result<(), String> {
        if self.recipients.is_empty() {
            return Err("digest.recipients is empty".into());
        }
        let rec = desk
            .reports()
            .stored(month)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("report not built")?;
        let report: aduan_core::report::MonthlyReport =
            serde_json::from_str(&rec.report_json).map_err(|e| format!("stored report: {e}"))?;
        let tz = desk.config().policy.calendar.timezone();
        let body = aduan_digest::render::render(
            &desk.config().office_name,
            month,
            &report,
            &self.bidang_names,
            tz,
        )
        .map_err(|e| e.to_string())?;
        let xlsx = logbook_xlsx(desk, month).await?;
        let msg = aduan_digest::mail::build(
            self.sender.from_mailbox(),
            &self.recipients,
            &body,
            xlsx,
            &format!("logbook-FM-PDIP-03-02-{month}.xlsx"),
            &self.sender.new_message_id(),
        )
        .map_err(|e| e.to_string())?;
        self.sender
            .send_message(msg)
            .await
            .map_err(|e| e.to_string())
    }
}
