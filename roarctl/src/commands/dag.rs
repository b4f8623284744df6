//! `roarctl dag`: the active session's steps in order, what each read from which
//! step, and which are stale; as text (coloured on a terminal), Graphviz DOT, Mermaid
//! or JSON.

use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;

use crate::context::Context;
use crate::graph::{GraphView, label};
use crate::render::{
    Style, command_line, dirty_note, duration, escape_for_terminal, exit_text, how_it_ended,
    local_time,
};
use crate::{json, status_error};

#[derive(clap::Args, Debug)]
pub struct DagArgs {
    /// Print Graphviz DOT (`roarctl dag --dot | dot -Tsvg > dag.svg`)
    #[arg(long, conflicts_with_all = ["mermaid", "json"])]
    pub dot: bool,
    /// Print a Mermaid flowchart (paste into Markdown inside ```mermaid)
    #[arg(long, conflicts_with = "json")]
    pub mermaid: bool,
    /// Print a JSON object (see README, "JSON output")
    #[arg(long)]
    pub json: bool,
    /// Only the stale steps (and the edges between them)
    #[arg(long)]
    pub stale_only: bool,
    /// In `--dot` and `--mermaid`, also draw the final outputs (what a step wrote and
    /// no step read) as nodes
    #[arg(long)]
    pub artifacts: bool,
}

pub async fn dag(ctx: &Context, args: DagArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let mut client = ctx.client().await?;
    let mut graph = client
        .get_dag(pb::GetDagRequest { cwd })
        .await
        .map_err(status_error)?
        .into_inner();
    if args.stale_only {
        keep_stale_steps(&mut graph);
    }
    let project = graph
        .session
        .as_ref()
        .map(|s| s.project.clone())
        .unwrap_or_default();
    let view = GraphView::new(&graph, &project);
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json::graph(&graph, "dag"))?
        );
    } else if args.dot {
        outln!("{}", dot(&view, args.artifacts));
    } else if args.mermaid {
        outln!("{}", mermaid(&view, args.artifacts));
    } else if args.stale_only && graph.jobs.is_empty() {
        outln!("every step is current");
    } else {
        text(&view, &Style::for_stdout(ctx.color));
    }
    Ok(ExitCode::SUCCESS)
}

/// Drops the current steps, and the edges that touch them.
fn keep_stale_steps(graph: &mut pb::Graph) {
    graph.jobs.retain(|j| j.stale);
    let kept: std::collections::HashSet<String> = graph
        .jobs
        .iter()
        .filter_map(|j| Some(j.job.as_ref()?.uid.clone()))
        .collect();
    graph
        .edges
        .retain(|e| kept.contains(&e.from_job) && kept.contains(&e.to_job));
}

/// What a step wrote and no step of the graph read: (the writer's uid, the file).
fn final_outputs<'a>(view: &GraphView<'a>) -> Vec<(&'a str, &'a pb::FileRef)> {
    view.graph
        .jobs
        .iter()
        .filter_map(|j| Some((j.job.as_ref()?.uid.as_str(), j)))
        .flat_map(|(uid, j)| j.outputs.iter().map(move |o| (uid, o)))
        .filter(|(uid, output)| view.consumers_of(uid, output.artifact_id).is_empty())
        .collect()
}

fn text(view: &GraphView, style: &Style) {
    let graph = view.graph;
    if let Some(session) = &graph.session {
        outln!(
            "{} {} of {}, started {}: {} step(s), {} build step(s), {} job(s)",
            style.bold("session"),
            session.number,
            escape_for_terminal(&session.project),
            local_time(session.started_at_ms),
            session.steps,
            session.build_steps,
            session.jobs
        );
    }
    if graph.jobs.is_empty() {
        outln!("no steps yet; `roarctl run -- <command>` records the first");
        return;
    }
    for job in &graph.jobs {
        let Some(summary) = &job.job else { continue };
        let took = summary.ended_at_ms.map_or_else(
            || summary.state().name().to_string(),
            |end| duration(end - summary.started_at_ms),
        );
        let state = if job.stale {
            style.red(&format!("STALE: {}", job.stale_reason))
        } else {
            style.green("current")
        };
        outln!(
            "{:<5} {}  [exit {}, {}, {}]  {}",
            style.bold(&label(job)),
            command_line(&summary.argv),
            exit_text(summary.exit.as_ref()),
            took,
            summary.uid,
            state
        );
        for note in step_notes(job) {
            outln!("      {}", style.red(&note));
        }
        for input in &job.inputs {
            let from = match view.producer_for(&summary.uid, input.artifact_id) {
                Some(producer) => format!("from {}", label(producer)),
                None => match view
                    .artifact(input.artifact_id)
                    .and_then(|a| a.origins.first())
                {
                    Some(url) => format!("source: {url}"),
                    None => "source".to_string(),
                },
            };
            outln!(
                "      <- {}  {}  ({from})",
                view.short_path(&input.path),
                style.dim(&view.short_hash(input.artifact_id))
            );
        }
        for output in &job.outputs {
            outln!(
                "      -> {}  {}",
                view.short_path(&output.path),
                style.dim(&view.short_hash(output.artifact_id))
            );
        }
    }
}

