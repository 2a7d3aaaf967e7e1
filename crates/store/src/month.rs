//! A month of complaints without loading it: [`page`] reads the month in receipt order one
//! keyset page at a time (the logbook exports), and [`aggregates`] has the database compute
//! the report's figures (`GROUP BY`: one grouped scan of the month's complaints for every
//! figure counted per complaint, one of its history for the steps).
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

use crate::backend::{Arg, Backend, RowExt, args, db_err};
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
/// The frequent-problem count's pages: the first one of a month, and the one after a key
/// (`$3`, `$4`), in receipt order. Shared by the rows and the packed page, so the two
/// backends page alike.
macro_rules! first_analyses {
    () => {
        "received_at >= $1 AND received_at < $2 ORDER BY received_at, id LIMIT $3"
    };
}
macro_rules! next_analyses {
    () => {
        "received_at >= $1 AND received_at < $2 \
         AND (received_at > $3 OR (received_at = $3 AND id > $4)) \
         ORDER BY received_at, id LIMIT $5"
    };
}
/// The frequent-problem count's columns ([`analyses_page`]).
const ANALYSES_FIRST: &str = concat!(
    "SELECT id, received_at, ticket, category, bidang, analysis FROM complaints WHERE ",
    first_analyses!()
);
const ANALYSES_NEXT: &str = concat!(
    "SELECT id, received_at, ticket, category, bidang, analysis FROM complaints WHERE ",
    next_analyses!()
);
/// The columns of [`ANALYSES_FIRST`] as one text per complaint, fields separated by
/// [`UNIT`] (an empty field: NULL), complaints by [`RECORD`]: none of the values holds a
/// control character (numbers, a ticket, two codes and a sealed value, which is ASCII).
macro_rules! packed_analyses {
    ($range:expr) => {
        concat!(
            "SELECT group_concat(rec, char(30)) AS page FROM (\
             SELECT received_at || char(31) || id || char(31) || ticket || char(31) || \
             ifnull(category, '') || char(31) || ifnull(bidang, '') || char(31) || \
             ifnull(analysis, '') AS rec FROM complaints WHERE ",
            $range,
            ")"
        )
    };
}
/// A page of [`ANALYSES_FIRST`] as one row (SQLite: see [`Backend::ANALYSES_PACKED`]).
/// Rows are put back in receipt order when unpacked, whatever order the aggregate took
/// them in.
pub(crate) const ANALYSES_PACKED_FIRST: &str = packed_analyses!(first_analyses!());
/// A page of [`ANALYSES_NEXT`] as one row.
pub(crate) const ANALYSES_PACKED_NEXT: &str = packed_analyses!(next_analyses!());
/// The separators of a packed page: between complaints, and between the fields of one.
const RECORD: char = '\u{1e}';
const UNIT: char = '\u{1f}';
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
    let (first, next) = B::ANALYSES_PACKED.unwrap_or((ANALYSES_FIRST, ANALYSES_NEXT));
    let (sql, args) = match after {
        None => (first, args![from, to, limit]),
        Some(k) => (next, args![from, to, k.received_at, k.id, limit]),
    };
    if B::ANALYSES_PACKED.is_some() {
        let found = B::fetch_optional(&mut *h, sql, args).await?;
        let packed = match &found {
            Some(r) => r.opt_str_ref("page")?,
            None => None,
        };
        return unpack_analyses(packed.unwrap_or_default(), v);
    }
    let found = B::fetch_all(&mut *h, sql, args).await?;
    found
        .iter()
        .map(|r| {
            Ok(AnalysisRow {
                key: PageKey {
                    received_at: r.at("received_at")?,
                    id: r.i64("id")?,
                },
                ticket: rows::ticket(r.str_ref("ticket")?)?,
                category: r.opt_parsed("category")?,
                bidang: rows::opt_bidang(r, "bidang")?,
                analysis: v.open_opt("complaints.analysis", r.opt_str_ref("analysis")?)?,
            })
        })
        .collect()
}

