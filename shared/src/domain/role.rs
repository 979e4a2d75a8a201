//! Roles and the permissions they grant (SPEC §3 "Roles").

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Developer,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Developer, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Developer => "developer",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Self::Admin),
            "developer" => Ok(Self::Developer),
            "viewer" => Ok(Self::Viewer),
            _ => Err("must be one of: admin, developer, viewer".into()),
        }
    }

    pub fn grants(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Self::Admin => true,
            Self::Developer => matches!(
                permission,
                ToolsRead
                    | ToolsWrite
                    | ApiKeysManage
                    | KnowledgeRead
                    | KnowledgeWrite
                    | DeploymentsRead
                    | DeploymentsWrite
                    | AnalysisRun
            ),
            Self::Viewer => matches!(
                permission,
                ToolsRead | ApiKeysManage | KnowledgeRead | DeploymentsRead
            ),
        }
    }
}

/// What a route needs. The string form is what a 403 names in `required_permission`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read the tool catalog, tool history.
    ToolsRead,
    /// Create tools, change one's own tools.
    ToolsWrite,
    /// Change or delete tools authored by someone else.
    ToolsWriteAny,
    /// Create, list and revoke one's own API keys.
    ApiKeysManage,
    /// List users, change roles, deactivate accounts.
    UsersManage,
    /// Search the knowledge base, read public and one's own documents.
    KnowledgeRead,
    /// Add documents, delete one's own.
    KnowledgeWrite,
    /// Read one's own deployments, their health, metrics and logs.
    DeploymentsRead,
    /// Read anyone's deployments (admins).
    DeploymentsReadAny,
    /// Deploy one's own tools, stop one's own deployments.
    DeploymentsWrite,
    /// Stop (or deploy) anyone's.
    DeploymentsWriteAny,
    /// Deploy a process (stdio) runtime: admins, and developers unless the
    /// operator turns it off (`PROCESS_DEPLOYMENTS_FOR_DEVELOPERS`).
    DeploymentsProcess,
    /// Start analysis jobs (`/analyze/*`).
    AnalysisRun,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToolsRead => "tools:read",
            Self::ToolsWrite => "tools:write",
            Self::ToolsWriteAny => "tools:write:any",
            Self::ApiKeysManage => "api_keys:manage",
            Self::UsersManage => "users:manage",
            Self::KnowledgeRead => "knowledge:read",
            Self::KnowledgeWrite => "knowledge:write",
            Self::DeploymentsRead => "deployments:read",
            Self::DeploymentsReadAny => "deployments:read:any",
            Self::DeploymentsWrite => "deployments:write",
            Self::DeploymentsWriteAny => "deployments:write:any",
            Self::DeploymentsProcess => "deployments:process",
            Self::AnalysisRun => "analysis:run",
        }
    }
}
