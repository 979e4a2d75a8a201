//! [`SandboxPolicy::command`]: a `ProcessSpec` and a policy turned into a
//! `tokio::process::Command` whose child sandboxes itself before exec.
//! Everything is prepared here, in the parent (see [`super::child`]).

use std::io;

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, NetPort, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetError, Scope, ABI,
};
use rustix::process::{getrlimit, Resource};
use tokio::process::Command;

use super::child::{self, ChildSteps, NetworkIsolation};
use super::seccomp;
use super::SandboxPolicy;
use crate::config::NetworkMode;
use crate::gateway::ProcessSpec;

/// The filesystem rights the ruleset handles: everything Landlock knows up
/// to ABI 9 (pathname UNIX socket connects); the crate drops, best effort,
/// what the running kernel lacks.
const FS_ABI: ABI = ABI::V9;

impl SandboxPolicy {
    /// The command for `spec`: the resolved program (argv[0] as configured),
    /// a clean environment, the working directory, its own process group,
    /// and the child steps.
    pub fn command(&self, spec: &ProcessSpec) -> io::Result<Command> {
        let mut command = Command::new(&self.program);
        command
            .arg0(&spec.command)
            .args(&spec.args)
            .env_clear()
            .env("PATH", &self.path_var)
            .env("HOME", self.workdir.home())
            .env("TMPDIR", self.workdir.tmp())
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.workdir.home())
            .process_group(0);
        let network = match (self.enabled, self.network) {
            (true, NetworkMode::None) if self.kernel.root => NetworkIsolation::NewNetwork,
            (true, NetworkMode::None) => NetworkIsolation::NewUserAndNetwork,
            _ => NetworkIsolation::Shared,
        };
        let landlock = if self.enabled {
            Some(self.ruleset().map_err(io::Error::other)?)
        } else {
            None
        };
        child::install(
            &mut command,
            ChildSteps {
                network,
                identity: self
                    .identity
                    .as_ref()
                    .filter(|_| self.enabled)
                    .map(|i| (i.uid, i.gid)),
                limits: self.rlimits(),
                no_new_privs: self.enabled,
                landlock,
                seccomp: if self.enabled && self.kernel.landlock_abi < 9 {
                    seccomp::unix_socket_filter()
                } else {
                    None
                },
            },
        );
        Ok(command)
    }

    /// Each set limit, capped at the platform's own hard limit (the child
    /// can lower limits only once it is no longer root).
    fn rlimits(&self) -> Vec<(Resource, u64)> {
        let mib = |v: u64| v.saturating_mul(1024 * 1024);
        let l = &self.limits;
        [
            (Resource::As, l.memory_mb.map(mib)),
            (Resource::Nproc, l.processes),
            (Resource::Nofile, l.open_files),
            (Resource::Fsize, l.file_size_mb.map(mib)),
            (Resource::Cpu, l.cpu_seconds),
        ]
        .into_iter()
        .filter_map(|(resource, value)| {
            let hard = getrlimit(resource).maximum.unwrap_or(u64::MAX);
            value.map(|v| (resource, v.min(hard)))
        })
        .collect()
    }

    /// The Landlock ruleset with every rule of this policy.
    fn ruleset(&self) -> Result<RulesetCreated, RulesetError> {
        let mut ruleset = Ruleset::default()
            .handle_access(AccessFs::from_all(FS_ABI))?
            .scope(Scope::from_all(ABI::V6))?;
        if self.kernel.network_rules() {
            // Handled TCP rights with no rule deny: no bind at all, and
            // connect only to the ports added below.
            ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
        }
        let mut created = ruleset
            .create()?
            .add_rules(path_beneath_rules(
                &self.read_exec,
                AccessFs::from_read(FS_ABI),
            ))?
            .add_rules(path_beneath_rules(
                &self.read_write,
                AccessFs::from_all(FS_ABI),
            ))?;
        if self.kernel.network_rules() && self.network == NetworkMode::Outbound {
            for port in &self.ports {
                created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
            }
        }
        Ok(created)
    }
}
