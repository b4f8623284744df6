//! `roarctl get URL [DEST]`: download with SHA-256 and BLAKE3 computed in one pass,
//! verified before the file appears at DEST, and recorded by roard as a source of
//! lineage with its URL.
//!
//! Each file is written to a temporary file beside DEST, synced, checked, then renamed
//! into place: an error, a mismatch or an interruption leaves nothing behind.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use futures_util::StreamExt;
use roar_proto::pb;
use sha2::Digest as _;

use crate::context::Context;
use crate::progress::DelayedBar;
use crate::remote::{Location, Object, Remote, hash_file};
use crate::render::human_size;
use crate::status_error;
use crate::usage::{as_usage, usage_bail};

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// file:///path, http(s)://host/path or s3://bucket/key; a URL ending in `/`
    /// fetches every object under it (s3:// and file://), keeping relative paths
    pub url: String,
    /// Where to save it [default: the URL's last component, in the current directory;
    /// for a prefix, the current directory]
    pub dest: Option<PathBuf>,
    /// The SHA-256 (hex) the file must have; checked before it appears at DEST
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// The BLAKE3 (hex) the file must have; checked before it appears at DEST
    #[arg(long, value_name = "HEX")]
    pub blake3: Option<String>,
    /// Replace a DEST that holds different content
    #[arg(long)]
    pub force: bool,
    /// S3-compatible endpoint (e.g. http://127.0.0.1:9000) [env: AWS_ENDPOINT_URL]
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Print what would be downloaded, and where, without doing it
    #[arg(long)]
    pub dry_run: bool,
    /// Print a JSON array: `url`, `path`, `size`, `blake3`, `sha256` per file
    #[arg(long)]
    pub json: bool,
}

/// What one file's download found.
pub struct Fetched {
    pub size: u64,
    pub blake3: String,
    pub sha256: String,
}

/// Downloads `url` to `dest` (which must not exist yet), verified against `blake3`,
/// and has roard record it: what `reproduce` uses to fetch a source input.
pub async fn fetch_verified(
    ctx: &Context,
    url: &str,
    dest: &Path,
    blake3: &str,
) -> anyhow::Result<Fetched> {
    let args = GetArgs {
        url: url.to_string(),
        dest: Some(dest.to_path_buf()),
        sha256: None,
        blake3: Some(blake3.to_string()),
        force: false,
        endpoint: None,
        dry_run: false,
        json: false,
    };
    let location = Location::parse(url)?;
    let remote = Remote::new(None)?;
    let object = Object {
        relative: location.file_name().unwrap_or_default(),
        location,
    };
    let fetched = fetch(ctx, &remote, &object, dest, &args).await?;
    let path = dest.canonicalize()?;
    record_download(&mut ctx.client().await?, url.to_string(), &path, &fetched).await?;
    Ok(fetched)
}

/// Has roard record a download at `path` (canonical) as a source of lineage; roard
/// hashes the saved file itself and checks it is what was downloaded.
async fn record_download(
    client: &mut crate::connection::Client,
    url: String,
    path: &Path,
    fetched: &Fetched,
) -> anyhow::Result<()> {
    client
        .record_download(pb::RecordDownloadRequest {
            url,
            path: path.as_os_str().as_bytes().to_vec(),
            size: fetched.size,
            blake3: fetched.blake3.clone(),
            sha256: fetched.sha256.clone(),
        })
        .await
        .map_err(status_error)?;
    Ok(())
}

