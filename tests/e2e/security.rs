//! One policy for both protocols: login throttling per client address (growing
//! delay, then a ban that FTP answers with 421 and HTTP with 429), with other
//! addresses unaffected; 127.0.0.2 and 127.0.0.3 act as two separate clients.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::support::http::base64;
use crate::support::{Gateway, GatewayOptions, RawFtp, metric_value, raw_http_from, within};

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

#[tokio::test]
async fn failed_logins_are_delayed_then_banned_per_address_on_both_protocols() {
    let gw = Gateway::start(GatewayOptions::with_config(
        "limits: { login_failures: { delay_after: 1, ban_after: 3, ban_for: 10m } }\n",
    ))
    .await;
    let user = gw.user.clone();

    // 127.0.0.2 guesses over FTP: the first failure is answered at once, the second
    // after the 1 s delay, the third bans the address: 421 and the connection closes.
    let mut guesser = RawFtp::connect_from(ip(2), gw.ftp_addr).await;
    guesser.expect(&format!("USER {user}"), 331).await;
    let t0 = Instant::now();
    guesser.expect("PASS wrong-1", 530).await;
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "first failure delayed {:?}",
        t0.elapsed()
    );
    guesser.expect(&format!("USER {user}"), 331).await;
    let t1 = Instant::now();
    guesser.expect("PASS wrong-2", 530).await;
    assert!(
        t1.elapsed() >= Duration::from_millis(900),
        "second failure answered after {:?}",
        t1.elapsed()
    );
    guesser.expect(&format!("USER {user}"), 331).await;
    guesser.expect("PASS wrong-3", 421).await;
    guesser.expect_closed().await;

    // Banned: a new FTP connection is turned away at once, even the right password
    // is not checked over HTTP (429), and a new FTP connection cannot log in either.
    let mut again = RawFtp::connect_from(ip(2), gw.ftp_addr).await;
    assert_eq!(
        again.greeting.0, 421,
        "greeting of a banned address: {:?}",
        again.greeting
    );
    again.expect_closed().await;
    let auth = basic(&user, &gw.password);
    let http = raw_http_from(Some(ip(2)), gw.http_addr, "GET", "/", &[("Authorization", &auth)]).await;
    assert_eq!(http.status, 429, "HTTP from a banned address: {}", http.text());

    // 127.0.0.3 is another client: it logs in on both protocols, and its own
    // failures start from zero (401 at once, not 429).
    let mut other = RawFtp::connect_from(ip(3), gw.ftp_addr).await;
    assert_eq!(other.greeting.0, 220);
    other.login(&user, &gw.password).await;
    other.expect("PWD", 257).await;
    let ok = raw_http_from(Some(ip(3)), gw.http_addr, "GET", "/", &[("Authorization", &auth)]).await;
    assert_eq!(ok.status, 200, "HTTP from another address: {}", ok.text());
    let wrong = basic(&user, "nope");
    let t2 = Instant::now();
    let denied = raw_http_from(Some(ip(3)), gw.http_addr, "GET", "/", &[("Authorization", &wrong)]).await;
    assert_eq!(denied.status, 401);
    assert!(denied.header("www-authenticate").is_some());
    assert!(
        t2.elapsed() < Duration::from_millis(900),
        "a first HTTP failure delayed {:?}",
        t2.elapsed()
    );

    // The ban is logged and counted.
    let text = gw
        .wait_metrics("banned logins counted", |t| {
            metric_value(
                t,
                "dualgate_logins_total",
                &[("protocol", "http"), ("result", "banned")],
            )
            .is_some()
        })
        .await;
    assert!(
        metric_value(
            &text,
            "dualgate_logins_total",
            &[("protocol", "ftp"), ("result", "banned")]
        )
        .unwrap()
            >= 2.0
    );
    assert!(
        metric_value(
            &text,
            "dualgate_logins_total",
            &[("protocol", "ftp"), ("result", "failure")]
        )
        .unwrap()
            >= 2.0
    );
    within("the ban's log line", Duration::from_secs(5), async {
        while !gw.log().contains("address banned") {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn http_failures_count_towards_the_same_ban_as_ftp() {
    let gw = Gateway::start(GatewayOptions::with_config(
        "limits: { login_failures: { delay_after: 5, ban_after: 2, ban_for: 10m } }\n",
    ))
    .await;
    let wrong = basic(&gw.user, "nope");
    let first = raw_http_from(Some(ip(4)), gw.http_addr, "GET", "/", &[("Authorization", &wrong)]).await;
    assert_eq!(first.status, 401);
    let second = raw_http_from(Some(ip(4)), gw.http_addr, "GET", "/", &[("Authorization", &wrong)]).await;
    assert_eq!(second.status, 429, "the second HTTP failure bans: {}", second.text());
    // The same address over FTP is banned too.
    let mut ftp = RawFtp::connect_from(ip(4), gw.ftp_addr).await;
    assert_eq!(ftp.greeting.0, 421, "{:?}", ftp.greeting);
    ftp.expect_closed().await;
}
