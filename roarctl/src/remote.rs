//! Where `get` reads and `put` writes: `file://` paths, `http(s)://` URLs (reqwest) and
//! `s3://bucket/key` objects (object_store, credentials and endpoint from the usual AWS
//! environment and files). A URL ending in `/` is a prefix: every object under it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::{Attribute, Attributes, GetOptions, ObjectStore, PutOptions, PutPayload};

use crate::aws_profile;

/// A place named by a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    Http(String),
    S3 { bucket: String, key: String },
}

impl Location {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                bail!("'{url}' is not an absolute file URL: use file:///absolute/path");
            }
            return Ok(Location::File(PathBuf::from(path)));
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            return Ok(Location::Http(url.to_string()));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                bail!("'{url}' names no bucket: use s3://BUCKET/KEY");
            }
            return Ok(Location::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            });
        }
        bail!("unsupported URL '{url}': use file://, http://, https:// or s3://")
    }

    /// Whether this names every object under a prefix.
    pub fn is_prefix(&self) -> bool {
        match self {
            Location::File(path) => path.as_os_str().to_string_lossy().ends_with('/'),
            Location::Http(url) => url.ends_with('/'),
            Location::S3 { key, .. } => key.is_empty() || key.ends_with('/'),
        }
    }

    /// This location with `relative` appended (to a prefix).
    pub fn join(&self, relative: &str) -> Location {
        match self {
            Location::File(path) => Location::File(path.join(relative)),
            Location::Http(url) => Location::Http(format!("{url}{relative}")),
            Location::S3 { bucket, key } => Location::S3 {
                bucket: bucket.clone(),
                key: format!("{key}{relative}"),
            },
        }
    }

    pub fn url(&self) -> String {
        match self {
            Location::File(path) => format!("file://{}", path.display()),
            Location::Http(url) => url.clone(),
            Location::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }

    /// The last component: the default local name of a download.
    pub fn file_name(&self) -> Option<String> {
        let url = self.url();
        let name = url.trim_end_matches('/').rsplit('/').next()?;
        let name = name.split(['?', '#']).next()?;
        (!name.is_empty()).then(|| name.to_string())
    }
}

/// One object to transfer: its location, and its path below the prefix it was listed
/// from (its own name otherwise).
#[derive(Debug, Clone)]
pub struct Object {
    pub location: Location,
    pub relative: String,
}

/// A byte stream being downloaded, with its length when the remote said it.
pub struct Download {
    pub size: Option<u64>,
    pub stream: std::pin::Pin<Box<dyn Stream<Item = anyhow::Result<Bytes>> + Send>>,
}

/// Clients for the schemes, made once per command.
pub struct Remote {
    http: reqwest::Client,
    endpoint: Option<String>,
}

impl Remote {
    /// `endpoint` overrides the S3 endpoint (an S3-compatible store).
    pub fn new(endpoint: Option<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("roar/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self { http, endpoint })
    }

    fn s3(&self, bucket: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let profile = aws_profile::load();
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            && let Some((key, secret)) = profile.credentials()
        {
            builder = builder
                .with_access_key_id(key)
                .with_secret_access_key(secret);
            if let Some(token) = &profile.session_token {
                builder = builder.with_token(token);
            }
        }
        let region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .ok()
            .or(profile.region.clone())
            .unwrap_or_else(|| "us-east-1".to_string());
        builder = builder.with_region(region);
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .or(profile.endpoint_url.clone());
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_allow_http(endpoint.starts_with("http://"))
                .with_endpoint(endpoint);
        }
        Ok(Arc::new(builder.build().with_context(|| {
            format!("cannot use the S3 bucket {bucket}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or ~/.aws/credentials), and --endpoint for an S3-compatible store")
        })?))
    }

