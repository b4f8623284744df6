//! Which inherited labels reach an artifact or a job, and by which path: worked out from
//! its upstream lineage (as `GetLineage` returns it), so a label set on a source after
//! the pipeline ran reaches everything made from it. Conflicting values of one key are
//! all kept, each with its own source, never merged.

use std::collections::{HashSet, VecDeque};

use roar_proto::pb;

use crate::graph::{GraphView, label, maker_of};

/// An inherited label as it reaches the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inherited {
    pub key: String,
    pub value: String,
    /// The artifact (its path, short) or job (its step) the label is set on.
    pub from: String,
    /// The steps between that source and the target, source first.
    pub via: Vec<String>,
}

impl Inherited {
    /// `license=CC-BY-NC-4.0 (from data/raw.csv via @1, @2)`.
    pub fn describe(&self) -> String {
        let via = match self.via.is_empty() {
            true => String::new(),
            false => format!(" via {}", self.via.join(", ")),
        };
        format!("{}={} (from {}{via})", self.key, self.value, self.from)
    }
}

/// Where the walk starts: the artifact a lineage was asked for, or a job in it.
pub enum Start<'a> {
    Artifact(u64),
    Job(&'a str),
}

/// Every inherited label upstream of `start` in `graph`, nearest sources first; one
/// entry per (key, value, source), reached by the shortest path.
pub fn inherited(graph: &pb::Graph, base: &[u8], start: Start<'_>) -> Vec<Inherited> {
    let view = GraphView::new(graph, base);
    let mut found = Vec::new();
    let mut seen_jobs: HashSet<String> = HashSet::new();
    // Jobs to visit, with the steps from them down to the target (nearest first).
    let mut queue: VecDeque<(&pb::GraphJob, Vec<String>)> = VecDeque::new();
    match start {
        Start::Artifact(id) => {
            if let Some(job) = maker_of(graph, id) {
                queue.push_back((job, Vec::new()));
            }
        }
        Start::Job(uid) => {
            if let Some(job) = view.job(uid) {
                queue.push_back((job, Vec::new()));
            }
        }
    }
    while let Some((job, below)) = queue.pop_front() {
        let Some(summary) = &job.job else { continue };
        if !seen_jobs.insert(summary.uid.clone()) {
            continue;
        }
        let mut via: Vec<String> = vec![label(job)];
        via.extend(below.iter().cloned());
        for own in job.labels.iter().filter(|l| l.inherit) {
            push(&mut found, own, label(job), via[1..].to_vec());
        }
        for input in &job.inputs {
            if let Some(artifact) = view.artifact(input.artifact_id) {
                for own in artifact.labels.iter().filter(|l| l.inherit) {
                    push(&mut found, own, view.short_path(&input.path), via.clone());
                }
            }
            if let Some(maker) = view.producer_for(&summary.uid, input.artifact_id) {
                queue.push_back((maker, via.clone()));
            }
        }
    }
    found
}

fn push(found: &mut Vec<Inherited>, label: &pb::Label, from: String, via: Vec<String>) {
    let entry = Inherited {
        key: label.key.clone(),
        value: label.value.clone(),
        from,
        via,
    };
    let same = |e: &Inherited| e.key == entry.key && e.value == entry.value && e.from == entry.from;
    if !found.iter().any(same) {
        found.push(entry);
    }
}

/// The labels of `inherited` that `policy.refuse_put` refuses (`key=value` rules),
/// with the artifact's own labels first.
pub fn refused(
    rules: &[String],
    own: &[pb::Label],
    inherited: &[Inherited],
) -> Vec<(String, String)> {
    let mut hits = Vec::new();
    for rule in rules {
        let Some((key, value)) = rule.split_once('=') else {
            continue;
        };
        for label in own.iter().filter(|l| l.key == key && l.value == value) {
            hits.push((
                rule.clone(),
                format!("{}={} (its own label)", label.key, label.value),
            ));
        }
        for label in inherited
            .iter()
            .filter(|l| l.key == key && l.value == value)
        {
            hits.push((rule.clone(), label.describe()));
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(key: &str, value: &str) -> pb::Label {
        pb::Label {
            key: key.into(),
            value: value.into(),
            inherit: true,
            ..Default::default()
        }
    }

    fn job(
        uid: &str,
        step: u32,
        depth: u32,
        inputs: &[(u64, &str)],
        outputs: &[u64],
    ) -> pb::GraphJob {
        let file = |id: u64, path: &str| pb::FileRef {
            artifact_id: id,
            path: path.as_bytes().to_vec(),
            pre_image: false,
        };
        pb::GraphJob {
            job: Some(pb::JobSummary {
                uid: uid.into(),
                step,
                started_at_ms: i64::from(step),
                kind: pb::JobKind::Run as i32,
                ..Default::default()
            }),
            inputs: inputs.iter().map(|(id, p)| file(*id, p)).collect(),
            outputs: outputs.iter().map(|id| file(*id, "/p/out")).collect(),
            depth,
            ..Default::default()
        }
    }

    /// raw.csv (licensed) and other.csv (licensed otherwise) → @1 → mid → @2 → out.
    fn pipeline() -> pb::Graph {
        let mut raw = pb::GraphArtifact {
            id: 1,
            ..Default::default()
        };
        raw.labels.push(label("license", "CC-BY-NC-4.0"));
        let mut other = pb::GraphArtifact {
            id: 4,
            ..Default::default()
        };
        other.labels.push(label("license", "MIT"));
        let mid = pb::GraphArtifact {
            id: 2,
            ..Default::default()
        };
        let out = pb::GraphArtifact {
            id: 3,
            ..Default::default()
        };
        let jobs = vec![
            job(
                "a1",
                1,
                2,
                &[(1, "/p/data/raw.csv"), (4, "/p/data/other.csv")],
                &[2],
            ),
            job("b2", 2, 1, &[(2, "/p/mid")], &[3]),
        ];
        let mut graph = roar_proto::graph::assemble(jobs, vec![raw, mid, out, other]);
        graph.roots = vec![3];
        graph
    }

    #[test]
    fn a_label_on_a_source_reaches_the_final_output_with_its_path() {
        let graph = pipeline();
        let found = inherited(&graph, b"/p", Start::Artifact(3));
        let described: Vec<String> = found.iter().map(Inherited::describe).collect();
        assert_eq!(
            described,
            [
                "license=CC-BY-NC-4.0 (from data/raw.csv via @1, @2)",
                "license=MIT (from data/other.csv via @1, @2)",
            ]
        );
    }

    #[test]
    fn the_policy_refuses_an_inherited_value_and_names_its_source() {
        let graph = pipeline();
        let found = inherited(&graph, b"/p", Start::Artifact(3));
        let hits = refused(&["license=MIT".into(), "nokey".into()], &[], &found);
        assert_eq!(hits.len(), 1);
        assert!(hits[0].1.contains("data/other.csv"), "{hits:?}");
    }

    #[test]
    fn a_label_that_is_not_inherited_stays_on_its_owner() {
        let mut graph = pipeline();
        for artifact in &mut graph.artifacts {
            for l in &mut artifact.labels {
                l.inherit = false;
            }
        }
        assert!(inherited(&graph, b"/p", Start::Artifact(3)).is_empty());
    }
}
