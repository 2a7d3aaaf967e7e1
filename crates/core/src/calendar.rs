//! Working-time arithmetic on the office calendar.
//!
//! A [`WorkCalendar`] knows the office time zone, the working intervals of each weekday
//! (local wall-clock minutes) and the dated closures (holidays). SLA due times are
//! `add_working_time(start, standard_time)`; elapsed time of a step is
//! `elapsed_working_time(entered, left)`. With `business_hours = false` both are plain
//! wall-clock arithmetic (24/7). Precision is one second.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeSet;

use crate::types::ParseError;

/// Working interval within one local day, in seconds since local midnight, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    start: u32,
    end: u32,
}

impl Interval {
    /// Parse `"07:30-12:00"`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let err = |p: &str| ParseError::new("working interval", format!("`{s}`: {p}"));
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| err("expected HH:MM-HH:MM"))?;
        let t = |x: &str| {
            NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| err("expected HH:MM-HH:MM"))
        };
        let (a, b) = (t(a)?, t(b)?);
        let secs = |t: NaiveTime| {
            use chrono::Timelike;
            t.num_seconds_from_midnight()
        };
        let (start, mut end) = (secs(a), secs(b));
        if b == NaiveTime::from_hms_opt(0, 0, 0).unwrap() {
            end = 86_400; // "16:00-00:00" means until midnight
        }
        if start >= end {
            return Err(err("start must be before end"));
        }
        Ok(Interval { start, end })
    }
}

/// One dated closure from the holidays file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    /// The closed day, local date.
    pub date: NaiveDate,
    /// Its name, e.g. "Hari Suci Nyepi".
    pub name: String,
    /// `national`, `cuti_bersama` or `bali` (so an office can choose which to observe).
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Where the date comes from (decree, circular), or how it was derived.
    #[serde(default)]
    pub source: Option<String>,
    /// Derived ahead of the official list; replace it when the decree is published.
    #[serde(default)]
    pub provisional: bool,
}
fn default_kind() -> String {
    "national".into()
}

/// A holidays file: `[[holiday]]` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayFile {
    /// The calendar year the file covers. A covered year counts as known even when it has
    /// few closures; see [`WorkCalendar::next_year_warning`].
    #[serde(default)]
    pub year: Option<i32>,
    /// The official list the file was taken from (for the whole file).
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub holiday: Vec<Holiday>,
}

impl HolidayFile {
    /// Parse a holidays file and check that every date lies in its `year` (when given)
    /// and appears once.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let f: HolidayFile =
            toml::from_str(text).map_err(|e| ParseError::new("holidays file", e.to_string()))?;
        let mut seen = BTreeSet::new();
        for h in &f.holiday {
            if let Some(y) = f.year
                && h.date.year() != y
            {
                return Err(ParseError::new(
                    "holidays file",
                    format!("{} ({}) lies outside year {y}", h.date, h.name),
                ));
            }
            if !seen.insert((h.date, h.kind.clone())) {
                return Err(ParseError::new(
                    "holidays file",
                    format!("{} of kind `{}` is listed twice", h.date, h.kind),
                ));
            }
        }
        Ok(f)
    }

    /// Years this file covers: its `year`, else the years of its dates.
    pub fn years(&self) -> BTreeSet<i32> {
        match self.year {
            Some(y) => [y].into(),
            None => self.holiday.iter().map(|h| h.date.year()).collect(),
        }
    }
}

/// The calendar lacks next year's closures (SPEC §6: a warning from December 1 on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MissingYear {
    /// The year whose holidays are missing.
    pub year: i32,
}

impl std::fmt::Display for MissingYear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the calendar has no holidays for {}: add config/holidays-{}.toml before January 1, \
             or every holiday of {} counts as working time",
            self.year, self.year, self.year
        )
    }
}