/// The complaints of a packed page ([`ANALYSES_PACKED_FIRST`]), opened, in receipt order.
fn unpack_analyses(packed: &str, v: &crate::vault::Vault) -> Result<Vec<AnalysisRow>, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("a packed page of analyses: {what}"));
    let mut out = Vec::new();
    if packed.is_empty() {
        return Ok(out);
    }
    for rec in aduan_core::problems::split_on(packed, RECORD) {
        let mut f = aduan_core::problems::split_on(rec, UNIT);
        let mut field = |name: &str| f.next().ok_or_else(|| corrupt(name));
        let number = |s: &str, name: &str| s.parse::<i64>().map_err(|_| corrupt(name));
        let received_at = number(field("received_at")?, "received_at")?;
        let id = number(field("id")?, "id")?;
        let ticket = rows::ticket(field("ticket")?)?;
        let category = match field("category")? {
            "" => None,
            c => Some(
                c.parse()
                    .map_err(|e| corrupt(&format!("category `{c}`: {e}")))?,
            ),
        };
        let bidang = match field("bidang")? {
            "" => None,
            b => Some(rows::bidang(b)?),
        };
        let analysis = match field("analysis")? {
            "" => None,
            a => Some(v.open("complaints.analysis", a)?),
        };
        if f.next().is_some() {
            return Err(corrupt("a field too many"));
        }
        out.push(AnalysisRow {
            key: PageKey {
                received_at: crate::backend::from_ms(received_at, "received_at")?,
                id,
            },
            ticket,
            category,
            bidang,
            analysis,
        });
    }
    // Receipt order, ties by id (the key is unique): `group_concat` does not promise to
    // keep its subquery's order, though SQLite does; an ordered page costs one pass here.
    out.sort_by_key(|r| (r.key.received_at, r.key.id));
    Ok(out)
}

/// At most `limit` complaints received in `[from, to)` after `after`, in receipt order; with
/// history and identity shares when `full`.
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

/// The month's complaints grouped by every key the report counts them by (channel,
/// category, bidang, the status key `selesai` / `tidak` / `open`, the rating when rated),
/// with the open ones received after each of the age bounds `$3`, `$4`, `$5`: one scan of the
/// month for all complaint figures.
const COMPLAINT_GROUPS: &str = "\
    SELECT channel AS ch, category AS cat, bidang AS bid, \
    CASE WHEN state = 'closed' AND status IS NOT NULL THEN status ELSE 'open' END AS st, \
    CASE WHEN rated_at IS NOT NULL THEN CAST(rating_score AS BIGINT) END AS rating, \
    COUNT(*) AS n, \
    CAST(COALESCE(SUM(CASE WHEN state <> 'closed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS open, \
    CAST(COALESCE(SUM(CASE WHEN state <> 'closed' AND received_at > $3 THEN 1 ELSE 0 END), 0) \
    AS BIGINT) AS d0, \
    CAST(COALESCE(SUM(CASE WHEN state <> 'closed' AND received_at > $4 THEN 1 ELSE 0 END), 0) \
    AS BIGINT) AS d1, \
    CAST(COALESCE(SUM(CASE WHEN state <> 'closed' AND received_at > $5 THEN 1 ELSE 0 END), 0) \
    AS BIGINT) AS d2 \
    FROM complaints WHERE received_at >= $1 AND received_at < $2 GROUP BY 1, 2, 3, 4, 5";
/// Completed steps (history lines with a step and an elapsed time), one row per step and
/// elapsed time, in order: counts, the lines within the standard, and the percentiles by
/// nearest rank over the cumulative counts, from one scan.
const STEP_TIMES: &str = "\
    SELECT h.step AS k, h.elapsed_seconds AS s, COUNT(*) AS n, \
    CAST(COALESCE(SUM(CASE WHEN h.breached THEN 0 ELSE 1 END), 0) AS BIGINT) AS within \
    FROM history h JOIN complaints c ON c.id = h.complaint_id \
    WHERE c.received_at >= $1 AND c.received_at < $2 \
    AND h.step IS NOT NULL AND h.elapsed_seconds IS NOT NULL \
    GROUP BY h.step, h.elapsed_seconds ORDER BY h.step, h.elapsed_seconds";
