//! A session's DAG: its steps (each step's current job: its newest run that did not
//! fail), the edges between them, and which steps are stale and why.
//!
//! Edges come from content: step S depends on step U when S's job read an artifact
//! that U's job wrote, its producer chosen by `roar_proto::graph::producer`. A step is
//! stale when a repository file it read is no longer what it was at the step's commit
//! (code changed), when an input it read has different content on disk now, when the
//! step it came from was re-run and no longer writes that content, or when a step
//! upstream of it is stale.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use roar_proto::graph::producer;
use roar_proto::pb;

use crate::code_changes::{self, CodeChange};
use crate::hash_cache::{HashCache, HashStats, content_of};
use crate::store::Store;
use crate::store::error::StoreError;
use crate::store::input::Start;
use crate::store::model::{JobNode, LabelOwner, Session, SessionJob};

/// What is on disk now at a path an input was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OnDisk {
    Same,
    Changed,
    Gone,
}

/// A session's jobs sorted out: every node, where each was placed, and each step's
/// current job (newest placed run) and newest run.
struct Steps {
    nodes: Vec<JobNode>,
    placement: HashMap<i64, SessionJob>,
    current: HashMap<(bool, u32), i64>,
    newest: HashMap<(bool, u32), i64>,
}

impl Steps {
    async fn load(store: &dyn Store, session: &Session) -> Result<Self, StoreError> {
        let jobs = store.session_jobs(session.id).await?;
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        let mut nodes = store.job_nodes(&ids).await?;
        nodes.sort_by_key(|n| n.id);
        let (mut current, mut newest) = (HashMap::new(), HashMap::new());
        // Oldest first: later runs replace earlier ones. A failed new command has no
        // step (0) and is no run of any step.
        for job in jobs.iter().filter(|j| j.step > 0) {
            if job.placed {
                current.insert((job.build, job.step), job.id);
            }
            newest.insert((job.build, job.step), job.id);
        }
        Ok(Self {
            nodes,
            placement: jobs.iter().map(|j| (j.id, *j)).collect(),
            current,
            newest,
        })
    }

    /// The current jobs, build steps first, then pipeline steps, each in step order.
    fn current_nodes(&self) -> Vec<JobNode> {
        let mut current: Vec<&JobNode> = self
            .current
            .values()
            .filter_map(|id| self.node(*id))
            .collect();
        current.sort_by_key(|n| {
            let p = self.placement.get(&n.id).copied();
            (p.is_none_or(|p| !p.build), p.map_or(0, |p| p.step))
        });
        current.into_iter().cloned().collect()
    }

    /// `nodes` is sorted by id (see `load`).
    fn node(&self, id: i64) -> Option<&JobNode> {
        let index = self.nodes.binary_search_by_key(&id, |n| n.id).ok()?;
        self.nodes.get(index)
    }

    /// The step's newest run when it failed after its current job.
    fn failed_after(&self, current: &JobNode) -> Option<pb::JobSummary> {
        let p = self.placement.get(&current.id)?;
        let newest = *self.newest.get(&(p.build, p.step))?;
        (newest != current.id)
            .then(|| self.node(newest))
            .flatten()
            .filter(|n| !n.summary.placed)
            .map(|n| n.summary.clone().into())
    }

    /// The current job of the step `job` ran as.
    fn current_of(&self, job: i64) -> Option<(&SessionJob, &JobNode)> {
        let p = self.placement.get(&job)?;
        let now = self.current.get(&(p.build, p.step))?;
        Some((p, self.node(*now)?))
    }
}

