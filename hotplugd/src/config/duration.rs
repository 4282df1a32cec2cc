//! Go-style durations (`300ms`, `5s`, `1m30s`, `1.5h`), as Go's `time.ParseDuration` reads them.

use std::fmt;
use std::time::Duration;

/// Go's limit: a `time.Duration` is an `int64` of nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationProblem {
    /// Not of the form `[-+]?(<number><unit>)+`.
    Malformed,
    /// A number without a unit (only `0` may go without one).
    MissingUnit,
    /// A unit other than ns, us, µs, ms, s, m, h.
    UnknownUnit(String),
    /// More than Go's 292 years.
    TooLong,
    /// Zero or negative.
    NotPositive,
}

impl fmt::Display for DurationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationProblem::Malformed => {
                f.write_str("is not a duration (write it like 300ms, 5s, 1m30s or 2h)")
            }
            DurationProblem::MissingUnit => {
                f.write_str("has a number without a unit (ns, us, ms, s, m or h)")
            }
            DurationProblem::UnknownUnit(unit) => write!(
                f,
                "has the unknown unit {unit:?} (use ns, us, ms, s, m or h)"
            ),
            DurationProblem::TooLong => f.write_str("is too long"),
            DurationProblem::NotPositive => f.write_str("must be greater than zero"),
        }
    }
}

/// Parses a positive Go-style duration: a sequence of decimal numbers (with optional fraction),
/// each followed by a unit (`ns`, `us` or `µs`, `ms`, `s`, `m`, `h`), like Go's
/// `time.ParseDuration`. Zero and negative durations are refused.
///
/// ```
/// use std::time::Duration;
/// use hotplugd::config::parse_duration;
///
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("5").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationProblem> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Err(DurationProblem::NotPositive);
    }
    if rest.is_empty() {
        return Err(DurationProblem::Malformed);
    }
    let mut total: u128 = 0;
    let mut rest = rest;
    while !rest.is_empty() {
        let (whole, after_whole) = split_digits(rest);
        let (fraction, after_number) = match after_whole.strip_prefix('.') {
            Some(after_dot) => split_digits(after_dot),
            None => ("", after_whole),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(DurationProblem::Malformed);
        }
        let unit_len = after_number
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        let scale = unit_nanos(unit)?;
        total = total
            .checked_add(amount(whole, fraction, scale).ok_or(DurationProblem::TooLong)?)
            .filter(|total| *total <= MAX_NANOS)
            .ok_or(DurationProblem::TooLong)?;
        rest = after_unit;
    }
    if negative || total == 0 {
        return Err(DurationProblem::NotPositive);
    }
    let nanos = u64::try_from(total).map_err(|_| DurationProblem::TooLong)?;
    Ok(Duration::from_nanos(nanos))
}

fn split_digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(end)
}

fn unit_nanos(unit: &str) -> Result<u128, DurationProblem> {
    Ok(match unit {
        "" => return Err(DurationProblem::MissingUnit),
        "ns" => 1,
        // U+00B5 (micro sign) and U+03BC (Greek mu), as Go accepts both.
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        other => return Err(DurationProblem::UnknownUnit(other.to_owned())),
    })
}

/// `whole.fraction` units in nanoseconds, the fraction truncated to whole nanoseconds; `None` on
/// overflow.
fn amount(whole: &str, fraction: &str, scale: u128) -> Option<u128> {
    let whole_value = digits_value(whole)?;
    // Digits past the 18th cannot add a nanosecond (scale is at most 3.6e12).
    let fraction = &fraction[..fraction.len().min(18)];
    let fraction_value = digits_value(fraction)?;
    let denominator = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
    whole_value
        .checked_mul(scale)?
        .checked_add(fraction_value.checked_mul(scale)? / denominator)
}

fn digits_value(digits: &str) -> Option<u128> {
    digits.bytes().try_fold(0u128, |value, digit| {
        value
            .checked_mul(10)?
            .checked_add(u128::from(digit - b'0'))
            .filter(|value| *value <= MAX_NANOS)
    })
}

/// Formats a duration as Go's `Duration.String` does: `5s`, `1m30s`, `300ms`, `1.5µs`, `2h0m0s`.
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (scale, unit) = match nanos {
            n if n < 1_000 => (1, "ns"),
            n if n < 1_000_000 => (1_000, "\u{b5}s"),
            _ => (1_000_000, "ms"),
        };
        return format!("{}{unit}", decimal(nanos, scale));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = decimal(nanos % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// `value / scale` with the fraction's trailing zeros dropped.
fn decimal(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let fraction = value % scale;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let cases = [
            ("300ms", Duration::from_millis(300)),
            ("5s", Duration::from_secs(5)),
            ("+5s", Duration::from_secs(5)),
            ("1m30s", Duration::from_secs(90)),
            ("2h", Duration::from_secs(7200)),
            ("1.5s", Duration::from_millis(1500)),
            (".5s", Duration::from_millis(500)),
            ("5.s", Duration::from_secs(5)),
            ("1h2m3s4ms5us6ns", Duration::new(3723, 4_005_006)),
            ("10\u{b5}s", Duration::from_micros(10)),
            ("10\u{3bc}s", Duration::from_micros(10)),
            ("1.0000000001s", Duration::from_secs(1)),
            (
                "0.3333333333333333333333h",
                Duration::from_nanos(1_199_999_999_999),
            ),
            (
                "2562047h47m16.854775807s",
                Duration::from_nanos(i64::MAX as u64),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn refused_durations() {
        use DurationProblem::*;
        let cases = [
            ("", Malformed),
            ("s", Malformed),
            (".s", Malformed),
            ("-", Malformed),
            ("5", MissingUnit),
            ("1m30", MissingUnit),
            ("5 s", UnknownUnit(" s".into())),
            ("5sec", UnknownUnit("sec".into())),
            ("5S", UnknownUnit("S".into())),
            ("0", NotPositive),
            ("0s", NotPositive),
            ("-5s", NotPositive),
            ("-0", NotPositive),
            ("2562047h47m16.854775808s", TooLong),
            ("99999999999999999999999999999999999h", TooLong),
        ];
        for (text, problem) in cases {
            assert_eq!(parse_duration(text), Err(problem), "{text:?}");
        }
    }

    #[test]
    fn formats_as_go_does() {
        let cases = [
            (Duration::from_secs(5), "5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(7200), "2h0m0s"),
            (Duration::from_millis(300), "300ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_nanos(1500), "1.5\u{b5}s"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::ZERO, "0s"),
            // Each unit from its first whole value on.
            (Duration::from_nanos(1_000), "1\u{b5}s"),
            (Duration::from_millis(1), "1ms"),
            (Duration::from_secs(1), "1s"),
        ];
        for (duration, text) in cases {
            assert_eq!(format_duration(duration), text);
            if !duration.is_zero() {
                assert_eq!(parse_duration(text), Ok(duration), "round trip of {text}");
            }
        }
    }
}
