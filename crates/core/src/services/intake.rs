//! The intake service: what channels do. A citizen submission or an inbound message becomes a
//! numbered complaint (or is appended to the one it continues), committed with its
//! acknowledgement and the channel's cursor in one transaction; the citizen's status look-ups;
//! the channels' cursors, leases and bounce reports.
//!
//! **Threading never crosses citizens:** every hint (a ticket in the subject, message ids
//! in In-Reply-To/References, a quoted chat message, a reply's subject) only joins a
//! complaint of the same channel and sender ([`same_sender`]); anything else becomes a new
//! complaint. A reply's subject joins only a complaint that is not closed.
//!
//! Store roles: intake, workflow (appending to a complaint), outbox (bounces), leases.

use chrono::{DateTime, Utc};

use crate::model::*;
use crate::secret::verify_access_code;
use crate::store::prelude::*;
use crate::types::*;
use crate::workflow::{Actor, Command, MAX_RATING_COMMENT_CHARS};

use crate::desk::*;

/// Complaints a message-id hint may name that are checked for the sender, newest first.
const THREAD_CANDIDATES: u32 = 20;

/// How long after the answer a chat number 1–5 is taken as the rating (SPEC §3).
pub const RATING_WINDOW: chrono::Duration = chrono::Duration::days(7);

/// Characters of the citizen's answer kept in the history line beside the question.
const ANSWER_NOTE_CHARS: usize = 500;

/// A citizen message to append (see `Intake::append`).
struct Append {
    ticket: TicketNumber,
    channel: Channel,
    text: String,
    external_id: Option<String>,
    at: Option<DateTime<Utc>>,
    attachments: Vec<NewAttachment>,
    /// Platform files to fetch after the commit (media jobs).
    media: Vec<crate::media::NewMediaJob>,
    cursor: Option<Cursor>,
    thread: Option<ReplyThread>,
}

/// The conversation text of a message: its text, then the names of its files.
fn message_text(body: &str, attachments: &[NewAttachment]) -> String {
    let mut text = body.trim().to_string();
    if !attachments.is_empty() {
        let names: Vec<&str> = attachments.iter().map(|a| a.filename.as_str()).collect();
        text.push_str(&format!("\n[lampiran: {}]", names.join(", ")));
    }
    text.chars().take(MAX_BODY_CHARS).collect()
}

