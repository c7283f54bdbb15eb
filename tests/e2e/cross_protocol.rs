//! One set of files behind both protocols: a file written through one is
//! byte-identical through the other (50 MiB of random data each way, hashed),
//! both list a directory the same way, and an upload in progress on one is
//! invisible on both until it is complete.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::support::{
    Gateway, STEP, TRANSFER, UPLOAD_TEMP_PREFIX, ftp_get, ftp_put, hex, random_bytes, sha256_hex, within,
};

/// The size of the cross-protocol round trips: 50 MiB of random bytes.
const ROUND_TRIP: usize = 50 << 20;

/// The length and SHA-256 of a streamed response body.
async fn hash_body(resp: reqwest::Response) -> (usize, String) {
    let mut body = resp.bytes_stream();
    let mut hasher = Sha256::new();
    let mut len = 0;
    while let Some(chunk) = within("a piece of the body", STEP, body.next()).await {
        let chunk = chunk.expect("reading the body");
        hasher.update(&chunk);
        len += chunk.len();
    }
    (len, hex(&hasher.finalize()))
}

#[tokio::test]
async fn ftp_upload_is_byte_identical_over_http() {
    let gw = Gateway::start_default().await;
    let data = random_bytes(ROUND_TRIP);
    let mut ftp = gw.ftp().await;
    ftp_put(&mut ftp, "fifty.bin", &data).await;

    let resp = gw.get("/fifty.bin").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.content_length(), Some(ROUND_TRIP as u64));
    let (len, hash) = within("GET of 50 MiB", TRANSFER, hash_body(resp)).await;
    assert_eq!(len, ROUND_TRIP, "GET length");
    assert_eq!(hash, sha256_hex(&data), "HTTP GET differs from the FTP upload");
}

#[tokio::test]
async fn http_upload_is_byte_identical_over_ftp() {
    let gw = Gateway::start_default().await;
    let data = random_bytes(ROUND_TRIP);
    // With a Content-Length…
    assert_eq!(gw.put("/fifty.bin", data.clone()).await, 201);
    // …and chunked, in 1 MiB pieces, as a client streaming from a pipe sends it.
    let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = data
        .chunks(1 << 20)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let resp = within(
        "chunked PUT of 50 MiB",
        TRANSFER,
        gw.request(reqwest::Method::PUT, "/chunked.bin")
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(pieces)))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 201, "chunked PUT");

    let mut ftp = gw.ftp().await;
    for name in ["fifty.bin", "chunked.bin"] {
        assert_eq!(
            within("SIZE", STEP, ftp.size(name)).await.unwrap(),
            ROUND_TRIP,
            "{name}"
        );
        let back = ftp_get(&mut ftp, name).await;
        assert_eq!(
            sha256_hex(&back),
            sha256_hex(&data),
            "FTP RETR of {name} differs from the HTTP upload"
        );
    }
}

/// name → (is a directory, size of a file)
pub(crate) type Listing = BTreeMap<String, (bool, Option<u64>)>;

pub(crate) fn from_mlsd(lines: &[String]) -> Listing {
    lines
        .iter()
        .map(|line| {
            let (facts, name) = line.split_once(' ').unwrap_or_else(|| panic!("bad MLSD line {line:?}"));
            let fact = |key: &str| {
                facts
                    .split(';')
                    .find_map(|f| f.split_once('=').filter(|(k, _)| k.eq_ignore_ascii_case(key)))
                    .map(|(_, v)| v.to_owned())
            };
            let is_dir = fact("type").is_some_and(|t| t.eq_ignore_ascii_case("dir"));
            let size = if is_dir {
                None
            } else {
                fact("size").map(|s| s.parse().unwrap())
            };
            (name.to_owned(), (is_dir, size))
        })
        .collect()
}

