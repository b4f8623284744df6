//! `PopStep`: remove the last step of the active session and, when asked, the files it
//! made, but only those that still hold what it wrote (anything changed since is
//! someone else's work) and that did not exist before it ran (a file it only changed
//! was there first); the others are kept and listed.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use roar_proto::pb;
use tonic::Status;

use super::project_of;
use crate::hashing::hash_regular_file;
use crate::state::DaemonState;
use crate::store::error::PopError;

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
            PopError::Database(e) => super::store_failed("remove the step")(e),
        })?;
    let mut reply = pb::PopStepReply {
        step: popped.step,
        jobs_removed: u32::try_from(popped.jobs).unwrap_or(u32::MAX),
        ..pb::PopStepReply::default()
    };
    if request.delete_outputs {
        let (outputs, started) = (popped.outputs, popped.started_at_ms);
        let removal = tokio::task::spawn_blocking(move || delete_own_outputs(outputs, started))
            .await
            .unwrap_or_default();
        reply.deleted = removal.deleted;
        reply.kept = removal.changed;
        reply.kept_existing = removal.existed;
    }
    Ok(reply)
}

/// What deleting a step's outputs did.
#[derive(Default)]
struct Removal {
    deleted: Vec<Vec<u8>>,
    /// Content changed since the step wrote it.
    changed: Vec<Vec<u8>>,
    /// The file existed before the step ran, or when it was made cannot be told.
    existed: Vec<Vec<u8>>,
}

/// How much earlier than the job's start a file's birth time may read and still be
/// the job's: the kernel stamps files with a coarse clock (a tick, a few ms, behind).
const BIRTH_TIME_SLACK_MS: i64 = 20;

/// Deletes each output the step made (the file was born after its first run started)
/// whose content is still the recorded one. A file the step only changed is never
/// deleted: removing it would take away something that was there before.
fn delete_own_outputs(outputs: Vec<(Vec<u8>, String)>, started_at_ms: i64) -> Removal {
    let mut removal = Removal::default();
    for (path, blake3) in outputs {
        let fs_path = Path::new(OsStr::from_bytes(&path));
        match hash_regular_file(fs_path, &[], None) {
            Ok(hashed) if hashed.content.blake3_hex() != blake3 => removal.changed.push(path),
            Ok(_) if !born_after(fs_path, started_at_ms) => removal.existed.push(path),
            Ok(_) => match std::fs::remove_file(fs_path) {
                Ok(()) => removal.deleted.push(path),
                Err(e) => {
                    tracing::warn!("cannot delete {}: {e}", fs_path.display());
                    removal.changed.push(path);
                }
            },
            // Already gone: nothing to delete.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => removal.changed.push(path),
        }
    }
    removal
}

/// Whether the file's birth time (statx) is not before the job's start; false when the
/// filesystem does not keep one.
fn born_after(path: &Path, started_at_ms: i64) -> bool {
    let born = std::fs::symlink_metadata(path).and_then(|m| m.created());
    let Ok(born) = born else {
        return false;
    };
    let born_ms = born
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    born_ms + BIRTH_TIME_SLACK_MS >= started_at_ms
}
