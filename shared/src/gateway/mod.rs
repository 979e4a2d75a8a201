//! The MCP gateway: deployments of registered tools, the runners that keep
//! their MCP servers alive, and `/mcp/{slug}` (see [`endpoint`]).
//!
//! The database holds the desired state (which deployments are active);
//! each replica runs what it needs: a deployment is launched on the replica
//! that creates it, on every replica at start ([`health::reconcile`]), and
//! lazily by any replica that receives a call for it. Stops travel as
//! `deployment_status` events, so every replica's runner stops.

pub mod endpoint;
pub mod health;
pub mod jsonrpc;
pub mod remote;
pub mod session;
pub mod stdio;
mod upgrade;
pub mod usage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::RwLock;
use serde_json::json;
use uuid::Uuid;

pub use crate::domain::{Deployment, DeploymentStatus, HealthStatus, UsageRow};
use crate::domain::{Runtime, ToolConfig};
use crate::error::{Error, Result};
use crate::ports::{DeploymentStore, Event, EventBus};
use crate::state::AppState;

pub use crate::config::GatewaySettings;
pub use session::{SessionFacts, SessionSealer};
pub use stdio::{ProcessSpec, StdioBridge};

/// Protocol revisions the gateway speaks, oldest first.
pub const PROTOCOL_VERSIONS: [&str; 5] = [
    "2024-11-05",
    "2025-03-26",
    "2025-06-18",
    "2025-11-25",
    "2026-07-28",
];
/// The stateless revision: no initialize, no sessions.
pub const MODERN_VERSION: &str = "2026-07-28";
/// The newest revision reached through `initialize`.
pub const LATEST_HANDSHAKE_VERSION: &str = "2025-11-25";

/// A message on its way to a client: something before the answer
/// (progress, a server→client request), or the answer itself.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Interim(Bytes),
    Final(Bytes),
}

/// What a runner is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerState {
    Starting,
    Running,
    Failed,
    Stopped,
}

/// How a deployment's MCP server is reached.
pub enum Runner {
    /// The process runner: a child speaking stdio.
    Stdio(Arc<StdioBridge>),
    /// The remote runner: a Streamable HTTP server, behind the SSRF guard.
    Remote(Arc<crate::upstream::RemoteUpstream>),
}

impl Runner {
    pub fn stop(&self) {
        match self {
            Self::Stdio(bridge) => bridge.stop(),
            Self::Remote(_) => {}
        }
    }

    pub async fn ping(&self, timeout: Duration) -> Result<Duration, String> {
        match self {
            Self::Stdio(bridge) => bridge.ping(timeout).await,
            Self::Remote(upstream) => remote::ping(upstream, timeout).await,
        }
    }

    /// Whether pings make sense now (a stdio child that is up; any remote).
    pub fn is_up(&self) -> bool {
        match self {
            Self::Stdio(bridge) => *bridge.state().borrow() == RunnerState::Running,
            Self::Remote(_) => true,
        }
    }
}

/// A deployment this replica runs.
pub struct Live {
    pub deployment: Deployment,
    pub runner: Runner,
}

/// The replica's running deployments, by slug.
pub struct Gateway {
    live: RwLock<HashMap<String, Arc<Live>>>,
    /// Serialises launches so two first calls do not start two children.
    launching: tokio::sync::Mutex<()>,
    /// The stderr tail of children that failed here, by deployment, kept
    /// after their runner is dropped so `GET /deployments/{id}/logs` can
    /// still say why (one entry per failed deployment; cleared on relaunch).
    failed_stderr: parking_lot::Mutex<HashMap<Uuid, Vec<String>>>,
    pub sealer: SessionSealer,
    pub usage: usage::UsageRecorder,
}

impl Gateway {
    /// `secret` keys the session ids; usage rows are flushed to `store`.
    pub fn new(secret: &[u8], store: Arc<dyn DeploymentStore>) -> Self {
        Self {
            live: RwLock::new(HashMap::new()),
            launching: tokio::sync::Mutex::new(()),
            failed_stderr: parking_lot::Mutex::new(HashMap::new()),
            sealer: SessionSealer::new(secret),
            usage: usage::UsageRecorder::start(store),
        }
    }

    /// How many deployments this replica runs (the `active_deployments` gauge).
    pub fn running(&self) -> usize {
        self.live.read().len()
    }

    pub fn get(&self, slug: &str) -> Option<Arc<Live>> {
        self.live.read().get(slug).cloned()
    }

