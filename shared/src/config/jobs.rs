//! The job queue, the workers and the scheduler: which transport carries
//! the jobs (`JOB_QUEUE_URL`) and how they are run and retried.

use std::time::Duration;

use super::{bad, ConfigError, Secret, Source};

/// Settings of the job queue, the workers and the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSettings {
    /// Jobs one worker process runs at once (`WORKER_CONCURRENCY`).
    pub worker_concurrency: usize,
    /// How often an idle worker looks for work (`WORKER_POLL_INTERVAL_MS`).
    pub worker_poll_interval: Duration,
    /// Deliveries of one job before it is dead-lettered (`JOB_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// How long a claimed job is hidden from other workers; also the most a
    /// handler may run (`JOB_LEASE_SECONDS`).
    pub lease: Duration,
    /// First retry delay; doubled each attempt, with jitter (`JOB_BACKOFF_BASE_MS`).
    pub backoff_base: Duration,
    /// How often the scheduler looks for due periodic jobs (`SCHEDULER_TICK_SECONDS`).
    pub scheduler_tick: Duration,
    /// How long done and dead jobs are kept (`JOB_RETENTION_HOURS`).
    pub retention: Duration,
    /// How long a task record lives after its last change (`TASK_RESULT_TTL_HOURS`).
    pub task_result_ttl: Duration,
    /// `/health` turns `degraded` when a job has waited longer than this to
    /// be picked up: no worker runs, or too few (`JOB_MAX_WAIT_SECONDS`).
    pub max_wait: Duration,
    /// Which queue carries the jobs (`JOB_QUEUE_URL`).
    pub queue: QueueBackend,
}

/// The transport of the job queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueBackend {
    /// `JOB_QUEUE_URL` unset: the table queue of `DATABASE_URL`.
    Sql,
    /// `amqp://…`: RabbitMQ, work queue `JOB_QUEUE_NAME`.
    RabbitMq { url: Secret, queue: String },
    /// `sqs://NAME` or an `https://` SQS queue URL.
    Sqs {
        queue: String,
        /// `AWS_REGION`; unset = the AWS SDK's chain.
        region: Option<String>,
        /// `SQS_ENDPOINT_URL`: moto or LocalStack instead of AWS.
        endpoint_url: Option<String>,
        /// Long polling of one claim (`SQS_WAIT_SECONDS`).
        wait: Duration,
        /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` when both are
        /// set; otherwise the AWS SDK's chain (profile, instance role).
        credentials: Option<(String, Secret)>,
    },
}

impl QueueBackend {
    /// The name `/health` reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sql => "sql",
            Self::RabbitMq { .. } => "rabbitmq",
            Self::Sqs { .. } => "sqs",
        }
    }

    fn load(source: &Source) -> Result<Self, ConfigError> {
        let Some((name, url)) = source.first(&["JOB_QUEUE_URL"]) else {
            return Ok(Self::Sql);
        };
        if url.starts_with("amqp://") || url.starts_with("amqps://") {
            return Self::rabbitmq(source, name, url);
        }
        let sqs_name = url.strip_prefix("sqs://").map(|n| n.trim_end_matches('/'));
        let is_sqs = match sqs_name {
            Some(n) => {
                !n.is_empty()
                    && n.len() <= 75
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            }
            None => {
                url.starts_with("https://") && url.contains("sqs") && url.matches('/').count() >= 4
            }
        };
        if !is_sqs {
            return Err(bad(
                name,
                "unset (the SQL queue of DATABASE_URL), amqp://user:pass@host:5672/vhost, \
                 sqs://QUEUE-NAME (1-75 letters, digits, - _) or an https:// SQS queue URL",
            ));
        }
        Self::sqs(source, name, url)
    }

    /// `url` (set in `name`) is an `amqp(s)://` URL.
    fn rabbitmq(source: &Source, name: &str, url: &str) -> Result<Self, ConfigError> {
        if !cfg!(feature = "rabbitmq") {
            return Err(bad(name, "amqp:// needs the `rabbitmq` feature"));
        }
        let queue = source.text_or(&["JOB_QUEUE_NAME"], "mcp-jobs");
        let valid = !queue.is_empty()
            && queue.len() <= 200
            && queue
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if !valid {
            return Err(bad(
                "JOB_QUEUE_NAME",
                "1 to 200 characters of letters, digits, - _ . :",
            ));
        }
        Ok(Self::RabbitMq {
            url: Secret::new(url),
            queue,
        })
    }

    /// `url` (set in `name`) is a valid SQS queue name or URL.
    fn sqs(source: &Source, name: &str, url: &str) -> Result<Self, ConfigError> {
        if !cfg!(feature = "sqs") {
            return Err(bad(name, "an SQS queue needs the `sqs` feature"));
        }
        let endpoint_url = match source.first(&["SQS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"]) {
            None => None,
            Some((_, v)) if v.starts_with("http://") || v.starts_with("https://") => {
                Some(v.trim_end_matches('/').to_owned())
            }
            Some((n, _)) => return Err(bad(n, "an http:// or https:// endpoint URL")),
        };
        Ok(Self::Sqs {
            queue: url.to_owned(),
            region: source
                .first(&["AWS_REGION", "AWS_DEFAULT_REGION"])
                .map(|(_, v)| v.to_owned()),
            endpoint_url,
            wait: Duration::from_secs(source.within(&["SQS_WAIT_SECONDS"], 1, 0, 20)?),
            credentials: match (
                source.first(&["AWS_ACCESS_KEY_ID"]),
                source.first(&["AWS_SECRET_ACCESS_KEY"]),
            ) {
                (Some((_, key)), Some((_, secret))) => Some((key.to_owned(), Secret::new(secret))),
                _ => None,
            },
        })
    }
}