    /// The objects a location names: itself, or everything under a prefix.
    pub async fn list(&self, location: &Location) -> anyhow::Result<Vec<Object>> {
        if !location.is_prefix() {
            let relative = location
                .file_name()
                .unwrap_or_else(|| "download".to_string());
            return Ok(vec![Object {
                location: location.clone(),
                relative,
            }]);
        }
        match location {
            Location::File(dir) => {
                let mut objects = Vec::new();
                walk(dir, dir, &mut objects)
                    .with_context(|| format!("cannot list {}", dir.display()))?;
                objects.sort_by(|a, b| a.relative.cmp(&b.relative));
                Ok(objects)
            }
            Location::Http(url) => bail!(
                "{url} ends with '/': HTTP has no standard listing; give each file's URL \
                 (prefixes work with s3:// and file://)"
            ),
            Location::S3 { bucket, key } => {
                let store = self.s3(bucket)?;
                let prefix = object_store::path::Path::from(key.trim_end_matches('/'));
                let listed: Vec<_> = store
                    .list(if key.is_empty() { None } else { Some(&prefix) })
                    .try_collect()
                    .await
                    .with_context(|| format!("cannot list {}", location.url()))?;
                let mut objects: Vec<Object> = listed
                    .into_iter()
                    .map(|meta| {
                        let full = meta.location.to_string();
                        let relative = full
                            .strip_prefix(key.as_str())
                            .unwrap_or(&full)
                            .trim_start_matches('/')
                            .to_string();
                        Object {
                            location: Location::S3 {
                                bucket: bucket.clone(),
                                key: full,
                            },
                            relative,
                        }
                    })
                    .collect();
                objects.sort_by(|a, b| a.relative.cmp(&b.relative));
                Ok(objects)
            }
        }
    }

    /// Starts reading an object. A missing object is an error saying so.
    pub async fn download(&self, location: &Location) -> anyhow::Result<Download> {
        match location {
            Location::File(path) => {
                let file = tokio::fs::File::open(path)
                    .await
                    .with_context(|| format!("cannot open {}", path.display()))?;
                let size = file.metadata().await.ok().map(|m| m.len());
                let stream = tokio_util_stream(file);
                Ok(Download { size, stream })
            }
            Location::Http(url) => {
                let response = self
                    .http
                    .get(url)
                    .send()
                    .await
                    .with_context(|| format!("cannot reach {url}"))?;
                let status = response.status();
                if !status.is_success() {
                    bail!("{url} answered {status}");
                }
                let size = response.content_length();
                let stream = response
                    .bytes_stream()
                    .map(|chunk| chunk.context("the transfer was interrupted"));
                Ok(Download {
                    size,
                    stream: Box::pin(stream),
                })
            }
            Location::S3 { bucket, key } => {
                let store = self.s3(bucket)?;
                let result = store
                    .get(&object_store::path::Path::from(key.as_str()))
                    .await
                    .with_context(|| format!("cannot get {}", location.url()))?;
                let size = Some(result.meta.size);
                let stream = result
                    .into_stream()
                    .map(|chunk| chunk.context("the transfer was interrupted"));
                Ok(Download {
                    size,
                    stream: Box::pin(stream),
                })
            }
        }
    }

    /// The BLAKE3 the remote object is known to hold: roar records it in the object's
    /// metadata when it uploads (S3), and a local file is simply hashed. None when the
    /// object does not exist or its content is not known.
    pub async fn content_of(&self, location: &Location) -> anyhow::Result<Option<String>> {
        match location {
            Location::File(path) => {
                if !path.is_file() {
                    return Ok(None);
                }
                let path = path.clone();
                let digest = tokio::task::spawn_blocking(move || hash_file(&path)).await??;
                Ok(Some(digest))
            }
            Location::Http(_) => Ok(None),
            Location::S3 { bucket, key } => {
                let store = self.s3(bucket)?;
                let options = GetOptions {
                    head: true,
                    ..GetOptions::default()
                };
                match store
                    .get_opts(&object_store::path::Path::from(key.as_str()), options)
                    .await
                {
                    Ok(result) => Ok(result
                        .attributes
                        .get(&Attribute::Metadata("blake3".into()))
                        .map(|v| v.to_string())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e).with_context(|| format!("cannot look at {}", location.url())),
                }
            }
        }
    }

