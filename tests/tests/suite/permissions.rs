//! The permission matrix (SPEC §5.7): every route of the API × anonymous,
//! viewer, developer-owner, developer-non-owner and admin, with bearer tokens
//! and again with API keys. Each cell gets fresh resources, so a write in one
//! cell never changes what another cell sees. All failing cells are printed
//! together. A second check holds the table to the OpenAPI document, so a
//! route added later without a row here fails loudly.

use std::collections::BTreeSet;

use mcp_platform_tests::{spawn_app_with, TestApp, TestUser};
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Viewer,
    Owner,
    Stranger,
    Admin,
}

const EVERYONE: [Who; 5] = [
    Who::Anonymous,
    Who::Viewer,
    Who::Owner,
    Who::Stranger,
    Who::Admin,
];

/// Starting an analysis: developers and admins.
const ANALYSIS: [Expect; 5] = [
    Status(401),
    Forbidden("analysis:run"),
    Status(202),
    Status(202),
    Status(202),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    Bearer,
    ApiKey,
}

/// What a cell must answer.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Status(u16),
    /// 403 naming this permission.
    Forbidden(&'static str),
}
use Expect::{Forbidden, Status};

/// The resources one cell works on, made fresh for it.
struct Fixture {
    tool_id: String,
    tool_slug: String,
    /// An API key id of the caller (of the owner for anonymous).
    key_id: String,
    refresh_token: String,
    unique: String,
    target_user_id: String,
    /// A private knowledge document of the owner.
    document_id: String,
    /// A running (private) deployment of the owner, for deployment and gateway routes.
    deployment_id: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    Nothing,
    Tool,
    OwnKey,
    RefreshToken,
    Document,
    Deployment,
}

struct Route {
    method: &'static str,
    /// The OpenAPI path template this row covers.
    template: &'static str,
    /// What the row is about, when several rows share a template.
    case: &'static str,
    needs: Needs,
    path: fn(&Fixture) -> String,
    body: fn(&Fixture) -> Option<Value>,
    /// Anonymous, viewer, owner, stranger, admin.
    expect: [Expect; 5],
}

fn no_body(_: &Fixture) -> Option<Value> {
    None
}

const PUBLIC: [Expect; 5] = [Status(200); 5];
const SIGNED_IN: [Expect; 5] = [
    Status(401),
    Status(200),
    Status(200),
    Status(200),
    Status(200),
];
const ADMIN_ONLY: [Expect; 5] = [
    Status(401),
    Forbidden("users:manage"),
    Forbidden("users:manage"),
    Forbidden("users:manage"),
    Status(200),
];

/// A write to the owner's tool: only its author and admins may.
const fn tool_write(ok: u16) -> [Expect; 5] {
    [
        Status(401),
        Forbidden("tools:write"),
        Status(ok),
        Forbidden("tools:write:any"),
        Status(ok),
    ]
}

const GATEWAY_CALL: [Expect; 5] = gateway(200);

/// A private resource read: its owner and admins; anyone else is told it
/// does not exist.
const OWNER_AND_ADMINS: [Expect; 5] = [
    Status(401),
    Status(404),
    Status(200),
    Status(404),
    Status(200),
];

/// A call to the owner's private deployment.
const fn gateway(ok: u16) -> [Expect; 5] {
    [
        Status(401),
        Forbidden("deployments:call"),
        Status(ok),
        Forbidden("deployments:call"),
        Status(ok),
    ]
}

const fn signed_in(ok: u16) -> [Expect; 5] {
    [Status(401), Status(ok), Status(ok), Status(ok), Status(ok)]
}

