//! Polling mode: the `getUpdates` long-polling loop.
//!
//! The loop asks for updates from the offset stored in the `telegram:offset` cursor and
//! handles them one by one with [`handle_update`]. Telegram deletes an update once
//! `getUpdates` is called with a higher offset, so the offset only moves past an update
//! after its complaint is committed — the new offset is written in the same transaction
//! as the complaint. A crash between the commit and the next `getUpdates` therefore loses
//! nothing: after a restart the loop resumes from the stored offset; an update delivered
//! again anyway is recognised by its `(chat id, message id)` and stored once.
//!
//! Only one replica polls (Telegram answers a second concurrent `getUpdates` with a 409):
//! the loop holds the lease `telegram:getUpdates:{bot id}` ([`aduan_http::lease`]: TTL
//! 10 s, renewed every 3 s in the background, also during the long poll). A replica
//! without it asks again every 2 s, so polling moves within 15 s of its poller's death; a
//! lost lease ends the long poll at once and nothing further is committed; the new holder
//! resumes from the stored offset.
//!
//! On errors (Bot API unreachable, 5xx, store unavailable) the loop reports the error to
//! the health callback, waits with exponential backoff (1 s doubling to 60 s; a 429's
//! `retry_after` when longer) and tries again; the first successful poll clears the error.
//! Files are not downloaded here (the media worker fetches them after the commit), so a
//! broken or slow file never stalls the chat.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use teloxide::Bot;
use teloxide::requests::{JsonRequest, Payload, Request, Requester};
use tokio_util::sync::CancellationToken;

use aduan_http::lease::{HeldLease, LeaseTiming};

use crate::TelegramContext;
use crate::bot::{Failure, build_bot, classify, error_text};
use crate::config::TelegramConfig;
use crate::intake::{HandleOptions, OFFSET_CURSOR, handle_update};

/// `getUpdates` answered as raw JSON objects, so a message teloxide cannot read is still
/// available to [`handle_update`] (sent through teloxide's client like any other call).
#[derive(Debug, Clone, Serialize)]
struct GetUpdatesRaw {
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<i32>,
    timeout: u32,
    allowed_updates: [&'static str; 1],
}

impl Payload for GetUpdatesRaw {
    type Output = Vec<Value>;
    const NAME: &'static str = "GetUpdates";
}

/// Timing of the polling loop.
#[derive(Debug, Clone)]
pub struct PollOptions {
    /// Long-poll `timeout` sent to `getUpdates`.
    pub poll_timeout: Duration,
    /// HTTP timeout of every call; must exceed `poll_timeout`.
    pub http_timeout: Duration,
    /// First wait after an error (doubled on each further error).
    pub backoff_min: Duration,
    /// Longest wait after errors.
    pub backoff_max: Duration,
    /// The poller lease's timing.
    pub lease: LeaseTiming,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            poll_timeout: Duration::from_secs(25),
            http_timeout: Duration::from_secs(35),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            lease: LeaseTiming::default(),
        }
    }
}

/// Run the polling loop until `shutdown` is cancelled (see the module docs). The update
/// being handled when `shutdown` fires is finished first.
pub async fn run_polling(cfg: TelegramConfig, ctx: TelegramContext, shutdown: CancellationToken) {
    run_polling_with(cfg, ctx, shutdown, PollOptions::default()).await
}

