//! The intake service: what channels do. A citizen submission or an inbound message becomes a
//! numbered complaint (or is appended to the one it continues), committed with its
//! acknowledgement and the channel's cursor in one transaction; the citizen's status look-ups;
//! the channels' cursors, leases and bounce reports.
//!
//! **Threading never crosses citizens:** every hint (a ticket in the subject, message ids
//! in In-Reply-To/References, a quoted chat message) only joins a complaint of the same
//! channel and sender ([`same_sender`]); anything else becomes a new complaint.
//!
//! Store roles: intake, workflow (appending to a complaint), outbox (bounces), leases.

use chrono::{DateTime, Utc};

use crate::model::*;
use crate::secret::{constant_time_eq, hash_secret};
use crate::store::prelude::*;
use crate::types::*;
use crate::workflow::{Actor, Command};

use crate::desk::*;

/// Complaints a message-id hint may name that are checked for the sender, newest first.
const THREAD_CANDIDATES: u32 = 20;

/// Intake use cases (see the module docs). Get one with [`Desk::intake`].
#[derive(Clone)]
pub struct Intake {
    pub(crate) desk: Desk,
}

impl Intake {
    /// Accept a complaint from a digital channel. Committed before this returns.
    pub async fn submit(&self, sub: Submission) -> Result<Receipt, DeskError> {
        if sub.channel.is_some_and(|c| c.is_manual()) {
            return Err(DeskError::invalid(
                "channel",
                "manual channels are entered by staff",
            ));
        }
        self.desk.create(sub, &Actor::System, None).await
    }

    /// Public status by ticket and access code; wrong code and unknown ticket are the same.
    pub async fn status(&self, ticket: &str, code: &str) -> Result<StatusView, DeskError> {
        let rec = self.desk.complaint(ticket).await?;
        let ok = rec
            .access_code_hash
            .as_deref()
            .is_some_and(|h| constant_time_eq(h, &hash_secret(code)));
        if !ok {
            return Err(DeskError::NotFound);
        }
        Ok(StatusView::of(rec))
    }

