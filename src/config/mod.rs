//! The configuration: serde structs with documented defaults, unknown keys refused.
//!
//! Loading ([`load`]) goes: YAML text → typed [`Config`] (serde_yaml reports the
//! line and column of a bad value) → `DUALGATE_*` environment overrides → CLI
//! overrides (applied by the caller) → [`Config::validate`]. Every key, with its
//! default, is documented in `configs/dualgate.example.yaml`; the embedded default
//! is `configs/dualgate.yaml`. serde_yaml is used only in this module.

mod load;
mod values;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

use crate::auth::{Password, Permission};
pub use load::{ConfigError, Problem, apply_env, load, load_str};
pub use values::{ByteSize, ConfigDuration, IpNetwork, PortRange, parse_byte_size, parse_duration, parse_port_range};

/// The embedded default config (`configs/dualgate.yaml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../configs/dualgate.yaml");

/// The root of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// FTP listener.
    pub ftp: FtpConfig,
    /// HTTP listener.
    pub http: HttpConfig,
    /// Admin listener (metrics, health).
    pub admin: AdminConfig,
    /// Storage back-end.
    pub storage: StorageConfig,
    /// A transfer log in xferlog(5) format at this path (appended to; reopened on SIGHUP).
    pub xferlog: Option<PathBuf>,
    /// PROXY protocol from trusted load balancers.
    pub proxy_protocol: ProxyProtocolConfig,
    /// User accounts.
    pub users: Vec<UserConfig>,
    /// Anonymous read-only access.
    pub anonymous: AnonymousConfig,
    /// Limits for both protocols.
    pub limits: LimitsConfig,
    /// Shutdown behaviour.
    pub shutdown: ShutdownConfig,
}

/// TLS certificate and key files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Ask clients for a certificate (mutual TLS).
    #[serde(default)]
    pub client_certificates: Option<ClientCertificatesConfig>,
}

/// `tls.client_certificates`: mutual TLS on a listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificatesConfig {
    /// `optional`: a certificate is verified when the client sends one;
    /// `required`: a handshake without one fails.
    pub mode: ClientCertificateMode,
    /// PEM file of the certificate authorities client certificates must chain to.
    pub ca_file: PathBuf,
}

/// Whether a client certificate is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientCertificateMode {
    /// Verified when sent.
    Optional,
    /// A handshake without one fails.
    Required,
}

/// Whether FTPS data connections must resume the control connection's TLS session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataSessionReuse {
    /// Resumption is accepted but not required.
    #[default]
    Optional,
    /// A data connection that does not resume this control session is refused.
    Require,
}

/// FTP TLS settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FtpTlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Listener for implicit FTPS (e.g. `0.0.0.0:990`).
    #[serde(default)]
    pub implicit_listen: Option<SocketAddr>,
    /// Refuse `USER` before `AUTH TLS`.
    #[serde(default)]
    pub require: bool,
    /// Data-connection TLS session resumption policy.
    #[serde(default)]
    pub data_session_reuse: DataSessionReuse,
    /// Ask clients for a certificate on control connections (mutual TLS).
    #[serde(default)]
    pub client_certificates: Option<ClientCertificatesConfig>,
}

/// The `ftp:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FtpConfig {
    /// Control connection listener.
    pub listen: SocketAddr,
    /// Passive data port range (inclusive).
    pub passive_ports: PortRange,
    /// Most passive ports one client address may hold at once (an IPv6 client
    /// counts by its /64); `null` = a quarter of the range, rounded up, at
    /// least 4; `0` = no bound (behind a NAT or a load balancer without the
    /// PROXY protocol, where every client has the same address).
    pub passive_ports_per_address: Option<u16>,
    /// Address advertised in PASV replies; `null` = the control connection's local address.
    pub public_address: Option<Ipv4Addr>,
    /// Per client network, the address advertised instead (first match wins).
    pub public_address_by_network: Vec<NetworkAddress>,
    /// FTPS (explicit `AUTH TLS`, optional implicit listener).
    pub tls: Option<FtpTlsConfig>,
}

impl Default for FtpConfig {
    fn default() -> Self {
        FtpConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 2121)),
            passive_ports: PortRange {
                low: 30000,
                high: 30099,
            },
            passive_ports_per_address: None,
            public_address: None,
            public_address_by_network: Vec::new(),
            tls: None,
        }
    }
}

