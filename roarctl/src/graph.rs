//! Reading a `Graph` from roard: look-ups by uid and artifact id, the producer of an
//! artifact, short names for paths. Shared by `dag`, `lineage` and `export`.

use std::collections::HashMap;

use roar_proto::pb;

use crate::render::{escape_for_terminal, step_label};

pub struct GraphView<'a> {
    pub graph: &'a pb::Graph,
    jobs: HashMap<&'a str, &'a pb::GraphJob>,
    artifacts: HashMap<u64, &'a pb::GraphArtifact>,
    /// The project root, to show paths inside it relative to it.
    base: Vec<u8>,
}

impl<'a> GraphView<'a> {
    pub fn new(graph: &'a pb::Graph, base: &[u8]) -> Self {
        Self {
            graph,
            jobs: graph
                .jobs
                .iter()
                .filter_map(|j| Some((j.job.as_ref()?.uid.as_str(), j)))
                .collect(),
            artifacts: graph.artifacts.iter().map(|a| (a.id, a)).collect(),
            base: base.to_vec(),
        }
    }

    pub fn job(&self, uid: &str) -> Option<&'a pb::GraphJob> {
        self.jobs.get(uid).copied()
    }

    pub fn artifact(&self, id: u64) -> Option<&'a pb::GraphArtifact> {
        self.artifacts.get(&id).copied()
    }

    /// The job that wrote what `reader` read as `artifact` (from the graph's edges).
    pub fn producer_for(&self, reader: &str, artifact: u64) -> Option<&'a pb::GraphJob> {
        self.graph
            .edges
            .iter()
            .find(|e| e.to_job == reader && e.artifact_id == artifact)
            .and_then(|e| self.job(&e.from_job))
    }

    /// Jobs that read what `writer` wrote as `artifact`.
    pub fn consumers_of(&self, writer: &str, artifact: u64) -> Vec<&'a pb::GraphJob> {
        self.graph
            .edges
            .iter()
            .filter(|e| e.from_job == writer && e.artifact_id == artifact)
            .filter_map(|e| self.job(&e.to_job))
            .collect()
    }

    /// A path relative to the project when inside it, escaped for a terminal.
    pub fn short_path(&self, path: &[u8]) -> String {
        let relative = path
            .strip_prefix(self.base.as_slice())
            .and_then(|rest| rest.strip_prefix(b"/"))
            .filter(|rest| !rest.is_empty() && !self.base.is_empty());
        escape_for_terminal(relative.unwrap_or(path))
    }

    /// The first 12 digits of the artifact's BLAKE3.
    pub fn short_hash(&self, id: u64) -> String {
        self.artifact(id)
            .and_then(|a| roar_proto::vocabulary::blake3(&a.hashes))
            .map_or_else(
                || "?".to_string(),
                |hex| hex[..hex.len().min(12)].to_string(),
            )
    }
}

/// Of a lineage walked from `artifact`: the job that made it, the newest of those at
/// the first level that wrote it (roard's walk applied the producer rule).
pub fn maker_of(graph: &pb::Graph, artifact: u64) -> Option<&pb::GraphJob> {
    graph
        .jobs
        .iter()
        .filter(|j| j.depth == 1 && j.outputs.iter().any(|o| o.artifact_id == artifact))
        .max_by_key(|j| j.job.as_ref().map_or(0, |s| s.started_at_ms))
}

/// `@3` / `@B3` of a job in a graph.
pub fn label(job: &pb::GraphJob) -> String {
    job.job
        .as_ref()
        .map_or_else(String::new, |s| step_label(s.kind(), s.step))
}
