//! `roarctl lineage PATH|HASH|JOB`: how an artifact was made, as a tree down to its
//! sources (`--downstream`: everything made from it).

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use roar_proto::pb;
use roar_proto::pb::get_lineage_request::Target;

use crate::context::Context;
use crate::graph::{GraphView, label};
use crate::render::{
    Style, command_line, dirty_note, git_short, human_size, local_time, reproduced_by,
};
use crate::{json, status_error};

#[derive(clap::Args, Debug)]
pub struct LineageArgs {
    /// A file's path (its last recorded content), a hash prefix (8+ hex digits,
    /// optionally `blake3:`/`sha256:`), or a job (`@N`, `@BN`, `last`, uid)
    #[arg(value_name = "PATH|HASH|JOB")]
    pub target: String,
    /// Everything made from it, instead of what it was made from
    #[arg(long)]
    pub downstream: bool,
    /// Follow at most N levels of jobs
    #[arg(long, value_name = "N")]
    pub depth: Option<u32>,
    /// Print a JSON object (see README, "JSON output")
    #[arg(long)]
    pub json: bool,
    /// Look it up in the team registry (registry.url) instead of the local store
    #[arg(long)]
    pub registry: bool,
}

/// What a command-line target names, for lineage and export alike.
pub fn target(text: &str) -> anyhow::Result<Target> {
    let hex = |s: &str| s.len() >= 8 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if text == "last" || text.starts_with('@') {
        return Ok(Target::Job(text.to_string()));
    }
    if let Some((_, digits)) = text.split_once(':')
        && hex(digits)
    {
        return Ok(Target::Hash(text.to_string()));
    }
    if text.contains('/') || std::path::Path::new(text).exists() {
        let path = std::fs::canonicalize(text).map_err(|e| {
            anyhow::anyhow!("cannot resolve the path {text}: {e}\nhint: give an existing file")
        })?;
        return Ok(Target::Path(path.as_os_str().as_bytes().to_vec()));
    }
    if hex(text) && text.len() > 12 {
        return Ok(Target::Hash(text.to_string()));
    }
    if hex(text) {
        // 8 to 12 digits may be a job uid prefix or a hash prefix; a hash is likelier
        // here, since lineage is about artifacts.
        return Ok(Target::Hash(text.to_string()));
    }
    if text.len() >= 4 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Target::Job(text.to_string()));
    }
    Err(no_match(text))
}

/// The error for an argument that names nothing recorded, saying every form such an
/// argument may take.
pub fn no_match(text: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "no job, step, file or artifact matches '{text}'\nhint: give a recorded file's \
         path, a hash prefix (8+ hex digits, optionally blake3: or sha256:), a job uid \
         (4+ hex digits), @N, @BN or last; `roarctl log` lists the jobs"
    )
}

pub async fn lineage(ctx: &Context, args: LineageArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?.as_os_str().as_bytes().to_vec();
    let project = roar_proto::project::project_root(&std::env::current_dir()?)
        .as_os_str()
        .as_bytes()
        .to_vec();
    let target = target(&args.target)?;
    let graph = fetch_graph(ctx, &args, &target, cwd).await?;
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json::graph(&graph, "lineage"))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let view = GraphView::new(&graph, &project);
    let mut printer = Printer {
        view: &view,
        style: Style::for_stdout(ctx.color),
        seen: HashSet::new(),
    };
    if graph.roots.is_empty() {
        // A job: the job itself is the root.
        for job in graph.jobs.iter().filter(|j| j.depth == 0) {
            printer.job(job, "", args.downstream);
        }
    }
    for root in &graph.roots {
        let path = root_name(&graph, &view, &target, *root).unwrap_or_else(|| args.target.clone());
        outln!("{}", printer.artifact_line(*root, &path));
        printer.below_root(&graph, *root, args.downstream);
    }
    Ok(ExitCode::SUCCESS)
}

/// The lineage graph from the team registry (`--registry`) or from roard.
async fn fetch_graph(
    ctx: &Context,
    args: &LineageArgs,
    target: &Target,
    cwd: Vec<u8>,
) -> anyhow::Result<pb::Graph> {
    if args.registry {
        let registry = crate::registry::open(ctx.registry_url.as_deref()).await?;
        let id = crate::registry::artifact_for(&registry, target).await?;
        return registry
            .lineage(id, args.downstream, args.depth.unwrap_or(0))
            .await;
    }
    let mut client = ctx.client().await?;
    Ok(client
        .get_lineage(pb::GetLineageRequest {
            target: Some(target.clone()),
            cwd,
            downstream: args.downstream,
            depth: args.depth.unwrap_or(0),
        })
        .await
        .map_err(status_error)?
        .into_inner())
}

/// The name the user gave when it is a path; else where the content was seen.
fn root_name(graph: &pb::Graph, view: &GraphView, target: &Target, root: u64) -> Option<String> {
    match target {
        Target::Path(path) => Some(view.short_path(path)),
        _ => None,
    }
    .or_else(|| {
        graph
            .jobs
            .iter()
            .flat_map(|j| j.outputs.iter().chain(&j.inputs))
            .find(|f| f.artifact_id == root)
            .map(|f| view.short_path(&f.path))
    })
}

