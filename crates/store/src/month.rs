//! A month of complaints without loading it: [`page`] reads the month in receipt order one
//! keyset page at a time (the logbook exports), and [`aggregates`] has the database compute
//! the report's figures (`GROUP BY`, one query per family of figures, so a figure can be
//! added as one more query).
//!
//! Every query selects by `complaints.received_at` in `[from, to)` and so uses the
//! `complaints_received_idx` index; a page's history and identity shares are read by the
//! receipt range of that page only.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use aduan_core::logbook::PageKey;
use aduan_core::model::ComplaintRecord;
use aduan_core::report::{
    AnalysisRow, BREACHES_LISTED, Breach, MonthAggregates, StepAggregate, backlog_bounds,
    responsible,
};
use aduan_core::store::StoreError;
use aduan_core::types::{State, Step};

use crate::backend::{Arg, Backend, Conn, RowExt, args, db_err, fetch_one};
use crate::rows::{self, complaint_columns, history_columns};

const FIRST_PAGE: &str = concat!(
    "SELECT ",
    complaint_columns!(),
    " FROM complaints WHERE received_at >= $1 AND received_at < $2 \
     ORDER BY received_at, id LIMIT $3"
);
const NEXT_PAGE: &str = concat!(
    "SELECT ",
    complaint_columns!(),
    " FROM complaints WHERE received_at >= $1 AND received_at < $2 \
     AND (received_at > $3 OR (received_at = $3 AND id > $4)) \
     ORDER BY received_at, id LIMIT $5"
);
/// The frequent-problem count's columns ([`analyses_page`]).
const ANALYSES_FIRST: &str = "SELECT id, received_at, ticket, category, bidang, analysis \
     FROM complaints WHERE received_at >= $1 AND received_at < $2 \
     ORDER BY received_at, id LIMIT $3";
const ANALYSES_NEXT: &str = "SELECT id, received_at, ticket, category, bidang, analysis \
     FROM complaints WHERE received_at >= $1 AND received_at < $2 \
     AND (received_at > $3 OR (received_at = $3 AND id > $4)) \
     ORDER BY received_at, id LIMIT $5";
/// History of the complaints received in `[$1, $2]` (a page's first and last receipt).
const PAGE_HISTORY: &str = concat!(
    "SELECT ",
    history_columns!(),
    " FROM history h JOIN complaints c ON c.id = h.complaint_id \
     WHERE c.received_at >= $1 AND c.received_at <= $2 ORDER BY h.complaint_id, h.id"
);
const PAGE_SHARES: &str = "\
    SELECT s.complaint_id, s.bidang FROM identity_shares s \
    JOIN complaints c ON c.id = s.complaint_id \
    WHERE c.received_at >= $1 AND c.received_at <= $2 ORDER BY s.complaint_id, s.bidang";

/// At most `limit` complaints received in `[from, to)` after `after`, in receipt order; with
/// history and identity shares when `full`.
/// One page of the month for the frequent-problem count: the narrow columns and the
/// stored analysis, opened (see [`aduan_core::store::ReportStore::analyses_page`]).
pub(crate) async fn analyses_page<B: Backend>(
    b: &B,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after: Option<PageKey>,
    limit: u32,
) -> Result<Vec<AnalysisRow>, StoreError> {
    let v = b.vault();
    let mut h = b.reader().await?;
    let limit = i64::from(limit.max(1));
    let found = match after {
        None => B::fetch_all(&mut *h, ANALYSES_FIRST, args![from, to, limit]).await?,
        Some(k) => {
            B::fetch_all(
                &mut *h,
                ANALYSES_NEXT,
                args![from, to, k.received_at, k.id, limit],
            )
            .await?
        }
    };
    found
        .iter()
        .map(|r| {
            Ok(AnalysisRow {
                key: PageKey {
                    received_at: r.at("received_at")?,
                    id: r.i64("id")?,
                },
                ticket: rows::ticket(&r.text("ticket")?)?,
                category: r.opt_parsed("category")?,
                bidang: rows::opt_bidang(r, "bidang")?,
                analysis: v.open_opt("complaints.analysis", r.opt_text("analysis")?.as_deref())?,
            })
        })
        .collect()
}

