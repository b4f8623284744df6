//! `roarctl diff A B`: why two results differ. A and B are jobs, or artifacts (then the
//! jobs that made them); the differences come grouped as `job_diff` ranks them (data,
//! parameters, code, environment, structure), with git's line counts for the
//! repository files either job read.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;
use roar_proto::pb::get_lineage_request::Target;
use serde_json::{Value, json};

use crate::commands::lineage::target;
use crate::connection::Client;
use crate::context::Context;
use crate::job_diff::{DataChange, JobDiff, Pair, compare};
use crate::render::{Style, command_line, step_label};
use crate::status_error;

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// A job (`@N`, `@BN`, `last`, uid), or an artifact (a path, a hash prefix): the
    /// job that made it
    #[arg(value_name = "A")]
    pub a: String,
    /// The same, for the other side
    #[arg(value_name = "B")]
    pub b: String,
    /// Compare the upstream pipelines at most N job levels deep (default: all)
    #[arg(long, value_name = "N")]
    pub depth: Option<u32>,
    /// Print a JSON object (see README, "JSON output")
    #[arg(long)]
    pub json: bool,
}

/// Lines added and removed in a repository file between the two commits.
struct FileStat {
    path: String,
    added: usize,
    removed: usize,
}

/// Steps upstream of one job and not of the other, by their command lines.
#[derive(Default)]
struct Structure {
    only_a: Vec<String>,
    only_b: Vec<String>,
}

