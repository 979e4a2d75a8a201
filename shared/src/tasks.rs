//! Tasks: jobs a user watches (SPEC §3 "Tasks and real-time").
//!
//! [`start`] creates the task record (`pending`) and enqueues its job in
//! one call: if the enqueue fails, the record is removed again and the
//! caller gets the error, so no task waits for a job that does not exist.
//! Inside the job, [`TaskReporter`] moves the task along — running,
//! progress, completed or failed — storing each change and publishing it as
//! a `task_update` [`Event`] on topic `task:{id}` for its owner.
//!
//! Every change is a compare-and-set on the stored status, which gives:
//! - a cancelled task's job does nothing when it runs ([`TaskReporter::begin`]
//!   finds it cancelled);
//! - a redelivered job of a finished task does nothing (at-least-once queues);
//! - a cancel racing a start: exactly one wins.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::domain::{Principal, Role, Task, TaskStatus};
use crate::error::{Error, Result};
use crate::jobs::{Job, JobContext, JobError, NewJob};
use crate::ports::Event;
use crate::state::AppState;

/// The longest message a task keeps.
const MAX_MESSAGE_CHARS: usize = 1000;

/// The real-time topic of a task.
pub fn topic(task_id: Uuid) -> String {
    format!("task:{task_id}")
}

fn expiry(state: &AppState, now: DateTime<Utc>) -> DateTime<Utc> {
    let ttl = chrono::Duration::from_std(state.settings.jobs.task_result_ttl)
        .unwrap_or(chrono::Duration::hours(24));
    now + ttl
}

/// Creates a task owned by `owner` and enqueues its job, built by `job` from
/// the new task's id. The task's type is the job's kind.
pub async fn start<J: Job>(
    state: &AppState,
    owner: Uuid,
    job: impl FnOnce(Uuid) -> J,
) -> Result<Task> {
    let now = crate::domain::now();
    let task = Task {
        id: Uuid::new_v4(),
        task_type: J::KIND.to_owned(),
        owner_id: owner,
        status: TaskStatus::Pending,
        progress: 0,
        message: Some("queued".into()),
        result: None,
        error: None,
        created_at: now,
        started_at: None,
        completed_at: None,
        expires_at: expiry(state, now),
    };
    // Built before anything is stored: a payload that does not serialise
    // leaves nothing behind.
    let new_job = NewJob::of(&job(task.id))?.idempotency_key(topic(task.id));
    state.tasks.create(&task).await?;
    if let Err(e) = state.jobs.enqueue(new_job).await {
        if let Err(cleanup) = state.tasks.delete(task.id).await {
            tracing::warn!(task_id = %task.id, error = %cleanup, "task without a job left behind; it fails on expiry");
        }
        return Err(e);
    }
    Ok(task)
}

/// Whether `principal` may see (and subscribe to) `task`.
pub fn visible_to(principal: &Principal, task: &Task) -> bool {
    principal.role == Role::Admin || task.owner_id == principal.user_id
}

/// A task `principal` may see, or 404 (also for other users' tasks, whose
/// existence is not revealed).
pub async fn find_for(state: &AppState, principal: &Principal, id: Uuid) -> Result<Task> {
    match state.tasks.find(id).await? {
        Some(task) if visible_to(principal, &task) => Ok(task),
        _ => Err(Error::not_found("task", id)),
    }
}

/// Cancels a pending task: 409 once it runs or has finished.
pub async fn cancel(state: &AppState, principal: &Principal, id: Uuid) -> Result<Task> {
    let task = find_for(state, principal, id).await?;
    let conflict = |status: TaskStatus| Error::Conflict {
        detail: format!(
            "only a pending task can be cancelled; this one is {}",
            status.as_str()
        ),
        resource_type: "task",
        resource_id: Some(id.to_string()),
    };
    if task.status != TaskStatus::Pending {
        return Err(conflict(task.status));
    }
    let now = crate::domain::now();
    let cancelled = Task {
        status: TaskStatus::Cancelled,
        message: Some("cancelled".into()),
        completed_at: Some(now),
        expires_at: expiry(state, now),
        ..task
    };
    if !state
        .tasks
        .update(&cancelled, &[TaskStatus::Pending])
        .await?
    {
        // Its job started between the read and the write.
        let now_status = state
            .tasks
            .find(id)
            .await?
            .map_or(TaskStatus::Running, |t| t.status);
        return Err(conflict(now_status));
    }
    publish(state, &cancelled).await;
    Ok(cancelled)
}

/// The `task_update` message clients receive.
#[derive(Debug, Serialize)]
struct TaskUpdate<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    task_id: Uuid,
    task_type: &'a str,
    status: TaskStatus,
    progress: u8,
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