/// The DAG of `session`, with staleness checked against the files on disk now.
pub async fn session_dag(
    store: &dyn Store,
    cache: &Arc<HashCache>,
    session: Session,
) -> Result<pb::Graph, StoreError> {
    let steps = Steps::load(store, &session).await?;
    let owned = steps.current_nodes();
    let mut graph = graph_of(store, &owned).await?;
    let blake3: HashMap<u64, String> = graph
        .artifacts
        .iter()
        .filter_map(|a| Some((a.id, roar_proto::vocabulary::blake3(&a.hashes)?.to_string())))
        .collect();
    let checks = Checks {
        on_disk: check_inputs(store, cache, &owned, &blake3).await,
        code: check_code(store, &owned).await?,
        writers: writers_by_content(&steps),
        steps: &steps,
        project: &session.project,
    };
    let mut edges = Vec::new();
    let mut stale: HashMap<i64, String> = HashMap::new();
    for reader in &owned {
        let mut reasons = checks.examine(reader, &mut edges);
        if !reasons.is_empty() {
            reasons.dedup();
            stale.insert(reader.id, reasons.join("; "));
        }
    }
    edges.sort_by(|a, b| {
        (&a.from_job, &a.to_job, a.artifact_id).cmp(&(&b.from_job, &b.to_job, b.artifact_id))
    });
    edges.dedup();
    propagate_staleness(&owned, &edges, &steps.placement, &mut stale);
    for (job, node) in graph.jobs.iter_mut().zip(&owned) {
        if let Some(reason) = stale.get(&node.id) {
            job.stale = true;
            job.stale_reason = reason.clone();
        }
        job.last_failed = steps.failed_after(node);
    }
    graph.edges = edges;
    let session_labels = store
        .labels(LabelOwner::Session(session.id as i64), false)
        .await?;
    let mut session = pb::Session::from(session);
    session.labels = session_labels.into_iter().map(pb::Label::from).collect();
    graph.session = Some(session);
    Ok(graph)
}

/// Jobs as a graph: their artifacts with every hash, then the edges and sources as
/// `roar_proto::graph::assemble` derives them (the registry uses the same function).
pub async fn graph_of(store: &dyn Store, nodes: &[JobNode]) -> Result<pb::Graph, StoreError> {
    let mut artifact_ids: Vec<i64> = nodes
        .iter()
        .flat_map(|n| n.inputs.iter().chain(&n.outputs))
        .map(|f| f.artifact_id as i64)
        .collect();
    artifact_ids.sort_unstable();
    artifact_ids.dedup();
    let artifacts = store.graph_artifacts(&artifact_ids).await?;
    let mut jobs: Vec<pb::GraphJob> = nodes.iter().cloned().map(pb::GraphJob::from).collect();
    let mut artifacts: Vec<pb::GraphArtifact> =
        artifacts.into_iter().map(pb::GraphArtifact::from).collect();
    let job_ids: Vec<i64> = nodes.iter().map(|n| n.id).collect();
    attach_labels(store, &mut jobs, &job_ids, &mut artifacts).await?;
    Ok(roar_proto::graph::assemble(jobs, artifacts))
}

/// Each job's and artifact's own labels (`job_ids` in the order of `jobs`).
async fn attach_labels(
    store: &dyn Store,
    jobs: &mut [pb::GraphJob],
    job_ids: &[i64],
    artifacts: &mut [pb::GraphArtifact],
) -> Result<(), StoreError> {
    let owners: Vec<LabelOwner> = job_ids
        .iter()
        .map(|id| LabelOwner::Job(*id))
        .chain(artifacts.iter().map(|a| LabelOwner::Artifact(a.id as i64)))
        .collect();
    let mut labels = store.current_labels(&owners).await?;
    let mut take = |owner| {
        labels
            .remove(&owner)
            .unwrap_or_default()
            .into_iter()
            .map(pb::Label::from)
            .collect()
    };
    for (job, id) in jobs.iter_mut().zip(job_ids) {
        job.labels = take(LabelOwner::Job(*id));
    }
    for artifact in artifacts.iter_mut() {
        artifact.labels = take(LabelOwner::Artifact(artifact.id as i64));
    }
    Ok(())
}

/// The lineage graph of a walk from `start` (see `LineageStore::lineage`); a walk
/// from an artifact has it as its root, and shows it (as a source) even when no job
/// of the walk read or wrote it.
pub async fn lineage_graph(
    store: &dyn Store,
    start: Start,
    downstream: bool,
    depth: u32,
) -> Result<pb::Graph, StoreError> {
    let nodes = store.lineage(start.clone(), downstream, depth).await?;
    let mut graph = graph_of(store, &nodes).await?;
    if let Start::Artifact { id, .. } = start {
        graph.roots = vec![id.max(0) as u64];
        if !graph.artifacts.iter().any(|a| a.id == id.max(0) as u64) {
            let mut alone: Vec<pb::GraphArtifact> = store
                .graph_artifacts(&[id])
                .await?
                .into_iter()
                .map(pb::GraphArtifact::from)
                .collect();
            attach_labels(store, &mut [], &[], &mut alone).await?;
            graph.artifacts.extend(alone);
            if let Some(artifact) = graph.artifacts.last_mut() {
                artifact.source = true;
            }
        }
    }
    Ok(graph)
}

