//! One sync pass: list the mailbox, archive what an earlier run committed, then fetch,
//! commit and archive everything above the cursor.
//!
//! Invariants:
//! - Messages are fetched (`BODY.PEEK[]`, never marking them seen) in UID order, in batches
//!   of at most [`BATCH_MESSAGES`] messages / [`BATCH_BYTES`] bytes, and committed one by
//!   one; the cursor is committed in the same transaction as the complaint it covers.
//! - No message is downloaded beyond [`Limits::max_message_bytes`]: one whose
//!   `RFC822.SIZE` is larger has only its header section fetched (`BODY.PEEK[HEADER]`, at
//!   most [`MAX_HEADER_BYTES`]); every other fetch is a partial `BODY.PEEK[]<0.limit+1>`,
//!   so a server that under-reports a size still sends no more than that, and the message
//!   is then treated as oversized too. Oversized mail becomes a complaint from its headers
//!   with a note, is committed, archived and counted (`aduan_email_oversized_total`) like any
//!   other.
//!
//! [`Limits::max_message_bytes`]: crate::parse::Limits::max_message_bytes
//! - A message is moved to the archive mailbox only after its commit, so a crash between
//!   the two leaves it in place below the cursor, and the next pass only moves it.
//! - A store error (or shutdown, or a lost lease) stops the batch: the messages committed
//!   so far are archived; the failed one and everything after it stay above the cursor and
//!   are read again by the next session.
//! - Archiving touches exactly the UIDs it is given (`UID MOVE`, or `UID COPY` +
//!   `\Deleted` + `UID EXPUNGE` of those UIDs only with UIDPLUS); mail is never deleted
//!   wholesale. A server refusal does not stop intake: it is reported as health and the
//!   move is tried again on the next pass.

use std::time::Duration;

use async_imap::types::{Fetch, Flag};
use futures::TryStreamExt;

use super::message::Fetched;
use super::reader::{MailboxState, Reader};
use super::session::{COMMAND_TIMEOUT, ImapSession, step};
use super::{BATCH_BYTES, BATCH_MESSAGES, Failure, imap_err};
use crate::parse::MAX_HEADER_BYTES;

