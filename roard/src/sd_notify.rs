//! The `sd_notify` readiness protocol: one datagram to `$NOTIFY_SOCKET`. Small enough
//! to write here rather than pull in a crate.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Tells systemd (when it started us with `Type=notify`) that we accept connections.
/// Outside systemd this does nothing.
pub fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let target = target.to_string_lossy().into_owned();
    let address = match target.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(&target),
    };
    let result = address.and_then(|address| {
        let socket = UnixDatagram::unbound()?;
        socket.send_to_addr(state.as_bytes(), &address)
    });
    if let Err(e) = result {
        tracing::warn!("sd_notify to {target} failed: {e}");
    }
}
