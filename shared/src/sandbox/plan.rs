//! What a tool's runtime and a deployment's config ask of the sandbox,
//! checked: the resolved command, the paths to grant, the network, the
//! ports, the limits and the environment. Every problem becomes one field
//! error (a 422 naming `runtime.command`, `runtime.args[2]`,
//! `runtime.read_paths[0]`, `resources.memory_mb`, …) before anything starts.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::paths::{
    absolute, package_roots, resolve_command, shebang_interpreter, Protected, DEFAULT_PATH,
};
use crate::config::{Limits, NetworkMode, SandboxSettings, LIMIT_KEYS};
use crate::error::FieldError;

/// Where runtime errors point: the deployed tool's config.
const RUNTIME_LOC: [&str; 4] = ["tool", "config", "runtime", ""];
/// Where resource errors point: the deployment request's config.
const RESOURCES_LOC: [&str; 4] = ["body", "config", "resources", ""];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimePlan {
    /// The command, resolved to an absolute path with symlinks followed.
    pub program: PathBuf,
    /// The `PATH` the child gets (its config's, or [`DEFAULT_PATH`]).
    pub path_var: String,
    /// Read-execute grants of this runtime (system paths come on top).
    pub read_exec: Vec<PathBuf>,
    pub network: NetworkMode,
    /// TCP ports an `outbound` child may connect to (empty for `none`).
    pub ports: Vec<u16>,
    pub limits: Limits,
    /// The deployment's `env`, applied after the tool's.
    pub deployment_env: Vec<(String, String)>,
}

struct Problems(Vec<FieldError>);

impl Problems {
    fn runtime(&mut self, field: &[&str], label: String, msg: impl std::fmt::Display) {
        self.push(&RUNTIME_LOC, field, format!("runtime.{label}: {msg}"));
    }

    fn resources(&mut self, key: &str, msg: impl std::fmt::Display) {
        self.push(&RESOURCES_LOC, &[key], format!("resources.{key}: {msg}"));
    }

    fn push(&mut self, base: &[&str; 4], field: &[&str], msg: String) {
        let loc: Vec<&str> = base[..3]
            .iter()
            .copied()
            .chain(field.iter().copied())
            .collect();
        self.0.push(FieldError::new(&loc, "value_error", msg));
    }
}

