//! Builds the classic-BPF seccomp program that roarctl's child installs before exec.
//!
//! roard owns the syscall table, so it also owns the filter: roarctl receives the
//! program as bytes in the `Attached` event and installs it unchanged. That keeps the
//! list of traced syscalls in exactly one place.

use super::syscalls::SyscallTable;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_JMP_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
/// x32 syscalls on x86_64 carry this bit; they use other numbers, so they are traced.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[derive(Clone, Copy)]
struct Instruction {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

fn stmt(code: u16, k: u32) -> Instruction {
    Instruction {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Instruction {
    Instruction { code, jt, jf, k }
}

/// The filter for `table`, serialised as `struct sock_filter[]` in native byte order.
///
/// Layout: a foreign architecture (32-bit compat calls, x32) is traced wholesale, so
/// nothing slips past under another numbering; then one `jeq` per traced syscall.
pub fn build(table: &SyscallTable) -> Vec<u8> {
    let mut program = vec![
        stmt(BPF_LD_W_ABS, OFFSET_ARCH),
        // Native arch: skip the next instruction (the foreign-arch TRACE).
        jump(BPF_JMP_JEQ_K, table.audit_arch, 1, 0),
        stmt(BPF_RET_K, SECCOMP_RET_TRACE),
        stmt(BPF_LD_W_ABS, OFFSET_NR),
        jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1),
        stmt(BPF_RET_K, SECCOMP_RET_TRACE),
    ];
    let count = table.entries.len();
    for (index, (nr, _)) in table.entries.iter().enumerate() {
        // On a match jump to the TRACE return just past the remaining checks and ALLOW.
        let remaining = count - index - 1;
        let to_trace = u8::try_from(remaining + 1).expect("syscall table fits a BPF jump");
        program.push(jump(BPF_JMP_JEQ_K, *nr, to_trace, 0));
    }
    program.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
    program.push(stmt(BPF_RET_K, SECCOMP_RET_TRACE));

    let mut bytes = Vec::with_capacity(program.len() * 8);
    for instruction in program {
        bytes.extend_from_slice(&instruction.code.to_ne_bytes());
        bytes.push(instruction.jt);
        bytes.push(instruction.jf);
        bytes.extend_from_slice(&instruction.k.to_ne_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracer::syscalls::NATIVE;

    /// A tiny interpreter for the instructions `build` emits, to check the program's
    /// meaning rather than its bytes.
    fn run(bytes: &[u8], arch: u32, nr: u32) -> u32 {
        let program: Vec<Instruction> = bytes
            .chunks_exact(8)
            .map(|c| Instruction {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = program[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => acc = if i.k == OFFSET_ARCH { arch } else { nr },
                BPF_JMP_JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                BPF_JMP_JGE_K => pc += usize::from(if acc >= i.k { i.jt } else { i.jf }),
                BPF_RET_K => return i.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn traces_exactly_the_table_on_the_native_arch() {
        let program = build(&NATIVE);
        for (nr, _) in NATIVE.entries {
            assert_eq!(run(&program, NATIVE.audit_arch, *nr), SECCOMP_RET_TRACE);
        }
        for nr in [0, 1, 3, 4, 9, 500] {
            if NATIVE.lookup(nr.into()).is_none() {
                assert_eq!(run(&program, NATIVE.audit_arch, nr), SECCOMP_RET_ALLOW);
            }
        }
        assert_eq!(run(&program, 0x4000_0003, 5), SECCOMP_RET_TRACE);
        assert_eq!(
            run(&program, NATIVE.audit_arch, X32_SYSCALL_BIT | 2),
            SECCOMP_RET_TRACE
        );
    }
}