fn from_json(listing: &Value) -> Listing {
    listing
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {listing:?}"))
        .iter()
        .map(|e| {
            let name = e.get("name").and_then(Value::as_str).unwrap().to_owned();
            let is_dir = e.get("is_dir").and_then(Value::as_bool).unwrap();
            let size = if is_dir {
                None
            } else {
                Some(e.get("size").and_then(Value::as_u64).unwrap())
            };
            (name, (is_dir, size))
        })
        .collect()
}

#[tokio::test]
async fn both_protocols_list_a_directory_the_same_way() {
    let gw = Gateway::start_default().await;
    let mut ftp = gw.ftp().await;
    within("MKD", STEP, ftp.mkdir("shared")).await.unwrap();
    within("MKD", STEP, ftp.mkdir("shared/inner")).await.unwrap();
    ftp_put(&mut ftp, "shared/one.bin", &random_bytes(100)).await;
    ftp_put(&mut ftp, "shared/space name.txt", b"spaced").await;
    assert_eq!(gw.put("/shared/two.txt", b"two two".to_vec()).await, 201);
    assert_eq!(gw.put("/shared/caf%C3%A9.txt", b"utf-8".to_vec()).await, 201);

    let ftp_view = from_mlsd(&within("MLSD", STEP, ftp.mlsd(Some("shared"))).await.unwrap());
    let http_view = from_json(&gw.json_listing("/shared/").await);
    let expected: Listing = [
        ("café.txt", (false, Some(5))),
        ("inner", (true, None)),
        ("one.bin", (false, Some(100))),
        ("space name.txt", (false, Some(6))),
        ("two.txt", (false, Some(7))),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v))
    .collect();
    assert_eq!(ftp_view, expected, "FTP MLSD view");
    assert_eq!(http_view, expected, "HTTP JSON view");

    let mut names = within("NLST", STEP, ftp.nlst(Some("shared"))).await.unwrap();
    names.iter_mut().for_each(|n| {
        if let Some(base) = n.strip_prefix("shared/") {
            *n = base.to_owned();
        }
    });
    names.sort();
    assert_eq!(names, expected.keys().cloned().collect::<Vec<_>>(), "NLST names");
}

#[tokio::test]
async fn an_upload_is_invisible_until_complete() {
    let gw = Gateway::start_default().await;
    let data = random_bytes(2 << 20);
    let mut uploader = gw.raw_login().await;
    let mut stream = uploader.start_transfer("STOR pending.bin").await;
    within("first half", STEP, stream.write_all(&data[..1 << 20]))
        .await
        .unwrap();

    // Mid-upload, neither protocol shows the file or any temporary name.
    let resp = gw.get("/pending.bin").await;
    assert_eq!(resp.status().as_u16(), 404, "a partial upload is visible over HTTP");
    let http_names: Vec<String> = from_json(&gw.json_listing("/").await).into_keys().collect();
    assert!(http_names.is_empty(), "HTTP listing during an upload: {http_names:?}");
    let mut other = gw.ftp().await;
    let ftp_names = within("NLST", STEP, other.nlst(None)).await.unwrap();
    assert!(ftp_names.is_empty(), "FTP listing during an upload: {ftp_names:?}");
    let err = within("SIZE", STEP, other.size("pending.bin")).await.unwrap_err();
    assert!(
        matches!(err, suppaftp::FtpError::UnexpectedResponse(ref r) if r.status.code() == 550),
        "{err}"
    );
    assert!(
        !http_names
            .iter()
            .chain(&ftp_names)
            .any(|n| n.starts_with(UPLOAD_TEMP_PREFIX))
    );

    within("second half", STEP, stream.write_all(&data[1 << 20..]))
        .await
        .unwrap();
    within("end of upload", STEP, stream.shutdown()).await.unwrap();
    drop(stream);
    let (code, text) = uploader.reply().await;
    assert_eq!(code, 226, "{text:?}");

    let resp = gw.get("/pending.bin").await;
    assert_eq!(resp.status().as_u16(), 200);
    let body = within("GET body", TRANSFER, resp.bytes()).await.unwrap();
    assert_eq!(sha256_hex(&body), sha256_hex(&data));
}
