//! `TagLineage`: tag the commits a sub-DAG rests on (see `git_tags`), and remember the
//! tags in the database.

use roar_proto::pb;
use tonic::Status;

use super::{get_dag, get_lineage};
use crate::clock::now_ms;
use crate::git_tags::{self, TagError};
use crate::state::DaemonState;
use crate::store::input::CommitTag;

pub async fn tag_lineage(
    state: &DaemonState,
    request: &pb::TagLineageRequest,
) -> Result<pb::TagLineageReply, Status> {
    let lineage = request.lineage.clone().unwrap_or_default();
    let graph = if !request.artifacts.is_empty() {
        let mut union = pb::Graph::default();
        for hex in &request.artifacts {
            let one = pb::GetLineageRequest {
                target: Some(pb::get_lineage_request::Target::Hash(format!(
                    "blake3:{hex}"
                ))),
                ..lineage.clone()
            };
            merge(&mut union, get_lineage::get_lineage(state, &one).await?);
        }
        union
    } else if lineage.target.is_none() {
        get_dag::get_dag(state, &pb::GetDagRequest { cwd: lineage.cwd }).await?
    } else {
        get_lineage::get_lineage(state, &lineage).await?
    };
    let push = request.push;
    let reply = tokio::task::spawn_blocking(move || git_tags::tag_commits(&graph, push))
        .await
        .map_err(|e| Status::internal(format!("tagging stopped: {e}")))?
        .map_err(|e| match e {
            TagError::Conflict { .. } => Status::already_exists(e.to_string()),
            TagError::Git { .. } | TagError::Push { .. } => {
                Status::failed_precondition(e.to_string())
            }
        })?;
    let tags: Vec<CommitTag<'_>> = reply
        .tags
        .iter()
        .map(|tag| CommitTag {
            name: &tag.name,
            root: &tag.root,
            commit: &tag.commit,
        })
        .collect();
    if let Err(e) = state
        .store
        .record_tags(&reply.dag_hash, &tags, now_ms())
        .await
    {
        tracing::warn!("tags created but not recorded in the database: {e}");
    }
    Ok(reply)
}

/// Adds `other`'s jobs, artifacts and edges to `into`, each once.
fn merge(into: &mut pb::Graph, other: pb::Graph) {
    for job in other.jobs {
        let uid = job.job.as_ref().map(|s| s.uid.clone());
        if !into
            .jobs
            .iter()
            .any(|j| j.job.as_ref().map(|s| &s.uid) == uid.as_ref())
        {
            into.jobs.push(job);
        }
    }
    for artifact in other.artifacts {
        if !into.artifacts.iter().any(|a| a.id == artifact.id) {
            into.artifacts.push(artifact);
        }
    }
    for edge in other.edges {
        if !into.edges.contains(&edge) {
            into.edges.push(edge);
        }
    }
    into.roots.extend(other.roots);
}
