//! The process sandbox's settings (`PROCESS_SANDBOX*` variables), parsed from
//! any variable lookup; applied by `crate::sandbox`.
//!
//! Defaults (documented in `.env.example` and `docs/security.md`):
//! - `PROCESS_SANDBOX=on`; `off` runs tools without Landlock, namespaces or a
//!   user change (a loud warning at start and in `/health`).
//! - `PROCESS_SANDBOX_USER=nobody`, `PROCESS_SANDBOX_GROUP` = that user's
//!   primary group: who the child runs as when the platform runs as root.
//! - `PROCESS_SANDBOX_ROOT` = `{system temp dir}/mcp-platform-sandbox`: the
//!   per-deployment working directories, never inside the data directory.
//! - `PROCESS_SANDBOX_DEFAULT_RESOURCES` / `PROCESS_SANDBOX_MAX_RESOURCES`:
//!   `key=value` lists with the keys of a deployment's `resources`.
//! - `PROCESS_SANDBOX_NETWORK=none`: the network of a tool whose runtime
//!   does not say (`none` or `outbound`).
//! - `PROCESS_SANDBOX_ALLOWED_PORTS=80,443`: the TCP ports an `outbound` tool
//!   may connect to (and the most its `runtime.allowed_ports` may ask for).
//! - `PROCESS_SANDBOX_READ_PATHS`: extra read-only paths for every tool.

use std::path::PathBuf;

use super::{bad, ConfigError};

/// What network a tool's child gets (`runtime.network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// A new network namespace: nothing, not even loopback, is reachable.
    None,
    /// The host's network, TCP connects limited to the allowed ports where
    /// Landlock has network rules (ABI ≥ 4); no TCP listening.
    Outbound,
}

impl NetworkMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "outbound" => Some(Self::Outbound),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Outbound => "outbound",
        }
    }
}

/// The resource limits of one child; `None` is unlimited. Keys as in a
/// deployment's `resources`: `memory_mb` (address space, RLIMIT_AS),
/// `processes` (RLIMIT_NPROC), `open_files` (RLIMIT_NOFILE), `file_size_mb`
/// (RLIMIT_FSIZE), `cpu_seconds` (RLIMIT_CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub memory_mb: Option<u64>,
    pub processes: Option<u64>,
    pub open_files: Option<u64>,
    pub file_size_mb: Option<u64>,
    pub cpu_seconds: Option<u64>,
}

/// The keys of [`Limits`], in the order they are documented.
pub const LIMIT_KEYS: [&str; 5] = [
    "memory_mb",
    "processes",
    "open_files",
    "file_size_mb",
    "cpu_seconds",
];

impl Limits {
    /// The limit named `key` (one of [`LIMIT_KEYS`]).
    pub fn get(&self, key: &str) -> Option<Option<u64>> {
        Some(match key {
            "memory_mb" => self.memory_mb,
            "processes" => self.processes,
            "open_files" => self.open_files,
            "file_size_mb" => self.file_size_mb,
            "cpu_seconds" => self.cpu_seconds,
            _ => return None,
        })
    }

    /// Sets the limit named `key`; false for an unknown key.
    pub fn set(&mut self, key: &str, value: Option<u64>) -> bool {
        let slot = match key {
            "memory_mb" => &mut self.memory_mb,
            "processes" => &mut self.processes,
            "open_files" => &mut self.open_files,
            "file_size_mb" => &mut self.file_size_mb,
            "cpu_seconds" => &mut self.cpu_seconds,
            _ => return false,
        };
        *slot = value;
        true
    }

    /// The first key whose value is above `max`'s (unlimited counts as above
    /// any number).
    pub fn first_above(&self, max: &Limits) -> Option<&'static str> {
        LIMIT_KEYS.into_iter().find(
            |key| match (self.get(key).flatten(), max.get(key).flatten()) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(value), Some(max)) => value > max,
            },
        )
    }
}

