//! Entities and the parsed newtypes that are the only way into them.
//! A value of `Slug`, `SemVer`, `ToolConfig`, `Email`… has been validated once,
//! at the edge; the rest of the code never re-checks it.

mod analysis;
mod deployment;
pub mod job;
mod role;
mod runtime;
mod task;
mod tool;
mod user;
mod values;

pub use analysis::{Feasibility, Improvement, Risk, RiskCategory, Severity, FEASIBLE_SCORE};
pub use deployment::{Deployment, DeploymentStatus, HealthStatus, UsageRow, UsageTotals};
pub use role::{Permission, Role};
pub use runtime::{HttpRuntime, Runtime, StdioRuntime};
pub use task::{Task, TaskStatus};
pub use tool::{ChangeType, HistoryRecord, Tool, ToolSnapshot, ToolStatus};
pub use user::{ApiKey, Principal, User};
pub use values::{shown_text, Email, Password, SemVer, Slug, ToolConfig, ToolName, Username};

/// The current time at the precision storage keeps (microseconds), so a
/// value written and read back compares equal.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
