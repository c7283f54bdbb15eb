//! Operations (issue #13): a SIGHUP that reads an empty config file changes nothing
//! (the users in force stay), and a SIGHUP that changes a setting only a restart can
//! apply says so in the log, naming it, while the users are reloaded all the same.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Gateway, GatewayOptions, RawFtp, TestStore, poll_until, users_yaml, within};

/// Logs in over FTP (asserting 331 then 230) and leaves.
async fn logs_in(ftp: SocketAddr, user: &str, password: &str) {
    let mut c = RawFtp::connect(ftp).await;
    c.login(user, password).await;
    c.expect("QUIT", 221).await;
}

#[tokio::test]
async fn sighup_with_an_empty_config_file_keeps_the_users_in_force() {
    let gw = Gateway::start(GatewayOptions::with_config(&users_yaml(&[("alice", "alice-pw")]))).await;
    logs_in(gw.ftp_addr, "alice", "alice-pw").await;

    // Truncated (a failed write, `> dualgate.yaml`): refused, nothing changes.
    std::fs::write(gw.config_path(), "").unwrap();
    gw.sighup();
    gw.wait_for_log("the file is empty").await;
    assert!(gw.log().contains("reload failed"), "{}", gw.log());
    logs_in(gw.ftp_addr, "alice", "alice-pw").await;

    // Everything commented out is no settings either.
    std::fs::write(gw.config_path(), "# users:\n#   - { name: alice }\n").unwrap();
    gw.sighup();
    poll_until("the second refusal in the log", Duration::from_secs(5), || async {
        gw.log().matches("the file is empty").count() >= 2
    })
    .await;
    logs_in(gw.ftp_addr, "alice", "alice-pw").await;
}

/// `dualgate serve -c FILE` and nothing else: every setting comes from the file, as
/// in production, so a reload can change a listen address (the [`Gateway`]
/// fixture's flags would override the file's). Killed on drop.
struct FromFile {
    child: Child,
    dir: tempfile::TempDir,
    /// The storage its file names (dropped after the process is killed).
    store: TestStore,
    ftp_addr: SocketAddr,
    http_addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl FromFile {
    /// Starts on `settings` plus the run's storage (local disk in a temporary
    /// directory, or an object-store prefix), and waits (at most 20 s) for the
    /// start-up block.
    async fn start(settings: &str) -> FromFile {
        let dir = tempfile::tempdir().unwrap();
        let store = TestStore::new(dir.path().join("data"));
        let config = dir.path().join("dualgate.yaml");
        std::fs::write(&config, Self::file(&store, settings)).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dualgate"));
        cmd.arg("serve").arg("-c").arg(&config);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DUALGATE_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .env("DUALGATE_LOG_LEVEL", "warn")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (sink, mut stderr) = (log.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = std::io::Read::read(&mut stderr, &mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]);
                sink.lock().unwrap_or_else(|e| e.into_inner()).push_str(&text);
            }
        });
        let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            // Drained to the end, so the server never blocks on a full pipe.
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut ftp, mut http) = (None, None);
        within("the start-up block", Duration::from_secs(20), async {
            while let Some(line) = lines.recv().await {
                let mut words = line.split_whitespace();
                let (label, url) = (words.next(), words.next().unwrap_or_default());
                match label {
                    Some("ftp") => ftp = url.strip_prefix("ftp://").and_then(|a| a.parse().ok()),
                    Some("http") => {
                        http = url
                            .strip_prefix("http://")
                            .and_then(|a| a.trim_end_matches('/').parse().ok())
                    }
                    Some("admin") => return,
                    _ => {}
                }
            }
            panic!("dualgate ended before its start-up block: {}", log.lock().unwrap());
        })
        .await;
        FromFile {
            child,
            dir,
            store,
            ftp_addr: ftp.expect("the ftp line of the start-up block"),
            http_addr: http.expect("the http line of the start-up block"),
            log,
        }
    }

    /// The config file's text: `settings` and the storage.
    fn file(store: &TestStore, settings: &str) -> String {
        format!("{settings}{}", store.section())
    }

    /// Rewrites the config file with `settings` (the storage unchanged).
    fn rewrite(&self, settings: &str) {
        std::fs::write(self.dir.path().join("dualgate.yaml"), Self::file(&self.store, settings)).unwrap();
    }

    /// Sends the server SIGHUP.
    fn sighup(&self) {
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.child.id()).unwrap()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    }

    /// The server's log so far.
    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits (at most 5 s) for the first log line containing `needle`.
    async fn log_line(&self, needle: &str) -> String {
        within(&format!("the log line {needle:?}"), Duration::from_secs(5), async {
            loop {
                if let Some(line) = self.log().lines().find(|l| l.contains(needle)) {
                    return line.to_owned();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
    }
}

impl Drop for FromFile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            #[allow(clippy::print_stderr, reason = "diagnostics of a failed test")]
            {
                eprintln!("--- dualgate log ---\n{}", self.log());
            }
        }
    }
}

#[tokio::test]
async fn sighup_names_changed_settings_that_need_a_restart_and_reloads_the_users() {
    let listen = "ftp: { listen: \"127.0.0.1:0\" }\nadmin: { listen: \"127.0.0.1:0\" }\n";
    let (alice, bob) = (
        users_yaml(&[("alice", "alice-pw")]),
        users_yaml(&[("alice", "alice-pw"), ("bob", "bob-pw")]),
    );
    let gw = FromFile::start(&format!("{listen}http: {{ listen: \"127.0.0.1:0\" }}\n{alice}")).await;
    logs_in(gw.ftp_addr, "alice", "alice-pw").await;

    // http.listen moves (a restart is needed for that) and bob is added.
    gw.rewrite(&format!("{listen}http: {{ listen: \"127.0.0.1:1\" }}\n{bob}"));
    gw.sighup();
    let warning = gw.log_line("need a restart").await;
    assert!(warning.contains("WARN"), "{warning}");
    // It, and nothing else (ftp.listen and admin.listen are as they were).
    assert!(warning.contains(r#"settings=["http.listen"]"#), "{warning}");
    // The users were reloaded all the same, and HTTP still listens where it did.
    logs_in(gw.ftp_addr, "bob", "bob-pw").await;
    within(
        "HTTP connect",
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(gw.http_addr),
    )
    .await
    .expect("the HTTP listener has not moved");
    assert!(!gw.log().contains("reload failed"), "{}", gw.log());
}
