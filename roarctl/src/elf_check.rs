//! Whether a program will load the fast path's preload library: only a native program
//! that glibc's ld.so runs (or a script whose interpreter is one) gets it: the library
//! is tested under glibc only. A static program would keep roar's entry in its environment for
//! the user to see, and a 32-bit one would make ld.so print an error for it; neither
//! gets it. The library makes the same check before the execs it wraps.

use std::io::Read;
use std::path::Path;

/// `#!` levels the kernel follows before it gives up.
const MAX_SCRIPT_LEVELS: usize = 4;
const EM_X86_64: u16 = 62;
const PT_INTERP: u32 = 3;
const PHDR_SIZE: usize = 56;

pub fn loads_preload(program: &Path) -> bool {
    cfg!(target_arch = "x86_64") && loads_at_level(program, 0)
}

fn loads_at_level(program: &Path, level: usize) -> bool {
    let mut head = [0u8; 1024];
    let Ok(mut file) = std::fs::File::open(program) else {
        return false;
    };
    let Ok(n) = file.read(&mut head) else {
        return false;
    };
    let head = &head[..n];
    if let Some(line) = head.strip_prefix(b"#!") {
        let interpreter = line
            .split(|b| *b == b'\n')
            .next()
            .unwrap_or_default()
            .split(|b| *b == b' ' || *b == b'\t')
            .find(|word| !word.is_empty());
        return level < MAX_SCRIPT_LEVELS
            && interpreter.is_some_and(|path| {
                use std::os::unix::ffi::OsStrExt;
                loads_at_level(Path::new(std::ffi::OsStr::from_bytes(path)), level + 1)
            });
    }
    is_native_dynamic(head)
}

/// A 64-bit little-endian x86_64 ELF file whose `PT_INTERP` (among the program headers
/// `head` holds) names glibc's ld.so.
fn is_native_dynamic(head: &[u8]) -> bool {
    if head.len() < 64 || !head.starts_with(b"\x7fELF") || head[4] != 2 || head[5] != 1 {
        return false;
    }
    let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
    let mut phoff = [0u8; 8];
    phoff.copy_from_slice(&head[32..40]);
    let Ok(phoff) = usize::try_from(u64::from_le_bytes(phoff)) else {
        return false;
    };
    if u16_at(18) != EM_X86_64 {
        return false;
    }
    let u64_at = |i: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&head[i..i + 8]);
        usize::try_from(u64::from_le_bytes(bytes)).unwrap_or(usize::MAX)
    };
    (0..usize::from(u16_at(56)))
        .map(|k| phoff.saturating_add(k.saturating_mul(PHDR_SIZE)))
        .filter(|at| at.saturating_add(PHDR_SIZE) <= head.len())
        .find(|at| {
            u32::from_le_bytes([head[*at], head[at + 1], head[at + 2], head[at + 3]]) == PT_INTERP
        })
        .is_some_and(|at| {
            let (start, size) = (u64_at(at + 8), u64_at(at + 32));
            head.get(start..start.saturating_add(size).min(head.len()))
                .is_some_and(|name| name.windows(8).any(|w| w == b"ld-linux"))
        })
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn dynamic_programs_and_their_scripts_load_it_others_do_not() {
        assert!(loads_preload(Path::new("/bin/sh")));
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        assert!(loads_preload(&script));
        let text = dir.path().join("text");
        std::fs::write(&text, "echo hi\n").unwrap();
        assert!(!loads_preload(&text));
        let loop_script = dir.path().join("loop");
        std::fs::write(&loop_script, format!("#!{}\n", loop_script.display())).unwrap();
        assert!(!loads_preload(&loop_script));
        assert!(!loads_preload(&dir.path().join("missing")));
    }
}
