//! What an analysis of a tool's config finds and concludes (SPEC §3 "AI
//! analysis"): findings ([`Risk`]), the feasibility verdict and improvement
//! items, as `/analyze/*` tasks store them, whichever provider produced them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The lowest score a feasible config may have.
pub const FEASIBLE_SCORE: f64 = 0.5;

/// How much a finding matters, ordered from `Info` (a suggestion) to
/// `Critical` (the tool must not be run as configured).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// What kind of problem a [`Risk`] is; one recommendation per category.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RiskCategory {
    /// The config or a tool's `inputSchema` is malformed or incomplete.
    Schema,
    /// A missing or uninformative description (server, tool, parameter).
    Documentation,
    /// Two tools share a name, so a client can call only one of them.
    DuplicateTool,
    /// Runs shell commands or arbitrary code.
    ShellExecution,
    /// Writes, moves or deletes files.
    FilesystemWrite,
    /// Reaches arbitrary network destinations (fetch any URL).
    NetworkAccess,
    /// A credential written literally into the config.
    Secret,
    /// Talks to a remote server over plain http.
    InsecureTransport,
    /// Text aimed at the model rather than the user: hidden directives,
    /// invisible characters, encoded payloads.
    PromptInjection,
    /// Wildcard scopes, root paths, allow-all flags, privileged containers.
    BroadPermission,
    /// Unpinned packages and similar supply-chain hygiene.
    SupplyChain,
}

/// One finding about a config. `location` is a JSON Pointer (RFC 6901) into
/// the analysed config (`""` is the whole config). `detail` never repeats a
/// secret's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Risk {
    pub category: RiskCategory,
    pub severity: Severity,
    pub location: String,
    pub detail: String,
}

/// Result of `POST /analyze/feasibility`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Feasibility {
    /// In `[0, 1]`; 1 is a config with nothing to object to.
    pub score: f64,
    pub is_feasible: bool,
    pub reasoning: String,
    pub risks: Vec<Risk>,
    pub recommendations: Vec<String>,
}

/// One item of `POST /analyze/improvements`' result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Improvement {
    pub title: String,
    pub detail: String,
    pub severity: Severity,
}
