//! Per-user credentials on upstream FTP servers (`storage.credentials:
//! passthrough` and `map`), several upstreams routed per user, and `user@host`
//! logins on an allowlist — against real servers: the run's upstream
//! (`DUALGATE_TEST_STORAGE`) and, for the tests with two, a second one
//! (`DUALGATE_TEST_UPSTREAM_2`), both started by `tests/backends/upstream_ftp.sh`
//! with two extra accounts each (`# upstream_account:` lines).
//!
//! Which upstream account did the work is read from the disk: the servers write
//! files as the account logged in (vsftpd as the system user, Pure-FTPd as the
//! virtual user's uid), so a file's owner names the account, and its directory
//! the upstream and root. Ignored in a plain `cargo test` (they need root and
//! the servers); `tests/backends/run.sh` runs them for vsftpd and Pure-FTPd,
//! each with the other as the second upstream.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::support::dav::call_as;
use crate::support::{
    Gateway, GatewayOptions, STEP, UpstreamFtp, hash_password, metric_value, poll_until, upstream_server,
};

/// The run's upstream server.
fn first() -> &'static UpstreamFtp {
    upstream_server().expect("DUALGATE_TEST_STORAGE must name an upstream FTP fragment (tests/backends/run.sh)")
}

/// The second upstream server.
fn second() -> UpstreamFtp {
    let path = std::env::var("DUALGATE_TEST_UPSTREAM_2")
        .expect("DUALGATE_TEST_UPSTREAM_2 must name a second upstream FTP fragment (tests/backends/run.sh)");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    UpstreamFtp::parse(&text, &path).expect("an upstream_ftp fragment")
}

/// Extra account `i` of a server: name, password, uid and gid.
fn account(server: &UpstreamFtp, i: usize) -> (&str, &str, (u32, u32)) {
    let (name, password, ids) = server
        .accounts
        .get(i)
        .unwrap_or_else(|| panic!("the fragment lists no account {i} (`# upstream_account:`)"));
    (name, password, *ids)
}

/// The port of a server's section.
fn port(server: &UpstreamFtp) -> u64 {
    server
        .section
        .get("port")
        .and_then(serde_yaml::Value::as_u64)
        .expect("a port")
}

/// The FTP reply to `USER user` then `PASS password` (the code of PASS, or of
/// the greeting or USER if that already refused).
async fn ftp_login(gw: &Gateway, user: &str, password: &str) -> u16 {
    let mut c = gw.raw_ftp().await;
    if c.greeting.0 != 220 {
        return c.greeting.0;
    }
    let (code, _) = c.cmd(&format!("USER {user}")).await;
    if code != 331 {
        return code;
    }
    c.cmd(&format!("PASS {password}")).await.0
}

/// The uid owning `path`, which must exist.
fn owner(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .uid()
}

/// Uploads `body` to `path` over HTTP as `who`; the status.
async fn put(gw: &Gateway, who: (&str, &str), path: &str, body: &[u8]) -> u16 {
    call_as(gw, Some(who), "PUT", path, &[], Some(body.to_vec()))
        .await
        .status
}

/// A gateway with local users alice (`alice-pw`) and bob (`bob-pw`), the run's
/// storage section changed by `keys`.
async fn alice_and_bob(keys: String) -> Gateway {
    let config = format!(
        "users:\n  - {{ name: alice, password_hash: \"{}\" }}\n  - {{ name: bob, password_hash: \"{}\" }}\n",
        hash_password("alice-pw"),
        hash_password("bob-pw")
    );
    Gateway::start(GatewayOptions {
        config: Some(config),
        storage_keys: Some(keys),
        ..GatewayOptions::default()
    })
    .await
}

async fn ready(gw: &Gateway) {
    poll_until("/readyz 200", STEP * 2, || async {
        gw.admin_get("/readyz").await.0 == 200
    })
    .await;
}

