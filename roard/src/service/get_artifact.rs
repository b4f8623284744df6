//! `GetArtifact`: one artifact by hash prefix or path, with where it was seen; for the
//! path of a repository file that jobs read, that file with its git blob ids.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use roar_proto::pb;
use roar_proto::pb::get_artifact_request::By;
use tonic::Status;

use super::artifact_lookup_status;
use crate::code_changes;
use crate::state::DaemonState;
use crate::store::error::ArtifactLookupError;

pub async fn get_artifact(
    state: &DaemonState,
    request: &pb::GetArtifactRequest,
) -> Result<pb::Artifact, Status> {
    let found = match &request.by {
        Some(By::Hash(prefix)) => state.store.artifact_by_hash(prefix).await,
        Some(By::Path(path)) => match state.store.artifact_by_path(path).await {
            Err(ArtifactLookupError::NotFound(_))
                if let Some(file) = repo_file(state, path).await? =>
            {
                return Ok(file);
            }
            other => other,
        },
        None => return Err(Status::invalid_argument("give a hash prefix or a path")),
    };
    let found = found.map_err(artifact_lookup_status)?;
    let id = found.id;
    let mut artifact = pb::Artifact::from(found);
    super::labels::fill_artifact(state, id, &mut artifact).await?;
    Ok(artifact)
}

/// A repository file jobs read, with its readers; None if no job read it as one.
async fn repo_file(state: &DaemonState, path: &[u8]) -> Result<Option<pb::Artifact>, Status> {
    let uses = state
        .store
        .repo_file_readers(path)
        .await
        .map_err(super::store_failed("read the artifact"))?;
    let Some(root) = uses.iter().rev().find_map(|u| {
        u.job
            .git
            .as_ref()
            .map(|g| g.root.as_os_str().as_bytes().to_vec())
    }) else {
        return Ok(None);
    };
    let relative = path
        .strip_prefix(root.as_slice())
        .and_then(|rest| rest.strip_prefix(b"/"))
        .unwrap_or(path)
        .to_vec();
    let (dir, file) = (root.clone(), relative.clone());
    let (worktree_blob, head_blob) = tokio::task::spawn_blocking(move || {
        code_changes::blob_ids(
            Path::new(OsStr::from_bytes(&dir)),
            Path::new(OsStr::from_bytes(&file)),
        )
    })
    .await
    .unwrap_or_default();
    Ok(Some(pb::Artifact {
        uses: uses.into_iter().map(pb::ArtifactUse::from).collect(),
        repo_file: Some(pb::RepoFile {
            root,
            relative_path: relative,
            worktree_blob: worktree_blob.unwrap_or_default(),
            head_blob: head_blob.unwrap_or_default(),
        }),
        ..pb::Artifact::default()
    }))
}
