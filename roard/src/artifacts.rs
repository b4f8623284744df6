//! Turns a finished trace's file accesses into what is stored: each input and output
//! with its content identity. Runs off the async runtime (it reads whole files).

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::hashing::{Content, hash_regular_file};
use crate::tracer::file_ledger::{FileAccess, Role};

/// An input or output ready to be stored.
#[derive(Debug)]
pub struct RecordedFile {
    pub path: Vec<u8>,
    pub named: Option<Vec<u8>>,
    pub role: Role,
    /// None when the content could not be read.
    pub content: Option<Content>,
    pub pre_image: bool,
}

/// Hashes what the tracer did not already capture. Outputs that no longer exist and
/// files that are not regular files (directories, FIFOs, devices) are left out.
pub fn hash_accesses(accesses: Vec<FileAccess>) -> Vec<RecordedFile> {
    accesses
        .into_iter()
        .filter_map(|access| {
            let (content, pre_image) = match access.pre_image {
                Some(content) => (Some(content), true),
                None => match hash_regular_file(Path::new(OsStr::from_bytes(&access.path))) {
                    Ok(content) => (Some(content), false),
                    Err(e) if e.kind() == io::ErrorKind::InvalidInput => return None,
                    Err(e) if e.kind() == io::ErrorKind::NotFound && access.role == Role::Output => {
                        return None;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return None,
                    Err(e) => {
                        tracing::warn!(
                            "cannot hash {}: {e}",
                            String::from_utf8_lossy(&access.path)
                        );
                        (None, false)
                    }
                },
            };
            Some(RecordedFile {
                path: access.path,
                named: access.named,
                role: access.role,
                content,
                pre_image,
            })
        })
        .collect()
}
