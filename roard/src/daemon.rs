//! Start-up and shutdown of the daemon: socket, database, gRPC server, signals.

use std::sync::Arc;

use anyhow::Context;
use roar_proto::pb::roar_server::RoarServer;
use tokio::signal::unix::{SignalKind, signal};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;

use crate::listener::{self, BindError};
use crate::service::RoarService;
use crate::state::DaemonState;
use crate::store::JobStore;
use crate::store::sqlite::SqliteStore;
use crate::{auth, sd_notify};

pub use crate::state::Options;

/// Runs the daemon until SIGTERM, SIGINT or a `Shutdown` request, then waits for the
/// jobs it traces to end so none of them loses its tracer mid-run.
pub fn run(options: Options) -> anyhow::Result<()> {
    // Everything roard creates (socket, database, logs) is private to the user.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    // Past a file-size limit, writes should fail (and the record be reported lost), not
    // kill the daemon.
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory-safety impact.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(options))
}

async fn serve(options: Options) -> anyhow::Result<()> {
    let (listener, socket_guard) =
        match listener::bind(&options.socket, &crate::service::build_id()) {
            Ok(bound) => bound,
            Err(BindError::AlreadyRunning(path)) => {
                // Two roarctl processes may auto-start a daemon at the same moment; the
                // loser just leaves.
                tracing::info!("another roard already serves {}; exiting", path.display());
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
    let store = SqliteStore::open(&options.database).await?;
    let interrupted = store.mark_running_jobs_interrupted().await?;
    if interrupted > 0 {
        tracing::warn!("{interrupted} job(s) from a previous daemon marked interrupted");
    }
    let state = DaemonState::new(&options, Arc::new(store));
    spawn_signal_watcher(Arc::clone(&state))?;

    let service =
        RoarServer::with_interceptor(RoarService::new(Arc::clone(&state)), auth::check_peer);
    tracing::info!(
        "roard {} listening on {} (database {})",
        roar_proto::VERSION,
        options.socket.display(),
        options.database.display()
    );
    crate::tracer::helper::prepare_spare();
    sd_notify::notify("READY=1");
    let stop = {
        let state = Arc::clone(&state);
        async move { drained(&state).await }
    };
    Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop)
        .await
        .context("the gRPC server failed")?;

    // A job that slipped in as the server stopped is still waited for; a job that
    // ended while draining started a new spare, let go here too.
    state.active_jobs.wait_idle().await;
    crate::tracer::helper::discard_spare();
    state.store.close().await;
    drop(socket_guard);
    tracing::info!("roard stopped");
    Ok(())
}

/// Resolves once a shutdown was asked for and the traced jobs have ended. Until then
/// the server keeps answering, so `roarctl daemon status` can say it is stopping and
/// queries still work; `Run` refuses new jobs meanwhile (`service/run.rs`).
async fn drained(state: &DaemonState) {
    state.shutdown_requested().await;
    sd_notify::notify("STOPPING=1");
    let running = state.active_jobs.count();
    if running > 0 {
        tracing::info!("waiting for {running} traced job(s) to end before exiting");
    }
    crate::tracer::helper::discard_spare();
    state.active_jobs.wait_idle().await;
}

fn spawn_signal_watcher(state: Arc<DaemonState>) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
            if state.is_shutting_down() {
                tracing::info!(
                    "already stopping; still waiting for {} traced job(s)",
                    state.active_jobs.count()
                );
            }
            state.request_shutdown();
        }
    });
    Ok(())
}
