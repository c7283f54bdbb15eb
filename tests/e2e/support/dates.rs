//! Timestamps the server emits, as Unix seconds: RFC 3339 UTC (JSON listings),
//! IMF-fixdate (`Last-Modified`) and MDTM values, and the times they are compared
//! with (now; a stored file's time comes from [`TestStore::mtime_secs`](super::TestStore::mtime_secs)).
//!
//! IMF-fixdate is parsed by the `httpdate` crate. The `time` crate does the
//! calendar arithmetic of the other two; it is built without its `parsing`
//! feature, so their fixed layouts are matched here by [`parse_layout`].

use std::time::{SystemTime, UNIX_EPOCH};

use time::{Date, Month, PrimitiveDateTime, Time};

/// Strict RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SS[.frac]Z`) → Unix seconds.
pub fn parse_rfc3339_utc(s: &str) -> Option<i64> {
    let body = s.strip_suffix('Z')?;
    parse_layout(strip_fraction(body)?, "YYYY-MM-DDThh:mm:ss")
}

/// MDTM value (`YYYYMMDDHHMMSS[.frac]`, UTC; RFC 3659 §2.3) → Unix seconds.
pub fn parse_mdtm(s: &str) -> Option<i64> {
    parse_layout(strip_fraction(s)?, "YYYYMMDDhhmmss")
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) → Unix
/// seconds. `httpdate` also accepts the obsolete RFC 850 and asctime forms, which a
/// server must not send, so the text must also be exactly what formatting the
/// parsed time gives back.
pub fn parse_imf_fixdate(s: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(s).ok()?;
    (httpdate::fmt_http_date(t) == s).then(|| unix_secs(t))
}

/// Now, in Unix seconds.
pub fn now_secs() -> i64 {
    unix_secs(SystemTime::now())
}

/// Whole Unix seconds of `t` (0 before the epoch).
pub fn unix_secs(t: SystemTime) -> i64 {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    i64::try_from(secs).expect("the time fits in i64")
}

/// `main[.frac]` → `main`; a fraction, when present, must be one or more digits.
fn strip_fraction(s: &str) -> Option<&str> {
    match s.split_once('.') {
        None => Some(s),
        Some((main, frac)) => (!frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit())).then_some(main),
    }
}

/// A UTC date and time laid out exactly as `layout` → Unix seconds. In `layout`,
/// `Y M D h m s` each stand for one ASCII digit of year, month, day, hour, minute
/// and second; any other character must appear as is. `None` when the text does
/// not match or is no real date and time (the `time` crate checks the calendar).
fn parse_layout(s: &str, layout: &str) -> Option<i64> {
    if s.len() != layout.len() {
        return None;
    }
    let mut fields = [0u32; 6];
    for (c, l) in s.bytes().zip(layout.bytes()) {
        match b"YMDhms".iter().position(|f| *f == l) {
            Some(i) if c.is_ascii_digit() => fields[i] = fields[i] * 10 + u32::from(c - b'0'),
            Some(_) => return None,
            None if c == l => {}
            None => return None,
        }
    }
    let [year, month, day, hour, minute, second] = fields;
    let small = |v: u32| u8::try_from(v).ok();
    let date = Date::from_calendar_date(
        i32::try_from(year).ok()?,
        Month::try_from(small(month)?).ok()?,
        small(day)?,
    )
    .ok()?;
    let time = Time::from_hms(small(hour)?, small(minute)?, small(second)?).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc().unix_timestamp())
}

#[cfg(test)]
mod self_tests {
    use super::*;

    /// 1994-11-06 08:49:37 UTC, the example date of RFC 9110.
    const RFC_EXAMPLE: i64 = 784_111_777;

    #[test]
    fn rfc3339_utc_only() {
        assert_eq!(parse_rfc3339_utc("1994-11-06T08:49:37Z"), Some(RFC_EXAMPLE));
        assert_eq!(parse_rfc3339_utc("1994-11-06T08:49:37.250Z"), Some(RFC_EXAMPLE));
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_utc("1994-11-06T08:49:37+00:00"), None);
        assert_eq!(parse_rfc3339_utc("1994-11-06T08:49:37"), None);
        assert_eq!(parse_rfc3339_utc("1994-11-06T08:49:37.Z"), None);
        assert_eq!(parse_rfc3339_utc("1994-11-06 08:49:37Z"), None);
        assert_eq!(parse_rfc3339_utc("1994-11-6T08:49:37Z"), None);
        assert_eq!(parse_rfc3339_utc("1994-02-30T08:49:37Z"), None);
        assert_eq!(parse_rfc3339_utc("1994-11-06T24:00:00Z"), None);
    }

    #[test]
    fn imf_fixdate_only() {
        assert_eq!(parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"), Some(RFC_EXAMPLE));
        // The obsolete forms (RFC 9110 §5.6.7) are valid dates but not IMF-fixdate.
        assert_eq!(parse_imf_fixdate("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_imf_fixdate("Sun Nov  6 08:49:37 1994"), None);
        assert_eq!(parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 UTC"), None);
    }

    #[test]
    fn mdtm_with_and_without_fraction() {
        assert_eq!(parse_mdtm("19941106084937"), Some(RFC_EXAMPLE));
        assert_eq!(parse_mdtm("19941106084937.123"), Some(RFC_EXAMPLE));
        assert_eq!(parse_mdtm("1994110608493"), None);
        assert_eq!(parse_mdtm("19941106084937."), None);
        assert_eq!(parse_mdtm("1994110608493x"), None);
        assert_eq!(parse_mdtm("19941306084937"), None);
    }
}
