//! The contract shared by `roarctl` and `roard`: the gRPC messages generated from
//! `roar.proto`, and where the daemon's socket lives. Both binaries must agree on both,
//! so both live here and nowhere else.

pub mod socket_path;

/// Generated protobuf messages and tonic client/server for `roar.v1`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("roar.v1");
}

/// Version of the protocol crate; roarctl and roard compare it in `Hello`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
