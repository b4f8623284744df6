//! `roarctl put [SRC] DEST_URL -m MESSAGE`: upload artifacts and record where they
//! went. SRC is a file, a directory (recursively), `@N` (the outputs of step N) or
//! nothing (every output of the active session). Before anything is sent, the commits
//! the producing jobs ran at are tagged (unless `--no-tag`); content the remote
//! already holds is not sent again.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use roar_proto::pb;

use crate::context::Context;
use crate::progress::DelayedBar;
use crate::remote::{Location, Remote};
use crate::render::human_size;
use crate::status_error;
use crate::usage::{as_usage, usage_bail};

#[derive(clap::Args, Debug)]
pub struct PutArgs {
    /// `[SRC] DEST_URL`: SRC is a file, a directory, `@N`, or omitted (all outputs of the
    /// active session); DEST_URL is file://, http(s):// or s3://, ending in `/` for a
    /// prefix under which paths are kept
    #[arg(num_args = 1..=2, required = true, value_name = "[SRC] DEST_URL")]
    pub args: Vec<String>,
    /// Why these artifacts are published (recorded with the upload)
    #[arg(short, long)]
    pub message: String,
    /// Do not tag the commits of the producing jobs
    #[arg(long)]
    pub no_tag: bool,
    /// Push the tags to each repository's `origin`
    #[arg(long, conflicts_with = "no_tag")]
    pub push_tags: bool,
    /// S3-compatible endpoint (e.g. http://127.0.0.1:9000) [env: AWS_ENDPOINT_URL]
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Print the plan (what goes where, with hashes) without uploading or tagging
    #[arg(long)]
    pub dry_run: bool,
    /// Print a JSON array: `path`, `url`, `blake3`, `size`, `transferred` (null in a
    /// dry run) per file
    #[arg(long)]
    pub json: bool,
    /// Publish even what `policy.refuse_put` refuses, for this reason (recorded with
    /// each artifact, shown by `roarctl show`)
    #[arg(long, value_name = "REASON")]
    pub override_policy: Option<String>,
}

/// A local file and the name it gets under the destination prefix.
struct Source {
    path: PathBuf,
    relative: String,
}

/// One file of the upload: the source, what roard hashed it to, and where it goes.
type Planned<'a> = (&'a Source, &'a pb::HashedFile, Location);

