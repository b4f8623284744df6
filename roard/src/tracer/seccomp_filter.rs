//! Builds the classic-BPF seccomp program that roarctl's child installs before exec.
//!
//! roard owns the syscall table, so it also owns the filter: roarctl receives the
//! program as bytes in the `Attached` event and installs it unchanged. That keeps the
//! list of traced syscalls in exactly one place.

use super::syscalls::{SyscallTable, TracedSyscall};

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_JMP_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;
const BPF_JMP_JA: u16 = 0x05;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
/// `SECCOMP_RET_ERRNO | ENOSYS`: the call fails as on a kernel without it.
const SECCOMP_RET_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32;
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
/// `seccomp_data.instruction_pointer`, a u64: its low half first on little-endian.
const OFFSET_IP_LOW: u32 = 8;
const OFFSET_IP_HIGH: u32 = 12;
/// `seccomp_data.args[i]`, u64 each: the low half (where open flags are) first.
const OFFSET_ARGS: u32 = 16;
/// Open flags that may make an open read or change content; an open without them that
/// has `O_DIRECTORY`, or any with `O_PATH`, records nothing (see `FileTracker`), so it
/// need not stop. `__O_TMPFILE` is the bit `O_TMPFILE` adds to `O_DIRECTORY`.
const CONTENT_FLAGS: u32 =
    (libc::O_ACCMODE | libc::O_CREAT | libc::O_TRUNC | (libc::O_TMPFILE & !libc::O_DIRECTORY))
        as u32;

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

/// The filter for `abis` (native first), serialised as `struct sock_filter[]` in
/// native byte order.
///
/// Layout: per architecture a block that tests the syscall number against that ABI's
/// table (an ABI marked by a number bit, x32, is tested first within its architecture);
/// a call of an architecture with no table is traced wholesale, so nothing slips past
/// under another numbering (the tracer counts such calls, it does not guess).
/// `refuse_io_uring` makes `io_uring_setup` fail with `ENOSYS` instead of stopping.
///
/// With `fast_path_ip`, the first test lets through every call made from that
/// instruction pointer (all 64 bits compared): the fast path's stub (see
/// `fast_ring`), whose calls the preload library records itself.
pub fn build(abis: &[SyscallTable], refuse_io_uring: bool, fast_path_ip: Option<u64>) -> Vec<u8> {
    let mut program = Vec::new();
    if let Some(ip) = fast_path_ip {
        program.extend(allow_from(ip));
    }
    let mut arches: Vec<u32> = abis.iter().map(|t| t.audit_arch).collect();
    arches.dedup();
    for arch in arches {
        let tables = abis.iter().filter(|t| t.audit_arch == arch);
        let block = arch_block(tables, refuse_io_uring);
        program.push(stmt(BPF_LD_W_ABS, OFFSET_ARCH));
        program.push(jump(BPF_JMP_JEQ_K, arch, 0, jump_len(block.len())));
        program.extend(block);
    }
    program.push(stmt(BPF_RET_K, SECCOMP_RET_TRACE));
    serialise(&program)
}

/// ALLOW when the instruction pointer is `ip`; otherwise on to the next instruction.
fn allow_from(ip: u64) -> [Instruction; 5] {
    [
        stmt(BPF_LD_W_ABS, OFFSET_IP_LOW),
        jump(BPF_JMP_JEQ_K, ip as u32, 0, 3),
        stmt(BPF_LD_W_ABS, OFFSET_IP_HIGH),
        jump(BPF_JMP_JEQ_K, (ip >> 32) as u32, 0, 1),
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    ]
}

