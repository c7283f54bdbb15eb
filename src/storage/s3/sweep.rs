//! The sweeper of abandoned multipart uploads.
//!
//! An upload the gateway gives up is aborted on the spot ([`super::upload`]),
//! but some can never be: when the answer to a CreateMultipartUpload is lost,
//! OpenDAL's retry starts a second upload and the first one's id never reaches
//! the gateway; a process killed mid-upload leaves its upload too. Their parts
//! stay stored (and billed) until someone aborts them.
//!
//! So the back-end lists the multipart uploads under `storage.prefix` at
//! start-up and then periodically, and aborts each one that has been silent
//! for `stale_uploads_after` by two clocks: the store's (initiated before then
//! and — if it has parts — its newest part older too, from ListParts) and its
//! own (seen pending, with no new part, for that long; a store's times can be
//! wrong: moto dates every upload 2010). An upload another replica is still
//! feeding, however long, is never touched.
//!
//! OpenDAL has none of these three calls, so they are sent here: SigV4-signed
//! with the same credentials (reqsign, the signer OpenDAL itself uses) over the
//! back-end's own HTTP client. A store without ListMultipartUploads (s3s-fs
//! answers 501) turns the sweeper off with one log line.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use quick_xml::events::Event;
use reqsign_aws_v4::Credential;
use reqsign_core::Signer;

use crate::storage::{ErrorKind, StorageError};

/// Characters SigV4 leaves as they are in a path segment or query value:
/// the unreserved set `A-Z a-z 0-9 - . _ ~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Uploads asked for per listing page (S3's maximum).
const PAGE: u32 = 1000;

/// Most listing pages one sweep reads (ten million uploads).
const MAX_PAGES: u32 = 10_000;

/// Largest answer body read (a page of 1,000 uploads with long keys is well
/// under it).
const MAX_BODY: usize = 8 << 20;

/// Where the bucket is and how to reach it.
pub struct Sweeper {
    client: reqwest::Client,
    signer: Signer<Credential>,
    /// `http://host:port/bucket` (path style) or `http://bucket.host:port`.
    bucket_url: String,
    /// The key prefix swept: `storage.prefix` with its `/`, or empty.
    prefix: String,
    stale_after: Duration,
    request_timeout: Duration,
    /// Upload id → since when the sweeper has seen it pending unchanged.
    seen: Mutex<HashMap<String, Seen>>,
}

/// What the sweeper has seen of one pending upload.
#[derive(Debug)]
struct Seen {
    /// First seen, or seen to get a new part.
    since: Instant,
    /// Its newest part's time when last asked (`None`: not asked yet).
    parts: Option<Option<SystemTime>>,
}

/// One pending multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingUpload {
    key: String,
    upload_id: String,
    initiated: Option<SystemTime>,
}

/// One page of ListMultipartUploads.
#[derive(Debug, Default)]
struct UploadsPage {
    uploads: Vec<PendingUpload>,
    /// `(key-marker, upload-id-marker)` of the next page, if any.
    next: Option<(String, String)>,
}

/// One page of ListParts: the newest part time seen and the next marker.
#[derive(Debug, Default)]
struct PartsPage {
    newest: Option<SystemTime>,
    next: Option<String>,
}

impl Sweeper {
    pub fn new(
        client: reqwest::Client,
        signer: Signer<Credential>,
        bucket_url: String,
        prefix: String,
        stale_after: Duration,
        request_timeout: Duration,
    ) -> Self {
        Sweeper {
            client,
            signer,
            bucket_url,
            prefix,
            stale_after,
            request_timeout,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// How long an upload must have been silent before it is aborted.
    pub fn stale_after(&self) -> Duration {
        self.stale_after
    }

    /// Aborts every upload under the prefix silent for `stale_after`; how many.
    pub async fn sweep(&self) -> Result<u64, StorageError> {
        let Some(cutoff) = SystemTime::now().checked_sub(self.stale_after) else {
            return Ok(0);
        };
        let mut aborted = 0;
        let mut listed = HashSet::new();
        let mut pages = 0;
        let mut marker: Option<(String, String)> = None;
        loop {
            let page = self.list_uploads(marker.as_ref()).await?;
            for upload in &page.uploads {
                listed.insert(upload.upload_id.clone());
                match self.is_stale(upload, cutoff).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    // One upload the store will not describe (a policy without
                    // ListMultipartUploadParts) does not stop the others' sweep.
                    Err(e) => {
                        tracing::warn!(key = %upload.key, error = %e, "could not read a pending upload's parts; left alone");
                        continue;
                    }
                }
                match self.abort(upload).await {
                    Ok(()) => {
                        tracing::info!(key = %upload.key, "aborted a multipart upload silent for longer than stale_uploads_after");
                        aborted += 1;
                    }
                    Err(e) => tracing::warn!(key = %upload.key, error = %e, "could not abort a stale multipart upload"),
                }
            }
            pages += 1;
            match page.next {
                // (A store that never stops paging is not followed forever.)
                Some(next) if Some(&next) != marker.as_ref() && pages < MAX_PAGES => marker = Some(next),
                _ => break,
            }
        }
        // Forget what is gone (completed, aborted, swept).
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, _| listed.contains(id));
        Ok(aborted)
    }