/// An advertised passive address for the clients of one network.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAddress {
    /// The clients' network.
    pub network: IpNetwork,
    /// The IPv4 address PASV replies give them.
    pub address: Ipv4Addr,
}

/// The `proxy_protocol:` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyProtocolConfig {
    /// Peers that must send a PROXY protocol header (v1 or v2) on every listener.
    pub trusted_networks: Vec<IpNetwork>,
}

/// The `http:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Listener.
    pub listen: SocketAddr,
    /// HTTPS certificate and key.
    pub tls: Option<TlsFiles>,
    /// Basic auth realm.
    pub realm: String,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Threads serving HTTP, each with its own runtime; 0: one per core.
    pub threads: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            tls: None,
            realm: "dualgate".to_owned(),
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            threads: 0,
        }
    }
}

/// The `admin:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Listener for `/metrics`, `/healthz`, `/readyz`.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
        }
    }
}

/// The `storage:` section, by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StorageConfig {
    /// Local disk.
    Local {
        /// Root directory (created if missing).
        root: PathBuf,
        /// Run `stat`, the `open` of a download and of a listed directory on the I/O threads instead of the
        /// blocking pool (see [`crate::storage::local`]), and with them reads of up to
        /// 64 KiB, every read of a file on tmpfs and reads the page cache answers
        /// (`RWF_NOWAIT`). On by default; turn it off for
        /// network file systems, where one slow `stat` would stall other sessions.
        #[serde(default = "default_true")]
        inline_metadata: bool,
        /// Keep files read recently open (see [`crate::storage::open_files`]): a
        /// file read again within a second is not opened again. Every change
        /// made through the server is seen at once; one made behind its back
        /// within a second. On by default.
        #[serde(default = "default_true")]
        open_file_cache: bool,
        /// An upload's temporary file not written to for this long was left by a
        /// process killed mid-transfer: it is removed at start-up and when its
        /// directory is removed. Must exceed three times `limits.data_timeout`: a
        /// live FTP upload's file exists from before its data connection is
        /// accepted (up to one data timeout), then is written at least once per
        /// data timeout.
        #[serde(default = "default_stale_uploads_after")]
        stale_uploads_after: ConfigDuration,
    },
    /// An S3-compatible object store (see [`S3Config`]).
    S3(Box<S3Config>),
    /// An upstream FTP server (see [`UpstreamFtpConfig`]).
    UpstreamFtp(Box<UpstreamFtpConfig>),
}

