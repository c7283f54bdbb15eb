//! Tests of the pipeline as the server builds it.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::Arc;

use super::*;
use crate::command::Verb;

fn shipped(backend: Arc<dyn Backend>) -> Pipeline {
    let users = Arc::new(UserStore::new(UserDb::new(Vec::new(), None)));
    let throttle = Arc::new(LoginThrottle::new(crate::config::LoginFailures::default().policy()));
    pipeline(Arc::new(Volumes::new(backend)), users, throttle, None).unwrap()
}

#[test]
fn the_shipped_table_has_no_duplicates_and_follows_the_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let local = shipped(Arc::new(LocalBackend::open(dir.path()).unwrap()));
    assert_eq!(
        local.registry().cmd_verbs_with_prefix("SITE "),
        ["SITE CHMOD", "SITE HELP"]
    );
    // A back-end without modes has no SITE CHMOD to offer.
    let memory = shipped(Arc::new(crate::storage::memory::MemoryBackend::new()));
    assert_eq!(memory.registry().cmd_verbs_with_prefix("SITE "), ["SITE HELP"]);
    // Neutral and wire verbs live in separate key spaces.
    assert_ne!(Verb::Stat.key(), Verb::Protocol("STAT").key());
}

// ---------------------------------------------------------------------------
// Permissions, as the shipped pipeline applies them to commands lifted by the
// front-ends: "a table test walks every FTP verb and HTTP/WebDAV method for a
// user holding each single permission".
// ---------------------------------------------------------------------------

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

use ::http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::auth::Permission;
use crate::channel::Channel;
use crate::command::{CommandRecord, Protocol, RawCommand};
use crate::frontend::ftp::FtpSettings;
use crate::frontend::ftp::data::{ControlWriter, FtpData};
use crate::frontend::http::exchange::HttpExchange;
use crate::pipeline::modules::{Table, core_table, finish};
use crate::pipeline::{HandlerResult, Phase};
use crate::response::http::Responder;
use crate::response::{Code, Outcome, Status};
use crate::session::Session;

use Permission::{Delete, Mkdir, Read, Rename, Write};

/// One command of the table and the permissions the test expects it to need
/// (written here independently of `permissions::required`).
struct Row {
    cmd: Cmd,
    needs: &'static [Permission],
}

enum Cmd {
    /// An FTP command line, lifted by the FTP front-end.
    Ftp(&'static str),
    /// An HTTP request (method, path, headers), lifted by the HTTP front-end.
    Http(&'static str, &'static str, &'static [(&'static str, &'static str)]),
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmd::Ftp(line) => write!(f, "FTP `{line}`"),
            Cmd::Http(method, path, []) => write!(f, "HTTP `{method} {path}`"),
            Cmd::Http(method, path, headers) => write!(f, "HTTP `{method} {path}` {headers:?}"),
        }
    }
}

const fn ftp(line: &'static str, needs: &'static [Permission]) -> Row {
    Row {
        cmd: Cmd::Ftp(line),
        needs,
    }
}

const fn web(
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    needs: &'static [Permission],
) -> Row {
    Row {
        cmd: Cmd::Http(method, path, headers),
        needs,
    }
}

