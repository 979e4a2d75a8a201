//! Lambda function `api-auth`: bootstrap once per cold start, then serve the
//! group's router through API Gateway with the host's middleware.

#[tokio::main]
async fn main() -> Result<(), mcp_platform::lambda::LambdaError> {
    let state = mcp_platform::lambda::bootstrap().await?;
    mcp_platform::lambda::serve_http(mcp_platform::lambda::auth_function(state)).await
}
