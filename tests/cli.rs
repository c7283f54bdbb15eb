//! Command-line tests against the real binary: help, check-config (located,
//! redacted errors; empty files and repeated keys), hash-password, and start-up
//! failures that must exit non-zero with a reason.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn dualgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dualgate"))
        .args(args)
        .env_remove("DUALGATE_CONFIG")
        .output()
        .unwrap()
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn help_documents_every_subcommand() {
    let out = dualgate(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in ["serve", "check-config", "hash-password", "healthcheck"] {
        assert!(text.contains(sub), "--help lacks {sub}: {text}");
    }
    let serve = String::from_utf8(dualgate(&["serve", "--help"]).stdout).unwrap();
    for flag in [
        "--config",
        "--ftp-listen",
        "--http-listen",
        "--admin-listen",
        "--root",
        "--passive-ports",
        "--log-format",
    ] {
        assert!(serve.contains(flag), "serve --help lacks {flag}");
    }
}

#[test]
fn check_config_accepts_the_shipped_configs() {
    assert!(dualgate(&["check-config"]).status.success());
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/dualgate.example.yaml");
    let out = dualgate(&["check-config", "-c", example]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn check_config_reports_file_line_column_and_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        "ftp:\n  listen: \"127.0.0.1:21\"\n  pasive_ports: \"1000-2000\"\n",
    );
    let out = dualgate(&["check-config", "-c", &path]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with(&format!("{path}:3:")), "{err}");
    assert!(err.contains("pasive_ports"), "{err}");

    let path = write_config(&dir, "limits:\n  max_connections: \"TopSecretValue\"\n");
    let err = String::from_utf8(dualgate(&["check-config", "-c", &path]).stderr).unwrap();
    assert!(err.starts_with(&format!("{path}:2:")), "{err}");
    assert!(!err.contains("TopSecretValue"), "the file's text leaked: {err}");

    let out = dualgate(&["check-config", "-c", "/nonexistent/dualgate.yaml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("cannot read"));
}

/// Waits (at most 20 s) for `child` to exit; kills it and fails when it does not.
fn exit_status(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_empty_config_file_is_refused_by_check_config_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    for text in ["", "\n  \n", "# everything commented out\n# users: []\n"] {
        let path = write_config(&dir, text);
        let out = dualgate(&["check-config", "-c", &path]);
        assert_eq!(out.status.code(), Some(2), "{text:?}");
        assert!(out.stdout.is_empty(), "{text:?}: said ok");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with(&format!("{path}:1:1: ")), "{text:?}: {err}");
        assert!(err.contains("empty"), "{err}");
    }
    // `serve` refuses it too: the embedded default config is only for no `-c`.
    let path = write_config(&dir, "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualgate"))
        .args(["serve", "-c", &path, "--ftp-listen", "127.0.0.1:0"])
        .args(["--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--root")
        .arg(dir.path().join("data"))
        .env_remove("DUALGATE_CONFIG")
        .env("DUALGATE_PASSWORD", "x")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = exit_status(&mut child, "serve with an empty config");
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains(&format!("{path}:1:1: ")) && err.contains("empty"), "{err}");
}

#[test]
fn check_config_points_at_the_second_occurrence_of_a_repeated_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, at, key) in [
        (
            "ftp:\n  listen: \"127.0.0.1:21\"\nhttp:\n  listen: \"127.0.0.1:80\"\n  listen: \"127.0.0.1:81\"\n",
            "5:3",
            "listen",
        ),
        ("ftp: {}\nadmin: {}\n\nftp:\n  listen: \"127.0.0.1:21\"\n", "4:1", "ftp"),
    ] {
        let path = write_config(&dir, text);
        let out = dualgate(&["check-config", "-c", &path]);
        assert_eq!(out.status.code(), Some(2), "{text:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with(&format!("{path}:{at}: ")), "{text:?}: {err}");
        assert!(err.contains(&format!("duplicate key `{key}`")), "{err}");
        assert!(!err.contains("127.0.0.1"), "a value leaked: {err}");
    }
}

#[test]
fn hash_password_output_is_accepted_by_the_config() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualgate"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"correct horse\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("correct horse"));
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        &format!("users:\n  - name: alice\n    password_hash: \"{hash}\"\n    home: /alice\n    permissions: [read]\n"),
    );
    let out = dualgate(&["check-config", "-c", &path]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn serve_exits_non_zero_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, "limits:\n  idle_timeout: never\n");
    let out = dualgate(&["serve", "-c", &path]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("{path}:2:")) && err.contains("duration"), "{err}");

    // A listener that cannot bind names the listener and the address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let root = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualgate"))
        .args([
            "serve",
            "--ftp-listen",
            &addr,
            "--http-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--root")
        .arg(&root)
        .env("DUALGATE_PASSWORD", "x")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not exit on a taken port"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("FTP") && err.contains(&addr), "{err}");
}

#[test]
fn configured_homes_are_created_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$KxyCK3sDF7R6m0Cf8Xl3cm0ajRmL3aTDp+bZbOEj4Bw";
    let root = dir.path().join("data");
    let path = write_config(
        &dir,
        &format!(
            "ftp: {{ listen: \"127.0.0.1:0\" }}\nhttp: {{ listen: \"127.0.0.1:0\" }}\nadmin: {{ listen: \"127.0.0.1:0\" }}\n\
             storage: {{ kind: local, root: \"{}\" }}\nusers:\n  - {{ name: al, password_hash: \"{hash}\", home: /homes/al }}\n\
             anonymous: {{ enabled: true, home: /pub }}\n",
            root.display()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_dualgate"))
        .args(["serve", "-c", &path])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The start-up block is printed once the listeners are up (and after homes are made).
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains("ready"), "{first}");
    assert!(root.join("homes/al").is_dir());
    assert!(root.join("pub").is_dir());
}

#[test]
fn a_tls_pair_that_does_not_load_is_reported_by_check_config_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(&key, "").unwrap();
    let path = write_config(
        &dir,
        &format!(
            "http:\n  tls: {{ cert: \"{}\", key: \"{}\" }}\n",
            cert.display(),
            key.display()
        ),
    );
    let out = dualgate(&["check-config", "-c", &path]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&cert.display().to_string()), "names the file: {err}");

    let out = Command::new(env!("CARGO_BIN_EXE_dualgate"))
        .args([
            "serve",
            "-c",
            &path,
            "--ftp-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args(["--admin-listen", "127.0.0.1:0"])
        .arg("--root")
        .arg(dir.path().join("data"))
        .env("DUALGATE_PASSWORD", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("TLS") && err.contains(&cert.display().to_string()),
        "{err}"
    );
}