/// The history note of an answer: `jawaban pengadu: …`, cut at [`ANSWER_NOTE_CHARS`].
fn answer_note(text: &str) -> String {
    let mut cut: String = text.chars().take(ANSWER_NOTE_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!("jawaban pengadu: {cut}")
}

/// The rating a chat message is, if it is nothing but a number 1–5 (a trailing `.` or `!`
/// allowed).
pub fn rating_score(body: &str) -> Option<u8> {
    let t = body.trim().trim_end_matches(['.', '!']).trim();
    match t.as_bytes() {
        [d @ b'1'..=b'5'] => Some(d - b'0'),
        _ => None,
    }
}

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
        Ok(StatusView::of(self.by_code(ticket, code).await?))
    }

    /// The complaint a ticket and its access code name; a wrong code and an unknown ticket
    /// are the same `NotFound`.
    ///
    /// Both do the same work: the code is hashed and compared whether or not the ticket
    /// exists (against a digest no code has when it does not), so the answer's timing does
    /// not tell an unknown ticket from a wrong code.
    async fn by_code(&self, ticket: &str, code: &str) -> Result<ComplaintRecord, DeskError> {
        let rec = match self.desk.complaint(ticket).await {
            Ok(rec) => Some(rec),
            Err(DeskError::NotFound) => None,
            Err(e) => return Err(e),
        };
        let ok = verify_access_code(
            rec.as_ref().and_then(|r| r.access_code_hash.as_deref()),
            code,
        );
        match rec {
            Some(rec) if ok => Ok(rec),
            _ => Err(DeskError::NotFound),
        }
    }

    /// A message the citizen writes on the status page (or its API), proven by the access
    /// code: appended to the conversation with its files, answering the open question
    /// (the paused step resumes) or reopening a closed complaint, like any threaded
    /// message. Text or at least one file is required.
    pub async fn citizen_message(
        &self,
        ticket: &str,
        code: &str,
        text: &str,
        attachments: Vec<NewAttachment>,
    ) -> Result<Received, DeskError> {
        let rec = self.by_code(ticket, code).await?;
        let body = text.trim();
        if body.chars().count() > MAX_BODY_CHARS {
            return Err(DeskError::invalid(
                "text",
                format!("longer than {MAX_BODY_CHARS} characters"),
            ));
        }
        if body.is_empty() && attachments.is_empty() {
            return Err(DeskError::invalid("text", "must not be empty"));
        }
        self.append(Append {
            ticket: rec.ticket,
            channel: Channel::Web,
            text: message_text(body, &attachments),
            external_id: None,
            at: None,
            attachments,
            media: Vec::new(),
            cursor: None,
            thread: None,
        })
        .await
    }

    /// The citizen's rating (SPEC §3, §4), proven by the access code: once, on a closed
    /// complaint (409 otherwise), `score` 1–5 and an optional comment (422 otherwise).
    pub async fn rate(
        &self,
        ticket: &str,
        code: &str,
        score: i64,
        comment: Option<String>,
    ) -> Result<StatusView, DeskError> {
        let score = u8::try_from(score)
            .ok()
            .filter(|s| RATING_RANGE.contains(s))
            .ok_or_else(|| {
                DeskError::invalid(
                    "score",
                    format!(
                        "must be a whole number from {} to {}",
                        RATING_RANGE.start(),
                        RATING_RANGE.end()
                    ),
                )
            })?;
        if comment
            .as_ref()
            .is_some_and(|c| c.trim().chars().count() > MAX_RATING_COMMENT_CHARS)
        {
            return Err(DeskError::invalid(
                "comment",
                format!("longer than {MAX_RATING_COMMENT_CHARS} characters"),
            ));
        }
        let mut rec = self.by_code(ticket, code).await?;
        for _ in 0..5 {
            let now = self.desk.clock.now();
            let t = workflow_state(&rec).apply(
                Command::Rate {
                    score,
                    comment: comment.clone(),
                },
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
                message: None,
                attachments: Vec::new(),
                media: Vec::new(),
                cursor: None,
                audit: None,
            };
            match self.desk.workflow_store().save_transition(w).await {
                Ok(()) => return self.status(ticket, code).await,
                Err(StoreError::Conflict) => {
                    rec = self.desk.complaint(ticket).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
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
        if channel.is_chat()
            && sub.attachments.is_empty()
            && let (Some(score), Some(handle)) = (rating_score(&sub.body), sub.handle.as_deref())
            && let Some(r) = self
                .chat_rating(channel, handle, score, &sub, cursor.as_ref())
                .await?
        {
            return Ok(r);
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
                ThreadHint::ReplySubject(subject) => {
                    self.senders_open_complaint_by_subject(subject, channel, &sub)
                        .await?
                }
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
        // The citizen's newest thread on their own platform: later replies join it.
        let reply_thread = sub
            .ack_to
            .as_ref()
            .filter(|r| r.channel == channel && r.thread != ReplyThread::default())
            .map(|r| r.thread.clone());
        self.append(Append {
            ticket,
            channel,
            text: message_text(&with_media_lines(&body, &sub.media), &sub.attachments),
            external_id: sub.external_id.clone(),
            at: sub.received_at,
            attachments: sub.attachments,
            media,
            cursor,
            thread: reply_thread,
        })
        .await
    }

    /// Append a citizen message to a complaint in one transaction (the `CitizenMessage`
    /// transition: reopening a closed complaint, resuming a paused step); a redelivered
    /// `(channel, external_id)` writes only the cursor.
    async fn append(&self, a: Append) -> Result<Received, DeskError> {
        let Append {
            ticket,
            channel,
            text,
            external_id,
            at,
            attachments,
            media,
            cursor,
            thread,
        } = a;
        for _ in 0..5 {
            let rec = self
                .desk
                .workflow_store()
                .get_complaint(&ticket)
                .await?
                .ok_or(DeskError::NotFound)?;
            let now = self.desk.clock.now();
            let ws = workflow_state(&rec);
            let mut t = ws.apply(
                Command::CitizenMessage,
                &Actor::Citizen,
                now,
                &self.desk.cfg.policy,
            )?;
            if t.changes.clear_pause && rec.state == State::WaitingCitizen {
                // The answer to the question, in the history beside the question.
                t.history.note = Some(answer_note(&text));
            }
            t.changes.reply_thread = thread.clone();
            let w = TransitionWrite {
                complaint_id: rec.id,
                expected_version: rec.version,
                transition: &t,
                actor: Actor::Citizen.label(),
                reply: None,
                message: Some(NewMessage {
                    channel: Some(channel),
                    direction: Direction::In,
                    at: at.unwrap_or(now),
                    text: text.clone(),
                    external_id: external_id.clone(),
                }),
                attachments: attachments.clone(),
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

    /// A chat message that is just a number 1–5 from the sender of a complaint answered in
    /// the last [`RATING_WINDOW`]: that complaint's rating, stored with the message and
    /// thanked for on the chat, no new complaint and no reopening. Not a rating (None) when
    /// the sender has a question to answer (the number answers it) or no such complaint.
    async fn chat_rating(
        &self,
        channel: Channel,
        handle: &str,
        score: u8,
        sub: &Submission,
        cursor: Option<&Cursor>,
    ) -> Result<Option<Received>, DeskError> {
        let store = self.desk.intake_store();
        if let Some(open) = store.open_ticket_for_handle(channel, handle).await?
            && let Some(rec) = self.desk.workflow_store().get_complaint(&open).await?
            && rec.state == State::WaitingCitizen
        {
            return Ok(None);
        }
        let since = self.desk.clock.now() - RATING_WINDOW;
        let Some(ticket) = store
            .rateable_ticket_for_handle(channel, handle, since)
            .await?
        else {
            return Ok(None);
        };
        for _ in 0..5 {
            let Some(rec) = self.desk.workflow_store().get_complaint(&ticket).await? else {
                return Ok(None);
            };
            if !same_sender(&rec, channel, sub) {
                return Ok(None);
            }
            let now = self.desk.clock.now();
            let Ok(mut t) = workflow_state(&rec).apply(
                Command::Rate {
                    score,
                    comment: None,
                },
                &Actor::Citizen,
                now,
                &self.desk.cfg.policy,
            ) else {
                // Rated meanwhile (or reopened): an ordinary message after all.
                return Ok(None);
            };
            // The thanks replies to the rating message; so do later replies.
            t.changes.reply_thread = sub
                .ack_to
                .as_ref()
                .filter(|r| r.channel == channel && r.thread != ReplyThread::default())
                .map(|r| r.thread.clone());
            let mut rec = rec;
            if let Some(th) = &t.changes.reply_thread {
                rec.reply_thread = th.clone();
            }
            let reply = self.desk.citizen_reply(
                &rec,
                ReplyKind::RatingThanks,
                "rating_thanks",
                serde_json::json!({ "score": score }),
            );
            let w = TransitionWrite {
                complaint_id: rec.id,
                expected_version: rec.version,
                transition: &t,
                actor: Actor::Citizen.label(),
                reply,
                message: Some(NewMessage {
                    channel: Some(channel),
                    direction: Direction::In,
                    at: sub.received_at.unwrap_or(now),
                    text: sub.body.trim().to_string(),
                    external_id: sub.external_id.clone(),
                }),
                attachments: Vec::new(),
                media: Vec::new(),
                cursor: cursor.cloned(),
                audit: None,
            };
            match self.desk.workflow_store().save_transition(w).await {
                Ok(()) => return Ok(Some(Received::Rated { ticket, score })),
                Err(StoreError::Conflict) => continue,
                Err(StoreError::AlreadyExists(_)) => {
                    if let Some(c) = cursor {
                        store.set_cursor(&c.key, &c.value).await?;
                    }
                    return Ok(Some(Received::Duplicate { ticket }));
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

    /// The complaint a reply by subject alone continues ([`ThreadHint::ReplySubject`]): the
    /// newest one acknowledged by e-mail to the sender's address (or the acknowledgement's
    /// recipient, a Reply-To) that is not closed, is the sender's own ([`same_sender`]) and
    /// begins with a subject of the same [`subject_key`](crate::subject::subject_key).
    async fn senders_open_complaint_by_subject(
        &self,
        subject: &str,
        channel: Channel,
        sub: &Submission,
    ) -> Result<Option<TicketNumber>, DeskError> {
        if channel != Channel::Email {
            return Ok(None);
        }
        let Some(key) = crate::subject::reply_key(subject) else {
            return Ok(None);
        };
        let Some(email) = sub
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        else {
            return Ok(None);
        };
        let mut recipients = vec![email.to_string()];
        if let Some(ack) = &sub.ack_to
            && ack.channel == Channel::Email
            && !ack.recipient.trim().eq_ignore_ascii_case(email)
        {
            recipients.push(ack.recipient.trim().to_string());
        }
        let candidates = self
            .desk
            .intake_store()
            .open_tickets_acknowledged_to(Channel::Email, &recipients, THREAD_CANDIDATES)
            .await?;
        for ticket in candidates {
            let Some(rec) = self.desk.workflow_store().get_complaint(&ticket).await? else {
                continue;
            };
            let first_line = rec.body.lines().next().unwrap_or("");
            if rec.state != State::Closed
                && same_sender(&rec, channel, sub)
                && crate::subject::subject_key(first_line).as_deref() == Some(key.as_str())
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

#[cfg(test)]
mod tests {
    use super::{answer_note, rating_score};

    #[test]
    fn only_a_bare_number_one_to_five_is_a_rating() {
        assert_eq!(rating_score("5"), Some(5));
        assert_eq!(rating_score(" 1. "), Some(1));
        assert_eq!(rating_score("4!"), Some(4));
        for no in ["0", "6", "10", "5 bintang", "lima", "", "５", "3,5"] {
            assert_eq!(rating_score(no), None, "{no}");
        }
    }

    #[test]
    fn long_answers_are_cut_in_the_history() {
        assert_eq!(answer_note("ya"), "jawaban pengadu: ya");
        let long = "a".repeat(600);
        let n = answer_note(&long);
        assert!(n.ends_with('…') && n.chars().count() == 17 + 500 + 1, "{n}");
    }
}