/// Breached completed steps, in receipt order and history order.
const BREACHED_LINES: &str = "\
    SELECT c.ticket, c.received_at, c.id, h.step, h.due_at, h.at \
    FROM history h JOIN complaints c ON c.id = h.complaint_id \
    WHERE c.received_at >= $1 AND c.received_at < $2 \
    AND h.breached AND h.step IS NOT NULL AND h.elapsed_seconds IS NOT NULL \
    ORDER BY c.received_at, c.id, h.id LIMIT $3";
/// The number of complaints whose running step was due before the month's end. Selected
/// by the month alone, so it is a scan of `complaints_month_idx` (which holds `state` and
/// `due_at`) whatever the number of running steps; with the state in the `WHERE`, SQLite
/// would read every running complaint's row through `complaints_queue_idx` instead.
const OVERDUE_COUNT: &str = "\
    SELECT CAST(COALESCE(SUM(CASE WHEN due_at IS NOT NULL AND due_at < $2 \
    AND state IN ($3, $4, $5, $6, $7) THEN 1 ELSE 0 END), 0) AS BIGINT) AS n \
    FROM complaints WHERE received_at >= $1 AND received_at < $2";
/// The first complaints (receipt order) whose running step was due before the month's end,
/// the subquery reading `$table` (the table, with an index hint where the backend needs
/// one). The complaints are picked in a subquery that reads only `complaints_month_idx`
/// (it holds `state` and `due_at`) in receipt order and stops at the limit, and only their
/// rows are read: with the state and due time in the `WHERE` of the outer query, SQLite
/// reads every running complaint's row through `complaints_queue_idx` and sorts them all
/// (1.1 s for 151,000 overdue of 200,000), and with them hidden from it, it walks
/// `complaints_received_idx` reading rows until enough are found (0.7 s for a month with
/// none).
macro_rules! overdue_sql {
    ($table:literal) => {
        concat!(
            "SELECT ticket, received_at, id, state, due_at FROM complaints WHERE id IN (\
             SELECT id FROM ",
            $table,
            " WHERE received_at >= $1 AND received_at < $2 AND due_at IS NOT NULL \
             AND due_at < $2 AND state IN ($3, $4, $5, $6, $7) \
             ORDER BY received_at, id LIMIT $8) ORDER BY received_at, id"
        )
    };
}
/// SQLite's planner does not see the index is covering for the subquery and takes the
/// narrower `complaints_received_idx` (it gives the order), so it is named.
pub(crate) const OVERDUE_SQLITE: &str = overdue_sql!("complaints INDEXED BY complaints_month_idx");
pub(crate) const OVERDUE_POSTGRES: &str = overdue_sql!("complaints");
/// The states of a running step (the others, waiting and closed, run no clock).
const RUNNING: [State; 5] = [
    State::Received,
    State::Triage,
    State::InBidang,
    State::Review,
    State::FollowUp,
];

fn count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// The elapsed seconds at the nearest rank of the `p`th percentile of a step's lines,
/// given as (elapsed seconds, lines) in ascending order and `n` lines in all.
fn at_rank(times: &[(i64, usize)], n: usize, p: f64) -> i64 {
    let rank = aduan_core::report::nearest_rank(n, p);
    let mut seen = 0;
    for &(s, k) in times {
        seen += k;
        if seen >= rank {
            return s;
        }
    }
    times.last().map_or(0, |&(s, _)| s)
}

/// Add `n` to `key`'s count, keeping the keys in order.
fn tally<K: Ord>(map: &mut std::collections::BTreeMap<K, usize>, key: K, n: usize) {
    *map.entry(key).or_default() += n;
}

