//! [`Reader`]: one connected session of the mailbox, from `SELECT` to the wait for new mail.
//!
//! Setup: `CAPABILITY`, the hierarchy delimiter (`LIST "" ""`), the archive mailbox (created
//! and subscribed when absent; a refusal is reported as health and reading goes on), `SELECT`,
//! then the durable cursor. The cursor `"{uidvalidity}:{last_uid}"` is only trusted for the
//! same UIDVALIDITY; otherwise the whole mailbox is read again and redelivered mail is
//! recognized by its external id. Then it syncs until a pass finds nothing new and no
//! new-mail notice arrived meanwhile, reports health, waits (IDLE or polling), checks the
//! lease, and syncs again. The reader holds the lease for as long as it runs.

use std::time::Duration;

use futures::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::context::EmailContext;
use super::idle::drain_unsolicited;
use super::session::{COMMAND_TIMEOUT, ImapSession, connect, logout, step};
use super::sync::{Archive, archive_step};
use super::{BACKOFF_MIN, Failure, store_err};
use crate::config::EmailConfig;
use crate::smtp::Security;

/// A mailbox name with `/` translated to the server's hierarchy delimiter.
fn server_mailbox_name(name: &str, delimiter: Option<&str>) -> String {
    let name = name.trim();
    match delimiter {
        Some(d) if !d.is_empty() && d != "/" => name.replace('/', d),
        _ => name.to_string(),
    }
}

/// Parse a stored cursor `"{uidvalidity}:{last_uid}"`.
fn parse_cursor(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The selected mailbox of a session.
#[derive(Debug)]
pub(super) struct MailboxState {
    pub(super) uidvalidity: u32,
    /// Highest UID committed.
    pub(super) last_uid: u32,
    pub(super) archive: String,
    pub(super) has_move: bool,
    pub(super) has_uidplus: bool,
}

/// One connected reader (holds the lease while it runs).
pub(super) struct Reader<'a> {
    pub(super) cfg: &'a EmailConfig,
    pub(super) ctx: &'a EmailContext,
    pub(super) shutdown: &'a CancellationToken,
    pub(super) key: String,
    pub(super) security: Security,
    pub(super) poll_interval: Duration,
    /// The mailbox lease, renewed in the background while the reader runs.
    pub(super) lease: &'a aduan_http::lease::HeldLease,
    /// The last refusal to create or move to the archive mailbox (reported as health).
    pub(super) archive_error: Option<String>,
}

