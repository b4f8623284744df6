//! What `roarctl reproduce` would do: the jobs upstream of an artifact in the order they
//! must run (build steps first), each at its repository and commit with its Python
//! environments and any uncommitted changes it ran with, and every source input with
//! where it can come from. Built from a lineage graph; no side effects.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use roar_proto::pb;
use serde_json::{Value, json};

use crate::graph::label;
use crate::render::{command_line, escape_bytes};

/// Where a source input's content can be had.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Downloaded by `get` from this URL.
    Url(String),
    /// A local file that holds the recorded content now.
    Local(PathBuf),
    /// Nowhere known.
    Missing,
}

#[derive(Debug, Clone)]
pub struct Source {
    /// Where the job read it.
    pub path: PathBuf,
    pub blake3: String,
    pub size: u64,
    pub origin: Origin,
    /// The job that read it (whose checkout it is placed in).
    pub reader: String,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub job: pb::GraphJob,
    pub summary: pb::JobSummary,
    /// None when the job ran outside a git repository.
    pub git: Option<pb::GitContext>,
    /// `pip install` lines for the Python packages it used.
    pub requirements: Vec<String>,
}

/// How many dirty paths the plan names before "and N more".
const DIRTY_SHOWN: usize = 3;

impl Step {
    /// It ran with uncommitted changes, so its code cannot be checked out as it was.
    pub fn is_dirty(&self) -> bool {
        self.git.as_ref().is_some_and(|g| g.dirty_count > 0)
    }

    /// The files it ran with uncommitted changes to, relative to the repository root.
    pub fn dirty_paths(&self) -> Vec<String> {
        self.git
            .iter()
            .flat_map(|g| &g.dirty_paths)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }

    /// "evaluate.py, lib.py and 3 more", for messages.
    pub fn dirty_list(&self) -> String {
        let paths = self.dirty_paths();
        let count = self.git.as_ref().map_or(0, |g| g.dirty_count as usize);
        let shown = paths
            .iter()
            .take(DIRTY_SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        match count.saturating_sub(DIRTY_SHOWN.min(paths.len())) {
            0 => shown,
            more => format!("{shown} and {more} more"),
        }
    }

    /// "python 3.11.7 (venv .venv)": each environment, its root relative to the
    /// repository when inside it.
    pub fn environment_lines(&self) -> Vec<String> {
        self.job
            .environments
            .iter()
            .map(|env| {
                let version = if env.version.is_empty() {
                    "(version unknown)"
                } else {
                    &env.version
                };
                format!(
                    "python {version} ({} {})",
                    env.kind().name(),
                    self.show_path(&env.root)
                )
            })
            .collect()
    }

    /// A recorded path relative to the repository root when inside it, else as is.
    pub fn show_path(&self, path: &[u8]) -> String {
        let path = Path::new(std::ffi::OsStr::from_bytes(path));
        match self
            .root()
            .and_then(|r| path.strip_prefix(r).ok().map(Path::to_path_buf))
        {
            Some(relative) if relative.as_os_str().is_empty() => ".".to_string(),
            Some(relative) => relative.display().to_string(),
            None => path.display().to_string(),
        }
    }

    pub fn root(&self) -> Option<PathBuf> {
        self.git
            .as_ref()
            .map(|g| PathBuf::from(OsString::from_vec(g.root.clone())))
    }

    pub fn cwd(&self) -> PathBuf {
        PathBuf::from(OsString::from_vec(self.summary.cwd.clone()))
    }

    /// The working directory relative to the repository root (`.` at the root).
    pub fn relative_cwd(&self) -> Option<PathBuf> {
        let root = self.root()?;
        let relative = self.cwd().strip_prefix(&root).ok()?.to_path_buf();
        Some(if relative.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            relative
        })
    }
}

/// An artifact's BLAKE3 (hex), empty when the graph holds no such artifact or hash.
fn blake3_of(artifacts: &HashMap<u64, &pb::GraphArtifact>, id: u64) -> String {
    artifacts
        .get(&id)
        .and_then(|a| roar_proto::vocabulary::blake3(&a.hashes))
        .map_or_else(String::new, str::to_string)
}

