//! A session's DAG: its steps (each step's current job: the newest run of it), the
//! edges between them, and which steps are stale.
//!
//! Edges come from content: step S depends on step U when S's job read an artifact
//! that a job of U wrote before S started. A step is stale when an input it read has
//! different content on disk now, when the step it came from was re-run and no longer
//! writes that content, or when a step upstream of it is stale.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use roar_proto::pb;

use crate::hash_cache::{HashCache, HashStats, content_of};
use crate::store::Store;
use crate::store::lineage::JobNode;
use crate::store::sessions::SessionJob;

/// What is on disk now at a path an input was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OnDisk {
    Same,
    Changed,
    Gone,
}

/// The DAG of `session`, with staleness checked against the files on disk now.
pub async fn session_dag(
    store: &Store,
    cache: &Arc<HashCache>,
    session: pb::Session,
) -> sqlx::Result<pb::Graph> {
    let jobs = store.session_jobs(session.id).await?;
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    let mut nodes = store.job_nodes(&ids).await?;
    nodes.sort_by_key(|n| n.id);
    let placement: HashMap<i64, SessionJob> = jobs.iter().map(|j| (j.id, *j)).collect();
    // The newest job of each step is its current one.
    let mut current_of_step: HashMap<(bool, u32), i64> = HashMap::new();
    for job in &jobs {
        current_of_step.insert((job.build, job.step), job.id);
    }
    let mut current: Vec<&JobNode> = nodes
        .iter()
        .filter(|n| {
            placement
                .get(&n.id)
                .is_some_and(|p| current_of_step.get(&(p.build, p.step)) == Some(&n.id))
        })
        .collect();
    // Build steps first, then pipeline steps, each in step order.
    current.sort_by_key(|n| {
        let p = placement.get(&n.id).copied();
        (p.is_none_or(|p| !p.build), p.map_or(0, |p| p.step))
    });
    let owned: Vec<JobNode> = current.iter().map(|n| (*n).clone()).collect();
    let mut graph = store.assemble(&owned).await?;
    let blake3: HashMap<u64, String> = graph
        .artifacts
        .iter()
        .filter_map(|a| {
            let hex = a.hashes.iter().find(|d| d.algorithm == "blake3")?;
            Some((a.id, hex.hex.clone()))
        })
        .collect();
    let on_disk = check_inputs(store, cache, &owned, &blake3).await;

    let by_id: HashMap<i64, &JobNode> = nodes.iter().map(|n| (n.id, n)).collect();
    // Who wrote each content, any job of the session (re-runs included).
    let mut writers: HashMap<u64, Vec<&JobNode>> = HashMap::new();
    for node in &nodes {
        for output in &node.outputs {
            writers.entry(output.artifact_id).or_default().push(node);
        }
    }
    let mut edges = Vec::new();
    let mut stale: HashMap<i64, String> = HashMap::new();
    for reader in &owned {
        let mut reasons = Vec::new();
        for input in &reader.inputs {
            // The latest job of the session that wrote this content before it was read.
            let producer = writers
                .get(&input.artifact_id)
                .into_iter()
                .flatten()
                .filter(|w| {
                    w.id != reader.id && w.summary.started_at_ms < reader.summary.started_at_ms
                })
                .max_by_key(|w| (w.summary.started_at_ms, w.id));
            if let Some(producer) = producer
                && let Some(p) = placement.get(&producer.id)
                && let Some(&now) = current_of_step.get(&(p.build, p.step))
                && let Some(current_producer) = by_id.get(&now)
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
                        "{} was re-run and no longer writes what this step read from {}",
                        step_label(p),
                        String::from_utf8_lossy(&input.path)
                    ));
                }
            }
            match on_disk.get(&(reader.id, input.path.clone())) {
                Some(OnDisk::Changed) => reasons.push(format!(
                    "{} changed since this step read it",
                    String::from_utf8_lossy(&input.path)
                )),
                Some(OnDisk::Gone) => reasons.push(format!(
                    "{} no longer exists",
                    String::from_utf8_lossy(&input.path)
                )),
                _ => {}
            }
        }
        if !reasons.is_empty() {
            reasons.dedup();
            stale.insert(reader.id, reasons.join("; "));
        }
    }
    edges.sort_by(|a, b| {
        (&a.from_job, &a.to_job, a.artifact_id).cmp(&(&b.from_job, &b.to_job, b.artifact_id))
    });
    edges.dedup();
    // Staleness flows downstream, in step order (edges always point forward in time).
    let uid_to_id: HashMap<&str, i64> = owned
        .iter()
        .map(|n| (n.summary.uid.as_str(), n.id))
        .collect();
    for reader in &owned {
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
            stale.insert(
                reader.id,
                format!("upstream step {} is stale", step_label(p)),
            );
        }
    }
    for (job, node) in graph.jobs.iter_mut().zip(&owned) {
        if let Some(reason) = stale.get(&node.id) {
            job.stale = true;
            job.stale_reason = reason.clone();
        }
    }
    graph.edges = edges;
    graph.session = Some(session);
    Ok(graph)
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
    store: &Store,
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
    let paths: Vec<Vec<u8>> = wanted.iter().map(|(_, p, _)| p.clone()).collect();
    let known = store.load_hash_cache(&paths).await.unwrap_or_default();
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
