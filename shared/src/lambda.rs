//! The AWS Lambda functions' logic; each binary under `functions/` is a
//! few lines calling into this module.
//!
//! - API groups behind API Gateway: the group's router gets exactly the
//!   middleware the local host uses ([`crate::http::stack`]), so both behave
//!   the same by construction.
//! - `job-worker`: job batches from an SQS event source mapping
//!   ([`handle_sqs_batch`]).
//! - `cron-scheduler`: one scheduler tick per EventBridge scheduled event
//!   ([`handle_schedule`]).

use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use axum::extract::{ConnectInfo, Request};
use axum::http::Uri;
use axum::Router;
use futures::{FutureExt, StreamExt};
use lambda_http::request::RequestContext;
use lambda_http::{service_fn, LambdaEvent, RequestExt};
use tracing::Instrument;
use utoipa_axum::router::OpenApiRouter;

use crate::config::{ConfigError, JwtSecretSource, Overrides, Settings, Source};
use crate::jobs::{JobEnvelope, JobError, Registry};
use crate::scheduler::{standard_schedule, Scheduler};
use crate::state::AppState;
use crate::worker::Worker;

pub use lambda_http::Error as LambdaError;

/// Built once per cold start: settings from the environment (no `.env`
/// in Lambda), then every adapter.
pub async fn bootstrap() -> Result<AppState, LambdaError> {
    bootstrap_from(&Source::from_env()).await
}

/// [`bootstrap`] from the given variables.
///
/// The embedded default's generated signing secret is refused here: it lives
/// in one instance's `/tmp`, so `api-mcps` would reject every token `api-auth`
/// issued (and each cold start would log everyone out). Every function must
/// be given the same `SECRET_KEY`.
///
/// `secretsmanager://` values are resolved here, once per cold start.
pub async fn bootstrap_from(source: &Source) -> Result<AppState, LambdaError> {
    #[cfg(feature = "secretsmanager")]
    let source = &{
        let mut resolved = source.clone();
        crate::adapters::secretsmanager::resolve(&mut resolved).await?;
        resolved
    };
    let settings = Settings::load(source, &Overrides::default())?;
    if matches!(settings.jwt_secret, JwtSecretSource::File(_)) {
        return Err(ConfigError {
            variable: "SECRET_KEY".into(),
            expected: "required in AWS Lambda (at least 32 bytes, the same for every function)"
                .into(),
        }
        .into());
    }
    crate::telemetry::init(&settings);
    Ok(AppState::build(settings).await?)
}

/// `api-auth`: registration, login, tokens, API keys and user management.
pub fn auth_function(state: AppState) -> Router {
    group(
        crate::api::auth::routes().merge(crate::api::admin::routes()),
        state,
    )
}

/// `api-mcps`: the tool registry.
pub fn mcps_function(state: AppState) -> Router {
    group(crate::api::mcps::routes(), state)
}

fn group(routes: OpenApiRouter<AppState>, state: AppState) -> Router {
    let (router, _) = routes.split_for_parts();
    let app = crate::http::stack(router, state);
    // `Router::layer` middleware runs after routing, and the path must be
    // fixed before it: the adaptation wraps the whole stacked router.
    Router::new().fallback_service(tower::ServiceExt::map_request(app, from_api_gateway))
}

/// What a socket gives the local host, taken from the API Gateway event:
/// - the client address (`requestContext.http.sourceIp`), as `ConnectInfo`,
///   so per-address limits do not lump every caller into one bucket;
/// - the application path: on a named stage the path arrives as
///   `/{stage}/api/v1/…` (`lambda_http` adds the stage when the raw path
///   lacks it), and the routes know only `/api/v1/…`.
fn from_api_gateway(mut request: Request) -> Request {
    let (source_ip, stage) = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (ctx.http.source_ip.clone(), ctx.stage.clone()),
        Some(RequestContext::ApiGatewayV1(ctx)) => {
            (ctx.identity.source_ip.clone(), ctx.stage.clone())
        }
        _ => (None, None),
    };
    if let Some(ip) = source_ip.and_then(|ip| ip.parse::<IpAddr>().ok()) {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    if let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") {
        if let Some(uri) = without_stage(request.uri(), &stage) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// `uri` with a leading `/{stage}` segment removed, when it has one.
fn without_stage(uri: &Uri, stage: &str) -> Option<Uri> {
    let rest = uri.path().strip_prefix('/')?.strip_prefix(stage)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// Runs the Lambda HTTP event loop over `app`.
pub async fn serve_http(app: Router) -> Result<(), LambdaError> {
    lambda_http::run(app).await
}

// ------------------------------------------------------------ job-worker

/// The SQS attribute counting deliveries of a message, this one included.
const RECEIVE_COUNT: &str = "ApproximateReceiveCount";

/// `job-worker`: runs the batches an SQS event source mapping delivers
/// (configured with `ReportBatchItemFailures`) until the runtime stops.
pub async fn serve_sqs(state: AppState, registry: Registry) -> Result<(), LambdaError> {
    let worker = Worker::new(state, registry);
    lambda_http::lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        async move { Ok::<_, LambdaError>(handle_sqs_batch(&worker, event.payload).await) }
    }))
    .await
}