/// A breach with its place in the report's order: receipt, complaint, then its history
/// lines (0) before its running step (1).
type Placed = ((DateTime<Utc>, i64, u8), Breach);

/// The report's figures of the complaints received in `[from, to)`: the figures counted
/// per complaint (one grouped scan) and those of the completed steps and the breaches (one
/// grouped scan of the month's history, the overdue count, the first breached lines and
/// overdue running steps) are read at once, each in a read transaction of its own on its
/// own connection, and merged.
pub(crate) async fn aggregates<B: Backend>(
    b: &B,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<MonthAggregates, StoreError> {
    let (mut agg, (steps, breaches, breaches_total)) =
        futures::try_join!(complaint_figures(b, from, to), step_figures(b, from, to))?;
    agg.steps = steps;
    agg.breaches = breaches;
    agg.breaches_total = breaches_total;
    Ok(agg)
}

/// With the states of a running step appended.
fn running(mut a: Vec<Arg>) -> Vec<Arg> {
    a.extend(RUNNING.iter().map(|s| Arg::from(s.as_str())));
    a
}

/// The figures counted per complaint (all but the steps and breaches).
async fn complaint_figures<B: Backend>(
    b: &B,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<MonthAggregates, StoreError> {
    use std::collections::BTreeMap;

    let mut h = b.reader().await?;
    let mut tx = B::begin_read(&mut h).await?;
    let mut agg = MonthAggregates::default();
    let [b0, b1, b2] = backlog_bounds(to);
    let (mut channels, mut categories, mut bidangs) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let (mut statuses, mut ratings) = (BTreeMap::new(), BTreeMap::new());
    let (mut open, mut d0, mut d1, mut d2) = (0, 0, 0, 0);
    let groups = args![from, to, b0, b1, b2];
    for r in B::fetch_all(&mut tx, COMPLAINT_GROUPS, groups).await? {
        let n = count(r.i64("n")?);
        agg.complaints += n;
        tally(&mut channels, r.opt_text("ch")?.unwrap_or_default(), n);
        tally(&mut categories, r.opt_text("cat")?, n);
        tally(&mut bidangs, r.opt_text("bid")?, n);
        tally(&mut statuses, r.opt_text("st")?.unwrap_or_default(), n);
        if let Some(score) = r.opt_i64("rating")? {
            let score = u8::try_from(score)
                .map_err(|_| StoreError::Corrupt("rating score out of range".into()))?;
            tally(&mut ratings, score, n);
        }
        open += count(r.i64("open")?);
        d0 += count(r.i64("d0")?);
        d1 += count(r.i64("d1")?);
        d2 += count(r.i64("d2")?);
    }
    agg.by_channel = channels.into_iter().collect();
    agg.by_category = categories.into_iter().collect();
    agg.by_bidang = bidangs.into_iter().collect();
    agg.by_status = statuses.into_iter().collect();
    agg.ratings = ratings.into_iter().collect();
    agg.backlog = aduan_core::report::Backlog {
        open,
        under_1_day: d0,
        days_1_to_7: d1 - d0,
        days_8_to_30: d2 - d1,
        over_30_days: open - d2,
    };
    tx.commit().await.map_err(db_err)?;
    Ok(agg)
}

/// The completed steps of the month per step (history lines with an elapsed time), and the
/// breaches: the first [`BREACHES_LISTED`] and the number of them all, the breached lines
/// and the running steps overdue at the month's end read in one transaction, so none is
/// counted twice or missed while a step completes.
async fn step_figures<B: Backend>(
    b: &B,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Vec<StepAggregate>, Vec<Breach>, usize), StoreError> {
    // Per step: its lines grouped by elapsed time (ascending), all its lines, and those
    // within the standard.
    struct StepTimes {
        step: Step,
        times: Vec<(i64, usize)>,
        lines: usize,
        within: usize,
    }
    let mut h = b.reader().await?;
    let mut tx = B::begin_read(&mut h).await?;
    let mut steps: Vec<StepTimes> = Vec::new();
    for r in B::fetch_all(&mut tx, STEP_TIMES, args![from, to]).await? {
        let step: Step = r.parsed("k")?;
        let (s, n, within) = (r.i64("s")?, count(r.i64("n")?), count(r.i64("within")?));
        match steps.last_mut() {
            Some(last) if last.step == step => {
                last.times.push((s, n));
                last.lines += n;
                last.within += within;
            }
            _ => steps.push(StepTimes {
                step,
                times: vec![(s, n)],
                lines: n,
                within,
            }),
        }
    }
    let mut breached = 0;
    let mut out = Vec::with_capacity(steps.len());
    for s in steps {
        breached += s.lines - s.within;
        out.push(StepAggregate {
            step: s.step,
            count: s.lines,
            within: s.within,
            median_seconds: at_rank(&s.times, s.lines, 50.0),
            p90_seconds: at_rank(&s.times, s.lines, 90.0),
        });
    }
    let listed = i64::try_from(BREACHES_LISTED).unwrap_or(i64::MAX);
    let mut lines: Vec<Placed> = Vec::new();
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
    let overdue = match B::fetch_optional(&mut tx, OVERDUE_COUNT, running(args![from, to])).await? {
        Some(r) => count(r.i64("n")?),
        None => 0,
    };
    let mut overdue_args = running(args![from, to]);
    overdue_args.push(Arg::from(listed));
    for r in B::fetch_all(&mut tx, B::OVERDUE_SQL, overdue_args).await? {
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
    tx.commit().await.map_err(db_err)?;
    // Breached lines and overdue running steps, merged in receipt order (a complaint's
    // lines before its running step), as the report lists them: the first
    // `BREACHES_LISTED` of the merge are among the first that many of each; all counted.
    // Stable: lines of one complaint keep their history order.
    lines.sort_by_key(|(k, _)| *k);
    lines.truncate(BREACHES_LISTED);
    Ok((
        out,
        lines.into_iter().map(|(_, b)| b).collect(),
        breached + overdue,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_strings_in_sql_match_the_domain() {
        assert!(COMPLAINT_GROUPS.contains(&format!("'{}'", State::Closed.as_str())));
    }

    #[test]
    fn a_percentile_over_grouped_times_is_the_nearest_rank_of_the_lines() {
        let times = [(60, 3), (120, 5), (600, 2)];
        assert_eq!(at_rank(&times, 10, 50.0), 120);
        assert_eq!(at_rank(&times, 10, 90.0), 600);
        assert_eq!(at_rank(&times, 10, 30.0), 60);
        // Against the lines one by one, for groups of every shape and every percentile.
        for groups in [
            vec![(5, 1)],
            vec![(1, 2), (2, 1)],
            vec![(0, 7), (9, 1), (30, 4), (31, 11)],
        ] {
            let lines: Vec<i64> = groups
                .iter()
                .flat_map(|&(s, k)| std::iter::repeat_n(s, k))
                .collect();
            for p in 1..=100 {
                let p = f64::from(p);
                let rank = aduan_core::report::nearest_rank(lines.len(), p);
                assert_eq!(
                    at_rank(&groups, lines.len(), p),
                    lines[rank - 1],
                    "{groups:?} p{p}"
                );
            }
        }
    }

    /// A packed page as SQLite writes it: numbers in decimal, NULL as an empty field.
    fn packed(records: &[[&str; 6]]) -> String {
        let records: Vec<String> = records.iter().map(|r| r.join("\u{1f}")).collect();
        records.join("\u{1e}")
    }

    #[test]
    fn the_packed_queries_use_the_separators_the_page_is_unpacked_by() {
        for sql in [ANALYSES_PACKED_FIRST, ANALYSES_PACKED_NEXT] {
            assert!(sql.contains(&format!("group_concat(rec, char({}))", RECORD as u32)));
            assert_eq!(sql.matches(&format!("char({})", UNIT as u32)).count(), 5);
        }
    }

    #[test]
    fn a_packed_page_unpacks_in_receipt_order_with_its_nulls() {
        let v = crate::vault::Vault::ephemeral();
        let sealed = v.seal("complaints.analysis", "pa1\u{1e}analisis");
        let cat = aduan_core::types::Category::Pelayanan.as_str();
        let page = packed(&[
            ["2000", "7", "ADU-202603-0007", cat, "dafduk", &sealed],
            ["1000", "9", "ADU-202603-0009", "", "", ""],
            ["2000", "5", "ADU-202603-0005", "", "", &sealed],
        ]);
        let rows = unpack_analyses(&page, &v).unwrap();
        let keys: Vec<(i64, i64)> = rows
            .iter()
            .map(|r| (r.key.received_at.timestamp_millis(), r.key.id))
            .collect();
        assert_eq!(keys, [(1000, 9), (2000, 5), (2000, 7)]);
        assert_eq!(rows[0].ticket.as_str(), "ADU-202603-0009");
        assert_eq!((rows[0].category, rows[0].bidang.clone()), (None, None));
        assert_eq!(rows[0].analysis, None);
        assert_eq!(rows[1].analysis.as_deref(), Some("pa1\u{1e}analisis"));
        assert_eq!(
            rows[2].category,
            Some(aduan_core::types::Category::Pelayanan)
        );
        assert_eq!(rows[2].bidang.as_ref().map(|b| b.as_str()), Some("dafduk"));
        // No complaint in the range: the aggregate gives NULL, read as "".
        assert!(unpack_analyses("", &v).unwrap().is_empty());
    }

    #[test]
    fn a_damaged_packed_page_is_corrupt_never_a_panic() {
        let v = crate::vault::Vault::ephemeral();
        let sealed = v.seal("complaints.analysis", "pa1");
        let good = ["1000", "9", "ADU-202603-0009", "", "", sealed.as_str()];
        let mut damaged = vec![
            packed(&[["1000", "9", "ADU-202603-0009", "", "", "x"]]), // not sealed
            format!("{}\u{1f}extra", packed(&[good])),                // a field too many
            good[..5].join("\u{1f}"),                                 // a field too few
            packed(&[["10x", "9", "ADU-202603-0009", "", "", ""]]),   // not a number
            packed(&[["1000", "9", "ADU-2026-1", "", "", ""]]),       // not a ticket
            packed(&[["1000", "9", "ADU-202603-0009", "nope", "", ""]]), // no such category
            packed(&[["1000", "9", "ADU-202603-0009", "", "no such", ""]]), // no bidang code
        ];
        damaged.push(format!("{}\u{1e}", packed(&[good]))); // an empty record at the end
        for page in damaged {
            match unpack_analyses(&page, &v) {
                Err(StoreError::Corrupt(_)) => {}
                other => panic!("{page:?}: {other:?}"),
            }
        }
    }

    /// SQLite answers the month's grouped scan, the overdue count and the choice of the
    /// overdue complaints listed from `complaints_month_idx` alone (migration 0013), without
    /// reading a complaint row to select one: a column added to a query but not to the index
    /// makes this fail.
    #[tokio::test]
    async fn the_month_figures_read_the_covering_index_only() {
        use sqlx::{Connection, Row};
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        for m in crate::migrate::SQLITE {
            sqlx::raw_sql(m.sql).execute(&mut c).await.unwrap();
        }
        for query in [COMPLAINT_GROUPS, OVERDUE_COUNT, OVERDUE_SQLITE] {
            let explain = sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {query}"));
            let plan: Vec<String> = sqlx::query(explain)
                .fetch_all(&mut c)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("detail"))
                .collect();
            assert!(
                plan.iter()
                    .any(|d| d.contains("USING COVERING INDEX complaints_month_idx")),
                "{query}\n{plan:?}"
            );
        }
    }
}
