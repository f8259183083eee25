//! Store-local times: storefronts that send a date-time without an offset (Shift4Shop,
//! Digistore24) mean the store's zone, which each connection declares (`timezone`, IANA).

use time::OffsetDateTime;

use crate::error::ParseError;

/// The instant of `local`, a date-time in `timezone` (UTC when none). `Ok(None)` when the
/// value cannot be placed (out of range); an unknown zone is an error, so the delivery is kept
/// in the DLQ until the connection's configuration is fixed.
pub fn in_zone(
    local: jiff::civil::DateTime,
    timezone: Option<&str>,
) -> Result<Option<OffsetDateTime>, ParseError> {
    let tz = match timezone {
        Some(name) => jiff::tz::db().get(name).map_err(|e| ParseError::Invalid {
            field: "timezone",
            reason: format!("connection time zone {name:?}: {e}"),
        })?,
        None => jiff::tz::TimeZone::UTC,
    };
    Ok(tz.to_timestamp(local).ok().and_then(instant))
}

/// A `jiff` timestamp as the `time` type events carry.
pub fn instant(ts: jiff::Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(ts.as_nanosecond()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_become_utc() {
        let local: jiff::civil::DateTime = "2026-03-14T09:26:53".parse().unwrap();
        let berlin = in_zone(local, Some("Europe/Berlin")).unwrap().unwrap();
        assert_eq!(
            berlin.unix_timestamp(),
            in_zone(local, None).unwrap().unwrap().unix_timestamp() - 3600
        );
        assert!(in_zone(local, Some("Mars/Olympus")).is_err());
    }
}
