//! How instants are written for people and for machines, always in UTC so a report reads the
//! same wherever the pipeline agent runs.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The UTC calendar date of an instant, e.g. `2026-11-23`.
pub fn utc_date(instant: OffsetDateTime) -> String {
    instant.to_offset(UtcOffset::UTC).date().to_string()
}

/// An instant as RFC 3339 in UTC with a `Z` suffix, e.g. `2026-11-23T08:00:00Z`.
///
/// RFC 3339 cannot write years before 0 (the `time` crate refuses to); no vault reports such a
/// date, but rather than panic on one we fall back to `time`'s own display form.
pub fn rfc3339_utc(instant: OffsetDateTime) -> String {
    let utc = instant.to_offset(UtcOffset::UTC);
    utc.format(&Rfc3339).unwrap_or_else(|_| utc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dates_and_timestamps_are_utc() {
        let late_evening_west = datetime!(2026-11-23 22:30 -05:00);
        assert_eq!(utc_date(late_evening_west), "2026-11-24");
        assert_eq!(rfc3339_utc(late_evening_west), "2026-11-24T03:30:00Z");
        assert_eq!(
            rfc3339_utc(datetime!(2026-01-02 03:04:05.5 UTC)),
            "2026-01-02T03:04:05.5Z"
        );
    }
}
