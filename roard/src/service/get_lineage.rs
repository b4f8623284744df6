//! `GetLineage`: the jobs and artifacts upstream or downstream of an artifact or job.

use roar_proto::pb;
use roar_proto::pb::get_lineage_request::Target;
use tonic::Status;

use super::{artifact_lookup_status, project_of};
use crate::dag;
use crate::state::DaemonState;
use crate::store::error::ArtifactLookupError;
use crate::store::input::Start;

pub async fn get_lineage(
    state: &DaemonState,
    request: &pb::GetLineageRequest,
) -> Result<pb::Graph, Status> {
    let store = &state.store;
    let artifact = match &request.target {
        Some(Target::Hash(prefix)) => Some(
            store
                .artifact_id_by_hash(prefix)
                .await
                .map_err(artifact_lookup_status)?,
        ),
        Some(Target::Path(path)) => Some(match store.artifact_id_by_path(path).await {
            Err(ArtifactLookupError::NotFound(name)) => {
                return Err(not_an_artifact(state, path, &name).await);
            }
            found => found.map_err(artifact_lookup_status)?,
        }),
        _ => None,
    };
    let start = match (artifact, &request.target) {
        (Some(id), _) => {
            // The asker's project and active session decide among several producers.
            let project = project_of(&request.cwd)?;
            let session = store
                .active_session(&project)
                .await
                .map_err(super::store_failed("read the session"))?;
            Start::Artifact {
                id,
                project,
                session_id: session.map_or(0, |s| s.id),
            }
        }
        (None, Some(Target::Job(selector))) => {
            let (id, _) = super::job_by_selector(state, selector, &request.cwd).await?;
            Start::Job(id)
        }
        (None, _) => return Err(Status::invalid_argument("give an artifact or a job")),
    };
    dag::lineage_graph(store.as_ref(), start, request.downstream, request.depth)
        .await
        .map_err(super::store_failed("read the lineage"))
}

/// Why a path has no lineage: it is a repository file jobs read (code, not data), or
/// nothing recorded it.
async fn not_an_artifact(state: &DaemonState, path: &[u8], name: &str) -> Status {
    let readers = state
        .store
        .repo_file_readers(path)
        .await
        .unwrap_or_default();
    if readers.is_empty() {
        return artifact_lookup_status(ArtifactLookupError::NotFound(name.to_string()));
    }
    Status::not_found(format!(
        "{name} is a file of the git repository that {} job(s) read: code, anchored by \
         their commit, not an artifact with lineage\nhint: `roarctl show {name}` lists \
         the jobs that read it",
        readers.len()
    ))
}
