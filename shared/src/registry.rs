//! The tool registry: the rules of creating, changing, deleting and restoring
//! tools, each change recorded as one history entry, reads through the cache.
//!
//! Choices where SPEC is silent:
//! - A PATCH that changes nothing records nothing and returns the tool as is.
//! - The slug is fixed at creation (it is the public address `/mcp/{slug}`).
//! - A version may stay the same across updates; it may never go down, except
//!   through an explicit restore, which makes the restored version current.
//! - Restore brings back name, description, version, tags and config of the
//!   newest record with that version; the status stays as it is.
//! - Concurrent writers are serialised by an optimistic revision check; the
//!   loser re-reads and re-applies its change (a few times) before a 409.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::{
    ChangeType, HistoryRecord, Permission, Principal, SemVer, Slug, Tool, ToolConfig, ToolName,
    ToolStatus,
};
use crate::error::{Error, Result};
use crate::redact;
use crate::state::AppState;

/// The public representation of a tool (`GET /mcps/{id}`), also what the cache holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolView {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub version: String,
    #[schema(value_type = Object)]
    pub config: Value,
    pub status: ToolStatus,
    pub tags: Vec<String>,
    pub author_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Tool> for ToolView {
    fn from(t: &Tool) -> Self {
        Self {
            id: t.id,
            name: t.name.to_string(),
            slug: t.slug.to_string(),
            description: t.description.clone(),
            version: t.version.to_string(),
            config: t.config.to_value(),
            status: t.status,
            tags: t.tags.clone(),
            author_id: t.author_id,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

pub struct NewTool {
    pub name: ToolName,
    pub slug: Slug,
    pub description: Option<String>,
    pub version: SemVer,
    pub config: ToolConfig,
    pub tags: Vec<String>,
}

/// Fields of a partial update (`PUT`/`PATCH /mcps/{id}`); an absent field
/// stays as it is. `description` is doubly optional: `null` clears it.
#[derive(Debug, Default, Clone, utoipa::ToSchema)]
pub struct ToolPatch {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 255)]
    pub name: Option<ToolName>,
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// May not be lower than the current version.
    #[schema(value_type = Option<String>, example = "1.1.0")]
    pub version: Option<SemVer>,
    #[schema(value_type = Option<Object>)]
    pub config: Option<ToolConfig>,
    pub status: Option<ToolStatus>,
    pub tags: Option<Vec<String>>,
}

const CONCURRENT_RETRIES: usize = 3;

fn cache_key(id: Uuid) -> String {
    format!("cache:mcp_tool:{id}")
}

fn snapshot_value(tool: &Tool) -> Result<Value> {
    serde_json::to_value(tool.snapshot()).map_err(|e| Error::internal(format!("snapshot: {e}")))
}

fn record(
    before: Option<&Tool>,
    after: &Tool,
    change_type: ChangeType,
    actor: Uuid,
    at: DateTime<Utc>,
) -> Result<HistoryRecord> {
    let previous = match before {
        Some(t) => snapshot_value(t)?,
        None => Value::Object(serde_json::Map::new()),
    };
    let diff = json_patch::diff(&previous, &snapshot_value(after)?);
    Ok(HistoryRecord {
        id: Uuid::new_v4(),
        tool_id: after.id,
        sequence: after.revision,
        version: after.version.to_string(),
        change_type,
        changed_by: actor,
        changed_at: at,
        snapshot: after.snapshot(),
        diff: serde_json::to_value(diff).map_err(|e| Error::internal(format!("diff: {e}")))?,
    })
}

pub fn require(principal: &Principal, permission: Permission) -> Result<()> {
    if principal.role.grants(permission) {
        Ok(())
    } else {
        Err(Error::Forbidden {
            required_permission: permission.as_str(),
        })
    }
}

/// Developers change only their own tools; admins change any.
fn require_can_change(principal: &Principal, tool: &Tool) -> Result<()> {
    require(principal, Permission::ToolsWrite)?;
    if tool.author_id == principal.user_id {
        Ok(())
    } else {
        require(principal, Permission::ToolsWriteAny)
    }
}

pub async fn create(state: &AppState, principal: &Principal, new: NewTool) -> Result<Tool> {
    require(principal, Permission::ToolsWrite)?;
    let now = crate::domain::now();
    let tool = Tool {
        id: Uuid::new_v4(),
        name: new.name,
        slug: new.slug,
        description: new.description,
        version: new.version,
        config: new.config,
        status: ToolStatus::Draft,
        tags: new.tags,
        author_id: principal.user_id,
        revision: 1,
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    let entry = record(None, &tool, ChangeType::Create, principal.user_id, now)?;
    state.tools.insert(&tool, &entry).await?;
    deliver_history_after_change(state).await;
    crate::knowledge::catalog_put(state, &tool).await;
    Ok(tool)
}

/// A live tool, or 404.
pub async fn find(state: &AppState, id: Uuid) -> Result<Tool> {
    state
        .tools
        .find(id)
        .await?
        .ok_or_else(|| Error::not_found("mcp_tool", id))
}

/// The config of `tool` at `version`: the current one, or the newest
/// history record at that version (a deployment runs the version it was
/// deployed or upgraded to, not whatever the tool holds now). 404 naming
/// `tool@version` when the history has no such version.
pub async fn config_at(state: &AppState, tool: &Tool, version: &str) -> Result<ToolConfig> {
    if tool.version.to_string() == version {
        return Ok(tool.config.clone());
    }
    deliver_history(state).await?;
    let record = state
        .history
        .find_version(tool.id, version)
        .await?
        .ok_or_else(|| Error::not_found("history_version", format!("{}@{version}", tool.id)))?;
    Ok(ToolConfig::from_stored(record.snapshot.config))
}

/// The JSON of a tool's [`ToolView`] as `principal` may see it: with
/// configuration secrets for the author and admins, masked for others.
pub async fn view_json_for(state: &AppState, principal: &Principal, id: Uuid) -> Result<Bytes> {
    let entry = cached_entry(state, id).await?;
    let (author, json) = split_entry(&entry)?;
    if redact::may_read_secrets(principal, author) {
        return Ok(json);
    }
    let mut view: Value =
        serde_json::from_slice(&json).map_err(|e| Error::internal(format!("cached tool: {e}")))?;
    redact::config(&mut view["config"]);
    serde_json::to_vec(&view)
        .map(Bytes::from)
        .map_err(|e| Error::internal(format!("encode tool: {e}")))
}

/// The id of the live tool with this slug. A slug never moves to another
/// tool (it stays reserved after deletion), so the mapping is cached; a
/// deleted tool is then refused by the read of its id.
pub async fn id_by_slug(state: &AppState, slug: &str) -> Result<Uuid> {
    let key = format!("cache:mcp_slug:{slug}");
    if state.settings.cache_enabled {
        if let Ok(Some(id)) = state.cache.get(&key).await {
            if let Some(id) = std::str::from_utf8(&id)
                .ok()
                .and_then(|s| Uuid::parse_str(s).ok())
            {
                return Ok(id);
            }
        }
    }
    let tool = state
        .tools
        .find_by_slug(slug)
        .await?
        .ok_or_else(|| Error::not_found("mcp_tool", slug))?;
    if state.settings.cache_enabled {
        let id = Bytes::from(tool.id.to_string());
        if let Err(e) = state.cache.set(&key, id, state.settings.cache_ttl).await {
            tracing::warn!(error = %e, "cache write failed");
        }
    }
    Ok(tool.id)
}

/// The full JSON of a tool's [`ToolView`], secrets included.
pub async fn view_json(state: &AppState, id: Uuid) -> Result<Bytes> {
    let entry = cached_entry(state, id).await?;
    split_entry(&entry).map(|(_, json)| json)
}

/// A cache entry is the author's id (36 ASCII bytes) followed by the view's
/// JSON, so deciding who sees secrets needs no parse on a hit.
fn encode_entry(tool: &Tool) -> Result<Bytes> {
    let mut entry = tool.author_id.to_string().into_bytes();
    serde_json::to_writer(&mut entry, &ToolView::from(tool))
        .map_err(|e| Error::internal(format!("encode tool: {e}")))?;
    Ok(Bytes::from(entry))
}

fn split_entry(entry: &Bytes) -> Result<(Uuid, Bytes)> {
    const ID_LEN: usize = 36;
    let author = entry
        .get(..ID_LEN)
        .and_then(|id| std::str::from_utf8(id).ok())
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| Error::internal("a cached tool entry without its author"))?;
    Ok((author, entry.slice(ID_LEN..)))
}

/// A tool's cache entry, from the cache when it is there. Cache failures are
/// logged and bypassed: the database is the truth.
async fn cached_entry(state: &AppState, id: Uuid) -> Result<Bytes> {
    if !state.settings.cache_enabled {
        return encode_entry(&find(state, id).await?);
    }
    let key = cache_key(id);
    match state.cache.get(&key).await {
        Ok(Some(bytes)) => {
            state.metrics.cache_hit(true);
            return Ok(bytes);
        }
        Ok(None) => state.metrics.cache_hit(false),
        Err(e) => tracing::warn!(error = %e, "cache read failed; reading the database"),
    }
    let tool = find(state, id).await?;
    let bytes = encode_entry(&tool)?;
    let ttl: Duration = state.settings.cache_ttl;
    if let Err(e) = state.cache.set(&key, bytes.clone(), ttl).await {
        tracing::warn!(error = %e, "cache write failed");
        return Ok(bytes);
    }
    // A writer may have committed and invalidated between our database read
    // and our cache write, leaving our older copy cached until its TTL. Writers
    // invalidate after they commit, so one more look at the revision closes the
    // gap: either we see their change here, or their invalidation follows ours.
    match state.tools.find(id).await {
        Ok(Some(now)) if now.revision == tool.revision => {}
        _ => invalidate(state, id).await,
    }
    Ok(bytes)
}

/// A [`ToolView`] as `principal` may see it (see [`view_json_for`]).
pub fn view_for(principal: &Principal, tool: &Tool) -> ToolView {
    let mut view = ToolView::from(tool);
    if !redact::may_read_secrets(principal, tool.author_id) {
        redact::config(&mut view.config);
    }
    view
}

/// History as `principal` may see it: snapshots and diffs without the
/// configuration secrets unless they are the author or an admin.
pub async fn history_for(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<Vec<HistoryRecord>> {
    let tool = find(state, id).await?;
    let mut records = history(state, id).await?;
    if !redact::may_read_secrets(principal, tool.author_id) {
        for record in &mut records {
            let mut config = std::mem::take(&mut record.snapshot.config);
            redact::config(&mut config);
            record.snapshot.config = config;
            redact::patch(&mut record.diff);
        }
    }
    Ok(records)
}

async fn invalidate(state: &AppState, id: Uuid) {
    if let Err(e) = state.cache.delete(&cache_key(id)).await {
        tracing::warn!(error = %e, tool_id = %id, "cache invalidation failed; entry expires by TTL");
    }
}

/// Reads the tool, lets `change` compute its next state, and stores it with
/// one history record; retried when another writer got there first.
/// `change` returns `None` when there is nothing to store.
async fn change_tool(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    change_type: ChangeType,
    change: impl Fn(&Tool) -> Result<Option<Tool>>,
) -> Result<Tool> {
    // Refuse read-only callers before looking anything up: a viewer learns
    // nothing about which ids exist from a write.
    require(principal, Permission::ToolsWrite)?;
    let mut attempt = 0;
    loop {
        let current = find(state, id).await?;
        require_can_change(principal, &current)?;
        let Some(mut next) = change(&current)? else {
            return Ok(current);
        };
        let now = crate::domain::now();
        next.revision = current.revision + 1;
        next.updated_at = now;
        let entry = record(Some(&current), &next, change_type, principal.user_id, now)?;
        match state.tools.update(&next, current.revision, &entry).await {
            Ok(()) => {
                invalidate(state, id).await;
                deliver_history_after_change(state).await;
                // The catalog holds each live tool's current version.
                if next.deleted_at.is_some() {
                    crate::knowledge::catalog_remove(state, id).await;
                } else {
                    crate::knowledge::catalog_put(state, &next).await;
                }
                return Ok(next);
            }
            Err(Error::Conflict { .. }) if attempt < CONCURRENT_RETRIES => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

pub async fn update(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    patch: ToolPatch,
) -> Result<Tool> {
    change_tool(state, principal, id, ChangeType::Update, |current| {
        if let Some(version) = patch.version {
            if version < current.version {
                return Err(Error::invalid(
                    &["body", "version"],
                    "value_error",
                    format!(
                        "must not go backwards: the current version is {}",
                        current.version
                    ),
                ));
            }
        }
        let mut next = current.clone();
        if let Some(name) = &patch.name {
            next.name = name.clone();
        }
        if let Some(description) = &patch.description {
            next.description.clone_from(description);
        }
        if let Some(version) = patch.version {
            next.version = version;
        }
        if let Some(config) = &patch.config {
            next.config = config.clone();
        }
        if let Some(status) = patch.status {
            next.status = status;
        }
        if let Some(tags) = &patch.tags {
            next.tags.clone_from(tags);
        }
        Ok((next.snapshot() != current.snapshot()).then_some(next))
    })
    .await
}

pub async fn delete(state: &AppState, principal: &Principal, id: Uuid) -> Result<()> {
    change_tool(state, principal, id, ChangeType::Delete, |current| {
        let mut next = current.clone();
        next.deleted_at = Some(crate::domain::now());
        Ok(Some(next))
    })
    .await?;
    Ok(())
}

pub async fn history(state: &AppState, id: Uuid) -> Result<Vec<HistoryRecord>> {
    find(state, id).await?;
    // Complete or nothing: records still in the outbox go out first.
    deliver_history(state).await?;
    state.history.list(id).await
}

/// The change is committed whatever happens here: a failed delivery stays in
/// the outbox for the next change or history read.
async fn deliver_history_after_change(state: &AppState) {
    if let Err(e) = deliver_history(state).await {
        tracing::warn!(error = %e, "history delivery deferred");
    }
}

/// Moves history records from the SQL outbox to the history store, when
/// they live apart. At-least-once: a crash between storing and forgetting
/// redelivers, and `append` stores a record once however often it comes.
pub async fn deliver_history(state: &AppState) -> Result<usize> {
    const BATCH: i64 = 500;
    let Some(outbox) = &state.history_outbox else {
        return Ok(0);
    };
    let mut delivered = 0;
    loop {
        let pending = outbox.pending_history(BATCH).await?;
        if pending.is_empty() {
            return Ok(delivered);
        }
        state.history.append(&pending).await?;
        outbox.forget_history(&pending).await?;
        delivered += pending.len();
    }
}

pub async fn restore(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    version: SemVer,
) -> Result<Tool> {
    require(principal, Permission::ToolsWrite)?;
    let wanted = version.to_string();
    find(state, id).await?;
    deliver_history(state).await?;
    let source = state
        .history
        .find_version(id, &wanted)
        .await?
        .ok_or_else(|| Error::not_found("history_version", format!("{id}@{wanted}")))?;
    let snapshot = source.snapshot;
    let name = ToolName::parse(&snapshot.name).map_err(Error::internal)?;
    change_tool(state, principal, id, ChangeType::Restore, |current| {
        let mut next = current.clone();
        next.name = name.clone();
        next.description.clone_from(&snapshot.description);
        next.version = version;
        next.config = ToolConfig::from_stored(snapshot.config.clone());
        next.tags.clone_from(&snapshot.tags);
        Ok(Some(next))
    })
    .await
}
