//! `ResetSession`: close the project's active session and open a new one.

use roar_proto::pb;
use tonic::Status;

use super::project_of;
use crate::clock::now_ms;
use crate::state::DaemonState;

pub async fn reset_session(
    state: &DaemonState,
    request: &pb::ResetSessionRequest,
) -> Result<pb::Session, Status> {
    let project = project_of(&request.cwd)?;
    state
        .store
        .reset_session(&project, now_ms())
        .await
        .map(pb::Session::from)
        .map_err(super::store_failed("start a new session"))
}