fn routes() -> Vec<Route> {
    vec![
        // ---- auth: public
        Route {
            method: "POST",
            template: "/api/v1/auth/register",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/auth/register".into(),
            body: |f| {
                Some(
                    json!({"username": format!("new{}", f.unique), "email": format!("new{}@example.com", f.unique), "password": "a-long-password"}),
                )
            },
            expect: [Status(201); 5],
        },
        Route {
            method: "POST",
            template: "/api/v1/auth/login",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/auth/login".into(),
            body: |_| Some(json!({"username": "loginee", "password": "pw-loginee-long-enough"})),
            expect: PUBLIC,
        },
        Route {
            method: "POST",
            template: "/api/v1/auth/refresh",
            case: "",
            needs: Needs::RefreshToken,
            path: |_| "/api/v1/auth/refresh".into(),
            body: |f| Some(json!({"refresh_token": f.refresh_token})),
            expect: PUBLIC,
        },
        // ---- auth: any signed-in caller
        Route {
            method: "POST",
            template: "/api/v1/auth/logout",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/auth/logout".into(),
            // A token that is nobody's: refused for everyone, nothing
            // revoked (what logout ends is tests/suite/auth.rs's).
            body: |_| Some(json!({"refresh_token": "mcp_rt_nobodys"})),
            expect: [Status(401); 5],
        },
        Route {
            method: "GET",
            template: "/api/v1/auth/me",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/auth/me".into(),
            body: no_body,
            expect: SIGNED_IN,
        },
        Route {
            method: "POST",
            template: "/api/v1/auth/api-keys",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/auth/api-keys".into(),
            body: |_| Some(json!({"name": "matrix"})),
            expect: signed_in(201),
        },
        Route {
            method: "GET",
            template: "/api/v1/auth/api-keys",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/auth/api-keys".into(),
            body: no_body,
            expect: SIGNED_IN,
        },
        Route {
            method: "DELETE",
            template: "/api/v1/auth/api-keys/{id}",
            case: "own key",
            needs: Needs::OwnKey,
            path: |f| format!("/api/v1/auth/api-keys/{}", f.key_id),
            body: no_body,
            expect: signed_in(204),
        },
        Route {
            method: "DELETE",
            template: "/api/v1/auth/api-keys/{id}",
            case: "unknown key",
            needs: Needs::Nothing,
            path: |_| format!("/api/v1/auth/api-keys/{}", Uuid::new_v4()),
            body: no_body,
            expect: signed_in(404),
        },
        // ---- admin
        Route {
            method: "GET",
            template: "/api/v1/admin/users",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/admin/users".into(),
            body: no_body,
            expect: ADMIN_ONLY,
        },
        Route {
            method: "POST",
            template: "/api/v1/admin/users",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/admin/users".into(),
            body: |f| {
                Some(
                    json!({"username": format!("made{}", f.unique), "email": format!("made{}@example.com", f.unique), "password": "a-long-password", "role": "viewer"}),
                )
            },
            expect: [
                Status(401),
                Forbidden("users:manage"),
                Forbidden("users:manage"),
                Forbidden("users:manage"),
                Status(201),
            ],
        },
        Route {
            method: "PATCH",
            template: "/api/v1/admin/users/{id}",
            case: "",
            needs: Needs::Nothing,
            path: |f| format!("/api/v1/admin/users/{}", f.target_user_id),
            body: |_| Some(json!({"role": "developer", "is_active": true})),
            expect: ADMIN_ONLY,
        },
        // ---- mcps
        Route {
            method: "POST",
            template: "/api/v1/mcps",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/mcps".into(),
            body: |f| Some(mcp_platform_tests::tool_body(&format!("new-{}", f.unique))),
            expect: [
                Status(401),
                Forbidden("tools:write"),
                Status(201),
                Status(201),
                Status(201),
            ],
        },
        Route {
            method: "GET",
            template: "/api/v1/mcps",
            case: "",
            needs: Needs::Tool,
            path: |_| "/api/v1/mcps".into(),
            body: no_body,
            expect: SIGNED_IN,
        },
        Route {
            method: "GET",
            template: "/api/v1/mcps/{id}",
            case: "",
            needs: Needs::Tool,
            path: |f| format!("/api/v1/mcps/{}", f.tool_id),
            body: no_body,
            expect: SIGNED_IN,
        },
        Route {
            method: "GET",
            template: "/api/v1/mcps/{id}",
            case: "unknown tool",
            needs: Needs::Nothing,
            path: |_| format!("/api/v1/mcps/{}", Uuid::new_v4()),
            body: no_body,
            expect: signed_in(404),
        },
        Route {
            method: "PUT",
            template: "/api/v1/mcps/{id}",
            case: "",
            needs: Needs::Tool,
            path: |f| format!("/api/v1/mcps/{}", f.tool_id),
            body: |_| Some(json!({"name": "Renamed by PUT"})),
            expect: tool_write(200),
        },
        Route {
            method: "PATCH",
            template: "/api/v1/mcps/{id}",
            case: "",
            needs: Needs::Tool,
            path: |f| format!("/api/v1/mcps/{}", f.tool_id),
            body: |_| Some(json!({"description": "changed by PATCH", "version": "1.1.0"})),
            expect: tool_write(200),
        },
        Route {
            method: "DELETE",
            template: "/api/v1/mcps/{id}",
            case: "",
            needs: Needs::Tool,
            path: |f| format!("/api/v1/mcps/{}", f.tool_id),
            body: no_body,
            expect: tool_write(204),
        },
        Route {
            method: "GET",
            template: "/api/v1/mcps/by-slug/{slug}",
            case: "",
            needs: Needs::Tool,
            path: |f| format!("/api/v1/mcps/by-slug/{}", f.tool_slug),
            body: no_body,
            expect: SIGNED_IN,
        },
        Route {
            method: "GET",
            template: "/api/v1/mcps/by-slug/{slug}",
            case: "unknown slug",
            needs: Needs::Nothing,
            path: |f| format!("/api/v1/mcps/by-slug/nothing-{}", f.unique),
            body: no_body,
            expect: signed_in(404),
        },
        Route {
            method: "GET",
            template: "/api/v1/mcps/{id}/history",
            case: "",
            needs: Needs::Tool,
            path: |f| format!("/api/v1/mcps/{}/history", f.tool_id),
            body: no_body,
            expect: SIGNED_IN,
        },
        Route {
            method: "GET",
            template: "/api/v1/mcps/{id}/history",
            case: "unknown tool",
            needs: Needs::Nothing,
            path: |_| format!("/api/v1/mcps/{}/history", Uuid::new_v4()),
            body: no_body,
            expect: signed_in(404),
        },
        Route {
            method: "POST",
            template: "/api/v1/mcps/{id}/history/{version}/restore",
            case: "",
            needs: Needs::Tool,
            path: |f| format!("/api/v1/mcps/{}/history/1.0.0/restore", f.tool_id),
            body: no_body,
            expect: tool_write(200),
        },
        // ---- knowledge: developers write, everyone signed in reads what they may see
        Route {
            method: "POST",
            template: "/api/v1/knowledge/documents",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/knowledge/documents".into(),
            body: |f| {
                Some(
                    json!({"title": format!("Doc {}", f.unique), "content": "Some text about tools."}),
                )
            },
            expect: [
                Status(401),
                Forbidden("knowledge:write"),
                Status(201),
                Status(201),
                Status(201),
            ],
        },
        Route {
            method: "GET",
            template: "/api/v1/knowledge/documents",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/knowledge/documents".into(),
            body: no_body,
            expect: SIGNED_IN,
        },
        Route {
            method: "GET",
            template: "/api/v1/knowledge/documents/{id}",
            case: "the owner's private document",
            needs: Needs::Document,
            path: |f| format!("/api/v1/knowledge/documents/{}", f.document_id),
            body: no_body,
            expect: [
                Status(401),
                Status(404),
                Status(200),
                Status(404),
                Status(200),
            ],
        },
        Route {
            method: "DELETE",
            template: "/api/v1/knowledge/documents/{id}",
            case: "the owner's private document",
            needs: Needs::Document,
            path: |f| format!("/api/v1/knowledge/documents/{}", f.document_id),
            body: no_body,
            expect: [
                Status(401),
                Forbidden("knowledge:write"),
                Status(204),
                Status(404),
                Status(204),
            ],
        },
        Route {
            method: "POST",
            template: "/api/v1/knowledge/search",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/knowledge/search".into(),
            body: |_| Some(json!({"query": "tools"})),
            expect: SIGNED_IN,
        },
        // ---- analysis: developers and admins; improvements of any readable tool
        Route {
            method: "POST",
            template: "/api/v1/analyze/feasibility",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/analyze/feasibility".into(),
            body: |_| {
                Some(
                    json!({"config": {"tools": [{"name": "echo", "description": "Echoes its input"}]}}),
                )
            },
            expect: ANALYSIS,
        },
        Route {
            method: "POST",
            template: "/api/v1/analyze/improvements",
            case: "",
            needs: Needs::Tool,
            path: |_| "/api/v1/analyze/improvements".into(),
            body: |f| Some(json!({"tool_id": f.tool_id})),
            expect: ANALYSIS,
        },
        Route {
            method: "POST",
            template: "/api/v1/analyze/improvements",
            case: "unknown tool",
            needs: Needs::Nothing,
            path: |_| "/api/v1/analyze/improvements".into(),
            body: |_| Some(json!({"tool_id": Uuid::new_v4()})),
            expect: [
                Status(401),
                Forbidden("analysis:run"),
                Status(404),
                Status(404),
                Status(404),
            ],
        },
        Route {
            method: "POST",
            template: "/api/v1/analyze/generate-config",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/analyze/generate-config".into(),
            body: |_| Some(json!({"requirements": "read files from a project directory"})),
            expect: ANALYSIS,
        },
        // ---- tasks: any signed-in caller, own tasks only (tasks.rs tests ownership)
        Route {
            method: "GET",
            template: "/api/v1/tasks",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/tasks".into(),
            body: no_body,
            expect: SIGNED_IN,
        },
        Route {
            method: "GET",
            template: "/api/v1/tasks/{id}",
            case: "unknown task",
            needs: Needs::Nothing,
            path: |_| format!("/api/v1/tasks/{}", Uuid::new_v4()),
            body: no_body,
            expect: signed_in(404),
        },
        Route {
            method: "DELETE",
            template: "/api/v1/tasks/{id}",
            case: "unknown task",
            needs: Needs::Nothing,
            path: |_| format!("/api/v1/tasks/{}", Uuid::new_v4()),
            body: no_body,
            expect: signed_in(404),
        },
        // ---- real-time: authenticated before anything else
        Route {
            method: "GET",
            template: "/ws",
            case: "not an upgrade",
            needs: Needs::Nothing,
            path: |_| "/ws".into(),
            body: no_body,
            expect: signed_in(400),
        },
        Route {
            method: "GET",
            template: "/events",
            case: "unknown task",
            needs: Needs::Nothing,
            path: |_| format!("/events?task_id={}", Uuid::new_v4()),
            body: no_body,
            expect: signed_in(404),
        },
        // ---- operations: public, also with credentials
        Route {
            method: "GET",
            template: "/",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/".into(),
            body: no_body,
            expect: PUBLIC,
        },
        Route {
            method: "GET",
            template: "/health",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/health".into(),
            body: no_body,
            expect: PUBLIC,
        },
        Route {
            method: "GET",
            template: "/ready",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/ready".into(),
            body: no_body,
            expect: PUBLIC,
        },
        Route {
            method: "GET",
            template: "/metrics",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/metrics".into(),
            body: no_body,
            expect: PUBLIC,
        },
        Route {
            method: "GET",
            template: "/api/openapi.json",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/openapi.json".into(),
            body: no_body,
            expect: PUBLIC,
        },
        Route {
            method: "GET",
            template: "/api/docs",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/docs".into(),
            body: no_body,
            expect: PUBLIC,
        },
        // ---- deployments: private to their owner and admins (others: 404);
        // developers deploy their own tools, admins any
        Route {
            method: "POST",
            template: "/api/v1/deployments",
            case: "",
            needs: Needs::Deployment,
            path: |_| "/api/v1/deployments".into(),
            // A second tool of the owner's, not yet deployed.
            body: |f| Some(json!({"tool_id": f.tool_id})),
            expect: [
                Status(401),
                Forbidden("deployments:write"),
                Status(201),
                Forbidden("deployments:write:any"),
                Status(201),
            ],
        },
        Route {
            method: "GET",
            template: "/api/v1/deployments",
            case: "",
            needs: Needs::Nothing,
            path: |_| "/api/v1/deployments".into(),
            body: no_body,
            expect: SIGNED_IN,
        },
        Route {
            method: "GET",
            template: "/api/v1/deployments/{id}",
            case: "",
            needs: Needs::Deployment,
            path: |f| format!("/api/v1/deployments/{}", f.deployment_id),
            body: no_body,
            expect: OWNER_AND_ADMINS,
        },
        Route {
            method: "DELETE",
            template: "/api/v1/deployments/{id}",
            case: "",
            needs: Needs::Deployment,
            path: |f| format!("/api/v1/deployments/{}", f.deployment_id),
            body: no_body,
            expect: [
                Status(401),
                Forbidden("deployments:write"),
                Status(200),
                Status(404),
                Status(200),
            ],
        },
        Route {
            method: "POST",
            template: "/api/v1/deployments/{id}/restart",
            case: "",
            needs: Needs::Deployment,
            path: |f| format!("/api/v1/deployments/{}/restart", f.deployment_id),
            body: |_| Some(json!({})),
            // The fixture's deployment is running: its owner and admins are
            // told it does not need a restart.
            expect: [
                Status(401),
                Forbidden("deployments:write"),
                Status(409),
                Status(404),
                Status(409),
            ],
        },
        Route {
            method: "POST",
            template: "/api/v1/deployments/{id}/upgrade",
            case: "",
            needs: Needs::Deployment,
            path: |f| format!("/api/v1/deployments/{}/upgrade", f.deployment_id),
            body: |_| Some(json!({})),
            // It runs the tool's current version already: nothing to do.
            expect: [
                Status(401),
                Forbidden("deployments:write"),
                Status(200),
                Status(404),
                Status(200),
            ],
        },
        Route {
            method: "GET",
            template: "/api/v1/deployments/{id}/logs",
            case: "",
            needs: Needs::Deployment,
            path: |f| format!("/api/v1/deployments/{}/logs", f.deployment_id),
            body: no_body,
            expect: OWNER_AND_ADMINS,
        },
        // ---- the gateway: a private deployment serves its owner and admins
        Route {
            method: "POST",
            template: "/mcp/{slug}",
            case: "",
            needs: Needs::Deployment,
            path: |f| format!("/mcp/{}", f.tool_slug),
            body: |_| {
                Some(
                    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "matrix", "version": "1"}}}),
                )
            },
            expect: GATEWAY_CALL,
        },
        Route {
            method: "GET",
            template: "/mcp/{slug}",
            case: "without a session",
            needs: Needs::Deployment,
            path: |f| format!("/mcp/{}", f.tool_slug),
            body: no_body,
            expect: gateway(400),
        },
        Route {
            method: "DELETE",
            template: "/mcp/{slug}",
            case: "without a session",
            needs: Needs::Deployment,
            path: |f| format!("/mcp/{}", f.tool_slug),
            body: no_body,
            expect: gateway(400),
        },
        Route {
            method: "POST",
            template: "/mcp/{slug}/v1/tools/{tool_name}",
            case: "",
            needs: Needs::Deployment,
            path: |f| format!("/mcp/{}/v1/tools/echo", f.tool_slug),
            body: |_| Some(json!({"message": "hi"})),
            expect: GATEWAY_CALL,
        },
    ]
}