#[tokio::test]
#[ignore = "needs upstream FTP servers: tests/backends/run.sh runs these"]
async fn upstream_creds_passthrough_logs_in_upstream_and_refuses_wrong_passwords() {
    let server = first();
    let (name, password, ids) = account(server, 0);
    let (dir, root) = server.new_dir("creds", ids);
    // No service account, no local user: the upstream checks every login.
    let keys = format!(
        "{{ credentials: passthrough, user: null, password: null, map: {{ {name}: {{ root: \"{root}\" }} }} }}"
    );
    let config = "limits: { login_failures: { delay_after: 100, ban_after: 4, ban_for: 1m } }\n";
    let gw = Gateway::start(GatewayOptions {
        config: Some(config.to_owned()),
        storage_keys: Some(keys),
        ..GatewayOptions::default()
    })
    .await;
    // Readiness without an account: the upstream answers its greeting.
    ready(&gw).await;
    // A wrong password, twice: refused both times (a refusal is not remembered as good).
    assert_eq!(ftp_login(&gw, name, "wrong-password").await, 530);
    assert_eq!(ftp_login(&gw, name, "wrong-password").await, 530);
    // The right one logs in on both protocols; the file is written upstream as
    // that account, in the root its map entry gives.
    assert_eq!(ftp_login(&gw, name, password).await, 230);
    assert_eq!(put(&gw, (name, password), "/p.txt", b"passthrough").await, 201);
    assert_eq!(std::fs::read(dir.join("p.txt")).unwrap(), b"passthrough");
    assert_eq!(
        owner(&dir.join("p.txt")),
        ids.0,
        "written as the client's own upstream account"
    );
    let got = call_as(&gw, Some((name, password)), "GET", "/p.txt", &[], None).await;
    assert_eq!((got.status, got.body.as_slice()), (200, &b"passthrough"[..]));
    // With the good login remembered, a wrong password is still refused.
    assert_eq!(ftp_login(&gw, name, "wrong-password").await, 530);
    assert_eq!(
        call_as(&gw, Some((name, "wrong-password")), "GET", "/p.txt", &[], None)
            .await
            .status,
        401
    );
    // An unknown user too.
    assert_eq!(ftp_login(&gw, "no-such-upstream-user", "x").await, 530);
    // Every upstream refusal counts in the throttle: the fourth since the last
    // good login bans the address, and then the good password is refused too.
    let metrics = gw.metrics().await;
    assert_eq!(
        metric_value(&metrics, "dualgate_logins_total", &[("result", "failure")]),
        Some(5.0),
        "{metrics}"
    );
    assert_eq!(ftp_login(&gw, name, "wrong-password").await, 421);
    assert_eq!(ftp_login(&gw, name, password).await, 421);
}

#[tokio::test]
#[ignore = "needs upstream FTP servers: tests/backends/run.sh runs these"]
async fn upstream_creds_map_routes_two_users_to_two_accounts_and_roots() {
    let server = first();
    let (a, a_password, a_ids) = account(server, 0);
    let (b, b_password, b_ids) = account(server, 1);
    let (dir_a, root_a) = server.new_dir("creds", a_ids);
    let (dir_b, root_b) = server.new_dir("creds", b_ids);
    let secrets = tempfile::tempdir().unwrap();
    let b_file = secrets.path().join("b.password");
    std::fs::write(&b_file, format!("{b_password}\n")).unwrap();
    let keys = format!(
        "{{ credentials: map, map: {{ alice: {{ user: {a}, password: \"{a_password}\", root: \"{root_a}\" }}, \
         bob: {{ user: {b}, password_file: \"{}\", root: \"{root_b}\" }} }} }}",
        b_file.display()
    );
    let gw = alice_and_bob(keys).await;
    ready(&gw).await;
    // dualgate checks the local password.
    assert_eq!(ftp_login(&gw, "alice", "wrong").await, 530);
    assert_eq!(
        ftp_login(&gw, "alice", a_password).await,
        530,
        "the upstream password is not alice's"
    );
    assert_eq!(ftp_login(&gw, "alice", "alice-pw").await, 230);
    assert_eq!(put(&gw, ("alice", "alice-pw"), "/a.txt", b"alice").await, 201);
    assert_eq!(put(&gw, ("bob", "bob-pw"), "/b.txt", b"bob").await, 201);
    assert_eq!(owner(&dir_a.join("a.txt")), a_ids.0);
    assert_eq!(owner(&dir_b.join("b.txt")), b_ids.0);
    assert!(!dir_b.join("a.txt").exists() && !dir_a.join("b.txt").exists());
    // Each sees only their own root.
    let mut c = gw.raw_ftp().await;
    c.login("bob", "bob-pw").await;
    c.expect("TYPE I", 200).await;
    assert_eq!(c.cmd("SIZE a.txt").await.0, 550);
    assert_eq!(c.expect("SIZE b.txt", 213).await.trim(), "213 3");
}

