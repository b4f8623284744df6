//! Only the daemon's own user may talk to it. The socket's 0600 mode already says so;
//! checking SO_PEERCRED on every request makes it true even if the mode is loosened.

use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Status};

/// Tonic interceptor: lets a request through only when the peer's uid is ours.
pub fn check_peer(request: Request<()>) -> Result<Request<()>, Status> {
    let me = nix::unistd::geteuid().as_raw();
    let peer = request
        .extensions()
        .get::<UdsConnectInfo>()
        .and_then(|info| info.peer_cred);
    match peer {
        Some(cred) if cred.uid() == me => Ok(request),
        Some(cred) => {
            tracing::warn!(
                "refused a request from uid {} (pid {:?})",
                cred.uid(),
                cred.pid()
            );
            Err(Status::permission_denied(format!(
                "this roard belongs to uid {me}; uid {} may not use it",
                cred.uid()
            )))
        }
        None => Err(Status::permission_denied(
            "peer credentials unavailable; roard only serves its own user over a Unix socket",
        )),
    }
}
