//! The daemon's socket: one daemon per socket path (an exclusive lock next to it), a
//! stale socket from a dead daemon replaced, the socket made 0600.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use tokio::net::UnixListener;

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("another roard already serves {0}")]
    AlreadyRunning(PathBuf),
    #[error(transparent)]
    PrivateDir(#[from] roar_proto::socket_path::PrivateDirError),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// The lock that makes a bound socket ours. Dropping it removes the socket.
pub struct SocketGuard {
    path: PathBuf,
    _lock: Flock<File>,
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BindError {
    let path = path.to_path_buf();
    move |source| BindError::Io {
        action,
        path,
        source,
    }
}

/// Binds `path`, as the daemon of build `build_id`. The default location's directory is
/// created and checked to be private; a directory named explicitly is created 0700 when
/// missing and otherwise left alone.
pub fn bind(path: &Path, build_id: &str) -> Result<(UnixListener, SocketGuard), BindError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    if path == roar_proto::socket_path::default_socket_path() {
        roar_proto::socket_path::ensure_private_dir(dir)?;
    } else if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error("create", dir))?;
    }

    let lock_path = roar_proto::socket_path::lock_path(path);
    let lock_file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_error("open", &lock_path))?;
    let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock)
        .map_err(|_| BindError::AlreadyRunning(path.to_path_buf()))?;
    // Before the socket exists: whoever connects finds the build that answers.
    lock.set_len(0)
        .and_then(|()| lock.write_all_at(build_id.as_bytes(), 0))
        .map_err(io_error("write the build id into", &lock_path))?;

    // We hold the lock, so whatever socket is there belongs to a daemon that is gone.
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            tracing::info!("removing stale socket {}", path.display());
            fs::remove_file(path).map_err(io_error("remove stale socket", path))?;
        }
        Ok(_) => {
            return Err(BindError::Io {
                action: "bind",
                path: path.to_path_buf(),
                source: io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a file that is not a socket is in the way",
                ),
            });
        }
        Err(_) => {}
    }
    let listener = UnixListener::bind(path).map_err(io_error("bind", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(io_error("chmod", path))?;
    let guard = SocketGuard {
        path: path.to_path_buf(),
        _lock: lock,
    };
    Ok((listener, guard))
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        // Removed while the lock is still held, so a new daemon never loses its socket.
        let _ = fs::remove_file(&self.path);
    }
}
