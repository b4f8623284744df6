//! `RecordUploads`: where `roarctl put` sent each artifact.

use roar_proto::pb;
use tonic::Status;

use crate::clock::now_ms;
use crate::hashing::Content;
use crate::state::DaemonState;
use crate::store::input::UploadRecord;

pub async fn record_uploads(
    state: &DaemonState,
    request: &pb::RecordUploadsRequest,
) -> Result<pb::RecordUploadsReply, Status> {
    let mut records = Vec::with_capacity(request.uploads.len());
    for upload in &request.uploads {
        let digest = blake3::Hash::from_hex(&upload.blake3).map_err(|_| {
            Status::invalid_argument(format!("'{}' is not a BLAKE3 digest", upload.blake3))
        })?;
        records.push(UploadRecord {
            path: &upload.path,
            url: &upload.url,
            content: Content {
                size: upload.size,
                blake3: *digest.as_bytes(),
            },
            transferred: upload.transferred,
        });
    }
    state
        .store
        .record_uploads(&records, &request.message, now_ms())
        .await
        .map_err(super::store_failed("record the uploads"))?;
    Ok(pb::RecordUploadsReply {})
}
