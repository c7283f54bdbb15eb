//! HTML and JSON listings, Accept negotiation, human sizes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use proto_http::listing::{
    HTML_CONTENT_TYPE, HtmlListing, JSON_CONTENT_TYPE, JsonListing, ListingEntry, human_size, wants_json,
};

/// 2024-01-02T15:04:05Z
const T: u64 = 1_704_207_845;

fn file<'a>(name: &'a str, size: u64) -> ListingEntry<'a> {
    ListingEntry {
        name,
        is_dir: false,
        size,
        modified: Some(UNIX_EPOCH + Duration::from_secs(T)),
    }
}

fn dir(name: &str) -> ListingEntry<'_> {
    ListingEntry {
        name,
        is_dir: true,
        size: 4096,
        modified: None,
    }
}

fn page(path: &str, entries: &[ListingEntry<'_>]) -> String {
    let listing = HtmlListing::new(path);
    let mut out = listing.head();
    for e in entries {
        out.push_str(&listing.row(e));
    }
    out.push_str(&listing.tail(entries.len() as u64));
    out
}

#[test]
fn content_types() {
    assert_eq!(HTML_CONTENT_TYPE, "text/html; charset=utf-8");
    assert_eq!(JSON_CONTENT_TYPE, "application/json");
}

#[test]
fn human_sizes() {
    let cases = [
        (0, "0 B"),
        (1, "1 B"),
        (999, "999 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1024 * 1024 - 1, "1.0 MiB"),
        (12_897_485, "12.3 MiB"),
        (1_610_612_736, "1.5 GiB"),
        (1 << 40, "1.0 TiB"),
        (1 << 50, "1.0 PiB"),
        (1 << 60, "1.0 EiB"),
        (u64::MAX, "16.0 EiB"),
    ];
    for (bytes, want) in cases {
        assert_eq!(human_size(bytes), want, "{bytes}");
    }
}

#[test]
fn html_page_structure() {
    let html = page(
        "/docs/my files/",
        &[dir("sub"), file("report.pdf", 12_897_485), file("a.txt", 5)],
    );
    let must_contain = [
        "<!DOCTYPE html>",
        "<html lang=\"en\">",
        "<meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>Index of /docs/my files/</title>",
        "prefers-color-scheme:dark",
        "system-ui",
        "<a href=\"/\">/</a><a href=\"/docs/\">docs/</a><a href=\"/docs/my%20files/\" aria-current=\"page\">my files/</a>",
        "<th scope=\"col\" class=\"n\">Name</th>",
        "<th scope=\"col\" class=\"s\">Size</th>",
        "Modified",
        "<a href=\"../\"",
        "<tr class=\"dir\" data-dir=\"1\"><td class=\"n\" data-sort=\"sub\"><a href=\"sub/\">sub/</a></td>",
        "<td class=\"s\" data-sort=\"12897485\" title=\"12897485 bytes\">12.3 MiB</td>",
        "<td class=\"m\" data-sort=\"1704207845\"><time datetime=\"2024-01-02T15:04:05Z\">2024-01-02 15:04</time></td>",
        "<a href=\"a.txt\">a.txt</a>",
        "<footer>3 entries</footer>",
        "<script>",
        "</html>\n",
    ];
    for needle in must_contain {
        assert!(html.contains(needle), "missing {needle:?} in\n{html}");
    }
    // Self-contained: no external assets.
    for banned in ["http://", "https://", "src=", "<link", "@import", "url("] {
        assert!(!html.contains(banned), "found {banned:?}");
    }
    // Balanced structure.
    for tag in [
        "html", "head", "body", "main", "table", "thead", "tbody", "style", "script", "h1",
    ] {
        let open = html.matches(&format!("<{tag}>")).count() + html.matches(&format!("<{tag} ")).count();
        let close = html.matches(&format!("</{tag}>")).count();
        assert_eq!(open, 1, "<{tag}>");
        assert_eq!(close, 1, "</{tag}>");
    }
    assert_eq!(html.matches("<tr").count(), html.matches("</tr>").count());
    assert_eq!(html.matches("<td").count(), html.matches("</td>").count());
}

#[test]
fn root_has_no_parent_row() {
    let html = page("/", &[file("x", 1)]);
    assert!(!html.contains("href=\"../\""));
    assert!(html.contains("<title>Index of /</title>"));
    assert!(html.contains("<footer>1 entry</footer>"));
    let empty = page("/", &[]);
    assert!(empty.contains("<footer>0 entries</footer>"));
}

#[test]
fn new_normalizes_the_path() {
    assert_eq!(HtmlListing::new("").dir_path(), "/");
    assert_eq!(HtmlListing::new("/a").dir_path(), "/a/");
    assert_eq!(HtmlListing::new("a/").dir_path(), "/a/");
    assert_eq!(HtmlListing::new("/a/").dir_path(), "/a/");
}

#[test]
fn hostile_names_are_escaped() {
    let hostile = [
        "<script>alert(1)</script>",
        "a\"b'c&d",
        "\" onmouseover=\"alert(1)",
        "javascript:alert(1)",
        "x\u{1}y\u{7f}z",
    ];
    let entries: Vec<_> = hostile.iter().map(|n| file(n, 1)).collect();
    let html = page("/<b>\"dir\"&'/", &entries);
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    assert!(!html.contains("\" onmouseover"), "{html}");
    assert!(!html.contains("href=\"javascript:"), "{html}");
    assert!(!html.contains('\u{1}') && !html.contains('\u{7f}'));
    assert_eq!(html.matches("<script>").count(), 1);
    let listing = HtmlListing::new("/");
    assert_eq!(
        listing.row(&file("<script>alert(1)</script>", 1)),
        "<tr><td class=\"n\" data-sort=\"&lt;script&gt;alert(1)&lt;/script&gt;\">\
         <a href=\"%3Cscript%3Ealert%281%29%3C%2Fscript%3E\">&lt;script&gt;alert(1)&lt;/script&gt;</a></td>\
         <td class=\"s\" data-sort=\"1\" title=\"1 bytes\">1 B</td>\
         <td class=\"m\" data-sort=\"1704207845\"><time datetime=\"2024-01-02T15:04:05Z\">2024-01-02 15:04</time></td></tr>\n"
    );
    let row = listing.row(&dir("a\"b'c&d"));
    assert!(
        row.contains("data-sort=\"a&quot;b&#39;c&amp;d\"><a href=\"a%22b%27c%26d/\">a&quot;b&#39;c&amp;d/</a>"),
        "{row}"
    );
    assert!(html.contains("<title>Index of /&lt;b&gt;&quot;dir&quot;&amp;&#39;/</title>"));
}

#[test]
fn unknown_and_extreme_times() {
    let listing = HtmlListing::new("/");
    let mut e = file("f", 0);
    e.modified = None;
    assert!(listing.row(&e).contains("<td class=\"m\" data-sort=\"\">\u{2014}</td>"));
    e.modified = Some(UNIX_EPOCH + Duration::from_secs(1 << 40));
    assert!(listing.row(&e).contains("\u{2014}</td>"));
    e.modified = Some(UNIX_EPOCH - Duration::from_secs(60));
    assert!(listing.row(&e).contains("data-sort=\"-60\""));
    assert!(listing.row(&e).contains("1969-12-31 23:59"));
}

#[test]
fn json_listing_is_valid_json() {
    let names = ["plain", "quote\"back\\slash", "<script>", "tab\tnl\n", "日本", ""];
    let mut json = JsonListing::new();
    let mut out = json.head().to_owned();
    for (i, name) in names.iter().enumerate() {
        let mut e = if i % 2 == 0 {
            file(name, i as u64 * 1000)
        } else {
            dir(name)
        };
        if i == 5 {
            e.modified = Some(UNIX_EPOCH + Duration::from_secs(1 << 40));
        }
        out.push_str(&json.row(&e));
    }
    out.push_str(json.tail());
    assert!(out.starts_with('[') && out.ends_with("]\n"));
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let items = parsed.as_array().unwrap();
    assert_eq!(items.len(), names.len());
    for (i, (item, name)) in items.iter().zip(names).enumerate() {
        assert_eq!(item["name"], name);
        assert_eq!(item["is_dir"], i % 2 == 1);
        let obj = item.as_object().unwrap();
        assert_eq!(obj.len(), 4, "{obj:?}");
        if i % 2 == 0 {
            assert_eq!(item["size"], i as u64 * 1000);
            assert_eq!(item["modified"], "2024-01-02T15:04:05Z");
        } else {
            assert_eq!(item["size"], 4096);
            assert!(item["modified"].is_null());
        }
    }
}

#[test]
fn empty_json_listing() {
    let json = JsonListing::new();
    let out = format!("{}{}", json.head(), json.tail());
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed, serde_json::json!([]));
}

#[test]
fn accept_negotiation_table() {
    let cases: &[(&[&str], bool)] = &[
        (&[], false),
        (&["application/json"], true),
        (&["Application/JSON"], true),
        (&["text/html"], false),
        (&["*/*"], false),
        (&["application/*"], true),
        (&["application/json, text/html"], false),
        (&["application/json, text/html;q=0.9"], true),
        (&["text/html;q=0.9, application/json"], true),
        (&["application/json;q=0.5, text/html;q=0.8"], false),
        (&["application/json; q=0.5, */*;q=0.1"], true),
        (&["application/json;q=0, */*"], false),
        (&["application/json", "text/html"], false),
        (&["application/json, */*;q=0.8"], true),
        // A browser's usual value.
        (
            &["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
            false,
        ),
        // curl's default.
        (&["*/*"], false),
        (&["application/json;q=2"], false),
        (&["application/json;q=abc, text/html;q=0.1"], false),
        (&["garbage"], false),
        (&[""], false),
        (&["*/json"], false),
    ];
    for (values, want) in cases {
        let mut headers = HeaderMap::new();
        for v in *values {
            headers.append("accept", HeaderValue::from_str(v).unwrap());
        }
        assert_eq!(wants_json(&headers), *want, "{values:?}");
    }
}