impl RuntimePlan {
    /// Checks `runtime` (a stdio tool's `config.runtime`) and the
    /// deployment's `config` against the platform's settings.
    pub fn build(
        settings: &SandboxSettings,
        protected: &Protected,
        runtime: &Map<String, Value>,
        deployment_config: &Value,
    ) -> Result<Self, Vec<FieldError>> {
        let mut problems = Problems(Vec::new());
        let mut read_exec = Vec::new();
        let deployment_env = string_pairs(deployment_config.get("env"));
        let tool_env = string_pairs(runtime.get("env"));
        // The deployment's PATH wins over the tool's, as its env does.
        let path_var = deployment_env
            .iter()
            .chain(tool_env.iter())
            .rev()
            .find(|(k, _)| k == "PATH")
            .map_or_else(|| DEFAULT_PATH.to_owned(), |(_, v)| v.clone());

        let mut grant = |path: &Path, field: &[&str], label: String, problems: &mut Problems| {
            let mut grants = vec![path.to_path_buf()];
            grants.extend(shebang_interpreter(path));
            grants.extend(package_roots(path));
            for granted in grants {
                if let Some(why) = protected.conflict(&granted) {
                    problems.runtime(
                        field,
                        label.clone(),
                        format!("{why}; a tool may not read it"),
                    );
                    return;
                }
                if !read_exec.contains(&granted) {
                    read_exec.push(granted);
                }
            }
        };

        let command = runtime.get("command").and_then(Value::as_str).unwrap_or("");
        let program = resolve_command(command, &path_var);
        match &program {
            Some(program) => grant(program, &["command"], "command".into(), &mut problems),
            None => problems.runtime(
                &["command"],
                "command".into(),
                format!("`{command}` is not an executable file (looked up on PATH={path_var})"),
            ),
        }

        let args = runtime.get("args").and_then(Value::as_array);
        for (i, arg) in args.into_iter().flatten().enumerate() {
            let Some(arg) = arg.as_str().filter(|a| a.starts_with('/')) else {
                continue;
            };
            let index = i.to_string();
            if Path::new(arg).exists() {
                grant(
                    &absolute(Path::new(arg)),
                    &["args", &index],
                    format!("args[{i}]"),
                    &mut problems,
                );
            }
        }

        match runtime.get("read_paths") {
            None => {}
            Some(Value::Array(paths)) => {
                for (i, path) in paths.iter().enumerate() {
                    let index = i.to_string();
                    let label = format!("read_paths[{i}]");
                    match path.as_str().map(Path::new) {
                        Some(p) if p.is_absolute() && p.exists() => {
                            grant(&absolute(p), &["read_paths", &index], label, &mut problems);
                        }
                        Some(p) if p.is_absolute() => problems.runtime(
                            &["read_paths", &index],
                            label,
                            format!("{} does not exist", p.display()),
                        ),
                        _ => problems.runtime(
                            &["read_paths", &index],
                            label,
                            "must be an absolute path",
                        ),
                    }
                }
            }
            Some(_) => problems.runtime(
                &["read_paths"],
                "read_paths".into(),
                "must be a list of absolute paths",
            ),
        }

        let network = match runtime.get("network") {
            None => settings.default_network,
            Some(v) => match v.as_str().and_then(NetworkMode::parse) {
                Some(mode) => mode,
                None => {
                    problems.runtime(&["network"], "network".into(), "must be none or outbound");
                    settings.default_network
                }
            },
        };
        let ports = match (runtime.get("allowed_ports"), network) {
            (None, NetworkMode::Outbound) => settings.allowed_ports.clone(),
            (None, NetworkMode::None) => Vec::new(),
            (Some(_), NetworkMode::None) => {
                problems.runtime(
                    &["allowed_ports"],
                    "allowed_ports".into(),
                    "needs network: outbound",
                );
                Vec::new()
            }
            (Some(list), NetworkMode::Outbound) => {
                allowed_ports(list, &settings.allowed_ports, &mut problems)
            }
        };

        let limits = limits(deployment_config.get("resources"), settings, &mut problems);

        match program {
            Some(program) if problems.0.is_empty() => Ok(Self {
                program,
                path_var,
                read_exec,
                network,
                ports,
                limits,
                deployment_env,
            }),
            _ => Err(problems.0),
        }
    }
}

