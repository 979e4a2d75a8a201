//! Lambda function `cron-scheduler`: bootstrap once per cold start, then one
//! scheduler tick per EventBridge scheduled event (see
//! `mcp_platform::lambda::handle_schedule`).

#[tokio::main]
async fn main() -> Result<(), mcp_platform::lambda::LambdaError> {
    let state = mcp_platform::lambda::bootstrap().await?;
    mcp_platform::lambda::serve_schedule(state).await
}
