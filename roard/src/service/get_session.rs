//! `GetSession`: the project's active session and its step counts.

use roar_proto::pb;
use tonic::Status;

use super::project_of;
use crate::state::DaemonState;
use crate::store::model::LabelOwner;

pub async fn get_session(
    state: &DaemonState,
    request: &pb::GetSessionRequest,
) -> Result<pb::Session, Status> {
    let project = project_of(&request.cwd)?;
    let mut session = state
        .store
        .active_session(&project)
        .await
        .map_err(super::store_failed("read the session"))?
        .map(pb::Session::from)
        .ok_or_else(|| {
            Status::not_found("this project has no session yet: its first `roarctl run` starts one")
        })?;
    let owner = LabelOwner::Session(session.id as i64);
    session.labels = super::labels::own_labels(state, owner).await?;
    Ok(session)
}
