//! When a plan's full backups run: `BackupPeriod` (week days) and
//! `BackupStartTime` (`HH:mm` or `HH:mmZ`, both UTC), and the next run after a moment.
//!
//! The next run is always the first window after *now*, never a past one:
//! a control plane down across several windows runs the missed backup once
//! when it comes back (the caller fires a plan whose next run has passed,
//! then asks for the next run after the present).

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};

/// Why a schedule parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// `BackupPeriod` names something other than week days.
    #[error("BackupPeriod: {0:?} is not a comma-separated list of week days (Monday … Sunday)")]
    Period(String),
    /// `BackupStartTime` is not `HH:mm` or `HH:mmZ`.
    #[error("BackupStartTime: {0:?} is not a UTC time as HH:mmZ, such as 02:30Z")]
    StartTime(String),
}

impl ScheduleError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            ScheduleError::Period(_) => "InvalidParameter.BackupPeriod",
            ScheduleError::StartTime(_) => "InvalidParameter.BackupStartTime",
        }
    }
}

/// A weekly schedule: the days and the UTC time of day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weekly {
    days: Vec<Weekday>,
    at: NaiveTime,
}

impl Weekly {
    /// Parses `BackupPeriod` and `BackupStartTime`.
    pub fn parse(period: &str, start_time: &str) -> Result<Weekly, ScheduleError> {
        let mut days = Vec::new();
        for day in period.split(',').map(str::trim) {
            let parsed = WEEK
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(day))
                .map(|(_, d)| *d)
                .ok_or_else(|| ScheduleError::Period(period.to_string()))?;
            if !days.contains(&parsed) {
                days.push(parsed);
            }
        }
        let at =
            NaiveTime::parse_from_str(start_time.strip_suffix('Z').unwrap_or(start_time), "%H:%M")
                .ok()
                .ok_or_else(|| ScheduleError::StartTime(start_time.to_string()))?;
        days.sort_by_key(Weekday::num_days_from_monday);
        Ok(Weekly { days, at })
    }

    /// `BackupPeriod` as the API spells it.
    pub fn period(&self) -> String {
        self.days
            .iter()
            .map(|d| WEEK[d.num_days_from_monday() as usize].0)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `BackupStartTime` as the API spells it.
    pub fn start_time(&self) -> String {
        format!("{}Z", self.at.format("%H:%M"))
    }

    /// The first window strictly after `after_ms` (ms since the epoch).
    pub fn next_after(&self, after_ms: i64) -> i64 {
        let after: DateTime<Utc> = Utc
            .timestamp_millis_opt(after_ms)
            .single()
            .unwrap_or_default();
        (0..=7)
            .map(|d| after.date_naive() + Duration::days(d))
            .filter(|date| self.days.contains(&date.weekday()))
            .map(|date| date.and_time(self.at).and_utc().timestamp_millis())
            .find(|&ms| ms > after_ms)
            .expect("every week has one of the plan's days")
    }
}

const WEEK: [(&str, Weekday); 7] = [
    ("Monday", Weekday::Mon),
    ("Tuesday", Weekday::Tue),
    ("Wednesday", Weekday::Wed),
    ("Thursday", Weekday::Thu),
    ("Friday", Weekday::Fri),
    ("Saturday", Weekday::Sat),
    ("Sunday", Weekday::Sun),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn the_next_window_is_the_first_listed_day_at_the_time() {
        // 2026-11-27 is a Friday.
        let w = Weekly::parse("Monday,Friday", "02:30Z").unwrap();
        assert_eq!(
            w.next_after(ms("2026-11-27T01:00:00Z")),
            ms("2026-11-27T02:30:00Z")
        );
        assert_eq!(
            w.next_after(ms("2026-11-27T02:30:00Z")),
            ms("2026-11-30T02:30:00Z")
        );
        assert_eq!(
            w.next_after(ms("2026-11-30T03:00:00Z")),
            ms("2026-12-04T02:30:00Z")
        );
        let daily = Weekly::parse(
            "Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday",
            "23:59Z",
        )
        .unwrap();
        assert_eq!(
            daily.next_after(ms("2026-11-27T23:59:30Z")),
            ms("2026-11-28T23:59:00Z")
        );
    }

    #[test]
    fn missed_windows_collapse_into_the_next_one() {
        let w = Weekly::parse("Monday", "00:00Z").unwrap();
        // Down for three weeks: the next run is one window after now.
        assert_eq!(
            w.next_after(ms("2026-12-20T12:00:00Z")),
            ms("2026-12-21T00:00:00Z")
        );
    }

    #[test]
    fn values_round_trip_and_bad_ones_are_refused() {
        let w = Weekly::parse("friday, Monday,Monday", "07:05Z").unwrap();
        assert_eq!(w.period(), "Monday,Friday");
        assert_eq!(w.start_time(), "07:05Z");
        for (period, time, code) in [
            ("Funday", "01:00Z", "InvalidParameter.BackupPeriod"),
            ("", "01:00Z", "InvalidParameter.BackupPeriod"),
            ("Monday", "25:00Z", "InvalidParameter.BackupStartTime"),
            ("Monday", "01:00+08", "InvalidParameter.BackupStartTime"),
        ] {
            assert_eq!(Weekly::parse(period, time).unwrap_err().code(), code);
        }
    }
}