/// Who wrote each content: the session's runs that did not fail.
fn writers_by_content(steps: &Steps) -> HashMap<u64, Vec<&JobNode>> {
    let mut writers: HashMap<u64, Vec<&JobNode>> = HashMap::new();
    for node in steps.nodes.iter().filter(|n| n.summary.placed) {
        for output in &node.outputs {
            writers.entry(output.artifact_id).or_default().push(node);
        }
    }
    writers
}

/// What a step's staleness is judged by.
struct Checks<'a> {
    on_disk: HashMap<(i64, Vec<u8>), OnDisk>,
    code: HashMap<i64, Vec<(Vec<u8>, CodeChange)>>,
    writers: HashMap<u64, Vec<&'a JobNode>>,
    steps: &'a Steps,
    project: &'a [u8],
}

impl Checks<'_> {
    /// The edges into `reader` (added to `edges`) and why it is stale: code it read
    /// changed, an upstream step re-ran and no longer writes what it read, an input
    /// changed or is gone.
    fn examine(&self, reader: &JobNode, edges: &mut Vec<pb::Edge>) -> Vec<String> {
        let mut reasons: Vec<String> = self
            .code
            .get(&reader.id)
            .into_iter()
            .flatten()
            .map(|(path, change)| code_reason(&String::from_utf8_lossy(path), *change))
            .collect();
        let place = reader.summary.place();
        for input in &reader.inputs {
            let candidates = self
                .writers
                .get(&input.artifact_id)
                .into_iter()
                .flatten()
                .filter(|w| w.id != reader.id)
                .map(|w| (w.id, w.summary.place()));
            if let Some(producer) = producer(&place, candidates)
                && let Some((p, current_producer)) = self.steps.current_of(producer)
            {
                edges.push(pb::Edge {
                    from_job: current_producer.summary.uid.clone(),
                    to_job: reader.summary.uid.clone(),
                    artifact_id: input.artifact_id,
                });
                let still_written = current_producer
                    .outputs
                    .iter()
                    .any(|o| o.artifact_id == input.artifact_id);
                if !still_written {
                    reasons.push(format!(
                        "upstream {} re-run: it no longer writes what this step read from {}",
                        step_label(p),
                        self.shown(&input.path)
                    ));
                }
            }
            match self.on_disk.get(&(reader.id, input.path.clone())) {
                Some(OnDisk::Changed) => {
                    reasons.push(format!("input changed: {}", self.shown(&input.path)))
                }
                Some(OnDisk::Gone) => {
                    reasons.push(format!("input gone: {}", self.shown(&input.path)))
                }
                _ => {}
            }
        }
        reasons
    }

    /// A path as reasons show it: relative to the project when it is inside.
    fn shown(&self, path: &[u8]) -> String {
        let relative = path
            .strip_prefix(self.project)
            .and_then(|rest| rest.strip_prefix(b"/"));
        String::from_utf8_lossy(relative.unwrap_or(path)).into_owned()
    }
}

/// Staleness flows downstream, in step order (edges always point forward in time).
fn propagate_staleness(
    owned: &[JobNode],
    edges: &[pb::Edge],
    placement: &HashMap<i64, SessionJob>,
    stale: &mut HashMap<i64, String>,
) {
    let uid_to_id: HashMap<&str, i64> = owned
        .iter()
        .map(|n| (n.summary.uid.as_str(), n.id))
        .collect();
    for reader in owned {
        if stale.contains_key(&reader.id) {
            continue;
        }
        let upstream_stale = edges
            .iter()
            .filter(|e| e.to_job == reader.summary.uid)
            .filter_map(|e| uid_to_id.get(e.from_job.as_str()))
            .find(|id| stale.contains_key(id));
        if let Some(id) = upstream_stale
            && let Some(p) = placement.get(id)
        {
            stale.insert(reader.id, format!("upstream {} stale", step_label(p)));
        }
    }
}

fn code_reason(path: &str, change: CodeChange) -> String {
    match change {
        CodeChange::Committed => format!("code changed: {path}"),
        CodeChange::Uncommitted => format!("code changed: {path} (uncommitted)"),
        CodeChange::Removed => format!("code removed: {path}"),
    }
}

/// One job's repository files to compare with its commit.
struct CodeCheck {
    job: i64,
    root: Vec<u8>,
    commit: String,
    paths: Vec<Vec<u8>>,
}

