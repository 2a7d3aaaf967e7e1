//! The staff workflow service: manual entry, the queue, the complaint view with identity
//! protection, and every SOP action through the pure state machine
//! ([`crate::workflow`]); the logbook rows.
//!
//! **Invariants:** role checks come before visibility checks, which come before state checks
//! (a wrong role is always 403, another division's complaint always 404); a bidang user's
//! view never carries identity unless the kasi shared it.
//!
//! Every action and manual entry carries its audit entry into the same transaction; a
//! logbook export is recorded before its rows are handed out.
//!
//! Store roles: workflow, intake (manual entry), reports (the logbook month), audit
//! (exports).

use crate::mask::IdentityMask;
use crate::model::*;
use crate::store::prelude::*;
use crate::types::*;
use crate::workflow::{Actor, Command, visible_to};

use crate::desk::*;

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

    /// Where an answer to this complaint goes, if anywhere.
    pub(crate) fn reply_route(&self, rec: &ComplaintRecord) -> Option<(Channel, String)> {
        let route = match rec.channel {
            Channel::Web | Channel::Email => {
                rec.identity.email.clone().map(|e| (Channel::Email, e))
            }
            Channel::Telegram | Channel::Messenger | Channel::Instagram | Channel::Whatsapp => {
                rec.identity.handle.clone().map(|h| (rec.channel, h))
            }
            Channel::Phone | Channel::Letter | Channel::Fax | Channel::WalkIn => None,
        }?;
        self.desk
            .cfg
            .reply_channels
            .contains(&route.0)
            .then_some(route)
    }

    /// Perform a staff (or citizen) command on a complaint. Retries on concurrent updates.
    pub async fn act(
        &self,
        actor: &Actor,
        ticket: &str,
        cmd: Command,
    ) -> Result<ComplaintView, DeskError> {
        if let Some(required) = cmd.required_role()
            && actor.role() != Some(required)
        {
            return Err(DeskError::Forbidden(format!(
                "role {} may not {}; required: {required}",
                actor.role().map(|r| r.as_str()).unwrap_or("none"),
                cmd.name()
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
                    crate::workflow::Effect::SendAnswer { text } => {
                        if let Some((channel, recipient)) = self.reply_route(&rec) {
                            reply = Some(NewReply {
                                kind: ReplyKind::Answer,
                                channel,
                                recipient,
                                template: "answer".into(),
                                vars: serde_json::json!({
                                    "office": self.desk.cfg.office_name,
                                    "message": text,
                                }),
                                max_attempts: DEFAULT_MAX_ATTEMPTS,
                            });
                        }
                    }
                }
            }
            if let (Command::FollowUp { message: m }, true) = (&cmd, rec.channel.is_manual()) {
                // Manual channels: staff record how they answered; it joins the conversation.
                message = Some(NewMessage {
                    channel: None,
                    direction: Direction::Out,
                    at: now,
                    text: m.clone(),
                    external_id: None,
                });
            }
            let w = TransitionWrite {
                complaint_id: rec.id,
                expected_version: rec.version,
                transition: &t,
                actor: actor.label(),
                reply,
                message,
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
                breached: i.due_at.is_some_and(|d| now > d),
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
    pub fn to_view(&self, actor: &Actor, rec: ComplaintRecord) -> ComplaintView {
        let hide = match actor {
            Actor::Staff {
                role: Role::Bidang,
                bidang,
                ..
            } => !bidang
                .as_ref()
                .is_some_and(|b| rec.identity_shared_with.contains(b)),
            _ => false,
        };
        // Masked with the complaint's own identity: its name and address are masked too.
        let mask = hide.then(|| IdentityMask::new(&rec.identity));
        let m = |s: String| match &mask {
            Some(k) => k.apply(&s),
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
            breached: rec.due_at.is_some_and(|d| now > d),
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
            // File names carry names and NIKs (`KTP_<nama>_<NIK>.jpg`): a bidang without
            // a share sees a neutral label.
            attachments: rec
                .attachments
                .into_iter()
                .enumerate()
                .map(|(i, a)| {
                    if hide {
                        AttachmentMeta {
                            filename: format!("lampiran-{}", i + 1),
                            ..a
                        }
                    } else {
                        a
                    }
                })
                .collect(),
        }
    }

    /// The month's logbook rows for an export (a file or a printout leaves the desk): the
    /// same rows as [`Staff::logbook`], handed out only once the export is in the audit log
    /// (`format`: csv, xlsx, html, json, …; `via`: api, admin, …).
    pub async fn export_logbook(
        &self,
        actor: &Actor,
        month: crate::logbook::Month,
        format: &str,
        via: &str,
    ) -> Result<Vec<crate::logbook::LogbookRow>, DeskError> {
        let rows = self.logbook(actor, month).await?;
        let entry = self
            .desk
            .audit()
            .entry(actor, crate::audit::actions::LOGBOOK_EXPORT)
            .with_detail(serde_json::json!({
                "month": month.to_string(),
                "format": format,
                "via": via,
                "rows": rows.len(),
            }));
        self.desk.audit().record(entry).await?;
        Ok(rows)
    }

    /// The month's logbook rows (FM-PDIP-03-02). Division users do not read the logbook.
    pub async fn logbook(
        &self,
        actor: &Actor,
        month: crate::logbook::Month,
    ) -> Result<Vec<crate::logbook::LogbookRow>, DeskError> {
        match actor.role() {
            Some(Role::Staf | Role::Kasi | Role::Kabid | Role::Kadis) => {}
            Some(Role::Bidang) | None => {
                return Err(DeskError::Forbidden(
                    "the logbook is for staf, kasi, kabid and kadis".into(),
                ));
            }
        }
        let (from, to) = month.range(self.desk.cfg.policy.calendar.timezone());
        let recs = self
            .desk
            .report_store()
            .complaints_received_between(from, to)
            .await?;
        Ok(crate::logbook::rows(&recs, crate::logbook::Masking::None))
    }
}
