//! Lineage graphs from content, the same for the local store and the team registry:
//! given jobs (with the artifacts they read and wrote) and those artifacts, the edges
//! are derived, never stored. An input comes from the latest job of the set that wrote
//! that content before the reader started; an artifact no job of the set wrote is a
//! source.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::pb;

/// Builds a graph from jobs (in the order given) and their artifacts.
pub fn assemble(jobs: Vec<pb::GraphJob>, mut artifacts: Vec<pb::GraphArtifact>) -> pb::Graph {
    let start = |job: &pb::GraphJob| job.job.as_ref().map_or(0, |s| s.started_at_ms);
    let uid = |job: &pb::GraphJob| job.job.as_ref().map_or("", |s| s.uid.as_str()).to_string();
    let mut written: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, job) in jobs.iter().enumerate() {
        for output in &job.outputs {
            written.entry(output.artifact_id).or_default().push(i);
        }
    }
    let mut edges = Vec::new();
    let mut seen = HashSet::new();
    for (reader, job) in jobs.iter().enumerate() {
        for input in &job.inputs {
            let producer = written.get(&input.artifact_id).and_then(|writers| {
                writers
                    .iter()
                    .copied()
                    .filter(|&w| w != reader && start(&jobs[w]) < start(job))
                    .max_by_key(|&w| (start(&jobs[w]), w))
            });
            if let Some(producer) = producer
                && seen.insert((producer, reader, input.artifact_id))
            {
                edges.push(pb::Edge {
                    from_job: uid(&jobs[producer]),
                    to_job: uid(job),
                    artifact_id: input.artifact_id,
                });
            }
        }
    }
    for artifact in &mut artifacts {
        artifact.source = !written.contains_key(&artifact.id);
    }
    pb::Graph {
        jobs,
        artifacts,
        edges,
        session: None,
        roots: Vec::new(),
    }
}

/// BLAKE3 (hex) of a canonical text of the sub-DAG: each job (by uid, sorted) with its
/// command, commit and the BLAKE3 of everything it read and wrote.
pub fn dag_hash(graph: &pb::Graph) -> String {
    let digests: HashMap<u64, &str> = graph
        .artifacts
        .iter()
        .filter_map(|a| {
            let hex = a.hashes.iter().find(|d| d.algorithm == "blake3")?;
            Some((a.id, hex.hex.as_str()))
        })
        .collect();
    let digest_of = |id: u64| digests.get(&id).copied().unwrap_or_default().to_string();
    let mut jobs: Vec<&pb::GraphJob> = graph.jobs.iter().collect();
    jobs.sort_by(|a, b| uid(a).cmp(uid(b)));
    let mut hasher = blake3::Hasher::new();
    for job in jobs {
        let Some(summary) = &job.job else { continue };
        hasher.update(b"job\0");
        hasher.update(summary.uid.as_bytes());
        for arg in &summary.argv {
            hasher.update(b"\0arg\0");
            hasher.update(arg);
        }
        hasher.update(b"\0commit\0");
        hasher.update(
            summary
                .git
                .as_ref()
                .map_or("", |g| g.commit.as_str())
                .as_bytes(),
        );
        for (role, files) in [("in", &job.inputs), ("out", &job.outputs)] {
            let digests: BTreeSet<String> =
                files.iter().map(|f| digest_of(f.artifact_id)).collect();
            for digest in digests {
                hasher.update(format!("\0{role}\0{digest}").as_bytes());
            }
        }
        hasher.update(b"\n");
    }
    hasher.finalize().to_hex().to_string()
}

fn uid(job: &pb::GraphJob) -> &str {
    job.job.as_ref().map_or("", |s| s.uid.as_str())
}