pub(crate) async fn page<B: Backend>(
    b: &B,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after: Option<PageKey>,
    limit: u32,
    full: bool,
) -> Result<Vec<ComplaintRecord>, StoreError> {
    let v = b.vault();
    let mut h = b.reader().await?;
    let mut tx = B::begin_read(&mut h).await?;
    let limit = i64::from(limit.max(1));
    let found = match after {
        None => B::fetch_all(&mut tx, FIRST_PAGE, args![from, to, limit]).await?,
        Some(k) => {
            B::fetch_all(
                &mut tx,
                NEXT_PAGE,
                args![from, to, k.received_at, k.id, limit],
            )
            .await?
        }
    };
    let mut records: Vec<ComplaintRecord> = found
        .iter()
        .map(|r| rows::complaint(r, v))
        .collect::<Result<_, _>>()?;
    drop(found);
    if full && let (Some(first), Some(last)) = (records.first(), records.last()) {
        let (lo, hi) = (first.received_at, last.received_at);
        let index: HashMap<i64, usize> =
            records.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        for row in B::fetch_all(&mut tx, PAGE_HISTORY, args![lo, hi]).await? {
            let (id, h) = rows::history(&row, v)?;
            if let Some(&i) = index.get(&id) {
                records[i].history.push(h);
            }
        }
        for row in B::fetch_all(&mut tx, PAGE_SHARES, args![lo, hi]).await? {
            let (id, bidang) = rows::share(&row)?;
            if let Some(&i) = index.get(&id) {
                records[i].identity_shared_with.push(bidang);
            }
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok(records)
}

const COUNT: &str =
    "SELECT COUNT(*) AS n FROM complaints WHERE received_at >= $1 AND received_at < $2";
const BY_CHANNEL: &str = "\
    SELECT channel AS k, COUNT(*) AS n FROM complaints \
    WHERE received_at >= $1 AND received_at < $2 GROUP BY channel";
const BY_CATEGORY: &str = "\
    SELECT category AS k, COUNT(*) AS n FROM complaints \
    WHERE received_at >= $1 AND received_at < $2 GROUP BY category";
const BY_BIDANG: &str = "\
    SELECT bidang AS k, COUNT(*) AS n FROM complaints \
    WHERE received_at >= $1 AND received_at < $2 GROUP BY bidang";
/// `selesai` / `tidak` for a closed complaint with a status, else `open`.
const BY_STATUS: &str = "\
    SELECT CASE WHEN state = 'closed' AND status IS NOT NULL THEN status ELSE 'open' END AS k, \
    COUNT(*) AS n FROM complaints WHERE received_at >= $1 AND received_at < $2 GROUP BY 1";
/// Completed steps: history lines with a step and an elapsed time.
const STEPS: &str = "\
    SELECT h.step AS k, COUNT(*) AS n, \
    CAST(COALESCE(SUM(CASE WHEN h.breached THEN 0 ELSE 1 END), 0) AS BIGINT) AS within \
    FROM history h JOIN complaints c ON c.id = h.complaint_id \
    WHERE c.received_at >= $1 AND c.received_at < $2 \
    AND h.step IS NOT NULL AND h.elapsed_seconds IS NOT NULL GROUP BY h.step";
/// The elapsed seconds at 0-based rank `$4` of step `$3`'s completed lines.
const STEP_AT_RANK: &str = "\
    SELECT h.elapsed_seconds AS s FROM history h JOIN complaints c ON c.id = h.complaint_id \
    WHERE c.received_at >= $1 AND c.received_at < $2 \
    AND h.step = $3 AND h.elapsed_seconds IS NOT NULL \
    ORDER BY h.elapsed_seconds LIMIT 1 OFFSET $4";
/// Open complaints, and how many were received after each of the age bounds `$3`, `$4`, `$5`.
const BACKLOG: &str = "\
    SELECT COUNT(*) AS n, \
    CAST(COALESCE(SUM(CASE WHEN received_at > $3 THEN 1 ELSE 0 END), 0) AS BIGINT) AS d0, \
    CAST(COALESCE(SUM(CASE WHEN received_at > $4 THEN 1 ELSE 0 END), 0) AS BIGINT) AS d1, \
    CAST(COALESCE(SUM(CASE WHEN received_at > $5 THEN 1 ELSE 0 END), 0) AS BIGINT) AS d2 \
    FROM complaints WHERE received_at >= $1 AND received_at < $2 AND state <> 'closed'";
/// Breached completed steps, in receipt order and history order.
const BREACHED_LINES: &str = "\
    SELECT c.ticket, c.received_at, c.id, h.step, h.due_at, h.at \
    FROM history h JOIN complaints c ON c.id = h.complaint_id \
    WHERE c.received_at >= $1 AND c.received_at < $2 \
    AND h.breached AND h.step IS NOT NULL AND h.elapsed_seconds IS NOT NULL \
    ORDER BY c.received_at, c.id, h.id LIMIT $3";
const BREACHED_COUNT: &str = "\
    SELECT COUNT(*) AS n FROM history h JOIN complaints c ON c.id = h.complaint_id \
    WHERE c.received_at >= $1 AND c.received_at < $2 \
    AND h.breached AND h.step IS NOT NULL AND h.elapsed_seconds IS NOT NULL";
/// Complaints whose current state was due before the month's end (running steps are kept).
const OVERDUE: &str = "\
    SELECT ticket, received_at, id, state, due_at FROM complaints \
    WHERE received_at >= $1 AND received_at < $2 AND due_at IS NOT NULL AND due_at < $2 \
    AND state IN ($3, $4, $5, $6, $7) ORDER BY received_at, id LIMIT $8";
const OVERDUE_COUNT: &str = "\
    SELECT COUNT(*) AS n FROM complaints \
    WHERE received_at >= $1 AND received_at < $2 AND due_at IS NOT NULL AND due_at < $2 \
    AND state IN ($3, $4, $5, $6, $7)";
/// The states of a running step (the others, waiting and closed, run no clock).
const RUNNING: [State; 5] = [
    State::Received,
    State::Triage,
    State::InBidang,
    State::Review,
    State::FollowUp,
];
const RATINGS: &str = "\
    SELECT rating_score AS k, COUNT(*) AS n FROM complaints \
    WHERE received_at >= $1 AND received_at < $2 \
    AND rating_score IS NOT NULL AND rated_at IS NOT NULL GROUP BY rating_score";

/// The elapsed seconds at the nearest rank of the `p`th percentile of `n` lines of `step`.
async fn at_rank<B: Backend>(
    conn: &mut Conn<B>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    step: Step,
    n: usize,
    p: f64,
) -> Result<i64, StoreError> {
    let offset = aduan_core::report::nearest_rank(n, p) as i64 - 1;
    fetch_one::<B>(conn, STEP_AT_RANK, args![from, to, step.as_str(), offset])
        .await?
        .i64("s")
}

fn count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// The report's figures of the complaints received in `[from, to)`, in one read transaction.
pub(crate) async fn aggregates<B: Backend>(
    b: &B,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<MonthAggregates, StoreError> {
    let mut h = b.reader().await?;
    let mut tx = B::begin_read(&mut h).await?;
    let mut agg = MonthAggregates {
        complaints: count(
            fetch_one::<B>(&mut tx, COUNT, args![from, to])
                .await?
                .i64("n")?,
        ),
        ..Default::default()
    };
    let by = |rows: Vec<B::Row>| -> Result<Vec<(Option<String>, usize)>, StoreError> {
        rows.iter()
            .map(|r| Ok((r.opt_text("k")?, count(r.i64("n")?))))
            .collect()
    };
    let keyed = |v: Vec<(Option<String>, usize)>| {
        v.into_iter()
            .map(|(k, n)| (k.unwrap_or_default(), n))
            .collect::<Vec<_>>()
    };
    agg.by_channel = keyed(by(
        B::fetch_all(&mut tx, BY_CHANNEL, args![from, to]).await?
    )?);
    agg.by_category = by(B::fetch_all(&mut tx, BY_CATEGORY, args![from, to]).await?)?;
    agg.by_bidang = by(B::fetch_all(&mut tx, BY_BIDANG, args![from, to]).await?)?;
    agg.by_status = keyed(by(B::fetch_all(&mut tx, BY_STATUS, args![from, to]).await?)?);

    let mut steps = Vec::new();
    for r in B::fetch_all(&mut tx, STEPS, args![from, to]).await? {
        steps.push((
            r.parsed::<Step>("k")?,
            count(r.i64("n")?),
            count(r.i64("within")?),
        ));
    }
    for (step, n, within) in steps {
        let median_seconds = at_rank::<B>(&mut tx, (from, to), step, n, 50.0).await?;
        let p90_seconds = at_rank::<B>(&mut tx, (from, to), step, n, 90.0).await?;
        agg.steps.push(StepAggregate {
            step,
            count: n,
            within,
            median_seconds,
            p90_seconds,
        });
    }

    let [b0, b1, b2] = backlog_bounds(to);
    let r = fetch_one::<B>(&mut tx, BACKLOG, args![from, to, b0, b1, b2]).await?;
    let (open, d0, d1, d2) = (
        count(r.i64("n")?),
        count(r.i64("d0")?),
        count(r.i64("d1")?),
        count(r.i64("d2")?),
    );
    agg.backlog = aduan_core::report::Backlog {
        open,
        under_1_day: d0,
        days_1_to_7: d1 - d0,
        days_8_to_30: d2 - d1,
        over_30_days: open - d2,
    };

    // Breached lines and overdue running steps, merged in receipt order (a complaint's
    // lines before its running step), as the report lists them: the first
    // `BREACHES_LISTED` of the merge are among the first that many of each; all counted.
    let listed = i64::try_from(BREACHES_LISTED).unwrap_or(i64::MAX);
    let running = || {
        let mut a = args![from, to];
        a.extend(RUNNING.iter().map(|s| Arg::from(s.as_str())));
        a
    };
    let mut overdue_args = running();
    overdue_args.push(Arg::from(listed));
    let total = fetch_one::<B>(&mut tx, BREACHED_COUNT, args![from, to])
        .await?
        .i64("n")?
        + fetch_one::<B>(&mut tx, OVERDUE_COUNT, running())
            .await?
            .i64("n")?;
    let mut lines = Vec::new();
    for r in B::fetch_all(&mut tx, BREACHED_LINES, args![from, to, listed]).await? {
        let step: Step = r.parsed("step")?;
        lines.push((
            (r.at("received_at")?, r.i64("id")?, 0u8),
            Breach {
                ticket: r.text("ticket")?,
                step,
                responsible: responsible(step),
                due_at: r.opt_at("due_at")?,
                done_at: Some(r.at("at")?),
                overrun_minutes: None,
            },
        ));
    }
    for r in B::fetch_all(&mut tx, OVERDUE, overdue_args).await? {
        let state: State = r.parsed("state")?;
        let Some(step) = state.step() else { continue };
        lines.push((
            (r.at("received_at")?, r.i64("id")?, 1u8),
            Breach {
                ticket: r.text("ticket")?,
                step,
                responsible: responsible(step),
                due_at: r.opt_at("due_at")?,
                done_at: None,
                overrun_minutes: None,
            },
        ));
    }
    // Stable: lines of one complaint keep their history order.
    lines.sort_by_key(|(k, _)| *k);
    lines.truncate(BREACHES_LISTED);
    agg.breaches = lines.into_iter().map(|(_, b)| b).collect();
    agg.breaches_total = count(total);

    for r in B::fetch_all(&mut tx, RATINGS, args![from, to]).await? {
        let score = u8::try_from(r.i64("k")?)
            .map_err(|_| StoreError::Corrupt("rating score out of range".into()))?;
        agg.ratings.push((score, count(r.i64("n")?)));
    }
    tx.commit().await.map_err(db_err)?;
    Ok(agg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_strings_in_sql_match_the_domain() {
        assert!(BY_STATUS.contains(&format!("'{}'", State::Closed.as_str())));
        assert!(BACKLOG.contains(&format!("'{}'", State::Closed.as_str())));
    }
}
