//! Lambda function `job-worker`: bootstrap once per cold start, then run the
//! job batches an SQS event source mapping delivers, reporting only the
//! failed records back (see `mcp_platform::lambda::handle_sqs_batch`).

#[tokio::main]
async fn main() -> Result<(), mcp_platform::lambda::LambdaError> {
    let state = mcp_platform::lambda::bootstrap().await?;
    mcp_platform::lambda::serve_sqs(state, mcp_platform::jobs::Registry::standard()).await
}