/// The expectation table. Paths are chosen so that a permitted command fails, if
/// at all, for a reason other than permissions (no data connection, no body…).
const TABLE: &[Row] = &[
    // FTP: reading.
    ftp("RETR f.txt", &[Read]),
    ftp("SIZE f.txt", &[Read]),
    ftp("MDTM f.txt", &[Read]),
    ftp("MLST f.txt", &[Read]),
    ftp("LIST d", &[Read]),
    ftp("NLST d", &[Read]),
    ftp("MLSD d", &[Read]),
    // `STAT path` lists the path over the control connection.
    ftp("STAT d", &[Read]),
    ftp("CWD d", &[Read]),
    // FTP: writing.
    ftp("STOR g.txt", &[Write]),
    ftp("APPE f.txt", &[Write]),
    ftp("STOU", &[Write]),
    ftp("SITE CHMOD 644 f.txt", &[Write]),
    ftp("MFMT 20010203040506 f.txt", &[Write]),
    ftp("MFF modify=20010203040506; f.txt", &[Write]),
    // FTP: deleting, creating, renaming.
    ftp("DELE f.txt", &[Delete]),
    ftp("RMD e", &[Delete]),
    ftp("MKD n", &[Mkdir]),
    ftp("RNFR f.txt", &[Rename]),
    // FTP: no permission needed.
    ftp("PWD", &[]),
    ftp("NOOP", &[]),
    ftp("SYST", &[]),
    ftp("FEAT", &[]),
    ftp("STAT", &[]),
    ftp("TYPE I", &[]),
    ftp("HELP", &[]),
    // HTTP / WebDAV.
    web("GET", "/f.txt", &[], &[Read]),
    web("HEAD", "/f.txt", &[], &[Read]),
    web("GET", "/d/", &[], &[Read]),
    web("PUT", "/g.txt", &[], &[Write]),
    web("DELETE", "/f.txt", &[], &[Delete]),
    web("MKCOL", "/n", &[], &[Mkdir]),
    web(
        "COPY",
        "/f.txt",
        &[("destination", "http://host/c.txt"), ("host", "host")],
        &[Read, Write],
    ),
    web(
        "MOVE",
        "/f.txt",
        &[("destination", "http://host/m.txt"), ("host", "host")],
        &[Rename],
    ),
    web("PROPFIND", "/f.txt", &[("depth", "0")], &[Read]),
    web("PROPPATCH", "/f.txt", &[], &[Write]),
    web("OPTIONS", "/f.txt", &[], &[]),
];

/// What is on disk beneath a directory: per relative path, whether it is a
/// directory, its mode bits, its modification time and a file's content.
type Tree = BTreeMap<String, (bool, u32, SystemTime, Vec<u8>)>;

fn snapshot(root: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let name = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let content = if meta.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            out.insert(
                name,
                (
                    meta.is_dir(),
                    meta.permissions().mode(),
                    meta.modified().unwrap(),
                    content,
                ),
            );
            if meta.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}

