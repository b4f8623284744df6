//! `roarctl reproduce TARGET [--run] [-y] [--setup-python] [--allow-dirty] [--keep]
//! [--json]`, `reproduce --list`, `reproduce --clean [--older-than D]`: rebuild an
//! artifact from its recorded lineage and check the bytes.
//!
//! The plan comes from the artifact's upstream lineage (see `reproduce_plan`); a job
//! (`@2`) stands for its first data output. `execute` carries it out in work trees of
//! shared clones (`worktrees`), with fresh virtualenvs when asked (`environments`);
//! `cleanup` lists and removes the reproductions kept.

mod cleanup;
mod environments;
mod execute;
mod worktrees;

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use roar_proto::pb;
use roar_proto::pb::get_lineage_request::Target;

use super::lineage::no_match;
use crate::context::Context;
use crate::remote::hash_file;
use crate::reproduce_plan::{Origin, Plan};
use crate::status_error;

#[derive(clap::Args, Debug)]
pub struct ReproduceArgs {
    /// The artifact: a file's path (its last recorded content), a hash prefix, or a
    /// job (`@N`, `@BN`, `last`, uid) for its first data output
    #[arg(value_name = "HASH|PATH|JOB", required_unless_present_any = ["list", "clean"])]
    pub target: Option<String>,
    /// Carry the plan out (otherwise it is only printed)
    #[arg(long)]
    pub run: bool,
    /// Do not ask for confirmation before running
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Build a fresh virtualenv for each recorded Python environment (its version and
    /// packages, pip installed) and run the steps that used it with it
    #[arg(long)]
    pub setup_python: bool,
    /// Run even steps that ran with uncommitted changes, at their recorded commit
    #[arg(long)]
    pub allow_dirty: bool,
    /// Keep the reproduction's work tree(s) even when it succeeds
    #[arg(long)]
    pub keep: bool,
    /// List the reproduction directories kept (size, age, target)
    #[arg(long, conflicts_with_all = ["run", "clean", "target"])]
    pub list: bool,
    /// Remove the reproduction directories kept (all, or those older than --older-than)
    #[arg(long, conflicts_with_all = ["run", "target"])]
    pub clean: bool,
    /// With --clean: only those older than this (30m, 12h, 7d)
    #[arg(long, requires = "clean", value_name = "AGE")]
    pub older_than: Option<String>,
    /// Print JSON (the plan, or with --list/--clean the directories; see README,
    /// "JSON output")
    #[arg(long, conflicts_with = "run")]
    pub json: bool,
    /// Plan from the team registry (registry.url) instead of the local store
    #[arg(long)]
    pub registry: bool,
    /// With --run: stop a step that runs longer than this (30s, 20m, 2h): it gets
    /// SIGTERM, then SIGKILL 10 seconds later, and the reproduction stops there
    #[arg(long, requires = "run", value_name = "DURATION", value_parser = cleanup::parse_duration)]
    pub step_timeout: Option<std::time::Duration>,
    /// Write one requirements file per Python environment of the plan into DIR
    /// (`requirements-1.txt`, …, each naming its Python version and steps)
    #[arg(long, value_name = "DIR")]
    pub export_requirements: Option<std::path::PathBuf>,
}

pub async fn reproduce(ctx: &Context, args: ReproduceArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        return cleanup::list(args.json);
    }
    if args.clean {
        return cleanup::clean(args.older_than.as_deref(), args.json);
    }
    let Some(text) = args.target.clone() else {
        crate::usage::usage_bail!("give what to reproduce: a file, a hash or a job");
    };
    let cwd = std::env::current_dir()?;
    let mut client = ctx.client().await?;
    let graph = if args.registry {
        let target = match super::lineage::target(&text)? {
            Target::Job(_) => crate::usage::usage_bail!(
                "reproduce --registry takes an artifact (a path or a hash), not a job"
            ),
            other => other,
        };
        let registry = crate::registry::open(ctx.registry_url.as_deref()).await?;
        let id = crate::registry::artifact_for(&registry, &target).await?;
        registry.lineage(id, false, 0).await?
    } else {
        let target = resolve(&mut client, &text, &cwd).await?;
        client
            .get_lineage(pb::GetLineageRequest {
                target: Some(target),
                cwd: cwd.as_os_str().as_bytes().to_vec(),
                downstream: false,
                depth: 0,
            })
            .await
            .map_err(|status| not_found(status, &text))?
            .into_inner()
    };
    if graph.jobs.is_empty() {
        bail!(
            "no recorded job wrote this content: it is a source, nothing to reproduce\n\
             hint: `roarctl lineage {text}` shows where it came from"
        );
    }
    let local = local_copies(&mut client, &graph).await?;
    let plan = Plan::new(&graph, |artifact, _| {
        if let Some(url) = artifact.origins.first() {
            return Origin::Url(url.clone());
        }
        match local.get(&artifact.id) {
            Some(path) => Origin::Local(path.clone()),
            None => Origin::Missing,
        }
    });
    if let Some(dir) = &args.export_requirements {
        let written = environments::export_requirements(&plan, dir)?;
        eprintln!(
            "roarctl: wrote {} requirements file(s) to {}",
            written.len(),
            dir.display()
        );
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&plan.to_json())?);
        return Ok(ExitCode::SUCCESS);
    }
    plan.print();
    if !args.run {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(code) = refuse(&plan, &args)? {
        return Ok(code);
    }
    match confirmed(&plan, &args)? {
        Confirmation::Yes => {}
        Confirmation::No => return Ok(ExitCode::SUCCESS),
        Confirmation::NoTerminal => return Ok(ExitCode::from(2)),
    }
    execute::execute(ctx, &plan, &args).await
}