/// Built-in defaults. Node's V8 reserves about 1 GiB of address space at
/// start, so `memory_mb` below ~1024 keeps Node servers from starting.
pub const DEFAULT_LIMITS: Limits = Limits {
    memory_mb: Some(2048),
    processes: Some(1024),
    open_files: Some(1024),
    file_size_mb: Some(1024),
    cpu_seconds: None,
};

pub const MAX_LIMITS: Limits = Limits {
    memory_mb: Some(16384),
    processes: Some(4096),
    open_files: Some(65536),
    file_size_mb: Some(16384),
    cpu_seconds: None,
};

/// At most this many ports in `PROCESS_SANDBOX_ALLOWED_PORTS` (one Landlock
/// rule each).
const MAX_PORTS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSettings {
    /// `PROCESS_SANDBOX`: false only when the operator said `off`.
    pub enabled: bool,
    /// `PROCESS_SANDBOX_USER`: a name or a numeric uid.
    pub user: String,
    /// `PROCESS_SANDBOX_GROUP`: a name or a numeric gid; `None` = the user's
    /// primary group.
    pub group: Option<String>,
    /// `PROCESS_SANDBOX_ROOT`: holds one directory per running deployment.
    pub root: PathBuf,
    pub default_limits: Limits,
    pub max_limits: Limits,
    pub default_network: NetworkMode,
    /// Sorted, without duplicates.
    pub allowed_ports: Vec<u16>,
    /// Absolute paths every tool may read and execute.
    pub read_paths: Vec<PathBuf>,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            user: "nobody".into(),
            group: None,
            root: std::env::temp_dir().join("mcp-platform-sandbox"),
            default_limits: DEFAULT_LIMITS,
            max_limits: MAX_LIMITS,
            default_network: NetworkMode::None,
            allowed_ports: vec![80, 443],
            read_paths: Vec::new(),
        }
    }
}

impl SandboxSettings {
    /// Reads the `PROCESS_SANDBOX*` variables through `lookup`; unset or
    /// blank variables keep their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut settings = Self::default();
        if let Some(raw) = get("PROCESS_SANDBOX") {
            settings.enabled = match raw.to_ascii_lowercase().as_str() {
                "on" | "true" | "1" | "yes" => true,
                "off" | "false" | "0" | "no" => false,
                _ => return Err(bad("PROCESS_SANDBOX", format!("on or off, got {raw:?}"))),
            };
        }
        if let Some(user) = get("PROCESS_SANDBOX_USER") {
            settings.user = user;
        }
        settings.group = get("PROCESS_SANDBOX_GROUP");
        if let Some(root) = get("PROCESS_SANDBOX_ROOT") {
            let root = PathBuf::from(root);
            if !root.is_absolute() {
                return Err(bad("PROCESS_SANDBOX_ROOT", "an absolute directory path"));
            }
            settings.root = root;
        }
        if let Some(raw) = get("PROCESS_SANDBOX_MAX_RESOURCES") {
            settings.max_limits = parse_limits(&raw, MAX_LIMITS)
                .map_err(|e| bad("PROCESS_SANDBOX_MAX_RESOURCES", e))?;
        }
        // Built-in defaults shrink to lowered maxima; given ones must fit.
        settings.default_limits = match get("PROCESS_SANDBOX_DEFAULT_RESOURCES") {
            None => clamp(DEFAULT_LIMITS, &settings.max_limits),
            Some(raw) => {
                let base = clamp(DEFAULT_LIMITS, &settings.max_limits);
                let defaults = parse_limits(&raw, base)
                    .map_err(|e| bad("PROCESS_SANDBOX_DEFAULT_RESOURCES", e))?;
                if let Some(key) = defaults.first_above(&settings.max_limits) {
                    return Err(bad(
                        "PROCESS_SANDBOX_DEFAULT_RESOURCES",
                        format!("{key} within PROCESS_SANDBOX_MAX_RESOURCES"),
                    ));
                }
                defaults
            }
        };
        if let Some(raw) = get("PROCESS_SANDBOX_NETWORK") {
            settings.default_network = NetworkMode::parse(&raw).ok_or_else(|| {
                bad(
                    "PROCESS_SANDBOX_NETWORK",
                    format!("none or outbound, got {raw:?}"),
                )
            })?;
        }
        if let Some(raw) = get("PROCESS_SANDBOX_ALLOWED_PORTS") {
            settings.allowed_ports =
                parse_ports(&raw).map_err(|e| bad("PROCESS_SANDBOX_ALLOWED_PORTS", e))?;
        }
        if let Some(raw) = get("PROCESS_SANDBOX_READ_PATHS") {
            settings.read_paths = raw
                .split([',', ':'])
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect();
            if settings.read_paths.iter().any(|p| !p.is_absolute()) {
                return Err(bad(
                    "PROCESS_SANDBOX_READ_PATHS",
                    "absolute paths separated by commas or colons",
                ));
            }
        }
        Ok(settings)
    }
}