/// Empties `root` (keeping the directory itself, which the volume holds open) and
/// lays out the fixture: `f.txt` (mode 0600, so that `SITE CHMOD 644` is seen),
/// `d/` with a file inside, and an empty `e/`.
fn fresh_tree(root: &Path) {
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    std::fs::write(root.join("f.txt"), b"hello, world\n").unwrap();
    std::fs::set_permissions(root.join("f.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::create_dir(root.join("d")).unwrap();
    std::fs::write(root.join("d/inner.txt"), b"inside\n").unwrap();
    std::fs::create_dir(root.join("e")).unwrap();
}

/// The shipped pipeline over a local back-end in a temporary directory.
struct Fixture {
    dir: tempfile::TempDir,
    volumes: Arc<Volumes>,
    pipeline: Pipeline,
    ftp_settings: Arc<FtpSettings>,
    http_settings: http::HttpSettings,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let volumes = Arc::new(Volumes::new(Arc::new(LocalBackend::open(dir.path()).unwrap())));
        let users = Arc::new(UserStore::new(UserDb::new(Vec::new(), None)));
        let throttle = Arc::new(LoginThrottle::new(crate::config::LoginFailures::default().policy()));
        let pipeline = pipeline(volumes.clone(), users, throttle, None).unwrap();
        let timeout = Duration::from_secs(2);
        let ftp_settings = Arc::new(FtpSettings {
            passive_ports: (0, 0),
            passive_quota: Default::default(),
            public_address: None,
            idle_timeout: timeout,
            login_timeout: timeout,
            data_timeout: timeout,
            max_command_line: 1024,
            tls: None,
            proxy: crate::frontend::proxy::ProxyPolicy::default(),
            public_address_by_network: Vec::new(),
            interrupt: tokio_util::sync::CancellationToken::new(),
        });
        let http_settings = http::HttpSettings {
            idle_timeout: timeout,
            body_timeout: timeout,
            handshake_timeout: timeout,
            max_header_bytes: 8192,
            max_headers: 100,
            realm: "dualgate".into(),
            max_blocking_threads: 4,
            allow: http::webdav::allow(&volumes.capabilities()),
            interrupt: tokio_util::sync::CancellationToken::new(),
        };
        Fixture {
            dir,
            volumes,
            pipeline,
            ftp_settings,
            http_settings,
        }
    }

    /// A session of `protocol` logged in as `user`.
    async fn session(&self, protocol: Protocol, peer: SocketAddr, local: SocketAddr, user: &Arc<User>) -> Session {
        let mut session = Session::new(protocol, peer, local);
        session.volume = Some(self.volumes.attach(user).await.unwrap());
        session.user = Some(user.clone());
        session
    }

    /// Runs one FTP line as `user` on a fresh session (with a real, loopback
    /// control connection); the first code of the selected reply chain.
    async fn ftp(&self, user: &Arc<User>, line: &str) -> Option<Code> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let local = server.local_addr().unwrap();
        let (_read, write) = server.into_split();
        let mut data = FtpData::new(ControlWriter::new(write), peer, local, self.ftp_settings.clone());
        data.permissions = user.permissions;
        let mut session = self.session(Protocol::Ftp, peer, local, user).await;
        let mut cmd = crate::frontend::ftp::lift::lift(proto_ftp::parse(line.as_bytes()), &mut session, &mut data);
        let outcome = self.pipeline.dispatch(&mut cmd).await;
        let code = cmd.responses.first_code(outcome, cmd.unsupported_status());
        drop(cmd);
        drop(client);
        code
    }

    /// Runs one HTTP request as `user` (no body); the first code of the selected
    /// reply chain. The response, if the handler sent one, is read to its end as
    /// hyper would.
    async fn http(&self, user: &Arc<User>, method: &str, path: &str, headers: &[(&str, &str)]) -> Option<Code> {
        let (tx, rx) = tokio::sync::oneshot::channel::<::http::Response<crate::frontend::http::sendfile::Outgoing>>();
        let reader = tokio::spawn(async move {
            if let Ok(response) = rx.await {
                let _ = http_body_util::BodyExt::collect(response.into_body()).await;
            }
        });
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let mut exchange = HttpExchange::new(
            Method::from_bytes(method.as_bytes()).unwrap(),
            map,
            path.to_owned(),
            None,
            Responder::new(tx),
            &self.http_settings,
        );
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut session = self.session(Protocol::Http, a, a, user).await;
        let mut cmd = crate::frontend::http::lift::lift(&mut session, &mut exchange);
        let outcome = self.pipeline.dispatch(&mut cmd).await;
        let replies = cmd.responses.selected(outcome, cmd.unsupported_status()).into_owned();
        let code = cmd.responses.first_code(outcome, cmd.unsupported_status());
        drop(cmd);
        exchange.finish(&replies);
        drop(exchange);
        reader.await.unwrap();
        code
    }
}

fn user(permissions: &[Permission]) -> Arc<User> {
    Arc::new(User {
        name: "u".into(),
        home: VirtualPath::root(),
        permissions: permissions.iter().copied().collect(),
        anonymous: false,
        certificate: None,
        account: None,
    })
}

