//! The media service: the worker that fetches the files of chat messages (see
//! [`crate::media`]). Channels run it in a loop with their platform's [`MediaFetcher`];
//! [`Media::run_once`] does one pass and reports what it did, so tests drain the jobs
//! without sleeping.
//!
//! Leases make it safe among replicas and across crashes: a job is claimed for
//! [`MEDIA_LEASE`]; a worker killed during a download never completes it, and once the
//! lease runs out another worker claims it again. A completion presented with a lost lease
//! is ignored, so a file is stored once.
//!
//! Store roles: media.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::desk::Desk;
use crate::media::{
    FetchError, MediaAttempt, MediaFetcher, MediaJob, MediaJobStatus, MediaOutcome, MediaRun,
    failure_note,
};
use crate::model::NewAttachment;
use crate::store::StoreError;
use crate::types::Channel;

/// How long a claimed job is a worker's own (longer than any download may take).
pub const MEDIA_LEASE: Duration = Duration::minutes(5);
/// Jobs claimed per pass.
const BATCH: u32 = 4;

/// The fetchers a worker has, by platform.
pub type MediaFetchers = HashMap<Channel, Arc<dyn MediaFetcher>>;

/// Media jobs. Get one with [`Desk::media`].
#[derive(Clone)]
pub struct Media {
    pub(crate) desk: Desk,
}

impl Media {
    /// Claim one batch of due jobs of the platforms in `fetchers` and try each once: store
    /// the file (at most `limit` bytes), retry later, or record on the complaint why it is
    /// not stored.
    pub async fn run_once(
        &self,
        fetchers: &MediaFetchers,
        limit: u64,
    ) -> Result<MediaRun, StoreError> {
        let channels: Vec<Channel> = fetchers.keys().copied().collect();
        if channels.is_empty() {
            return Ok(MediaRun::default());
        }
        let now = self.desk.clock.now();
        let jobs = self
            .desk
            .media_store()
            .claim_media(&channels, now, MEDIA_LEASE, BATCH)
            .await?;
        let mut run = MediaRun {
            claimed: jobs.len(),
            ..Default::default()
        };
        for job in jobs {
            let Some(fetcher) = fetchers.get(&job.channel) else {
                continue;
            };
            let outcome = self.attempt(fetcher.as_ref(), &job, limit).await;
            let label = match &outcome {
                MediaOutcome::Stored { .. } => {
                    run.stored += 1;
                    "stored"
                }
                MediaOutcome::Retry { .. } => {
                    run.retried += 1;
                    "retry"
                }
                MediaOutcome::Failed { .. } => {
                    run.failed += 1;
                    "failed"
                }
            };
            let kept = self
                .desk
                .media_store()
                .complete_media(&job, outcome)
                .await?;
            run.attempts.push(MediaAttempt {
                job: job.id,
                ticket: job.ticket.clone(),
                channel: job.channel,
                kind: job.kind,
                outcome: label,
                lease_kept: kept,
            });
        }
        Ok(run)
    }

    async fn attempt(
        &self,
        fetcher: &dyn MediaFetcher,
        job: &MediaJob,
        limit: u64,
    ) -> MediaOutcome {
        let attempts = job.attempts + 1;
        let result = match job.size {
            // Announced larger than the limit: no need to ask.
            Some(size) if size > limit => Err(FetchError::TooLarge { size: Some(size) }),
            _ => fetcher.fetch(job, limit).await,
        };
        let result = result.and_then(|f| {
            if f.data.len() as u64 > limit {
                Err(FetchError::TooLarge {
                    size: Some(f.data.len() as u64),
                })
            } else {
                Ok(f)
            }
        });
        let now = self.desk.clock.now();
        let fail = |e: FetchError| MediaOutcome::Failed {
            note: failure_note(job, &e, limit, attempts),
            error: e.to_string(),
            at: now,
        };
        match result {
            Ok(f) => {
                let content_type = job
                    .content_type
                    .clone()
                    .or(f.content_type)
                    .filter(|c| !c.trim().is_empty())
                    .unwrap_or_else(|| job.kind.default_content_type().to_string());
                MediaOutcome::Stored {
                    attachment: NewAttachment {
                        filename: job.filename.clone(),
                        content_type,
                        data: f.data,
                    },
                    at: now,
                }
            }
            Err(e @ (FetchError::TooLarge { .. } | FetchError::Unavailable(_))) => fail(e),
            Err(e @ (FetchError::Transient(_) | FetchError::RetryAfter { .. }))
                if attempts >= job.max_attempts =>
            {
                fail(e)
            }
            Err(FetchError::Transient(error)) => MediaOutcome::Retry {
                error,
                next_attempt_at: now + crate::outbox::backoff(job.attempts),
            },
            Err(FetchError::RetryAfter { after, message }) => MediaOutcome::Retry {
                error: message,
                next_attempt_at: now + after.max(crate::outbox::backoff(job.attempts)),
            },
        }
    }

    /// When a job of `channels` becomes claimable next (for the worker's sleep).
    pub async fn next_due(
        &self,
        channels: &[Channel],
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.desk.media_store().next_media_due(channels).await
    }

    /// The media jobs of a complaint, oldest first.
    pub async fn jobs_of(
        &self,
        ticket: &crate::types::TicketNumber,
    ) -> Result<Vec<MediaJobStatus>, crate::desk::DeskError> {
        let rec = self.desk.complaint(ticket.as_str()).await?;
        Ok(self.desk.media_store().media_of_complaint(rec.id).await?)
    }
}
