//! Response engine tests: the ProFTPD response-chain rules (reference 004) and the
//! one-status HTTP rules of `SendResponse` (reference 000).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::http::{RequestInfo, Responder, SendError, render as render_http};
use super::*;

fn ftp_text(r: &Responses, outcome: Outcome) -> String {
    let mut out = Vec::new();
    ftp::render(&r.selected(outcome, Status::NotImplemented), &mut out);
    String::from_utf8(out).unwrap()
}

const REQ: RequestInfo<'static> = RequestInfo {
    is_get_or_head: false,
    is_head: false,
    raw_path: "/x",
    realm: "dualgate",
    allow: "GET",
};

#[test]
fn proftpd_example_chain_renders_as_one_multiline_reply() {
    let mut r = Responses::default();
    r.add(Status::Ok, "Command successfully completed.");
    r.dup("Statistics for command 'XFOO': none.");
    r.dup("XFOO post_cmd handler ran.");
    assert_eq!(
        ftp_text(&r, Outcome::Handled),
        "200-Command successfully completed.\r\n Statistics for command 'XFOO': none.\r\n200 XFOO post_cmd handler ran.\r\n"
    );
}

#[test]
fn two_replies_with_the_same_code_merge() {
    let mut r = Responses::default();
    r.add_raw(211, "Features:").unwrap();
    r.dup("EPSV");
    r.add_raw(211, "End").unwrap();
    assert_eq!(ftp_text(&r, Outcome::Handled), "211-Features:\r\n EPSV\r\n211 End\r\n");
}

#[test]
fn only_the_chain_the_outcome_selects_is_sent() {
    let mut r = Responses::default();
    r.add(Status::TransferComplete, "ok");
    r.add_err(Status::NotFound, "nope");
    assert_eq!(ftp_text(&r, Outcome::Handled), "226 ok\r\n");
    assert_eq!(ftp_text(&r, Outcome::Failed), "550 nope\r\n");
    assert_eq!(ftp_text(&r, Outcome::Unsupported), "502 Command not implemented.\r\n");
}

#[test]
fn a_failure_without_an_error_reply_still_answers() {
    let r = Responses::default();
    assert!(ftp_text(&r, Outcome::Failed).starts_with("451 "));
    assert!(ftp_text(&r, Outcome::Handled).starts_with("200 "));
}

#[test]
fn cr_lf_in_texts_never_reach_the_wire() {
    let mut r = Responses::default();
    r.add_err(Status::NotFound, "evil\r\n230 Logged in");
    let text = ftp_text(&r, Outcome::Failed);
    assert_eq!(text.matches("\r\n").count(), 1, "{text:?}");
    assert!(text.starts_with("550 evil"));
}

#[test]
fn quotes_in_257_paths_are_doubled() {
    assert_eq!(proto_ftp::quote_path("/a \"b\""), "\"/a \"\"b\"\"\"");
}

#[test]
fn codes_must_be_three_digits() {
    let mut r = Responses::default();
    assert_eq!(r.add_raw(99, "x"), Err(ReplyError::InvalidCode(99)));
    assert_eq!(r.add_raw(1000, "x"), Err(ReplyError::InvalidCode(1000)));
    assert!(r.add_raw(999, "x").is_ok());
    let (tx, _rx) = tokio::sync::oneshot::channel::<()>();
    assert_eq!(Responder::new(tx).send(42, ()), Err(SendError::InvalidStatus(42)));
}

#[test]
fn http_success_without_body_is_204() {
    let mut r = Responses::default();
    r.add(Status::Ok, "done");
    let out = render_http(&r.selected(Outcome::Handled, Status::NotImplemented), &REQ).unwrap();
    assert_eq!(out.status.as_u16(), 204);
    assert!(out.body.is_empty());
    r = Responses::default();
    r.add(Status::UploadCreated, "");
    let out = render_http(&r.selected(Outcome::Handled, Status::NotImplemented), &REQ).unwrap();
    assert_eq!(out.status.as_u16(), 201);
}

#[test]
fn http_errors_carry_a_short_text_and_the_headers_their_status_needs() {
    let mut r = Responses::default();
    r.add_err(Status::NotLoggedIn, "");
    let out = render_http(&r.selected(Outcome::Failed, Status::NotImplemented), &REQ).unwrap();
    assert_eq!(out.status.as_u16(), 401);
    assert!(
        out.headers
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Basic realm=\"dualgate\"")
    );
    assert!(!out.body.is_empty());
    let get = RequestInfo {
        is_get_or_head: true,
        ..REQ
    };
    let mut r = Responses::default();
    r.add_err(Status::IsADirectory, "");
    let out = render_http(&r.selected(Outcome::Failed, Status::NotImplemented), &get).unwrap();
    assert_eq!(out.status.as_u16(), 301);
    assert_eq!(out.headers.get("location").unwrap(), "/x/");
    let out = render_http(
        &Responses::default().selected(Outcome::Unsupported, Status::NotImplemented),
        &REQ,
    )
    .unwrap();
    assert_eq!(out.status.as_u16(), 405);
    assert_eq!(out.headers.get("allow").unwrap(), "GET");
}

#[test]
fn anonymous_refusals_ask_for_a_login_on_http_only() {
    let mut r = Responses::default();
    r.add_err(Status::AnonymousDenied, "");
    let chain = r.selected(Outcome::Failed, Status::NotImplemented);
    let out = render_http(&chain, &REQ).unwrap();
    assert_eq!(out.status.as_u16(), 401);
    assert!(out.headers.contains_key("www-authenticate"), "{:?}", out.headers);
    assert!(ftp_text(&r, Outcome::Failed).starts_with("550 "));
    // A body that came too slowly, or in a coding nobody can read: answered, then closed.
    for (status, code) in [
        (Status::RequestTimeout, 408),
        (Status::TransferCodingNotImplemented, 501),
    ] {
        let mut r = Responses::default();
        r.add_err(status, "");
        let out = render_http(&r.selected(Outcome::Failed, Status::NotImplemented), &REQ).unwrap();
        assert_eq!(out.status.as_u16(), code);
        assert_eq!(out.headers.get("connection").unwrap(), "close");
        assert!(!out.headers.contains_key("www-authenticate"));
    }
}

#[test]
fn a_second_status_for_one_request_fails() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut responder = Responder::new(tx);
    assert!(!responder.is_sent());
    responder.send(200, "first").unwrap();
    assert!(responder.is_sent());
    assert_eq!(responder.send(500, "second"), Err(SendError::AlreadySent));
    assert_eq!(rx.blocking_recv().unwrap(), "first");
}
