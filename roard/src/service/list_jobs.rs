//! `ListJobs`: recent jobs, of one project or of all.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use roar_proto::pb;
use tonic::Status;

use crate::state::DaemonState;
use roar_proto::project::project_root;

/// Upper bound on one listing, whatever the client asks.
const MAX_LIMIT: u32 = 10_000;

pub async fn list_jobs(
    state: &DaemonState,
    request: &pb::ListJobsRequest,
) -> Result<pb::ListJobsReply, Status> {
    let project = (!request.project_of.is_empty()).then(|| {
        let dir = Path::new(std::ffi::OsStr::from_bytes(&request.project_of));
        project_root(dir).as_os_str().as_bytes().to_vec()
    });
    let limit = match request.limit {
        0 => 20,
        n => n.min(MAX_LIMIT),
    };
    let jobs = state
        .store
        .list_jobs(project.as_deref(), limit)
        .await
        .map_err(super::store_failed("read the job list"))?;
    Ok(pb::ListJobsReply {
        jobs: jobs.into_iter().map(pb::JobSummary::from).collect(),
    })
}
