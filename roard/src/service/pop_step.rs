//! `PopStep`: remove the last step of the active session and, when asked, the files it
//! wrote, but only those that still hold what it wrote (anything changed since is
//! someone else's work and is kept).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use roar_proto::pb;
use tonic::Status;

use super::project_of;
use crate::hashing::hash_regular_file;
use crate::state::DaemonState;
use crate::store::sessions::PopError;

pub async fn pop_step(
    state: &DaemonState,
    request: &pb::PopStepRequest,
) -> Result<pb::PopStepReply, Status> {
    let project = project_of(&request.cwd)?;
    let popped = state
        .store
        .pop_step(&project, request.step)
        .await
        .map_err(|e| match e {
            PopError::Empty => Status::not_found(e.to_string()),
            PopError::Moved { .. } | PopError::Running(_) => {
                Status::failed_precondition(e.to_string())
            }
            PopError::Database(_) => Status::unavailable(format!("cannot remove the step: {e}")),
        })?;
    let mut reply = pb::PopStepReply {
        step: popped.step,
        jobs_removed: u32::try_from(popped.jobs).unwrap_or(u32::MAX),
        deleted: Vec::new(),
        kept: Vec::new(),
    };
    if request.delete_outputs {
        let outputs = popped.outputs;
        let (deleted, kept) = tokio::task::spawn_blocking(move || delete_unchanged(outputs))
            .await
            .unwrap_or_default();
        reply.deleted = deleted;
        reply.kept = kept;
    }
    Ok(reply)
}

/// Deletes each file whose content is still the recorded one.
fn delete_unchanged(outputs: Vec<(Vec<u8>, String)>) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut deleted, mut kept) = (Vec::new(), Vec::new());
    for (path, blake3) in outputs {
        let fs_path = Path::new(OsStr::from_bytes(&path));
        match hash_regular_file(fs_path, &[], None) {
            Ok(hashed) if hashed.content.blake3_hex() == blake3 => {
                match std::fs::remove_file(fs_path) {
                    Ok(()) => deleted.push(path),
                    Err(e) => {
                        tracing::warn!("cannot delete {}: {e}", fs_path.display());
                        kept.push(path);
                    }
                }
            }
            // Already gone: nothing to delete.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            _ => kept.push(path),
        }
    }
    (deleted, kept)
}
