//! One policy for both protocols: login throttling per client address (growing
//! delay, then a ban that FTP answers with 421 and HTTP with 429), with other
//! addresses unaffected; 127.0.0.2 and 127.0.0.3 act as two separate clients.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::support::http::base64;
use crate::support::{Gateway, GatewayOptions, RawFtp, hash_password, metric_value, raw_http_from, users_yaml, within};

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
    // Compared with each other, not with a clock: a password check alone takes a
    // while in a debug build on a busy machine; the delay adds a second on top.
    let t0 = Instant::now();
    guesser.expect("PASS wrong-1", 530).await;
    let first = t0.elapsed();
    guesser.expect(&format!("USER {user}"), 331).await;
    let t1 = Instant::now();
    guesser.expect("PASS wrong-2", 530).await;
    let second = t1.elapsed();
    assert!(
        second >= Duration::from_millis(900) && second >= first + Duration::from_millis(700),
        "first failure answered after {first:?}, the second (delayed) after {second:?}"
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
        t2.elapsed() + Duration::from_millis(500) < second,
        "a first HTTP failure answered after {:?}, as slow as a delayed one ({second:?})",
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
    for result in ["banned", "failure"] {
        let n = metric_value(
            &text,
            "dualgate_logins_total",
            &[("protocol", "ftp"), ("result", result)],
        );
        assert!(n.is_some_and(|n| n >= 2.0), "ftp logins {result}: {n:?}");
    }
    gw.wait_for_log("address banned").await;
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

#[tokio::test]
async fn homes_and_permissions_hold_on_both_protocols() {
    let config = format!(
        "users:\n  - {{ name: alice, password_hash: \"{}\", home: /alice }}\n  - {{ name: reader, password_hash: \"{}\", home: /shared, permissions: [read] }}\nanonymous: {{ enabled: true, home: /pub }}\n",
        hash_password("alice-pw"),
        hash_password("reader-pw")
    );
    let gw = Gateway::start(GatewayOptions::with_config(&config)).await;
    gw.store().put("top.txt", b"top secret");
    gw.store().put("alice/a.txt", b"alice's");
    gw.store().put("shared/s.txt", b"shared");
    gw.store().put("pub/p.txt", b"public");

    // alice's home is her root: "/" is /alice, and nothing above it can be named.
    let mut alice = gw.raw_ftp().await;
    alice.login("alice", "alice-pw").await;
    assert!(alice.expect("PWD", 257).await.starts_with("257 \"/\" "));
    alice.expect("CDUP", 250).await;
    assert!(alice.expect("PWD", 257).await.starts_with("257 \"/\""));
    for line in [
        "SIZE ../top.txt",
        "SIZE /top.txt",
        "SIZE ../../top.txt",
        "SIZE ../shared/s.txt",
    ] {
        alice.expect(line, 550).await;
    }
    assert_eq!(alice.expect("SIZE a.txt", 213).await, "213 7");
    let http = |method: &str, path: &str, who: Option<(&str, &str)>| {
        let auth = who.map(|(u, p)| basic(u, p));
        let (addr, method, path) = (gw.http_addr, method.to_owned(), path.to_owned());
        async move {
            let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
            raw_http_from(None, addr, &method, &path, &headers).await.status
        }
    };
    let alice_creds = Some(("alice", "alice-pw"));
    assert_eq!(http("GET", "/a.txt", alice_creds).await, 200);
    for path in ["/top.txt", "/../top.txt", "/%2e%2e/top.txt", "/..%2ftop.txt"] {
        let status = http("GET", path, alice_creds).await;
        assert!(status == 404 || status == 400, "alice GET {path}: {status}");
    }
    assert_eq!(http("PUT", "/new.txt", alice_creds).await, 201);
    assert!(gw.store().exists("alice/new.txt") && !gw.store().exists("new.txt"));

    // reader may read, and nothing else: FTP 550, HTTP 403, and nothing changes.
    let mut reader = gw.raw_ftp().await;
    reader.login("reader", "reader-pw").await;
    assert_eq!(reader.expect("SIZE s.txt", 213).await, "213 6");
    for line in ["DELE s.txt", "MKD d", "RNFR s.txt", "SITE CHMOD 600 s.txt"] {
        reader.expect(line, 550).await;
    }
    reader.pasv().await;
    reader.expect("STOR w.txt", 550).await;
    let reader_creds = Some(("reader", "reader-pw"));
    assert_eq!(http("GET", "/s.txt", reader_creds).await, 200);
    for (method, path) in [("PUT", "/w.txt"), ("DELETE", "/s.txt"), ("MKCOL", "/d")] {
        assert_eq!(http(method, path, reader_creds).await, 403, "reader {method} {path}");
    }
    assert!(gw.store().exists("shared/s.txt") && !gw.store().exists("shared/w.txt") && !gw.store().exists("shared/d"));

    // Anonymous: /pub read-only on both protocols.
    let mut anon = gw.raw_ftp().await;
    anon.expect("USER anonymous", 331).await;
    anon.expect("PASS guest@example.com", 230).await;
    assert_eq!(anon.expect("SIZE p.txt", 213).await, "213 6");
    anon.expect("SIZE ../top.txt", 550).await;
    anon.expect("DELE p.txt", 550).await;
    anon.expect("MKD d", 550).await;
    assert_eq!(http("GET", "/p.txt", None).await, 200);
    // Without credentials, what anonymous may not do asks for a login (401, the
    // contract's "codes left open"); FTP says 550 above.
    assert_eq!(http("PUT", "/w.txt", None).await, 401);
    assert_eq!(http("DELETE", "/p.txt", None).await, 401);
    assert!(gw.store().exists("pub/p.txt") && !gw.store().exists("pub/w.txt"));
}

/// Polls until `user` can (or cannot) log in over FTP, at most 5 s.
async fn wait_login(gw: &Gateway, user: &str, password: &str, works: bool) {
    within(&format!("{user} login works={works}"), Duration::from_secs(5), async {
        loop {
            let mut c = gw.raw_ftp().await;
            c.expect(&format!("USER {user}"), 331).await;
            let ok = c.cmd(&format!("PASS {password}")).await.0 == 230;
            if ok == works {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn sighup_reloads_users_and_a_bad_config_keeps_the_old_ones() {
    // Generous throttling: this test fails logins on purpose.
    let limits = "limits: { login_failures: { delay_after: 100, ban_after: 0 } }\n";
    let gw = Gateway::start(GatewayOptions::with_config(&format!(
        "{limits}{}",
        users_yaml(&[("alice", "alice-pw")])
    )))
    .await;
    let mut session = gw.raw_ftp().await;
    session.login("alice", "alice-pw").await;

    // bob replaces alice; new logins see it, alice's open session goes on.
    std::fs::write(
        gw.config_path(),
        format!("{limits}{}", users_yaml(&[("bob", "bob-pw")])),
    )
    .unwrap();
    gw.sighup();
    wait_login(&gw, "bob", "bob-pw", true).await;
    wait_login(&gw, "alice", "alice-pw", false).await;
    session.expect("PWD", 257).await;
    let http = raw_http_from(
        None,
        gw.http_addr,
        "GET",
        "/",
        &[("Authorization", &basic("bob", "bob-pw"))],
    )
    .await;
    assert_eq!(http.status, 200, "bob over HTTP after the reload");

    // A config with an error is refused as a whole: bob stays, the server lives.
    std::fs::write(
        gw.config_path(),
        "users: [ { name: carol, password_hash: not-a-hash } ]\n",
    )
    .unwrap();
    gw.sighup();
    gw.wait_for_log("reload failed").await;
    wait_login(&gw, "bob", "bob-pw", true).await;
    session.expect("NOOP", 200).await;
}

/// An anonymous login proves nothing about the guesses made from an address:
/// it does not clear them, so a guesser cannot reset its own ban counter.
#[tokio::test]
async fn an_anonymous_login_does_not_reset_the_failed_login_count() {
    let gw = Gateway::start(GatewayOptions::with_config(
        "anonymous: { enabled: true, home: / }\nlimits: { login_failures: { delay_after: 10, ban_after: 3, ban_for: 10m } }\n",
    ))
    .await;
    let user = gw.user.clone();
    let mut c = RawFtp::connect_from(ip(4), gw.ftp_addr).await;
    for i in 1..=2 {
        c.expect(&format!("USER {user}"), 331).await;
        c.expect(&format!("PASS wrong-{i}"), 530).await;
    }
    c.expect("USER anonymous", 331).await;
    c.expect("PASS guest@", 230).await;
    // The third failure is the third: the address is banned.
    c.expect(&format!("USER {user}"), 331).await;
    c.expect("PASS wrong-3", 421).await;
}
