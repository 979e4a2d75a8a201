//! `mcp_platform::upstream::RemoteUpstream` behind one bare axum route, to
//! measure what the remote runner's proxy hop costs by itself (no platform
//! auth, sessions, rate limits or usage rows: `/mcp/{slug}` adds those).
//!
//! Usage: `mcp-upstream-proxy LISTEN_ADDR UPSTREAM_URL`, e.g.
//! `mcp-upstream-proxy 127.0.0.1:8901 http://127.0.0.1:8900/mcp`; the proxy
//! serves `/mcp`. Loopback upstreams are allowed (it is a benchmark tool).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use mcp_platform::upstream::{RemoteUpstream, SsrfPolicy};

async fn proxy(
    State(upstream): State<Arc<RemoteUpstream>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match upstream.forward(method, headers, body).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(url)) = (args.next(), args.next()) else {
        eprintln!("usage: mcp-upstream-proxy LISTEN_ADDR UPSTREAM_URL");
        std::process::exit(2);
    };
    let policy = SsrfPolicy {
        allow_loopback: true,
        allow_private: false,
    };
    let upstream = match RemoteUpstream::new(&url, policy) {
        Ok(upstream) => Arc::new(upstream),
        Err(err) => {
            eprintln!("mcp-upstream-proxy: {err}");
            std::process::exit(2);
        }
    };
    let app = Router::new().route("/mcp", any(proxy)).with_state(upstream);
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("mcp-upstream-proxy: cannot listen on {listen}: {err}");
            std::process::exit(1);
        }
    };
    eprintln!("mcp-upstream-proxy: http://{listen}/mcp -> {url}");
    if let Err(err) = axum::serve(listener, app).await {
        eprintln!("mcp-upstream-proxy: {err}");
        std::process::exit(1);
    }
}
