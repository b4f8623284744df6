//! `Shutdown`: stop accepting jobs; exit once the running ones have been recorded.

use roar_proto::pb;

use crate::state::DaemonState;

pub fn shutdown(state: &DaemonState) -> pb::ShutdownReply {
    tracing::info!("shutdown requested by roarctl");
    state.request_shutdown();
    pb::ShutdownReply {
        running_jobs: u32::try_from(state.active_jobs.count()).unwrap_or(u32::MAX),
    }
}
