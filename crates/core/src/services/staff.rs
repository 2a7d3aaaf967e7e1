//! The staff workflow service: manual entry, the queue, the complaint view with identity
//! protection, and every SOP action through the pure state machine
//! ([`crate::workflow`]); the logbook rows.
//!
//! **Invariants:** role checks come before visibility checks, which come before state checks
//! (a wrong role is always 403, another division's complaint always 404); a bidang user's
//! view never carries identity unless the kasi shared it, nor an attachment's file name or
//! file unless the kasi shared the identity or that attachment.
//!
//! Every action and manual entry carries its audit entry into the same transaction; a
//! logbook export and an attachment download are recorded before they are handed out.
//!
//! Store roles: workflow, intake (manual entry), attachments (files and their shares),
//! reports (the logbook month), audit (exports, downloads).

use crate::mask::IdentityMask;
use crate::model::*;
use crate::store::prelude::*;
use crate::types::*;
use crate::workflow::{Actor, Command, Effect, visible_to};

use crate::desk::*;

/// Longest reason for sharing an attachment, in characters.
pub const MAX_SHARE_REASON_CHARS: usize = 500;

/// The division of a bidang user (None for every other actor).
fn bidang_of(actor: &Actor) -> Option<&BidangCode> {
    match actor {
        Actor::Staff {
            role: Role::Bidang,
            bidang,
            ..
        } => bidang.as_ref(),
        _ => None,
    }
}

/// Is the identity hidden from `actor`: a bidang user the kasi did not share it with?
fn identity_hidden(actor: &Actor, rec: &ComplaintRecord) -> bool {
    match actor {
        Actor::Staff {
            role: Role::Bidang,
            bidang,
            ..
        } => !bidang
            .as_ref()
            .is_some_and(|b| rec.identity_shared_with.contains(b)),
        _ => false,
    }
}

/// May `actor` see the name of attachment `id` and open it? Everybody but a bidang user;
/// a bidang user when the identity or this attachment was shared with its division.
fn may_open(actor: &Actor, rec: &ComplaintRecord, id: i64) -> bool {
    if !identity_hidden(actor, rec) {
        return true;
    }
    bidang_of(actor).is_some_and(|b| {
        rec.attachment_shares
            .iter()
            .any(|s| s.attachment_id == id && &s.bidang == b)
    })
}

/// `text` with each whole occurrence of a file name (not inside a longer word) replaced by
/// its label; `names` longest first.
fn replace_file_names(text: &str, names: &[(String, String)]) -> String {
    let mut out = text.to_string();
    for (name, label) in names {
        if name.is_empty() || !out.contains(name.as_str()) {
            continue;
        }
        let mut next = String::with_capacity(out.len());
        let mut rest = out.as_str();
        let mut prev: Option<char> = None;
        while let Some(i) = rest.find(name.as_str()) {
            let before = rest[..i].chars().next_back().or(prev);
            let after = rest[i + name.len()..].chars().next();
            let whole = !before.is_some_and(char::is_alphanumeric)
                && !after.is_some_and(char::is_alphanumeric);
            next.push_str(&rest[..i]);
            if whole {
                next.push_str(label);
            } else {
                next.push_str(name);
            }
            prev = name.chars().next_back();
            rest = &rest[i + name.len()..];
        }
        next.push_str(rest);
        out = next;
    }
    out
}

/// Staff use cases (see the module docs). Get one with [`Desk::staff`].
#[derive(Clone)]
pub struct Staff {
    pub(crate) desk: Desk,
}

impl Staff {
    /// Suggest a bidang from its routing keywords (most keyword hits wins).
    pub fn suggest_bidang(&self, text: &str) -> Option<BidangCode> {
        let lower = text.to_lowercase();
        self.desk
            .cfg
            .bidang
            .iter()
            .map(|b| {
                let hits = b
                    .keywords
                    .iter()
                    .filter(|k| contains_word(&lower, &k.to_lowercase()))
                    .count();
                (hits, b)
            })
            .filter(|(h, _)| *h > 0)
            .max_by_key(|(h, _)| *h)
            .map(|(_, b)| b.code.clone())
    }

    pub fn bidang_exists(&self, code: &BidangCode) -> bool {
        self.desk.cfg.bidang.iter().any(|b| &b.code == code)
    }

