//! Group commit of complaint creation (both backends).
//!
//! With SQLite, the cost of a small write transaction is dominated by its commit: every page
//! it dirtied (a complaint touches five tables and nine indexes) is appended to the WAL with
//! its own `write(2)`, and every statement is a round trip to sqlx's connection thread.
//! Concurrent `create_complaint` calls therefore queue here, and one task commits whatever is
//! waiting (up to [`MAX_GROUP`]) in a single transaction: the dirty pages are mostly shared,
//! so the commit cost is paid once per group instead of once per complaint.
//!
//! Guarantees are unchanged: every complaint is numbered and inserted by the same
//! [`create::create_in_tx`] steps, and a caller is answered only after its group's
//! `COMMIT` succeeded. A lone request is committed at once (no timer, no added latency).
//! If any complaint of a group fails before the commit, the group is rolled back and each
//! complaint is retried in its own transaction, so one bad request cannot fail the others.
//!
//! A failed commit (disk full) answers every member of the group with the error (HTTP 503)
//! and leaves nothing written; the writer connection is made clean again at its next
//! checkout ([`crate::sqlite`]), so the task goes on committing once space returns. Every
//! outcome is reported to [`Backend::note_write`] (the storage health `/readyz` shows).

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use aduan_core::model::{CreateOutcome, NewComplaint};
use aduan_core::store::StoreError;

use crate::backend::{Backend, db_err, is_lock_conflict_error};
use crate::create::{self, CreateStep};

/// Most complaints committed in one transaction.
pub(crate) const MAX_GROUP: usize = 64;
/// Requests that may wait for the writer before senders are back-pressured.
const QUEUE_CAPACITY: usize = 1024;

type Reply = oneshot::Sender<Result<CreateOutcome, StoreError>>;

/// One queued `create_complaint`.
pub(crate) struct Job {
    complaint: NewComplaint,
    reply: Reply,
}

/// The sending side, held by the store.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// A queue and its receiving end; spawn [`run`] on the receiver. The task ends when the
    /// last `GroupCommit` clone is dropped.
    pub(crate) fn new() -> (Self, mpsc::Receiver<Job>) {
        let (jobs, rx) = mpsc::channel(QUEUE_CAPACITY);
        (GroupCommit { jobs }, rx)
    }

    /// Create a complaint through the queue; returns after its group committed.
    pub(crate) async fn create(
        &self,
        complaint: NewComplaint,
    ) -> Result<CreateOutcome, StoreError> {
        let stopped = || StoreError::Unavailable("the complaint writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { complaint, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The writer task: commit waiting requests in groups until the queue closes.
pub(crate) async fn run<B: Backend>(b: B, mut rx: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        // A caller that went away gets nothing written on its behalf.
        group.retain(|j: &Job| !j.reply.is_closed());
        commit(&b, std::mem::take(&mut group)).await;
    }
}

/// `writers` writer tasks sharing one queue (PostgreSQL): each takes the requests waiting
/// when it is free and commits them as one group on its own connection. They end when the
/// queue closes.
pub(crate) fn run_writers<B: Backend + Clone>(b: B, rx: mpsc::Receiver<Job>, writers: usize) {
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..writers.max(1) {
        let (b, rx) = (b.clone(), Arc::clone(&rx));
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(MAX_GROUP);
            loop {
                // Only one idle writer waits on the queue; the others wait for the lock.
                let got = rx.lock().await.recv_many(&mut group, MAX_GROUP).await;
                if got == 0 {
                    break;
                }
                group.retain(|j: &Job| !j.reply.is_closed());
                commit(&b, std::mem::take(&mut group)).await;
            }
        });
    }
}

async fn commit<B: Backend>(b: &B, mut jobs: Vec<Job>) {
    if jobs.len() <= 1 {
        if let Some(job) = jobs.pop() {
            let result = create::create(b, job.complaint).await;
            b.note_write(&result);
            let _ = job.reply.send(result);
        }
        return;
    }
    let grouped = try_group(b, &jobs).await;
    match &grouped {
        Ok(_) => b.note_write(&Ok::<(), StoreError>(())),
        Err(GroupError::BeforeCommit(e) | GroupError::Commit(e)) => {
            b.note_write(&Err::<(), _>(replicate(e)))
        }
    }
    match grouped {
        Ok(outcomes) => {
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                let _ = job.reply.send(Ok(outcome));
            }
        }
        // A failing member, a lost race, or a deadlock with another group: each alone.
        Err(GroupError::BeforeCommit(e)) if !e.is_transient() || is_lock_conflict_error(&e) => {
            tracing::debug!(error = %e, size = jobs.len(), "group rolled back; one by one");
            for job in jobs {
                let result = create::create(b, job.complaint).await;
                b.note_write(&result);
                let _ = job.reply.send(result);
            }
        }
        // Busy/unreachable (retrying each would wait again), or the COMMIT itself failed.
        Err(GroupError::BeforeCommit(e) | GroupError::Commit(e)) => {
            for job in jobs {
                let _ = job.reply.send(Err(replicate(&e)));
            }
        }
    }
}

enum GroupError {
    BeforeCommit(StoreError),
    Commit(StoreError),
}

/// All of `jobs` in one transaction, or an error after which nothing was written (the
/// dropped transaction rolls back).
async fn try_group<B: Backend>(b: &B, jobs: &[Job]) -> Result<Vec<CreateOutcome>, GroupError> {
    let mut h = b.writer().await.map_err(GroupError::BeforeCommit)?;
    let mut tx = B::begin_write(&mut h)
        .await
        .map_err(GroupError::BeforeCommit)?;
    let complaints: Vec<&NewComplaint> = jobs.iter().map(|j| &j.complaint).collect();
    let outcomes = match create::create_in_tx::<B>(&mut tx, &complaints, b.vault()).await {
        Ok(CreateStep::Done(outcomes)) => outcomes,
        Ok(CreateStep::Conflict(msg)) => {
            return Err(GroupError::BeforeCommit(StoreError::AlreadyExists(msg)));
        }
        Err(e) => return Err(GroupError::BeforeCommit(e)),
    };
    tx.commit()
        .await
        .map_err(|e| GroupError::Commit(db_err(e)))?;
    create::signals(&complaints, &outcomes).local(b.wakeups());
    Ok(outcomes)
}

/// The same error for every member of a failed group (`StoreError` is not `Clone`).
fn replicate(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Conflict => StoreError::Conflict,
        StoreError::AlreadyExists(m) => StoreError::AlreadyExists(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::Other(m) => StoreError::Other(m.clone()),
    }
}
