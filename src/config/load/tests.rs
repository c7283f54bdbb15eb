//! Config loading tests: defaults, located errors, redaction, env overrides, empty
//! documents and repeated keys, and the settings a reload cannot apply.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use super::*;

fn problems(text: &str) -> Vec<Problem> {
    match load_str(text, "f.yaml").and_then(|c| {
        let p = c.validate("f.yaml");
        if p.is_empty() {
            Ok(c)
        } else {
            Err(ConfigError::Invalid(p))
        }
    }) {
        Err(ConfigError::Invalid(p)) => p,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn embedded_default_and_example_configs_load() {
    let c = load(None, Vec::new()).unwrap();
    assert_eq!(c.ftp.listen.port(), 2121);
    assert_eq!(c.http.listen.port(), 8080);
    assert_eq!(c.admin.listen.to_string(), "127.0.0.1:9090");
    for f in ["../configs/dualgate.yaml", "../configs/dualgate.example.yaml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("configs")
            .join(f.rsplit('/').next().unwrap());
        load(Some(&path), Vec::new()).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[test]
fn unknown_key_is_an_error_with_line_and_column() {
    let p = problems("ftp:\n  listen: \"0.0.0.0:21\"\n  pasive_ports: \"1-2\"\n");
    assert_eq!(p.len(), 1);
    assert!(p[0].location.starts_with("f.yaml:3:"), "{:?}", p[0]);
    assert!(p[0].reason.contains("pasive_ports"), "{:?}", p[0]);
}

#[test]
fn bad_values_are_located_and_not_echoed() {
    let p = problems("limits:\n  idle_timeout: soon\n");
    assert!(p[0].location.starts_with("f.yaml:2:"), "{:?}", p[0]);
    assert!(p[0].reason.contains("duration"), "{:?}", p[0]);
    // A secret-looking value in a wrongly typed field is not repeated.
    let p = problems("limits:\n  max_connections: \"hunter2-secret\"\n");
    assert!(!p[0].to_string().contains("hunter2"), "{}", p[0]);
    let p = problems("ftp:\n  passive_ports: 3000-1000\n");
    assert!(p[0].reason.contains("first port"), "{:?}", p[0]);
}

#[test]
fn validation_names_the_key() {
    let p = problems("users:\n  - name: al\n    password_hash: plaintext\n");
    assert_eq!(p[0].location, "f.yaml: users[0].password_hash");
    assert!(!p[0].to_string().contains("plaintext"));
}

#[test]
fn environment_overrides() {
    let env = vec![
        ("DUALGATE_FTP__LISTEN".to_owned(), "127.0.0.1:2999".to_owned()),
        ("DUALGATE_LIMITS__LOGIN_FAILURES__BAN_AFTER".to_owned(), "7".to_owned()),
        ("DUALGATE_PASSWORD".to_owned(), "not-an-override".to_owned()),
        ("DUALGATE_BIN".to_owned(), "/usr/bin/dualgate".to_owned()), // a deployment's own variable
        ("DUALGATE_SHUTDOWN".to_owned(), "{ drain_timeout: 3s }".to_owned()), // a whole section
        ("HOME".to_owned(), "/root".to_owned()),
    ];
    let c = apply_env(Config::default(), "", env).unwrap();
    assert_eq!(c.ftp.listen.port(), 2999);
    assert_eq!(c.limits.login_failures.ban_after, 7);
    assert_eq!(c.shutdown.drain_timeout.0, std::time::Duration::from_secs(3));
    let bad = vec![("DUALGATE_FTP__NOPE".to_owned(), "1".to_owned())];
    let err = apply_env(Config::default(), "", bad).unwrap_err().to_string();
    assert!(err.contains("DUALGATE_FTP__NOPE") && err.contains("nope"), "{err}");
}

#[test]
fn a_document_without_settings_is_refused_at_1_1() {
    for text in [
        "",
        "  \n\n",
        "# everything commented out\n# ftp:\n#   listen: \"0.0.0.0:21\"\n",
        "---\n",
        "~\n",
        "null\n",
    ] {
        let p = problems(text);
        assert_eq!(p.len(), 1, "{text:?}: {p:?}");
        assert_eq!(p[0].location, "f.yaml:1:1", "{text:?}");
        assert!(p[0].reason.contains("empty"), "{text:?}: {:?}", p[0]);
    }
    // An explicit empty mapping is how to ask for every default.
    let c = load_str("{}\n", "f.yaml").unwrap();
    assert_eq!(c.ftp.listen.port(), 2121);
}

#[test]
fn a_repeated_key_is_reported_at_its_second_occurrence() {
    for (text, at, key) in [
        (
            "ftp:\n  listen: \"0.0.0.0:21\"\nhttp: {}\nftp:\n  listen: \"0.0.0.0:22\"\n",
            "4:1",
            "ftp",
        ),
        (
            "# comment\nftp:\n  listen: \"0.0.0.0:21\"\n  passive_ports: 1000-1010\n  listen: \"0.0.0.0:22\"\n",
            "5:3",
            "listen",
        ),
        (
            "ftp: { listen: \"0.0.0.0:21\", listen: \"0.0.0.0:22\" }\n",
            "1:30",
            "listen",
        ),
        (
            "users:\n  - name: al\n    home: /al\n    name: bo-secret\n",
            "4:5",
            "name",
        ),
        (
            "limits:\n  login_failures:\n    ban_after: 3\n    ban_after: 4\n",
            "4:5",
            "ban_after",
        ),
    ] {
        let p = problems(text);
        assert_eq!(p.len(), 1, "{text:?}: {p:?}");
        assert_eq!(p[0].location, format!("f.yaml:{at}"), "{text:?}: {:?}", p[0]);
        assert!(
            p[0].reason.contains(&format!("duplicate key `{key}`")),
            "{text:?}: {:?}",
            p[0]
        );
        for value in ["0.0.0.0:22", "bo-secret"] {
            assert!(!p[0].to_string().contains(value), "the value leaked: {}", p[0]);
        }
    }
    // The same key in two mappings is no repetition.
    let two = "users:\n  - { name: a, password_hash: x }\n  - { name: b, password_hash: y }\n";
    assert_eq!(load_str(two, "f.yaml").unwrap().users.len(), 2);
}

#[test]
fn a_reload_names_the_settings_that_need_a_restart() {
    let old = load_str("ftp: { listen: \"0.0.0.0:2121\" }\n", "f").unwrap();
    assert!(old.changes_needing_restart(&old.clone()).is_empty());
    // Users and anonymous access are what a reload applies: no restart needed.
    let users = load_str(
        "ftp: { listen: \"0.0.0.0:2121\" }\nusers: [ { name: a, password_hash: x } ]\nanonymous: { enabled: true }\n",
        "f",
    )
    .unwrap();
    assert!(old.changes_needing_restart(&users).is_empty());
    let new = load_str(
        concat!(
            "ftp: { listen: \"0.0.0.0:21\", passive_ports: 1000-1010, tls: { cert: c.pem, key: k.pem } }\n",
            "http: { listen: \"0.0.0.0:80\", tls: { cert: c.pem, key: k.pem } }\n",
            "admin: { listen: \"127.0.0.1:1\" }\n",
            "storage: { kind: local, root: /srv/files }\n",
            "limits: { idle_timeout: 5s }\n",
            "shutdown: { drain_timeout: 1s }\n",
            "users: [ { name: a, password_hash: x } ]\n",
        ),
        "f",
    )
    .unwrap();
    assert_eq!(
        old.changes_needing_restart(&new),
        [
            "ftp.listen",
            "ftp.passive_ports",
            "ftp.tls",
            "http.listen",
            "http.tls",
            "admin.listen",
            "storage",
            "limits.idle_timeout",
            "shutdown.drain_timeout"
        ]
    );
}

#[test]
fn the_documented_s3_section_loads_with_its_defaults() {
    // The commented `storage: kind: s3` block of the example, uncommented.
    let example = include_str!("../../../configs/dualgate.example.yaml");
    let block: String = example
        .lines()
        .skip_while(|l| *l != "# storage:")
        .enumerate()
        .take_while(|(i, l)| *i == 0 || l.starts_with("#  "))
        .map(|(_, l)| l)
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#'))))
        .collect();
    assert!(block.contains("kind: s3"), "{block}");
    let c = load_str(&block, "example").unwrap();
    assert!(c.validate("example").is_empty());
    let super::super::StorageConfig::S3(s3) = c.storage else {
        panic!("not an s3 section")
    };
    assert_eq!(s3.part_size.0, 16 << 20);
    assert_eq!(s3.upload_concurrency, 2);
    assert_eq!(s3.rename_dirs, super::super::RenameDirs::Refuse);
    assert_eq!(s3.directory_markers, super::super::DirectoryMarkers::Slash);
    // The defaults are the documented values.
    let minimal = load_str(
        "storage: { kind: s3, endpoint: \"http://127.0.0.1:9000\", bucket: b }\n",
        "minimal",
    )
    .unwrap();
    let super::super::StorageConfig::S3(d) = minimal.storage else {
        panic!("not an s3 section")
    };
    assert_eq!(
        (d.part_size, d.upload_concurrency, d.list_page_size, d.max_retries),
        (s3.part_size, s3.upload_concurrency, s3.list_page_size, s3.max_retries)
    );
    assert_eq!((d.request_timeout, d.io_timeout), (s3.request_timeout, s3.io_timeout));
    assert_eq!(d.stale_uploads_after, s3.stale_uploads_after);
    assert_eq!(s3.stale_uploads_after.0, std::time::Duration::from_secs(3600));
    let p = problems("storage: { kind: s3, endpoint: \"http://x\", bucket: b, part_size: 4MiB }\n");
    assert!(p[0].to_string().contains("storage.part_size"), "{}", p[0]);
    // A sweep sooner than a live upload may be silent would abort it.
    let p = problems(
        "limits: { data_timeout: 60s }\nstorage: { kind: s3, endpoint: \"http://x\", bucket: b, stale_uploads_after: 3m }\n",
    );
    assert!(p[0].to_string().contains("storage.stale_uploads_after"), "{}", p[0]);
}

#[test]
fn the_documented_upstream_ftp_section_loads_with_its_defaults() {
    // The commented `storage: kind: upstream_ftp` block of the example, uncommented
    // (with the inline password instead of the file, which does not exist here).
    let example = include_str!("../../../configs/dualgate.example.yaml");
    let block: String = example
        .lines()
        .skip_while(|l| *l != "#   kind: upstream_ftp")
        .take_while(|l| l.starts_with("#  "))
        .map(|l| format!("  {}\n", l.strip_prefix("#   ").unwrap_or(l.trim_start_matches('#'))))
        .collect();
    let block = format!("storage:\n{block}")
        .replace("password: null", "password: secret")
        .replace("password_file: /run/secrets/upstream-ftp", "password_file: null");
    assert!(block.contains("kind: upstream_ftp"), "{block}");
    let c = load_str(&block, "example").unwrap();
    assert!(c.validate("example").is_empty(), "{:?}", c.validate("example"));
    let super::super::StorageConfig::UpstreamFtp(documented) = c.storage else {
        panic!("not an upstream_ftp section")
    };
    // The defaults are the documented values.
    let minimal = load_str(
        "storage: { kind: upstream_ftp, host: ftp.example.internal, user: gateway, password: secret }\n",
        "minimal",
    )
    .unwrap();
    let super::super::StorageConfig::UpstreamFtp(d) = minimal.storage else {
        panic!("not an upstream_ftp section")
    };
    assert_eq!(
        (
            d.port,
            d.root.as_str(),
            d.tls,
            d.data_mode,
            d.list,
            d.atomic_uploads,
            d.max_connections
        ),
        (
            documented.port,
            documented.root.as_str(),
            documented.tls,
            documented.data_mode,
            documented.list,
            documented.atomic_uploads,
            documented.max_connections
        )
    );
    assert_eq!(
        (
            d.idle_timeout,
            d.connect_timeout,
            d.command_timeout,
            d.passive_nat_workaround
        ),
        (
            documented.idle_timeout,
            documented.connect_timeout,
            documented.command_timeout,
            documented.passive_nat_workaround
        )
    );
    // Checked with clear errors.
    let p = problems("storage: { kind: upstream_ftp, host: h, user: u, password: p, root: relative }\n");
    assert!(p[0].to_string().contains("storage.root"), "{}", p[0]);
    let p = problems("storage: { kind: upstream_ftp, host: h, user: u }\n");
    assert!(p[0].to_string().contains("storage.password"), "{}", p[0]);
}

#[test]
fn certificate_bindings_are_checked() {
    let hash = crate::auth::hash_password("x").unwrap();
    let tls = "ftp:\n  tls: { cert: c.pem, key: k.pem, client_certificates: { mode: optional, ca_file: ca.pem } }\n";
    let user =
        |name: &str, cert: &str| format!("  - {{ name: {name}, password_hash: \"{hash}\", certificate: {cert} }}\n");
    // No listener asks for certificates.
    let p = problems(&format!("users:\n{}", user("a", "{ subject: \"CN=a\" }")));
    assert_eq!(p[0].location, "f.yaml: users[0].certificate", "{p:?}");
    // Not TYPE=value.
    let p = problems(&format!("{tls}users:\n{}", user("a", "{ subject: \"scanner\" }")));
    assert_eq!(p[0].location, "f.yaml: users[0].certificate.subject", "{p:?}");
    // Two password-free users on one subject (in another order and case of type).
    let p = problems(&format!(
        "{tls}users:\n{}{}",
        user("a", "{ subject: \"CN=s,O=Acme\" }"),
        user("b", "{ subject: \"o=Acme, cn=s\" }")
    ));
    assert_eq!(p[0].location, "f.yaml: users[1].certificate.subject", "{p:?}");
    assert!(p[0].reason.contains("same subject"), "{p:?}");
    // With a password the second one is fine; a zero handshake timeout is not.
    let p = problems(&format!(
        "{tls}users:\n{}{}limits: {{ tls_handshake_timeout: 0s }}\n",
        user("a", "{ subject: \"CN=s,O=Acme\" }"),
        user("b", "{ subject: \"O=Acme,CN=s\", password: true }")
    ));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].location, "f.yaml: limits.tls_handshake_timeout");
}