/// The platform with one user of each kind, each holding an API key.
struct World {
    app: TestApp,
    viewer: TestUser,
    owner: TestUser,
    stranger: TestUser,
    admin: TestUser,
    target_user_id: String,
    /// API key secrets by [`Who`] (anonymous has none).
    keys: Vec<(Who, String)>,
    /// Strings no response may ever contain.
    secrets: Vec<String>,
}

impl World {
    async fn new() -> Self {
        // The matrix is about permissions: request and login limits would only
        // add 429s from the hundreds of requests it sends from one address.
        let app = spawn_app_with(&[
            ("RATE_LIMIT_ENABLED", "false"),
            ("LOGIN_MAX_ATTEMPTS_PER_IP", "100000"),
            ("LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", "100000"),
        ])
        .await;
        let viewer = app.user("viewer", "viewer").await;
        let owner = app.user("owner", "developer").await;
        let stranger = app.user("stranger", "developer").await;
        let admin = app.admin("admin").await;
        let target = app.user("target", "developer").await;
        let loginee = app.register("loginee", "developer").await;
        assert_eq!(loginee.status, 201, "{}", loginee.text);
        let mut world = Self {
            app,
            viewer,
            owner,
            stranger,
            admin,
            target_user_id: target.id.clone(),
            keys: Vec::new(),
            secrets: Vec::new(),
        };
        for who in [Who::Viewer, Who::Owner, Who::Stranger, Who::Admin] {
            let token = world.token(who).to_owned();
            let created = world
                .app
                .post(
                    "/api/v1/auth/api-keys",
                    Some(&token),
                    json!({"name": "setup"}),
                )
                .await;
            assert_eq!(created.status, 201, "setup key: {}", created.text);
            let key = created.body["key"].as_str().unwrap_or_default().to_owned();
            world.secrets.push(key.clone());
            world.secrets.push(mcp_platform::auth::sha256_hex(&key));
            world.keys.push((who, key));
        }
        for user in [
            &world.viewer,
            &world.owner,
            &world.stranger,
            &world.admin,
            &target,
        ] {
            world.secrets.push(user.password.clone());
            world.secrets.push(user.refresh_token.clone());
        }
        world.secrets.push("$argon2".into());
        world
    }

