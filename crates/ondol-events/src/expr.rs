//! Schedule expressions: AWS's `cron(min hour dom month dow year)` (with `?`, `L`,
//! `W`, `#`, ranges, lists, steps; day-of-week 1–7 = SUN–SAT), plain 5-field cron,
//! and `rate(N unit)` (minutes, hours, days; ondol also takes seconds). Cron times
//! are computed in the schedule's time zone, DST included (croner does the fields).
//! An expression that can never fire (31 February, only past years) is refused.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// Allowed years as (first, last, step) ranges; `None` is every year.
type Years = Option<Vec<(i32, i32, i32)>>;

/// A parsed schedule expression.
#[derive(Debug, Clone)]
pub enum Expr {
    Cron {
        cron: Box<Cron>,
        years: Option<Vec<(i32, i32, i32)>>,
    },
    Rate(Duration),
}

fn err(field: &str, msg: impl std::fmt::Display) -> String {
    format!("{field}: {msg}")
}

/// Parses an AWS year field (`*`, `2030`, `2030-2035`, `2030,2032`, `2030/2`).
fn years(field: &str) -> Result<Years, String> {
    if field == "*" || field == "?" {
        return Ok(None);
    }
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<i32>()
                    .map_err(|_| err("year", format!("bad step in \"{part}\"")))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (a.parse(), b.parse()),
            None if range == "*" => (Ok(1970), Ok(2199)),
            None => (range.parse(), range.parse()),
        };
        let (lo, hi): (i32, i32) = (
            lo.map_err(|_| {
                err(
                    "year",
                    format!("expected years like 2030 or 2030-2035, got \"{part}\""),
                )
            })?,
            hi.map_err(|_| {
                err(
                    "year",
                    format!("expected years like 2030 or 2030-2035, got \"{part}\""),
                )
            })?,
        );
        if !(1970..=2199).contains(&lo) || !(lo..=2199).contains(&hi) || step < 1 {
            return Err(err("year", format!("\"{part}\" is out of 1970-2199")));
        }
        if part.contains('/') && !range.contains('-') && range != "*" {
            out.push((lo, 2199, step));
        } else {
            out.push((lo, hi, step));
        }
    }
    Ok(Some(out))
}

fn year_ok(years: &Years, y: i32) -> bool {
    years.as_ref().is_none_or(|v| {
        v.iter()
            .any(|&(lo, hi, step)| (lo..=hi).contains(&y) && (y - lo) % step == 0)
    })
}

const FIELDS: [&str; 6] = [
    "minutes",
    "hours",
    "day-of-month",
    "month",
    "day-of-week",
    "year",
];

/// Longest rate accepted: beyond it a schedule would not fire in a server's life.
const MAX_RATE_DAYS: i64 = 100 * 366;

/// Refuses empty list items (`1,,2`, `1,`), which croner would read as absent.
fn no_empty_items(fields: &[&str], names: &[&str]) -> Result<(), String> {
    for (f, name) in fields.iter().zip(names) {
        if f.split(',').any(str::is_empty) {
            return Err(err(name, format!("\"{f}\" has an empty list item")));
        }
    }
    Ok(())
}