    /// Uploads a local file, recording its BLAKE3 with the object where the scheme
    /// allows. `progress` is called with the bytes sent so far.
    pub async fn upload(
        &self,
        local: &Path,
        location: &Location,
        blake3: &str,
        mut progress: impl FnMut(u64),
    ) -> anyhow::Result<()> {
        match location {
            Location::File(dest) => {
                let (from, to) = (local.to_path_buf(), dest.clone());
                tokio::task::spawn_blocking(move || copy_atomically(&from, &to)).await??;
                progress(std::fs::metadata(local).map_or(0, |m| m.len()));
                Ok(())
            }
            Location::Http(url) => self.upload_http(local, url, blake3, progress).await,
            Location::S3 { bucket, key } => {
                let store = self.s3(bucket)?;
                let mut attributes = Attributes::new();
                attributes.insert(
                    Attribute::Metadata("blake3".into()),
                    blake3.to_string().into(),
                );
                let path = object_store::path::Path::from(key.as_str());
                let size = tokio::fs::metadata(local).await?.len();
                if size <= MULTIPART_THRESHOLD {
                    let body = tokio::fs::read(local).await?;
                    store
                        .put_opts(
                            &path,
                            PutPayload::from(body),
                            PutOptions {
                                attributes,
                                ..PutOptions::default()
                            },
                        )
                        .await
                        .with_context(|| format!("cannot upload to {}", location.url()))?;
                    progress(size);
                    return Ok(());
                }
                upload_multipart(store.as_ref(), &path, location, attributes, local, progress).await
            }
        }
    }

    /// One PUT of the whole file, its BLAKE3 in a header for servers that keep it.
    async fn upload_http(
        &self,
        local: &Path,
        url: &str,
        blake3: &str,
        mut progress: impl FnMut(u64),
    ) -> anyhow::Result<()> {
        let body = tokio::fs::read(local)
            .await
            .with_context(|| format!("cannot read {}", local.display()))?;
        let size = body.len() as u64;
        let response = self
            .http
            .put(url)
            .header("x-roar-blake3", blake3)
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        if !response.status().is_success() {
            bail!("{url} answered {} to the upload", response.status());
        }
        progress(size);
        Ok(())
    }
}

/// Files above this size are uploaded in parts of this size.
const MULTIPART_THRESHOLD: u64 = 16 << 20;

/// A large file to S3 in parts, read a buffer at a time, so memory stays bounded
/// whatever its size. `location` names the object in messages.
async fn upload_multipart(
    store: &dyn ObjectStore,
    path: &object_store::path::Path,
    location: &Location,
    attributes: Attributes,
    local: &Path,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<()> {
    let upload = store
        .put_multipart_opts(
            path,
            object_store::PutMultipartOptions {
                attributes,
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("cannot upload to {}", location.url()))?;
    let mut writer =
        object_store::WriteMultipart::new_with_chunk_size(upload, MULTIPART_THRESHOLD as usize);
    let mut file = tokio::fs::File::open(local).await?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut sent = 0;
    loop {
        use tokio::io::AsyncReadExt;
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        writer.wait_for_capacity(4).await?;
        writer.write(&buffer[..n]);
        sent += n as u64;
        progress(sent);
    }
    writer
        .finish()
        .await
        .with_context(|| format!("cannot finish the upload to {}", location.url()))?;
    Ok(())
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<Object>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            out.push(Object {
                location: Location::File(path),
                relative,
            });
        }
    }
    Ok(())
}

/// Reads a local file as a stream of chunks.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> std::pin::Pin<Box<dyn Stream<Item = anyhow::Result<Bytes>> + Send>> {
    Box::pin(futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = vec![0u8; 256 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(Bytes::from(buffer)), file))
            }
            Err(e) => Some((Err(anyhow::Error::new(e).context("read failed")), file)),
        }
    }))
}

/// BLAKE3 hex of a local file.
pub fn hash_file(path: &Path) -> anyhow::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(std::fs::File::open(path)?)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Copies `from` to `to` through a temporary file beside `to`, synced, then renamed:
/// readers never see a half-written file.
fn copy_atomically(from: &Path, to: &Path) -> anyhow::Result<()> {
    let dir = to
        .parent()
        .with_context(|| format!("{} has no parent directory", to.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".roar-put-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::copy(&mut std::fs::File::open(from)?, temp.as_file_mut())?;
    temp.as_file().sync_all()?;
    temp.persist(to)
        .with_context(|| format!("cannot write {}", to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_join() {
        assert_eq!(
            Location::parse("s3://b/data/x.csv").unwrap(),
            Location::S3 {
                bucket: "b".into(),
                key: "data/x.csv".into()
            }
        );
        let prefix = Location::parse("s3://b/data/").unwrap();
        assert!(prefix.is_prefix());
        assert_eq!(prefix.join("a/b.csv").url(), "s3://b/data/a/b.csv");
        assert!(Location::parse("file://relative").is_err());
        assert!(Location::parse("ftp://x").is_err());
        assert_eq!(
            Location::parse("https://h/a/f.bin?x=1")
                .unwrap()
                .file_name()
                .as_deref(),
            Some("f.bin")
        );
    }
}