pub async fn diff(ctx: &Context, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let mut client = ctx.client().await?;
    let a = job_for(&mut client, &args.a, &cwd).await?;
    let b = job_for(&mut client, &args.b, &cwd).await?;
    let diff = compare(&a, &b);
    let stats = code_stats(&a, &b, &diff.repo_files);
    let structure = structure(&mut client, &a, &b, args.depth, &cwd).await?;
    if args.json {
        let object = as_json(&a, &b, &diff, &stats, &structure);
        outln!("{}", serde_json::to_string_pretty(&object)?);
    } else {
        print_diff(
            &a,
            &b,
            &diff,
            &stats,
            &structure,
            Style::for_stdout(ctx.color),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The job a side names: the job itself, or for an artifact the job that wrote it (by
/// the producer rule, as `lineage` shows it).
async fn job_for(client: &mut Client, text: &str, cwd: &[u8]) -> anyhow::Result<pb::Job> {
    let selector = match target(text)? {
        Target::Job(selector) => selector,
        artifact => producer_of(client, artifact, text, cwd).await?,
    };
    Ok(client
        .get_job(pb::GetJobRequest {
            selector,
            cwd: cwd.to_vec(),
        })
        .await
        .map_err(status_error)?
        .into_inner())
}

async fn producer_of(
    client: &mut Client,
    artifact: Target,
    text: &str,
    cwd: &[u8],
) -> anyhow::Result<String> {
    let graph = client
        .get_lineage(pb::GetLineageRequest {
            target: Some(artifact),
            cwd: cwd.to_vec(),
            downstream: false,
            depth: 1,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    graph
        .roots
        .first()
        .and_then(|&root| crate::graph::maker_of(&graph, root))
        .and_then(|j| j.job.as_ref())
        .map(|s| s.uid.clone())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no recorded job made {text}: it is a source\nhint: `roarctl inputs {text}` \
                 says where it came from; diff compares jobs, or artifacts jobs made"
            )
        })
}

/// git's line counts for the repository files either job read, between the two
/// commits, when both jobs ran at a commit of the same repository (found at A's root).
fn code_stats(a: &pb::Job, b: &pb::Job, files: &BTreeSet<String>) -> Vec<FileStat> {
    let git = |job: &pb::Job| job.summary.as_ref().and_then(|s| s.git.clone());
    let (Some(ga), Some(gb)) = (git(a), git(b)) else {
        return Vec::new();
    };
    if ga.commit == gb.commit || ga.commit.is_empty() || gb.commit.is_empty() {
        return Vec::new();
    }
    let root = std::path::Path::new(std::ffi::OsStr::from_bytes(&ga.root));
    line_counts(root, &ga.commit, &gb.commit, files).unwrap_or_default()
}

fn line_counts(
    root: &std::path::Path,
    from: &str,
    to: &str,
    files: &BTreeSet<String>,
) -> Result<Vec<FileStat>, git2::Error> {
    let repo = git2::Repository::open(root)?;
    let tree = |commit: &str| -> Result<git2::Tree<'_>, git2::Error> {
        repo.find_commit(git2::Oid::from_str(commit)?)?.tree()
    };
    let (old, new) = (tree(from)?, tree(to)?);
    let mut options = git2::DiffOptions::new();
    for file in files {
        options.pathspec(file);
    }
    options.disable_pathspec_match(true);
    let diff = repo.diff_tree_to_tree(Some(&old), Some(&new), Some(&mut options))?;
    let mut stats = Vec::new();
    for index in 0..diff.deltas().len() {
        let Some(patch) = git2::Patch::from_diff(&diff, index)? else {
            continue;
        };
        let path = patch
            .delta()
            .new_file()
            .path()
            .or_else(|| patch.delta().old_file().path())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let (_, added, removed) = patch.line_stats()?;
        stats.push(FileStat {
            path,
            added,
            removed,
        });
    }
    Ok(stats)
}

/// The steps upstream of each job (not the job itself), by command line.
async fn structure(
    client: &mut Client,
    a: &pb::Job,
    b: &pb::Job,
    depth: Option<u32>,
    cwd: &[u8],
) -> anyhow::Result<Structure> {
    let mut steps = Vec::new();
    for job in [a, b] {
        let uid = job.summary.as_ref().map_or("", |s| s.uid.as_str());
        let graph = client
            .get_lineage(pb::GetLineageRequest {
                target: Some(Target::Job(uid.to_string())),
                cwd: cwd.to_vec(),
                downstream: false,
                depth: depth.unwrap_or(0),
            })
            .await
            .map_err(status_error)?
            .into_inner();
        let commands: BTreeSet<String> = graph
            .jobs
            .iter()
            .filter(|j| j.depth > 0)
            .filter_map(|j| j.job.as_ref())
            .map(|s| command_line(&s.argv))
            .collect();
        steps.push(commands);
    }
    Ok(Structure {
        only_a: steps[0].difference(&steps[1]).cloned().collect(),
        only_b: steps[1].difference(&steps[0]).cloned().collect(),
    })
}

fn name(job: &pb::Job) -> String {
    job.summary.as_ref().map_or_else(String::new, |s| {
        format!("{} ({})", step_label(s.kind(), s.step), s.uid)
    })
}

fn pair_text((a, b): &Pair) -> String {
    let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_string());
    format!("{} → {}", side(a), side(b))
}

fn print_diff(
    a: &pb::Job,
    b: &pb::Job,
    diff: &JobDiff,
    stats: &[FileStat],
    structure: &Structure,
    style: Style,
) {
    outln!("{} → {}", style.bold(&name(a)), style.bold(&name(b)));
    if diff.is_empty()
        && stats.is_empty()
        && structure.only_a.is_empty()
        && structure.only_b.is_empty()
    {
        outln!("no differences in data, parameters, code, environment or structure");
        return;
    }
    print_data(&diff.data, &style);
    print_parameters(diff, &style);
    print_code(diff, stats, &style);
    print_environment(diff, &style);
    if !structure.only_a.is_empty() || !structure.only_b.is_empty() {
        outln!("{}", style.bold("structure (steps upstream)"));
        for step in &structure.only_a {
            outln!("  only in A  {step}");
        }
        for step in &structure.only_b {
            outln!("  only in B  {step}");
        }
    }
}

fn print_data(data: &BTreeMap<String, DataChange>, style: &Style) {
    if data.is_empty() {
        return;
    }
    outln!("{}", style.bold(&format!("data ({} input(s))", data.len())));
    let short = |hex: &str| hex[..hex.len().min(12)].to_string();
    for (path, change) in data {
        match change {
            DataChange::Changed(x, y) => {
                outln!("  changed  {path}  {} → {}", short(x), short(y))
            }
            DataChange::Added(h) => outln!("  added    {path}  {}", short(h)),
            DataChange::Removed(h) => outln!("  removed  {path}  {}", short(h)),
        }
    }
}

fn print_parameters(diff: &JobDiff, style: &Style) {
    if diff.command.is_none() && diff.parameters.is_empty() && diff.positional.is_none() {
        return;
    }
    outln!("{}", style.bold("parameters"));
    if let Some((x, y)) = &diff.command {
        outln!("  command  {x} → {y}");
    }
    for (key, pair) in &diff.parameters {
        outln!("  {key}  {}", pair_text(pair));
    }
    if let Some((x, y)) = &diff.positional {
        outln!("  arguments  {} → {}", x.join(" "), y.join(" "));
    }
}

fn print_code(diff: &JobDiff, stats: &[FileStat], style: &Style) {
    if diff.code.is_empty() && stats.is_empty() {
        return;
    }
    outln!("{}", style.bold("code"));
    for (field, pair) in &diff.code {
        outln!("  {field}  {}", pair_text(pair));
    }
    for stat in stats {
        outln!("  {}  +{} -{}", stat.path, stat.added, stat.removed);
    }
}

fn print_environment(diff: &JobDiff, style: &Style) {
    if diff.packages.is_empty() && diff.python.is_none() && diff.env.is_empty() {
        return;
    }
    outln!("{}", style.bold("environment"));
    if let Some(pair) = &diff.python {
        outln!("  python  {}", pair_text(pair));
    }
    for (package, pair) in &diff.packages {
        outln!("  {package}  {}", pair_text(pair));
    }
    for (var, pair) in &diff.env {
        outln!("  ${var}  {}", pair_text(pair));
    }
}

fn pairs(map: &BTreeMap<impl ToString, Pair>) -> Value {
    map.iter()
        .map(|(k, (a, b))| json!({"name": k.to_string(), "a": a, "b": b}))
        .collect()
}

/// The JSON shape README documents ("JSON output", `diff --json`).
fn as_json(
    a: &pb::Job,
    b: &pb::Job,
    diff: &JobDiff,
    stats: &[FileStat],
    structure: &Structure,
) -> Value {
    let uid = |job: &pb::Job| {
        job.summary
            .as_ref()
            .map_or(String::new(), |s| s.uid.clone())
    };
    let data: Vec<Value> = diff
        .data
        .iter()
        .map(|(path, change)| match change {
            DataChange::Changed(x, y) => json!({"path": path, "change": "changed", "a": x, "b": y}),
            DataChange::Added(h) => json!({"path": path, "change": "added", "a": null, "b": h}),
            DataChange::Removed(h) => json!({"path": path, "change": "removed", "a": h, "b": null}),
        })
        .collect();
    json!({
        "a": uid(a),
        "b": uid(b),
        "data": data,
        "parameters": {
            "command": diff.command.as_ref().map(|(x, y)| json!({"a": x, "b": y})),
            "options": pairs(&diff.parameters),
            "arguments": diff.positional.as_ref().map(|(x, y)| json!({"a": x, "b": y})),
        },
        "code": {
            "fields": pairs(&diff.code),
            "files": stats.iter().map(|s| json!({"path": s.path, "added": s.added, "removed": s.removed})).collect::<Vec<_>>(),
        },
        "environment": {
            "python": diff.python.as_ref().map(|(x, y)| json!({"a": x, "b": y})),
            "packages": pairs(&diff.packages),
            "env": pairs(&diff.env),
        },
        "structure": {"only_a": structure.only_a, "only_b": structure.only_b},
    })
}
