//! Reads from a stopped tracee's memory with `process_vm_readv`: one syscall per page
//! touched instead of one `PTRACE_PEEKDATA` per word.

use std::io::IoSliceMut;

use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

const PAGE: usize = 4096;
/// Longest path the kernel accepts (PATH_MAX, including the NUL).
const PATH_MAX: usize = 4096;

/// Reads the NUL-terminated string at `address` into `out` (without the NUL). Reads
/// stop at page boundaries so a string ending just before unmapped memory still reads.
pub fn read_c_string(pid: Pid, address: u64, out: &mut Vec<u8>) -> bool {
    out.clear();
    if address == 0 {
        return false;
    }
    let mut address = address as usize;
    let mut chunk = [0u8; PAGE];
    while out.len() < PATH_MAX {
        let until_page_end = PAGE - (address % PAGE);
        let length = until_page_end.min(PATH_MAX - out.len());
        let remote = [RemoteIoVec {
            base: address,
            len: length,
        }];
        let mut local = [IoSliceMut::new(&mut chunk[..length])];
        match process_vm_readv(pid, &mut local, &remote) {
            Ok(n) if n > 0 => {
                if let Some(end) = chunk[..n].iter().position(|b| *b == 0) {
                    out.extend_from_slice(&chunk[..end]);
                    return true;
                }
                out.extend_from_slice(&chunk[..n]);
                address += n;
            }
            _ => return false,
        }
    }
    false
}

/// Reads `N` consecutive `u64`s at `address` in one request (`struct open_how` is
/// three: flags, mode, resolve).
pub fn read_u64s<const N: usize>(pid: Pid, address: u64) -> Option<[u64; N]> {
    let mut words = [0u64; N];
    let size = std::mem::size_of_val(&words);
    // SAFETY: `words` is plain integers; any bytes the kernel writes are valid for it.
    let bytes = unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), size) };
    let remote = [RemoteIoVec {
        base: address as usize,
        len: size,
    }];
    let mut local = [IoSliceMut::new(bytes)];
    match process_vm_readv(pid, &mut local, &remote) {
        Ok(read) if read == size => Some(words),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_strings_of_this_process() {
        let text = b"/some/path with spaces\n\xff\0";
        let mut out = Vec::new();
        assert!(read_c_string(Pid::this(), text.as_ptr() as u64, &mut out));
        assert_eq!(out, &text[..text.len() - 1]);
        let value: u64 = 0x1234_5678;
        assert_eq!(
            read_u64s::<1>(Pid::this(), &value as *const u64 as u64),
            Some([value])
        );
        let how: [u64; 3] = [1, 2, 3];
        assert_eq!(read_u64s::<3>(Pid::this(), how.as_ptr() as u64), Some(how));
    }
}
