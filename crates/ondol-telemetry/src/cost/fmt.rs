//! Figures as a person reads them in a formula: `2,592,000`, `$0.52`.

/// A whole count with thousands separators.
pub fn count(n: f64) -> String {
    let whole = n.round() as u64;
    let s = whole.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A quantity that may have a fraction (GB-seconds): grouped, up to 3 decimals.
pub fn amount(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        return count(x);
    }
    let frac = format!("{:.3}", x.fract().abs());
    format!(
        "{}{}",
        count(x.trunc()),
        frac.trim_start_matches('0').trim_end_matches('0')
    )
}

/// Dollars: cents, or more digits below a cent so a small figure isn't `$0.00`.
pub fn usd(x: f64) -> String {
    if x == 0.0 || x.abs() >= 0.01 {
        format!("${:.2}", x)
    } else {
        format!("${:.6}", x)
    }
}

/// A unit price exactly as the table has it.
pub fn price(x: f64) -> String {
    let s = format!("{x:.10}");
    let s = s.trim_end_matches('0');
    let s = if s.ends_with('.') {
        format!("{s}00")
    } else {
        s.to_string()
    };
    let decimals = s.split('.').nth(1).map_or(0, str::len);
    if decimals < 2 {
        format!("${s}0")
    } else {
        format!("${s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures() {
        assert_eq!(count(2_592_000.0), "2,592,000");
        assert_eq!(count(999.0), "999");
        assert_eq!(usd(0.5184), "$0.52");
        assert_eq!(usd(0.0000034), "$0.000003");
        assert_eq!(price(0.2), "$0.20");
        assert_eq!(price(0.0000166667), "$0.0000166667");
        assert_eq!(price(1.0), "$1.00");
        assert_eq!(amount(1234.5), "1,234.5");
    }
}