fn clamp(limits: Limits, max: &Limits) -> Limits {
    let mut out = limits;
    for key in LIMIT_KEYS {
        if let (Some(value), Some(Some(max))) = (limits.get(key), max.get(key)) {
            out.set(key, Some(value.map_or(max, |v| v.min(max))));
        }
    }
    out
}

/// `memory_mb=2048,processes=256,cpu_seconds=unlimited` over `base`.
fn parse_limits(raw: &str, base: Limits) -> Result<Limits, String> {
    let expected = || {
        format!(
            "comma-separated KEY=VALUE pairs with keys {} and values a positive whole number or `unlimited`",
            LIMIT_KEYS.join(", ")
        )
    };
    let mut limits = base;
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(expected)?;
        let value = match value.trim() {
            "unlimited" => None,
            n => Some(
                n.parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(expected)?,
            ),
        };
        if !limits.set(key.trim(), value) {
            return Err(expected());
        }
    }
    Ok(limits)
}

/// `80,443,8000-8010`: sorted, deduplicated ports (1-65535).
pub fn parse_ports(raw: &str) -> Result<Vec<u16>, String> {
    let expected = "comma-separated TCP ports or ranges (1-65535) such as 80,443,8000-8010";
    let port = |s: &str| s.trim().parse::<u16>().ok().filter(|p| *p > 0);
    let mut ports = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (low, high) = match item.split_once('-') {
            Some((low, high)) => (port(low), port(high)),
            None => (port(item), port(item)),
        };
        let (Some(low), Some(high)) = (low, high) else {
            return Err(expected.into());
        };
        if low > high {
            return Err(expected.into());
        }
        ports.extend(low..=high);
        if ports.len() > MAX_PORTS {
            return Err(format!("at most {MAX_PORTS} ports"));
        }
    }
    ports.sort_unstable();
    ports.dedup();
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<SandboxSettings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        SandboxSettings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn nothing_set_is_the_documented_defaults() {
        let s = load(&[]).expect("defaults");
        assert_eq!(s, SandboxSettings::default());
        assert!(s.enabled);
        assert_eq!(s.user, "nobody");
        assert_eq!(s.default_network, NetworkMode::None);
        assert_eq!(s.allowed_ports, vec![80, 443]);
        assert_eq!(s.default_limits, DEFAULT_LIMITS);
        assert!(s.root.ends_with("mcp-platform-sandbox"));
    }

    #[test]
    fn every_variable_is_read() {
        let s = load(&[
            ("PROCESS_SANDBOX", "off"),
            ("PROCESS_SANDBOX_USER", "mcp-tools"),
            ("PROCESS_SANDBOX_GROUP", "mcp-tools"),
            ("PROCESS_SANDBOX_ROOT", "/srv/mcp-sandbox"),
            (
                "PROCESS_SANDBOX_DEFAULT_RESOURCES",
                "memory_mb=1024, processes=64",
            ),
            (
                "PROCESS_SANDBOX_MAX_RESOURCES",
                "memory_mb=4096,cpu_seconds=600",
            ),
            ("PROCESS_SANDBOX_NETWORK", "Outbound"),
            ("PROCESS_SANDBOX_ALLOWED_PORTS", "443, 80, 8000-8002, 443"),
            ("PROCESS_SANDBOX_READ_PATHS", "/opt/tools:/srv/cache"),
        ])
        .expect("parses");
        assert!(!s.enabled);
        assert_eq!(s.user, "mcp-tools");
        assert_eq!(s.group.as_deref(), Some("mcp-tools"));
        assert_eq!(s.root, PathBuf::from("/srv/mcp-sandbox"));
        assert_eq!(s.default_limits.memory_mb, Some(1024));
        assert_eq!(s.default_limits.processes, Some(64));
        assert_eq!(s.default_limits.open_files, DEFAULT_LIMITS.open_files);
        assert_eq!(s.max_limits.memory_mb, Some(4096));
        assert_eq!(s.max_limits.cpu_seconds, Some(600));
        assert_eq!(s.default_network, NetworkMode::Outbound);
        assert_eq!(s.allowed_ports, vec![80, 443, 8000, 8001, 8002]);
        assert_eq!(
            s.read_paths,
            vec![PathBuf::from("/opt/tools"), PathBuf::from("/srv/cache")]
        );
    }

    #[test]
    fn lowered_maxima_shrink_the_built_in_defaults_but_refuse_given_ones_above_them() {
        let s = load(&[("PROCESS_SANDBOX_MAX_RESOURCES", "memory_mb=1024")]).expect("parses");
        assert_eq!(s.default_limits.memory_mb, Some(1024));
        let e = load(&[
            ("PROCESS_SANDBOX_MAX_RESOURCES", "memory_mb=1024"),
            ("PROCESS_SANDBOX_DEFAULT_RESOURCES", "memory_mb=2048"),
        ])
        .expect_err("above the maximum");
        assert_eq!(e.variable, "PROCESS_SANDBOX_DEFAULT_RESOURCES");
        assert!(e.expected.contains("memory_mb"), "{e}");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("PROCESS_SANDBOX", "maybe"),
            ("PROCESS_SANDBOX_ROOT", "relative/dir"),
            ("PROCESS_SANDBOX_DEFAULT_RESOURCES", "memory=1"),
            ("PROCESS_SANDBOX_DEFAULT_RESOURCES", "memory_mb=0"),
            ("PROCESS_SANDBOX_MAX_RESOURCES", "processes=lots"),
            ("PROCESS_SANDBOX_NETWORK", "all"),
            ("PROCESS_SANDBOX_ALLOWED_PORTS", "0"),
            ("PROCESS_SANDBOX_ALLOWED_PORTS", "90-80"),
            ("PROCESS_SANDBOX_ALLOWED_PORTS", "1-65535"),
            ("PROCESS_SANDBOX_READ_PATHS", "opt/tools"),
        ] {
            let e = load(&[(name, value)]).expect_err(value);
            assert_eq!(e.variable, name, "{value}: {e}");
            assert!(e.to_string().starts_with("configuration error: "), "{e}");
        }
    }

    #[test]
    fn unlimited_is_above_every_number() {
        let unlimited_cpu = Limits {
            cpu_seconds: None,
            ..DEFAULT_LIMITS
        };
        let max = Limits {
            cpu_seconds: Some(60),
            ..MAX_LIMITS
        };
        assert_eq!(unlimited_cpu.first_above(&max), Some("cpu_seconds"));
        assert_eq!(DEFAULT_LIMITS.first_above(&MAX_LIMITS), None);
    }
}