/// The lineage target `text` names. A job stands for its first data output; a name
/// that matches nothing says so in the user's terms.
async fn resolve(
    client: &mut crate::connection::Client,
    text: &str,
    cwd: &std::path::Path,
) -> anyhow::Result<Target> {
    let missing_path =
        text.contains('/') && !text.contains(':') && !std::path::Path::new(text).exists();
    if missing_path {
        return Err(no_match(text));
    }
    let selector = match super::lineage::target(text)? {
        Target::Job(selector) => selector,
        // A short hex word may be a job uid as well as a hash prefix: a job first.
        Target::Hash(hex) if hex.len() <= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            let job = job_output(client, &hex, cwd).await?;
            return Ok(job.unwrap_or(Target::Hash(hex)));
        }
        other => return Ok(other),
    };
    if !is_job_selector(&selector) {
        return Err(no_match(text));
    }
    job_output(client, &selector, cwd)
        .await?
        .ok_or_else(|| no_match(text))
}

/// The first data output of the job `selector` names, as a target; None when no job
/// matches.
async fn job_output(
    client: &mut crate::connection::Client,
    selector: &str,
    cwd: &std::path::Path,
) -> anyhow::Result<Option<Target>> {
    let job = match client
        .get_job(pb::GetJobRequest {
            selector: selector.to_string(),
            cwd: cwd.as_os_str().as_bytes().to_vec(),
        })
        .await
    {
        Ok(job) => job.into_inner(),
        Err(status) if status.code() == tonic::Code::NotFound => return Ok(None),
        Err(status) => return Err(status_error(status)),
    };
    let output = job.outputs.iter().find_map(|o| {
        let blake3 = roar_proto::vocabulary::blake3(&o.hashes)?;
        (o.class() == pb::FileClass::Artifact).then(|| blake3.to_string())
    });
    match output {
        Some(hex) => Ok(Some(Target::Hash(format!("blake3:{hex}")))),
        None => bail!(
            "{selector} wrote no data file, so there is nothing of it to reproduce\n\
             hint: reproduce takes an artifact: give one of {selector}'s outputs \
             (roarctl show {selector} lists them)"
        ),
    }
}