impl Reader<'_> {
    /// Connect and read until something ends the session; returns why.
    pub(super) async fn run(&mut self, backoff: &mut Duration) -> Failure {
        match self.session(backoff).await {
            Ok(never) => match never {},
            Err(f) => f,
        }
    }

    async fn session(
        &mut self,
        backoff: &mut Duration,
    ) -> Result<std::convert::Infallible, Failure> {
        let mut session = connect(self.cfg, self.security).await?;
        let caps = step("CAPABILITY", COMMAND_TIMEOUT, session.capabilities()).await?;
        let use_idle = self.cfg.idle && caps.has_str("IDLE");
        let delimiter = self.delimiter(&mut session).await?;
        let mailbox = server_mailbox_name(&self.cfg.mailbox, delimiter.as_deref());
        let archive = server_mailbox_name(&self.cfg.archive_mailbox, delimiter.as_deref());
        match self.ensure_mailbox(&mut session, &archive).await {
            Ok(()) => {}
            // Refused (permissions …): read anyway; the moves will fail and say so.
            Err(Archive::Refused(e)) => {
                tracing::warn!(mailbox = %archive, error = %e, "cannot create the archive mailbox");
                self.archive_error = Some(format!("creating {archive}: {e}"));
            }
            Err(Archive::Broken(f)) => return Err(f),
        }
        let selected = step("SELECT", COMMAND_TIMEOUT, session.select(&mailbox)).await?;
        let uidvalidity = selected
            .uid_validity
            .ok_or_else(|| Failure::Imap(format!("SELECT {mailbox}: no UIDVALIDITY")))?;
        let cursor = self
            .ctx
            .desk
            .intake()
            .cursor(&self.key)
            .await
            .map_err(store_err)?;
        let last_uid = match cursor.as_deref().map(|c| (c, parse_cursor(c))) {
            None => {
                tracing::info!(mailbox = %self.key, uidvalidity, "no cursor yet: reading the whole mailbox (duplicates are recognized)");
                0
            }
            Some((_, Some((v, uid)))) if v == uidvalidity => uid,
            Some((raw, parsed)) => {
                tracing::warn!(mailbox = %self.key, cursor = %raw, uidvalidity, ?parsed,
                    "UIDVALIDITY changed (or bad cursor): reading the whole mailbox again; redelivered mail is recognized by Message-ID or content hash");
                0
            }
        };
        let mut st = MailboxState {
            uidvalidity,
            last_uid,
            archive,
            has_move: caps.has_str("MOVE"),
            has_uidplus: caps.has_str("UIDPLUS"),
        };
        metrics::gauge!("aduan_email_imap_connected").set(1.0);
        tracing::info!(mailbox = %self.key, uidvalidity, last_uid, idle = use_idle,
            has_move = st.has_move, "IMAP session ready");
        loop {
            // Sync until a pass finds no new mail and no new-mail notice arrived meanwhile:
            // only then is it safe to wait (mail appended during a long batch is taken in
            // now, not at the next IDLE re-issue).
            loop {
                let found = self.sync(&mut session, &mut st).await?;
                let notified = drain_unsolicited(&session);
                if found == 0 && !notified {
                    break;
                }
            }
            (self.ctx.health)(
                self.archive_error
                    .as_ref()
                    .map(|e| format!("e-mail intake: {e}")),
            );
            *backoff = BACKOFF_MIN;
            if self.shutdown.is_cancelled() {
                logout(&mut session).await;
                return Err(Failure::Shutdown);
            }
            if use_idle {
                session = self.idle(session).await?;
            } else {
                self.poll_wait(&mut session).await?;
            }
            self.check_lease()?;
        }
    }

    /// The server's hierarchy delimiter (`LIST "" ""`).
    async fn delimiter(&self, s: &mut ImapSession) -> Result<Option<String>, Failure> {
        step("LIST", COMMAND_TIMEOUT, async {
            let names: Vec<_> = s.list(Some(""), Some("\"\"")).await?.try_collect().await?;
            Ok(names
                .first()
                .and_then(|n| n.delimiter().map(str::to_string)))
        })
        .await
    }

    /// Create `name` (and subscribe to it) unless it exists.
    async fn ensure_mailbox(&self, s: &mut ImapSession, name: &str) -> Result<(), Archive> {
        match archive_step("STATUS", s.status(name, "(UIDVALIDITY)")).await {
            Ok(_) => return Ok(()),
            Err(Archive::Broken(f)) => return Err(Archive::Broken(f)),
            Err(Archive::Refused(_)) => {}
        }
        tracing::info!(mailbox = %name, "creating the archive mailbox");
        match archive_step("CREATE", s.create(name)).await {
            Ok(()) => {}
            Err(Archive::Broken(f)) => return Err(Archive::Broken(f)),
            // Someone else may have created it meanwhile.
            Err(Archive::Refused(e)) => {
                if archive_step("STATUS", s.status(name, "(UIDVALIDITY)"))
                    .await
                    .is_err()
                {
                    return Err(Archive::Refused(e));
                }
            }
        }
        if let Err(Archive::Refused(e) | Archive::Broken(Failure::Imap(e))) =
            archive_step("SUBSCRIBE", s.subscribe(name)).await
        {
            tracing::debug!(mailbox = %name, error = %e, "cannot subscribe to the archive mailbox");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse() {
        assert_eq!(parse_cursor("1795879164:42"), Some((1_795_879_164, 42)));
        assert_eq!(parse_cursor(" 1:0 "), Some((1, 0)));
        assert_eq!(parse_cursor("1"), None);
        assert_eq!(parse_cursor("a:1"), None);
        assert_eq!(parse_cursor("1:-1"), None);
    }

    #[test]
    fn mailbox_names_use_the_server_delimiter() {
        assert_eq!(
            server_mailbox_name("Aduan/Diproses", Some(".")),
            "Aduan.Diproses"
        );
        assert_eq!(
            server_mailbox_name("Aduan/Diproses", Some("/")),
            "Aduan/Diproses"
        );
        assert_eq!(server_mailbox_name(" INBOX ", None), "INBOX");
    }
}