pub struct Plan {
    /// BLAKE3 (hex) of every artifact of the lineage, by id.
    hashes: HashMap<u64, String>,
    /// Which job wrote what another read: who should have made a step's input.
    edges: Vec<pb::Edge>,
    pub target_blake3: String,
    pub target_path: Option<PathBuf>,
    pub steps: Vec<Step>,
    pub sources: Vec<Source>,
}

impl Plan {
    /// Orders the graph's jobs and lists their sources; `origin` says where each source
    /// can be had.
    pub fn new(graph: &pb::Graph, origin: impl Fn(&pb::GraphArtifact, &Path) -> Origin) -> Self {
        let artifacts: HashMap<u64, &pb::GraphArtifact> =
            graph.artifacts.iter().map(|a| (a.id, a)).collect();
        let steps = Self::ordered_steps(graph);
        let sources = Self::sources(graph, &steps, &artifacts, origin);
        let target = graph.roots.first().copied();
        let target_path = target.and_then(|id| {
            steps
                .iter()
                .rev()
                .flat_map(|s| &s.job.outputs)
                .find(|o| o.artifact_id == id)
                .map(|o| PathBuf::from(OsString::from_vec(o.path.clone())))
        });
        Plan {
            edges: graph.edges.clone(),
            hashes: graph
                .artifacts
                .iter()
                .map(|a| (a.id, blake3_of(&artifacts, a.id)))
                .collect(),
            target_blake3: target
                .map(|id| blake3_of(&artifacts, id))
                .unwrap_or_default(),
            target_path,
            steps,
            sources,
        }
    }

    /// The graph's jobs as steps, build steps first, each group in start order.
    fn ordered_steps(graph: &pb::Graph) -> Vec<Step> {
        let mut steps: Vec<Step> = graph
            .jobs
            .iter()
            .filter_map(|job| {
                let summary = job.job.clone()?;
                let requirements = job
                    .packages
                    .iter()
                    .filter(|p| p.ecosystem == "python" && p.name != "python")
                    .map(|p| format!("{}=={}", p.name, p.version))
                    .collect();
                Some(Step {
                    git: summary.git.clone(),
                    job: job.clone(),
                    summary,
                    requirements,
                })
            })
            .collect();
        // Edges always point forward in time, so start order is a topological order.
        steps.sort_by_key(|s| {
            (
                s.summary.kind() != pb::JobKind::Build,
                s.summary.started_at_ms,
            )
        });
        steps
    }

    /// The inputs no step of the lineage wrote: what must be fetched before the first
    /// step runs. Each path once, for the first step that read it.
    fn sources(
        graph: &pb::Graph,
        steps: &[Step],
        artifacts: &HashMap<u64, &pb::GraphArtifact>,
        origin: impl Fn(&pb::GraphArtifact, &Path) -> Origin,
    ) -> Vec<Source> {
        let mut sources: Vec<Source> = Vec::new();
        for step in steps {
            for input in &step.job.inputs {
                let produced = graph
                    .edges
                    .iter()
                    .any(|e| e.to_job == step.summary.uid && e.artifact_id == input.artifact_id);
                if produced {
                    continue;
                }
                let path = PathBuf::from(OsString::from_vec(input.path.clone()));
                if sources.iter().any(|s| s.path == path) {
                    continue;
                }
                let Some(artifact) = artifacts.get(&input.artifact_id) else {
                    continue;
                };
                sources.push(Source {
                    origin: origin(artifact, &path),
                    blake3: blake3_of(artifacts, input.artifact_id),
                    size: artifact.size,
                    path,
                    reader: step.summary.uid.clone(),
                });
            }
        }
        sources
    }

    /// The recorded BLAKE3 of an artifact of the lineage.
    pub fn hash_of(&self, id: u64) -> String {
        self.hashes.get(&id).cloned().unwrap_or_default()
    }

    /// The step of the plan that wrote the artifact `step` read as `artifact_id`.
    pub fn producer_of(&self, step: &Step, artifact_id: u64) -> Option<&Step> {
        let edge = self
            .edges
            .iter()
            .find(|e| e.to_job == step.summary.uid && e.artifact_id == artifact_id)?;
        self.steps.iter().find(|s| s.summary.uid == edge.from_job)
    }

    pub fn missing(&self) -> Vec<&Source> {
        self.sources
            .iter()
            .filter(|s| matches!(s.origin, Origin::Missing))
            .collect()
    }

