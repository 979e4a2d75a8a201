//! The MCP gateway's knobs (`GATEWAY_*`): health pings, call timeouts and
//! which upstream networks remote deployments may reach.

use std::time::Duration;

use super::{ConfigError, Source};

/// Gateway settings (`GATEWAY_*` variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySettings {
    /// How often each running deployment is pinged.
    pub health_interval: Duration,
    /// How long one call may take before the client gets an error.
    pub request_timeout: Duration,
    /// `PROCESS_DEPLOYMENTS_FOR_DEVELOPERS`: whether developers hold
    /// `deployments:process` (admins always do). Default true: the sandbox
    /// is what contains a process, not who deployed it.
    pub process_for_developers: bool,
    /// `PROCESS_ALLOWED_COMMANDS`: when not empty, the only commands a
    /// process deployment may run (names or paths, comma separated; each is
    /// resolved to an absolute path at deploy time).
    pub allowed_commands: Vec<String>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            health_interval: Duration::from_secs(30),
            request_timeout: Duration::from_secs(300),
            process_for_developers: true,
            allowed_commands: Vec::new(),
        }
    }
}

/// The gateway group of [`Settings`](super::Settings).
pub(super) struct Gateway {
    pub settings: GatewaySettings,
    pub allow_loopback_upstreams: bool,
    pub allow_private_upstreams: bool,
}

impl Gateway {
    pub(super) fn load(source: &Source) -> Result<Self, ConfigError> {
        Ok(Self {
            allow_loopback_upstreams: source.bool(&["GATEWAY_ALLOW_LOOPBACK_UPSTREAMS"], false)?,
            allow_private_upstreams: source.bool(&["GATEWAY_ALLOW_PRIVATE_UPSTREAMS"], false)?,
            settings: GatewaySettings {
                health_interval: Duration::from_secs(
                    source.positive(&["GATEWAY_HEALTH_INTERVAL_SECONDS"], 30u64)?,
                ),
                request_timeout: Duration::from_secs(
                    source.positive(&["GATEWAY_REQUEST_TIMEOUT_SECONDS"], 300u64)?,
                ),
                process_for_developers: source
                    .bool(&["PROCESS_DEPLOYMENTS_FOR_DEVELOPERS"], true)?,
                allowed_commands: source
                    .text_or(&["PROCESS_ALLOWED_COMMANDS"], "")
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
        })
    }
}
