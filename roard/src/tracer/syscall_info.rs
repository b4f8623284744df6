//! `PTRACE_GET_SYSCALL_INFO`: number, arguments and result of the syscall a tracee is
//! stopped in, in one request and the same way on every architecture.

use nix::unistd::Pid;

const OP_SECCOMP: u8 = 3;
const OP_EXIT: u8 = 2;

/// `struct ptrace_syscall_info` (linux/ptrace.h); the union is read as raw words.
#[repr(C)]
#[derive(Default)]
struct RawInfo {
    op: u8,
    _reserved: u8,
    _flags: u16,
    arch: u32,
    _instruction_pointer: u64,
    _stack_pointer: u64,
    data: [u64; 8],
}

/// What a stopped tracee is doing.
pub enum SyscallStop {
    /// Seccomp stop at entry: the syscall has not run yet. `arch` is the
    /// `AUDIT_ARCH_*` of the call (a 64-bit process can make 32-bit calls).
    Entry {
        arch: u32,
        nr: u64,
        args: [u64; 6],
    },
    /// Syscall-exit stop: `result` is the return value, or `-errno`.
    Exit {
        result: i64,
    },
    Other,
}

pub fn read(tid: Pid) -> Option<SyscallStop> {
    let mut info = RawInfo::default();
    // SAFETY: the kernel writes at most `size` bytes into `info`.
    let written = unsafe {
        libc::ptrace(
            libc::PTRACE_GET_SYSCALL_INFO,
            tid.as_raw(),
            std::mem::size_of::<RawInfo>(),
            &mut info as *mut RawInfo,
        )
    };
    if written <= 0 {
        return None;
    }
    Some(match info.op {
        OP_SECCOMP => {
            let mut args = [0u64; 6];
            args.copy_from_slice(&info.data[1..7]);
            SyscallStop::Entry {
                arch: info.arch,
                nr: info.data[0],
                args,
            }
        }
        OP_EXIT => SyscallStop::Exit {
            result: info.data[0] as i64,
        },
        _ => SyscallStop::Other,
    })
}
