//! AI analysis of MCP tool configurations (SPEC §3 "AI analysis"): the
//! [`LlmProvider`] port behind `/analyze/*` and the result types its jobs
//! store. [`offline::OfflineAnalyser`] is the always-available provider: a
//! deterministic rule set that needs no network, so analysis works on a
//! laptop, in CI and when a configured chat API is down (it is the fallback
//! for a remote provider's failures).

pub mod offline;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::Tool;
use crate::error::Result;

pub use offline::OfflineAnalyser;

/// The provider `/analyze/*` jobs use: the chat API when one is configured
/// (it falls back to the offline analyser by itself), else the offline
/// analyser.
pub fn provider(
    settings: Option<&crate::config::LlmSettings>,
) -> Result<std::sync::Arc<dyn LlmProvider>> {
    match settings {
        Some(s) => Ok(std::sync::Arc::new(
            crate::adapters::openai_chat::OpenAiChatProvider::new(s.clone())?,
        )),
        None => Ok(std::sync::Arc::new(OfflineAnalyser::new())),
    }
}

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

/// The registered tool an improvements job reviews: its metadata as well as
/// its config, since a missing description is an improvement too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolUnderReview {
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub version: String,
    #[schema(value_type = Object)]
    pub config: Value,
}

impl From<&Tool> for ToolUnderReview {
    fn from(tool: &Tool) -> Self {
        Self {
            name: tool.name.to_string(),
            slug: tool.slug.to_string(),
            description: tool.description.clone(),
            version: tool.version.to_string(),
            config: tool.config.to_value(),
        }
    }
}

/// A source of analyses. Implementations are deterministic where they can
/// be and never fail on odd input: any JSON is a config to judge, any text
/// is requirements to work from. Errors are for the provider itself being
/// unavailable (`Error::Unavailable`).
#[async_trait]
pub trait LlmProvider: Send + Sync {
    /// A short stable name for logs and task results (`offline`, `openai`).
    fn name(&self) -> &str;
    /// Judges whether `config` (a tool's MCP config) is safe and complete
    /// enough to register and run.
    async fn feasibility(&self, config: &Value) -> Result<Feasibility>;
    /// What to change in a registered tool; at least one item.
    async fn improvements(&self, tool: &ToolUnderReview) -> Result<Vec<Improvement>>;
    /// A config built from free-text `requirements` that passes the same
    /// validation as `POST /mcps` (`ToolConfig::parse`).
    async fn generate_config(&self, requirements: &str) -> Result<Value>;
}
