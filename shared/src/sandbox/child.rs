//! The sandbox steps a child takes between fork and exec, and the
//! platform's only unsafe code.
//!
//! Why unsafe: they run in `CommandExt::pre_exec`, in the forked child of a
//! multi-threaded parent, where only async-signal-safe work is sound —
//! another thread may have held the allocator's (or any) lock at the
//! moment of the fork. So the parent prepares everything beforehand (the
//! Landlock ruleset fd with all its rules, the ids, the limit values) and
//! the closure below only makes system calls, allocating nothing. Order:
//!
//! 1. a new network namespace (`network: none`), while still privileged
//!    (with a new user namespace first when the platform is not root);
//! 2. no supplementary groups, then gid, then uid (root only);
//! 3. rlimits;
//! 4. `no_new_privs`;
//! 5. Landlock `restrict_self` (filesystem, TCP ports, scopes);
//! 6. the seccomp filter against UNIX sockets, where Landlock lacks them;
//! 7. every descriptor above stderr marked close-on-exec.
//!
//! A failed step fails the spawn with its errno; the child never runs
//! unsandboxed.
#![allow(unsafe_code)]

use std::io;

use landlock::{RulesetCreated, RulesetStatus};
use rustix::process::{setrlimit, Gid, Resource, Rlimit, Uid};
use rustix::thread::{
    set_no_new_privs, set_thread_groups, set_thread_res_gid, set_thread_res_uid, UnshareFlags,
};

/// Which namespaces the child unshares for `network: none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkIsolation {
    /// The host's network (`outbound`, or the sandbox off).
    Shared,
    /// A new network namespace (the platform is root).
    NewNetwork,
    /// A new user namespace, then a network namespace in it (not root).
    NewUserAndNetwork,
}

/// Everything the child applies, prepared by the parent.
#[derive(Debug)]
pub struct ChildSteps {
    pub network: NetworkIsolation,
    /// `(uid, gid)` to drop to; the platform runs as root when set.
    pub identity: Option<(u32, u32)>,
    /// Soft and hard value of each limit.
    pub limits: Vec<(Resource, u64)>,
    pub no_new_privs: bool,
    pub landlock: Option<RulesetCreated>,
    /// The `seccomp` module's filter program.
    pub seccomp: Option<Vec<libc::sock_filter>>,
}

/// `prctl(PR_SET_SECCOMP, …)`; the libc crate has the constant for some
/// Linux targets only.
const PR_SET_SECCOMP: libc::c_int = 22;

impl ChildSteps {
    /// Runs in the child: system calls only (see the module docs).
    fn apply(&mut self) -> io::Result<()> {
        let unshare = match self.network {
            NetworkIsolation::Shared => None,
            NetworkIsolation::NewNetwork => Some(UnshareFlags::NEWNET),
            NetworkIsolation::NewUserAndNetwork => {
                Some(UnshareFlags::NEWUSER | UnshareFlags::NEWNET)
            }
        };
        if let Some(flags) = unshare {
            // SAFETY: the flags hold no CLONE_FILES (the only flag that can
            // split descriptor tables between threads), and the forked child
            // has a single thread anyway.
            unsafe { rustix::thread::unshare_unsafe(flags) }?;
        }
        if let Some((uid, gid)) = self.identity {
            // Per-thread calls are the whole process here: the child has one thread.
            set_thread_groups(&[])?;
            let gid = Gid::from_raw(gid);
            set_thread_res_gid(gid, gid, gid)?;
            let uid = Uid::from_raw(uid);
            set_thread_res_uid(uid, uid, uid)?;
        }
        for (resource, value) in &self.limits {
            setrlimit(
                *resource,
                Rlimit {
                    current: Some(*value),
                    maximum: Some(*value),
                },
            )?;
        }
        if self.no_new_privs {
            set_no_new_privs(true)?;
        }
        if let Some(ruleset) = self.landlock.take() {
            let status = ruleset
                .restrict_self()
                .map_err(|_| io::Error::from_raw_os_error(libc::EPERM))?;
            if status.ruleset == RulesetStatus::NotEnforced {
                return Err(io::Error::from_raw_os_error(libc::ENOSYS));
            }
        }
        if let Some(filter) = &mut self.seccomp {
            let program = libc::sock_fprog {
                len: u16::try_from(filter.len()).unwrap_or(u16::MAX),
                filter: filter.as_mut_ptr(),
            };
            // SAFETY: `program` points at `filter`, which lives in `self`
            // for the whole call; the kernel copies the program. Allowed
            // unprivileged because no_new_privs is set (above).
            let installed = unsafe {
                libc::prctl(
                    PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &raw const program,
                )
            };
            if installed != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: close_range takes plain integers; CLOSE_RANGE_CLOEXEC only
        // sets flags, so no descriptor the child still uses before exec
        // (std's error pipe is close-on-exec already) goes away.
        let marked = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        // Kernels before 5.11 lack it; Rust opens every descriptor close-on-exec.
        if marked != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Makes `command` apply `steps` in its child.
pub fn install(command: &mut tokio::process::Command, mut steps: ChildSteps) {
    // SAFETY: the closure makes only async-signal-safe system calls and
    // allocates nothing (`ChildSteps::apply`); all its data was prepared
    // here, in the parent.
    unsafe {
        command.pre_exec(move || steps.apply());
    }
}
