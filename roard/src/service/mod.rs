//! The gRPC service: one file per request, this file only routes.

mod convert;
#[cfg(test)]
mod fuzz;
mod get_artifact;
mod get_dag;
mod get_job;
mod get_lineage;
mod get_session;
mod hash_files;
mod hello;
mod labels;
mod list_jobs;
mod pop_step;
mod record_download;
mod record_uploads;
mod reset_session;
mod run;
mod shutdown;
mod store_stats;
mod tag_lineage;

pub use hello::build_id;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::Arc;

use roar_proto::pb;
use roar_proto::pb::roar_server::Roar;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Response, Status};

use crate::state::DaemonState;
use crate::store::error::{ArtifactLookupError, LookupError, StoreError};

pub struct RoarService {
    state: Arc<DaemonState>,
}

impl RoarService {
    pub fn new(state: Arc<DaemonState>) -> Self {
        Self { state }
    }
}

/// The project (as stored) of the directory a request names.
fn project_of(cwd: &[u8]) -> Result<Vec<u8>, Status> {
    if !cwd.starts_with(b"/") {
        return Err(Status::invalid_argument(
            "the working directory must be an absolute path",
        ));
    }
    let dir = std::path::Path::new(std::ffi::OsStr::from_bytes(cwd));
    Ok(roar_proto::project::project_root(dir)
        .into_os_string()
        .into_vec())
}

/// The id and uid of the job a selector names, `@N` and `last` resolved in `cwd`'s
/// project.
async fn job_by_selector(
    state: &crate::state::DaemonState,
    selector: &str,
    cwd: &[u8],
) -> Result<(i64, String), Status> {
    let parsed = crate::store::input::JobSelector::parse(selector).map_err(job_lookup_status)?;
    let job = state
        .store
        .find_job(&parsed, selector, &project_of(cwd)?)
        .await
        .map_err(job_lookup_status)?;
    let uid = job.summary.uid;
    let id = state
        .store
        .job_id(&uid)
        .await
        .map_err(store_failed("read the job"))?
        .ok_or_else(|| Status::not_found(format!("job {uid} is gone")))?;
    Ok((id, uid))
}

/// The one mapping from a store error to what the client is told: what roard was
/// doing (`doing`, as in "read the session"), and a code that says whether trying
/// again may help: a busy or locked database, or a pool that timed out, is
/// `Unavailable`; anything else (an immutable database file included) is `Internal`.
fn store_failed(doing: &'static str) -> impl Fn(StoreError) -> Status {
    move |error| {
        let message = format!("cannot {doing}: {error}");
        if error.is_busy() {
            Status::unavailable(message)
        } else {
            Status::internal(message)
        }
    }
}

fn job_lookup_status(error: LookupError) -> Status {
    match error {
        LookupError::BadSelector(_) | LookupError::Ambiguous { .. } => {
            Status::invalid_argument(error.to_string())
        }
        LookupError::NotFound(_) => Status::not_found(error.to_string()),
        LookupError::Database(e) => store_failed("read the job")(e),
    }
}

fn artifact_lookup_status(error: ArtifactLookupError) -> Status {
    match error {
        ArtifactLookupError::BadPrefix(_) | ArtifactLookupError::Ambiguous(_) => {
            Status::invalid_argument(error.to_string())
        }
        ArtifactLookupError::NotFound(_) => Status::not_found(error.to_string()),
        ArtifactLookupError::Database(e) => store_failed("read the artifact")(e),
    }
}

/// The pid of the process on the other end of the request's connection.
fn peer_pid<T>(request: &Request<T>) -> Option<i32> {
    request
        .extensions()
        .get::<UdsConnectInfo>()
        .and_then(|info| info.peer_cred)
        .and_then(|cred| cred.pid())
}

#[tonic::async_trait]
impl Roar for RoarService {
    async fn hello(
        &self,
        request: Request<pb::HelloRequest>,
    ) -> Result<Response<pb::HelloReply>, Status> {
        Ok(Response::new(hello::hello(&self.state, request.get_ref())))
    }

