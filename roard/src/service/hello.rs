//! `Hello`: who the daemon is and how it is doing.

use roar_proto::pb;

use crate::state::DaemonState;

pub fn hello(state: &DaemonState, request: &pb::HelloRequest) -> pb::HelloReply {
    if request.client_version != roar_proto::VERSION {
        tracing::info!(
            "client version {} differs from daemon version {}",
            request.client_version,
            roar_proto::VERSION
        );
    }
    let hashing = state.hash_cache.stats();
    pb::HelloReply {
        version: roar_proto::VERSION.to_string(),
        build_id: build_id(),
        pid: std::process::id(),
        uid: nix::unistd::geteuid().as_raw(),
        uptime_ms: u64::try_from(state.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        running_jobs: u32::try_from(state.active_jobs.count()).unwrap_or(u32::MAX),
        database: state.database.display().to_string(),
        socket: state.socket.display().to_string(),
        shutting_down: state.is_shutting_down(),
        hash_cache_hits: hashing.hits,
        hash_cache_misses: hashing.misses,
        hashed_bytes: hashing.hashed_bytes,
    }
}

/// This daemon's build id, as `Hello` and the socket's lock file give it; debug builds
/// can pretend to be another build (`ROARD_FAULTS=other-build`) so the tests can show
/// what an upgrade looks like.
pub fn build_id() -> String {
    if crate::faults::injected("other-build") {
        return "0000000000000000".to_string();
    }
    roar_proto::BUILD_ID.to_string()
}
