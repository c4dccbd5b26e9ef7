//! Reading durations from the command line and describing them to people.
//!
//! Policy windows are given as `30d`, `12h`, `90m`, `45s` or a bare number of days. Timeouts
//! and lock timings ([`parse_duration_with_unit`]) need their unit: there a bare number would
//! be read as seconds by some and days by others. Units are lower-case only: `M` could mean
//! months to a reader, and refusing it is cheaper than guessing.

use time::Duration;

const SECONDS_PER_MINUTE: i64 = 60;
const SECONDS_PER_HOUR: i64 = 60 * SECONDS_PER_MINUTE;
const SECONDS_PER_DAY: i64 = 24 * SECONDS_PER_HOUR;

const ACCEPTED: &str =
    "use a whole number with d, h, m or s (30d, 12h, 90m, 45s), or a bare number of days";

const UNIT_REQUIRED: &str = "give a unit: 30s, 5m, 2h or 1d";

/// Parses a policy window such as `30d`, `12h`, `90m`, `45s` or `14` (days).
///
/// The error says what went wrong and what is accepted, so it can be shown to the user as is
/// (it is shaped to be used as a clap `value_parser`).
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    parse(input, ACCEPTED, true)
}

/// Parses a duration that must carry its unit (`30s`, `5m`, `2h`, `1d`): a timeout or a lock
/// timing, where a bare number would be ambiguous. A bare number is refused with a message
/// asking for the unit.
pub fn parse_duration_with_unit(input: &str) -> Result<Duration, String> {
    let text = input.trim();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "invalid duration {input:?}: a bare number is ambiguous here; {UNIT_REQUIRED} (e.g. {text}s)"
        ));
    }
    parse(input, UNIT_REQUIRED, false)
}

fn parse(input: &str, accepted: &str, bare_days: bool) -> Result<Duration, String> {
    let text = input.trim();
    if text.is_empty() {
        return Err(format!(
            "invalid duration {input:?}: it is empty; {accepted}"
        ));
    }
    if text.starts_with('-') {
        return Err(format!(
            "invalid duration {input:?}: it must not be negative; {accepted}"
        ));
    }

    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let seconds_per_unit = match unit {
        "" if bare_days => SECONDS_PER_DAY,
        "d" => SECONDS_PER_DAY,
        "h" => SECONDS_PER_HOUR,
        "m" => SECONDS_PER_MINUTE,
        "s" => 1,
        _ => return Err(format!("invalid duration {input:?}: {accepted}")),
    };
    if digits.is_empty() {
        return Err(format!("invalid duration {input:?}: {accepted}"));
    }

    // Digits only by construction, so a parse failure can only mean the number is too large.
    let too_large = || format!("invalid duration {input:?}: the number is too large");
    let amount: i64 = digits.parse().map_err(|_| too_large())?;
    let seconds = amount.checked_mul(seconds_per_unit).ok_or_else(too_large)?;
    Ok(Duration::seconds(seconds))
}

/// Describes a policy window exactly, in the largest unit that divides it: `7 days`,
/// `36 hours`, `90 minutes`.
pub fn describe_window(window: Duration) -> String {
    let seconds = window.whole_seconds();
    let (amount, unit) = if seconds != 0 && seconds % SECONDS_PER_DAY == 0 {
        (seconds / SECONDS_PER_DAY, "day")
    } else if seconds != 0 && seconds % SECONDS_PER_HOUR == 0 {
        (seconds / SECONDS_PER_HOUR, "hour")
    } else if seconds != 0 && seconds % SECONDS_PER_MINUTE == 0 {
        (seconds / SECONDS_PER_MINUTE, "minute")
    } else {
        (seconds, "second")
    };
    plural(amount, unit)
}

/// Describes a span of time roughly, rounded down to whole units of the largest unit that
/// fits: 5 days 23 hours is `5 days`; 3 hours 10 minutes is `3 hours`. The sign is ignored:
/// callers say "in …" or "… ago" themselves.
pub fn describe_span(span: Duration) -> String {
    let seconds = span.whole_seconds().unsigned_abs();
    let units = [
        (SECONDS_PER_DAY.unsigned_abs(), "day"),
        (SECONDS_PER_HOUR.unsigned_abs(), "hour"),
        (SECONDS_PER_MINUTE.unsigned_abs(), "minute"),
    ];
    let (amount, unit) = units
        .into_iter()
        .find(|&(unit_seconds, _)| seconds >= unit_seconds)
        .map_or((seconds, "second"), |(unit_seconds, unit)| {
            (seconds / unit_seconds, unit)
        });
    plural(amount, unit)
}

/// Whole days left until an expiry, rounded towards zero like [`describe_span`], so the days
/// column and the message agree: expired 3 days 5 hours ago is -3 beside "expired 3 days ago";
/// expiring in 23 hours is 0 beside "expires in 23 hours", and so is having expired 23 hours
/// ago (the state says which).
pub fn whole_days_left(expires_in_seconds: i64) -> i64 {
    expires_in_seconds / SECONDS_PER_DAY
}

