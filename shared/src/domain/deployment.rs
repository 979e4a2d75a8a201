//! Deployments: the desired state of the gateway (which tool version runs,
//! for whom, with what config), their status and health as the runners
//! report them, and the usage rows each gateway call leaves. The
//! [`DeploymentStore`](crate::ports::DeploymentStore) port speaks in these.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

macro_rules! string_enum {
    ($name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(format!("must be one of: {}", [$($text),+].join(", "))),
                }
            }
        }
    };
}

string_enum!(DeploymentStatus {
    Starting = "starting",
    Running = "running",
    Failed = "failed",
    Stopped = "stopped",
});

string_enum!(HealthStatus {
    Unknown = "unknown",
    Healthy = "healthy",
    Unhealthy = "unhealthy",
});

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: Uuid,
    pub tool_id: Uuid,
    pub tool_slug: String,
    pub tool_version: String,
    /// Who deployed it: with admins, the only callers of a private deployment.
    pub owner_id: Uuid,
    pub status: DeploymentStatus,
    pub health_status: HealthStatus,
    pub last_health_check: Option<DateTime<Utc>>,
    /// Anonymous callers allowed (still rate-limited and recorded).
    pub public: bool,
    /// `{environment, replicas, resources, env}` as given at creation.
    pub config: Value,
    pub endpoint_url: String,
    pub last_error: Option<String>,
    pub deployed_at: DateTime<Utc>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// One gateway call, for `mcp_usage_stats`.
#[derive(Debug, Clone)]
pub struct UsageRow {
    pub tool_id: Uuid,
    pub deployment_id: Uuid,
    pub user_id: Option<Uuid>,
    pub method: String,
    pub ok: bool,
    pub latency: Duration,
    pub at: DateTime<Utc>,
}

/// Totals of a deployment's usage rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsageTotals {
    pub requests: u64,
    pub errors: u64,
    pub avg_latency_us: f64,
}
