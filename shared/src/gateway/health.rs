//! Brings deployments back at start (the database says which should run)
//! and pings every running one each `GATEWAY_HEALTH_INTERVAL_SECONDS`,
//! storing `health_status`/`last_health_check` and pushing changes as
//! `deployment_status` events. Also follows stops and upgrades made on
//! other replicas.

use std::time::Duration;

use super::{publish, status_event, DeploymentStatus, HealthStatus};
use crate::state::AppState;

const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Launches every active deployment on this replica.
pub async fn reconcile(state: &AppState) {
    let deployments = match state.deployments.active_deployments().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "deployments not reconciled at start");
            return;
        }
    };
    for d in deployments {
        if d.status == DeploymentStatus::Failed {
            continue;
        }
        let id = d.id;
        if let Err(e) = state.gateway.launch(state, d).await {
            tracing::warn!(error = %e, deployment_id = %id, "deployment not relaunched");
        }
    }
}

/// Reconciles, then runs the health monitor and the stop follower until the
/// process ends. Started by `serve` and `api`.
pub fn start(state: AppState) {
    tokio::spawn(async move {
        reconcile(&state).await;
        tokio::spawn(follow_other_replicas(state.clone()));
        let mut tick = tokio::time::interval(state.settings.gateway.health_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            check_all(&state).await;
        }
    });
}

/// One round of pings over this replica's deployments.
pub async fn check_all(state: &AppState) {
    for live in state.gateway.all() {
        if !live.runner.is_up() {
            continue;
        }
        let health = match live.runner.ping(PING_TIMEOUT).await {
            Ok(_) => HealthStatus::Healthy,
            Err(e) => {
                tracing::warn!(deployment_id = %live.deployment.id, error = %e, "health check failed");
                HealthStatus::Unhealthy
            }
        };
        let before = match state.deployments.find_deployment(live.deployment.id).await {
            Ok(Some(d)) => d,
            _ => continue,
        };
        if let Err(e) = state
            .deployments
            .set_deployment_health(live.deployment.id, health)
            .await
        {
            tracing::warn!(error = %e, "health status not stored");
            continue;
        }
        if before.health_status != health {
            publish(
                state.events.as_ref(),
                status_event(&before, before.status, health),
            )
            .await;
        }
    }
}

/// Stops local runners of deployments stopped on another replica, and
/// moves local runners to the version another replica upgraded them to.
async fn follow_other_replicas(state: AppState) {
    let mut events = state.events.subscribe();
    loop {
        match events.recv().await {
            Ok(event) => {
                let m = &event.message;
                if m["type"] != "deployment_status" {
                    continue;
                }
                let Some(id) = m["deployment_id"]
                    .as_str()
                    .and_then(|s| uuid::Uuid::parse_str(s).ok())
                else {
                    continue;
                };
                if m["status"] == "stopped" {
                    state.gateway.stop_local(id);
                } else if state.gateway.all().iter().any(|l| {
                    l.deployment.id == id && m["tool_version"] != l.deployment.tool_version.as_str()
                }) {
                    let state = state.clone();
                    tokio::spawn(async move { state.gateway.follow_upgrade(&state, id).await });
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
