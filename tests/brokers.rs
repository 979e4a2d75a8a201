//! Message brokers for the queue suites: RabbitMQ (the machine's server,
//! `MCP_TEST_RABBITMQ_URL` or amqp://guest:guest@127.0.0.1:5672/%2f) and SQS
//! on moto (see `moto.rs`). Each test uses its own queue names, deleted with
//! the guard.

use std::time::Duration;

use mcp_platform::adapters::rabbitmq::RabbitMqJobQueue;
use mcp_platform::adapters::sqs::{self, SqsClientOptions, SqsJobQueue};
use mcp_platform::config::Secret;

/// RUNNING-SERVICES.md's start command.
pub const RABBITMQ_START: &str = "rabbitmq-server -detached";

pub fn rabbitmq_url() -> String {
    std::env::var("MCP_TEST_RABBITMQ_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The RabbitMQ URL, once its port answers; panics naming the start command.
pub async fn require_rabbitmq() -> String {
    let url = rabbitmq_url();
    let authority = url
        .split_once("://")
        .map_or(url.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5672")
    };
    let reachable = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(&host_port),
    )
    .await;
    if !matches!(reachable, Ok(Ok(_))) {
        panic!(
            "RabbitMQ is not reachable at {host_port}; start it with: {RABBITMQ_START} \
             (or set MCP_TEST_RABBITMQ_URL)"
        );
    }
    url
}

/// A fresh queue name valid on both brokers.
pub fn unique_queue() -> String {
    format!("mcp-t-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A RabbitMQ work queue (and its delay/dead queues), deleted on drop.
pub struct RabbitQueue {
    pub url: String,
    pub name: String,
}

impl RabbitQueue {
    pub async fn new() -> Self {
        Self {
            url: require_rabbitmq().await,
            name: unique_queue(),
        }
    }

    /// The settings that make an app or a worker use this queue.
    pub fn vars(&self) -> Vec<(String, String)> {
        vec![
            ("JOB_QUEUE_URL".into(), self.url.clone()),
            ("JOB_QUEUE_NAME".into(), self.name.clone()),
        ]
    }
}

impl Drop for RabbitQueue {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        crate::backends::run_cleanup(async move {
            let _ = RabbitMqJobQueue::delete_topology(&url, &name).await;
        });
    }
}

pub fn sqs_options(endpoint: &str) -> SqsClientOptions {
    SqsClientOptions {
        region: Some(crate::moto::REGION.to_owned()),
        endpoint_url: Some(endpoint.to_owned()),
        credentials: Some((
            crate::moto::ACCESS_KEY.to_owned(),
            Secret::new(crate::moto::SECRET_KEY),
        )),
    }
}

/// An SQS queue and its DLQ on moto, deleted on drop.
pub struct SqsQueue {
    pub endpoint: String,
    pub name: String,
}

impl SqsQueue {
    pub async fn new() -> Self {
        Self {
            endpoint: crate::moto::endpoint().await,
            name: unique_queue(),
        }
    }

    pub async fn client(&self) -> sqs::Client {
        sqs::client(&sqs_options(&self.endpoint)).await
    }

    pub fn url(&self) -> String {
        format!("sqs://{}", self.name)
    }

    /// The settings that make an app or a worker use this queue.
    pub fn vars(&self) -> Vec<(String, String)> {
        vec![
            ("JOB_QUEUE_URL".into(), self.url()),
            ("SQS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("SQS_WAIT_SECONDS".into(), "0".into()),
            ("AWS_REGION".into(), crate::moto::REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), crate::moto::ACCESS_KEY.into()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                crate::moto::SECRET_KEY.into(),
            ),
        ]
    }
}

impl Drop for SqsQueue {
    fn drop(&mut self) {
        let (endpoint, name) = (self.endpoint.clone(), self.name.clone());
        crate::backends::run_cleanup(async move {
            let client = sqs::client(&sqs_options(&endpoint)).await;
            let _ = SqsJobQueue::delete_queues(&client, &name).await;
        });
    }
}