/// The office's working calendar.
#[derive(Debug, Clone)]
pub struct WorkCalendar {
    tz: Tz,
    business_hours: bool,
    /// Index 0 = Monday.
    week: [Vec<Interval>; 7],
    closed: BTreeSet<NaiveDate>,
    /// Years whose closures are known (a holidays file exists for them).
    years: BTreeSet<i32>,
}

const MAX_DAYS: i64 = 3 * 366;

impl WorkCalendar {
    /// A calendar whose clocks run around the clock.
    pub fn always_open(tz: Tz) -> Self {
        WorkCalendar {
            tz,
            business_hours: false,
            week: Default::default(),
            closed: BTreeSet::new(),
            years: BTreeSet::new(),
        }
    }

    /// Build from per-weekday intervals (Monday first) and closed dates. Overlapping or
    /// unsorted intervals are normalized.
    pub fn new(
        tz: Tz,
        business_hours: bool,
        week: [Vec<Interval>; 7],
        closed: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, ParseError> {
        let mut norm: [Vec<Interval>; 7] = Default::default();
        for (i, day) in week.into_iter().enumerate() {
            let mut d = day;
            d.sort_by_key(|iv| iv.start);
            let mut out: Vec<Interval> = Vec::new();
            for iv in d {
                match out.last_mut() {
                    Some(last) if iv.start <= last.end => last.end = last.end.max(iv.end),
                    _ => out.push(iv),
                }
            }
            norm[i] = out;
        }
        if business_hours && norm.iter().all(|d| d.is_empty()) {
            return Err(ParseError::new(
                "calendar",
                "business_hours is on but no weekday has working intervals",
            ));
        }
        Ok(WorkCalendar {
            tz,
            business_hours,
            week: norm,
            closed: closed.into_iter().collect(),
            years: BTreeSet::new(),
        })
    }

    /// Declare the years whose closures are known (from the holidays files). Years of the
    /// closed dates count as known too.
    pub fn with_known_years(mut self, years: impl IntoIterator<Item = i32>) -> Self {
        self.years.extend(years);
        self
    }

    /// Years whose closures are known.
    pub fn known_years(&self) -> BTreeSet<i32> {
        let mut y = self.years.clone();
        y.extend(self.closed.iter().map(|d| d.year()));
        y
    }

    /// From December 1 (office time) on, the next year must be known: `Some` names the
    /// missing year. Never warns when clocks run 24/7.
    pub fn next_year_warning(&self, now: DateTime<Utc>) -> Option<MissingYear> {
        if !self.business_hours {
            return None;
        }
        let today = self.local_date(now);
        if today.month() != 12 {
            return None;
        }
        let next = today.year() + 1;
        let known = self.years.contains(&next) || self.closed.iter().any(|d| d.year() == next);
        (!known).then_some(MissingYear { year: next })
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    pub fn business_hours(&self) -> bool {
        self.business_hours
    }

    /// Is this local date a closure day?
    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        self.closed.contains(&d)
    }

    /// Working intervals of a local date as UTC instants.
    fn day_intervals(&self, d: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.closed.contains(&d) {
            return Vec::new();
        }
        let idx = d.weekday().num_days_from_monday() as usize;
        let midnight = d.and_hms_opt(0, 0, 0).unwrap();
        self.week[idx]
            .iter()
            .map(|iv| {
                let a = midnight + Duration::seconds(iv.start as i64);
                let b = midnight + Duration::seconds(iv.end as i64);
                (self.to_utc(a), self.to_utc(b))
            })
            .collect()
    }

    fn to_utc(&self, local: chrono::NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
            // A DST gap: the wall-clock time does not exist; use the instant after the gap.
            chrono::LocalResult::None => {
                self.to_utc(local + Duration::hours(1)) - Duration::hours(1)
            }
        }
    }