/// What a user must know about a step besides its staleness: it ran dirty, or its
/// latest run failed.
fn step_notes(job: &pb::GraphJob) -> Vec<String> {
    let mut notes = Vec::new();
    let summary = job.job.as_ref();
    if let Some(dirty) = dirty_note(summary.and_then(|s| s.git.as_ref())) {
        notes.push(format!("DIRTY: {dirty}; its code cannot be checked out"));
    }
    if let Some(failed) = &job.last_failed {
        notes.push(format!(
            "last run failed ({}, {}, job {}); this is the step's last good run",
            how_it_ended(failed.exit.as_ref()),
            local_time(failed.started_at_ms),
            failed.uid
        ));
    }
    notes
}

/// A step's label in a picture: `@2  python3 train.py`, marked when it ran dirty.
fn node_text(job: &pb::GraphJob, summary: &pb::JobSummary) -> String {
    let dirty = summary.git.as_ref().is_some_and(|g| g.dirty_count > 0);
    let mark = if dirty { "  (dirty)" } else { "" };
    format!("{}  {}{mark}", label(job), command_line(&summary.argv))
}

/// A DOT double-quoted string.
fn dot_quote(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

fn dot(view: &GraphView, artifacts: bool) -> String {
    let mut out = String::from(
        "digraph roar {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for job in &view.graph.jobs {
        let Some(summary) = &job.job else { continue };
        let text = node_text(job, summary);
        let extra = if job.stale {
            format!(
                ", color=red, penwidth=2, tooltip={}",
                dot_quote(&job.stale_reason)
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {} [label={}{extra}];\n",
            dot_quote(&format!("job {}", summary.uid)),
            dot_quote(&text)
        ));
    }
    for artifact in view.graph.artifacts.iter().filter(|a| a.source) {
        let readers = view.graph.jobs.iter().filter_map(|j| {
            let input = j.inputs.iter().find(|i| i.artifact_id == artifact.id)?;
            Some((j, input))
        });
        let mut declared = false;
        for (job, input) in readers {
            let node = dot_quote(&format!("artifact {}", artifact.id));
            if !declared {
                out.push_str(&format!(
                    "  {node} [shape=note, label={}];\n",
                    dot_quote(&view.short_path(&input.path))
                ));
                declared = true;
            }
            let uid = job.job.as_ref().map_or("", |s| s.uid.as_str());
            out.push_str(&format!(
                "  {node} -> {};\n",
                dot_quote(&format!("job {uid}"))
            ));
        }
    }
    if artifacts {
        for (uid, output) in final_outputs(view) {
            let node = dot_quote(&format!("output {uid} {}", output.artifact_id));
            out.push_str(&format!(
                "  {node} [shape=note, label={}];\n  {} -> {node};\n",
                dot_quote(&view.short_path(&output.path)),
                dot_quote(&format!("job {uid}"))
            ));
        }
    }
    for edge in &view.graph.edges {
        let path = view
            .job(&edge.to_job)
            .and_then(|j| j.inputs.iter().find(|i| i.artifact_id == edge.artifact_id))
            .map(|i| view.short_path(&i.path))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {} -> {} [label={}];\n",
            dot_quote(&format!("job {}", edge.from_job)),
            dot_quote(&format!("job {}", edge.to_job)),
            dot_quote(&path)
        ));
    }
    out.push('}');
    out
}

/// Mermaid labels are double-quoted; quotes inside become the `#quot;` entity.
fn mermaid_quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "#quot;"))
}

fn mermaid(view: &GraphView, artifacts: bool) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut stale = Vec::new();
    for job in &view.graph.jobs {
        let Some(summary) = &job.job else { continue };
        let text = node_text(job, summary);
        out.push_str(&format!("  j{}[{}]\n", summary.uid, mermaid_quote(&text)));
        if job.stale {
            stale.push(format!("j{}", summary.uid));
        }
    }
    for artifact in view.graph.artifacts.iter().filter(|a| a.source) {
        let mut declared = false;
        for job in &view.graph.jobs {
            let Some(input) = job.inputs.iter().find(|i| i.artifact_id == artifact.id) else {
                continue;
            };
            if !declared {
                out.push_str(&format!(
                    "  a{}[/{}/]\n",
                    artifact.id,
                    mermaid_quote(&view.short_path(&input.path))
                ));
                declared = true;
            }
            let uid = job.job.as_ref().map_or("", |s| s.uid.as_str());
            out.push_str(&format!("  a{} --> j{uid}\n", artifact.id));
        }
    }
    for edge in &view.graph.edges {
        let path = view
            .job(&edge.to_job)
            .and_then(|j| j.inputs.iter().find(|i| i.artifact_id == edge.artifact_id))
            .map(|i| view.short_path(&i.path))
            .unwrap_or_default();
        out.push_str(&format!(
            "  j{} -->|{}| j{}\n",
            edge.from_job,
            mermaid_quote(&path),
            edge.to_job
        ));
    }
    if artifacts {
        for (uid, output) in final_outputs(view) {
            let node = format!("o{uid}_{}", output.artifact_id);
            out.push_str(&format!(
                "  {node}[/{}/]\n  j{uid} --> {node}\n",
                mermaid_quote(&view.short_path(&output.path))
            ));
        }
    }
    if !stale.is_empty() {
        out.push_str("  classDef stale stroke:#d00,stroke-width:3px\n");
        out.push_str(&format!("  class {} stale\n", stale.join(",")));
    }
    out.trim_end().to_string()
}