    /// Manual entry of a phone/letter/fax/walk-in complaint by staf.
    pub async fn manual_entry(&self, actor: &Actor, sub: Submission) -> Result<Receipt, DeskError> {
        if actor.role() != Some(Role::Staf) {
            return Err(DeskError::Forbidden(
                "only staf may log manual complaints".into(),
            ));
        }
        match sub.channel {
            Some(c) if c.is_manual() => {}
            Some(c) => {
                return Err(DeskError::invalid(
                    "channel",
                    format!("`{c}` is not a manual channel (phone, letter, fax, walk_in)"),
                ));
            }
            None => return Err(DeskError::invalid("channel", "missing")),
        }
        let mut sub = sub;
        sub.with_access_code = true;
        sub.ack_to = None;
        let mut detail = serde_json::json!({ "channel": sub.channel.map(|c| c.as_str()) });
        if let Some(at) = sub.received_at {
            detail["received_at"] = at.to_rfc3339().into();
        }
        let audit = self
            .desk
            .audit()
            .entry(actor, crate::audit::actions::MANUAL_ENTRY)
            .with_detail(detail);
        self.desk.create(sub, actor, Some(audit)).await
    }

    pub(crate) async fn load_visible(
        &self,
        actor: &Actor,
        ticket: &str,
    ) -> Result<ComplaintRecord, DeskError> {
        let rec = self.desk.complaint(ticket).await?;
        if !visible_to(actor, rec.bidang.as_ref()) {
            return Err(DeskError::NotFound);
        }
        Ok(rec)
    }

    /// The complaint as `actor` may see it.
    pub async fn view(&self, actor: &Actor, ticket: &str) -> Result<ComplaintView, DeskError> {
        let rec = self.load_visible(actor, ticket).await?;
        Ok(self.to_view(actor, rec))
    }

