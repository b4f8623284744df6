//! The fast path's preload library (`preload/roar_preload.c`), built into roard by
//! `build.rs` and written out at start-up under a name made from its content. Carrying
//! it inside the binary means the library can never be missing or of another version
//! than the roard that traces with it, wherever roard was installed from (`cargo
//! install` copies binaries only).

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The library's bytes; empty where the fast path is not built (not x86_64).
static LIBRARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libroar_preload.so"));

/// Writes the library into the first of `dirs` it can be loaded from, unless it is
/// there already, and returns its path; None when the fast path cannot be had here
/// (why is logged).
pub fn install(dirs: &[PathBuf]) -> Option<PathBuf> {
    if LIBRARY.is_empty() {
        tracing::info!(
            "the fast path is not built for this architecture; tracing with ptrace only"
        );
        return None;
    }
    if !glibc_has_dlsym() {
        tracing::info!(
            "this glibc is older than 2.34 (its libc has no dlsym, which the fast path's \
             spawn wrappers need); tracing with ptrace only"
        );
        return None;
    }
    let name = format!("roar-preload-{}.so", &blake3::hash(LIBRARY).to_hex()[..16]);
    for dir in dirs {
        let path = dir.join(&name);
        match usable_at(dir, &path) {
            Ok(()) => return Some(path),
            Err(why) => tracing::info!("fast path library not in {}: {why}", dir.display()),
        }
    }
    tracing::warn!("no directory can hold the fast path's library; tracing with ptrace only");
    None
}

/// Whether the C library roard runs with (the machine's) is glibc 2.34 or later, whose
/// libc.so.6 holds `dlsym`.
#[cfg(target_env = "gnu")]
fn glibc_has_dlsym() -> bool {
    unsafe extern "C" {
        fn gnu_get_libc_version() -> *const std::ffi::c_char;
    }
    // SAFETY: glibc returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
    let mut parts = version.to_str().unwrap_or("").split('.');
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (2, 34)
}

/// Not glibc: the library is built for glibc's ld.so only.
#[cfg(not(target_env = "gnu"))]
fn glibc_has_dlsym() -> bool {
    false
}

/// Whether `path` in `dir` holds the library, written now if needed, and can be named
/// in `LD_PRELOAD` and mapped executable.
fn usable_at(dir: &Path, path: &Path) -> Result<(), String> {
    let bytes = path.as_os_str().as_bytes();
    if bytes
        .iter()
        .any(|b| matches!(b, b':' | b' ' | b'\t' | b'\n'))
    {
        return Err("LD_PRELOAD cannot name a path with a colon or a space".into());
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    if nix::sys::statvfs::statvfs(dir)
        .map_err(|e| e.to_string())?
        .flags()
        .contains(nix::sys::statvfs::FsFlags::ST_NOEXEC)
    {
        return Err("mounted noexec".into());
    }
    if std::fs::read(path).is_ok_and(|present| present == LIBRARY) {
        return Ok(());
    }
    let staging = dir.join(format!(".{}.{}", std::process::id(), "preload.tmp"));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(&staging)
        .and_then(|mut file| {
            file.write_all(LIBRARY)?;
            file.set_permissions(std::fs::Permissions::from_mode(0o755))?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&staging, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&staging);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_is_written_once_and_found_again() {
        if LIBRARY.is_empty() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let first = install(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(std::fs::read(&first).unwrap(), LIBRARY);
        let mode = std::fs::metadata(&first).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(install(&[dir.path().to_path_buf()]).unwrap(), first);
    }

    #[test]
    fn a_directory_ld_preload_cannot_name_is_passed_over() {
        if LIBRARY.is_empty() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("with space");
        let good = dir.path().join("plain");
        let path = install(&[bad, good.clone()]).unwrap();
        assert!(path.starts_with(&good), "{}", path.display());
    }
}
