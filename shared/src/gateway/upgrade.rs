//! Moving a running deployment to another version of its tool without a
//! failed call: the new runner starts next to the old one and takes the
//! slug's calls only once it answers a ping; the old one keeps serving
//! until then, and stops when the calls it already has are answered.
//!
//! A replica that did not make the upgrade follows it from the
//! `deployment_status` event ([`Gateway::follow_upgrade`]), reading the
//! version from the database, so a late or repeated event never moves a
//! deployment back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{runner_for, Gateway, Live, Runner, RunnerState};
use crate::domain::{Deployment, ToolConfig};
use crate::error::{Error, Result};
use crate::state::AppState;

/// How long the new version has to start and answer a ping.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest the old child waits for its calls in flight before it stops.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the old child must have no call in flight to be idle: covers a
/// request that took the old runner just before the switch.
const QUIET: Duration = Duration::from_millis(250);

impl Gateway {
    /// Starts `deployment` (carrying the version it moves to) with that
    /// version's `config`, next to whatever runs now, and waits until it
    /// answers. Nothing is routed to it yet ([`Self::switch_to`] does); on
    /// an error it is stopped again and the error says why it did not start.
    pub async fn start_candidate(
        &self,
        state: &AppState,
        deployment: Deployment,
        config: &ToolConfig,
    ) -> Result<Arc<Live>> {
        let runner = runner_for(state, &deployment, config)?;
        if let Err(why) = ready(&runner).await {
            runner.stop();
            return Err(Error::Conflict {
                detail: format!(
                    "version {} did not start, so the deployment stays on the version it runs: {why}",
                    deployment.tool_version
                ),
                resource_type: "deployment",
                resource_id: Some(deployment.id.to_string()),
            });
        }
        Ok(Arc::new(Live { deployment, runner }))
    }

    /// Routes the slug's calls to `candidate`; the runner it replaces stops
    /// once its calls in flight are answered.
    pub async fn switch_to(&self, state: &AppState, candidate: Arc<Live>) {
        let _guard = self.launching.lock().await;
        let id = candidate.deployment.id;
        if let Some(old) = self.install(state, candidate) {
            if old.deployment.id == id {
                tokio::spawn(stop_when_idle(old));
            } else {
                old.runner.stop();
            }
        }
    }

    /// Brings this replica's runner of deployment `id` to the version the
    /// database records for it, when another replica upgraded it.
    pub async fn follow_upgrade(&self, state: &AppState, id: Uuid) {
        let Some(local) = self.all().into_iter().find(|l| l.deployment.id == id) else {
            return;
        };
        let stored = match state.deployments.find_deployment(id).await {
            Ok(Some(d)) if d.tool_version != local.deployment.tool_version => d,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, deployment_id = %id, "upgrade not followed");
                return;
            }
        };
        let version = stored.tool_version.clone();
        let started = async {
            let tool = crate::registry::find(state, stored.tool_id).await?;
            let config = crate::registry::config_at(state, &tool, &version).await?;
            self.start_candidate(state, stored, &config).await
        };
        match started.await {
            Ok(candidate) if self.is_current(&local) => self.switch_to(state, candidate).await,
            // Stopped or replaced meanwhile.
            Ok(candidate) => candidate.runner.stop(),
            Err(e) => {
                tracing::warn!(error = %e, deployment_id = %id, version = %version, "upgrade not followed; the old version keeps running here");
            }
        }
    }
}

/// Waits until `runner` answers a ping; why not, as one line.
async fn ready(runner: &Runner) -> std::result::Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    if let Runner::Stdio(bridge) = runner {
        let mut state = bridge.state();
        let up = tokio::time::timeout(
            READY_TIMEOUT,
            state.wait_for(|s| *s != RunnerState::Starting),
        )
        .await;
        let why_not = || {
            let last = bridge
                .last_exit()
                .unwrap_or_else(|| "no start has ended yet".into());
            let stderr = bridge.stderr_tail();
            if stderr.is_empty() {
                last
            } else {
                format!("{last}; last stderr lines: {}", stderr.join(" | "))
            }
        };
        match up {
            Ok(Ok(s)) if *s == RunnerState::Running => {}
            Ok(_) => return Err(why_not()),
            Err(_) => {
                return Err(format!(
                    "not up within {} s ({})",
                    READY_TIMEOUT.as_secs(),
                    why_not()
                ))
            }
        }
    }
    // A remote server may still be coming up: ask until the deadline.
    loop {
        match runner.ping(PING_TIMEOUT).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(format!("no answer to ping: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Stops a replaced child once it has had no call in flight for [`QUIET`]
/// (at most [`DRAIN_TIMEOUT`] after the switch).
async fn stop_when_idle(old: Arc<Live>) {
    if let Runner::Stdio(bridge) = &old.runner {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        let mut idle_since: Option<Instant> = None;
        while Instant::now() < deadline {
            bridge.forget_abandoned();
            if bridge.in_flight() == 0 {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= QUIET {
                    break;
                }
            } else {
                idle_since = None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    old.runner.stop();
}
