//! `GetDag`: the active session's steps, edges and staleness.

use roar_proto::pb;
use tonic::Status;

use super::project_of;
use crate::dag;
use crate::state::DaemonState;

pub async fn get_dag(
    state: &DaemonState,
    request: &pb::GetDagRequest,
) -> Result<pb::Graph, Status> {
    let project = project_of(&request.cwd)?;
    let internal = super::store_failed("read the session");
    let session = state
        .store
        .active_session(&project)
        .await
        .map_err(&internal)?
        .ok_or_else(|| {
            Status::not_found("this project has no session yet: its first `roarctl run` starts one")
        })?;
    dag::session_dag(state.store.as_ref(), &state.hash_cache, session)
        .await
        .map_err(&internal)
}
