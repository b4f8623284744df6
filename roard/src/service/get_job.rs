//! `GetJob`: one job by uid, `@N` or `last`.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use roar_proto::pb;
use tonic::Status;

use super::job_lookup_status;
use crate::state::DaemonState;
use crate::store::input::JobSelector;
use crate::store::model::LabelOwner;
use roar_proto::project::project_root;

pub async fn get_job(state: &DaemonState, request: &pb::GetJobRequest) -> Result<pb::Job, Status> {
    let selector = JobSelector::parse(&request.selector).map_err(job_lookup_status)?;
    let cwd = Path::new(std::ffi::OsStr::from_bytes(&request.cwd));
    let project = project_root(cwd);
    let mut job = state
        .store
        .find_job(&selector, &request.selector, project.as_os_str().as_bytes())
        .await
        .map(pb::Job::from)
        .map_err(job_lookup_status)?;
    let uid = job
        .summary
        .as_ref()
        .map(|s| s.uid.clone())
        .unwrap_or_default();
    if let Some(id) = state
        .store
        .job_id(&uid)
        .await
        .map_err(super::store_failed("read the job"))?
    {
        job.labels = super::labels::own_labels(state, LabelOwner::Job(id)).await?;
    }
    Ok(job)
}