    pub fn print(&self) {
        let target = self
            .target_path
            .as_ref()
            .map_or_else(String::new, |p| format!(" ({})", p.display()));
        outln!(
            "reproduce blake3:{}{target}: {} job(s)",
            &self.target_blake3[..self.target_blake3.len().min(12)],
            self.steps.len()
        );
        for (n, step) in self.steps.iter().enumerate() {
            print_step(n + 1, step);
        }
        if !self.sources.is_empty() {
            outln!("sources:");
        }
        for source in &self.sources {
            let from = match &source.origin {
                Origin::Url(url) => format!("from {url}"),
                Origin::Local(path) => format!("from the local file {}", path.display()),
                Origin::Missing => {
                    "MISSING: no URL recorded and no local file holds it".to_string()
                }
            };
            outln!(
                "   {}  blake3 {}  {from}",
                source.path.display(),
                &source.blake3[..source.blake3.len().min(12)]
            );
        }
    }

    /// `reproduce --json` (without `--run`): see README, "JSON output".
    pub fn to_json(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|step| {
                json!({
                    "uid": step.summary.uid,
                    "step_label": label(&step.job),
                    "job_kind": step.summary.kind().name(),
                    "repository": step.git.as_ref().map(|g| g.repository.clone()),
                    "commit": step.git.as_ref().map(|g| g.commit.clone()).filter(|c| !c.is_empty()),
                    "cwd": step.relative_cwd().map(|p| p.display().to_string()),
                    "argv": step.summary.argv.iter().map(|a| escape_bytes(a)).collect::<Vec<_>>(),
                    "packages": step.job.packages.iter().map(|p| json!({
                        "ecosystem": p.ecosystem, "name": p.name, "version": p.version
                    })).collect::<Vec<_>>(),
                    "requirements": step.requirements,
                    "environments": step.job.environments.iter().map(|e| json!({
                        "kind": e.kind().name(),
                        "root": escape_bytes(&e.root),
                        "interpreter": escape_bytes(&e.interpreter),
                        "version": e.version,
                    })).collect::<Vec<_>>(),
                    "dirty": step.is_dirty(),
                    "dirty_paths": step.dirty_paths(),
                })
            })
            .collect();
        let sources: Vec<Value> = self
            .sources
            .iter()
            .map(|s| {
                let (kind, from) = match &s.origin {
                    Origin::Url(url) => ("url", Some(url.clone())),
                    Origin::Local(path) => ("local", Some(path.display().to_string())),
                    Origin::Missing => ("missing", None),
                };
                json!({
                    "path": escape_bytes(s.path.as_os_str().as_bytes()),
                    "blake3": s.blake3,
                    "size": s.size,
                    "origin": kind,
                    "from": from,
                })
            })
            .collect();
        json!({
            "target": {"blake3": self.target_blake3,
                       "path": self.target_path.as_ref().map(|p| p.display().to_string())},
            "jobs": steps,
            "sources": sources,
        })
    }
}

/// One step of the plan text: its command, code, environments, requirements, and any
/// uncommitted changes it ran with.
fn print_step(number: usize, step: &Step) {
    outln!(
        "{}. {} {}",
        number,
        label(&step.job),
        command_line(&step.summary.argv)
    );
    match (&step.git, step.relative_cwd()) {
        (Some(git), Some(cwd)) => outln!(
            "   repository {}  commit {}  cwd {}",
            git.repository,
            if git.commit.is_empty() {
                "(none)"
            } else {
                &git.commit
            },
            cwd.display()
        ),
        _ => outln!(
            "   no git context: ran in {} (cannot be checked out)",
            step.cwd().display()
        ),
    }
    for line in step.environment_lines() {
        outln!("   {line}");
    }
    if !step.requirements.is_empty() {
        outln!("   python: {}", step.requirements.join(" "));
    }
    if step.is_dirty() {
        outln!(
            "   {} ran with uncommitted changes to {}; its code cannot be checked out",
            label(&step.job),
            step.dirty_list()
        );
    }
    let others = step
        .job
        .packages
        .iter()
        .filter(|p| p.ecosystem != "python")
        .count();
    if others > 0 {
        outln!(
            "   and {others} system or other package(s) (roarctl show {})",
            step.summary.uid
        );
    }
}