/// One architecture's tests: load the number, then for each ABI with a number bit
/// a jump to its list when the bit is set, then the plain ABI's list.
fn arch_block<'a>(
    tables: impl Iterator<Item = &'a SyscallTable>,
    refuse_io_uring: bool,
) -> Vec<Instruction> {
    let (marked, plain): (Vec<&SyscallTable>, Vec<&SyscallTable>) =
        tables.partition(|t| t.nr_bit != 0);
    let quiet = quiet_opens(marked.iter().chain(&plain).copied());
    let refused =
        |syscall: &TracedSyscall| refuse_io_uring && matches!(syscall, TracedSyscall::IoUringSetup);
    // The numbers `table` stops, and those it refuses, with its number bit.
    let split = |table: &SyscallTable| {
        let (refuse, trace): (Vec<_>, Vec<_>) = table
            .entries
            .iter()
            .partition(|(_, syscall)| refused(syscall));
        let with_bit = |list: Vec<&(u32, TracedSyscall)>| {
            list.into_iter()
                .map(|(nr, _)| nr | table.nr_bit)
                .collect::<Vec<u32>>()
        };
        (with_bit(trace), with_bit(refuse))
    };
    let mut block = quiet;
    block.push(stmt(BPF_LD_W_ABS, OFFSET_NR));
    for table in marked {
        let (trace, refuse) = split(table);
        let list = number_list(trace.into_iter(), refuse.into_iter());
        // Bit clear: skip this ABI's list.
        block.push(jump(BPF_JMP_JSET_K, table.nr_bit, 0, jump_len(list.len())));
        block.extend(list);
    }
    match plain.first() {
        Some(table) => {
            let (trace, refuse) = split(table);
            block.extend(number_list(trace.into_iter(), refuse.into_iter()));
        }
        None => block.push(stmt(BPF_RET_K, SECCOMP_RET_TRACE)),
    }
    block
}

/// Lets through, without a stop, the opens that record nothing: a read-only
/// `O_DIRECTORY` open (`opendir`) or an `O_PATH` one. Per open-like number a jump to
/// the test of its flags argument; anything else goes on to the block that follows.
fn quiet_opens<'a>(tables: impl Iterator<Item = &'a SyscallTable>) -> Vec<Instruction> {
    let opens: Vec<(u32, usize)> = tables
        .flat_map(|table| {
            table
                .entries
                .iter()
                .filter_map(move |(nr, syscall)| match syscall {
                    TracedSyscall::Open { flags, .. } => Some((nr | table.nr_bit, *flags)),
                    _ => None,
                })
        })
        .collect();
    let mut args: Vec<usize> = opens.iter().map(|(_, arg)| *arg).collect();
    args.sort_unstable();
    args.dedup();
    const TEST_LEN: usize = 5;
    let mut block = vec![stmt(BPF_LD_W_ABS, OFFSET_NR)];
    for (index, (nr, arg)) in opens.iter().enumerate() {
        let position = args.iter().position(|a| a == arg).unwrap_or(0);
        // From after this jump: the rest of the list, the `ja`, the earlier tests.
        let to_test = opens.len() - index - 1 + 1 + position * TEST_LEN;
        block.push(jump(BPF_JMP_JEQ_K, *nr, jump_len(to_test), 0));
    }
    let tests_len = args.len() * TEST_LEN + 1;
    block.push(stmt(BPF_JMP_JA, tests_len as u32));
    for (position, arg) in args.iter().enumerate() {
        // From the end of this test: the later tests, then ALLOW.
        let to_allow = (args.len() - position - 1) * TEST_LEN;
        let offset = OFFSET_ARGS + 8 * *arg as u32;
        block.extend([
            stmt(BPF_LD_W_ABS, offset),
            jump(
                BPF_JMP_JSET_K,
                libc::O_PATH as u32,
                jump_len(to_allow + 3),
                0,
            ),
            jump(BPF_JMP_JSET_K, CONTENT_FLAGS, jump_len(to_allow + 3), 0),
            jump(
                BPF_JMP_JSET_K,
                libc::O_DIRECTORY as u32,
                jump_len(to_allow + 1),
                0,
            ),
            stmt(BPF_JMP_JA, (to_allow + 1) as u32),
        ]);
    }
    block.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
    block
}

