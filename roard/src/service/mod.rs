//! The gRPC service: one file per request, this file only routes.

mod get_artifact;
mod get_job;
mod hello;
mod list_jobs;
mod run;
mod shutdown;

use std::sync::Arc;

use roar_proto::pb;
use roar_proto::pb::roar_server::Roar;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Response, Status};

use crate::state::DaemonState;

pub struct RoarService {
    state: Arc<DaemonState>,
}

impl RoarService {
    pub fn new(state: Arc<DaemonState>) -> Self {
        Self { state }
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
}
