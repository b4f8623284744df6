//! `HashFiles`: content identities of local files, through the shared hash cache (an
//! unchanged file costs a `stat`).

use std::sync::Arc;

use roar_proto::pb;
use tonic::Status;

use crate::hash_algorithms::Digest;
use crate::hash_cache::{HashStats, content_of};
use crate::state::DaemonState;

pub async fn hash_files(
    state: &DaemonState,
    request: &pb::HashFilesRequest,
) -> Result<pb::HashFilesReply, Status> {
    if let Some(bad) = request.paths.iter().find(|p| !p.starts_with(b"/")) {
        return Err(Status::invalid_argument(format!(
            "{} is not an absolute path",
            String::from_utf8_lossy(bad)
        )));
    }
    let wanted = request.paths.iter().map(Vec::as_slice);
    let known = state
        .hash_cache
        .known_entries(state.store.as_ref(), wanted)
        .await;
    let (cache, paths) = (Arc::clone(&state.hash_cache), request.paths.clone());
    let hashed = tokio::task::spawn_blocking(move || {
        let mut stats = HashStats::default();
        let mut files = Vec::new();
        let mut fresh = Vec::new();
        for path in paths {
            let (entry, is_fresh) = content_of(&cache, &path, &known, &mut stats, None)
                .map_err(|e| format!("cannot hash {}: {e}", String::from_utf8_lossy(&path)))?;
            let mut hashes = vec![pb::Digest::new(
                pb::HashAlgorithm::Blake3,
                entry.content.blake3_hex(),
            )];
            hashes.extend(entry.extra.iter().map(Digest::to_proto));
            files.push(pb::HashedFile {
                path: path.clone(),
                size: entry.content.size,
                hashes,
            });
            if is_fresh {
                fresh.push((path, entry));
            }
        }
        cache.add_stats(stats);
        Ok::<_, String>((files, fresh))
    })
    .await
    .map_err(|e| Status::internal(format!("the hashing of the files failed: {e}")))?
    .map_err(Status::failed_precondition)?;
    let (files, fresh): (Vec<pb::HashedFile>, Vec<_>) = hashed;
    if let Err(e) = state.store.save_hash_cache(&fresh).await {
        tracing::warn!("cannot persist hash cache entries: {e}");
    }
    Ok(pb::HashFilesReply { files })
}