/// `jeq` per refused number, each jumping to an ENOSYS return, then per traced
/// number, each jumping to a TRACE return; ALLOW when none matched.
fn number_list(
    traced: impl Iterator<Item = u32>,
    refused: impl Iterator<Item = u32>,
) -> Vec<Instruction> {
    let (traced, refused): (Vec<u32>, Vec<u32>) = (traced.collect(), refused.collect());
    let total = refused.len() + traced.len();
    let mut list = Vec::with_capacity(total + 3);
    for (index, nr) in refused.iter().chain(&traced).enumerate() {
        // From instruction `index`: skip the rest of the list and ALLOW to reach
        // TRACE, and TRACE too to reach ENOSYS.
        let to_trace = total - index;
        let target = if index < refused.len() {
            to_trace + 1
        } else {
            to_trace
        };
        list.push(jump(BPF_JMP_JEQ_K, *nr, jump_len(target), 0));
    }
    list.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
    list.push(stmt(BPF_RET_K, SECCOMP_RET_TRACE));
    list.push(stmt(BPF_RET_K, SECCOMP_RET_ENOSYS));
    list
}

/// A forward jump over `len` instructions; the tables are far smaller than BPF's
/// 255-instruction reach (checked by the tests).
fn jump_len(len: usize) -> u8 {
    u8::try_from(len).unwrap_or(u8::MAX)
}

