//! The analysis port behind `/analyze/*` ([`LlmProvider`]), what it reviews
//! ([`ToolUnderReview`]), and the deterministic baseline a remote provider
//! is grounded on and bounded by ([`FindingsBaseline`]).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::{Feasibility, Improvement, Risk, Tool};
use crate::error::Result;

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

/// The deterministic analysis a model-backed [`LlmProvider`] is given at
/// construction: its findings are facts the model's answer cannot lower,
/// and its answers stand in when the model fails. Never fails, needs no
/// network; the offline analyser is the one the platform wires in.
pub trait FindingsBaseline: Send + Sync {
    /// Every finding about `config`, most severe first.
    fn review(&self, config: &Value) -> Vec<Risk>;
    /// The feasibility of `config` judged from its findings.
    fn assess(&self, config: &Value) -> Feasibility;
    /// What to improve in `tool`; at least one item.
    fn suggest(&self, tool: &ToolUnderReview) -> Vec<Improvement>;
    /// A config for `requirements` that passes `POST /mcps` validation.
    fn generate(&self, requirements: &str) -> Value;
}
