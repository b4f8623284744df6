//! `GetJob`: one job by uid, `@N` or `last`.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use roar_proto::pb;
use tonic::Status;

use crate::state::DaemonState;
use crate::store::jobs::{JobSelector, LookupError};
use roar_proto::project::project_root;

pub async fn get_job(state: &DaemonState, request: &pb::GetJobRequest) -> Result<pb::Job, Status> {
    let selector = JobSelector::parse(&request.selector).map_err(to_status)?;
    let cwd = Path::new(std::ffi::OsStr::from_bytes(&request.cwd));
    let project = project_root(cwd);
    state
        .store
        .find_job(&selector, &request.selector, project.as_os_str().as_bytes())
        .await
        .map_err(to_status)
}

fn to_status(error: LookupError) -> Status {
    match error {
        LookupError::BadSelector(_) | LookupError::Ambiguous { .. } => {
            Status::invalid_argument(error.to_string())
        }
        LookupError::NotFound(_) => Status::not_found(error.to_string()),
        LookupError::Database(e) => Status::internal(format!("cannot read the job: {e}")),
    }
}