    /// Perform a staff (or citizen) command on a complaint. Retries on concurrent updates.
    pub async fn act(
        &self,
        actor: &Actor,
        ticket: &str,
        cmd: Command,
    ) -> Result<ComplaintView, DeskError> {
        if !cmd.permits(actor) {
            return Err(DeskError::Forbidden(format!(
                "role {} may not {}; required: {}",
                actor.role().map(|r| r.as_str()).unwrap_or("none"),
                cmd.name(),
                cmd.performer()
            )));
        }
        if let Command::Assign { bidang, .. } = &cmd
            && !self.bidang_exists(bidang)
        {
            return Err(DeskError::invalid(
                "bidang",
                format!("unknown bidang `{bidang}`"),
            ));
        }
        for _ in 0..5 {
            let rec = self.load_visible(actor, ticket).await?;
            let ws = workflow_state(&rec);
            let now = self.desk.clock.now();
            let t = ws.apply(cmd.clone(), actor, now, &self.desk.cfg.policy)?;
            let mut reply = None;
            let mut message = None;
            for e in &t.effects {
                match e {
                    Effect::SendAnswer { text } => {
                        // The answer asks for the rating: chat by a number in reply, e-mail
                        // and web on the status page.
                        let rating_by = if rec.channel.is_chat() {
                            "reply"
                        } else {
                            "page"
                        };
                        reply = self.desk.citizen_reply(
                            &rec,
                            ReplyKind::Answer,
                            "answer",
                            serde_json::json!({ "message": text, "rating_by": rating_by }),
                        );
                    }
                    Effect::SendQuestion { question } => {
                        let tz = self.desk.cfg.policy.calendar.timezone();
                        reply = self.desk.citizen_reply(
                            &rec,
                            ReplyKind::Question,
                            "question",
                            serde_json::json!({
                                "question": question,
                                "wait_days": self.desk.cfg.policy.wait_citizen_days,
                                "answer_by": t.due_at.map(|d| {
                                    d.with_timezone(&tz).format("%d-%m-%Y %H:%M").to_string()
                                }),
                            }),
                        );
                        if reply.is_none() {
                            // Nothing to send it by (a web complaint without an e-mail
                            // address): the status page shows it; so does the conversation.
                            message = Some(NewMessage {
                                channel: None,
                                direction: Direction::Out,
                                at: now,
                                text: question.clone(),
                                external_id: None,
                            });
                        }
                    }
                    Effect::SendTimeoutNotice => {}
                }
            }
            match (&cmd, rec.channel.is_manual()) {
                // Manual channels: staff record how they answered or asked (by phone,
                // letter …); it joins the conversation.
                (Command::FollowUp { message: m }, true) | (Command::Ask { question: m }, true) => {
                    message = Some(NewMessage {
                        channel: None,
                        direction: Direction::Out,
                        at: now,
                        text: m.trim().to_string(),
                        external_id: None,
                    });
                }
                _ => {}
            }
            let w = TransitionWrite {
                complaint_id: rec.id,
                expected_version: rec.version,
                transition: &t,
                actor: actor.label(),
                reply,
                message,
                attachments: Vec::new(),
                media: Vec::new(),
                cursor: None,
                audit: crate::audit::for_command(actor, &rec.ticket, &cmd, &t),
            };
            match self.desk.workflow_store().save_transition(w).await {
                Ok(()) => return self.view(actor, ticket).await,
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// The queue `actor` may see, optionally restricted to one state.
    pub async fn queue(
        &self,
        actor: &Actor,
        state: Option<State>,
    ) -> Result<Vec<QueueLine>, DeskError> {
        let bidang = match actor {
            Actor::Staff {
                role: Role::Bidang,
                bidang,
                ..
            } => Some(
                bidang
                    .clone()
                    .ok_or_else(|| DeskError::Forbidden("bidang user without a bidang".into()))?,
            ),
            _ => None,
        };
        let now = self.desk.clock.now();
        let items = self
            .desk
            .workflow_store()
            .queue(&QueueFilter {
                state,
                bidang,
                limit: Some(1000),
            })
            .await?;
        Ok(items
            .into_iter()
            .map(|i| QueueLine {
                // A question's wait is no SOP step: it ends by closing, not by a breach.
                breached: i.state != State::WaitingCitizen && i.due_at.is_some_and(|d| now > d),
                ticket: i.ticket,
                channel: i.channel,
                state: i.state,
                received_at: i.received_at,
                due_at: i.due_at,
                bidang: i.bidang,
            })
            .collect())
    }

    /// Build the staff view, hiding identity from bidang users unless shared with them.
    /// Attachments a bidang user may not open are shown by their neutral label, also where
    /// their file names appear in texts.
    pub fn to_view(&self, actor: &Actor, rec: ComplaintRecord) -> ComplaintView {
        let hide = identity_hidden(actor, &rec);
        let viewer_bidang = bidang_of(actor);
        let attachments: Vec<AttachmentView> = rec
            .attachments
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let label = a.neutral_label(i + 1);
                let open = may_open(actor, &rec, a.id);
                let mut shared_with: Vec<BidangCode> = Vec::new();
                for s in rec
                    .attachment_shares
                    .iter()
                    .filter(|s| s.attachment_id == a.id)
                {
                    let mine = viewer_bidang.is_none_or(|b| b == &s.bidang);
                    if mine && !shared_with.contains(&s.bidang) {
                        shared_with.push(s.bidang.clone());
                    }
                }
                AttachmentView {
                    id: a.id,
                    filename: if open {
                        a.filename.clone()
                    } else {
                        label.clone()
                    },
                    label,
                    content_type: a.media_type(),
                    size: a.size,
                    name_hidden: !open,
                    downloadable: open,
                    shared_with,
                }
            })
            .collect();
        // File names the viewer may not see, longest first (a name inside a longer one).
        let mut hidden_names: Vec<(String, String)> = rec
            .attachments
            .iter()
            .zip(&attachments)
            .filter(|(_, v)| v.name_hidden)
            .map(|(a, v)| (a.filename.clone(), v.label.clone()))
            .collect();
        hidden_names.sort_by_key(|(n, _)| std::cmp::Reverse(n.chars().count()));
        // Masked with the complaint's own identity (its name and address too), after hidden
        // file names became their labels.
        let mask = hide.then(|| IdentityMask::new(&rec.identity));
        let m = |s: String| match &mask {
            Some(k) => k.apply(&replace_file_names(&s, &hidden_names)),
            None => s,
        };
        let mo = |s: Option<String>| s.map(m);
        let now = self.desk.clock.now();
        let suggested = if rec.state == State::Triage {
            self.suggest_bidang(&format!(
                "{} {}",
                rec.target.clone().unwrap_or_default(),
                rec.body
            ))
        } else {
            None
        };
        let complainant = if hide {
            ComplainantView::default()
        } else {
            ComplainantView {
                name: rec.identity.name,
                address: rec.identity.address,
                email: rec.identity.email,
                phone: rec.identity.phone,
                handle: rec.identity.handle,
            }
        };
        ComplaintView {
            ticket: rec.ticket,
            channel: rec.channel,
            state: rec.state,
            status: rec.status,
            received_at: rec.received_at,
            updated_at: rec.updated_at,
            due_at: rec.due_at,
            breached: rec.state != State::WaitingCitizen && rec.due_at.is_some_and(|d| now > d),
            complainant,
            identity_hidden: hide,
            category: rec.category,
            target: mo(rec.target),
            body: m(rec.body),
            letter_number: rec.letter_number,
            messages: rec
                .messages
                .into_iter()
                .map(|msg| Message {
                    text: m(msg.text),
                    ..msg
                })
                .collect(),
            bidang: rec.bidang,
            suggested_bidang: suggested,
            solution: mo(rec.solution),
            answer: mo(rec.answer),
            close_reason: mo(rec.close_reason),
            paraf: match (rec.paraf_by, rec.paraf_at) {
                (Some(by), Some(at)) => Some(ParafView { by, at }),
                _ => None,
            },
            history: rec
                .history
                .into_iter()
                .map(|h| HistoryView {
                    step: h.step,
                    action: h.action,
                    state: h.state,
                    actor: h.actor,
                    at: h.at,
                    due_at: h.due_at,
                    breached: h.breached,
                    elapsed_minutes: h.elapsed_seconds.map(|s| (s as f64 / 6.0).round() / 10.0),
                    note: mo(h.note),
                })
                .collect(),
            replies: rec
                .replies
                .into_iter()
                .map(|r| ReplyView {
                    last_error: mo(r.last_error),
                    ..r
                })
                .collect(),
            attachments,
            question: rec
                .pause
                .filter(|_| rec.state == State::WaitingCitizen)
                .map(|p| QuestionView {
                    text: m(p.question),
                    asked_at: rec.state_entered_at,
                    asked_from: p.asked_from,
                    remaining_minutes: (p.remaining_seconds as f64 / 6.0).round() / 10.0,
                    wait_until: rec.due_at,
                }),
            rating: rec.rating.map(|r| RatingView {
                score: r.score,
                comment: mo(r.comment),
                at: r.at,
            }),
        }
    }

    /// The month's logbook for an export (a file or a printout leaves the desk), page by
    /// page: the same rows as [`Staff::logbook`], handed out only once the export is in the
    /// audit log (`format`: csv, xlsx, html, json, …; `via`: api, admin, …).
    pub async fn export_logbook(
        &self,
        actor: &Actor,
        month: crate::logbook::Month,
        format: &str,
        via: &str,
    ) -> Result<crate::logbook::LogbookPages, DeskError> {
        logbook_reader(actor)?;
        let pages = self
            .desk
            .reports()
            .logbook_pages(month, crate::logbook::Masking::None)
            .await?;
        let entry = self
            .desk
            .audit()
            .entry(actor, crate::audit::actions::LOGBOOK_EXPORT)
            .with_detail(serde_json::json!({
                "month": month.to_string(),
                "format": format,
                "via": via,
                "rows": pages.total,
            }));
        self.desk.audit().record(entry).await?;
        Ok(pages)
    }

    /// One attachment's file for `actor` (SPEC §4): any staff role, a bidang user only on a
    /// complaint of its own division (else 404) and only when the kasi shared the identity
    /// or this attachment with it (else 404, as for an id that is not of this ticket).
    pub async fn attachment(
        &self,
        actor: &Actor,
        ticket: &str,
        id: i64,
    ) -> Result<AttachmentFile, DeskError> {
        if actor.role().is_none() {
            return Err(DeskError::Forbidden("staff only".into()));
        }
        let rec = self.load_visible(actor, ticket).await?;
        if !rec.attachments.iter().any(|a| a.id == id) || !may_open(actor, &rec, id) {
            return Err(DeskError::NotFound);
        }
        // Recorded after every refusal, before the file is handed out (SPEC §6).
        let audit = self.desk.audit();
        let entry = audit
            .entry(actor, crate::audit::actions::ATTACHMENT_DOWNLOAD)
            .with_ticket(rec.ticket.clone())
            .with_detail(serde_json::json!({ "attachment": id }));
        audit.record(entry).await?;
        self.desk
            .attachment_store()
            .attachment_file(&rec.ticket, id)
            .await?
            .ok_or(DeskError::NotFound)
    }

    /// The kasi shares one attachment (its name and file) with the bidang the complaint is
    /// routed to, with a reason (required, at most [`MAX_SHARE_REASON_CHARS`]); recorded with
    /// a history line. 403 for other roles, 404 for an attachment not of this ticket, 409
    /// when the complaint is closed or not routed to a bidang.
    pub async fn share_attachment(
        &self,
        actor: &Actor,
        ticket: &str,
        id: i64,
        reason: &str,
    ) -> Result<ComplaintView, DeskError> {
        if actor.role() != Some(Role::Kasi) {
            return Err(DeskError::Forbidden(format!(
                "role {} may not share an attachment; required: kasi",
                actor.role().map(|r| r.as_str()).unwrap_or("none")
            )));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(DeskError::invalid("reason", "must not be empty"));
        }
        if reason.chars().count() > MAX_SHARE_REASON_CHARS {
            return Err(DeskError::invalid(
                "reason",
                format!("longer than {MAX_SHARE_REASON_CHARS} characters"),
            ));
        }
        let rec = self.load_visible(actor, ticket).await?;
        let Some(number) = rec.attachments.iter().position(|a| a.id == id) else {
            return Err(DeskError::NotFound);
        };
        let bidang = match (&rec.state, &rec.bidang) {
            (State::Closed, _) | (_, None) => {
                return Err(DeskError::InvalidState {
                    action: "share an attachment of".into(),
                    state: rec.state,
                });
            }
            (_, Some(b)) => b.clone(),
        };
        let now = self.desk.clock.now();
        let share = NewAttachmentShare {
            complaint_id: rec.id,
            share: AttachmentShare {
                attachment_id: id,
                bidang: bidang.clone(),
                shared_by: actor.label(),
                reason: reason.to_string(),
                at: now,
            },
            history: crate::workflow::HistoryEntry {
                step: None,
                action: "share_attachment".into(),
                state: rec.state,
                actor: actor.label(),
                at: now,
                due_at: None,
                elapsed_seconds: None,
                breached: false,
                note: Some(format!("{bidang}: lampiran {}: {reason}", number + 1)),
            },
            // In the share's own transaction (SPEC §6).
            audit: Some(
                self.desk
                    .audit()
                    .entry(actor, crate::audit::actions::ATTACHMENT_SHARE)
                    .with_ticket(rec.ticket.clone())
                    .with_detail(serde_json::json!({
                        "attachment": id,
                        "bidang": bidang.as_str(),
                        "reason": reason,
                    })),
            ),
        };
        if !self.desk.attachment_store().share_attachment(share).await? {
            return Err(DeskError::NotFound);
        }
        self.view(actor, ticket).await
    }

    /// The month's logbook rows (FM-PDIP-03-02). Division users do not read the logbook.
    pub async fn logbook(
        &self,
        actor: &Actor,
        month: crate::logbook::Month,
    ) -> Result<Vec<crate::logbook::LogbookRow>, DeskError> {
        logbook_reader(actor)?;
        let (from, to) = month.range(self.desk.cfg.policy.calendar.timezone());
        let recs = self
            .desk
            .report_store()
            .complaints_received_between(from, to)
            .await?;
        Ok(crate::logbook::rows(&recs, crate::logbook::Masking::None))
    }

    /// The complaints received since the start of `since` with a failed reply, newest
    /// first, at most `limit`, with their channels (the failed-replies page of staf and
    /// kasi). Read from the failed outbox rows: the months' logbooks are not loaded.
    pub async fn failed_reply_complaints(
        &self,
        actor: &Actor,
        since: crate::logbook::Month,
        limit: u32,
    ) -> Result<Vec<(TicketNumber, Channel)>, DeskError> {
        if !matches!(actor.role(), Some(Role::Staf | Role::Kasi)) {
            return Err(DeskError::Forbidden(
                "failed replies are for staf and kasi".into(),
            ));
        }
        let (from, _) = since.range(self.desk.cfg.policy.calendar.timezone());
        Ok(self
            .desk
            .outbox_store()
            .failed_reply_complaints(from, limit)
            .await?)
    }

    /// One page of the logbook of `month` for reading on screen (staf, kasi, kabid, kadis):
    /// at most `limit` rows after `after` (a [`LogbookCursor`] of an earlier page, `None`
    /// for the first), numbered on from the cursor, with the month's total. Memory and work
    /// do not grow with the month.
    pub async fn logbook_page(
        &self,
        actor: &Actor,
        month: crate::logbook::Month,
        after: Option<LogbookCursor>,
        limit: u32,
    ) -> Result<LogbookSlice, DeskError> {
        logbook_reader(actor)?;
        let limit = limit.max(1);
        let (from, to) = month.range(self.desk.cfg.policy.calendar.timezone());
        let store = self.desk.report_store();
        let total = usize::try_from(store.count_received_between(from, to).await?).unwrap_or(0);
        let recs = store
            .complaints_page(from, to, after.map(|c| c.key), limit, true)
            .await?;
        let first_no = after.map_or(0, |c| c.rows_before);
        let mut rows = crate::logbook::rows(&recs, crate::logbook::Masking::None);
        for r in &mut rows {
            r.no += first_no;
        }
        let next = (recs.len() == limit as usize)
            .then(|| recs.last())
            .flatten()
            .map(|last| LogbookCursor {
                key: crate::logbook::PageKey::of(last),
                rows_before: first_no + rows.len(),
            })
            .filter(|c| c.rows_before < total);
        Ok(LogbookSlice {
            first_no: first_no + 1,
            rows,
            total,
            next,
        })
    }
}

/// Where a page of the logbook starts: after this complaint, with this many rows before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogbookCursor {
    pub key: crate::logbook::PageKey,
    pub rows_before: usize,
}