/// Timeout of one batch `UID FETCH` (bodies).
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// A compact IMAP UID set (`1:3,7,9:12`) of sorted, distinct UIDs.
fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Split `(uid, size)` (sorted) into batches of at most `max_n` messages and `max_bytes`
/// bytes; a message larger than `max_bytes` forms a batch alone.
fn batches(list: &[(u32, u64)], max_n: usize, max_bytes: u64) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> = Vec::new();
    let mut cur: Vec<u32> = Vec::new();
    let mut bytes = 0u64;
    for &(uid, size) in list {
        if !cur.is_empty() && (cur.len() >= max_n || bytes.saturating_add(size) > max_bytes) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        cur.push(uid);
        bytes = bytes.saturating_add(size);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl Reader<'_> {
    /// Read everything new in the selected mailbox.
    /// Take in every message above the cursor; returns how many new UIDs the pass saw.
    pub(super) async fn sync(
        &mut self,
        s: &mut ImapSession,
        st: &mut MailboxState,
    ) -> Result<usize, Failure> {
        // (uid, size, deleted-flag) of every message.
        let listing: Vec<(u32, u64, bool)> = step("UID FETCH (listing)", FETCH_TIMEOUT, async {
            let fetches: Vec<Fetch> = s
                .uid_fetch("1:*", "(UID FLAGS RFC822.SIZE)")
                .await?
                .try_collect()
                .await?;
            Ok(fetches
                .iter()
                .filter_map(|f| {
                    let deleted = f.flags().any(|fl| matches!(fl, Flag::Deleted));
                    f.uid.map(|u| (u, u64::from(f.size.unwrap_or(0)), deleted))
                })
                .collect())
        })
        .await?;
        let mut leftovers: Vec<u32> = listing
            .iter()
            .filter(|(uid, _, deleted)| *uid <= st.last_uid && !*deleted)
            .map(|(uid, _, _)| *uid)
            .collect();
        leftovers.sort_unstable();
        leftovers.dedup();
        if !leftovers.is_empty() {
            tracing::info!(
                count = leftovers.len(),
                "archiving mail committed by an earlier run"
            );
            self.archive(s, st, &leftovers).await?;
        }
        let mut new: Vec<(u32, u64)> = listing
            .iter()
            .filter(|(uid, _, _)| *uid > st.last_uid)
            .map(|(uid, size, _)| (*uid, *size))
            .collect();
        new.sort_unstable();
        new.dedup_by_key(|(uid, _)| *uid);
        let limit = self.ctx.limits.max_message_bytes;
        let size_of = |uid: u32| {
            new.binary_search_by_key(&uid, |(u, _)| *u)
                .map_or(0, |i| new[i].1)
        };
        // What is downloaded of each message: at most the limit.
        let downloaded: Vec<(u32, u64)> = new
            .iter()
            .map(|&(uid, size)| (uid, size.min(limit)))
            .collect();
        for batch in batches(&downloaded, BATCH_MESSAGES, BATCH_BYTES) {
            self.check_lease()?;
            if self.shutdown.is_cancelled() {
                return Err(Failure::Shutdown);
            }
            let (oversized, whole): (Vec<u32>, Vec<u32>) =
                batch.iter().partition(|&&uid| size_of(uid) > limit);
            let mut fetched: Vec<Fetch> = Vec::new();
            if !whole.is_empty() {
                let set = uid_set(&whole);
                let query = format!("(UID BODY.PEEK[]<0.{}>)", limit.saturating_add(1));
                fetched.extend(
                    step("UID FETCH (bodies)", FETCH_TIMEOUT, async {
                        s.uid_fetch(&set, &query)
                            .await?
                            .try_collect::<Vec<_>>()
                            .await
                    })
                    .await?,
                );
            }
            if !oversized.is_empty() {
                let set = uid_set(&oversized);
                let query = format!("(UID BODY.PEEK[HEADER]<0.{MAX_HEADER_BYTES}>)");
                fetched.extend(
                    step("UID FETCH (headers)", FETCH_TIMEOUT, async {
                        s.uid_fetch(&set, &query)
                            .await?
                            .try_collect::<Vec<_>>()
                            .await
                    })
                    .await?,
                );
            }
            fetched.sort_by_key(|f| f.uid.unwrap_or(0));
            let mut done: Vec<u32> = Vec::new();
            let mut stop: Option<Failure> = None;
            for f in &fetched {
                let Some(uid) = f.uid else { continue };
                if uid <= st.last_uid {
                    continue;
                }
                let size = size_of(uid);
                let item = if oversized.binary_search(&uid).is_ok() {
                    let header = f.header().unwrap_or_else(|| {
                        tracing::warn!(mailbox = %self.key, uid, "the server returned no header for this message");
                        b""
                    });
                    Fetched::Oversized { header, size }
                } else {
                    let body = f.body().unwrap_or_else(|| {
                        tracing::warn!(mailbox = %self.key, uid, "the server returned no body for this message");
                        b""
                    });
                    if body.len() as u64 > limit {
                        // RFC822.SIZE said less: what came is the start of the message.
                        Fetched::Oversized {
                            header: body,
                            size: size.max(body.len() as u64),
                        }
                    } else {
                        Fetched::Whole(body)
                    }
                };
                let was_oversized = matches!(item, Fetched::Oversized { .. });
                match self.process(st, uid, item).await {
                    Ok(outcome) => {
                        aduan_http::channel::record_intake(
                            aduan_core::types::Channel::Email,
                            outcome,
                        );
                        if was_oversized {
                            metrics::counter!("aduan_email_oversized_total").increment(1);
                        }
                        st.last_uid = uid;
                        done.push(uid);
                    }
                    Err(f) => {
                        stop = Some(f);
                        break;
                    }
                }
                if self.shutdown.is_cancelled() {
                    stop = Some(Failure::Shutdown);
                    break;
                }
                if let Err(f) = self.check_lease() {
                    stop = Some(f);
                    break;
                }
            }
            drop(fetched);
            if !done.is_empty() {
                self.archive(s, st, &done).await?;
            }
            if let Some(f) = stop {
                return Err(f);
            }
        }
        Ok(new.len())
    }

    /// Move committed messages to the archive mailbox.
    /// Move committed messages to the archive mailbox. A refusal by the server (`NO`/`BAD`:
    /// quota, permissions, a missing archive) does not stop intake: the mail stays in the
    /// mailbox (committed, so never read twice), the problem is reported as the health error
    /// and the move is tried again on the next sync. Connection trouble ends the session.
    async fn archive(
        &mut self,
        s: &mut ImapSession,
        st: &MailboxState,
        uids: &[u32],
    ) -> Result<(), Failure> {
        match try_archive(s, st, uids).await {
            Ok(()) => {
                self.archive_error = None;
                Ok(())
            }
            Err(Archive::Refused(e)) => {
                tracing::warn!(mailbox = %self.key, archive = %st.archive, error = %e,
                    "cannot move mail to the archive mailbox; it stays in place (already stored)");
                self.archive_error = Some(format!("archiving to {}: {e}", st.archive));
                Ok(())
            }
            Err(Archive::Broken(f)) => Err(f),
        }
    }
}