/// `storage: { kind: s3, … }`: an S3-compatible object store (AWS S3, MinIO,
/// Ceph RGW, R2, Wasabi…). Semantics in `crate::storage::s3`; every key is
/// documented in `configs/dualgate.example.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL, e.g. `https://s3.eu-west-1.amazonaws.com` or
    /// `http://127.0.0.1:9000` (plain HTTP is allowed, for local stores).
    pub endpoint: String,
    /// Region (signing).
    #[serde(default = "default_region")]
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Key prefix inside the bucket under which everything is kept (`""`: the
    /// whole bucket). A trailing `/` is implied.
    #[serde(default)]
    pub prefix: String,
    /// Path-style addressing (`endpoint/bucket/key`: MinIO and most self-hosted
    /// stores); `false` for virtual-hosted style (`bucket.endpoint/key`).
    #[serde(default = "default_true")]
    pub path_style: bool,
    /// Access key id; else `access_key_id_file`, else `AWS_ACCESS_KEY_ID`, else
    /// the AWS default chain (profile, web identity, instance metadata).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// A file holding the access key id (a mounted secret).
    #[serde(default)]
    pub access_key_id_file: Option<PathBuf>,
    /// Secret access key; else `secret_access_key_file`, else `AWS_SECRET_ACCESS_KEY`.
    #[serde(default)]
    pub secret_access_key: Option<Password>,
    /// A file holding the secret access key.
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    /// Session token of temporary credentials; else `AWS_SESSION_TOKEN`.
    #[serde(default)]
    pub session_token: Option<Password>,
    /// PEM file of certificate authorities to trust for the endpoint, on top of
    /// the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Keys asked for per listing request (1–1000).
    #[serde(default = "default_list_page_size")]
    pub list_page_size: u32,
    /// Use ListObjects (V1) for stores without ListObjectsV2.
    #[serde(default)]
    pub list_objects_v1: bool,
    /// Part size of multipart uploads (5MiB–5GiB). With S3's 10,000 parts an
    /// upload can reach 10,000 × this (16MiB: 156 GiB).
    #[serde(default = "default_part_size")]
    pub part_size: ByteSize,
    /// Parts of one upload in flight at once (1–64). An upload buffers at most
    /// (upload_concurrency + 2) × part_size (`S3Settings::upload_buffer`).
    #[serde(default = "default_upload_concurrency")]
    pub upload_concurrency: u32,
    /// What marks a directory that has no other key under it: `slash`, a
    /// zero-byte `dir/` object (what the AWS console, rclone and most tools
    /// make), or `keep_file`, a zero-byte `dir/.dualgate-keep` object, for stores
    /// that turn a `dir/` key into something they never list (file-system–backed
    /// ones such as s3s-fs). The keep file is hidden and its name refused.
    #[serde(default)]
    pub directory_markers: DirectoryMarkers,
    /// Directory renames: `refuse` (FTP 550 / HTTP 403 up front) or `recursive`
    /// (every key copied then deleted: not atomic; one that fails part-way is
    /// reported with how far it got).
    #[serde(default)]
    pub rename_dirs: RenameDirs,
    /// Limit of one request that moves no body (HEAD, LIST, DELETE, COPY…).
    #[serde(default = "default_s3_request_timeout")]
    pub request_timeout: ConfigDuration,
    /// Limit of one read or write of body bytes (one part of an upload must be
    /// sent within it: 16MiB takes 134 s at 1 Mbit/s).
    #[serde(default = "default_s3_io_timeout")]
    pub io_timeout: ConfigDuration,
    /// Attempts after the first for a failed idempotent request (5xx, SlowDown,
    /// reset connections), with jittered exponential backoff.
    #[serde(default = "default_s3_retries")]
    pub max_retries: u32,
    /// A multipart upload under `prefix` silent this long — initiated before,
    /// no part stored since, and seen so by the sweeper itself — was abandoned
    /// (a lost answer, a killed process, another replica's): the sweeper aborts
    /// it; it runs at start-up and every half of this (at most hourly). Must
    /// exceed three times `limits.data_timeout`, and the time one part takes at
    /// the slowest client.
    #[serde(default = "default_stale_uploads_after")]
    pub stale_uploads_after: ConfigDuration,
    /// Sweep abandoned multipart uploads at all. Off for a bucket other tools
    /// also upload to under this prefix with pauses longer than
    /// `stale_uploads_after` (then a lifecycle rule must do it).
    #[serde(default = "default_true")]
    pub sweep_uploads: bool,
}

/// What marks an empty directory in an object store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectoryMarkers {
    /// A zero-byte `dir/` object.
    #[default]
    Slash,
    /// A zero-byte `dir/.dualgate-keep` object.
    KeepFile,
}

