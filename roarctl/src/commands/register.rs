//! `roarctl register [TARGET]`: publish the lineage upstream of an artifact, a step, a
//! job (or the whole active session) to the team's PostgreSQL registry, after tagging
//! the commits it rests on. Idempotent: registering the same lineage again adds
//! nothing.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;

use crate::context::Context;
use crate::registry;
use crate::status_error;

#[derive(clap::Args, Debug)]
pub struct RegisterArgs {
    /// An artifact (path or hash prefix), a step (`@N`), a job (uid or `last`), or
    /// `session`; default: the active session
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,
    /// Show what would be sent, and send nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation on a terminal
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Push the commit tags to each repository's `origin`
    #[arg(long)]
    pub push_tags: bool,
}

pub async fn register(ctx: &Context, args: RegisterArgs) -> anyhow::Result<ExitCode> {
    let url = registry::url(ctx.registry_url.as_deref())?;
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let target = match args.target.as_deref() {
        None | Some("session") => None,
        Some(text) => Some(super::lineage::target(text)?),
    };
    let lineage = pb::GetLineageRequest {
        target: target.clone(),
        cwd: cwd.clone(),
        downstream: false,
        depth: 0,
    };
    let mut client = ctx.client().await?;
    let graph = match &target {
        None => client.get_dag(pb::GetDagRequest { cwd }).await,
        Some(_) => client.get_lineage(lineage.clone()).await,
    }
    .map_err(status_error)?
    .into_inner();
    let dag_hash = roar_proto::graph::dag_hash(&graph);
    let summary = format!(
        "{} job(s) and {} artifact(s), DAG hash {} (tag roar/{}), to {}",
        graph.jobs.len(),
        graph.artifacts.len(),
        &dag_hash[..16],
        &dag_hash[..12],
        registry::redact(&url)
    );
    if args.dry_run {
        print_dry_run(&summary, &graph);
        return Ok(ExitCode::SUCCESS);
    }
    if graph.jobs.is_empty() {
        anyhow::bail!("nothing to register: no recorded job made this");
    }
    if !args.yes && std::io::stdin().is_terminal() && !confirmed(&summary)? {
        return Ok(ExitCode::SUCCESS);
    }
    // Reach the registry first: if it is down, nothing changes anywhere.
    let pool = registry::connect(&url).await?;
    let tags = client
        .tag_lineage(pb::TagLineageRequest {
            lineage: Some(lineage),
            push: args.push_tags,
            artifacts: Vec::new(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let published = registry::publish(&pool, &graph, &publisher()).await?;
    pool.close().await;
    if !ctx.quiet {
        eprintln!(
            "roar: registered {} as {}: {} new job(s), {} new artifact(s); {} commit(s) tagged",
            summary,
            &published.dag_hash[..12],
            published.new_jobs,
            published.new_artifacts,
            tags.tags.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `--dry-run`: the summary and each job that would be sent.
fn print_dry_run(summary: &str, graph: &pb::Graph) {
    outln!("would register {summary}");
    for job in &graph.jobs {
        if let Some(s) = &job.job {
            outln!(
                "  {} {}  {}",
                s.uid,
                crate::graph::label(job),
                crate::render::command_line(&s.argv)
            );
        }
    }
}

/// Asks on the terminal before anything is published; only a yes goes ahead.
fn confirmed(summary: &str) -> anyhow::Result<bool> {
    eprint!("register {summary}? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `user@host`, recorded with the registration so the team sees who published it.
fn publisher() -> String {
    format!(
        "{}@{}",
        std::env::var("USER").unwrap_or_else(|_| nix::unistd::getuid().to_string()),
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    )
}