    type RunStream = ReceiverStream<Result<pb::RunEvent, Status>>;

    async fn run(
        &self,
        request: Request<pb::RunRequest>,
    ) -> Result<Response<Self::RunStream>, Status> {
        let peer = peer_pid(&request);
        run::run(Arc::clone(&self.state), peer, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsReply>, Status> {
        list_jobs::list_jobs(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        get_job::get_job(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn get_artifact(
        &self,
        request: Request<pb::GetArtifactRequest>,
    ) -> Result<Response<pb::Artifact>, Status> {
        get_artifact::get_artifact(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn shutdown(
        &self,
        _request: Request<pb::ShutdownRequest>,
    ) -> Result<Response<pb::ShutdownReply>, Status> {
        Ok(Response::new(shutdown::shutdown(&self.state)))
    }

    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        get_session::get_session(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn get_dag(
        &self,
        request: Request<pb::GetDagRequest>,
    ) -> Result<Response<pb::Graph>, Status> {
        get_dag::get_dag(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn get_lineage(
        &self,
        request: Request<pb::GetLineageRequest>,
    ) -> Result<Response<pb::Graph>, Status> {
        get_lineage::get_lineage(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn reset_session(
        &self,
        request: Request<pb::ResetSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        reset_session::reset_session(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn pop_step(
        &self,
        request: Request<pb::PopStepRequest>,
    ) -> Result<Response<pb::PopStepReply>, Status> {
        pop_step::pop_step(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn tag_lineage(
        &self,
        request: Request<pb::TagLineageRequest>,
    ) -> Result<Response<pb::TagLineageReply>, Status> {
        tag_lineage::tag_lineage(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn record_download(
        &self,
        request: Request<pb::RecordDownloadRequest>,
    ) -> Result<Response<pb::RecordDownloadReply>, Status> {
        record_download::record_download(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn hash_files(
        &self,
        request: Request<pb::HashFilesRequest>,
    ) -> Result<Response<pb::HashFilesReply>, Status> {
        hash_files::hash_files(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn record_uploads(
        &self,
        request: Request<pb::RecordUploadsRequest>,
    ) -> Result<Response<pb::RecordUploadsReply>, Status> {
        record_uploads::record_uploads(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn get_store_stats(
        &self,
        _request: Request<pb::GetStoreStatsRequest>,
    ) -> Result<Response<pb::StoreStats>, Status> {
        store_stats::store_stats(&self.state)
            .await
            .map(Response::new)
    }

    async fn set_labels(
        &self,
        request: Request<pb::SetLabelsRequest>,
    ) -> Result<Response<pb::Labels>, Status> {
        labels::set_labels(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn get_labels(
        &self,
        request: Request<pb::GetLabelsRequest>,
    ) -> Result<Response<pb::Labels>, Status> {
        labels::get_labels(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }

    async fn record_policy_override(
        &self,
        request: Request<pb::RecordPolicyOverrideRequest>,
    ) -> Result<Response<pb::RecordPolicyOverrideReply>, Status> {
        labels::record_policy_override(&self.state, request.get_ref())
            .await
            .map(Response::new)
    }
}

#[cfg(test)]
mod store_error_tests {
    use super::*;

    #[test]
    fn a_database_error_says_what_roard_was_doing_and_whether_to_retry() {
        let busy = store_failed("read the session")(StoreError::Busy("locked".into()));
        assert_eq!(busy.code(), tonic::Code::Unavailable);
        assert_eq!(busy.message(), "cannot read the session: locked");
        let broken = store_failed("read the lineage")(StoreError::Other("no rows".into()));
        assert_eq!(broken.code(), tonic::Code::Internal);
        assert!(broken.message().starts_with("cannot read the lineage: "));
        let refused = store_failed("record the job")(StoreError::Immutable("lsattr".into()));
        assert_eq!(refused.code(), tonic::Code::Internal);
        assert_eq!(refused.message(), "cannot record the job: lsattr");
    }
}
