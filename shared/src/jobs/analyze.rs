//! The analysis jobs behind `/analyze/*` (SPEC §3 "AI analysis"): each is a
//! task (see [`crate::tasks`]) that runs the configured [`LlmProvider`]
//! (`AppState::analyser`) and completes with its result.
//!
//! Idempotent: a redelivered job of a finished task does nothing
//! ([`TaskReporter::begin`]); a rerun of an unfinished one computes the same
//! (deterministic) result again and stores it once.
//!
//! [`LlmProvider`]: crate::ports::LlmProvider

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{Job, JobContext, JobError};
use crate::error::Error;
use crate::ports::ToolUnderReview;
use crate::tasks::TaskReporter;

fn provider_failed(e: Error) -> JobError {
    // The provider being down is worth a retry; anything else is not.
    match e {
        Error::Unavailable(_) => JobError::Retryable(e.to_string()),
        other => JobError::from(other),
    }
}

/// `POST /analyze/feasibility`: judges a config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnalyzeFeasibility {
    pub task_id: Uuid,
    pub config: Value,
}

#[async_trait]
impl Job for AnalyzeFeasibility {
    const KIND: &'static str = "analyze_feasibility";

    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let Some(mut task) = TaskReporter::begin(ctx, self.task_id).await? else {
            return Ok(());
        };
        let analyser = &ctx.state.analyser;
        task.progress(10, format!("analysing with {}", analyser.name()))
            .await?;
        let outcome = analyser
            .feasibility(&self.config)
            .await
            .map_err(provider_failed)
            .and_then(|f| serde_json::to_value(f).map_err(|e| JobError::Permanent(e.to_string())));
        task.finish(outcome).await
    }
}

/// `POST /analyze/improvements`: reviews a registered tool.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnalyzeImprovements {
    pub task_id: Uuid,
    pub tool_id: Uuid,
    /// Whether the requester may not see the tool's configuration secrets:
    /// then the analyser sees the config masked, as they would.
    pub redact_secrets: bool,
}

#[async_trait]
impl Job for AnalyzeImprovements {
    const KIND: &'static str = "analyze_improvements";

    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let Some(mut task) = TaskReporter::begin(ctx, self.task_id).await? else {
            return Ok(());
        };
        task.progress(10, "reading the tool").await?;
        let tool = match ctx.state.tools.find(self.tool_id).await? {
            Some(tool) => tool,
            None => {
                return task
                    .finish(Err(JobError::Permanent(format!(
                        "MCP tool {} no longer exists",
                        self.tool_id
                    ))))
                    .await
            }
        };
        let mut review = ToolUnderReview::from(&tool);
        if self.redact_secrets {
            crate::redact::config(&mut review.config);
        }
        let analyser = &ctx.state.analyser;
        task.progress(30, format!("reviewing with {}", analyser.name()))
            .await?;
        let outcome = analyser
            .improvements(&review)
            .await
            .map_err(provider_failed)
            .map(|items| json!({"tool_id": tool.id, "improvements": items}));
        task.finish(outcome).await
    }
}

/// `POST /analyze/generate-config`: a config from free-text requirements.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateConfig {
    pub task_id: Uuid,
    pub requirements: String,
}

#[async_trait]
impl Job for GenerateConfig {
    const KIND: &'static str = "generate_config";

    async fn run(self, ctx: &JobContext<'_>) -> Result<(), JobError> {
        let Some(mut task) = TaskReporter::begin(ctx, self.task_id).await? else {
            return Ok(());
        };
        let analyser = &ctx.state.analyser;
        task.progress(10, format!("generating with {}", analyser.name()))
            .await?;
        let outcome = analyser
            .generate_config(&self.requirements)
            .await
            .map_err(provider_failed)
            .map(|config| json!({"config": config}));
        task.finish(outcome).await
    }
}