    /// Commit an inbound message — a new complaint, or appended to the complaint it
    /// continues (reopening a closed one) — with its acknowledgement and the cursor, in one
    /// transaction. Redelivery of the same `(channel, external_id)` writes nothing but the
    /// cursor.
    pub async fn receive(&self, msg: Inbound) -> Result<Received, DeskError> {
        let Inbound {
            submission: sub,
            thread,
            cursor,
        } = msg;
        let channel = sub
            .channel
            .ok_or_else(|| DeskError::invalid("channel", "missing"))?;
        if channel.is_manual() {
            return Err(DeskError::invalid(
                "channel",
                "manual channels are entered by staff",
            ));
        }
        if let Some(ext) = &sub.external_id
            && let Some(ticket) = self
                .desk
                .intake_store()
                .ticket_by_external_id(channel, ext)
                .await?
        {
            if let Some(c) = &cursor {
                self.desk
                    .intake_store()
                    .set_cursor(&c.key, &c.value)
                    .await?;
            }
            return Ok(Received::Duplicate { ticket });
        }
        let album = thread.iter().find_map(|h| match h {
            ThreadHint::Album(a) => Some(a.clone()),
            _ => None,
        });
        let mut target = None;
        let mut by_album = false;
        for hint in &thread {
            target = match hint {
                ThreadHint::Ticket(t) => match self.desk.workflow_store().get_complaint(t).await? {
                    Some(rec) if same_sender(&rec, channel, &sub) => Some(rec.ticket),
                    _ => None,
                },
                ThreadHint::MessageIds(ids) if !ids.is_empty() => {
                    self.senders_complaint_by_ids(ids, channel, &sub).await?
                }
                ThreadHint::MessageIds(_) => None,
                ThreadHint::OpenForHandle => match &sub.handle {
                    Some(h) => {
                        self.desk
                            .intake_store()
                            .open_ticket_for_handle(channel, h)
                            .await?
                    }
                    None => None,
                },
                ThreadHint::Album(a) => {
                    let found = self.desk.media_store().ticket_for_album(channel, a).await?;
                    match found {
                        Some(t) => match self.desk.workflow_store().get_complaint(&t).await? {
                            Some(rec) if same_sender(&rec, channel, &sub) => {
                                by_album = true;
                                Some(rec.ticket)
                            }
                            _ => None,
                        },
                        None => None,
                    }
                }
            };
            if target.is_some() {
                break;
            }
        }
        let Some(ticket) = target else {
            let (mut new, code) = self.desk.build(sub, &Actor::System)?;
            new.cursor = cursor;
            for job in &mut new.media {
                job.album.clone_from(&album);
            }
            let outcome = self.desk.intake_store().create_complaint(new).await?;
            return Ok(match outcome {
                CreateOutcome::Created { ticket, .. } => Received::Created(Receipt {
                    status_url: code.as_ref().map(|c| self.desk.status_url(&ticket, c)),
                    ticket,
                    access_code: code,
                    duplicate: false,
                }),
                CreateOutcome::Duplicate { ticket, .. } => Received::Duplicate { ticket },
            });
        };
        let media = media_jobs(&sub.media, sub.external_id.as_deref(), album.as_deref());
        let body = sub.body.trim().to_string();
        if by_album && body.is_empty() && sub.attachments.is_empty() && !media.is_empty() {
            // A later file of an album: it joins the album's complaint as a file only.
            let rec = self
                .desk
                .workflow_store()
                .get_complaint(&ticket)
                .await?
                .ok_or(DeskError::NotFound)?;
            let added = self
                .desk
                .media_store()
                .add_media(rec.id, channel, media, self.desk.clock.now(), cursor)
                .await?;
            return Ok(if added {
                Received::Appended {
                    ticket,
                    reopened: false,
                }
            } else {
                Received::Duplicate { ticket }
            });
        }
        if body.is_empty() && sub.attachments.is_empty() && media.is_empty() {
            return Err(DeskError::invalid("body", "must not be empty"));
        }
        let mut text = with_media_lines(&body, &sub.media);
        if !sub.attachments.is_empty() {
            let names: Vec<&str> = sub
                .attachments
                .iter()
                .map(|a| a.filename.as_str())
                .collect();
            text.push_str(&format!("\n[lampiran: {}]", names.join(", ")));
        }
        let text: String = text.chars().take(MAX_BODY_CHARS).collect();
        for _ in 0..5 {
            let rec = self
                .desk
                .workflow_store()
                .get_complaint(&ticket)
                .await?
                .ok_or(DeskError::NotFound)?;
            let now = self.desk.clock.now();
            let ws = workflow_state(&rec);
            let t = ws.apply(
                Command::CitizenMessage,
                &Actor::Citizen,
                now,
                &self.desk.cfg.policy,
            )?;
            let w = TransitionWrite {
                complaint_id: rec.id,
                expected_version: rec.version,
                transition: &t,
                actor: Actor::Citizen.label(),
                reply: None,
                message: Some(NewMessage {
                    channel: Some(channel),
                    direction: Direction::In,
                    at: sub.received_at.unwrap_or(now),
                    text: text.clone(),
                    external_id: sub.external_id.clone(),
                }),
                attachments: sub.attachments.clone(),
                media: media.clone(),
                cursor: cursor.clone(),
                audit: None,
            };
            match self.desk.workflow_store().save_transition(w).await {
                Ok(()) => {
                    return Ok(Received::Appended {
                        ticket,
                        reopened: t.changes.reopen,
                    });
                }
                Err(StoreError::Conflict) => continue,
                Err(StoreError::AlreadyExists(_)) => {
                    if let Some(c) = &cursor {
                        self.desk
                            .intake_store()
                            .set_cursor(&c.key, &c.value)
                            .await?;
                    }
                    return Ok(Received::Duplicate { ticket });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// The newest complaint that one of `ids` names (In-Reply-To/References, a quoted chat
    /// message) and that is the sender's own on this channel ([`same_sender`]); ids naming
    /// somebody else's complaint are ignored, since anybody can write them.
    async fn senders_complaint_by_ids(
        &self,
        ids: &[String],
        channel: Channel,
        sub: &Submission,
    ) -> Result<Option<TicketNumber>, DeskError> {
        let candidates = self
            .desk
            .intake_store()
            .tickets_by_message_ids(ids, THREAD_CANDIDATES)
            .await?;
        for ticket in candidates {
            if let Some(rec) = self.desk.workflow_store().get_complaint(&ticket).await?
                && same_sender(&rec, channel, sub)
            {
                return Ok(Some(rec.ticket));
            }
        }
        Ok(None)
    }

    pub async fn cursor(&self, key: &str) -> Result<Option<String>, DeskError> {
        Ok(self.desk.intake_store().get_cursor(key).await?)
    }

    pub async fn set_cursor(&self, key: &str, value: &str) -> Result<(), DeskError> {
        Ok(self.desk.intake_store().set_cursor(key, value).await?)
    }

    /// Record that the citizen is being told why the message `(channel, external_id)` is
    /// not a complaint (an unsupported message type), with the channel's cursor: true the
    /// first time — send the explanation — and false when the platform delivers the same
    /// message again, so the explanation goes out once.
    pub async fn notice_once(
        &self,
        channel: Channel,
        external_id: &str,
        reason: &str,
        cursor: Option<Cursor>,
    ) -> Result<bool, DeskError> {
        let now = self.desk.clock.now();
        Ok(self
            .desk
            .media_store()
            .record_notice(channel, external_id, reason, now, cursor)
            .await?)
    }

    /// A bounce or permanent platform failure of a reply aduan sent with this external id.
    pub async fn fail_reply(&self, external_id: &str, error: &str) -> Result<bool, DeskError> {
        Ok(self
            .desk
            .outbox_store()
            .fail_reply_by_external_id(external_id, error)
            .await?)
    }

    /// Acknowledgements to `recipient` on `channel` since `since` (RFC 3834 daily cap).
    pub async fn acks_since(
        &self,
        channel: Channel,
        recipient: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, DeskError> {
        Ok(self
            .desk
            .intake_store()
            .count_acks_since(channel, recipient, since)
            .await?)
    }

    /// Public status of a ticket, only for the chat/sender it came from.
    pub async fn status_for_handle(
        &self,
        ticket: &str,
        channel: Channel,
        handle: &str,
    ) -> Result<StatusView, DeskError> {
        let rec = self.desk.complaint(ticket.trim()).await?;
        if rec.channel != channel || rec.identity.handle.as_deref() != Some(handle) {
            return Err(DeskError::NotFound);
        }
        Ok(StatusView::of(rec))
    }

    /// Time of the citizen's newest inbound message on a complaint.
    pub async fn last_inbound_at(
        &self,
        ticket: &TicketNumber,
    ) -> Result<Option<DateTime<Utc>>, DeskError> {
        Ok(self.desk.intake_store().last_inbound_at(ticket).await?)
    }

    /// Take or renew a named lease (one mailbox reader among replicas).
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: chrono::Duration,
    ) -> Result<bool, DeskError> {
        let now = self.desk.clock.now();
        Ok(self
            .desk
            .lease_store()
            .try_lease(name, holder, now, now + ttl)
            .await?)
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), DeskError> {
        Ok(self.desk.lease_store().release_lease(name, holder).await?)
    }
}