/// [`run_polling`] with explicit timing (tests use short timeouts).
pub async fn run_polling_with(
    cfg: TelegramConfig,
    ctx: TelegramContext,
    shutdown: CancellationToken,
    opts: PollOptions,
) {
    let token = cfg.token.expose().to_string();
    let http_timeout = opts
        .http_timeout
        .max(opts.poll_timeout.saturating_add(Duration::from_secs(1)));
    let bot = build_bot(&cfg, http_timeout);
    let mut poller = Poller {
        ctx,
        bot,
        token,
        opts,
        offset: None,
        webhook_cleared: false,
        failures: HashMap::new(),
        backoff: None,
        reported: None,
    };
    let key = lease_key(&poller.token);
    let holder = poller.ctx.replica_id.clone();
    tracing::info!(lease = %key, holder = %holder, "telegram: polling started");
    let mut held: Option<HeldLease> = None;
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        if held.as_ref().is_some_and(|l| l.check().is_err()) {
            tracing::warn!(lease = %key, "telegram: poller lease lost; another replica polls now");
            held = None;
        }
        if held.is_none() {
            match HeldLease::acquire(&poller.ctx.desk, &key, &holder, poller.opts.lease).await {
                Ok(Some(l)) => {
                    tracing::info!(lease = %key, holder = %holder, "telegram: poller lease taken: this replica polls");
                    // Another replica may have moved the offset meanwhile.
                    poller.offset = None;
                    held = Some(l);
                }
                Ok(None) => {
                    tracing::debug!(lease = %key, "telegram: another replica polls");
                    poller.report(None);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(poller.opts.lease.retry) => {}
                    }
                    continue;
                }
                Err(e) => {
                    if poller
                        .fail(format!("poller lease: {e}"), Duration::ZERO, &shutdown)
                        .await
                        .is_err()
                    {
                        break;
                    }
                    continue;
                }
            }
        }
        let Some(lease) = held.as_ref() else { continue };
        match poller.step(&shutdown, lease).await {
            Ok(()) => {}
            Err(End::Stop) => break,
            Err(End::LeaseLost) => {
                tracing::warn!(lease = %key, "telegram: poller lease lost; another replica polls now");
                held = None;
            }
        }
    }
    if let Some(l) = held
        && let Err(e) = l.release().await
    {
        tracing::warn!(lease = %key, error = %e, "telegram: cannot release the poller lease");
    }
    tracing::info!("telegram: polling stopped");
}

/// The poller lease's name: `telegram:getUpdates:{bot id}` (the token's public part, the
/// bot's user id; never its secret).
pub fn lease_key(token: &str) -> String {
    let id = token.split(':').next().unwrap_or("").trim();
    format!("telegram:getUpdates:{id}")
}

/// Why a round of the loop ended early.
enum End {
    /// Shutdown.
    Stop,
    /// The poller lease is no longer ours.
    LeaseLost,
}

impl From<Stop> for End {
    fn from(_: Stop) -> Self {
        End::Stop
    }
}

/// The loop should end (shutdown).
struct Stop;

struct Poller {
    ctx: TelegramContext,
    bot: Bot,
    token: String,
    opts: PollOptions,
    /// Next offset to ask for; `None` until read from the store.
    offset: Option<i64>,
    webhook_cleared: bool,
    /// Failed tries per update id (only the update at the head of the queue fails).
    failures: HashMap<u32, u32>,
    /// Current backoff, `None` after a success.
    backoff: Option<Duration>,
    /// Last error reported to health (`Some(None)` = reported healthy).
    reported: Option<Option<String>>,
}

impl Poller {
    fn report(&mut self, state: Option<String>) {
        if self.reported.as_ref() != Some(&state) {
            (self.ctx.health)(state.clone());
            self.reported = Some(state);
        }
    }

    /// Report `error` and wait (at least `at_least`) before the next try.
    async fn fail(
        &mut self,
        error: String,
        at_least: Duration,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        tracing::warn!(error = %error, "telegram: polling error");
        metrics::counter!("aduan_telegram_poll_errors_total").increment(1);
        self.report(Some(format!("telegram: {error}")));
        let next = match self.backoff {
            None => self.opts.backoff_min,
            Some(b) => b.saturating_mul(2).min(self.opts.backoff_max),
        };
        self.backoff = Some(next);
        let wait = next.max(at_least);
        tokio::select! {
            _ = shutdown.cancelled() => Err(Stop),
            _ = tokio::time::sleep(wait) => Ok(()),
        }
    }

