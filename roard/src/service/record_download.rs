//! `RecordDownload`: hash what `roarctl get` saved (BLAKE3 and SHA-256, as downloads
//! always carry both), check it is what was downloaded, and record it as a source of
//! lineage with its URL.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use roar_proto::pb;
use tonic::Status;

use crate::clock::now_ms;
use crate::hash_algorithms;
use crate::hashing::hash_regular_file;
use crate::state::DaemonState;

pub async fn record_download(
    state: &DaemonState,
    request: &pb::RecordDownloadRequest,
) -> Result<pb::RecordDownloadReply, Status> {
    if !request.path.starts_with(b"/") {
        return Err(Status::invalid_argument(
            "the saved file's path must be absolute",
        ));
    }
    let sha256 = hash_algorithms::by_name("sha256")
        .ok_or_else(|| Status::internal("SHA-256 is not available"))?;
    let path = PathBuf::from(OsStr::from_bytes(&request.path));
    let hashed = tokio::task::spawn_blocking(move || hash_regular_file(&path, &[sha256], None))
        .await
        .map_err(|e| Status::internal(format!("the hashing of the download failed: {e}")))?
        .map_err(|e| {
            Status::failed_precondition(format!(
                "cannot read the downloaded file {}: {e}",
                String::from_utf8_lossy(&request.path)
            ))
        })?;
    let sha256_hex = hashed.extra.first().map(|d| d.hex()).unwrap_or_default();
    if hashed.content.blake3_hex() != request.blake3 || sha256_hex != request.sha256 {
        return Err(Status::failed_precondition(format!(
            "{} changed between its download and its recording; get it again",
            String::from_utf8_lossy(&request.path)
        )));
    }
    state
        .store
        .record_download(
            &request.url,
            &request.path,
            hashed.content,
            &sha256_hex,
            now_ms(),
        )
        .await
        .map_err(super::store_failed("record the download"))?;
    Ok(pb::RecordDownloadReply {
        hashes: vec![
            pb::Digest::new(pb::HashAlgorithm::Blake3, hashed.content.blake3_hex()),
            pb::Digest::new(pb::HashAlgorithm::Sha256, sha256_hex),
        ],
    })
}
