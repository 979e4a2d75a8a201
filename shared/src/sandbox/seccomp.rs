//! A seccomp filter for kernels whose Landlock cannot restrict pathname
//! UNIX sockets (ABI < 9, `AccessFs::ResolveUnix`): `socket(AF_UNIX, …)`
//! fails with EACCES, so a tool cannot talk to a local service through its
//! socket file (MariaDB's `/run/mysqld/mysqld.sock` is world-writable, and
//! connecting needs no Landlock right there). `socketpair`, which runtimes
//! use internally, stays allowed.
//!
//! Also refused, because the filter could not see through them: io_uring
//! (it creates sockets without a `socket` system call; ENOSYS, runtimes
//! fall back), x32 system calls, and system calls of another architecture
//! (32-bit entry points). Built in the parent; `child.rs` installs it.

use libc::sock_filter;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
/// `struct seccomp_data`: nr, arch, then the arguments from byte 16 (the
/// low half of args[0] on little-endian machines).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0_LOW: u32 = 16;

#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: Option<u32> = Some(0xC000_003E); // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: Option<u32> = Some(0xC000_00B7); // AUDIT_ARCH_AARCH64
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const NATIVE_ARCH: Option<u32> = None;

/// x32 system call numbers carry this bit.
const X32_BIT: u32 = 0x4000_0000;

/// Where a jump goes: the next instruction or one of the returns.
#[derive(Clone, Copy)]
enum To {
    Next,
    Allow,
    Eacces,
    Enosys,
}

enum Op {
    Load(u32),
    Jeq(u32, To, To),
    Jge(u32, To, To),
}

/// The filter's instructions, or `None` on an architecture this filter
/// does not know (the sandbox then reports UNIX sockets as unguarded).
pub fn unix_socket_filter() -> Option<Vec<sock_filter>> {
    let arch = NATIVE_ARCH?;
    let socket = u32::try_from(libc::SYS_socket).ok()?;
    let io_uring_setup = u32::try_from(libc::SYS_io_uring_setup).ok()?;
    let af_unix = u32::try_from(libc::AF_UNIX).ok()?;
    let mut ops = vec![
        Op::Load(ARCH),
        Op::Jeq(arch, To::Next, To::Enosys),
        Op::Load(NR),
    ];
    if cfg!(target_arch = "x86_64") {
        ops.push(Op::Jge(X32_BIT, To::Enosys, To::Next));
    }
    ops.extend([
        Op::Jeq(io_uring_setup, To::Enosys, To::Next),
        Op::Jeq(socket, To::Next, To::Allow),
        Op::Load(ARG0_LOW),
        Op::Jeq(af_unix, To::Eacces, To::Allow),
    ]);
    // The three returns follow the jumps, in this order.
    let allow = ops.len();
    let offset = |from: usize, to: To| -> Option<u8> {
        let target = match to {
            To::Next => from + 1,
            To::Allow => allow,
            To::Eacces => allow + 1,
            To::Enosys => allow + 2,
        };
        u8::try_from(target - from - 1).ok()
    };
    let mut program = Vec::with_capacity(ops.len() + 3);
    for (i, op) in ops.iter().enumerate() {
        program.push(match *op {
            Op::Load(at) => instruction(LD_W_ABS, 0, 0, at),
            Op::Jeq(k, yes, no) => instruction(JEQ_K, offset(i, yes)?, offset(i, no)?, k),
            Op::Jge(k, yes, no) => instruction(JGE_K, offset(i, yes)?, offset(i, no)?, k),
        });
    }
    let errno =
        |e: i32| libc::SECCOMP_RET_ERRNO | (u32::try_from(e).unwrap_or(1) & libc::SECCOMP_RET_DATA);
    program.push(instruction(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW));
    program.push(instruction(RET_K, 0, 0, errno(libc::EACCES)));
    program.push(instruction(RET_K, 0, 0, errno(libc::ENOSYS)));
    Some(program)
}

/// What keeps a child off pathname UNIX sockets with this Landlock ABI:
/// `landlock` (ABI 9), `seccomp` (this filter), or `nothing`.
pub fn unix_socket_guard(landlock_abi: u8) -> &'static str {
    if landlock_abi >= 9 {
        "landlock"
    } else if NATIVE_ARCH.is_some() {
        "seccomp"
    } else {
        "nothing"
    }
}

fn instruction(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jump_lands_on_an_instruction_and_the_program_ends_in_returns() {
        let program = unix_socket_filter().expect("x86_64 or aarch64");
        let len = program.len();
        for (i, ins) in program.iter().enumerate() {
            if ins.code == JEQ_K || ins.code == JGE_K {
                assert!(i + 1 + usize::from(ins.jt) < len && i + 1 + usize::from(ins.jf) < len);
            }
        }
        let returns: Vec<u32> = program[len - 3..].iter().map(|i| i.k).collect();
        assert_eq!(
            returns,
            [
                libc::SECCOMP_RET_ALLOW,
                libc::SECCOMP_RET_ERRNO | 13,
                libc::SECCOMP_RET_ERRNO | 38
            ]
        );
        assert!(program[len - 3..].iter().all(|i| i.code == RET_K));
    }
}