/// `storage: { kind: upstream_ftp, … }`: dualgate in front of an existing FTP(S)
/// server. Semantics in `crate::storage::upstream_ftp`; every key is documented in
/// `configs/dualgate.example.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFtpConfig {
    /// Host name or address of the upstream.
    pub host: String,
    /// Control port (990 is usual for `tls: implicit`).
    #[serde(default = "default_ftp_port")]
    pub port: u16,
    /// Whose account the upstream sees: `static` (one service account,
    /// `user`/`password`, for every dualgate user), `passthrough` (the client's
    /// own user and password, checked by logging in upstream) or `map` (each
    /// dualgate user's upstream account in `map`).
    #[serde(default)]
    pub credentials: UpstreamCredentials,
    /// The service account: every user's with `credentials: static`; with
    /// `passthrough` and `map` optional (readiness logs in with it, anonymous
    /// access and users without a `map` entry use it).
    #[serde(default)]
    pub user: Option<String>,
    /// Its password; or `password_file`.
    #[serde(default)]
    pub password: Option<Password>,
    /// A file holding the password (a mounted secret); surrounding whitespace is ignored.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The upstream directory that is dualgate's `/` (absolute).
    #[serde(default = "default_upstream_root")]
    pub root: String,
    /// TLS to the upstream: `none`, `explicit` (AUTH TLS) or `implicit`.
    #[serde(default)]
    pub tls: UpstreamTls,
    /// PEM file of certificate authorities to trust for the upstream, on top of
    /// the system's. Certificates are always verified.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The name the upstream's certificate must carry (default: `host`).
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// Passive data connections: `auto` (EPSV where FEAT lists it, else PASV),
    /// `epsv` or `pasv`.
    #[serde(default)]
    pub data_mode: DataMode,
    /// Connect data connections to the control connection's address instead of
    /// the one a PASV reply names (upstreams behind NAT that advertise an
    /// unroutable address).
    #[serde(default)]
    pub passive_nat_workaround: bool,
    /// Directory listings: `auto` (MLSD where FEAT lists MLST, else LIST),
    /// `mlsd` or `list`.
    #[serde(default)]
    pub list: ListMode,
    /// How the upstream spells names: `utf8`, or `latin1` for a legacy server
    /// whose names are ISO-8859-1 bytes (listings decoded, paths sent encoded).
    #[serde(default)]
    pub encoding: UpstreamEncoding,
    /// Uploads go to a hidden temporary name in the target's directory and are
    /// renamed over the target when complete. `false` writes straight to the
    /// name (for upstreams that refuse renames): a failed upload then leaves a
    /// short file, and resumed uploads are refused.
    #[serde(default = "default_true")]
    pub atomic_uploads: bool,
    /// A temporary upload (`.dualgate-upload-*`) that a listing shows not
    /// written to for this long was abandoned (a gateway killed mid-upload): it
    /// is deleted in the background. Measured by the upstream's listed time,
    /// which is to the minute and may be in the upstream's local time zone,
    /// hence the long default (1 day). Must exceed three times
    /// `limits.data_timeout`.
    #[serde(default = "default_upstream_stale_uploads_after")]
    pub stale_uploads_after: ConfigDuration,
    /// Most control connections open to the upstream at once (1–1000); keep it
    /// below the upstream's own per-user and per-address limits. A transfer
    /// holds one for its duration, a copy two.
    #[serde(default = "default_upstream_connections")]
    pub max_connections: u32,
    /// An idle control connection is closed after this long.
    #[serde(default = "default_upstream_idle")]
    pub idle_timeout: ConfigDuration,
    /// Limit of connecting and logging in.
    #[serde(default = "default_upstream_connect")]
    pub connect_timeout: ConfigDuration,
    /// Limit of one command's reply, of one read or write of a transfer, and of
    /// waiting for a free connection.
    #[serde(default = "default_upstream_command")]
    pub command_timeout: ConfigDuration,
    /// More upstreams, by name (the section's own `host` is the one named
    /// `default`). Users are routed to one by `map`, or by a `user@host` login.
    #[serde(default)]
    pub upstreams: BTreeMap<String, UpstreamServerConfig>,
    /// Per dualgate user: the upstream, account and root it uses (`credentials:
    /// map`: the account and its password; `passthrough`: the upstream and root
    /// only, the password is the client's).
    #[serde(default)]
    pub map: BTreeMap<String, UpstreamMapEntry>,
    /// `credentials: passthrough` only: the upstreams (by name, or by their
    /// `host`) a client may pick by logging in as `user@host` (the FTP-proxy
    /// convention). Anything else after an `@` is refused like a bad password.
    /// Empty: an `@` is part of the user name.
    #[serde(default)]
    pub login_hosts: Vec<String>,
    /// `credentials: passthrough`: how long a successful upstream login is
    /// remembered (keyed by a keyed hash of user and password, as local logins).
    #[serde(default = "default_upstream_login_cache")]
    pub login_cache: ConfigDuration,
    /// Most connection pools (one per upstream, port and user) kept at once
    /// (1–100000); a pool with no connection open is dropped to make room, and
    /// after `idle_timeout` without use anyway.
    #[serde(default = "default_upstream_pools")]
    pub max_pools: u32,
}

impl UpstreamFtpConfig {
    /// The section's own upstream (the one named `default`), in the form of an
    /// entry of `upstreams`.
    pub fn default_server(&self) -> UpstreamServerConfig {
        UpstreamServerConfig {
            host: self.host.clone(),
            port: self.port,
            root: self.root.clone(),
            tls: self.tls,
            ca_file: self.ca_file.clone(),
            tls_server_name: self.tls_server_name.clone(),
            data_mode: self.data_mode,
            passive_nat_workaround: self.passive_nat_workaround,
            list: self.list,
            encoding: self.encoding,
            max_connections: self.max_connections,
        }
    }
}

