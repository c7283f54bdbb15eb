//! The HTML directory listing: a complete HTML5 page for people, with no
//! external assets.
//!
//! The page has a viewport meta tag, a small inline style sheet (system
//! fonts, light and dark colours through `prefers-color-scheme`, a table
//! that fits a phone: names wrap, size and date do not), a breadcrumb
//! heading, a Name / Size / Modified table and a small inline script that
//! sorts the table when a column header is clicked (the page is complete
//! without it). Every name is HTML-escaped and every link percent-encoded.
//!
//! Links to entries are relative, so the page must be served at the
//! directory's URL with its trailing slash.

use super::{ListingEntry, human_size};
use crate::path::{encode_href, encode_segment};
use crate::timefmt::{minutes_utc, rfc3339_utc, unix_seconds};

/// The page's inline style sheet (exposed so a `Content-Security-Policy`
/// can carry its hash).
pub const LISTING_STYLE: &str = r#":root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--mut:#59636e;--bd:#d1d9e0;--hov:#f6f8fa;--lnk:#0969da}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mut:#9198a1;--bd:#3d444d;--hov:#151b23;--lnk:#4493f8}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:60rem;padding:1rem;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
h1{font-size:1.2rem;font-weight:600;margin:.25rem 0 1rem;overflow-wrap:anywhere}
a{color:var(--lnk);text-decoration:none}
a:hover,a:focus{text-decoration:underline}
table{width:100%;border-collapse:collapse}
th,td{padding:.4rem .5rem;border-bottom:1px solid var(--bd);text-align:left;vertical-align:top}
th{color:var(--mut);font-weight:600;white-space:nowrap;user-select:none}
th[tabindex]{cursor:pointer}
th[aria-sort=ascending]::after{content:" \2191"}
th[aria-sort=descending]::after{content:" \2193"}
td.n{width:100%;overflow-wrap:anywhere}
.s{text-align:right}
.s,.m{white-space:nowrap}
td.s,td.m{color:var(--mut);font-variant-numeric:tabular-nums}
tbody tr:hover{background:var(--hov)}
footer{color:var(--mut);font-size:.85rem;margin-top:1rem}
@media (max-width:36rem){body{padding:.5rem;font-size:14px}th,td{padding:.35rem .3rem}td.m{white-space:normal}}
"#;

/// The page's inline sort script (exposed so a `Content-Security-Policy`
/// can carry its hash). The rows arrive in the order the back-end lists
/// them (the listing is streamed, never held whole); the script sorts them by
/// name when the page loads. Directories stay first in either direction; the
/// parent row stays on top.
pub const LISTING_SCRIPT: &str = r#"(function(){"use strict";
var t=document.getElementById("listing");if(!t||!t.tHead||!t.tBodies.length)return;
var body=t.tBodies[0],heads=t.tHead.rows[0].cells,col=-1,asc=true;
var byName=window.Intl&&Intl.Collator?new Intl.Collator(undefined,{numeric:true,sensitivity:"base"}).compare:function(a,b){return a<b?-1:a>b?1:0;};
function key(r,i){var c=r.cells[i],v=c?c.getAttribute("data-sort"):null;return v===null?"":v;}
function num(s){return s===""?-Infinity:Number(s);}
function byNum(a,b){a=num(a);b=num(b);return a<b?-1:a>b?1:0;}
function sort(i){
asc=col===i?!asc:true;col=i;
var rows=[].slice.call(body.rows).filter(function(r){return !r.hasAttribute("data-parent");});
rows.sort(function(a,b){
var d=(b.hasAttribute("data-dir")?1:0)-(a.hasAttribute("data-dir")?1:0);if(d)return d;
var r=i===0?byName(key(a,i),key(b,i)):byNum(key(a,i),key(b,i));return asc?r:-r;});
rows.forEach(function(r){body.appendChild(r);});
for(var j=0;j<heads.length;j++)heads[j].setAttribute("aria-sort",j===i?(asc?"ascending":"descending"):"none");}
[].forEach.call(heads,function(h,i){h.tabIndex=0;
h.addEventListener("click",function(){sort(i);});
h.addEventListener("keydown",function(e){if(e.key==="Enter"||e.key===" "){e.preventDefault();sort(i);}});});
sort(0);
})();
"#;

/// The `Content-Security-Policy` of the listing page. The page is served from
/// the same origin as the files it lists, so it allows exactly what it needs:
/// its own inline style sheet and sort script, each named by the SHA-256 of its
/// text (CSP Level 2 hashes of the element content, `"\n"` +
/// [`LISTING_STYLE`] and `"\n"` + [`LISTING_SCRIPT`]), and nothing else — no
/// other script or style (so markup that slipped into a name could not run),
/// no image, font, frame, `<base>` or form target, and no framing by another
/// page. Links still navigate. Requests from the page may go to this origin
/// only (`connect-src 'self'`): its script makes none, and a same-origin
/// request reaches nothing its links do not; it keeps the page's links
/// checkable from the page itself (the interop browser test fetches one).
/// A change to either text needs its hash here; the end-to-end tests
/// recompute both from the page served.
pub const LISTING_CSP: &str = "default-src 'none'; \
    style-src 'sha256-2UmbCpxJb+UNvrNFTvrYzuZGk2XJ1SS23qARtGdJMaQ='; \
    script-src 'sha256-PON8CwyGlLDMp3zOjVNPWF6JGvmdYJ7WyoTtKhZO+Vs='; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Writes an HTML listing piece by piece: [`head`](Self::head), one
