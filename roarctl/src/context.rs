//! What every command needs: where the daemon is and whether it may be started.

use std::path::PathBuf;

use crate::connection::{self, Client};

pub struct Context {
    pub socket: PathBuf,
    pub autostart: bool,
    pub quiet: bool,
    /// The user's configuration file, passed to roard so both read the same one.
    pub user_config: Option<PathBuf>,
    /// `--color`.
    pub color: crate::render::ColorChoice,
    /// `registry.url` of the configuration.
    pub registry_url: Option<String>,
    /// `[env]` of the configuration: set in every run and build job.
    pub job_env: Vec<(String, String)>,
    /// `labels.inherit`: keys set as inherited by default.
    pub inherited_keys: Vec<String>,
    /// `policy.refuse_put`: labels (`key=value`) that are not published.
    pub refuse_put: Vec<String>,
}

impl Context {
    /// A client for the daemon, started first if allowed and needed (and replaced if
    /// it is of another build and idle).
    pub async fn client(&self) -> anyhow::Result<Client> {
        connection::connect_or_start(&self.socket, self.autostart, self.quiet).await
    }
}