    /// The recent stderr lines of a deployment's child on this replica:
    /// the running child's, or the last ones of a child that failed here.
    /// Empty for remote deployments and children running elsewhere.
    pub fn stderr_of(&self, deployment: &Deployment) -> Vec<String> {
        match self.get(&deployment.tool_slug) {
            Some(live) if live.deployment.id == deployment.id => match &live.runner {
                Runner::Stdio(bridge) => bridge.stderr_tail(),
                Runner::Remote(_) => Vec::new(),
            },
            _ => self
                .failed_stderr
                .lock()
                .get(&deployment.id)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The child's stderr for `logs?follow=true`: the lines so far, each
    /// new one, and the runner's state (the stream ends when it stops).
    /// `None` when this replica runs no child of the deployment.
    pub fn follow_stderr(&self, deployment: &Deployment) -> Option<StderrFollow> {
        let live = self
            .get(&deployment.tool_slug)
            .filter(|l| l.deployment.id == deployment.id)?;
        let Runner::Stdio(bridge) = &live.runner else {
            return None;
        };
        let (backlog, lines) = bridge.follow_stderr();
        Some(StderrFollow {
            backlog,
            lines,
            state: bridge.state(),
        })
    }

    pub fn all(&self) -> Vec<Arc<Live>> {
        self.live.read().values().cloned().collect()
    }

    /// The live deployment for a slug: running here already, or launched
    /// now from the database's desired state. A deployment that failed or
    /// was stopped is a 503 naming its status (restart it with
    /// `POST /deployments/{id}/restart`); 404 when the slug was never deployed.
    pub async fn live_for_slug(&self, state: &AppState, slug: &str) -> Result<Arc<Live>> {
        if let Some(live) = self.get(slug) {
            return Ok(live);
        }
        let _guard = self.launching.lock().await;
        if let Some(live) = self.get(slug) {
            return Ok(live);
        }
        let deployment = match state
            .deployments
            .find_active_deployment_by_slug(slug)
            .await?
        {
            Some(d) => d,
            None => match state.deployments.latest_deployment_by_slug(slug).await? {
                Some(d) => d,
                None => return Err(Error::not_found("deployment", slug)),
            },
        };
        if matches!(
            deployment.status,
            DeploymentStatus::Failed | DeploymentStatus::Stopped
        ) {
            // A deleted tool has no endpoint at all, not a resting one.
            crate::registry::find(state, deployment.tool_id).await?;
            return Err(Error::NotServing {
                resource_type: "deployment",
                resource_id: slug.to_owned(),
                status: deployment.status.as_str(),
            });
        }
        self.launch_locked(state, deployment).await
    }

    /// Starts a deployment's runner on this replica (no-op when running).
    pub async fn launch(&self, state: &AppState, deployment: Deployment) -> Result<Arc<Live>> {
        let _guard = self.launching.lock().await;
        if let Some(live) = self.get(&deployment.tool_slug) {
            if live.deployment.id == deployment.id {
                return Ok(live);
            }
        }
        self.launch_locked(state, deployment).await
    }

    /// Starts the version the deployment is pinned to (`tool_version`).
    async fn launch_locked(&self, state: &AppState, deployment: Deployment) -> Result<Arc<Live>> {
        self.failed_stderr.lock().remove(&deployment.id);
        let tool = crate::registry::find(state, deployment.tool_id).await?;
        let config = crate::registry::config_at(state, &tool, &deployment.tool_version).await?;
        let runner = runner_for(state, &deployment, &config)?;
        let live = Arc::new(Live { deployment, runner });
        if let Some(old) = self.install(state, live.clone()) {
            old.runner.stop();
        }
        Ok(live)
    }

    /// Routes the slug's calls to `live` from now on and starts its status
    /// watcher; the runner it replaces, if any, is the caller's to stop.
    fn install(&self, state: &AppState, live: Arc<Live>) -> Option<Arc<Live>> {
        let previous = self
            .live
            .write()
            .insert(live.deployment.tool_slug.clone(), live.clone());
        match &live.runner {
            Runner::Stdio(_) => tokio::spawn(watch_runner(state.clone(), live.clone())),
            Runner::Remote(_) => tokio::spawn(remote::watch(state.clone(), live.clone())),
        };
        previous
    }

    /// Whether `live` is the runner that gets its slug's calls (not one
    /// replaced by an upgrade or a relaunch).
    pub fn is_current(&self, live: &Arc<Live>) -> bool {
        self.get(&live.deployment.tool_slug)
            .is_some_and(|current| Arc::ptr_eq(&current, live))
    }

    /// Stops `live` and forgets it, unless another runner replaced it
    /// already (then only `live` stops).
    pub fn retire(&self, live: &Arc<Live>) {
        {
            let mut map = self.live.write();
            if map
                .get(&live.deployment.tool_slug)
                .is_some_and(|current| Arc::ptr_eq(current, live))
            {
                map.remove(&live.deployment.tool_slug);
            }
        }
        live.runner.stop();
    }

    /// Stops this replica's runner of a deployment, if it runs one.
    pub fn stop_local(&self, deployment_id: Uuid) {
        let removed = {
            let mut live = self.live.write();
            let slug = live
                .iter()
                .find(|(_, l)| l.deployment.id == deployment_id)
                .map(|(s, _)| s.clone());
            slug.and_then(|s| live.remove(&s))
        };
        if let Some(live) = removed {
            live.runner.stop();
        }
    }

    /// Stops every runner (shutdown).
    pub fn stop_all(&self) {
        let all: Vec<Arc<Live>> = self.live.write().drain().map(|(_, l)| l).collect();
        for live in all {
            live.runner.stop();
        }
    }
}

/// What [`Gateway::follow_stderr`] hands a follower.
pub struct StderrFollow {
    pub backlog: Vec<String>,
    pub lines: tokio::sync::broadcast::Receiver<String>,
    pub state: tokio::sync::watch::Receiver<RunnerState>,
}

/// A runner for `deployment` running `config` (its pinned version's).
fn runner_for(state: &AppState, deployment: &Deployment, config: &ToolConfig) -> Result<Runner> {
    Ok(match config.runtime() {
        Some(Runtime::Stdio(stdio)) => Runner::Stdio(StdioBridge::start(
            stdio,
            crate::sandbox::SandboxPolicy::for_deployment(
                &state.settings,
                deployment.id,
                &deployment.config,
                config,
            )?,
        )),
        Some(Runtime::StreamableHttp(http)) => {
            Runner::Remote(Arc::new(remote::upstream_for(&state.settings, &http)?))
        }
        None => {
            return Err(Error::invalid(
                &["body", "tool_id"],
                "value_error",
                "the tool's config has no runnable runtime (stdio or streamable-http)",
            ))
        }
    })
}

/// Stops a deployment everywhere: the record (which frees its tool), this
/// replica's runner, and — through the `stopped` event — every other
/// replica's. `false` when it was stopped already.
pub async fn stop(state: &AppState, id: Uuid) -> Result<bool> {
    let changed = state.deployments.stop_deployment(id).await?;
    state.gateway.stop_local(id);
    if changed {
        if let Some(d) = state.deployments.find_deployment(id).await? {
            publish(
                state.events.as_ref(),
                status_event(&d, DeploymentStatus::Stopped, d.health_status),
            )
            .await;
        }
    }
    Ok(changed)
}

/// The topic a deployment's events are published under.
pub fn deployment_topic(id: Uuid) -> String {
    format!("deployment:{id}")
}

/// The `deployment_status` event of a deployment.
pub fn status_event(d: &Deployment, status: DeploymentStatus, health: HealthStatus) -> Event {
    Event {
        owner_id: Some(d.owner_id),
        topic: deployment_topic(d.id),
        message: json!({
            "type": "deployment_status",
            "deployment_id": d.id,
            "tool_id": d.tool_id,
            "tool_version": d.tool_version,
            "status": status.as_str(),
            "health_status": health.as_str(),
            "at": crate::domain::now(),
        }),
    }
}

pub async fn publish(events: &dyn EventBus, event: Event) {
    if let Err(e) = events.publish(event).await {
        tracing::warn!(error = %e, "deployment event not published");
    }
}

/// Mirrors a runner's state into the deployment's status (and events).
async fn watch_runner(state: AppState, live: Arc<Live>) {
    let Runner::Stdio(bridge) = &live.runner else {
        return;
    };
    let mut rx = bridge.state();
    let d = &live.deployment;
    let mut last: Option<RunnerState> = None;
    loop {
        let now = *rx.borrow_and_update();
        // A runner an upgrade replaced no longer speaks for the deployment.
        if !state.gateway.is_current(&live) {
            return;
        }
        if last != Some(now) {
            last = Some(now);
            let (status, error) = match now {
                RunnerState::Starting => (DeploymentStatus::Starting, None),
                RunnerState::Running => (DeploymentStatus::Running, None),
                RunnerState::Failed => (DeploymentStatus::Failed, Some(failure_report(bridge))),
                RunnerState::Stopped => return,
            };
            match state
                .deployments
                .set_deployment_status(d.id, status, error.as_deref())
                .await
            {
                Ok(true) => {
                    let health = if status == DeploymentStatus::Running {
                        HealthStatus::Unknown
                    } else {
                        HealthStatus::Unhealthy
                    };
                    publish(state.events.as_ref(), status_event(d, status, health)).await;
                }
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, deployment_id = %d.id, "deployment status not stored")
                }
            }
            if now == RunnerState::Failed {
                state
                    .gateway
                    .failed_stderr
                    .lock()
                    .insert(d.id, bridge.stderr_tail());
                state.gateway.retire(&live);
                return;
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// The `last_error` of a child that crash-looped: why its last start
/// ended, then its last stderr lines.
fn failure_report(bridge: &StdioBridge) -> String {
    let mut report = format!(
        "the MCP server ended {} times within {} s and is not restarted again",
        stdio::MAX_CRASHES,
        stdio::CRASH_WINDOW.as_secs()
    );
    if let Some(last) = bridge.last_exit() {
        report.push_str("; the last start: ");
        report.push_str(&last);
    }
    let stderr = bridge.stderr_tail();
    if !stderr.is_empty() {
        report.push_str("\nlast stderr lines:\n");
        report.push_str(&stderr.join("\n"));
    }
    report
}