impl JobSettings {
    pub(super) fn load(source: &Source) -> Result<Self, ConfigError> {
        Ok(Self {
            worker_concurrency: source.within(&["WORKER_CONCURRENCY"], 4, 1, 1024)?,
            worker_poll_interval: Duration::from_millis(source.within(
                &["WORKER_POLL_INTERVAL_MS"],
                500,
                1,
                60_000,
            )?),
            max_attempts: source.within(&["JOB_MAX_ATTEMPTS"], 5, 1, 1000)?,
            lease: Duration::from_secs(source.within(&["JOB_LEASE_SECONDS"], 300, 1, 86_400)?),
            backoff_base: Duration::from_millis(source.within(
                &["JOB_BACKOFF_BASE_MS"],
                1000,
                1,
                3_600_000,
            )?),
            scheduler_tick: Duration::from_secs(source.within(
                &["SCHEDULER_TICK_SECONDS"],
                15,
                1,
                3600,
            )?),
            // At least the longest scheduler period (an hour): a purged job
            // frees its idempotency key.
            retention: Duration::from_secs(
                3600 * source.within(&["JOB_RETENTION_HOURS"], 168, 1, 87_600)?,
            ),
            queue: QueueBackend::load(source)?,
            task_result_ttl: Duration::from_secs(
                3600 * source.within(&["TASK_RESULT_TTL_HOURS"], 24, 1, 8760)?,
            ),
            max_wait: Duration::from_secs(source.within(
                &["JOB_MAX_WAIT_SECONDS"],
                300,
                1,
                86_400,
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::load;
    use super::QueueBackend;

    #[test]
    fn job_settings_have_defaults_and_take_values() {
        let defaults = load(&[]).expect("defaults load").jobs;
        assert_eq!(defaults.worker_concurrency, 4);
        assert_eq!(defaults.max_attempts, 5);
        assert_eq!(defaults.lease, Duration::from_secs(300));
        assert_eq!(defaults.retention, Duration::from_secs(168 * 3600));
        assert_eq!(defaults.max_wait, Duration::from_secs(300));
        let set = load(&[
            ("WORKER_CONCURRENCY", "16"),
            ("JOB_MAX_ATTEMPTS", "3"),
            ("JOB_BACKOFF_BASE_MS", "250"),
        ])
        .expect("loads")
        .jobs;
        assert_eq!(set.worker_concurrency, 16);
        assert_eq!(set.max_attempts, 3);
        assert_eq!(set.backoff_base, Duration::from_millis(250));
    }

    #[test]
    fn the_job_queue_is_chosen_by_its_url() {
        assert_eq!(load(&[]).expect("loads").jobs.queue, QueueBackend::Sql);
        let rabbit = load(&[("JOB_QUEUE_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")])
            .expect("loads")
            .jobs
            .queue;
        assert_eq!(rabbit.name(), "rabbitmq");
        assert!(matches!(rabbit, QueueBackend::RabbitMq { ref queue, .. } if queue == "mcp-jobs"));
        assert!(
            !format!("{rabbit:?}").contains("guest:guest"),
            "the URL is a secret"
        );
        let sqs = load(&[
            ("JOB_QUEUE_URL", "sqs://mcp-jobs"),
            ("SQS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .expect("loads")
        .jobs
        .queue;
        assert_eq!(
            sqs,
            QueueBackend::Sqs {
                queue: "sqs://mcp-jobs".into(),
                region: Some("eu-west-1".into()),
                endpoint_url: Some("http://127.0.0.1:5000".into()),
                wait: Duration::from_secs(1),
                credentials: None,
            }
        );
        let aws = load(&[(
            "JOB_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/mcp-jobs",
        )])
        .expect("loads");
        assert_eq!(aws.jobs.queue.name(), "sqs");
        for (var, value) in [
            ("JOB_QUEUE_NAME", "has space"),
            ("SQS_ENDPOINT_URL", "localhost:5000"),
            ("SQS_WAIT_SECONDS", "21"),
        ] {
            let url = if var == "JOB_QUEUE_NAME" {
                "amqp://h"
            } else {
                "sqs://q"
            };
            let err = load(&[("JOB_QUEUE_URL", url), (var, value)]).expect_err(var);
            assert_eq!(err.variable, var, "{err}");
        }
    }
}
