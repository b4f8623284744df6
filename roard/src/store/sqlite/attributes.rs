//! File attributes (`chattr`) that matter to SQLite, read with `statx`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Whether `path` carries the immutable or append-only attribute. A file that cannot
/// be examined (or does not exist yet) is not reported: SQLite will say what is wrong.
pub fn immutable_or_append_only(path: &Path) -> bool {
    let Ok(name) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statx writes one `struct statx` into the zeroed buffer; `name` is a valid
    // NUL-terminated string for the duration of the call.
    let (rc, buffer) = unsafe {
        let mut buffer: libc::statx = std::mem::zeroed();
        let rc = libc::statx(libc::AT_FDCWD, name.as_ptr(), 0, 0, &mut buffer);
        (rc, buffer)
    };
    let wanted = (libc::STATX_ATTR_IMMUTABLE | libc::STATX_ATTR_APPEND) as u64;
    rc == 0 && buffer.stx_attributes_mask & wanted != 0 && buffer.stx_attributes & wanted != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_and_missing_files_are_writable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(!immutable_or_append_only(&file));
        assert!(!immutable_or_append_only(&dir.path().join("missing")));
    }
}