    fn user(&self, who: Who) -> Option<&TestUser> {
        match who {
            Who::Anonymous => None,
            Who::Viewer => Some(&self.viewer),
            Who::Owner => Some(&self.owner),
            Who::Stranger => Some(&self.stranger),
            Who::Admin => Some(&self.admin),
        }
    }

    /// The caller's bearer token (the owner's for anonymous, for setup only).
    fn token(&self, who: Who) -> &str {
        &self.user(who).unwrap_or(&self.owner).access_token
    }

    fn credential(&self, who: Who, kind: Credential) -> Option<String> {
        let user = self.user(who)?;
        match kind {
            Credential::Bearer => Some(user.access_token.clone()),
            Credential::ApiKey => self
                .keys
                .iter()
                .find(|(w, _)| *w == who)
                .map(|(_, k)| k.clone()),
        }
    }

    async fn fixture(&self, needs: Needs, who: Who, n: usize) -> Fixture {
        let unique = format!("{n}x{}", &Uuid::new_v4().simple().to_string()[..8]);
        let mut f = Fixture {
            tool_id: String::new(),
            tool_slug: String::new(),
            key_id: String::new(),
            refresh_token: String::new(),
            unique: unique.clone(),
            target_user_id: self.target_user_id.clone(),
            document_id: String::new(),
            deployment_id: String::new(),
        };
        match needs {
            Needs::Nothing => {}
            Needs::Tool => {
                let slug = format!("tool-{unique}");
                let tool = self.app.create_tool(&self.owner.access_token, &slug).await;
                f.tool_id = tool["id"].as_str().unwrap_or_default().to_owned();
                f.tool_slug = slug;
            }
            Needs::OwnKey => {
                let created = self
                    .app
                    .post(
                        "/api/v1/auth/api-keys",
                        Some(self.token(who)),
                        json!({"name": "to-delete"}),
                    )
                    .await;
                assert_eq!(created.status, 201, "fixture key: {}", created.text);
                f.key_id = created.body["id"].as_str().unwrap_or_default().to_owned();
            }
            Needs::Deployment => {
                // A tiny stdio MCP server: answers every request with a
                // result fit for initialize and tools/call alike.
                let script = r#"while read -r line; do id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p'); [ -n "$id" ] && printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"sh","version":"1"},"content":[]}}\n' "$id"; done"#;
                let mut body = mcp_platform_tests::tool_body(&format!("dep-{unique}"));
                body["config"]["runtime"] =
                    json!({"transport": "stdio", "command": "sh", "args": ["-c", script]});
                let tool = self
                    .app
                    .post("/api/v1/mcps", Some(&self.owner.access_token), body.clone())
                    .await;
                assert_eq!(tool.status, 201, "fixture tool: {}", tool.text);
                let deployed = self
                    .app
                    .post(
                        "/api/v1/deployments",
                        Some(&self.owner.access_token),
                        json!({"tool_id": tool.body["id"]}),
                    )
                    .await;
                assert_eq!(
                    deployed.status, 201,
                    "fixture deployment: {}",
                    deployed.text
                );
                f.deployment_id = deployed.body["deployment_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                f.tool_slug = format!("dep-{unique}");
                // A second tool of the owner's, free to deploy.
                body["slug"] = json!(format!("dep2-{unique}"));
                let second = self
                    .app
                    .post("/api/v1/mcps", Some(&self.owner.access_token), body)
                    .await;
                assert_eq!(second.status, 201, "fixture tool: {}", second.text);
                f.tool_id = second.body["id"].as_str().unwrap_or_default().to_owned();
            }
            Needs::RefreshToken => {
                let session = self.app.login("loginee", "pw-loginee-long-enough").await;
                f.refresh_token = session.refresh_token;
            }
            Needs::Document => {
                let created = self
                    .app
                    .post(
                        "/api/v1/knowledge/documents",
                        Some(&self.owner.access_token),
                        json!({"title": format!("Private {unique}"), "content": "Owner's notes."}),
                    )
                    .await;
                assert_eq!(created.status, 201, "fixture document: {}", created.text);
                f.document_id = created.body["document_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
            }
        }
        f
    }

    /// Runs every cell; returns one line per failing cell.
    async fn run(&self, kind: Credential) -> Vec<String> {
        let mut failures = Vec::new();
        let mut n = 0;
        for route in routes() {
            for (col, who) in EVERYONE.iter().enumerate() {
                n += 1;
                let fixture = self.fixture(route.needs, *who, n).await;
                let path = (route.path)(&fixture);
                let credential = self.credential(*who, kind);
                let reply = self
                    .app
                    .send(
                        route.method,
                        &path,
                        credential.as_deref(),
                        (route.body)(&fixture),
                    )
                    .await;
                let cell = format!(
                    "{} {} {}as {who:?} ({kind:?})",
                    route.method,
                    route.template,
                    if route.case.is_empty() {
                        String::new()
                    } else {
                        format!("[{}] ", route.case)
                    }
                );
                if let Some(problem) = judge(&reply, route.expect[col]) {
                    failures.push(format!("{cell}: {problem}"));
                }
                if let Some(secret) = self
                    .secrets
                    .iter()
                    .find(|s| reply.text.contains(s.as_str()))
                {
                    failures.push(format!(
                        "{cell}: the response contains a secret ({}…)",
                        &secret[..secret.len().min(12)]
                    ));
                }
                if matches!(route.expect[col], Forbidden(_)) && route.needs == Needs::Tool {
                    if let Some(problem) = self.unchanged(&fixture).await {
                        failures.push(format!("{cell}: refused, yet {problem}"));
                    }
                }
            }
        }
        failures
    }

    /// After a refused write: the tool is still there, as created.
    async fn unchanged(&self, f: &Fixture) -> Option<String> {
        let read = self
            .app
            .get(
                &format!("/api/v1/mcps/{}", f.tool_id),
                Some(&self.admin.access_token),
            )
            .await;
        let history = self
            .app
            .get(
                &format!("/api/v1/mcps/{}/history", f.tool_id),
                Some(&self.admin.access_token),
            )
            .await;
        let versions = history.body["versions"].as_array().map_or(0, Vec::len);
        (read.status != 200 || versions != 1).then(|| {
            format!(
                "the tool changed (read {}, {versions} history records)",
                read.status
            )
        })
    }
}

fn judge(reply: &mcp_platform_tests::Reply, expect: Expect) -> Option<String> {
    let (status, code, permission) = match expect {
        Status(s) => (
            s,
            match s {
                401 => Some("UNAUTHORIZED"),
                404 => Some("NOT_FOUND"),
                _ => None,
            },
            None,
        ),
        Forbidden(p) => (403, Some("FORBIDDEN"), Some(p)),
    };
    if reply.status != status {
        let text: String = reply.text.chars().take(300).collect();
        return Some(format!("expected {status}, got {}: {text}", reply.status));
    }
    if let Some(code) = code {
        if reply.body["error_code"] != code {
            return Some(format!("expected error_code {code}: {}", reply.text));
        }
    }
    if let Some(p) = permission {
        if reply.body["required_permission"] != p {
            return Some(format!("expected required_permission {p}: {}", reply.text));
        }
    }
    None
}

#[tokio::test]
async fn every_route_enforces_its_permission_with_bearer_tokens() {
    let world = World::new().await;
    let failures = world.run(Credential::Bearer).await;
    assert!(
        failures.is_empty(),
        "{} failing cells:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_route_enforces_its_permission_with_api_keys() {
    let world = World::new().await;
    let failures = world.run(Credential::ApiKey).await;
    assert!(
        failures.is_empty(),
        "{} failing cells:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_matrix_covers_every_route_of_the_openapi_document() {
    let app = spawn_app_with(&[]).await;
    let doc = app.get("/api/openapi.json", None).await;
    assert_eq!(doc.status, 200, "{}", doc.text);
    let mut documented = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().cloned().unwrap_or_default() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let covered: BTreeSet<String> = routes()
        .iter()
        .map(|r| format!("{} {}", r.method, r.template))
        .collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the permission matrix (add one): {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "matrix rows for routes the API no longer has: {stale:?}"
    );
}

#[tokio::test]
async fn no_caller_sees_another_users_api_keys() {
    let world = World::new().await;
    for who in [Who::Viewer, Who::Owner, Who::Stranger, Who::Admin] {
        let list = world
            .app
            .get("/api/v1/auth/api-keys", Some(world.token(who)))
            .await;
        assert_eq!(list.status, 200, "{who:?}: {}", list.text);
        let own_prefix = world
            .keys
            .iter()
            .find(|(w, _)| *w == who)
            .map(|(_, k)| k[..15].to_owned())
            .unwrap_or_default();
        for item in list.body["items"].as_array().cloned().unwrap_or_default() {
            assert_eq!(
                item["prefix"], own_prefix,
                "{who:?} listed a key that is not theirs: {}",
                list.text
            );
        }
        for (other, key) in world.keys.iter().filter(|(w, _)| *w != who) {
            assert!(
                !list.text.contains(&key[..15]),
                "{who:?} sees a key of {other:?}: {}",
                list.text
            );
        }
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_get_the_error_envelope_whoever_asks() {
    let world = World::new().await;
    for who in EVERYONE {
        let auth = world.credential(who, Credential::Bearer);
        let missing = world
            .app
            .send("GET", "/api/v1/nothing-here", auth.as_deref(), None)
            .await;
        mcp_platform_tests::assert_error(
            &missing,
            404,
            "NOT_FOUND",
            &format!("{who:?} unknown path"),
        );
        let wrong_method = world
            .app
            .send("DELETE", "/api/v1/auth/me", auth.as_deref(), None)
            .await;
        mcp_platform_tests::assert_error(
            &wrong_method,
            405,
            "METHOD_NOT_ALLOWED",
            &format!("{who:?} wrong method"),
        );
    }
}

#[tokio::test]
async fn admin_routes_refuse_non_admins_before_reading_the_body() {
    let world = World::new().await;
    let patch_path = format!("/api/v1/admin/users/{}", world.target_user_id);
    for who in [Who::Viewer, Who::Owner] {
        for (method, path) in [
            ("POST", "/api/v1/admin/users"),
            ("PATCH", patch_path.as_str()),
        ] {
            for body in [&b"{"[..], b"{}", b"[]", b"{\"role\": \"root\"}"] {
                let reply = world
                    .app
                    .send_raw(method, path, Some(world.token(who)), body.to_vec())
                    .await;
                mcp_platform_tests::assert_error(
                    &reply,
                    403,
                    "FORBIDDEN",
                    &format!(
                        "{method} {path} as {who:?} with {}",
                        String::from_utf8_lossy(body)
                    ),
                );
            }
        }
    }
}