/// One entry of `storage.upstreams`: where an upstream is and how to talk to it
/// (the keys of the same names in the section, which has the defaults). The
/// timeouts, `atomic_uploads` and the credentials mode are the section's.
///
/// The section repeats these fields instead of flattening this struct into it:
/// serde's `deny_unknown_fields` does not work with `flatten`, and a misspelt
/// key must stay an error. [`UpstreamFtpConfig::default_server`] is the one
/// place that maps them across.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamServerConfig {
    /// Host name or address.
    pub host: String,
    /// Control port.
    #[serde(default = "default_ftp_port")]
    pub port: u16,
    /// The upstream directory that is dualgate's `/` for users routed here.
    #[serde(default = "default_upstream_root")]
    pub root: String,
    /// TLS mode.
    #[serde(default)]
    pub tls: UpstreamTls,
    /// Extra trusted certificate authorities.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The name the certificate must carry.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// Passive data connections.
    #[serde(default)]
    pub data_mode: DataMode,
    /// Data connections to the control connection's address.
    #[serde(default)]
    pub passive_nat_workaround: bool,
    /// Directory listings.
    #[serde(default)]
    pub list: ListMode,
    /// How names are spelt on the wire.
    #[serde(default)]
    pub encoding: UpstreamEncoding,
    /// Most control connections per upstream account at once.
    #[serde(default = "default_upstream_connections")]
    pub max_connections: u32,
}

/// One entry of `storage.map`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamMapEntry {
    /// The upstream's name (`default`: the section's own).
    #[serde(default)]
    pub upstream: Option<String>,
    /// The upstream user (`map`; default: the dualgate user's name; with
    /// `passthrough` the name the client gave is used and this is refused).
    #[serde(default)]
    pub user: Option<String>,
    /// Its password (`map` only); or `password_file`.
    #[serde(default)]
    pub password: Option<Password>,
    /// A file holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The upstream directory that is this user's `/` (default: the upstream's `root`).
    #[serde(default)]
    pub root: Option<String>,
}

/// Whose upstream account a session uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamCredentials {
    /// One service account for everyone.
    #[default]
    Static,
    /// The client's own user and password, checked by the upstream.
    Passthrough,
    /// A configured upstream account per dualgate user (`map`).
    Map,
}

/// TLS on the upstream control (and data) connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamTls {
    /// Plain FTP.
    #[default]
    None,
    /// `AUTH TLS` on the control connection, then `PROT P`.
    Explicit,
    /// TLS from the first byte (usually port 990).
    Implicit,
}

/// How passive data connections are asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataMode {
    /// EPSV where FEAT lists it, else PASV.
    #[default]
    Auto,
    /// Always EPSV.
    Epsv,
    /// Always PASV.
    Pasv,
}

/// How directories are listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListMode {
    /// MLSD where FEAT lists MLST, else LIST.
    #[default]
    Auto,
    /// Always MLSD (and MLST for stat).
    Mlsd,
    /// Always LIST (stat by SIZE and MDTM).
    List,
}

/// How an upstream spells names on the control and data connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamEncoding {
    /// UTF-8 (RFC 2640); bytes that are not UTF-8 are read lossily.
    #[default]
    Utf8,
    /// ISO-8859-1: every byte is one character; a name with a character
    /// beyond U+00FF cannot be sent (refused as an invalid name).
    Latin1,
}

fn default_upstream_root() -> String {
    "/".to_owned()
}
fn default_upstream_connections() -> u32 {
    8
}
fn default_upstream_idle() -> ConfigDuration {
    ConfigDuration::secs(60)
}
fn default_upstream_connect() -> ConfigDuration {
    ConfigDuration::secs(10)
}
fn default_upstream_command() -> ConfigDuration {
    ConfigDuration::secs(30)
}
fn default_upstream_stale_uploads_after() -> ConfigDuration {
    ConfigDuration::secs(86_400)
}
fn default_upstream_login_cache() -> ConfigDuration {
    ConfigDuration::secs(60)
}
fn default_upstream_pools() -> u32 {
    256
}

/// How an object store renames a directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenameDirs {
    /// Refused up front.
    #[default]
    Refuse,
    /// Every key copied, then deleted.
    Recursive,
}

fn default_list_page_size() -> u32 {
    1000
}
fn default_part_size() -> ByteSize {
    ByteSize(16 << 20)
}
fn default_upload_concurrency() -> u32 {
    2
}
fn default_s3_request_timeout() -> ConfigDuration {
    ConfigDuration::secs(30)
}
fn default_s3_io_timeout() -> ConfigDuration {
    ConfigDuration::secs(120)
}
fn default_s3_retries() -> u32 {
    4
}