/// Why moving to the archive failed.
pub(super) enum Archive {
    /// The server answered `NO` or `BAD`.
    Refused(String),
    /// Anything else (connection, timeout).
    Broken(Failure),
}

/// An archive step: `NO`/`BAD` become [`Archive::Refused`].
pub(super) async fn archive_step<T>(
    what: &str,
    fut: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, Archive> {
    use async_imap::error::Error;
    match tokio::time::timeout(COMMAND_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e @ (Error::No(_) | Error::Bad(_)))) => {
            Err(Archive::Refused(format!("{what}: {e}")))
        }
        Ok(Err(e)) => Err(Archive::Broken(imap_err(what, e))),
        Err(_) => Err(Archive::Broken(Failure::Imap(format!(
            "{what}: no answer within {COMMAND_TIMEOUT:?}"
        )))),
    }
}

/// `UID MOVE`, or `UID COPY` + `\Deleted` + `UID EXPUNGE` (only with UIDPLUS, so only
/// these UIDs are expunged; without it the flagged originals stay).
async fn try_archive(s: &mut ImapSession, st: &MailboxState, uids: &[u32]) -> Result<(), Archive> {
    let set = uid_set(uids);
    if st.has_move {
        return archive_step("UID MOVE", s.uid_mv(&set, &st.archive)).await;
    }
    archive_step("UID COPY", s.uid_copy(&set, &st.archive)).await?;
    archive_step("UID STORE", async {
        s.uid_store(&set, "+FLAGS.SILENT (\\Deleted \\Seen)")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    if st.has_uidplus {
        archive_step("UID EXPUNGE", async {
            s.uid_expunge(&set).await?.try_collect::<Vec<_>>().await
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[7]), "7");
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10, 11]), "1:3,7,9:11");
        assert_eq!(
            uid_set(&[u32::MAX - 1, u32::MAX]),
            format!("{}:{}", u32::MAX - 1, u32::MAX)
        );
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let list: Vec<(u32, u64)> = (1..=5).map(|u| (u, 10)).collect();
        assert_eq!(
            batches(&list, 2, 1000),
            vec![vec![1, 2], vec![3, 4], vec![5]]
        );
        assert_eq!(
            batches(&list, 10, 25),
            vec![vec![1, 2], vec![3, 4], vec![5]]
        );
        // A message above the byte limit goes alone.
        let big = [(1, 5), (2, 100), (3, 5)];
        assert_eq!(batches(&big, 10, 50), vec![vec![1], vec![2], vec![3]]);
        assert!(batches(&[], 10, 50).is_empty());
    }
}
