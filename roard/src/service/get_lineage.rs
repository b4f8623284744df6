//! `GetLineage`: the jobs and artifacts upstream or downstream of an artifact or job.

use roar_proto::pb;
use roar_proto::pb::get_lineage_request::Target;
use tonic::Status;

use super::{artifact_lookup_status, job_lookup_status, project_of};
use crate::state::DaemonState;
use crate::store::jobs::JobSelector;
use crate::store::lineage::Start;

pub async fn get_lineage(
    state: &DaemonState,
    request: &pb::GetLineageRequest,
) -> Result<pb::Graph, Status> {
    let store = &state.store;
    let asker = || async {
        let project = project_of(&request.cwd)?;
        let session = store
            .active_session(&project)
            .await
            .map_err(|e| Status::internal(format!("cannot read the session: {e}")))?;
        Ok::<_, Status>((project, session.map_or(0, |s| s.id)))
    };
    let start = match &request.target {
        Some(Target::Hash(prefix)) => {
            let id = store
                .artifact_id_by_hash(prefix)
                .await
                .map_err(artifact_lookup_status)?;
            let (project, session_id) = asker().await?;
            Start::Artifact {
                id,
                project,
                session_id,
            }
        }
        Some(Target::Path(path)) => {
            let id = store
                .artifact_id_by_path(path)
                .await
                .map_err(artifact_lookup_status)?;
            let (project, session_id) = asker().await?;
            Start::Artifact {
                id,
                project,
                session_id,
            }
        }
        Some(Target::Job(selector)) => {
            let parsed = JobSelector::parse(selector).map_err(job_lookup_status)?;
            let project = project_of(&request.cwd)?;
            let job = store
                .find_job(&parsed, selector, &project)
                .await
                .map_err(job_lookup_status)?;
            let uid = job.summary.map(|s| s.uid).unwrap_or_default();
            let id = store
                .job_id(&uid)
                .await
                .map_err(|e| Status::internal(e.to_string()))?
                .ok_or_else(|| Status::not_found(format!("job {uid} is gone")))?;
            Start::Job(id)
        }
        None => return Err(Status::invalid_argument("give an artifact or a job")),
    };
    store
        .lineage(start, request.downstream, request.depth)
        .await
        .map_err(|e| Status::internal(format!("cannot read the lineage: {e}")))
}
