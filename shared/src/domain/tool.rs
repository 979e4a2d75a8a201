use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{SemVer, Slug, ToolConfig, ToolName};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ToolStatus {
    Draft,
    Active,
    Deprecated,
}

impl ToolStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Deprecated => "deprecated",
        }
    }
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "draft" => Ok(Self::Draft),
            "active" => Ok(Self::Active),
            "deprecated" => Ok(Self::Deprecated),
            _ => Err("must be one of: draft, active, deprecated".into()),
        }
    }
}

/// A registered MCP tool, current version.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub id: Uuid,
    pub name: ToolName,
    pub slug: Slug,
    pub description: Option<String>,
    pub version: SemVer,
    pub config: ToolConfig,
    pub status: ToolStatus,
    pub tags: Vec<String>,
    pub author_id: Uuid,
    /// Bumped by every change; updates are conditional on it (optimistic locking).
    pub revision: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Tool {
    /// The versioned part of a tool: what history records keep and diff.
    pub fn snapshot(&self) -> ToolSnapshot {
        ToolSnapshot {
            name: self.name.to_string(),
            description: self.description.clone(),
            version: self.version.to_string(),
            status: self.status,
            tags: self.tags.clone(),
            config: self.config.to_value(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolSnapshot {
    pub name: String,
    pub description: Option<String>,
    pub version: String,
    pub status: ToolStatus,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub config: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeType {
    Create,
    Update,
    Delete,
    Sync,
    Restore,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Sync => "sync",
            Self::Restore => "restore",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "create" => Self::Create,
            "update" => Self::Update,
            "delete" => Self::Delete,
            "sync" => Self::Sync,
            "restore" => Self::Restore,
            _ => return None,
        })
    }
}

/// One entry of `mcp_config_history`: the full snapshot after a change and the
/// RFC 6902 JSON Patch that turns the previous snapshot into this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryRecord {
    pub id: Uuid,
    pub tool_id: Uuid,
    /// Position in the tool's history, 1 for the create record.
    pub sequence: i64,
    pub version: String,
    pub change_type: ChangeType,
    pub changed_by: Uuid,
    pub changed_at: DateTime<Utc>,
    pub snapshot: ToolSnapshot,
    /// JSON Patch from the previous snapshot (`{}` before the first) to this one.
    #[schema(value_type = Vec<Object>)]
    pub diff: Value,
}
