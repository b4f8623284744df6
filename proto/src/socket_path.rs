//! Where roard listens: `$XDG_RUNTIME_DIR/roar/roard.sock`, else a private per-uid
//! directory under `/tmp`. `--socket` / `ROAR_SOCKET` override both (handled by the
//! binaries' argument parsers).

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// File name of the socket inside the runtime directory.
pub const SOCKET_NAME: &str = "roard.sock";

/// The lock file beside `socket`: the daemon serving it holds an exclusive lock on it,
/// and writes its build id into it before it binds the socket, so a client that
/// connects can read which build answers without asking (a `Hello` is a round trip).
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut path = socket.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

/// The directory holding the socket, pid lock and nothing else.
pub fn default_runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("roar"),
        _ => PathBuf::from(format!("/tmp/roar-{}", nix::unistd::geteuid())),
    }
}

/// The socket path used when neither `--socket` nor `ROAR_SOCKET` is given.
pub fn default_socket_path() -> PathBuf {
    default_runtime_dir().join(SOCKET_NAME)
}

#[derive(Debug, thiserror::Error)]
pub enum PrivateDirError {
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error(
        "{path} is owned by uid {owner}, not by you (uid {me}); refusing to use it. \
         Remove it or point ROAR_SOCKET elsewhere"
    )]
    WrongOwner { path: PathBuf, owner: u32, me: u32 },
    #[error("{path} is not a directory; remove it or point ROAR_SOCKET elsewhere")]
    NotADirectory { path: PathBuf },
}

/// Creates `dir` (and parents) if needed and makes sure it is a directory owned by the
/// current user with mode 0700. A directory owned by someone else is refused: in a
/// shared `/tmp`, another user could otherwise pre-create it and watch our socket.
pub fn ensure_private_dir(dir: &Path) -> Result<(), PrivateDirError> {
    let create = |source| PrivateDirError::Create {
        path: dir.to_path_buf(),
        source,
    };
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(create(e)),
    }
    let meta = fs::symlink_metadata(dir).map_err(create)?;
    if !meta.is_dir() {
        return Err(PrivateDirError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(PrivateDirError::WrongOwner {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            me,
        });
    }
    if meta.mode() & 0o777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(create)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dir_is_created_0700_and_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn a_file_in_the_way_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        fs::write(&file, b"").unwrap();
        assert!(matches!(
            ensure_private_dir(&file),
            Err(PrivateDirError::NotADirectory { .. })
        ));
    }
}