    /// One round: load the offset, clear a webhook, poll, handle the batch (while `lease`
    /// is ours).
    async fn step(&mut self, shutdown: &CancellationToken, lease: &HeldLease) -> Result<(), End> {
        let offset = match self.offset {
            Some(o) => o,
            None => match self.ctx.desk.intake().cursor(OFFSET_CURSOR).await {
                Ok(v) => {
                    let o = v
                        .as_deref()
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .and_then(|s| {
                            s.parse::<i64>().map_err(|_| {
                                tracing::error!(value = s, "telegram: stored offset is not a number; polling from the oldest pending update");
                            }).ok()
                        })
                        .unwrap_or(0);
                    tracing::info!(offset = o, "telegram: resuming from the stored offset");
                    self.offset = Some(o);
                    o
                }
                Err(e) => {
                    return Ok(self
                        .fail(format!("reading the offset: {e}"), Duration::ZERO, shutdown)
                        .await?);
                }
            },
        };
        if !self.webhook_cleared {
            // getUpdates does not work while a webhook is set; pending updates are kept.
            let r = tokio::select! {
                _ = shutdown.cancelled() => return Err(End::Stop),
                _ = lease.lost() => return Err(End::LeaseLost),
                r = self.bot.delete_webhook() => r,
            };
            match r {
                Ok(_) => self.webhook_cleared = true,
                Err(e) => {
                    let text = error_text(&self.token, &e);
                    return Ok(self
                        .fail(
                            format!("deleteWebhook: {text}"),
                            wait_of(&self.token, &e),
                            shutdown,
                        )
                        .await?);
                }
            }
        }
        let req = JsonRequest::new(
            self.bot.clone(),
            GetUpdatesRaw {
                offset: (offset > 0).then(|| i32::try_from(offset).unwrap_or(i32::MAX)),
                timeout: self.opts.poll_timeout.as_secs().min(u32::MAX as u64) as u32,
                allowed_updates: ["message"],
            },
        );
        let result = tokio::select! {
            _ = shutdown.cancelled() => return Err(End::Stop),
            // The long poll is abandoned: nothing of it is committed or confirmed.
            _ = lease.lost() => return Err(End::LeaseLost),
            r = req.send() => r,
        };
        let updates = match result {
            Ok(u) => u,
            Err(e) => {
                let text = error_text(&self.token, &e);
                if text.starts_with("Conflict") && text.contains("webhook") {
                    self.webhook_cleared = false;
                }
                return Ok(self
                    .fail(
                        format!("getUpdates: {text}"),
                        wait_of(&self.token, &e),
                        shutdown,
                    )
                    .await?);
            }
        };
        self.backoff = None;
        self.report(None);
        let mut offset = offset;
        for update in updates {
            if shutdown.is_cancelled() {
                return Err(End::Stop);
            }
            // Commit nothing further once another replica may poll.
            if lease.check().is_err() {
                return Err(End::LeaseLost);
            }
            let Some(id) = update
                .get("update_id")
                .and_then(Value::as_u64)
                .and_then(|id| u32::try_from(id).ok())
            else {
                tracing::warn!(
                    "telegram: getUpdates returned an update without update_id; skipped"
                );
                continue;
            };
            let next = offset.max(id as i64 + 1);
            let tries = self.failures.get(&id).copied().unwrap_or(0);
            let hopts = HandleOptions { offset: Some(next) };
            match handle_update(&self.ctx, &self.bot, &update, &hopts).await {
                Ok(outcome) => {
                    aduan_http::channel::record_intake(
                        aduan_core::types::Channel::Telegram,
                        outcome.intake(),
                    );
                    tracing::debug!(
                        update_id = id,
                        outcome = outcome.label(),
                        "telegram: update handled"
                    );
                    self.failures.clear();
                    offset = next;
                    self.offset = Some(next);
                }
                Err(e) => {
                    self.failures.clear();
                    self.failures.insert(id, tries + 1);
                    // Nothing confirmed: the next poll starts at this update again.
                    return Ok(self
                        .fail(format!("update {id}: {e}"), Duration::ZERO, shutdown)
                        .await?);
                }
            }
        }
        Ok(())
    }
}

/// Telegram's `retry_after`, if the error carries one.
fn wait_of(token: &str, e: &teloxide::RequestError) -> Duration {
    match classify(token, e) {
        Failure::RetryAfter(s) => Duration::from_secs(s as u64),
        _ => Duration::ZERO,
    }
}
