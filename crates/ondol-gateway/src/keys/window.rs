//! Quota windows: a day, a week from Monday or a calendar month, in UTC.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use ondol_core::manifest::QuotaPeriod;

/// The window `now` is in, as Unix seconds (start, end).
pub fn bounds(p: QuotaPeriod, now: DateTime<Utc>) -> (i64, i64) {
    let today = now.date_naive();
    let (start, end) = match p {
        QuotaPeriod::Day => (today, today + Duration::days(1)),
        QuotaPeriod::Week => {
            let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
            (monday, monday + Duration::days(7))
        }
        QuotaPeriod::Month => {
            let first = today.with_day(1).unwrap_or(today);
            let next = if first.month() == 12 {
                NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
            };
            (first, next.unwrap_or(first + Duration::days(31)))
        }
    };
    let secs = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp())
    };
    (secs(start), secs(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        // Wednesday 2026-12-30 15:00 UTC.
        let now = DateTime::parse_from_rfc3339("2026-12-30T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp();
        assert_eq!(
            bounds(QuotaPeriod::Day, now),
            (at("2026-12-30T00:00:00Z"), at("2026-12-31T00:00:00Z"))
        );
        assert_eq!(
            bounds(QuotaPeriod::Week, now),
            (at("2026-12-28T00:00:00Z"), at("2027-01-04T00:00:00Z"))
        );
        assert_eq!(
            bounds(QuotaPeriod::Month, now),
            (at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))
        );
    }
}
