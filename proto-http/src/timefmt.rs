//! Time helpers shared by the conditional-request and listing code:
//! whole-second Unix time and UTC calendar formatting. No clock is read.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// Seconds since the Unix epoch, rounded down (towards the past, also before
/// 1970). `None` only if the value does not fit an `i64`.
pub(crate) fn unix_seconds(t: SystemTime) -> Option<i64> {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok(),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).ok()?;
            let floor = if d.subsec_nanos() > 0 { 1 } else { 0 };
            secs.checked_neg()?.checked_sub(floor)
        }
    }
}

/// The UTC calendar date and time of `t`, for years 0000–9999 only.
pub(crate) fn utc(t: SystemTime) -> Option<OffsetDateTime> {
    let dt = OffsetDateTime::from_unix_timestamp(unix_seconds(t)?).ok()?;
    (0..=9999).contains(&dt.year()).then_some(dt)
}

/// `YYYY-MM-DD HH:MM` in UTC, `None` outside years 0000–9999.
pub(crate) fn minutes_utc(t: SystemTime) -> Option<String> {
    let dt = utc(t)?;
    Some(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute()
    ))
}

/// RFC 3339 UTC with whole seconds, `YYYY-MM-DDTHH:MM:SSZ`; `None` outside
/// years 0000–9999 (RFC 3339 §5.6 `date-fullyear = 4DIGIT`).
pub(crate) fn rfc3339_utc(t: SystemTime) -> Option<String> {
    let dt = utc(t)?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn floors_before_and_after_the_epoch() {
        let cases = [
            (UNIX_EPOCH, 0),
            (UNIX_EPOCH + Duration::from_millis(1_999), 1),
            (UNIX_EPOCH - Duration::from_millis(1), -1),
            (UNIX_EPOCH - Duration::from_secs(2), -2),
            (UNIX_EPOCH - Duration::from_millis(2_500), -3),
        ];
        for (t, want) in cases {
            assert_eq!(unix_seconds(t), Some(want), "{t:?}");
        }
    }

    #[test]
    fn formats_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_704_207_845); // 2024-01-02T15:04:05Z
        assert_eq!(minutes_utc(t).as_deref(), Some("2024-01-02 15:04"));
        assert_eq!(rfc3339_utc(t).as_deref(), Some("2024-01-02T15:04:05Z"));
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(rfc3339_utc(before).as_deref(), Some("1969-12-31T23:59:59Z"));
        let far = UNIX_EPOCH + Duration::from_secs(300_000_000_000);
        assert_eq!(rfc3339_utc(far), None);
    }
}
