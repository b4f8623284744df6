//! `roarctl inputs PATH|HASH|JOB`: where a result's data came from. The root inputs
//! of its lineage (content that no recorded job wrote), each with its origin:
//! downloaded by `get`, uploaded somewhere by `put`, or only on this machine.
//! `--unsourced` keeps the last kind, which is what stops a result from being shared
//! or reproduced elsewhere.

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;
use serde_json::{Value, json};

use crate::commands::lineage::target;
use crate::context::Context;
use crate::graph::{GraphView, label};
use crate::render::{Style, escape_bytes, human_size};
use crate::status_error;

#[derive(clap::Args, Debug)]
pub struct InputsArgs {
    /// A file's path (its last recorded content), a hash prefix (8+ hex digits,
    /// optionally `blake3:`/`sha256:`), or a job (`@N`, `@BN`, `last`, uid)
    #[arg(value_name = "PATH|HASH|JOB")]
    pub target: String,
    /// Only the inputs with no known origin: neither downloaded by `get` nor uploaded
    /// by `put`
    #[arg(long)]
    pub unsourced: bool,
    /// Print a JSON object (see README, "JSON output")
    #[arg(long)]
    pub json: bool,
}

/// Where a root input's content can be had from.
#[derive(Clone, Copy, PartialEq)]
enum Origin {
    Downloaded,
    Uploaded,
    Local,
}

impl Origin {
    fn of(artifact: &pb::GraphArtifact) -> Origin {
        if !artifact.origins.is_empty() {
            Origin::Downloaded
        } else if !artifact.uploaded_to.is_empty() {
            Origin::Uploaded
        } else {
            Origin::Local
        }
    }

    fn name(self) -> &'static str {
        match self {
            Origin::Downloaded => "downloaded",
            Origin::Uploaded => "uploaded",
            Origin::Local => "local",
        }
    }
}

/// A root input: its content, the paths jobs read it at, and those jobs.
struct RootInput<'a> {
    artifact: &'a pb::GraphArtifact,
    origin: Origin,
    paths: Vec<&'a [u8]>,
    readers: Vec<&'a pb::GraphJob>,
}

impl RootInput<'_> {
    fn urls(&self) -> &[String] {
        match self.origin {
            Origin::Downloaded => &self.artifact.origins,
            Origin::Uploaded => &self.artifact.uploaded_to,
            Origin::Local => &[],
        }
    }
}

pub async fn inputs(ctx: &Context, args: InputsArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let project = roar_proto::project::project_root(&cwd);
    let mut client = ctx.client().await?;
    let graph = client
        .get_lineage(pb::GetLineageRequest {
            target: Some(target(&args.target)?),
            cwd: cwd.as_os_str().as_bytes().to_vec(),
            downstream: false,
            depth: 0,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let roots: Vec<RootInput> = root_inputs(&graph)
        .into_iter()
        .filter(|input| !args.unsourced || input.origin == Origin::Local)
        .collect();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&as_json(&args, &roots))?);
        return Ok(ExitCode::SUCCESS);
    }
    let view = GraphView::new(&graph, project.as_os_str().as_bytes());
    print_inputs(&view, &args, &roots, Style::for_stdout(ctx.color));
    Ok(ExitCode::SUCCESS)
}

/// The graph's sources that it reads, or that it started from (a target no job
/// wrote is its own root input), in the order of their ids.
fn root_inputs(graph: &pb::Graph) -> Vec<RootInput<'_>> {
    graph
        .artifacts
        .iter()
        .filter(|a| a.source)
        .filter_map(|artifact| {
            let reads: Vec<(&pb::GraphJob, &pb::FileRef)> = graph
                .jobs
                .iter()
                .flat_map(|j| j.inputs.iter().map(move |f| (j, f)))
                .filter(|(_, f)| f.artifact_id == artifact.id)
                .collect();
            if reads.is_empty() && !graph.roots.contains(&artifact.id) {
                return None;
            }
            let mut paths: Vec<&[u8]> = reads.iter().map(|(_, f)| f.path.as_slice()).collect();
            paths.dedup();
            let mut readers: Vec<&pb::GraphJob> = Vec::new();
            for (job, _) in reads {
                if !readers.iter().any(|r| std::ptr::eq(*r, job)) {
                    readers.push(job);
                }
            }
            Some(RootInput {
                artifact,
                origin: Origin::of(artifact),
                paths,
                readers,
            })
        })
        .collect()
}

fn print_inputs(view: &GraphView, args: &InputsArgs, roots: &[RootInput], style: Style) {
    if roots.is_empty() {
        if args.unsourced {
            outln!("every root input of {} has a known origin", args.target);
        } else {
            outln!("{} has no root inputs: no data went into it", args.target);
        }
        return;
    }
    let local = roots.iter().filter(|r| r.origin == Origin::Local).count();
    if args.unsourced {
        outln!(
            "{} root input(s) of {} have no known origin (neither downloaded nor uploaded):",
            roots.len(),
            args.target
        );
    } else {
        outln!(
            "{} root input(s) of {} ({local} local only):",
            roots.len(),
            args.target
        );
    }
    for input in roots {
        let path = input
            .paths
            .first()
            .map_or_else(|| args.target.clone(), |p| view.short_path(p));
        let origin = match input.origin {
            Origin::Downloaded => format!("from {}", input.urls().join(", ")),
            Origin::Uploaded => format!("local, uploaded to {}", input.urls().join(", ")),
            Origin::Local => style.bold("local only"),
        };
        let readers: Vec<String> = input.readers.iter().map(|j| label(j)).collect();
        let read_by = if readers.is_empty() {
            String::new()
        } else {
            format!("  read by {}", readers.join(", "))
        };
        outln!(
            "  {}  {}  {}  {origin}{read_by}",
            style.bold(&path),
            style.dim(&view.short_hash(input.artifact.id)),
            human_size(input.artifact.size),
        );
    }
}

/// `{"target", "unsourced", "inputs": [{"artifact", "paths", "size", "hashes",
/// "origin", "urls", "read_by": [{"uid", "step"}]}]}`.
fn as_json(args: &InputsArgs, roots: &[RootInput]) -> Value {
    let inputs: Vec<Value> = roots
        .iter()
        .map(|input| {
            let read_by: Vec<Value> = input
                .readers
                .iter()
                .map(|j| {
                    let uid = j.job.as_ref().map_or("", |s| s.uid.as_str());
                    json!({"uid": uid, "step": label(j)})
                })
                .collect();
            json!({
                "artifact": input.artifact.id,
                "paths": input.paths.iter().map(|p| escape_bytes(p)).collect::<Vec<_>>(),
                "size": input.artifact.size,
                "hashes": crate::json::hashes(&input.artifact.hashes),
                "origin": input.origin.name(),
                "urls": input.urls(),
                "read_by": read_by,
            })
        })
        .collect();
    json!({"target": args.target, "unsourced": args.unsourced, "inputs": inputs})
}