#[tokio::test]
#[ignore = "needs upstream FTP servers: tests/backends/run.sh runs these"]
async fn upstream_creds_two_upstreams_are_routed_per_user() {
    let (one, two) = (first(), second());
    let (a, a_password, a_ids) = account(one, 0);
    let (b, b_password, b_ids) = account(&two, 1);
    let (dir_a, root_a) = one.new_dir("creds", a_ids);
    let (dir_b, root_b) = two.new_dir("creds", b_ids);
    let keys = format!(
        "{{ credentials: map, upstreams: {{ second: {{ host: 127.0.0.1, port: {} }} }}, \
         map: {{ alice: {{ user: {a}, password: \"{a_password}\", root: \"{root_a}\" }}, \
         bob: {{ upstream: second, user: {b}, password: \"{b_password}\", root: \"{root_b}\" }} }} }}",
        port(&two)
    );
    let gw = alice_and_bob(keys).await;
    // Both upstreams answer: ready.
    ready(&gw).await;
    assert_eq!(put(&gw, ("alice", "alice-pw"), "/one.txt", b"first server").await, 201);
    assert_eq!(put(&gw, ("bob", "bob-pw"), "/two.txt", b"second server").await, 201);
    assert_eq!(std::fs::read(dir_a.join("one.txt")).unwrap(), b"first server");
    assert_eq!(std::fs::read(dir_b.join("two.txt")).unwrap(), b"second server");
    assert_eq!(owner(&dir_b.join("two.txt")), b_ids.0);
    assert!(dir_b.starts_with(&two.dir) && !dir_b.starts_with(&one.dir));
    let got = call_as(&gw, Some(("bob", "bob-pw")), "GET", "/two.txt", &[], None).await;
    assert_eq!((got.status, got.body.as_slice()), (200, &b"second server"[..]));
}

#[tokio::test]
#[ignore = "needs upstream FTP servers: tests/backends/run.sh runs these"]
async fn upstream_creds_user_at_host_only_for_allowed_upstreams() {
    let (one, two) = (first(), second());
    let (a, a_password, a_ids) = account(&two, 0);
    let (dir, root) = two.new_dir("creds", a_ids);
    let login = format!("{a}@second");
    let keys = format!(
        "{{ credentials: passthrough, upstreams: {{ second: {{ host: 127.0.0.1, port: {} }} }}, login_hosts: [second], \
         map: {{ \"{login}\": {{ root: \"{root}\" }} }} }}",
        port(&two)
    );
    let gw = Gateway::start(GatewayOptions {
        storage_keys: Some(keys),
        ..GatewayOptions::default()
    })
    .await;
    ready(&gw).await;
    assert_eq!(ftp_login(&gw, &login, a_password).await, 230);
    assert_eq!(put(&gw, (&login, a_password), "/at.txt", b"via user@host").await, 201);
    assert_eq!(std::fs::read(dir.join("at.txt")).unwrap(), b"via user@host");
    assert_eq!(owner(&dir.join("at.txt")), a_ids.0);
    // Not on the list: the default upstream by its address, and any other host.
    let refused = [format!("{a}@127.0.0.1:{}", port(one)), format!("{a}@evil.example")];
    for name in &refused {
        assert_eq!(ftp_login(&gw, name, a_password).await, 530, "{name}");
    }
    assert_eq!(
        call_as(
            &gw,
            Some((&format!("{a}@evil.example"), a_password)),
            "GET",
            "/",
            &[],
            None
        )
        .await
        .status,
        401
    );
    let metrics = gw.metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "dualgate_upstream_logins_refused_total",
            &[("reason", "host")]
        ),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        metric_value(&metrics, "dualgate_logins_total", &[("result", "failure")]),
        Some(3.0),
        "refused like bad logins: {metrics}"
    );
}
