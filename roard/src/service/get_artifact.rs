//! `GetArtifact`: one artifact by hash prefix or path, with where it was seen.

use roar_proto::pb;
use roar_proto::pb::get_artifact_request::By;
use tonic::Status;

use super::artifact_lookup_status;
use crate::state::DaemonState;

pub async fn get_artifact(
    state: &DaemonState,
    request: &pb::GetArtifactRequest,
) -> Result<pb::Artifact, Status> {
    let found = match &request.by {
        Some(By::Hash(prefix)) => state.store.artifact_by_hash(prefix).await,
        Some(By::Path(path)) => state.store.artifact_by_path(path).await,
        None => return Err(Status::invalid_argument("give a hash prefix or a path")),
    };
    found.map_err(artifact_lookup_status)
}
