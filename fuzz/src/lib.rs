//! Properties for dualgate's fuzz targets (issue 17).
//!
//! Each target is one public function taking the raw fuzz input. The
//! cargo-fuzz binaries in `fuzz_targets/` call them in one line, and
//! `tests/replay.rs` runs the committed corpus and regressions through the same
//! functions on stable (`cargo test --no-default-features`), so a corpus file
//! means the same thing in both places.
//!
//! Every function asserts properties, not only "no panic": round trips
//! (render → parse), agreement with small reference models written from the
//! RFC text, and bounds. A failed assertion is a libFuzzer crash.
//!
//! Structured inputs are decoded with [`Input`]: leading bytes choose limits,
//! sizes and modes, the rest is the text under test. Running out of bytes gives
//! zeros, so every input is valid.

#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "fuzz properties fail loudly; a panic is the report"
)]

mod ftp;
mod http;
mod webdav;

#[cfg(feature = "dualgate")]
mod core;

pub use ftp::{ftp_control, ftp_reply};
pub use http::{http_basic, http_conditional, http_framing, http_path, http_range};
pub use webdav::webdav_xml;

#[cfg(feature = "dualgate")]
pub use core::{proxy_header, vpath};

/// A property: the whole fuzz input in, a panic on violation.
pub type Property = fn(&[u8]);

/// The targets this build has, by corpus directory name (for the replay test).
pub const TARGETS: &[(&str, Property)] = &[
    ("ftp_control", ftp_control),
    ("ftp_reply", ftp_reply),
    ("http_path", http_path),
    ("http_range", http_range),
    ("http_conditional", http_conditional),
    ("webdav_xml", webdav_xml),
    ("http_basic", http_basic),
    ("http_framing", http_framing),
    #[cfg(feature = "dualgate")]
    ("vpath", vpath),
    #[cfg(feature = "dualgate")]
    ("proxy_header", proxy_header),
];

/// A cursor over the fuzz input: structured values from the front, the rest
/// as the payload. Missing bytes read as zero.
pub(crate) struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub(crate) fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    pub(crate) fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_be_bytes(b)
    }

    /// Up to `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    pub(crate) fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// Splits `data` at the cut points (taken modulo its length + 1).
pub(crate) fn chunks(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points {
        out.push(data[start..p].to_vec());
        start = p;
    }
    out.push(data[start..].to_vec());
    out
}

/// Checks that `xml` is a well-formed document (or fragment sequence when
/// `fragment`): tags balance, every prefix is declared, every entity reference
/// is predefined or a valid character reference. Returns a description of the
/// first problem.
#[doc(hidden)]
pub fn check_xml(xml: &str, fragment: bool) -> Result<(), String> {
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut depth = 0usize;
    let mut roots = 0usize;
    loop {
        let at = reader.buffer_position();
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("quick-xml: {e} after {at}"))?;
        if let ResolveResult::Unknown(prefix) = resolved {
            return Err(format!("undeclared prefix {prefix:?}"));
        }
        match event {
            Event::Start(_) => {
                if depth == 0 {
                    roots += 1;
                }
                depth += 1;
            }
            Event::Empty(_) => {
                if depth == 0 {
                    roots += 1;
                }
            }
            Event::End(_) => {
                depth = depth.checked_sub(1).ok_or("unbalanced end tag")?;
            }
            Event::GeneralRef(r) => {
                if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(_)) => {}
                        other => return Err(format!("bad character reference: {other:?}")),
                    }
                } else if !matches!(&*r, "lt" | "gt" | "amp" | "apos" | "quot") {
                    return Err(format!("undefined entity {:?}", &*r));
                }
            }
            Event::Text(t) => {
                if depth == 0 && !t.as_ref().bytes().all(|b| b.is_ascii_whitespace()) {
                    return Err("text outside the root element".into());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("{depth} element(s) left open"));
    }
    if !fragment && roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(())
}