impl LogbookCursor {
    /// The cursor as a URL value: `{received_at µs}.{id}.{rows before}`.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}",
            self.key.received_at.timestamp_micros(),
            self.key.id,
            self.rows_before
        )
    }

    /// The cursor of [`encode`](Self::encode); `None` for anything else.
    pub fn decode(s: &str) -> Option<Self> {
        let mut it = s.trim().splitn(3, '.');
        let micros: i64 = it.next()?.parse().ok()?;
        let id: i64 = it.next()?.parse().ok()?;
        let rows_before: usize = it.next()?.parse().ok()?;
        Some(LogbookCursor {
            key: crate::logbook::PageKey {
                received_at: chrono::DateTime::from_timestamp_micros(micros)?,
                id,
            },
            rows_before,
        })
    }
}

/// A page of a month's logbook ([`Staff::logbook_page`]).
#[derive(Debug, Clone)]
pub struct LogbookSlice {
    /// The number of the first row shown (1-based).
    pub first_no: usize,
    pub rows: Vec<crate::logbook::LogbookRow>,
    /// Rows of the whole month.
    pub total: usize,
    /// The next page, when there is one.
    pub next: Option<LogbookCursor>,
}

/// Division users do not read the logbook.
fn logbook_reader(actor: &Actor) -> Result<(), DeskError> {
    match actor.role() {
        Some(Role::Staf | Role::Kasi | Role::Kabid | Role::Kadis) => Ok(()),
        Some(Role::Bidang) | None => Err(DeskError::Forbidden(
            "the logbook is for staf, kasi, kabid and kadis".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::replace_file_names;

    #[test]
    fn file_names_are_replaced_only_as_whole_names() {
        let names = vec![
            (
                "KTP_Sariasih_5108014506900002.jpg".to_string(),
                "lampiran 1 (image/jpeg, 1 KB)".to_string(),
            ),
            (
                "kk.pdf".to_string(),
                "lampiran 2 (application/pdf, 3 KB)".to_string(),
            ),
        ];
        let t =
            "[lampiran: KTP_Sariasih_5108014506900002.jpg, kk.pdf]\nlihat kk.pdf; bukan xkk.pdf";
        assert_eq!(
            replace_file_names(t, &names),
            "[lampiran: lampiran 1 (image/jpeg, 1 KB), lampiran 2 (application/pdf, 3 KB)]\n\
             lihat lampiran 2 (application/pdf, 3 KB); bukan xkk.pdf"
        );
        assert_eq!(replace_file_names("kk.pdfkk.pdf", &names), "kk.pdfkk.pdf");
        assert_eq!(replace_file_names("", &names), "");
    }
}
