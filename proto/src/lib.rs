//! What `roarctl` and `roard` share: the gRPC messages generated from `roar.proto`,
//! where the daemon's socket lives, the configuration files, and what a project is.
//! Both binaries must agree on each of these, so they live here and nowhere else.

pub mod config;
pub mod graph;
pub mod project;
pub mod socket_path;
pub mod vocabulary;

/// Generated protobuf messages and tonic client/server for `roar.v1`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("roar.v1");
}

/// gRPC metadata key roard sets on a refusal that is the user's policy at work (not a
/// failure), so roarctl can exit with the usage/policy status 2. Its value names the
/// policy: `dirty-repository`.
pub const REFUSAL_METADATA: &str = "roar-refusal";

/// How many inputs and how many outputs a `JobFinished` lists (`roarctl run` prints
/// them after the job; more are counted, not listed).
pub const FINISHED_FILES_LISTED: usize = 8;

/// Version of the protocol crate, shown to users.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What roarctl and roard compare in `Hello` to know they are of one build: 16 hex
/// digits of BLAKE3 over the version and the text of `roar.proto` (see `build.rs`), so
/// any change of the protocol changes it even while the version stays the same.
pub const BUILD_ID: &str = env!("ROAR_BUILD_ID");
