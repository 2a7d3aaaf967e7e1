//! Delivery of the monthly digest and of the Kasi's conclusion by SMTP (the e-mail
//! channel's sender).

use std::sync::Arc;

use aduan_channel_email::SmtpSender;
use aduan_core::desk::Desk;
use aduan_core::logbook::Month;
use lettre::message::Mailbox;

use crate::schedulers::{DigestDelivery, logbook_xlsx};

/// Sends the digest to `[digest] recipients`, and the Kasi's conclusion to them and to
/// `[digest] iso_recipients`.
pub struct SmtpDigest {
    pub sender: Arc<SmtpSender>,
    pub recipients: Vec<Mailbox>,
    pub iso_recipients: Vec<Mailbox>,
    pub bidang_names: Vec<(String, String)>,
}

/// The stored report of `month` (built before anything of it is mailed).
async fn stored(desk: &Desk, month: Month) -> Result<aduan_core::model::ReportRecord, String> {
    desk.reports()
        .stored(month)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "report not built".to_string())
}

#[async_trait::async_trait]
impl DigestDelivery for SmtpDigest {
    async fn deliver(&self, desk: &Desk, month: Month) -> Result<(), String> {
        if self.recipients.is_empty() {
            return Err("digest.recipients is empty".into());
        }
        let rec = stored(desk, month).await?;
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

    async fn deliver_conclusion(
        &self,
        desk: &Desk,
        month: Month,
    ) -> Result<chrono::DateTime<chrono::Utc>, String> {
        let mut to = self.recipients.clone();
        for m in &self.iso_recipients {
            if !to.iter().any(|t| t.email == m.email) {
                to.push(m.clone());
            }
        }
        if to.is_empty() {
            return Err("digest.recipients and digest.iso_recipients are empty".into());
        }
        let rec = stored(desk, month).await?;
        let (Some(text), Some(written_at)) = (rec.conclusion.as_deref(), rec.conclusion_at) else {
            return Err("no conclusion".into());
        };
        let tz = desk.config().policy.calendar.timezone();
        let at = written_at
            .with_timezone(&tz)
            .format("%d-%m-%Y %H:%M")
            .to_string();
        // What the Kasi typed may name a complainant: masked against the whole month.
        let (text, risks) = desk
            .reports()
            .conclusion_as_sent(month, text, &rec.risks)
            .await
            .map_err(|e| e.to_string())?;
        let c = aduan_digest::conclusion::ConclusionMail {
            office: &desk.config().office_name,
            month,
            text: &text,
            risks: &risks,
            by: rec.conclusion_by.as_deref().unwrap_or("kasi"),
            at: &at,
        };
        let msg = aduan_digest::conclusion::build(
            self.sender.from_mailbox(),
            &to,
            &c,
            &self.sender.new_message_id(),
        )?;
        self.sender
            .send_message(msg)
            .await
            .map_err(|e| e.to_string())?;
        Ok(written_at)
    }
}
