//! The sandbox of the process runner (Linux): what a stdio MCP server child
//! may touch, and its application between fork and exec. The threat model
//! and each layer are in `docs/security.md`.
//!
//! - settings: the `PROCESS_SANDBOX*` variables, in `config::sandbox`.
//! - [`features`]: the kernel features detected (Landlock ABI, namespaces,
//!   root) and the status `/health` reports; a kernel without Landlock gets
//!   process deployments refused unless `PROCESS_SANDBOX=off`.
//! - [`plan`]: a runtime and a deployment config checked (422s naming the
//!   field) and turned into grants, network, ports, limits and env.
//! - [`SandboxPolicy`]: all of that plus the deployment's working directory
//!   (created for the runner, removed when it stops) and the sandbox user;
//!   [`SandboxPolicy::command`] builds the child's command.
//! - `seccomp`: no `socket(AF_UNIX)` where Landlock cannot guard socket files.
//! - `child`: the steps in the child, the platform's only unsafe code.

mod child;
mod command;
pub mod features;
mod paths;
pub mod plan;
mod seccomp;
mod users;
mod workdir;

use std::path::PathBuf;

use serde_json::{Map, Value};
use uuid::Uuid;

pub use crate::config::{Limits, NetworkMode, SandboxSettings};
pub use features::{log_at_start, KernelFeatures, SandboxStatus};
pub use paths::Protected;
pub use plan::RuntimePlan;
pub use users::Identity;
pub use workdir::Workdir;

use crate::config::Settings;
use crate::domain::ToolConfig;
use crate::error::{Error, Result};

/// How one deployment's child is sandboxed.
#[derive(Debug)]
pub struct SandboxPolicy {
    /// False when `PROCESS_SANDBOX=off`: working directory, environment and
    /// limits still apply; Landlock, namespaces and the user change do not.
    pub enabled: bool,
    pub workdir: Workdir,
    /// The command, resolved.
    pub program: PathBuf,
    /// The child's `PATH` (its config may override it through `env`).
    pub path_var: String,
    pub read_exec: Vec<PathBuf>,
    pub read_write: Vec<PathBuf>,
    /// Whom the child runs as (set when the platform runs as root).
    pub identity: Option<Identity>,
    pub limits: Limits,
    pub network: NetworkMode,
    /// TCP ports an `outbound` child may connect to.
    pub ports: Vec<u16>,
    /// The deployment's `env`, applied after the tool's own.
    pub env: Vec<(String, String)>,
    pub kernel: KernelFeatures,
}

/// The 422 checks of a stdio runtime and a deployment config, for the
/// deployments API to run before anything is stored.
pub fn check_runtime(
    settings: &Settings,
    tool_config: &ToolConfig,
    deployment_config: &Value,
) -> Result<()> {
    RuntimePlan::build(
        &settings.sandbox,
        &Protected::of(settings),
        raw_runtime(tool_config),
        deployment_config,
    )
    .map_err(Error::Validation)
    .and_then(|plan| allowed_command(settings, &plan))
}

/// With `PROCESS_ALLOWED_COMMANDS` set, the runtime's resolved command must
/// be one of the listed ones, resolved the same way.
fn allowed_command(settings: &Settings, plan: &RuntimePlan) -> Result<()> {
    let allowed = &settings.gateway.allowed_commands;
    if allowed.is_empty()
        || allowed
            .iter()
            .filter_map(|c| paths::resolve_command(c, &plan.path_var))
            .any(|c| c == plan.program)
    {
        return Ok(());
    }
    Err(Error::invalid(
        &["tool", "config", "runtime", "command"],
        "value_error",
        format!(
            "`{}` is not one of the commands this platform runs (PROCESS_ALLOWED_COMMANDS)",
            plan.program.display()
        ),
    ))
}

/// The tool's `runtime` object as written: the sandbox reads members the
/// typed runtime does not carry (`network`, `allowed_ports`, `read_paths`).
fn raw_runtime(tool_config: &ToolConfig) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    tool_config
        .as_map()
        .get("runtime")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// What `/health` shows of the sandbox.
pub fn status(settings: &SandboxSettings) -> SandboxStatus {
    SandboxStatus::new(settings, *features::kernel())
}

impl SandboxPolicy {
    /// The policy of a deployment's child; creates its working directory.
    /// A runtime that names protected paths, asks for ports or limits the
    /// settings do not permit is a 422; a kernel that cannot sandbox it, 503.
    pub fn for_deployment(
        settings: &Settings,
        deployment_id: Uuid,
        deployment_config: &Value,
        tool_config: &ToolConfig,
    ) -> Result<Self> {
        let sandbox = &settings.sandbox;
        let status = status(sandbox);
        if let Some(refusal) = status.refusal {
            return Err(Error::Unavailable(refusal));
        }
        let protected = Protected::of(settings);
        let plan = RuntimePlan::build(
            sandbox,
            &protected,
            raw_runtime(tool_config),
            deployment_config,
        )
        .map_err(Error::Validation)?;
        if sandbox.enabled
            && plan.network == NetworkMode::None
            && !status.kernel.can_isolate_network()
        {
            return Err(Error::Unavailable(
                "process sandbox: `network: none` needs network namespaces (as root, or unprivileged user namespaces), which this kernel does not give".into(),
            ));
        }
        let mut read_exec = paths::system_read_paths();
        read_exec.extend(sandbox.read_paths.iter().map(|p| paths::absolute(p)));
        if let Some(why) = read_exec.iter().find_map(|p| protected.conflict(p)) {
            return Err(Error::Unavailable(format!(
                "process sandbox: every tool may read {why}; move it or change PROCESS_SANDBOX_READ_PATHS"
            )));
        }
        read_exec.extend(plan.read_exec);
        let workdir = Workdir::create(&sandbox.root, deployment_id, status.identity.as_ref())
            .map_err(|e| Error::Unavailable(format!("process sandbox: {e}")))?;
        let mut read_write = vec![workdir.dir().to_path_buf()];
        read_write.extend(paths::DEVICES_READ_WRITE.iter().map(PathBuf::from));
        Ok(Self {
            enabled: sandbox.enabled,
            workdir,
            program: plan.program,
            path_var: plan.path_var,
            read_exec,
            read_write,
            identity: status.identity,
            limits: plan.limits,
            network: plan.network,
            ports: plan.ports,
            env: plan.deployment_env,
            kernel: status.kernel,
        })
    }
}