fn serialise(program: &[Instruction]) -> Vec<u8> {
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
    use crate::tracer::syscalls::ABIS;

    /// A tiny interpreter for the instructions `build` emits, to check the program's
    /// meaning rather than its bytes.
    fn run(bytes: &[u8], arch: u32, nr: u32) -> u32 {
        run_at(bytes, arch, nr, 0x1234_5678_9abc)
    }

    fn run_at(bytes: &[u8], arch: u32, nr: u32, ip: u64) -> u32 {
        run_with(bytes, arch, nr, ip, [0; 6])
    }

    fn run_with(bytes: &[u8], arch: u32, nr: u32, ip: u64, args: [u64; 6]) -> u32 {
        let program: Vec<Instruction> = bytes
            .chunks_exact(8)
            .map(|c| Instruction {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        assert!(program.len() < 255, "every jump reaches its target");
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = program[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => {
                    acc = match i.k {
                        OFFSET_ARCH => arch,
                        OFFSET_NR => nr,
                        OFFSET_IP_LOW => ip as u32,
                        OFFSET_IP_HIGH => (ip >> 32) as u32,
                        o if (OFFSET_ARGS..OFFSET_ARGS + 48).contains(&o) && o % 8 == 0 => {
                            args[((o - OFFSET_ARGS) / 8) as usize] as u32
                        }
                        other => panic!("unexpected offset {other}"),
                    }
                }
                BPF_JMP_JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                BPF_JMP_JSET_K => pc += usize::from(if acc & i.k != 0 { i.jt } else { i.jf }),
                BPF_JMP_JA => pc += i.k as usize,
                BPF_RET_K => return i.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn traces_exactly_each_abis_table() {
        for refuse_io_uring in [true, false] {
            let program = build(ABIS, refuse_io_uring, None);
            for table in ABIS {
                for (nr, syscall) in table.entries {
                    let nr = nr | table.nr_bit;
                    // io_uring would move file operations out of sight: by default it
                    // is refused, as on a kernel without it, so programs fall back to
                    // the calls that are traced.
                    let expected = match syscall {
                        TracedSyscall::IoUringSetup if refuse_io_uring => SECCOMP_RET_ENOSYS,
                        _ => SECCOMP_RET_TRACE,
                    };
                    assert_eq!(
                        run(&program, table.audit_arch, nr),
                        expected,
                        "{} {nr}",
                        table.name
                    );
                }
                for nr in [0, 1, 3, 4, 6, 9, 500] {
                    if table.lookup(nr.into()).is_none() {
                        let nr = nr | table.nr_bit;
                        assert_eq!(
                            run(&program, table.audit_arch, nr),
                            SECCOMP_RET_ALLOW,
                            "{} {nr}",
                            table.name
                        );
                    }
                }
            }
            // An architecture without a table: everything stops, nothing is decoded.
            assert_eq!(run(&program, 0x4000_0028, 5), SECCOMP_RET_TRACE);
        }
    }

    /// Opens that record nothing pass without a stop, in every ABI; an open that may
    /// read or change content still stops, whatever else its flags say.
    #[test]
    fn opens_that_record_nothing_do_not_stop() {
        use libc::{O_CREAT, O_DIRECTORY, O_PATH, O_RDONLY, O_RDWR, O_TMPFILE, O_TRUNC, O_WRONLY};
        let program = build(ABIS, true, None);
        let quiet = [
            O_RDONLY | O_DIRECTORY,
            O_DIRECTORY | libc::O_CLOEXEC,
            O_PATH,
            O_PATH | O_WRONLY,
        ];
        let loud = [
            O_RDONLY,
            O_WRONLY | O_DIRECTORY,
            O_RDONLY | O_DIRECTORY | O_CREAT,
            O_RDONLY | O_DIRECTORY | O_TRUNC,
            O_TMPFILE | O_RDWR,
            O_RDWR,
        ];
        for table in ABIS {
            for (nr, syscall) in table.entries {
                let nr = nr | table.nr_bit;
                let TracedSyscall::Open { flags, .. } = syscall else {
                    // Every other call stops whatever its arguments.
                    let args = [u64::from((O_RDONLY | O_DIRECTORY) as u32); 6];
                    let plain = run(&program, table.audit_arch, nr);
                    assert_eq!(run_with(&program, table.audit_arch, nr, 0, args), plain);
                    continue;
                };
                let with = |value: i32| {
                    let mut args = [0u64; 6];
                    args[*flags] = u64::from(value as u32);
                    run_with(&program, table.audit_arch, nr, 0, args)
                };
                for value in quiet {
                    assert_eq!(
                        with(value),
                        SECCOMP_RET_ALLOW,
                        "{} {nr} {value:#o}",
                        table.name
                    );
                }
                for value in loud {
                    assert_eq!(
                        with(value),
                        SECCOMP_RET_TRACE,
                        "{} {nr} {value:#o}",
                        table.name
                    );
                }
            }
        }
    }

    /// Only the stub's exact address passes untraced: an address that differs in the
    /// high half, or by one byte, still stops.
    #[test]
    fn the_fast_path_address_alone_passes_untraced() {
        let ip = 0x7a30_0002;
        let program = build(ABIS, true, Some(ip));
        for table in ABIS {
            for (nr, _) in table.entries {
                let nr = nr | table.nr_bit;
                assert_eq!(
                    run_at(&program, table.audit_arch, nr, ip),
                    SECCOMP_RET_ALLOW
                );
                for other in [ip + 1, ip - 2, ip | 1 << 32, ip | 1 << 63] {
                    assert_ne!(
                        run_at(&program, table.audit_arch, nr, other),
                        SECCOMP_RET_ALLOW
                    );
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn each_abi_is_decoded_by_its_own_table() {
        use crate::tracer::syscalls::{TracedSyscall, X32_SYSCALL_BIT, table_for};
        let i386 = 0x4000_0003;
        let x86_64 = 0xc000_003e;
        // i386 readlink (85) and getrusage (77) are x86_64's creat and ftruncate.
        let table = table_for(i386, 85).unwrap();
        assert_eq!(table.name, "i386");
        assert_eq!(table.lookup(85), None);
        assert_eq!(table.lookup(77), None);
        assert!(matches!(table.lookup(5), Some(TracedSyscall::Open { .. })));
        assert!(matches!(
            table_for(x86_64, 85).unwrap().lookup(85),
            Some(TracedSyscall::Creat { .. })
        ));
        let x32 = u64::from(X32_SYSCALL_BIT | 257);
        assert_eq!(table_for(x86_64, x32).unwrap().name, "x32");
        assert!(matches!(
            table_for(x86_64, x32).unwrap().lookup(x32),
            Some(TracedSyscall::Open { .. })
        ));
        assert!(table_for(0x4000_0028, 5).is_none());
    }
}