fn plural(amount: impl Into<i128>, unit: &str) -> String {
    let amount = amount.into();
    if amount == 1 || amount == -1 {
        format!("{amount} {unit}")
    } else {
        format!("{amount} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_unit_and_bare_days() {
        assert_eq!(parse_duration("30d"), Ok(Duration::days(30)));
        assert_eq!(parse_duration("12h"), Ok(Duration::hours(12)));
        assert_eq!(parse_duration("90m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration("45s"), Ok(Duration::seconds(45)));
        assert_eq!(parse_duration("14"), Ok(Duration::days(14)));
        assert_eq!(parse_duration("0d"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(" 7d "), Ok(Duration::days(7)));
        assert_eq!(parse_duration("007d"), Ok(Duration::days(7)));
    }

    #[test]
    fn rejects_unknown_units_with_what_is_accepted() {
        let error = parse_duration("3w").unwrap_err();
        assert_eq!(
            error,
            "invalid duration \"3w\": use a whole number with d, h, m or s \
             (30d, 12h, 90m, 45s), or a bare number of days"
        );
        for bad in ["30D", "1.5d", "d", "30dd", "30 d", "+5d", "1d12h", "ten"] {
            let error = parse_duration(bad).unwrap_err();
            assert!(error.contains("use a whole number"), "{bad}: {error}");
        }
    }

    #[test]
    fn rejects_empty_negative_and_overflow() {
        assert!(parse_duration("").unwrap_err().contains("it is empty"));
        assert!(parse_duration("  ").unwrap_err().contains("it is empty"));
        assert!(parse_duration("-5d")
            .unwrap_err()
            .contains("must not be negative"));
        assert!(parse_duration("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        // Fits in i64 as a number, overflows once converted to seconds.
        assert!(parse_duration("9223372036854775807d")
            .unwrap_err()
            .contains("too large"));
        assert_eq!(
            parse_duration("9223372036854775807s"),
            Ok(Duration::seconds(i64::MAX))
        );
    }

    #[test]
    fn errors_quote_the_input_on_one_line() {
        // Found by fuzzing keyrot.toml: a duration written as a multi-line TOML string made a
        // multi-line error, which keyrot.toml's errors (one line, file:line:col) must not be.
        for bad in [
            "3\nw",
            "\"30d\"\n::error::x",
            "\r",
            "-\n1d",
            "99999999999999999999\n",
        ] {
            for error in [
                parse_duration(bad).unwrap_err(),
                parse_duration_with_unit(bad).unwrap_err(),
            ] {
                assert!(!error.contains(['\n', '\r']), "{error:?}");
                assert!(
                    error.starts_with(&format!("invalid duration {bad:?}")),
                    "{error}"
                );
            }
        }
    }

    #[test]
    fn windows_are_described_exactly() {
        assert_eq!(describe_window(Duration::days(7)), "7 days");
        assert_eq!(describe_window(Duration::days(1)), "1 day");
        assert_eq!(describe_window(Duration::hours(36)), "36 hours");
        assert_eq!(describe_window(Duration::minutes(90)), "90 minutes");
        assert_eq!(describe_window(Duration::seconds(61)), "61 seconds");
        assert_eq!(describe_window(Duration::ZERO), "0 seconds");
    }

    #[test]
    fn spans_are_rounded_down_and_unsigned() {
        assert_eq!(describe_span(Duration::hours(5 * 24 + 23)), "5 days");
        assert_eq!(describe_span(Duration::days(-3)), "3 days");
        assert_eq!(describe_span(Duration::minutes(190)), "3 hours");
        assert_eq!(describe_span(Duration::seconds(59)), "59 seconds");
        assert_eq!(describe_span(Duration::seconds(60)), "1 minute");
        assert_eq!(describe_span(Duration::days(1)), "1 day");
    }

    #[test]
    fn days_left_and_spans_round_the_same_way_at_every_boundary() {
        // (seconds until expiry, days left, the span the message shows)
        let cases = [
            (0, 0, "0 seconds"),
            (23 * 3600, 0, "23 hours"),
            (86_399, 0, "23 hours"),
            (86_400, 1, "1 day"),
            (86_401, 1, "1 day"),
            (2 * 86_400 - 1, 1, "1 day"),
            (-1, 0, "1 second"),
            (-86_399, 0, "23 hours"),
            (-86_400, -1, "1 day"),
            (-86_401, -1, "1 day"),
            (-(3 * 86_400 + 5 * 3600), -3, "3 days"),
            (-(4 * 86_400) + 1, -3, "3 days"),
            (-(4 * 86_400), -4, "4 days"),
        ];
        for (seconds, days, span) in cases {
            assert_eq!(whole_days_left(seconds), days, "{seconds}");
            assert_eq!(describe_span(Duration::seconds(seconds)), span, "{seconds}");
            // Whenever the message counts days, it counts the column's days.
            if span.ends_with("day") || span.ends_with("days") {
                assert_eq!(
                    span.split(' ').next(),
                    Some(days.abs().to_string().as_str())
                );
            }
        }
    }

    #[test]
    fn durations_that_need_a_unit_refuse_bare_numbers() {
        assert_eq!(parse_duration_with_unit("30s"), Ok(Duration::seconds(30)));
        assert_eq!(parse_duration_with_unit("5m"), Ok(Duration::minutes(5)));
        assert_eq!(parse_duration_with_unit("2h"), Ok(Duration::hours(2)));
        assert_eq!(parse_duration_with_unit(" 1d "), Ok(Duration::days(1)));
        assert_eq!(
            parse_duration_with_unit("30").unwrap_err(),
            "invalid duration \"30\": a bare number is ambiguous here; give a unit: 30s, 5m, 2h or 1d (e.g. 30s)"
        );
        for bad in ["", "1.5s", "3w", "-5s", "s"] {
            let error = parse_duration_with_unit(bad).unwrap_err();
            assert!(error.contains("give a unit: 30s, 5m"), "{bad}: {error}");
        }
        // Policy windows keep bare days.
        assert_eq!(parse_duration("30"), Ok(Duration::days(30)));
    }
}