    /// Local date of an instant.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The instant `dur` of working time after `start`. A zero duration returns `start`.
    /// If no working time exists within three years, the wall-clock sum is returned.
    pub fn add_working_time(&self, start: DateTime<Utc>, dur: Duration) -> DateTime<Utc> {
        if !self.business_hours || dur <= Duration::zero() {
            return start + dur.max(Duration::zero());
        }
        let mut left = dur;
        let mut day = self.local_date(start) - Duration::days(1);
        for _ in 0..MAX_DAYS {
            for (a, b) in self.day_intervals(day) {
                if b <= start {
                    continue;
                }
                let from = a.max(start);
                let avail = b - from;
                if avail >= left {
                    return from + left;
                }
                left -= avail;
            }
            day = day.succ_opt().expect("date in range");
        }
        start + dur
    }

    /// Working time between `a` and `b` (zero when `b <= a`).
    pub fn elapsed_working_time(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b <= a {
            return Duration::zero();
        }
        if !self.business_hours {
            return b - a;
        }
        let mut total = Duration::zero();
        let mut day = self.local_date(a) - Duration::days(1);
        let last = self.local_date(b) + Duration::days(1);
        while day <= last {
            for (x, y) in self.day_intervals(day) {
                let from = x.max(a);
                let to = y.min(b);
                if to > from {
                    total += to - from;
                }
            }
            day = day.succ_opt().expect("date in range");
        }
        total
    }

    /// Working time from `a` to `b`, negative when `b` lies before `a` (a due time
    /// already passed): what is left of a step's standard time at `a`.
    pub fn signed_working_time(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b >= a {
            self.elapsed_working_time(a, b)
        } else {
            -self.elapsed_working_time(b, a)
        }
    }

    /// The end of the `n`-th working day after the local date of `start` (a day with
    /// working time that is not a closure): the citizen gets `n` whole working days to
    /// answer a question. With clocks running 24/7, `n` times 24 hours. `n = 0` is `start`.
    /// If fewer than `n` working days exist within three years, the wall-clock `n` days.
    pub fn after_working_days(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        if n == 0 {
            return start;
        }
        if !self.business_hours {
            return start + Duration::days(i64::from(n));
        }
        let mut day = self.local_date(start);
        let mut left = n;
        for _ in 0..MAX_DAYS {
            day = day.succ_opt().expect("date in range");
            if let Some(&(_, end)) = self.day_intervals(day).last() {
                left -= 1;
                if left == 0 {
                    return end;
                }
            }
        }
        start + Duration::days(i64::from(n))
    }

    /// Is `t` inside working time?
    pub fn is_working(&self, t: DateTime<Utc>) -> bool {
        if !self.business_hours {
            return true;
        }
        let d = self.local_date(t);
        [d - Duration::days(1), d]
            .into_iter()
            .flat_map(|d| self.day_intervals(d))
            .any(|(a, b)| a <= t && t < b)
    }
}

