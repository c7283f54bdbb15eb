//! `Range` evaluation and `multipart/byteranges` framing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design"
)]

use proto_http::range::{
    ByteRange, RangeOutcome, evaluate_range, multipart_content_type, multipart_length, multipart_part_header,
    multipart_trailer, unsatisfied_content_range,
};

fn r(start: u64, end: u64) -> ByteRange {
    ByteRange { start, end }
}

fn partial(ranges: &[(u64, u64)]) -> RangeOutcome {
    RangeOutcome::Partial(ranges.iter().map(|&(s, e)| r(s, e)).collect())
}

#[test]
fn evaluates_table() {
    use RangeOutcome::{Full, Unsatisfiable};
    let cases: &[(&str, u64, RangeOutcome)] = &[
        // Single ranges on a 10-byte representation.
        ("bytes=0-0", 10, partial(&[(0, 0)])),
        ("bytes=-1", 10, partial(&[(9, 9)])),
        ("bytes=5-", 10, partial(&[(5, 9)])),
        ("bytes=0-9", 10, partial(&[(0, 9)])),
        ("bytes=2-5", 10, partial(&[(2, 5)])),
        ("bytes=0-99", 10, partial(&[(0, 9)])),
        ("bytes=-500", 10, partial(&[(0, 9)])),
        ("bytes=9-9", 10, partial(&[(9, 9)])),
        ("bytes=3-99999999999999999999999", 10, partial(&[(3, 9)])),
        ("bytes=-99999999999999999999999", 10, partial(&[(0, 9)])),
        // Unit and whitespace handling.
        ("BYTES=0-0", 10, partial(&[(0, 0)])),
        ("  bytes=0-0  ", 10, partial(&[(0, 0)])),
        ("bytes=0-0, 2-3", 10, partial(&[(0, 0), (2, 3)])),
        ("bytes=0-0,,2-3,", 10, partial(&[(0, 0), (2, 3)])),
        // Unsatisfiable.
        ("bytes=10-", 10, Unsatisfiable),
        ("bytes=10-20", 10, Unsatisfiable),
        ("bytes=-0", 10, Unsatisfiable),
        ("bytes=10-,20-30", 10, Unsatisfiable),
        ("bytes=99999999999999999999999-", 10, Unsatisfiable),
        ("bytes=0-0", 0, Unsatisfiable),
        ("bytes=0-", 0, Unsatisfiable),
        ("bytes=-5", 0, Unsatisfiable),
        // Unsatisfiable ranges are dropped when others are satisfiable.
        ("bytes=20-30,0-1", 10, partial(&[(0, 1)])),
        // Multiple ranges, in request order, coalesced.
        ("bytes=5-6,0-1", 10, partial(&[(5, 6), (0, 1)])),
        ("bytes=0-4,3-7", 10, partial(&[(0, 7)])),
        ("bytes=0-4,5-7", 10, partial(&[(0, 7)])),
        ("bytes=0-4,6-7", 10, partial(&[(0, 4), (6, 7)])),
        ("bytes=6-7,0-1,2-5", 10, partial(&[(0, 7)])),
        ("bytes=8-9,0-1,3-4,2-2", 10, partial(&[(8, 9), (0, 4)])),
        ("bytes=0-0,-1", 10, partial(&[(0, 0), (9, 9)])),
        ("bytes=0-,-1", 10, partial(&[(0, 9)])),
        ("bytes=1-1,1-1,1-1", 10, partial(&[(1, 1)])),
        // Garbage and other units: ignore the header.
        ("", 10, Full),
        ("garbage", 10, Full),
        ("bytes", 10, Full),
        ("bytes=", 10, Full),
        ("bytes=,", 10, Full),
        ("bytes=-", 10, Full),
        ("bytes=a-b", 10, Full),
        ("bytes=5-2", 10, Full),
        ("bytes=0-1,5-2", 10, Full),
        ("bytes=0-1,x", 10, Full),
        ("bytes=1", 10, Full),
        ("bytes=--1", 10, Full),
        ("bytes=+1-2", 10, Full),
        ("bytes=0 - 1", 10, Full),
        ("bytes = 0-1", 10, Full),
        ("items=0-1", 10, Full),
        ("bytes=0-1;x", 10, Full),
    ];
    for (header, size, want) in cases {
        assert_eq!(&evaluate_range(header, *size, 8), want, "{header:?} size {size}");
    }
}

#[test]
fn too_many_ranges_are_ignored() {
    assert_eq!(
        evaluate_range("bytes=0-0,2-2,4-4", 10, 3),
        partial(&[(0, 0), (2, 2), (4, 4)])
    );
    assert_eq!(evaluate_range("bytes=0-0,2-2,4-4,6-6", 10, 3), RangeOutcome::Full);
    // Counted before coalescing: many overlapping ranges are abuse too.
    assert_eq!(evaluate_range("bytes=0-1,0-1,0-1,0-1", 10, 3), RangeOutcome::Full);
    assert_eq!(evaluate_range("bytes=0-0", 10, 0), RangeOutcome::Full);
}

#[test]
fn byte_range_helpers() {
    assert_eq!(r(0, 0).len(), 1);
    assert_eq!(r(0, 99).len(), 100);
    assert_eq!(r(0, u64::MAX).len(), u64::MAX);
    assert_eq!(r(5, 4).len(), 0);
    assert!(r(5, 4).is_empty() && !r(0, 0).is_empty());
    assert_eq!(r(0, 99).content_range(1234), "bytes 0-99/1234");
    assert_eq!(unsatisfied_content_range(1234), "bytes */1234");
}

#[test]
fn multipart_framing() {
    assert_eq!(multipart_content_type("B0UND"), "multipart/byteranges; boundary=B0UND");
    assert_eq!(
        multipart_part_header("B0UND", "text/plain", &r(0, 4), 10),
        "\r\n--B0UND\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-4/10\r\n\r\n"
    );
    assert_eq!(multipart_trailer("B0UND"), "\r\n--B0UND--\r\n");
}

#[test]
fn multipart_length_matches_the_built_body() {
    let data: Vec<u8> = (0..=255).collect();
    let ranges = [r(0, 9), r(100, 100), r(200, 255)];
    let (boundary, ct) = ("xyz123", "application/octet-stream");
    let mut body = Vec::new();
    for range in &ranges {
        body.extend_from_slice(multipart_part_header(boundary, ct, range, 256).as_bytes());
        body.extend_from_slice(&data[range.start as usize..=range.end as usize]);
    }
    body.extend_from_slice(multipart_trailer(boundary).as_bytes());
    assert_eq!(multipart_length(boundary, ct, &ranges, 256), body.len() as u64);
    assert_eq!(
        multipart_length(boundary, ct, &[], 256),
        multipart_trailer(boundary).len() as u64
    );
}