struct Printer<'a> {
    view: &'a GraphView<'a>,
    style: Style,
    seen: HashSet<String>,
}

impl Printer<'_> {
    /// The tree under a root artifact: the jobs that read it (`downstream`), or the
    /// latest job that wrote it, or that it is a source.
    fn below_root(&mut self, graph: &pb::Graph, root: u64, downstream: bool) {
        if downstream {
            let readers: Vec<&pb::GraphJob> = graph
                .jobs
                .iter()
                .filter(|j| j.depth == 1 && j.inputs.iter().any(|i| i.artifact_id == root))
                .collect();
            self.children_down(&readers, "");
            return;
        }
        match crate::graph::maker_of(graph, root) {
            Some(job) => self.children_up(job, ""),
            None => outln!("└─ {}", self.source(root)),
        }
    }

    fn artifact_line(&self, id: u64, path: &str) -> String {
        let size = self
            .view
            .artifact(id)
            .map_or_else(String::new, |a| human_size(a.size));
        format!(
            "{}  {}  {size}",
            self.style.bold(path),
            self.style.dim(&self.view.short_hash(id))
        )
    }

    /// Where a source came from: its download URLs, when `get` fetched it.
    fn source(&self, id: u64) -> String {
        match self.view.artifact(id).map(|a| a.origins.as_slice()) {
            Some([first]) => {
                format!("source: downloaded from {first}")
            }
            Some([first, rest @ ..]) => {
                format!(
                    "source: downloaded from {first} (and {} other URL(s))",
                    rest.len()
                )
            }
            _ => "source: no recorded job wrote this content".to_string(),
        }
    }

    fn job_line(&self, job: &pb::GraphJob) -> String {
        let Some(summary) = &job.job else {
            return String::new();
        };
        let code = summary
            .git
            .as_ref()
            .map_or_else(String::new, |g| format!(", {}", git_short(g)));
        let mut line = format!(
            "{} {}  [{}, job {}{code}]",
            self.style.bold(&label(job)),
            command_line(&summary.argv),
            local_time(summary.started_at_ms),
            summary.uid
        );
        if let Some(dirty) = dirty_note(summary.git.as_ref()) {
            line.push_str(&format!("  {}", self.style.red(&format!("DIRTY: {dirty}"))));
        }
        for reproduced in job.reproductions.iter().filter_map(reproduced_by) {
            line.push_str(&format!("  ({reproduced})"));
        }
        line
    }

    /// A job (the target of `lineage JOB`) and what it came from or led to.
    fn job(&mut self, job: &pb::GraphJob, indent: &str, downstream: bool) {
        outln!("{indent}{}", self.job_line(job));
        if downstream {
            self.outputs_down(job, indent);
        } else {
            self.inputs_up(job, indent);
        }
    }

    /// `└─ written by JOB` and, below it, that job's inputs.
    fn children_up(&mut self, producer: &pb::GraphJob, indent: &str) {
        outln!("{indent}└─ written by {}", self.job_line(producer));
        self.inputs_up(producer, &format!("{indent}   "));
    }

    fn inputs_up(&mut self, job: &pb::GraphJob, indent: &str) {
        let Some(summary) = &job.job else { return };
        if !self.seen.insert(summary.uid.clone()) {
            outln!("{indent}└─ (shown above)");
            return;
        }
        let count = job.inputs.len();
        for (i, input) in job.inputs.iter().enumerate() {
            let last = i + 1 == count;
            let (branch, next) = if last {
                ("└─", "   ")
            } else {
                ("├─", "│  ")
            };
            let path = self.view.short_path(&input.path);
            outln!(
                "{indent}{branch} {}",
                self.artifact_line(input.artifact_id, &path)
            );
            let child_indent = format!("{indent}{next}");
            match self.view.producer_for(&summary.uid, input.artifact_id) {
                Some(producer) => self.children_up(producer, &child_indent),
                None => outln!("{child_indent}└─ {}", self.source(input.artifact_id)),
            }
        }
    }

    fn children_down(&mut self, readers: &[&pb::GraphJob], indent: &str) {
        let count = readers.len();
        for (i, reader) in readers.iter().enumerate() {
            let last = i + 1 == count;
            let (branch, next) = if last {
                ("└─", "   ")
            } else {
                ("├─", "│  ")
            };
            outln!("{indent}{branch} read by {}", self.job_line(reader));
            self.outputs_down(reader, &format!("{indent}{next}"));
        }
    }

    fn outputs_down(&mut self, job: &pb::GraphJob, indent: &str) {
        let Some(summary) = &job.job else { return };
        if !self.seen.insert(summary.uid.clone()) {
            outln!("{indent}└─ (shown above)");
            return;
        }
        let count = job.outputs.len();
        for (i, output) in job.outputs.iter().enumerate() {
            let last = i + 1 == count;
            let (branch, next) = if last {
                ("└─", "   ")
            } else {
                ("├─", "│  ")
            };
            let path = self.view.short_path(&output.path);
            outln!(
                "{indent}{branch} wrote {}",
                self.artifact_line(output.artifact_id, &path)
            );
            let readers = self.view.consumers_of(&summary.uid, output.artifact_id);
            self.children_down(&readers, &format!("{indent}{next}"));
        }
    }
}