/// For each job that ran at a commit, the repository files it read that changed since.
async fn check_code(
    store: &dyn Store,
    jobs: &[JobNode],
) -> Result<HashMap<i64, Vec<(Vec<u8>, CodeChange)>>, StoreError> {
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    let read = store.repo_inputs(&ids).await?;
    let wanted: Vec<CodeCheck> = jobs
        .iter()
        .filter_map(|job| {
            let git = job.summary.git.as_ref()?;
            let commit = git.commit.as_ref().filter(|c| !c.is_empty())?;
            Some(CodeCheck {
                job: job.id,
                root: git.root.as_os_str().as_bytes().to_vec(),
                commit: commit.clone(),
                paths: read.get(&job.id)?.clone(),
            })
        })
        .collect();
    let checked = tokio::task::spawn_blocking(move || {
        let mut repositories = HashMap::new();
        wanted
            .into_iter()
            .map(|c| {
                let changed =
                    code_changes::changed_since(&mut repositories, &c.root, &c.commit, &c.paths);
                (c.job, changed)
            })
            .filter(|(_, changed)| !changed.is_empty())
            .collect()
    })
    .await;
    Ok(checked.unwrap_or_default())
}

fn step_label(placement: &SessionJob) -> String {
    if placement.build {
        format!("@B{}", placement.step)
    } else {
        format!("@{}", placement.step)
    }
}

/// Compares each input of the current jobs with what its path holds now, through the
/// hash cache (an unchanged file costs a `stat`). Inputs the job itself overwrote are
/// not compared: what is there now is its own output.
async fn check_inputs(
    store: &dyn Store,
    cache: &Arc<HashCache>,
    jobs: &[JobNode],
    blake3: &HashMap<u64, String>,
) -> HashMap<(i64, Vec<u8>), OnDisk> {
    let mut wanted: Vec<(i64, Vec<u8>, String)> = Vec::new();
    for job in jobs {
        for input in &job.inputs {
            let overwritten = job.outputs.iter().any(|o| o.path == input.path);
            if overwritten {
                continue;
            }
            if let Some(hex) = blake3.get(&input.artifact_id) {
                wanted.push((job.id, input.path.clone(), hex.clone()));
            }
        }
    }
    let paths = wanted.iter().map(|(_, p, _)| p.as_slice());
    let known = cache.known_entries(store, paths).await;
    let cache = Arc::clone(cache);
    tokio::task::spawn_blocking(move || {
        let mut stats = HashStats::default();
        wanted
            .into_iter()
            .map(|(job, path, hex)| {
                let state = match content_of(&cache, &path, &known, &mut stats, None) {
                    Ok((entry, _)) if entry.content.blake3_hex() == hex => OnDisk::Same,
                    Ok(_) => OnDisk::Changed,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => OnDisk::Gone,
                    Err(_) => {
                        let exists = std::path::Path::new(OsStr::from_bytes(&path)).exists();
                        if exists {
                            OnDisk::Changed
                        } else {
                            OnDisk::Gone
                        }
                    }
                };
                ((job, path), state)
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::JobSummary;

    fn node(id: i64, uid: &str) -> JobNode {
        let summary = JobSummary {
            uid: uid.to_string(),
            ..Default::default()
        };
        JobNode::new(id, summary)
    }

    fn edge(from: &str, to: &str) -> pb::Edge {
        pb::Edge {
            from_job: from.to_string(),
            to_job: to.to_string(),
            artifact_id: 1,
        }
    }

    #[test]
    fn staleness_flows_downstream_in_step_order_and_names_the_stale_step() {
        // @1 -> @2 -> @3, and @4 reads nothing: @1's input changed.
        let owned = [node(1, "a"), node(2, "b"), node(3, "c"), node(4, "d")];
        let placement: HashMap<i64, SessionJob> = (1..=4)
            .map(|id| {
                let step = id as u32;
                let job = SessionJob {
                    id,
                    build: false,
                    step,
                    placed: true,
                };
                (id, job)
            })
            .collect();
        let edges = [edge("a", "b"), edge("b", "c")];
        let mut stale = HashMap::from([(1, "input changed: data.csv".to_string())]);
        propagate_staleness(&owned, &edges, &placement, &mut stale);
        assert_eq!(stale[&1], "input changed: data.csv");
        assert_eq!(stale[&2], "upstream @1 stale");
        assert_eq!(stale[&3], "upstream @2 stale");
        assert!(!stale.contains_key(&4));
    }
}