pub async fn put(ctx: &Context, args: PutArgs) -> anyhow::Result<ExitCode> {
    let (src, dest) = match args.args.as_slice() {
        [dest] => (None, dest.as_str()),
        [src, dest] => (Some(src.as_str()), dest.as_str()),
        _ => usage_bail!("give [SRC] DEST_URL\nhint: `roarctl put --help` shows examples"),
    };
    let dest = Location::parse(dest).map_err(as_usage)?;
    let cwd = std::env::current_dir()?;
    let mut client = ctx.client().await?;
    let sources = match src {
        None => session_outputs(&mut client, &cwd).await?,
        Some(step) if step.starts_with('@') => step_outputs(&mut client, &cwd, step).await?,
        Some(path) => local_files(&cwd.join(path))?,
    };
    check_destination(&sources, &dest)?;
    let hashed = hash_sources(&mut client, &sources).await?;
    let plan = plan(&sources, &hashed, &dest);
    if args.dry_run {
        print_plan(&plan, &args)?;
        return Ok(ExitCode::SUCCESS);
    }
    let published: Vec<(String, String)> = plan
        .iter()
        .filter_map(|(source, hashed, _)| {
            let blake3 = roar_proto::vocabulary::blake3(&hashed.hashes)?;
            Some((source.relative.clone(), blake3.to_string()))
        })
        .collect();
    let cwd_bytes = cwd.as_os_str().as_bytes().to_vec();
    let reason = args.override_policy.as_deref();
    let overridden =
        super::label::check_policy(ctx, &mut client, &cwd_bytes, &published, reason).await?;
    if !args.no_tag {
        tag_commits(ctx, &mut client, &cwd, &plan, args.push_tags).await?;
    }
    let (uploads, report) = transfer(ctx, &plan, args.json, args.endpoint.clone()).await?;
    client
        .record_uploads(pb::RecordUploadsRequest {
            uploads,
            message: args.message.clone(),
        })
        .await
        .map_err(status_error)?;
    let url = dest.url().to_string();
    let reason = reason.unwrap_or_default();
    super::label::record_overrides(&mut client, &overridden, "put", &url, reason).await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses an empty source, and several files aimed at one URL, before anything is
/// hashed or sent.
fn check_destination(sources: &[Source], dest: &Location) -> anyhow::Result<()> {
    if sources.is_empty() {
        bail!("nothing to upload: the source holds no files");
    }
    if sources.len() > 1 && !dest.is_prefix() {
        usage_bail!(
            "{} files cannot all go to {}\nhint: end the URL with '/' to upload under it",
            sources.len(),
            dest.url()
        );
    }
    Ok(())
}

/// roard hashes the files, so the hashes match the ones its records hold.
async fn hash_sources(
    client: &mut crate::connection::Client,
    sources: &[Source],
) -> anyhow::Result<Vec<pb::HashedFile>> {
    Ok(client
        .hash_files(pb::HashFilesRequest {
            paths: sources
                .iter()
                .map(|s| s.path.as_os_str().as_bytes().to_vec())
                .collect(),
        })
        .await
        .map_err(status_error)?
        .into_inner()
        .files)
}

/// Where each file goes: under the prefix by its relative name, or to the URL itself.
fn plan<'a>(
    sources: &'a [Source],
    hashed: &'a [pb::HashedFile],
    dest: &Location,
) -> Vec<Planned<'a>> {
    sources
        .iter()
        .zip(hashed)
        .map(|(source, file)| {
            let target = if dest.is_prefix() {
                dest.join(&source.relative)
            } else {
                dest.clone()
            };
            (source, file, target)
        })
        .collect()
}

/// The BLAKE3 of a hashed file, as the remote and the records name content.
fn blake3_of(file: &pb::HashedFile) -> String {
    roar_proto::vocabulary::blake3(&file.hashes)
        .unwrap_or_default()
        .to_string()
}

/// One element of the `--json` array; `sent` is None in a dry run.
fn entry(
    source: &Source,
    file: &pb::HashedFile,
    target: &Location,
    sent: Option<bool>,
) -> serde_json::Value {
    serde_json::json!({
        "path": crate::render::escape_bytes(source.path.as_os_str().as_bytes()),
        "url": target.url(),
        "blake3": blake3_of(file),
        "size": file.size,
        "transferred": sent,
    })
}

