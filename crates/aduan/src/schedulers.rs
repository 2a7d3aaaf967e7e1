//! Background schedulers: the SLA task (closes complaints whose question stayed unanswered
//! and escalates breached steps; wakes at the next due time, never polls every row) and the month-end digest (cron in the office time zone; builds each month's
//! report exactly once, delivers it, and catches up after downtime).
//!
//! Both are safe with several replicas: escalations are recorded with a conditional update
//! per step, reports are unique per month and their delivery is leased.

use std::sync::Arc;
use std::time::Duration;

use aduan_core::desk::Desk;
use aduan_core::logbook::{self, Month};
use aduan_core::model::ReportState;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

/// How long to sleep before the next check: until `next` (if any), at most `cap`, at least
/// 50 ms.
pub fn wait_until(now: DateTime<Utc>, next: Option<DateTime<Utc>>, cap: Duration) -> Duration {
    let d = match next {
        Some(t) => (t - now).to_std().unwrap_or(Duration::ZERO),
        None => cap,
    };
    d.min(cap).max(Duration::from_millis(50))
}

/// Close complaints whose question stayed unanswered and escalate breached steps until
/// shutdown. Sleeps until the earliest due time in the database, woken early when a commit
/// sets an earlier one (the store's wake-ups: in process, and from other replicas via
/// PostgreSQL `NOTIFY`); `cap` bounds the sleep as a fallback. Exactly once across
/// replicas: each escalation is claimed with a conditional update
/// (`Store::record_escalation`), each closing is optimistic on the complaint's version.
pub async fn run_sla(
    desk: Desk,
    escalate_to: Vec<String>,
    shutdown: CancellationToken,
    cap: Duration,
) {
    let wakeups = desk.wakeups();
    loop {
        // Awake: a deadline written during this pass wakes the next sleep at once.
        wakeups.timer_awake();
        match desk.reports().close_unanswered().await {
            Ok(n) if n > 0 => {
                metrics::counter!("aduan_unanswered_closed_total").increment(n as u64);
                tracing::info!(closed = n, "unanswered questions closed the complaints");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "closing unanswered questions failed"),
        }
        match desk.reports().escalate_due(&escalate_to).await {
            Ok(n) if n > 0 => {
                metrics::counter!("aduan_sla_escalations_total").increment(n as u64);
                tracing::info!(escalated = n, "SLA steps escalated");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "SLA escalation pass failed"),
        }
        let next = desk.reports().next_escalation_due().await.ok().flatten();
        let now = desk.now();
        let wait = wait_until(now, next, cap);
        wakeups.timer_sleeps_until(
            now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
        );
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wakeups.deadlines() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Delivers a built report (the binary implements it with SMTP).
#[async_trait::async_trait]
pub trait DigestDelivery: Send + Sync + 'static {
    async fn deliver(&self, desk: &Desk, month: Month) -> Result<(), String>;
    /// Mail the Kasi's conclusion as stored now; returns the `conclusion_at` it mailed.
    async fn deliver_conclusion(&self, desk: &Desk, month: Month) -> Result<DateTime<Utc>, String>;
}

/// The month a cron firing at `fire` (office time) reports on: the month before.
pub fn report_month(fire: DateTime<Utc>, tz: chrono_tz::Tz) -> Month {
    Month::of(fire, tz).prev()
}

/// Build (once) and deliver the report of `month` when it is still a draft or a re-send
/// was requested. Returns the state afterwards.
pub async fn build_and_deliver(
    desk: &Desk,
    month: Month,
    delivery: Option<&Arc<dyn DigestDelivery>>,
) -> Result<ReportState, String> {
    let (rec, created) = desk
        .reports()
        .build_report(month)
        .await
        .map_err(|e| e.to_string())?;
    if created {
        tracing::info!(%month, "monthly report built");
    }
    let due = rec.state == ReportState::Draft || rec.resend_requested;
    let Some(delivery) = delivery.filter(|_| due) else {
        return Ok(rec.state);
    };
    let leased = desk
        .reports()
        .claim_delivery(month, desk.now() + chrono::Duration::minutes(5))
        .await
        .map_err(|e| e.to_string())?;
    if !leased {
        return Ok(rec.state); // another replica is delivering it
    }
    match delivery.deliver(desk, month).await {
        Ok(()) => {
            desk.reports()
                .report_delivered(month)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(%month, "monthly digest delivered");
            Ok(match rec.state {
                ReportState::Draft => ReportState::Submitted,
                later => later,
            })
        }
        Err(e) => {
            tracing::warn!(%month, error = %e, "monthly digest delivery failed");
            let _ = desk.reports().report_delivery_failed(month, &e).await;
            Err(e)
        }
    }
}

/// Mail the Kasi's conclusion of `month` to the Kepala Dinas and the ISO coordinator when
/// one is pending and the figures went out before it (leased: one replica sends it). Returns
/// whether this call sent it.
pub async fn deliver_conclusion(
    desk: &Desk,
    month: Month,
    delivery: Option<&Arc<dyn DigestDelivery>>,
) -> Result<bool, String> {
    let Some(delivery) = delivery else {
        return Ok(false);
    };
    let leased = desk
        .reports()
        .claim_conclusion_delivery(month, desk.now() + chrono::Duration::minutes(5))
        .await
        .map_err(|e| e.to_string())?;
    if !leased {
        return Ok(false);
    }
    match delivery.deliver_conclusion(desk, month).await {
        Ok(written_at) => {
            desk.reports()
                .conclusion_delivered(month, written_at)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(%month, "kasi's conclusion delivered");
            Ok(true)
        }
        Err(e) => {
            tracing::warn!(%month, error = %e, "delivery of the kasi's conclusion failed");
            let _ = desk.reports().conclusion_delivery_failed(month, &e).await;
            Err(e)
        }
    }
}

/// The digest scheduler: on each cron firing build and deliver the previous month's report;
/// at start, catch up on the last firing if its report does not exist yet; retry failed or
/// requested deliveries every `retry`.
pub async fn run_digest(
    desk: Desk,
    schedule: cron::Schedule,
    delivery: Option<Arc<dyn DigestDelivery>>,
    shutdown: CancellationToken,
    retry: Duration,
) {
    let tz = desk.config().policy.calendar.timezone();
    // Catch up: the most recent firing before now (within the last ~31 days).
    let now = desk.now();
    let since = (now - chrono::Duration::days(32)).with_timezone(&tz);
    if let Some(last) = schedule
        .after(&since)
        .take_while(|t| t.with_timezone(&Utc) <= now)
        .last()
    {
        let month = report_month(last.with_timezone(&Utc), tz);
        if let Err(e) = build_and_deliver(&desk, month, delivery.as_ref()).await {
            tracing::warn!(%month, error = %e, "catch-up of the monthly report failed");
        }
    }
    loop {
        let now = desk.now();
        let next = schedule
            .after(&now.with_timezone(&tz))
            .next()
            .map(|t| t.with_timezone(&Utc));
        let wait = wait_until(now, next, retry);
        let wakeups = desk.wakeups();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            // A conclusion written here goes out at once (another replica's within `retry`).
            _ = wakeups.reports() => {}
        }
        let now = desk.now();
        if let Some(fire) = next
            && now >= fire
        {
            let month = report_month(fire, tz);
            if let Err(e) = build_and_deliver(&desk, month, delivery.as_ref()).await {
                tracing::warn!(%month, error = %e, "monthly report failed; will retry");
            }
        }
        // Retry undelivered or re-send-requested reports of the last two months.
        // Conclusions pending on any report of the last year (or on this month's, mailed
        // early with `aduan digest --send`) go out after its figures.
        let mut m = Month::of(now, tz);
        for back in 0..=12 {
            if back > 0 {
                m = m.prev();
            }
            if let Ok(Some(r)) = desk.reports().stored(m).await {
                if (1..=2).contains(&back) && (r.state == ReportState::Draft || r.resend_requested)
                {
                    let _ = build_and_deliver(&desk, m, delivery.as_ref()).await;
                }
                // After the figures (the lease refuses a draft): SOP order.
                if r.conclusion_pending {
                    let _ = deliver_conclusion(&desk, m, delivery.as_ref()).await;
                }
            }
        }
    }
}