impl Expr {
    /// Parses `cron(...)`, `rate(...)` or a 5-field cron line, refusing one that
    /// never fires from now on; errors name the field.
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::parse_at(s, Utc::now())
    }

    /// [`Expr::parse`] as of `now`.
    pub fn parse_at(s: &str, now: DateTime<Utc>) -> Result<Self, String> {
        let e = Self::parse_fields(s)?;
        if e.next_after(now, chrono_tz::UTC, now).is_some() {
            return Ok(e);
        }
        match &e {
            Expr::Cron { years: Some(y), .. } if y.iter().all(|&(_, hi, _)| hi < now.year()) => {
                Err(err("year", "every year given is in the past"))
            }
            _ => Err(err(
                "day-of-month",
                "no date matches the day-of-month, month, day-of-week and year together (like 31 February)",
            )),
        }
    }

    fn parse_fields(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(inner) = s.strip_prefix("rate(").and_then(|x| x.strip_suffix(')')) {
            return Self::rate(inner.trim());
        }
        if let Some(inner) = s.strip_prefix("cron(").and_then(|x| x.strip_suffix(')')) {
            let f: Vec<&str> = inner.split_whitespace().collect();
            if f.len() != 6 {
                return Err(format!(
                    "expected 6 fields (minutes hours day-of-month month day-of-week year), got {}",
                    f.len()
                ));
            }
            no_empty_items(&f, &FIELDS)?;
            if f[2] != "?" && f[4] != "?" {
                return Err(err(
                    "day-of-month",
                    "one of day-of-month and day-of-week must be '?'",
                ));
            }
            let pattern = format!("0 {} {} {} {} {}", f[0], f[1], f[2], f[3], f[4]);
            let cron = Cron::new(&pattern)
                .with_seconds_required()
                .with_alternative_weekdays()
                .parse()
                .map_err(|e| Self::which_field(&f[..5], e.to_string(), true))?;
            return Ok(Expr::Cron {
                cron: Box::new(cron),
                years: years(f[5])?,
            });
        }
        let f: Vec<&str> = s.split_whitespace().collect();
        if f.len() != 5 {
            return Err("expected cron(...), rate(...) or a 5-field cron expression".into());
        }
        no_empty_items(&f, &FIELDS)?;
        let cron = Cron::new(s)
            .parse()
            .map_err(|e| Self::which_field(&f, e.to_string(), false))?;
        Ok(Expr::Cron {
            cron: Box::new(cron),
            years: None,
        })
    }

    /// Names the first field croner refuses on its own.
    fn which_field(fields: &[&str], whole: String, aws: bool) -> String {
        for (i, f) in fields.iter().enumerate() {
            let mut probe: Vec<&str> = vec!["*"; 5];
            if aws && i == 4 {
                probe[2] = "?";
            }
            probe[i] = f;
            let p = if aws {
                format!("0 {}", probe.join(" "))
            } else {
                probe.join(" ")
            };
            let mut c = Cron::new(&p);
            if aws {
                c.with_seconds_required().with_alternative_weekdays();
            }
            if c.parse().is_err() {
                return err(FIELDS[i], format!("\"{f}\" is not valid ({whole})"));
            }
        }
        whole
    }

    fn rate(inner: &str) -> Result<Self, String> {
        let (n, unit) = inner
            .split_once(' ')
            .ok_or_else(|| format!("expected rate(N unit), got rate({inner})"))?;
        let n: i64 = n
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| err("rate", format!("\"{n}\" is not a positive number")))?;
        let unit = unit.trim();
        let one = |u: &str| n == 1 && unit == u;
        let many = |u: &str| n != 1 && unit == u;
        // AWS's own units take the singular exactly for 1; seconds are ondol's, and
        // `rate(1 seconds)` reads as users write it.
        let d = if unit == "second" || unit == "seconds" {
            Duration::try_seconds(n)
        } else if one("minute") || many("minutes") {
            Duration::try_minutes(n)
        } else if one("hour") || many("hours") {
            Duration::try_hours(n)
        } else if one("day") || many("days") {
            Duration::try_days(n)
        } else {
            return Err(err(
                "rate",
                format!(
                    "expected minute(s), hour(s), day(s) or second(s) matching {n}, got \"{unit}\""
                ),
            ));
        };
        // A huge N would overflow the time arithmetic (chrono panics on it).
        match d.filter(|d| d.num_days() <= MAX_RATE_DAYS) {
            Some(d) => Ok(Expr::Rate(d)),
            None => Err(err(
                "rate",
                format!("\"{n} {unit}\" is longer than {MAX_RATE_DAYS} days"),
            )),
        }
    }

    /// The first slot strictly after `after`. Rates count from `anchor`.
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        tz: Tz,
        anchor: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Expr::Rate(d) => {
                let ms = d.num_milliseconds();
                let since = (after - anchor).num_milliseconds();
                let k = if since < 0 { 0 } else { since / ms + 1 };
                Some(anchor + Duration::milliseconds(k * ms))
            }
            Expr::Cron { cron, years } => {
                let mut t = after.with_timezone(&tz);
                for _ in 0..2000 {
                    let next = cron.find_next_occurrence(&t, false).ok()?;
                    if year_ok(years, next.year()) {
                        return Some(next.with_timezone(&Utc));
                    }
                    // Jump to the start of the next year.
                    t = tz
                        .with_ymd_and_hms(next.year() + 1, 1, 1, 0, 0, 0)
                        .earliest()?
                        - Duration::seconds(1);
                    if next.year() > 2199 {
                        return None;
                    }
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn next(expr: &str, tz: &str, after: &str) -> String {
        let tz: Tz = tz.parse().unwrap();
        let e = Expr::parse_at(expr, utc("2026-01-01T00:00:00Z")).unwrap();
        e.next_after(utc(after), tz, utc("2026-01-01T00:00:00Z"))
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn aws_cron_in_a_time_zone() {
        // 03:00 in Seoul (UTC+9, no DST) is 18:00 UTC the day before.
        assert_eq!(
            next("cron(0 3 * * ? *)", "Asia/Seoul", "2026-03-10T12:00:00Z"),
            "2026-03-10T18:00:00+00:00"
        );
        // Weekdays 1-7 are SUN-SAT: 2 = Monday. 2026-03-11 is a Wednesday.
        assert_eq!(
            next("cron(30 9 ? * 2 *)", "UTC", "2026-03-11T00:00:00Z"),
            "2026-03-16T09:30:00+00:00"
        );
        assert_eq!(
            next("cron(0 12 ? * MON-FRI *)", "UTC", "2026-03-13T13:00:00Z"),
            "2026-03-16T12:00:00+00:00"
        );
        // L: last day of the month; #: the third Friday (6 = FRI).
        assert_eq!(
            next("cron(0 0 L * ? *)", "UTC", "2026-02-10T00:00:00Z"),
            "2026-02-28T00:00:00+00:00"
        );
        assert_eq!(
            next("cron(0 10 ? * 6#3 *)", "UTC", "2026-03-01T00:00:00Z"),
            "2026-03-20T10:00:00+00:00"
        );
        // W: the weekday nearest the 15th (2026-03-15 is a Sunday → Monday the 16th).
        assert_eq!(
            next("cron(0 0 15W * ? *)", "UTC", "2026-03-01T00:00:00Z"),
            "2026-03-16T00:00:00+00:00"
        );
        // Steps, lists, ranges, and the year field.
        assert_eq!(
            next("cron(0/15 8-9 * * ? *)", "UTC", "2026-03-10T09:50:00Z"),
            "2026-03-11T08:00:00+00:00"
        );
        assert_eq!(
            next("cron(0 0 1 1,7 ? 2028)", "UTC", "2026-03-10T00:00:00Z"),
            "2028-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn dst_is_followed() {
        // New York switches to EDT on 2026-03-08: 09:00 local is 14:00 UTC before, 13:00 after.
        assert_eq!(
            next(
                "cron(0 9 * * ? *)",
                "America/New_York",
                "2026-03-06T15:00:00Z"
            ),
            "2026-03-07T14:00:00+00:00"
        );
        assert_eq!(
            next(
                "cron(0 9 * * ? *)",
                "America/New_York",
                "2026-03-07T15:00:00Z"
            ),
            "2026-03-08T13:00:00+00:00"
        );
    }

    #[test]
    fn five_field_cron_and_rates() {
        assert_eq!(
            next("*/5 * * * *", "UTC", "2026-03-10T10:02:00Z"),
            "2026-03-10T10:05:00+00:00"
        );
        assert_eq!(
            next("0 9 * * 1", "UTC", "2026-03-11T00:00:00Z"),
            "2026-03-16T09:00:00+00:00",
            "1 = Monday in 5-field cron"
        );
        assert_eq!(
            next("rate(5 minutes)", "UTC", "2026-01-01T00:07:00Z"),
            "2026-01-01T00:10:00+00:00"
        );
        assert_eq!(
            next("rate(1 seconds)", "UTC", "2026-01-01T00:00:00.500Z"),
            "2026-01-01T00:00:01+00:00"
        );
        assert_eq!(
            next("rate(1 day)", "UTC", "2026-01-01T00:00:00Z"),
            "2026-01-02T00:00:00+00:00"
        );
    }

    #[test]
    fn bad_expressions_name_the_field() {
        let e = |s: &str| Expr::parse(s).unwrap_err();
        assert!(
            e("cron(0 25 * * ? *)").starts_with("hours:"),
            "{}",
            e("cron(0 25 * * ? *)")
        );
        assert!(e("cron(0 3 * * * *)").starts_with("day-of-month:"));
        assert!(e("cron(0 3 * * ? 1800)").starts_with("year:"));
        assert!(e("cron(0 3 * *)").contains("expected 6 fields"));
        assert!(e("rate(5 fortnights)").starts_with("rate:"));
        assert!(
            e("rate(1 minutes)").starts_with("rate:"),
            "1 takes the singular, as in AWS"
        );
        assert!(e("rate(0 minutes)").starts_with("rate:"));
        assert!(e("61 * * * *").starts_with("minutes:"));
    }

    #[test]
    fn never_firing_expressions_are_refused() {
        let now = utc("2026-03-01T00:00:00Z");
        let e = |s: &str| Expr::parse_at(s, now).unwrap_err();
        assert!(e("cron(0 0 31 2 ? *)").starts_with("day-of-month: no date"));
        assert!(e("cron(0 0 30 2 ? *)").starts_with("day-of-month: no date"));
        assert!(e("cron(0 0 31 4,6 ? *)").starts_with("day-of-month: no date"));
        assert!(e("0 0 31 2 *").starts_with("day-of-month: no date"));
        assert!(e("cron(0 0 1 1 ? 2020)").starts_with("year: every year given is in the past"));
        assert!(e("cron(0 0 1 1 ? 2020-2025)").starts_with("year: every year"));
        assert!(e("cron(1,,2 * * * ? *)").starts_with("minutes: \"1,,2\" has an empty list item"));
        assert!(e("cron(1, * * * ? *)").starts_with("minutes:"));
        assert!(e("cron(, * * * ? *)").starts_with("minutes:"));
        assert!(e("0 1,,2 * * *").starts_with("hours:"));
        assert!(e("rate(9223372036854775807 days)").starts_with("rate:"));
        assert!(e("rate(9223372036854775807 seconds)").starts_with("rate:"));
        // Still fine: this year's remaining dates, a leap day, the last day.
        assert!(Expr::parse_at("cron(0 0 1 6 ? 2026)", now).is_ok());
        assert!(Expr::parse_at("cron(0 0 29 2 ? *)", now).is_ok());
        assert!(Expr::parse_at("cron(0 0 L 2 ? *)", now).is_ok());
        assert!(Expr::parse_at("rate(36000 days)", now).is_ok());
    }
}
