//! From the `storage: { kind: s3 }` section to a connected OpenDAL [`Operator`]:
//! the checks of the section ([`S3Settings::problems`], run by `check-config`
//! and at start-up), credentials from the config, files or the environment, and
//! the layers every request goes through.
//!
//! Layer order matters (ECOSYSTEM §1.2): the timeout layer sits *beneath* the
//! retry layer, so a request that times out is retried like a reset one, and its
//! I/O limit is per read or write call, never the 10 s OpenDAL default that cuts
//! a large part on a slow link.

use std::path::Path;
use std::time::Duration;

use opendal::Operator;
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::services::S3;
use reqsign_aws_v4::{Credential, DefaultCredentialProvider, RequestSigner, StaticCredentialProvider};
use reqsign_core::{OsEnv, ProvideCredentialChain, Signer};
use reqsign_file_read_tokio::TokioFileRead;

use super::sweep::Sweeper;
use crate::auth::Password;
use crate::config::{DirectoryMarkers, RenameDirs, S3Config};

/// Smallest part S3 accepts (except the last).
const MIN_PART: u64 = 5 << 20;
/// Largest part S3 accepts.
/// Largest part here: S3's 5 GiB less its smallest part, because a resume may
/// send the last few MiB of the kept bytes together with the first new part.
const MAX_PART: u64 = (5 << 30) - MIN_PART;

/// What the volumes need from the section once it is connected.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Bytes per part of a multipart upload.
    pub part_size: usize,
    /// Parts of one upload in flight.
    pub upload_concurrency: usize,
    /// Keys per listing request.
    pub list_page_size: usize,
    /// What a directory rename does.
    pub rename_dirs: RenameDirs,
    /// What marks an empty directory.
    pub markers: DirectoryMarkers,
    /// Whether abandoned multipart uploads are swept.
    pub sweep_uploads: bool,
    /// `endpoint/bucket/prefix`, for logs and the start-up banner.
    pub describe: String,
    /// The time every directory shows: when the back-end was opened (see
    /// `storage::s3` on directory times).
    pub dir_time: std::time::SystemTime,
}

impl S3Settings {
    /// The problems of a section, as `(key, reason)`; empty when it is usable.
    pub fn problems(c: &S3Config) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let endpoint = c.endpoint.trim();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            out.push((
                "storage.endpoint",
                "must be an http:// or https:// URL, e.g. https://s3.eu-west-1.amazonaws.com".to_owned(),
            ));
        }
        if c.bucket.is_empty() || c.bucket.contains('/') {
            out.push(("storage.bucket", "must be a bucket name (no `/`)".to_owned()));
        }
        if c.prefix.starts_with('/') || c.prefix.split('/').any(|p| p == "." || p == "..") {
            out.push((
                "storage.prefix",
                "must be a relative key prefix such as `gateway/` (no leading `/`, no `.` or `..`)".to_owned(),
            ));
        }
        if !(1..=1000).contains(&c.list_page_size) {
            out.push(("storage.list_page_size", "must be between 1 and 1000".to_owned()));
        }
        if !(MIN_PART..=MAX_PART).contains(&c.part_size.0) {
            out.push((
                "storage.part_size",
                "must be between 5MiB and 5GiB - 5MiB (S3's part limits, with room for a resume's last copied bytes)"
                    .to_owned(),
            ));
        }
        if !(1..=64).contains(&c.upload_concurrency) {
            out.push(("storage.upload_concurrency", "must be between 1 and 64".to_owned()));
        }
        if c.request_timeout.0.is_zero() || c.io_timeout.0.is_zero() {
            out.push((
                "storage.request_timeout",
                "request_timeout and io_timeout must be longer than zero".to_owned(),
            ));
        }
        if c.max_retries > 20 {
            out.push(("storage.max_retries", "must be at most 20".to_owned()));
        }
        if c.access_key_id.is_some() && c.access_key_id_file.is_some() {
            out.push((
                "storage.access_key_id_file",
                "give access_key_id or access_key_id_file, not both".to_owned(),
            ));
        }
        if c.secret_access_key.is_some() && c.secret_access_key_file.is_some() {
            out.push((
                "storage.secret_access_key_file",
                "give secret_access_key or secret_access_key_file, not both".to_owned(),
            ));
        }
        out
    }

    /// The most bytes one upload buffers: the part being filled, the full part
    /// held back until the next shows it is not the last (a file of one part
    /// goes as one PutObject), and `upload_concurrency` parts in flight.
    pub fn upload_buffer(c: &S3Config) -> u64 {
        (u64::from(c.upload_concurrency) + 2) * c.part_size.0
    }

    /// Connects: builds the operator with its HTTP client, credentials and
    /// layers. Nothing is sent yet (see the back-end's probe).
    pub fn connect(c: &S3Config) -> Result<(Operator, S3Settings, Sweeper), String> {
        let problems = Self::problems(c);
        if let Some((key, reason)) = problems.first() {
            return Err(format!("{key}: {reason}"));
        }
        let root = format!("/{}", c.prefix.trim_matches('/'));
        let mut builder = S3::default()
            .endpoint(c.endpoint.trim())
            .region(&c.region)
            .bucket(&c.bucket)
            .root(&root)
            // Off the cloud, the instance-metadata probe only adds a timeout.
            .disable_ec2_metadata();
        if !c.path_style {
            builder = builder.enable_virtual_host_style();
        }
        if c.list_objects_v1 {
            builder = builder.disable_list_objects_v2();
        }
        let key_id = secret(
            "access_key_id",
            c.access_key_id.clone(),
            c.access_key_id_file.as_deref(),
            "AWS_ACCESS_KEY_ID",
        )?;
        let secret_key = secret(
            "secret_access_key",
            c.secret_access_key.as_ref().map(|p| p.expose().to_owned()),
            c.secret_access_key_file.as_deref(),
            "AWS_SECRET_ACCESS_KEY",
        )?;
        let keys = match (key_id, secret_key) {
            (Some(id), Some(key)) => {
                let token = c.session_token.clone().or_else(|| {
                    std::env::var("AWS_SESSION_TOKEN")
                        .ok()
                        .filter(|t| !t.is_empty())
                        .map(Password::new)
                });
                Some(StaticKeys { id, key, token })
            }
            (None, None) => None, // the AWS default chain: profile, web identity
            _ => {
                return Err(
                    "storage: give both access_key_id and secret_access_key (or neither, for the AWS default chain)"
                        .to_owned(),
                );
            }
        };
        // One chain definition for OpenDAL's requests and the sweeper's.
        builder = builder.credential_provider_chain(credential_chain(keys.as_ref()));
        let client = http_client(c.ca_file.as_deref())?;
        let op = Operator::new(builder).map_err(|e| format!("storage: {e}"))?;
        let context = op.context().with_http_transport(opendal::HttpTransporter::new(
            opendal_http_transport_reqwest::ReqwestTransport::new(client.clone()),
        ));
        let op = op.with_context(context);
        let sweeper = Sweeper::new(
            client.clone(),
            Signer::new(
                reqsign_core::Context::new()
                    .with_file_read(TokioFileRead)
                    .with_env(OsEnv)
                    .with_http_send(opendal::HttpTransporter::new(
                        opendal_http_transport_reqwest::ReqwestTransport::new(client),
                    )),
                credential_chain(keys.as_ref()),
                RequestSigner::new("s3", &c.region),
            ),
            bucket_url(c)?,
            match c.prefix.trim_matches('/') {
                "" => String::new(),
                p => format!("{p}/"),
            },
            c.stale_uploads_after.0,
            c.request_timeout.0,
        );
        let op = op
            .layer(
                TimeoutLayer::new()
                    .with_timeout(c.request_timeout.0)
                    .with_io_timeout(c.io_timeout.0),
            )
            .layer(
                RetryLayer::new()
                    .with_max_times(c.max_retries as usize)
                    .with_min_delay(Duration::from_millis(200))
                    .with_factor(2.0)
                    .with_max_delay(Duration::from_secs(5))
                    .with_jitter(),
            );
        let settings = S3Settings {
            // Checked above: 5 MiB..=5 GiB fits a usize on 64-bit targets.
            part_size: usize::try_from(c.part_size.0).map_err(|e| e.to_string())?,
            upload_concurrency: c.upload_concurrency as usize,
            list_page_size: c.list_page_size as usize,
            rename_dirs: c.rename_dirs,
            markers: c.directory_markers,
            sweep_uploads: c.sweep_uploads,
            describe: format!(
                "{}/{}/{}",
                c.endpoint.trim().trim_end_matches('/'),
                c.bucket,
                c.prefix.trim_matches('/')
            )
            .trim_end_matches('/')
            .to_owned(),
            dir_time: std::time::SystemTime::now(),
        };
        Ok((op, settings, sweeper))
    }
}