pub fn update_message(task: &Task) -> Value {
    serde_json::to_value(TaskUpdate {
        kind: "task_update",
        task_id: task.id,
        task_type: &task.task_type,
        status: task.status,
        progress: task.progress,
        message: task.message.as_deref(),
        result: task.result.as_ref(),
        error: task.error.as_deref(),
    })
    .unwrap_or_else(|_| json!({"type": "task_update", "task_id": task.id}))
}

/// Publishes a task's current state; best effort (the record is the truth,
/// `GET /tasks/{id}` always has it).
async fn publish(state: &AppState, task: &Task) {
    let event = Event {
        owner_id: Some(task.owner_id),
        topic: topic(task.id),
        message: update_message(task),
    };
    if let Err(e) = state.events.publish(event).await {
        tracing::warn!(task_id = %task.id, error = %e, "task update not published");
    }
}

fn clip(message: impl Into<String>) -> String {
    let message = message.into();
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => message[..end].to_owned(),
        None => message,
    }
}

/// A running task, as its job handler sees it.
pub struct TaskReporter<'a> {
    state: &'a AppState,
    job_attempt: u32,
    task: Task,
}

impl<'a> TaskReporter<'a> {
    /// Marks the task running. `None` when there is nothing to do: the task
    /// was cancelled, has finished (a redelivered job) or has expired.
    pub async fn begin(ctx: &JobContext<'a>, task_id: Uuid) -> Result<Option<Self>, JobError> {
        let state = ctx.state;
        let Some(task) = state.tasks.find(task_id).await? else {
            tracing::info!(%task_id, "task gone (expired or never stored); job skipped");
            return Ok(None);
        };
        if task.status.is_final() {
            tracing::info!(%task_id, status = task.status.as_str(), "task already finished; job skipped");
            return Ok(None);
        }
        let now = crate::domain::now();
        let running = Task {
            status: TaskStatus::Running,
            progress: 0,
            message: Some("started".into()),
            started_at: task.started_at.or(Some(now)),
            expires_at: expiry(state, now),
            ..task
        };
        // From running too: a job whose earlier delivery died mid-way starts over.
        if !state
            .tasks
            .update(&running, &[TaskStatus::Pending, TaskStatus::Running])
            .await?
        {
            return Ok(None);
        }
        publish(state, &running).await;
        Ok(Some(Self {
            state,
            job_attempt: ctx.job.attempt,
            task: running,
        }))
    }

    pub fn task(&self) -> &Task {
        &self.task
    }

    async fn store(&mut self, next: Task) -> Result<(), JobError> {
        if !self
            .state
            .tasks
            .update(&next, &[TaskStatus::Running])
            .await?
        {
            return Err(JobError::Permanent(format!(
                "task {} is no longer running",
                next.id
            )));
        }
        publish(self.state, &next).await;
        self.task = next;
        Ok(())
    }

    /// Records progress (clamped to 0..=100) and a message.
    pub async fn progress(
        &mut self,
        progress: u8,
        message: impl Into<String>,
    ) -> Result<(), JobError> {
        let next = Task {
            progress: progress.min(100),
            message: Some(clip(message)),
            expires_at: expiry(self.state, crate::domain::now()),
            ..self.task.clone()
        };
        self.store(next).await
    }

    /// Completes the task with its result.
    pub async fn complete(mut self, result: Value) -> Result<(), JobError> {
        let now = crate::domain::now();
        let next = Task {
            status: TaskStatus::Completed,
            progress: 100,
            message: Some("completed".into()),
            result: Some(result),
            error: None,
            completed_at: Some(now),
            expires_at: expiry(self.state, now),
            ..self.task.clone()
        };
        self.store(next).await
    }

    /// Fails the task with a message for its owner.
    pub async fn fail(mut self, error: impl Into<String>) -> Result<(), JobError> {
        let now = crate::domain::now();
        let next = Task {
            status: TaskStatus::Failed,
            message: Some("failed".into()),
            error: Some(clip(error)),
            completed_at: Some(now),
            expires_at: expiry(self.state, now),
            ..self.task.clone()
        };
        self.store(next).await
    }

    /// Ends the task with the outcome of its work: a result completes it; a
    /// permanent error, or a retryable one on the job's last attempt, fails
    /// it (and the job is done: its effect is the failed task); a retryable
    /// error with attempts left keeps it running and hands the error back so
    /// the queue retries.
    pub async fn finish(mut self, outcome: Result<Value, JobError>) -> Result<(), JobError> {
        match outcome {
            Ok(result) => self.complete(result).await,
            Err(JobError::Permanent(e)) => self.fail(e).await,
            Err(JobError::Retryable(e))
                if self.job_attempt >= self.state.settings.jobs.max_attempts =>
            {
                self.fail(e).await
            }
            Err(JobError::Retryable(e)) => {
                let progress = self.task.progress;
                self.progress(
                    progress,
                    format!("attempt {} failed, retrying: {e}", self.job_attempt),
                )
                .await?;
                Err(JobError::Retryable(e))
            }
        }
    }
}