/// `last`, `@N`, `@BN`, or a uid prefix of 4+ hex digits.
fn is_job_selector(text: &str) -> bool {
    if text == "last" {
        return true;
    }
    if let Some(rest) = text.strip_prefix('@') {
        let digits = rest.strip_prefix(['B', 'b']).unwrap_or(rest);
        return !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    }
    text.len() >= 4 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A NotFound status from roard as the no-match message; others as they are.
fn not_found(status: tonic::Status, text: &str) -> anyhow::Error {
    if status.code() == tonic::Code::NotFound {
        no_match(text)
    } else {
        status_error(status)
    }
}

/// Refusals before anything runs (exit status 2 for a dirty step, an error for a
/// missing source or a job without a commit); None when the plan may run.
fn refuse(plan: &Plan, args: &ReproduceArgs) -> anyhow::Result<Option<ExitCode>> {
    let missing = plan.missing();
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .map(|s| s.path.display().to_string())
            .collect();
        bail!(
            "cannot reproduce: no copy of these source inputs is known: {}\n\
             hint: put the recorded content back at its path (or `roarctl get` it), then \
             try again",
            names.join(", ")
        );
    }
    if let Some(step) = plan
        .steps
        .iter()
        .find(|s| s.git.as_ref().is_none_or(|g| g.commit.is_empty()))
    {
        bail!(
            "cannot reproduce: job {} ({}) ran outside a git repository or before its first \
             commit, so nothing anchors its code",
            step.summary.uid,
            crate::graph::label(&step.job)
        );
    }
    for step in plan.steps.iter().filter(|s| s.is_dirty()) {
        let label = crate::graph::label(&step.job);
        if args.allow_dirty {
            eprintln!(
                "roar: warning: {label} ran with uncommitted changes to {}; it runs at its \
                 recorded commit, without them",
                step.dirty_list()
            );
            continue;
        }
        eprintln!(
            "roarctl: error: cannot reproduce: {label} ran with uncommitted changes to {}, \
             which cannot be checked out\n\
             hint: commit the changes and run the step again, or pass --allow-dirty to \
             run it at its recorded commit anyway",
            step.dirty_list()
        );
        return Ok(Some(ExitCode::from(2)));
    }
    Ok(None)
}

enum Confirmation {
    Yes,
    No,
    /// Nobody to ask (said so): exit status 2.
    NoTerminal,
}

/// `-y`, or a yes on the terminal.
fn confirmed(plan: &Plan, args: &ReproduceArgs) -> anyhow::Result<Confirmation> {
    if args.yes {
        return Ok(Confirmation::Yes);
    }
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "roarctl: error: reproducing runs {} job(s)\nhint: pass -y to confirm",
            plan.steps.len()
        );
        return Ok(Confirmation::NoTerminal);
    }
    eprint!(
        "run these {} job(s) in a fresh work tree? [y/N] ",
        plan.steps.len()
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(if matches!(answer.trim(), "y" | "Y" | "yes") {
        Confirmation::Yes
    } else {
        Confirmation::No
    })
}

/// For each artifact the graph's jobs read, a local path holding that content now.
async fn local_copies(
    client: &mut crate::connection::Client,
    graph: &pb::Graph,
) -> anyhow::Result<BTreeMap<u64, PathBuf>> {
    let mut found = BTreeMap::new();
    for artifact in graph.artifacts.iter().filter(|a| a.source) {
        let Some(blake3) = roar_proto::vocabulary::blake3(&artifact.hashes) else {
            continue;
        };
        let known = match client
            .get_artifact(pb::GetArtifactRequest {
                by: Some(pb::get_artifact_request::By::Hash(format!(
                    "blake3:{blake3}"
                ))),
            })
            .await
        {
            Ok(known) => known.into_inner(),
            // Known to the registry but never seen here: no local copy.
            Err(status) if status.code() == tonic::Code::NotFound => continue,
            Err(status) => return Err(status_error(status)),
        };
        for path in known
            .uses
            .iter()
            .map(|u| PathBuf::from(std::ffi::OsString::from_vec(u.path.clone())))
        {
            if path.is_file() && hash_file(&path).is_ok_and(|h| h == blake3) {
                found.insert(artifact.id, path);
                break;
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_selectors_are_told_from_other_words() {
        for ok in ["last", "@2", "@B1", "@b12", "abcd", "6e0b4aeda909"] {
            assert!(is_job_selector(ok), "{ok}");
        }
        for bad in ["nope.txt", "@", "@x", "abc", "@B", "zzzz"] {
            assert!(!is_job_selector(bad), "{bad}");
        }
    }
}