/// Keys given in the config, its files or `AWS_*` variables.
struct StaticKeys {
    id: Password,
    key: Password,
    token: Option<Password>,
}

/// Where credentials come from: the given keys alone (nothing else — no
/// profile, no environment — may change which identity is used), or else the
/// AWS default chain without the instance-metadata probe (off the cloud it only
/// adds a timeout). The same as OpenDAL's own construction for these settings.
fn credential_chain(keys: Option<&StaticKeys>) -> ProvideCredentialChain<Credential> {
    match keys {
        Some(k) => {
            let mut provider = StaticCredentialProvider::new(k.id.expose(), k.key.expose());
            if let Some(token) = &k.token {
                provider = provider.with_session_token(token.expose());
            }
            ProvideCredentialChain::new().push(provider)
        }
        None => ProvideCredentialChain::new().push(DefaultCredentialProvider::builder().no_imds().build()),
    }
}

/// The bucket's URL: `endpoint/bucket` (path style) or `scheme://bucket.host`.
fn bucket_url(c: &S3Config) -> Result<String, String> {
    let endpoint = c.endpoint.trim().trim_end_matches('/');
    if c.path_style {
        return Ok(format!("{endpoint}/{}", c.bucket));
    }
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| "storage.endpoint: not a URL".to_owned())?;
    Ok(format!("{scheme}://{}.{rest}", c.bucket))
}

/// A credential from the config, else its file, else the environment.
fn secret(name: &str, inline: Option<String>, file: Option<&Path>, env: &str) -> Result<Option<Password>, String> {
    if let Some(v) = inline.filter(|v| !v.is_empty()) {
        return Ok(Some(Password::new(v)));
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| format!("storage.{name}_file {}: {e}", path.display()))?;
        let v = text.trim();
        if v.is_empty() {
            return Err(format!("storage.{name}_file {}: the file is empty", path.display()));
        }
        return Ok(Some(Password::new(v.to_owned())));
    }
    Ok(std::env::var(env).ok().filter(|v| !v.is_empty()).map(Password::new))
}

/// The HTTP client of the store: rustls on the process's ring provider, the
/// system's roots plus `ca_file`, bounded connects.
fn http_client(ca_file: Option<&Path>) -> Result<reqwest::Client, String> {
    // The process's one provider (ring); `main` installs it first thing, and a
    // library user (the tests) gets it here. A second install is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("storage.ca_file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("storage.ca_file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("storage.ca_file {}: no certificate in it", path.display()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| format!("storage: the HTTP client: {e}"))
}