/// Runs one SQS batch and names the records to deliver again.
///
/// The queue adapter's contract: each record's body is a [`JobEnvelope`] as
/// JSON, and its attempt is the record's `ApproximateReceiveCount`.
///
/// - Records run concurrently, at most `WORKER_CONCURRENCY` at once, each
///   through [`Worker::run_job`] (unknown kinds, handler panics and runs
///   past the lease become failures of that record only). A panic anywhere
///   else in a record's processing is caught too: one bad record never
///   fails its neighbours.
/// - Succeeded records are left out of the response, and Lambda deletes
///   them; failed ones are listed in `batchItemFailures` and come back after
///   the queue's visibility timeout (SQS has no per-message backoff here).
/// - A permanent failure (a body that is no envelope, a payload that does
///   not decode, `JobError::Permanent`) is reported failed too, not
///   swallowed: the queue's redrive policy moves it to the dead-letter queue
///   once its receive count reaches `maxReceiveCount`, where it can be
///   inspected and redriven. The few extra runs cost little; deleting it
///   would lose the job without a trace.
/// - A failed record without a message id cannot be named; an empty
///   identifier makes Lambda treat the whole batch as failed, which only
///   redelivers (handlers are idempotent), never loses.
pub async fn handle_sqs_batch(worker: &Worker, event: SqsEvent) -> SqsBatchResponse {
    let concurrency = worker.options().concurrency.max(1);
    let batch_item_failures = futures::stream::iter(event.records)
        .map(|record| async move {
            let message_id = record.message_id.clone().unwrap_or_default();
            let outcome = AssertUnwindSafe(run_record(worker, &record))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    Err(JobError::Retryable(
                        "processing the record panicked".to_owned(),
                    ))
                });
            match outcome {
                Ok(()) => None,
                Err(error) => {
                    let permanent = matches!(error, JobError::Permanent(_));
                    tracing::warn!(
                        %message_id,
                        %error,
                        permanent,
                        "job failed; its record goes back to the queue (a permanent failure ends in the dead-letter queue)"
                    );
                    Some(BatchItemFailure {
                        item_identifier: message_id,
                    })
                }
            }
        })
        // Ordered output (the runs themselves overlap): failures are listed
        // in the batch's order.
        .buffered(concurrency)
        .filter_map(std::future::ready)
        .collect()
        .await;
    SqsBatchResponse {
        batch_item_failures,
    }
}

async fn run_record(worker: &Worker, record: &SqsMessage) -> Result<(), JobError> {
    let body = record
        .body
        .as_deref()
        .ok_or_else(|| JobError::Permanent("the record has no body".to_owned()))?;
    let mut job: JobEnvelope = serde_json::from_str(body).map_err(|e| {
        JobError::Permanent(format!("the record's body is not a job envelope: {e}"))
    })?;
    if let Some(count) = record
        .attributes
        .get(RECEIVE_COUNT)
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| *n >= 1)
    {
        job.attempt = count;
    }
    let span = tracing::info_span!(
        "job",
        message_id = record.message_id.as_deref().unwrap_or(""),
        job_id = %job.id,
        kind = %job.kind,
        attempt = job.attempt
    );
    async {
        let outcome = worker.run_job(&job).await;
        if outcome.is_ok() {
            tracing::debug!("job done");
        }
        outcome
    }
    .instrument(span)
    .await
}

// ------------------------------------------------------------ cron-scheduler

/// `cron-scheduler`: one [`Scheduler::tick`] per EventBridge scheduled
/// event, until the runtime stops. The scheduler lives as long as the
/// instance, so a warm instance skips periods it already enqueued.
pub async fn serve_schedule(state: AppState) -> Result<(), LambdaError> {
    let scheduler = Arc::new(Scheduler::new(state.jobs.clone(), standard_schedule()));
    lambda_http::lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let scheduler = scheduler.clone();
        // A manual invocation (`aws lambda invoke` with `{}`) is no
        // EventBridge event: it ticks at the current time.
        let event = serde_json::from_value(event.payload).unwrap_or_default();
        async move { handle_schedule(&scheduler, event).await }
    }))
    .await
}

/// Ticks once at the event's scheduled time (`time`; now when absent) and
/// returns what the tick did.
///
/// The scheduled time, not the clock: every instance handling the same
/// event — EventBridge delivers at least once — agrees on the period
/// whatever its clock or start-up delay. The queue's idempotency keys make
/// duplicates harmless either way.
///
/// A kind that could not be enqueued fails the invocation (visible in the
/// function's error metric; EventBridge retries it, and the next scheduled
/// tick would catch up anyway).
pub async fn handle_schedule(
    scheduler: &Scheduler,
    event: EventBridgeEvent,
) -> Result<serde_json::Value, LambdaError> {
    let at = event.time.unwrap_or_else(crate::domain::now);
    let report = scheduler.tick(at).await;
    tracing::info!(
        %at,
        enqueued = ?report.enqueued,
        already_there = ?report.already_there,
        failed = ?report.failed,
        "scheduler tick"
    );
    if !report.failed.is_empty() {
        return Err(format!(
            "periodic jobs not enqueued at {at}: {:?} (retried on the next tick)",
            report.failed
        )
        .into());
    }
    Ok(serde_json::json!({
        "at": at,
        "enqueued": report.enqueued,
        "already_there": report.already_there,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(uri: &str, stage: &str) -> Option<String> {
        without_stage(&uri.parse().expect("uri"), stage).map(|u| u.to_string())
    }

    #[test]
    fn the_stage_segment_is_removed_with_the_query_kept() {
        assert_eq!(
            strip("https://h.example/prod/api/v1/mcps?page=2", "prod").as_deref(),
            Some("https://h.example/api/v1/mcps?page=2")
        );
        assert_eq!(strip("/prod", "prod").as_deref(), Some("/"));
    }

    #[test]
    fn a_path_that_only_starts_like_the_stage_is_kept() {
        assert_eq!(strip("/production/api", "prod"), None);
        assert_eq!(strip("/api/v1/mcps", "prod"), None);
    }
}
