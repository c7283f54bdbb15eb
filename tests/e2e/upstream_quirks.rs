//! What an upstream FTP server lacks, learned per upstream and remembered:
//! `LIST -a` refused (a plain `LIST` from then on) and `SITE CHMOD` missing
//! (refused up front from then on, and left out of SITE HELP).
//!
//! A server that lacks them is the run's own upstream seen through
//! `tests/backends/faultproxy.py --ftp-refuse`, which answers the named
//! commands `500` itself (as vsftpd with `chmod_enable=NO` answers `SITE
//! CHMOD`) and forwards everything else; its count of refused commands says
//! how often the gateway asked. On other storage there is nothing to check:
//! the tests say so and return.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::support::{Gateway, GatewayOptions, STEP, poll_until, read_all, upstream_server};

/// `faultproxy.py --ftp-passive` in front of the run's upstream, refusing the
/// commands it was given; stopped when dropped.
struct RefusingProxy {
    child: Child,
    port: u16,
    stats: PathBuf,
    _dir: tempfile::TempDir,
}

impl RefusingProxy {
    fn start(refuse: &[&str]) -> Option<RefusingProxy> {
        let Some(upstream) = upstream_server() else {
            #[allow(clippy::print_stderr, reason = "a check that could not be made is said")]
            {
                eprintln!("skip: the run's storage is not an upstream FTP server");
            }
            return None;
        };
        let target = upstream
            .section
            .get("port")
            .and_then(serde_yaml::Value::as_u64)
            .expect("the fragment's port");
        let dir = tempfile::tempdir().unwrap();
        let stats = dir.path().join("stats.json");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/backends/faultproxy.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args([
                "--listen",
                "0",
                "--target",
                &format!("127.0.0.1:{target}"),
                "--ftp-passive",
            ])
            .args(["--duration", "300", "--quiet", "--stats-file"])
            .arg(&stats);
        for prefix in refuse {
            cmd.args(["--ftp-refuse", prefix]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting python3 tests/backends/faultproxy.py");
        // Its first line: `LISTEN <port>`.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("LISTEN ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("faultproxy said {line:?}"));
        Some(RefusingProxy {
            child,
            port,
            stats,
            _dir: dir,
        })
    }

    /// How many commands it has refused so far (its stats, written on SIGUSR1).
    async fn refused(&self) -> u64 {
        let _ = std::fs::remove_file(&self.stats);
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.child.id()).unwrap()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::USR1).unwrap();
        let mut stats = None;
        poll_until("the proxy's stats", STEP, || {
            stats = std::fs::read_to_string(&self.stats)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
            std::future::ready(stats.is_some())
        })
        .await;
        stats.unwrap()["refused"].as_u64().unwrap()
    }

    /// A gateway on the upstream through this proxy, with `keys` set in its
    /// `storage:` section too.
    async fn gateway(&self, keys: &str) -> Gateway {
        Gateway::start(GatewayOptions {
            storage_keys: Some(format!("{{ port: {}, {keys} }}", self.port)),
            log_level: Some("info"),
            ..GatewayOptions::default()
        })
        .await
    }
}

impl Drop for RefusingProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The names of a `LIST` through the gateway, sorted.
async fn listed(c: &mut crate::support::RawFtp) -> Vec<String> {
    let mut data = c.start_transfer("LIST").await;
    let body = read_all(&mut data, STEP).await;
    assert_eq!(c.reply().await.0, 226);
    let mut names: Vec<String> = String::from_utf8_lossy(&body)
        .lines()
        .filter_map(|l| l.rsplit(' ').next().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn upstream_refusing_list_dash_a_gets_a_plain_list_from_then_on() {
    let Some(proxy) = RefusingProxy::start(&["LIST -a"]) else {
        return;
    };
    // `list: list`: Pure-FTPd would get MLSD otherwise.
    let gw = proxy.gateway("list: list").await;
    gw.store().put("a.txt", b"a");
    gw.store().mkdir("sub");
    gw.store().put("sub/b.txt", b"b");
    let mut c = gw.raw_login().await;
    assert_eq!(listed(&mut c).await, ["a.txt", "sub"]);
    assert_eq!(proxy.refused().await, 1, "LIST -a was tried once");
    gw.wait_for_log("plain LIST from now on").await;
    // From then on, plain LIST at once: no refusal, here and in another directory.
    assert_eq!(listed(&mut c).await, ["a.txt", "sub"]);
    c.expect("CWD sub", 250).await;
    assert_eq!(listed(&mut c).await, ["b.txt"]);
    // A stat that needs the parent's listing (vsftpd: a directory) works too.
    c.expect("CWD /", 250).await;
    c.expect("MLST sub", 250).await;
    assert_eq!(proxy.refused().await, 1, "LIST -a was not tried again");
}

#[tokio::test]
async fn upstream_without_site_chmod_is_refused_up_front_once_known() {
    let Some(proxy) = RefusingProxy::start(&["SITE CHMOD"]) else {
        return;
    };
    let gw = proxy.gateway("list: auto").await;
    gw.store().put("f.txt", b"x");
    let before = gw.store().mode("f.txt");
    let mut c = gw.raw_login().await;
    // Before the upstream said so, SITE HELP offers it and the command is tried.
    assert!(c.expect("SITE HELP", 214).await.contains("CHMOD"));
    let (code, text) = c.cmd("SITE CHMOD 600 f.txt").await;
    assert_eq!(code, 502, "{text}");
    assert_eq!(proxy.refused().await, 1);
    gw.wait_for_log("SITE CHMOD is refused from now on").await;
    // Then it is refused without asking, for this session and a new one.
    let (code, text) = c.cmd("SITE CHMOD 644 f.txt").await;
    assert_eq!(code, 502, "{text}");
    let mut other = gw.raw_login().await;
    assert_eq!(other.cmd("SITE CHMOD 644 f.txt").await.0, 502);
    let help = other.expect("SITE HELP", 214).await;
    assert!(!help.contains("CHMOD"), "SITE HELP still offers CHMOD: {help}");
    assert_eq!(proxy.refused().await, 1, "SITE CHMOD was not sent again");
    assert_eq!(gw.store().mode("f.txt"), before, "nothing changed");
    // Everything else still goes through.
    assert_eq!(listed(&mut other).await, ["f.txt"]);
}