fn default_stale_uploads_after() -> ConfigDuration {
    ConfigDuration(crate::storage::local::DEFAULT_STALE_UPLOADS_AFTER)
}

fn default_region() -> String {
    "us-east-1".to_owned()
}
fn default_true() -> bool {
    true
}
fn default_ftp_port() -> u16 {
    21
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig::Local {
            root: PathBuf::from("./data"),
            inline_metadata: true,
            open_file_cache: true,
            stale_uploads_after: default_stale_uploads_after(),
        }
    }
}

fn all_permissions() -> Vec<Permission> {
    vec![
        Permission::Read,
        Permission::Write,
        Permission::Delete,
        Permission::Mkdir,
        Permission::Rename,
    ]
}

fn root_home() -> String {
    "/".to_owned()
}

/// One entry of `users:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Login name.
    pub name: String,
    /// argon2id PHC string from `dualgate hash-password`; absent (and refused)
    /// with `storage.credentials: passthrough`, where the upstream checks passwords
    /// and the entry only gives the user's home and permissions.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// The user's root inside the storage root.
    #[serde(default = "root_home")]
    pub home: String,
    /// Permissions (default: all).
    #[serde(default = "all_permissions")]
    pub permissions: Vec<Permission>,
    /// Bind the user to a client certificate's subject (mutual TLS).
    #[serde(default)]
    pub certificate: Option<UserCertificateConfig>,
}

/// `users[].certificate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCertificateConfig {
    /// The subject the client certificate must have, e.g. `CN=scanner-01,O=Acme`.
    pub subject: String,
    /// The password is needed as well (default: the certificate alone logs in).
    #[serde(default)]
    pub password: bool,
}

/// The `anonymous:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnonymousConfig {
    /// Allow anonymous (read-only) access.
    pub enabled: bool,
    /// The anonymous user's root.
    pub home: String,
}

impl Default for AnonymousConfig {
    fn default() -> Self {
        AnonymousConfig {
            enabled: false,
            home: "/pub".to_owned(),
        }
    }
}

/// `limits.login_failures`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginFailures {
    /// Failures before replies are delayed.
    pub delay_after: u32,
    /// Failures before the address is banned.
    pub ban_after: u32,
    /// How long a ban lasts.
    pub ban_for: ConfigDuration,
}

impl LoginFailures {
    /// The throttle's policy.
    pub fn policy(&self) -> crate::auth::ThrottlePolicy {
        crate::auth::ThrottlePolicy {
            delay_after: self.delay_after,
            ban_after: self.ban_after,
            ban_for: self.ban_for.0,
        }
    }
}

impl Default for LoginFailures {
    fn default() -> Self {
        LoginFailures {
            delay_after: 3,
            ban_after: 10,
            ban_for: ConfigDuration::secs(15 * 60),
        }
    }
}

/// The `limits:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Connections, all protocols together.
    pub max_connections: usize,
    /// Connections per client address.
    pub max_connections_per_address: usize,
    /// FTP control idle time; HTTP keep-alive idle time.
    pub idle_timeout: ConfigDuration,
    /// Time allowed to log in (FTP).
    pub login_timeout: ConfigDuration,
    /// Passive accept, active connect and stalled transfer limit; HTTP body stall.
    pub data_timeout: ConfigDuration,
    /// Longest FTP command line, in bytes.
    pub max_command_line: usize,
    /// Longest TLS handshake (FTPS control and data connections, HTTPS).
    pub tls_handshake_timeout: ConfigDuration,
    /// Login failure throttling per client address.
    pub login_failures: LoginFailures,
    /// Most threads of the runtime's blocking pool (file-system calls, argon2
    /// checks); work beyond it queues. Read at start-up.
    pub max_blocking_threads: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections: 1000,
            max_connections_per_address: 50,
            idle_timeout: ConfigDuration::secs(300),
            login_timeout: ConfigDuration::secs(60),
            data_timeout: ConfigDuration::secs(300),
            max_command_line: 4096,
            tls_handshake_timeout: ConfigDuration::secs(10),
            login_failures: LoginFailures::default(),
            max_blocking_threads: 16,
        }
    }
}

/// The `shutdown:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// How long running transfers may continue after SIGTERM/SIGINT.
    pub drain_timeout: ConfigDuration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_timeout: ConfigDuration::secs(25),
        }
    }
}
