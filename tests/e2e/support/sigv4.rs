//! AWS Signature Version 4 for the one S3 request the test store makes by hand:
//! ListMultipartUploads, which OpenDAL does not offer. A `GET` without a body,
//! signed over `host`, `x-amz-content-sha256` and `x-amz-date` as AWS's
//! "Signature Version 4 signing process" describes, so that a store which checks
//! signatures (s3s-fs, MinIO, AWS) answers it as it answers the server — and one
//! that does not (moto) ignores the headers.

use reqwest::Url;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::hex;

/// Who signs, and for which region.
pub struct Credentials<'a> {
    /// Access key id.
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_access_key: &'a str,
    /// Region (part of the signing scope).
    pub region: &'a str,
}

/// The headers that sign `GET url` (no body) at `now`: `x-amz-date`,
/// `x-amz-content-sha256` and `authorization`.
pub fn sign_get(url: &Url, creds: &Credentials<'_>, now: OffsetDateTime) -> Vec<(&'static str, String)> {
    let date = format!("{:04}{:02}{:02}", now.year(), u8::from(now.month()), now.day());
    let stamp = format!("{date}T{:02}{:02}{:02}Z", now.hour(), now.minute(), now.second());
    let payload = hex(&Sha256::digest(b""));
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let signed = "host;x-amz-content-sha256;x-amz-date";
    let canonical = format!(
        "GET\n{}\n{}\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{stamp}\n\n{signed}\n{payload}",
        url.path(),
        query.join("&")
    );
    let scope = format!("{date}/{}/s3/aws4_request", creds.region);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = [creds.region, "s3", "aws4_request"].iter().fold(
        hmac(format!("AWS4{}", creds.secret_access_key).as_bytes(), date.as_bytes()),
        |k, part| hmac(&k, part.as_bytes()),
    );
    let signature = hex(&hmac(&key, to_sign.as_bytes()));
    vec![
        ("x-amz-date", stamp),
        ("x-amz-content-sha256", payload),
        (
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
                creds.access_key_id
            ),
        ),
    ]
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// SigV4's URI encoding of a query key or value: everything but the unreserved
/// characters (`A-Z a-z 0-9 - _ . ~`) as `%XX`.
fn uri_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn hmac_sha256_of_rfc_4231() {
        // Test case 2.
        assert_eq!(
            hex(&hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex(&hmac(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn the_get_bucket_lifecycle_example_of_the_s3_documentation() {
        let url = Url::parse("https://examplebucket.s3.amazonaws.com/?lifecycle").unwrap();
        let creds = Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
        };
        let at = OffsetDateTime::from_unix_timestamp(1_369_353_600).unwrap(); // 2013-05-24T00:00:00Z
        let headers = sign_get(&url, &creds, at);
        assert_eq!(headers[0], ("x-amz-date", "20130524T000000Z".to_owned()));
        assert_eq!(
            headers[2].1,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
             Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
    }

    #[test]
    fn query_values_are_encoded_strictly() {
        assert_eq!(uri_encode("e2e-1-2-ab/"), "e2e-1-2-ab%2F");
        assert_eq!(uri_encode("a b~"), "a%20b~");
    }
}