/// Parse a weekday name as used in config (`mon` … `sun`).
pub fn weekday_index(key: &str) -> Option<usize> {
    let w = match key {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    };
    Some(w.num_days_from_monday() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn buleleng() -> WorkCalendar {
        buleleng_with(&[
            (2026, 3, 18),
            (2026, 3, 19),
            (2026, 3, 20),
            (2026, 12, 24),
            (2026, 12, 25),
            (2027, 1, 1),
        ])
    }

    fn buleleng_with(closed: &[(i32, u32, u32)]) -> WorkCalendar {
        let iv = |s: &[&str]| {
            s.iter()
                .map(|x| Interval::parse(x).unwrap())
                .collect::<Vec<_>>()
        };
        let monthu = iv(&["07:30-12:00", "12:45-16:00"]);
        let week = [
            monthu.clone(),
            monthu.clone(),
            monthu.clone(),
            monthu,
            iv(&["07:00-11:00", "11:30-14:00"]),
            vec![],
            vec![],
        ];
        let closed = closed
            .iter()
            .map(|&(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap());
        WorkCalendar::new(chrono_tz::Asia::Makassar, true, week, closed).unwrap()
    }

    fn wita(s: &str) -> DateTime<Utc> {
        chrono_tz::Asia::Makassar
            .from_local_datetime(
                &chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap(),
            )
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn working_days_skip_weekends_and_closures() {
        let c = buleleng();
        // Monday 2 March 10:00 + 3 working days: Tue, Wed, Thu → Thursday 5 March 16:00.
        assert_eq!(
            c.after_working_days(wita("2026-03-02 10:00"), 3),
            wita("2026-03-05 16:00")
        );
        // Friday 6 March + 1: Monday 9 March (weekend skipped).
        assert_eq!(
            c.after_working_days(wita("2026-03-06 13:00"), 1),
            wita("2026-03-09 16:00")
        );
        // Tuesday 17 March + 2: 18-20 closed (Nyepi), weekend → Mon 23, Tue 24.
        assert_eq!(
            c.after_working_days(wita("2026-03-17 09:00"), 2),
            wita("2026-03-24 16:00")
        );
        // 10 working days from Monday 2 March: Friday 13 March ends at 14:00.
        assert_eq!(
            c.after_working_days(wita("2026-03-02 08:00"), 9),
            wita("2026-03-13 14:00")
        );
        assert_eq!(
            c.after_working_days(wita("2026-03-02 08:00"), 0),
            wita("2026-03-02 08:00")
        );
        let open = WorkCalendar::always_open(chrono_tz::Asia::Makassar);
        assert_eq!(
            open.after_working_days(wita("2026-03-02 08:00"), 10),
            wita("2026-03-12 08:00")
        );
    }

    #[test]
    fn signed_working_time_is_negative_past_the_due_time() {
        let c = buleleng();
        let a = wita("2026-03-02 11:30");
        let b = wita("2026-03-02 13:15");
        assert_eq!(c.signed_working_time(a, b), Duration::hours(1));
        assert_eq!(c.signed_working_time(b, a), -Duration::hours(1));
    }

    #[test]
    fn within_a_morning() {
        let c = buleleng();
        assert_eq!(
            c.add_working_time(wita("2026-03-02 08:00"), Duration::minutes(10)),
            wita("2026-03-02 08:10")
        );
    }

    #[test]
    fn across_the_lunch_break() {
        let c = buleleng();
        assert_eq!(
            c.add_working_time(wita("2026-03-02 11:30"), Duration::hours(1)),
            wita("2026-03-02 13:15")
        );
        assert_eq!(
            c.elapsed_working_time(wita("2026-03-02 11:30"), wita("2026-03-02 13:15")),
            Duration::hours(1)
        );
    }

    #[test]
    fn before_opening_and_after_closing() {
        let c = buleleng();
        assert_eq!(
            c.add_working_time(wita("2026-03-02 05:00"), Duration::minutes(5)),
            wita("2026-03-02 07:35")
        );
        assert_eq!(
            c.add_working_time(wita("2026-03-02 15:55"), Duration::minutes(10)),
            wita("2026-03-03 07:35")
        );
    }

    #[test]
    fn friday_to_monday_and_nyepi() {
        let c = buleleng();
        // Friday 13:50 + 20 min -> 10 min Friday, 10 min Monday.
        assert_eq!(
            c.add_working_time(wita("2026-03-06 13:50"), Duration::minutes(20)),
            wita("2026-03-09 07:40")
        );
        // Tue 17 March 15:30 + 1 h: 30 min Tuesday, then 18-20 closed (Nyepi), Sat/Sun, Mon 23.
        assert_eq!(
            c.add_working_time(wita("2026-03-17 15:30"), Duration::hours(1)),
            wita("2026-03-23 08:00")
        );
    }

    #[test]
    fn across_the_year_end() {
        let c = buleleng();
        // Wed 23 Dec 2026 15:00 + 2 h: 1 h Wed; 24, 25 closed; 26-27 weekend; Mon 28 07:30+1h.
        assert_eq!(
            c.add_working_time(wita("2026-12-23 15:00"), Duration::hours(2)),
            wita("2026-12-28 08:30")
        );
        // Thu 31 Dec 15:30 + 1 h: 30 min; 1 Jan closed; Sat/Sun; Mon 4 Jan 07:30 + 30 min.
        assert_eq!(
            c.add_working_time(wita("2026-12-31 15:30"), Duration::hours(1)),
            wita("2027-01-04 08:00")
        );
    }

    #[test]
    fn december_warns_when_next_year_is_unknown() {
        let only_2026 = buleleng_with(&[]).with_known_years([2026]);
        // 30 November 23:59 WITA: no warning yet; 1 December 00:00 WITA (16:00 UTC the day
        // before): the warning names 2027.
        assert_eq!(only_2026.next_year_warning(wita("2026-11-30 23:59")), None);
        assert_eq!(
            only_2026.next_year_warning(wita("2026-12-01 00:00")),
            Some(MissingYear { year: 2027 })
        );
        assert_eq!(
            only_2026.next_year_warning(wita("2026-12-31 23:59")),
            Some(MissingYear { year: 2027 })
        );
        assert!(
            only_2026
                .next_year_warning(wita("2026-12-15 09:00"))
                .unwrap()
                .to_string()
                .contains("holidays-2027.toml")
        );
        // A declared year counts, so does a closed date in it.
        let declared = buleleng_with(&[]).with_known_years([2026, 2027]);
        assert_eq!(declared.next_year_warning(wita("2026-12-01 08:00")), None);
        assert_eq!(buleleng().next_year_warning(wita("2026-12-01 08:00")), None);
        // January of the new year: nothing to warn about until next December.
        assert_eq!(only_2026.next_year_warning(wita("2027-01-02 08:00")), None);
        // 24/7 clocks need no holidays.
        let always = WorkCalendar::always_open(chrono_tz::Asia::Makassar);
        assert_eq!(always.next_year_warning(wita("2026-12-01 08:00")), None);
    }

    #[test]
    fn holiday_file_rejects_dates_outside_its_year_and_duplicates() {
        let ok = HolidayFile::parse(
            "year = 2027\n[[holiday]]\ndate = \"2027-01-01\"\nname = \"Tahun Baru\"\nprovisional = true\nsource = \"UU\"\n",
        )
        .unwrap();
        assert_eq!(ok.years(), [2027].into());
        assert!(ok.holiday[0].provisional);
        let outside =
            HolidayFile::parse("year = 2027\n[[holiday]]\ndate = \"2026-12-31\"\nname = \"x\"\n")
                .unwrap_err();
        assert!(outside.problem.contains("outside year 2027"), "{outside:?}");
        let twice = HolidayFile::parse(
            "[[holiday]]\ndate = \"2027-01-01\"\nname = \"a\"\n[[holiday]]\ndate = \"2027-01-01\"\nname = \"b\"\n",
        )
        .unwrap_err();
        assert!(twice.problem.contains("twice"), "{twice:?}");
    }

    #[test]
    fn always_open_is_wall_clock() {
        let c = WorkCalendar::always_open(chrono_tz::Asia::Makassar);
        assert_eq!(
            c.add_working_time(wita("2026-03-19 23:00"), Duration::hours(2)),
            wita("2026-03-20 01:00")
        );
    }

    /// Brute force: walk minute by minute over local wall-clock time.
    fn brute_add(c: &WorkCalendar, start: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
        let mut t = start;
        let mut left = minutes;
        if left == 0 {
            return t;
        }
        loop {
            if c.is_working(t) {
                left -= 1;
                if left == 0 {
                    return t + Duration::minutes(1);
                }
            }
            t += Duration::minutes(1);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn add_matches_minute_walk(day in 0i64..400, minute in 0i64..1440, dur in 0i64..3000) {
            let c = buleleng();
            let start = wita("2026-01-01 00:00") + Duration::days(day) + Duration::minutes(minute);
            let fast = c.add_working_time(start, Duration::minutes(dur));
            prop_assert_eq!(fast, brute_add(&c, start, dur));
            prop_assert_eq!(c.elapsed_working_time(start, fast), Duration::minutes(dur));
        }
    }
}