#[tokio::test]
async fn every_command_needs_exactly_the_permissions_of_the_table() {
    // What "refused by permissions" looks like on the wire.
    let denied = Code::Status(Status::PermissionDenied);
    assert_eq!(crate::response::ftp::ftp_code(denied), Some(550));
    assert_eq!(crate::response::http::http_code(denied), Some(403));
    let fx = Fixture::new();
    // Each single permission and none; Read+Write and all of them show that the
    // two-permission row (COPY) and every row pass when everything is held.
    let holdings: &[&[Permission]] = &[
        &[],
        &[Read],
        &[Write],
        &[Delete],
        &[Mkdir],
        &[Rename],
        &[Read, Write],
        &[Read, Write, Delete, Mkdir, Rename],
    ];
    let mut wrong = Vec::new();
    for held in holdings {
        let u = user(held);
        for row in TABLE {
            fresh_tree(fx.dir.path());
            let before = snapshot(fx.dir.path());
            let code = match &row.cmd {
                Cmd::Ftp(line) => fx.ftp(&u, line).await,
                Cmd::Http(method, path, headers) => fx.http(&u, method, path, headers).await,
            };
            let unchanged = snapshot(fx.dir.path()) == before;
            let refused = code == Some(denied) && unchanged;
            let expect_refused = !row.needs.iter().all(|p| held.contains(p));
            if refused != expect_refused {
                wrong.push(format!(
                    "{} as a user holding {held:?} (needs {:?}): expected {}, got {code:?}{}",
                    row.cmd,
                    row.needs,
                    if expect_refused {
                        "PermissionDenied"
                    } else {
                        "to pass the permission check"
                    },
                    if unchanged { "" } else { " (disk changed)" },
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong:\n{}", wrong.len(), wrong.join("\n"));
}

/// A handler for the custom verb `XPATH` that remembers it ran.
struct XPath(Arc<AtomicBool>);

#[async_trait::async_trait]
impl crate::pipeline::Handler for XPath {
    async fn handle(&self, cmd: &mut CommandRecord<'_>) -> HandlerResult {
        self.0.store(true, Ordering::SeqCst);
        cmd.responses.add(Status::Ok, "XPATH done.");
        HandlerResult::Handled
    }
}

/// The core modules plus a custom one handling `XPATH`, finished as the server does.
fn xpath_table(volumes: Arc<Volumes>, ran: Arc<AtomicBool>) -> Table {
    let users = Arc::new(UserStore::new(UserDb::new(Vec::new(), None)));
    let throttle = Arc::new(LoginThrottle::new(crate::config::LoginFailures::default().policy()));
    let mut t = core_table(volumes, users, throttle, None);
    let mut custom = Table::default();
    custom.row(
        "xpath",
        Phase::Cmd,
        Some(&Verb::Custom("XPATH".into())),
        0,
        Arc::new(XPath(ran)),
    );
    t.extend(custom);
    finish(t)
}

#[tokio::test]
async fn a_handled_verb_without_a_rule_is_refused_when_it_names_a_path() {
    let dir = tempfile::tempdir().unwrap();
    fresh_tree(dir.path());
    let volumes = Arc::new(Volumes::new(Arc::new(LocalBackend::open(dir.path()).unwrap())));
    let ran = Arc::new(AtomicBool::new(false));
    let pipeline = Pipeline::new(xpath_table(volumes.clone(), ran.clone()).0).unwrap();
    let everything = user(&[Read, Write, Delete, Mkdir, Rename]);
    let a: SocketAddr = "127.0.0.1:1".parse().unwrap();

    // The path may be the first argument or the second (a target) only.
    for (path, target) in [(true, false), (false, true), (false, false)] {
        ran.store(false, Ordering::SeqCst);
        let mut session = Session::new(Protocol::Ftp, a, a);
        session.volume = Some(volumes.attach(&everything).await.unwrap());
        session.user = Some(everything.clone());
        let mut cmd = CommandRecord::new(
            Protocol::Ftp,
            Verb::Custom("XPATH".into()),
            RawCommand::FtpUnparsed,
            &mut session,
            Channel::none(),
        );
        if path {
            cmd.path = Some(VirtualPath::parse_absolute("/f.txt").unwrap());
        }
        if target {
            cmd.target = Some(VirtualPath::parse_absolute("/t.txt").unwrap());
        }
        let outcome = pipeline.dispatch(&mut cmd).await;
        let code = cmd.responses.first_code(outcome, cmd.unsupported_status());
        if path || target {
            // No rule for it: refused, whatever the user holds, before it runs.
            assert_eq!(outcome, Outcome::Failed);
            assert_eq!(code, Some(Code::Status(Status::PermissionDenied)));
            assert!(
                !ran.load(Ordering::SeqCst),
                "the handler ran for a refused command (path {path}, target {target})"
            );
        } else {
            // Naming no path, it needs no rule.
            assert_eq!(outcome, Outcome::Handled);
            assert_eq!(code, Some(Code::Status(Status::Ok)));
            assert!(ran.load(Ordering::SeqCst), "the handler did not run");
        }
    }
}
