//! Lineage graphs from content, the same for the local store and the team registry:
//! given jobs (with the artifacts they read and wrote) and those artifacts, the edges
//! are derived, never stored. Which job an input came from is decided by one rule,
//! [`producer`], used by every walk and view; an artifact no job of the set wrote is a
//! source.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::pb;

/// A job as the producer rule sees it: where it ran and when it started.
#[derive(Debug, Clone, Copy)]
pub struct JobPlace<'a> {
    pub project: &'a [u8],
    /// 0 when unknown (the registry keeps no sessions).
    pub session_id: u64,
    /// A job of a reproduction session (`roarctl reproduce`).
    pub reproduction: bool,
    pub started_at_ms: i64,
}

impl<'a> JobPlace<'a> {
    pub fn of(summary: &'a pb::JobSummary) -> Self {
        Self {
            project: &summary.project,
            session_id: summary.session_id,
            reproduction: !summary.reproduces.is_empty(),
            started_at_ms: summary.started_at_ms,
        }
    }

    /// Someone asking now from `project` (and its active session, if known): the
    /// reader of a lineage that starts at an artifact.
    pub fn asking_now(project: &'a [u8], session_id: u64) -> Self {
        Self {
            project,
            session_id,
            reproduction: false,
            started_at_ms: i64::MAX,
        }
    }
}

/// Who made the bytes a job read: among the jobs that wrote that content before the
/// reader started, the newest of the reader's own session, else of its own project,
/// else of anywhere. A job of a reproduction counts only for readers of that same
/// reproduction: re-running a pipeline never takes its lineage over. Candidates come
/// with a key (an id, an index) that breaks ties of equal start times (higher wins);
/// the chosen candidate's key is returned.
pub fn producer<'a, K: Copy + Ord>(
    reader: &JobPlace<'_>,
    writers: impl IntoIterator<Item = (K, JobPlace<'a>)>,
) -> Option<K> {
    writers
        .into_iter()
        .filter(|(_, w)| w.started_at_ms < reader.started_at_ms)
        .filter(|(_, w)| !w.reproduction || same_session(w, reader))
        .max_by_key(|(key, w)| (affinity(w, reader), w.started_at_ms, *key))
        .map(|(key, _)| key)
}

/// Downstream, the same rule seen from the writer: whether `reader` counts as a user
/// of what `writer` wrote. It started after it, and a reproduction's job counts only
/// for its own reproduction.
pub fn reads_from(reader: &JobPlace<'_>, writer: &JobPlace<'_>) -> bool {
    reader.started_at_ms > writer.started_at_ms
        && (!reader.reproduction || same_session(reader, writer))
}

fn same_session(a: &JobPlace<'_>, b: &JobPlace<'_>) -> bool {
    a.session_id != 0 && a.session_id == b.session_id && a.project == b.project
}

/// 2: the reader's session; 1: its project; 0: elsewhere.
fn affinity(writer: &JobPlace<'_>, reader: &JobPlace<'_>) -> u8 {
    if same_session(writer, reader) {
        2
    } else if writer.project == reader.project {
        1
    } else {
        0
    }
}

/// Builds a graph from jobs (in the order given) and their artifacts.
pub fn assemble(jobs: Vec<pb::GraphJob>, mut artifacts: Vec<pb::GraphArtifact>) -> pb::Graph {
    let mut written: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, job) in jobs.iter().enumerate() {
        for output in &job.outputs {
            written.entry(output.artifact_id).or_default().push(i);
        }
    }
    let mut edges = Vec::new();
    let mut seen = HashSet::new();
    for (reader, job) in jobs.iter().enumerate() {
        let place = JobPlace::of(summary_of(job));
        for input in &job.inputs {
            let writers = written.get(&input.artifact_id).into_iter().flatten();
            let candidates = writers
                .filter(|&&w| w != reader)
                .map(|&w| (w, JobPlace::of(summary_of(&jobs[w]))));
            if let Some(producer) = producer(&place, candidates)
                && seen.insert((producer, reader, input.artifact_id))
            {
                edges.push(pb::Edge {
                    from_job: uid(&jobs[producer]).to_string(),
                    to_job: uid(job).to_string(),
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
        .filter_map(|a| Some((a.id, crate::vocabulary::blake3(&a.hashes)?)))
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

/// A graph job's summary (an empty one if absent).
fn summary_of(job: &pb::GraphJob) -> &pb::JobSummary {
    static EMPTY: std::sync::OnceLock<pb::JobSummary> = std::sync::OnceLock::new();
    job.job
        .as_ref()
        .unwrap_or_else(|| EMPTY.get_or_init(pb::JobSummary::default))
}

fn uid(job: &pb::GraphJob) -> &str {
    job.job.as_ref().map_or("", |s| s.uid.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(project: &'static [u8], session_id: u64, started_at_ms: i64) -> JobPlace<'static> {
        JobPlace {
            project,
            session_id,
            reproduction: false,
            started_at_ms,
        }
    }

    #[test]
    fn the_readers_session_then_project_then_anywhere() {
        let reader = place(b"/a", 1, 100);
        let elsewhere = (1, place(b"/b", 7, 90));
        let same_project = (2, place(b"/a", 2, 50));
        let same_session = (3, place(b"/a", 1, 10));
        assert_eq!(
            producer(&reader, [elsewhere, same_project, same_session]),
            Some(3)
        );
        assert_eq!(producer(&reader, [elsewhere, same_project]), Some(2));
        assert_eq!(producer(&reader, [elsewhere]), Some(1));
    }

    #[test]
    fn only_writers_that_started_before_the_reader() {
        let reader = place(b"/a", 1, 100);
        assert_eq!(producer(&reader, [(1, place(b"/a", 1, 100))]), None);
        assert_eq!(
            producer(
                &reader,
                [(1, place(b"/a", 1, 20)), (2, place(b"/a", 1, 30))]
            ),
            Some(2)
        );
    }

    #[test]
    fn a_reproduction_produces_only_for_its_own_session() {
        let mut reproduced = place(b"/cache/wt", 9, 50);
        reproduced.reproduction = true;
        let original = place(b"/a", 1, 10);
        let user = JobPlace::asking_now(b"/a", 1);
        assert_eq!(producer(&user, [(1, original), (2, reproduced)]), Some(1));
        let stranger = JobPlace::asking_now(b"/b", 3);
        assert_eq!(producer(&stranger, [(2, reproduced)]), None);
        let mut next_step = place(b"/cache/wt", 9, 60);
        next_step.reproduction = true;
        assert_eq!(
            producer(&next_step, [(1, original), (2, reproduced)]),
            Some(2)
        );
    }
}