/// [`row`](Self::row) per entry, [`tail`](Self::tail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlListing {
    /// The directory's decoded path, starting and ending with `/`.
    dir_path: String,
}

impl HtmlListing {
    /// A listing of the directory at `dir_path`, the decoded request path
    /// (e.g. `/photos/2024 trip/`). It is used for the title, the breadcrumb
    /// and, unless it is `/`, a parent-directory row (`../`). A missing
    /// leading or trailing `/` is added.
    pub fn new(dir_path: &str) -> Self {
        let mut path = String::with_capacity(dir_path.len() + 2);
        if !dir_path.starts_with('/') {
            path.push('/');
        }
        path.push_str(dir_path);
        if !path.ends_with('/') {
            path.push('/');
        }
        Self { dir_path: path }
    }

    /// The directory path this listing shows.
    pub fn dir_path(&self) -> &str {
        &self.dir_path
    }

    /// Everything up to the first entry row: doctype, head with style,
    /// breadcrumb heading, table header, and the parent row unless this is
    /// the root.
    pub fn head(&self) -> String {
        let title = escape(&self.dir_path);
        let mut out = String::with_capacity(LISTING_STYLE.len() + 1024);
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        out.push_str("<meta name=\"color-scheme\" content=\"light dark\">\n");
        out.push_str(&format!("<title>Index of {title}</title>\n<style>\n"));
        out.push_str(LISTING_STYLE);
        out.push_str("</style>\n</head>\n<body>\n<main>\n<h1>Index of ");
        out.push_str(&self.breadcrumb());
        out.push_str("</h1>\n<table id=\"listing\">\n<thead><tr>");
        out.push_str("<th scope=\"col\" class=\"n\">Name</th>");
        out.push_str("<th scope=\"col\" class=\"s\">Size</th>");
        out.push_str("<th scope=\"col\" class=\"m\">Modified (UTC)</th>");
        out.push_str("</tr></thead>\n<tbody>\n");
        if self.dir_path != "/" {
            out.push_str(
                "<tr class=\"up\" data-parent=\"1\" data-dir=\"1\"><td class=\"n\">\
                 <a href=\"../\" title=\"Parent directory\">../</a></td>\
                 <td class=\"s\"></td><td class=\"m\"></td></tr>\n",
            );
        }
        out
    }

    /// The heading's links: `/` then one link per directory level, each to
    /// its absolute, percent-encoded path; the last one is the current page.
    fn breadcrumb(&self) -> String {
        let mut out = String::from("<a href=\"/\">/</a>");
        let mut prefix = String::from("/");
        let segments: Vec<&str> = self.dir_path.split('/').filter(|s| !s.is_empty()).collect();
        for (i, segment) in segments.iter().enumerate() {
            prefix.push_str(segment);
            prefix.push('/');
            let current = if i + 1 == segments.len() {
                " aria-current=\"page\""
            } else {
                ""
            };
            out.push_str(&format!(
                "<a href=\"{}\"{current}>{}/</a>",
                encode_href(&prefix),
                escape(segment)
            ));
        }
        out
    }

    /// One table row. Directories get a trailing `/` in the link and the
    /// text and no size; files show a human size with the exact byte count
    /// in `title` and `data-sort`. The modification time shows as
    /// `YYYY-MM-DD HH:MM` UTC with the Unix seconds in `data-sort`, or `—`
    /// when unknown.
    pub fn row(&self, entry: &ListingEntry<'_>) -> String {
        let name = escape(entry.name);
        let slash = if entry.is_dir { "/" } else { "" };
        let href = encode_segment(entry.name);
        let (tr, size_cell) = if entry.is_dir {
            (
                "<tr class=\"dir\" data-dir=\"1\">",
                "<td class=\"s\" data-sort=\"-1\">\u{2014}</td>".to_owned(),
            )
        } else {
            (
                "<tr>",
                format!(
                    "<td class=\"s\" data-sort=\"{0}\" title=\"{0} bytes\">{1}</td>",
                    entry.size,
                    human_size(entry.size)
                ),
            )
        };
        let modified_cell = match entry
            .modified
            .and_then(|t| Some((unix_seconds(t)?, minutes_utc(t)?, rfc3339_utc(t)?)))
        {
            Some((secs, shown, machine)) => {
                format!("<td class=\"m\" data-sort=\"{secs}\"><time datetime=\"{machine}\">{shown}</time></td>")
            }
            None => "<td class=\"m\" data-sort=\"\">\u{2014}</td>".to_owned(),
        };
        format!(
            "{tr}<td class=\"n\" data-sort=\"{name}\"><a href=\"{href}{slash}\">{name}{slash}</a></td>{size_cell}{modified_cell}</tr>\n"
        )
    }

    /// Everything after the last row: table end, a footer with the entry
    /// count (`count` as given by the caller) and the sort script.
    pub fn tail(&self, count: u64) -> String {
        let noun = if count == 1 { "entry" } else { "entries" };
        format!(
            "</tbody>\n</table>\n<footer>{count} {noun}</footer>\n</main>\n<script>\n{LISTING_SCRIPT}</script>\n</body>\n</html>\n"
        )
    }
}

/// Escapes text for HTML element content and quoted attribute values
/// (`&`, `<`, `>`, `"`, `'`). Control characters, which HTML does not allow
/// in text, become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