    /// Silent for `stale_after` by the store's clock — initiated before the
    /// cutoff, no part newer — and by the sweeper's own: it has seen the upload
    /// pending, its newest part unchanged, for that long. The second keeps a
    /// store's wrong times (moto dates every upload 2010) from aborting a live
    /// upload; it also means the start-up sweep aborts nothing it has not seen.
    async fn is_stale(&self, upload: &PendingUpload, cutoff: SystemTime) -> Result<bool, StorageError> {
        let now = Instant::now();
        self.seen().entry(upload.upload_id.clone()).or_insert(Seen {
            since: now,
            parts: None,
        });
        match upload.initiated {
            Some(t) if t < cutoff => {}
            // Unknown or recent: keep it.
            _ => return Ok(false),
        }
        let newest = match self.newest_part(upload).await {
            Ok(newest) => newest,
            // Completed or aborted since it was listed.
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut seen = self.seen();
        let Some(entry) = seen.get_mut(&upload.upload_id) else {
            return Ok(false);
        };
        if entry.parts.is_some_and(|before| before != newest) {
            entry.since = now; // a part arrived since the last sweep
        }
        entry.parts = Some(newest);
        Ok(newest.is_none_or(|t| t < cutoff) && now.duration_since(entry.since) >= self.stale_after)
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The time of the upload's newest part (ListParts, every page).
    async fn newest_part(&self, upload: &PendingUpload) -> Result<Option<SystemTime>, StorageError> {
        let mut newest: Option<SystemTime> = None;
        let mut marker: Option<String> = None;
        loop {
            let page = self.list_parts(upload, marker.as_deref()).await?;
            newest = newest.max(page.newest);
            match page.next {
                Some(next) if Some(&next) != marker.as_ref() => marker = Some(next),
                _ => return Ok(newest),
            }
        }
    }

    async fn list_uploads(&self, marker: Option<&(String, String)>) -> Result<UploadsPage, StorageError> {
        let mut query = format!("max-uploads={PAGE}&prefix={}&uploads=", encode(&self.prefix));
        if let Some((key, id)) = marker {
            query = format!(
                "key-marker={}&max-uploads={PAGE}&prefix={}&upload-id-marker={}&uploads=",
                encode(key),
                encode(&self.prefix),
                encode(id)
            );
        }
        let body = self.send(http::Method::GET, "", &query).await?;
        parse_uploads(&body).map_err(malformed)
    }

    async fn list_parts(&self, upload: &PendingUpload, marker: Option<&str>) -> Result<PartsPage, StorageError> {
        let mut query = format!("max-parts={PAGE}");
        if let Some(m) = marker {
            query.push_str(&format!("&part-number-marker={}", encode(m)));
        }
        query.push_str(&format!("&uploadId={}", encode(&upload.upload_id)));
        let body = self.send(http::Method::GET, &upload.key, &query).await?;
        parse_parts(&body).map_err(malformed)
    }

    async fn abort(&self, upload: &PendingUpload) -> Result<(), StorageError> {
        let query = format!("uploadId={}", encode(&upload.upload_id));
        match self.send(http::Method::DELETE, &upload.key, &query).await {
            Err(e) if e.kind != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// One signed request to `key` (empty: the bucket) with a query already in
    /// canonical order; the body of a 2xx answer.
    async fn send(&self, method: http::Method, key: &str, query: &str) -> Result<Bytes, StorageError> {
        let path: String = key
            .split('/')
            .map(|segment| encode(segment).to_string())
            .collect::<Vec<_>>()
            .join("/");
        let url = format!("{}/{path}?{query}", self.bucket_url);
        let request = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("x-amz-content-sha256", reqsign_aws_v4::EMPTY_STRING_SHA256)
            .body(())
            .map_err(|e| StorageError::with_source(ErrorKind::Other, e.to_string()))?;
        let (mut parts, ()) = request.into_parts();
        self.signer
            .sign(&mut parts, None)
            .await
            .map_err(|e| StorageError::with_source(ErrorKind::PermissionDenied, e.to_string()))?;
        let request = reqwest::Request::try_from(http::Request::from_parts(parts, reqwest::Body::from(Vec::new())))
            .map_err(|e| StorageError::with_source(ErrorKind::Other, e.to_string()))?;
        let answer = tokio::time::timeout(self.request_timeout, async {
            let response = self.client.execute(request).await?;
            let status = response.status();
            let mut body = Vec::new();
            let mut response = response;
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > MAX_BODY {
                    return Ok(None); // never parsed cut short
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(Some((status, Bytes::from(body))))
        })
        .await
        .map_err(|_| StorageError::with_source(ErrorKind::Unavailable, "the store did not answer in time"))?
        .map_err(|e| StorageError::with_source(ErrorKind::Unavailable, e.to_string()))?
        .ok_or_else(|| StorageError::with_source(ErrorKind::Unavailable, "the store's answer is over 8 MiB"))?;
        let (status, body) = answer;
        if status.is_success() {
            return Ok(body);
        }
        let code = xml_text(&body, "Code").unwrap_or_default();
        let kind = match (status.as_u16(), code.as_str()) {
            (404, _) | (_, "NoSuchUpload") => ErrorKind::NotFound,
            (501, _) | (_, "NotImplemented") => ErrorKind::Unsupported,
            (403, _) => ErrorKind::PermissionDenied,
            _ => ErrorKind::Unavailable,
        };
        Err(StorageError::with_source(kind, format!("{status} {code}")))
    }
}

fn encode(s: &str) -> percent_encoding::PercentEncode<'_> {
    utf8_percent_encode(s, UNRESERVED)
}

fn malformed(e: String) -> StorageError {
    StorageError::with_source(
        ErrorKind::Unavailable,
        format!("a malformed answer from the store: {e}"),
    )
}

/// The text of the first `<tag>` in a document (an error's `Code`).
fn xml_text(body: &[u8], tag: &str) -> Option<String> {
    let mut found = None;
    walk(body, |path, text| {
        if found.is_none() && path.last().is_some_and(|t| t == tag) {
            found = Some(text.to_owned());
        }
    })
    .ok()?;
    found
}

/// Calls `on_text(path, text)` for every text node, `path` being the element
/// names from the root down.
fn walk(body: &[u8], mut on_text: impl FnMut(&[String], &str)) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut path: Vec<String> = Vec::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| e.to_string())? {
            Event::Start(e) => path.push(e.local_name().as_ref().to_owned()),
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                on_text(&path, &text);
            }
            Event::GeneralRef(r) => {
                // `&amp;` and friends arrive apart from the text around them.
                let text = entity(r.as_ref())?;
                on_text(&path, &text);
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

/// The text an entity reference stands for (`amp`, `#38`, `#x26`…).
fn entity(name: &str) -> Result<String, String> {
    let fixed = match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => {
            let code = match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => name.strip_prefix('#').and_then(|d| d.parse().ok()),
            };
            return code
                .and_then(char::from_u32)
                .map(String::from)
                .ok_or_else(|| format!("an unknown entity &{name};"));
        }
    };
    Ok(fixed.to_owned())
}

fn parse_uploads(body: &[u8]) -> Result<UploadsPage, String> {
    let (mut truncated, mut next_key, mut next_id) = (false, String::new(), String::new());
    walk(body, |path, text| match path {
        [_, tag] if tag == "IsTruncated" => truncated = text.trim() == "true",
        [_, tag] if tag == "NextKeyMarker" => next_key.push_str(text),
        [_, tag] if tag == "NextUploadIdMarker" => next_id.push_str(text),
        _ => {}
    })?;
    Ok(UploadsPage {
        uploads: split_uploads(body)?,
        next: truncated.then_some((next_key, next_id)),
    })
}

/// The `<Upload>` elements of a ListMultipartUploads answer.
fn split_uploads(body: &[u8]) -> Result<Vec<PendingUpload>, String> {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut depth_names: Vec<String> = Vec::new();
    let mut current: Option<(String, String, String)> = None;
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| e.to_string())? {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                if depth_names.len() == 1 && name == "Upload" {
                    current = Some(Default::default());
                }
                depth_names.push(name);
            }
            Event::End(_) => {
                if depth_names.len() == 2
                    && depth_names[1] == "Upload"
                    && let Some((key, id, initiated)) = current.take()
                {
                    out.push(PendingUpload {
                        key,
                        upload_id: id,
                        initiated: parse_time(&initiated),
                    });
                }
                depth_names.pop();
            }
            Event::Text(t) if depth_names.len() == 3 && depth_names[1] == "Upload" => {
                let text = t.xml10_content();
                push_field(&mut current, &depth_names[2], &text);
            }
            Event::GeneralRef(r) if depth_names.len() == 3 && depth_names[1] == "Upload" => {
                let text = entity(r.as_ref())?;
                push_field(&mut current, &depth_names[2], &text);
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
        buf.clear();
    }
}

fn push_field(current: &mut Option<(String, String, String)>, field: &str, text: &str) {
    if let Some(c) = current.as_mut() {
        match field {
            "Key" => c.0.push_str(text),
            "UploadId" => c.1.push_str(text),
            "Initiated" => c.2.push_str(text),
            _ => {}
        }
    }
}

fn parse_parts(body: &[u8]) -> Result<PartsPage, String> {
    let mut page = PartsPage::default();
    let (mut truncated, mut next) = (false, String::new());
    walk(body, |path, text| {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        match names.as_slice() {
            [_, "IsTruncated"] => truncated = text.trim() == "true",
            [_, "NextPartNumberMarker"] => next.push_str(text),
            [_, "Part", "LastModified"] => {
                if let Some(t) = parse_time(text) {
                    page.newest = Some(page.newest.map_or(t, |n: SystemTime| n.max(t)));
                }
            }
            _ => {}
        }
    })?;
    if truncated && !next.is_empty() {
        page.next = Some(next);
    }
    Ok(page)
}

/// An S3 timestamp, `2026-12-06T01:02:03.000Z` (fraction optional).
fn parse_time(text: &str) -> Option<SystemTime> {
    let t = text.trim().strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i32>);
    let (year, month, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let time = time.split('.').next()?;
    let mut h = time.splitn(3, ':').map(str::parse::<u8>);
    let (hour, minute, second) = (h.next()?.ok()?, h.next()?.ok()?, h.next()?.ok()?);
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    let at = date.with_hms(hour, minute, second).ok()?.assume_utc();
    let secs = u64::try_from(at.unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn reads_a_page_of_uploads() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>gw/b&amp;c.bin</NextKeyMarker><NextUploadIdMarker>id2</NextUploadIdMarker>
  <MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>gw/a.bin</Key><UploadId>id1</UploadId><Initiated>2026-12-06T01:02:03.000Z</Initiated>
    <Initiator><ID>x</ID></Initiator></Upload>
  <Upload><Key>gw/b&amp;c.bin</Key><UploadId>id2</UploadId><Initiated>2026-12-06T01:02:04Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;
        let page = parse_uploads(xml).unwrap();
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[0].key, "gw/a.bin");
        assert_eq!(page.uploads[0].upload_id, "id1");
        assert_eq!(page.uploads[1].key, "gw/b&c.bin");
        assert_eq!(
            page.uploads[0].initiated,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_518_923))
        );
        assert_eq!(page.next, Some(("gw/b&c.bin".to_owned(), "id2".to_owned())));
    }

    #[test]
    fn reads_the_newest_part() {
        let xml = br#"<ListPartsResult><IsTruncated>false</IsTruncated>
  <Part><PartNumber>1</PartNumber><LastModified>2026-12-06T01:00:00.000Z</LastModified></Part>
  <Part><PartNumber>2</PartNumber><LastModified>2026-12-06T02:00:00.000Z</LastModified></Part>
</ListPartsResult>"#;
        let page = parse_parts(xml).unwrap();
        assert_eq!(page.next, None);
        assert_eq!(page.newest, parse_time("2026-12-06T02:00:00Z"));
        assert!(page.newest > parse_time("2026-12-06T01:00:00Z"));
    }

    #[test]
    fn refuses_bad_times() {
        for bad in ["", "2026-12-06", "2026-13-01T00:00:00Z", "2026-12-06T25:00:00Z", "x"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_an_error_code() {
        let xml = b"<Error><Code>NotImplemented</Code><Message>no</Message></Error>";
        assert_eq!(xml_text(xml, "Code").as_deref(), Some("NotImplemented"));
    }
}