fn string_pairs(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn allowed_ports(list: &Value, permitted: &[u16], problems: &mut Problems) -> Vec<u16> {
    let permitted_text = permitted
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let Some(items) = list.as_array() else {
        problems.runtime(
            &["allowed_ports"],
            "allowed_ports".into(),
            "must be a list of ports",
        );
        return Vec::new();
    };
    let mut ports = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let index = i.to_string();
        match item.as_u64().and_then(|p| u16::try_from(p).ok()) {
            Some(port) if permitted.contains(&port) => ports.push(port),
            _ => problems.runtime(
                &["allowed_ports", &index],
                format!("allowed_ports[{i}]"),
                format!(
                    "{item} is not a port PROCESS_SANDBOX_ALLOWED_PORTS permits ({permitted_text})"
                ),
            ),
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

fn limits(
    resources: Option<&Value>,
    settings: &SandboxSettings,
    problems: &mut Problems,
) -> Limits {
    let mut limits = settings.default_limits;
    let Some(resources) = resources else {
        return limits;
    };
    let Some(resources) = resources.as_object() else {
        problems.push(&RESOURCES_LOC, &[], "resources: must be an object".into());
        return limits;
    };
    for (key, value) in resources {
        let Some(max) = settings.max_limits.get(key) else {
            problems.resources(
                key,
                format!("unknown resource (known: {})", LIMIT_KEYS.join(", ")),
            );
            continue;
        };
        match value.as_u64().filter(|n| *n > 0) {
            Some(n) if max.is_some_and(|max| n > max) => problems.resources(
                key,
                format!(
                    "{n} is above the maximum {} (PROCESS_SANDBOX_MAX_RESOURCES)",
                    max.unwrap_or_default()
                ),
            ),
            Some(n) => {
                limits.set(key, Some(n));
            }
            None => problems.resources(key, "must be a positive whole number"),
        }
    }
    limits
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn protected(data: &Path) -> Protected {
        Protected::new(
            data,
            None,
            "sqlite::memory:",
            Path::new("/nonexistent-sandbox-root"),
        )
    }

    fn runtime(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn locs(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(|e| e.loc.join(".")).collect()
    }

    #[test]
    fn a_plain_runtime_gets_its_command_and_the_defaults() {
        let settings = SandboxSettings::default();
        let plan = RuntimePlan::build(
            &settings,
            &protected(Path::new("/nonexistent-data")),
            &runtime(json!({"transport": "stdio", "command": "sh", "args": ["-c", "/bin/true"]})),
            &json!({"env": {"A": "1"}}),
        )
        .expect("valid");
        assert!(plan.program.is_absolute());
        assert!(plan.read_exec.contains(&plan.program));
        assert_eq!(plan.network, NetworkMode::None);
        assert!(plan.ports.is_empty());
        assert_eq!(plan.limits, settings.default_limits);
        assert_eq!(plan.path_var, DEFAULT_PATH);
        assert_eq!(plan.deployment_env, vec![("A".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn protected_paths_are_refused_naming_the_field() {
        let data = std::env::temp_dir().join(format!("sandbox-plan-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::write(data.join("jwt-secret"), "x").expect("secret");
        let secret = data.join("jwt-secret").to_string_lossy().into_owned();
        let errors = RuntimePlan::build(
            &SandboxSettings::default(),
            &protected(&data),
            &runtime(json!({"command": secret, "args": ["-x", "/usr", &secret],
                "read_paths": ["/", "relative", "/no/such/path"]})),
            &json!({}),
        )
        .expect_err("refused");
        assert_eq!(
            locs(&errors),
            [
                "tool.config.runtime.command",
                "tool.config.runtime.args.2",
                "tool.config.runtime.read_paths.0",
                "tool.config.runtime.read_paths.1",
                "tool.config.runtime.read_paths.2",
            ]
        );
        assert!(
            errors[1].msg.starts_with("runtime.args[2]: "),
            "{}",
            errors[1].msg
        );
        assert!(
            errors[1].msg.contains("data directory"),
            "{}",
            errors[1].msg
        );
        assert!(errors[2].msg.contains("contains"), "{}", errors[2].msg);
    }

    #[test]
    fn a_missing_command_is_named() {
        let errors = RuntimePlan::build(
            &SandboxSettings::default(),
            &protected(Path::new("/nonexistent-data")),
            &runtime(json!({"command": "definitely-not-installed-anywhere"})),
            &json!({}),
        )
        .expect_err("missing");
        assert_eq!(locs(&errors), ["tool.config.runtime.command"]);
        assert!(errors[0].msg.contains("PATH="), "{}", errors[0].msg);
    }

    #[test]
    fn network_ports_and_resources_are_checked_against_the_settings() {
        let settings = SandboxSettings::default();
        let p = protected(Path::new("/nonexistent-data"));
        let plan = RuntimePlan::build(
            &settings,
            &p,
            &runtime(json!({"command": "sh", "network": "outbound"})),
            &json!({"resources": {"memory_mb": 1024, "processes": 32}}),
        )
        .expect("valid");
        assert_eq!(plan.network, NetworkMode::Outbound);
        assert_eq!(plan.ports, vec![80, 443]);
        assert_eq!(plan.limits.memory_mb, Some(1024));
        assert_eq!(plan.limits.processes, Some(32));

        let errors = RuntimePlan::build(
            &settings,
            &p,
            &runtime(json!({"command": "sh", "network": "outbound", "allowed_ports": [443, 6379]})),
            &json!({"resources": {"memory_mb": 999_999, "gpus": 1, "open_files": -1}}),
        )
        .expect_err("refused");
        // Map order depends on serde_json's features: compare sorted.
        let mut sorted = locs(&errors);
        sorted.sort();
        assert_eq!(
            sorted,
            [
                "body.config.resources.gpus",
                "body.config.resources.memory_mb",
                "body.config.resources.open_files",
                "tool.config.runtime.allowed_ports.1",
            ]
        );
        let errors = RuntimePlan::build(
            &settings,
            &p,
            &runtime(json!({"command": "sh", "network": "everything", "allowed_ports": [443]})),
            &json!({}),
        )
        .expect_err("refused");
        assert_eq!(
            locs(&errors),
            [
                "tool.config.runtime.network",
                "tool.config.runtime.allowed_ports"
            ]
        );
    }
}