/// `--dry-run`: what would go where, and whether commits would be tagged.
fn print_plan(plan: &[Planned<'_>], args: &PutArgs) -> anyhow::Result<()> {
    if args.json {
        let list: Vec<_> = plan.iter().map(|(s, f, t)| entry(s, f, t, None)).collect();
        outln!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    for (source, file, target) in plan {
        outln!(
            "{} -> {}  ({}, blake3 {})",
            source.path.display(),
            target.url(),
            human_size(file.size),
            &blake3_of(file)[..12]
        );
    }
    if !args.no_tag {
        outln!("then: tag the commits of the producing jobs");
    }
    Ok(())
}

/// Tags the commits the producing jobs ran at before anything leaves, so what is
/// published can be traced back to its code.
async fn tag_commits(
    ctx: &Context,
    client: &mut crate::connection::Client,
    cwd: &Path,
    plan: &[Planned<'_>],
    push: bool,
) -> anyhow::Result<()> {
    let tags = client
        .tag_lineage(pb::TagLineageRequest {
            lineage: Some(pb::GetLineageRequest {
                cwd: cwd.as_os_str().as_bytes().to_vec(),
                ..Default::default()
            }),
            push,
            artifacts: plan.iter().map(|(_, f, _)| blake3_of(f)).collect(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if !ctx.quiet {
        for tag in &tags.tags {
            eprintln!(
                "roar: tagged {} as {}{}",
                &tag.commit[..tag.commit.len().min(12)],
                tag.name,
                if tag.created { "" } else { " (already there)" }
            );
        }
    }
    Ok(())
}

/// Sends each file the remote does not already hold; returns what to record with
/// roard and the `--json` report.
async fn transfer(
    ctx: &Context,
    plan: &[Planned<'_>],
    json: bool,
    endpoint: Option<String>,
) -> anyhow::Result<(Vec<pb::Upload>, Vec<serde_json::Value>)> {
    let remote = Remote::new(endpoint)?;
    let mut uploads = Vec::new();
    let mut report = Vec::new();
    for (source, file, target) in plan {
        let blake3 = blake3_of(file);
        let already = remote.content_of(target).await?;
        let transferred = already.as_deref() != Some(blake3.as_str());
        if transferred {
            let mut bar = DelayedBar::new(ctx.quiet, "uploading");
            let size = file.size;
            remote
                .upload(&source.path, target, &blake3, |sent| {
                    bar.update(sent, size, String::new())
                })
                .await?;
            bar.finish();
        }
        report.push(entry(source, file, target, Some(transferred)));
        if !ctx.quiet && !json {
            eprintln!(
                "roar: {} -> {}{}",
                source.path.display(),
                target.url(),
                if transferred { "" } else { " (already there)" }
            );
        }
        uploads.push(pb::Upload {
            path: source.path.as_os_str().as_bytes().to_vec(),
            url: target.url(),
            blake3,
            size: file.size,
            transferred,
        });
    }
    Ok((uploads, report))
}

/// A file, or every file under a directory (names relative to it).
fn local_files(path: &Path) -> anyhow::Result<Vec<Source>> {
    let path = path
        .canonicalize()
        .with_context(|| format!("cannot find {}", path.display()))?;
    if path.is_file() {
        let relative = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![Source { path, relative }]);
    }
    let mut files = Vec::new();
    let mut stack = vec![path.clone()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let full = entry.path();
                let relative = full
                    .strip_prefix(&path)
                    .unwrap_or(&full)
                    .to_string_lossy()
                    .into_owned();
                files.push(Source {
                    path: full,
                    relative,
                });
            }
        }
    }
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(files)
}

/// Paths relative to the project root when inside it.
fn relative_to(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .trim_start_matches('/')
        .to_string()
}

fn existing(paths: impl IntoIterator<Item = Vec<u8>>, root: &Path) -> Vec<Source> {
    let mut seen = std::collections::BTreeMap::new();
    for bytes in paths {
        let path = PathBuf::from(std::ffi::OsString::from_vec(bytes));
        if path.is_file() {
            let relative = relative_to(&path, root);
            seen.insert(relative, path);
        }
    }
    seen.into_iter()
        .map(|(relative, path)| Source { path, relative })
        .collect()
}

/// The data outputs of step `@N` that still exist.
async fn step_outputs(
    client: &mut crate::connection::Client,
    cwd: &Path,
    step: &str,
) -> anyhow::Result<Vec<Source>> {
    let job = client
        .get_job(pb::GetJobRequest {
            selector: step.to_string(),
            cwd: cwd.as_os_str().as_bytes().to_vec(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let root = PathBuf::from(std::ffi::OsString::from_vec(
        job.summary.map(|s| s.project).unwrap_or_default(),
    ));
    Ok(existing(
        job.outputs
            .into_iter()
            .filter(|f| f.class() == pb::FileClass::Artifact)
            .map(|f| f.path),
        &root,
    ))
}

/// The data outputs of every current step of the active session that still exist.
async fn session_outputs(
    client: &mut crate::connection::Client,
    cwd: &Path,
) -> anyhow::Result<Vec<Source>> {
    let dag = client
        .get_dag(pb::GetDagRequest {
            cwd: cwd.as_os_str().as_bytes().to_vec(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let root = PathBuf::from(std::ffi::OsString::from_vec(
        dag.session.map(|s| s.project).unwrap_or_default(),
    ));
    Ok(existing(
        dag.jobs.into_iter().flat_map(|j| j.outputs).map(|f| f.path),
        &root,
    ))
}