pub async fn get(ctx: &Context, args: GetArgs) -> anyhow::Result<ExitCode> {
    let location = Location::parse(&args.url).map_err(as_usage)?;
    check_digests(&args, &location)?;
    let remote = Remote::new(args.endpoint.clone())?;
    let objects = remote.list(&location).await?;
    if objects.is_empty() {
        bail!("nothing under {}", location.url());
    }
    let cwd = std::env::current_dir()?;
    let destination = |object: &Object| destination(&args, &location, &cwd, object);
    if args.dry_run {
        for object in &objects {
            outln!(
                "{} -> {}",
                object.location.url(),
                destination(object).display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut client = ctx.client().await?;
    let mut report = Vec::new();
    for object in &objects {
        let dest = destination(object);
        report.push(get_one(ctx, &mut client, &remote, object, &dest, &args).await?);
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses a malformed `--sha256`/`--blake3`, or one given for a prefix, before
/// anything is listed or downloaded.
fn check_digests(args: &GetArgs, location: &Location) -> anyhow::Result<()> {
    for (name, hex, len) in [("sha256", &args.sha256, 64), ("blake3", &args.blake3, 64)] {
        if let Some(hex) = hex
            && (hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            usage_bail!(
                "--{name} takes {len} hex digits, not '{hex}'\nhint: copy the whole digest, \
                 e.g. from `{name}sum FILE`"
            );
        }
    }
    if location.is_prefix() && (args.sha256.is_some() || args.blake3.is_some()) {
        usage_bail!(
            "--sha256 and --blake3 name one file's content; a prefix holds many\nhint: \
             drop them, or name one file (a URL not ending in '/')"
        );
    }
    Ok(())
}

/// Where an object is saved: under DEST for a prefix or an existing directory, at
/// DEST itself otherwise, and by its own name in the current directory without one.
fn destination(args: &GetArgs, location: &Location, cwd: &Path, object: &Object) -> PathBuf {
    match (&args.dest, location.is_prefix()) {
        (Some(dest), true) => cwd.join(dest).join(&object.relative),
        (Some(dest), false) if dest.is_dir() => cwd.join(dest).join(&object.relative),
        (Some(dest), false) => cwd.join(dest),
        (None, _) => cwd.join(&object.relative),
    }
}

/// Downloads one object and has roard record it as a source of lineage; returns its
/// element of the `--json` array.
async fn get_one(
    ctx: &Context,
    client: &mut crate::connection::Client,
    remote: &Remote,
    object: &Object,
    dest: &Path,
    args: &GetArgs,
) -> anyhow::Result<serde_json::Value> {
    let url = object.location.url();
    let fetched = fetch(ctx, remote, object, dest, args).await?;
    let path = dest
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dest.display()))?;
    record_download(client, url.clone(), &path, &fetched).await?;
    if !ctx.quiet && !args.json {
        eprintln!(
            "roar: {url} -> {} ({}, blake3 {}, sha256 {})",
            dest.display(),
            human_size(fetched.size),
            &fetched.blake3[..12],
            &fetched.sha256[..12]
        );
    }
    Ok(serde_json::json!({
        "url": url,
        "path": crate::render::escape_bytes(path.as_os_str().as_bytes()),
        "size": fetched.size,
        "blake3": fetched.blake3,
        "sha256": fetched.sha256,
    }))
}

/// Downloads one object to `dest`, or finds it already there.
async fn fetch(
    ctx: &Context,
    remote: &Remote,
    object: &Object,
    dest: &Path,
    args: &GetArgs,
) -> anyhow::Result<Fetched> {
    // The expected content may already be at DEST: nothing to download.
    if dest.is_file()
        && (args.sha256.is_some() || args.blake3.is_some())
        && let Ok(existing) = hash_both(dest)
        && matches_expected(&existing, args)
    {
        return Ok(existing);
    }
    let dir = dest
        .parent()
        .with_context(|| format!("{} has no parent directory", dest.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".roar-get-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let url = object.location.url();
    let mut download = remote.download(&object.location).await?;
    let (mut blake3, mut sha256, mut size) = (blake3::Hasher::new(), sha2::Sha256::new(), 0u64);
    let mut bar = DelayedBar::new(ctx.quiet, "downloading");
    while let Some(chunk) = download.stream.next().await {
        let chunk =
            chunk.with_context(|| format!("downloading {url} failed; nothing was saved"))?;
        temp.write_all(&chunk)
            .with_context(|| format!("cannot write {}", temp.path().display()))?;
        blake3.update(&chunk);
        sha256.update(&chunk);
        size += chunk.len() as u64;
        bar.update(size, download.size.unwrap_or(0), String::new());
    }
    bar.finish();
    if let Some(expected) = download.size
        && expected != size
    {
        bail!("downloading {url} stopped after {size} of {expected} bytes; nothing was saved");
    }
    temp.as_file().sync_all()?;
    let fetched = Fetched {
        size,
        blake3: blake3.finalize().to_hex().to_string(),
        sha256: hex(&sha256.finalize()),
    };
    if !matches_expected(&fetched, args) {
        bail!(
            "{url} does not have the expected content (got sha256 {}, blake3 {}); nothing \
             was saved",
            fetched.sha256,
            fetched.blake3
        );
    }
    if dest.exists() {
        let existing = hash_file(dest)?;
        if existing == fetched.blake3 {
            // Identical content is already there: leave it untouched.
            return Ok(fetched);
        }
        if !args.force {
            bail!(
                "{} exists with different content; pass --force to replace it",
                dest.display()
            );
        }
    }
    temp.persist(dest)
        .with_context(|| format!("cannot move the download to {}", dest.display()))?;
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(fetched)
}

fn matches_expected(fetched: &Fetched, args: &GetArgs) -> bool {
    args.sha256
        .as_ref()
        .is_none_or(|h| h.eq_ignore_ascii_case(&fetched.sha256))
        && args
            .blake3
            .as_ref()
            .is_none_or(|h| h.eq_ignore_ascii_case(&fetched.blake3))
}

/// Both digests of a local file, read once.
fn hash_both(path: &Path) -> anyhow::Result<Fetched> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let (mut blake3, mut sha256, mut size) = (blake3::Hasher::new(), sha2::Sha256::new(), 0u64);
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        blake3.update(&buffer[..n]);
        sha256.update(&buffer[..n]);
        size += n as u64;
    }
    Ok(Fetched {
        size,
        blake3: blake3.finalize().to_hex().to_string(),
        sha256: hex(&sha256.finalize()),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