/// The logbook of a month as the XLSX attached to the digest, read page by page (the
/// attachment's bytes are the only copy of the month in memory).
pub async fn logbook_xlsx(desk: &Desk, month: Month) -> Result<Vec<u8>, String> {
    let tz = desk.config().policy.calendar.timezone();
    // The mail leaves the office: the masked logbook, texts masked with each
    // complaint's own identity (rows never carry identity fields).
    let pages = desk
        .reports()
        .logbook_pages(month, logbook::Masking::Identity)
        .await
        .map_err(|e| e.to_string())?;
    aduan_digest::xlsx::write_logbook_xlsx(pages, &desk.config().office_name, month, tz, Vec::new())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::str::FromStr;

    #[test]
    fn waits_until_the_next_due_time_within_the_cap() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        let cap = Duration::from_secs(30);
        assert_eq!(
            wait_until(now, Some(now + chrono::Duration::seconds(5)), cap),
            Duration::from_secs(5)
        );
        assert_eq!(
            wait_until(now, Some(now + chrono::Duration::hours(5)), cap),
            cap
        );
        assert_eq!(
            wait_until(now, Some(now - chrono::Duration::hours(5)), cap),
            Duration::from_millis(50)
        );
        assert_eq!(wait_until(now, None, cap), cap);
    }

    #[test]
    fn the_first_of_the_month_reports_on_the_month_before() {
        let tz = chrono_tz::Asia::Makassar;
        let s = cron::Schedule::from_str("0 0 7 1 * *").unwrap();
        let from = tz.with_ymd_and_hms(2026, 12, 15, 0, 0, 0).unwrap();
        let fire = s.after(&from).next().unwrap();
        assert_eq!(fire.to_rfc3339(), "2027-01-01T07:00:00+08:00");
        assert_eq!(
            report_month(fire.with_timezone(&Utc), tz).to_string(),
            "2026-12"
        );
    }
}
