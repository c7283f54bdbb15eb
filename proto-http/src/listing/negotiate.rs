//! Choosing between the HTML and the JSON listing from `Accept`
//! (RFC 9110 §12.5.1).

use http::HeaderMap;
use http::header::ACCEPT;

/// Longest run of `Accept` media ranges looked at; the rest is ignored.
const MAX_MEDIA_RANGES: usize = 64;

/// Whether the client prefers `application/json` to `text/html`.
///
/// RFC 9110 §12.5.1: `Accept = #( media-range [ weight ] )`; "Media ranges
/// can be overridden by more specific media ranges or specific media types.
/// If more than one media range applies to a given type, the most specific
/// reference has precedence." Each type gets the weight (`q`, default 1) of
/// the most specific range that matches it (`type/subtype` over `type/*`
/// over `*/*`, and at equal specificity the highest weight); a type no
/// range matches gets 0. JSON wins only with a strictly higher weight, so
/// no `Accept`, `*/*` or a browser's usual value give HTML. Elements with
/// an invalid weight are skipped.
pub fn wants_json(headers: &HeaderMap) -> bool {
    let mut json = Best::default();
    let mut html = Best::default();
    let elements = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .take(MAX_MEDIA_RANGES);
    for element in elements {
        let Some((media_type, subtype, q)) = parse_element(element) else {
            continue;
        };
        json.consider(&media_type, &subtype, q, "application", "json");
        html.consider(&media_type, &subtype, q, "text", "html");
    }
    json.weight() > html.weight()
}

/// The most specific matching range seen so far for one type.
#[derive(Debug, Default)]
struct Best {
    /// `(specificity, q)`, q in thousandths.
    found: Option<(u8, u16)>,
}

impl Best {
    /// Takes a media range into account for `want_type/want_subtype`.
    fn consider(&mut self, ty: &str, subtype: &str, q: u16, want_type: &str, want_subtype: &str) {
        let specificity = match (ty, subtype) {
            ("*", "*") => 0,
            (t, "*") if t == want_type => 1,
            (t, s) if t == want_type && s == want_subtype => 2,
            _ => return,
        };
        let better = match self.found {
            None => true,
            Some((spec, best_q)) => specificity > spec || (specificity == spec && q > best_q),
        };
        if better {
            self.found = Some((specificity, q));
        }
    }

    /// The weight that applies (0 when nothing matched).
    fn weight(&self) -> u16 {
        self.found.map_or(0, |(_, q)| q)
    }
}

/// Parses `type "/" subtype *( OWS ";" OWS parameter )` into lowercase type,
/// subtype and the weight in thousandths.
fn parse_element(element: &str) -> Option<(String, String, u16)> {
    let mut parts = element.split(';');
    let range = parts.next()?.trim();
    let (ty, subtype) = range.split_once('/')?;
    let (ty, subtype) = (ty.trim(), subtype.trim());
    if ty.is_empty() || subtype.is_empty() || (ty == "*" && subtype != "*") {
        return None;
    }
    let mut q = 1000;
    for param in parts {
        if let Some((name, value)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("q")
        {
            q = parse_qvalue(value.trim())?;
        }
    }
    Some((ty.to_ascii_lowercase(), subtype.to_ascii_lowercase(), q))
}

/// RFC 9110 §12.4.2: `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "."
/// 0*3("0") ] )`, in thousandths.
fn parse_qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qvalues() {
        let cases = [
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("0", Some(0)),
            ("0.5", Some(500)),
            ("0.123", Some(123)),
            ("0.1234", None),
            ("1.1", None),
            ("2", None),
            ("", None),
            ("0.x", None),
            ("-0", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_qvalue(input), want, "{input:?}");
        }
    }
}
