//! What every request handler shares: the store, the jobs in flight, and whether the
//! daemon is stopping.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::active_jobs::ActiveJobs;
use crate::env_redaction::Redactor;
use crate::hash_algorithms::HashAlgorithm;
use crate::hash_cache::HashCache;
use crate::packages::PackageIndex;
use crate::store::Store;

/// How roard was started: its socket, database and the settings every job shares.
pub struct Options {
    pub socket: PathBuf,
    pub database: PathBuf,
    /// How long processes that outlive a job's root process are recorded.
    pub linger: Duration,
    /// Name fragments that mark environment variables as secret, besides the built-in
    /// ones.
    pub redact_env: Vec<String>,
    /// Hash algorithms computed for every artifact besides BLAKE3.
    pub hash_algorithms: Vec<&'static dyn HashAlgorithm>,
}

pub struct DaemonState {
    pub store: Arc<dyn Store>,
    pub hash_cache: Arc<HashCache>,

    /// Which installed packages own which files; read once, shared by every job.
    pub packages: Arc<PackageIndex>,
    pub active_jobs: ActiveJobs,
    pub started: Instant,
    pub socket: PathBuf,
    pub database: PathBuf,
    /// How long processes that outlive a job's root are recorded.
    pub linger: Duration,
    pub redactor: Redactor,
    /// The fast path's preload library, written out at start-up; None when the fast
    /// path cannot be had here (see `preload_library`).
    pub fast_path_library: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
}

/// Where the preload library may go: beside the socket (a private runtime directory),
/// else beside the database.
fn library_dirs(options: &Options) -> Vec<PathBuf> {
    [&options.socket, &options.database]
        .iter()
        .filter_map(|file| file.parent().map(std::path::Path::to_path_buf))
        .collect()
}

impl DaemonState {
    pub fn new(options: &Options, store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            store,
            hash_cache: Arc::new(HashCache::new(options.hash_algorithms.clone())),
            packages: Arc::new(PackageIndex::default()),
            active_jobs: ActiveJobs::default(),
            started: Instant::now(),
            socket: options.socket.clone(),
            database: options.database.clone(),
            linger: options.linger,
            redactor: Redactor::with_extra(&options.redact_env),
            fast_path_library: crate::preload_library::install(&library_dirs(options)),
            shutdown: watch::channel(false).0,
        })
    }

    /// Asks the daemon to stop accepting work and exit once running jobs end.
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once a shutdown has been requested.
    pub async fn shutdown_requested(&self) {
        let mut receiver = self.shutdown.subscribe();
        let _ = receiver.wait_for(|stopping| *stopping).await;
    }
}
