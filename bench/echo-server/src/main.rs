//! A minimal MCP Streamable HTTP server with one tool, `echo`, answering in
//! plain JSON (no SSE framing, no per-session state), so that a benchmark of
//! the gateway measures the gateway.
//!
//! Usage: `mcp-echo-server [ADDRESS:PORT]` (default 127.0.0.1:8900; `PORT`
//! in the environment sets the port). Endpoint: `/mcp`.
//!
//! It speaks enough of protocol 2025-11-25 for a client to connect:
//! `initialize` (answers with an `Mcp-Session-Id`, which it then accepts but
//! does not check), `notifications/*` (202), `ping`, `tools/list`,
//! `tools/call` of `echo`; anything else is a JSON-RPC "method not found".

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

const PROTOCOL_VERSION: &str = "2025-11-25";

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| {
        let port = std::env::var("PORT").unwrap_or_else(|_| "8900".into());
        format!("127.0.0.1:{port}")
    });
    let app = Router::new().route(
        "/mcp",
        post(handle)
            .get(|| async { StatusCode::METHOD_NOT_ALLOWED })
            .delete(|| async { StatusCode::OK }),
    );
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("mcp-echo-server: cannot listen on {addr}: {err}");
            std::process::exit(1);
        }
    };
    eprintln!("mcp-echo-server: listening on http://{addr}/mcp");
    if let Err(err) = axum::serve(listener, app).await {
        eprintln!("mcp-echo-server: {err}");
        std::process::exit(1);
    }
}

fn json_response(body: &Value) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

fn error(id: Value, code: i64, message: &str) -> Response {
    json_response(&json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}))
}

async fn handle(_headers: HeaderMap, body: Bytes) -> Response {
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#,
        )
            .into_response();
    };
    let method = message["method"].as_str().unwrap_or_default();
    let Some(id) = message.get("id").cloned() else {
        // A notification (or a response to us, which we never ask for).
        return StatusCode::ACCEPTED.into_response();
    };
    let params = &message["params"];
    match method {
        "initialize" => {
            static SESSIONS: AtomicU64 = AtomicU64::new(1);
            let session = format!("echo-{}", SESSIONS.fetch_add(1, Ordering::Relaxed));
            let mut response = json_response(&json!({
                "jsonrpc": "2.0", "id": id,
                "result": {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "mcp-echo-server", "version": env!("CARGO_PKG_VERSION")}
                }
            }));
            if let Ok(value) = HeaderValue::from_str(&session) {
                response.headers_mut().insert("mcp-session-id", value);
            }
            response
        }
        "ping" => json_response(&json!({"jsonrpc": "2.0", "id": id, "result": {}})),
        "tools/list" => json_response(&json!({
            "jsonrpc": "2.0", "id": id,
            "result": {"tools": [{
                "name": "echo",
                "description": "Echoes back the input string",
                "inputSchema": {
                    "type": "object",
                    "properties": {"message": {"type": "string"}},
                    "required": ["message"]
                }
            }]}
        })),
        "tools/call" if params["name"] == "echo" => match params["arguments"]["message"].as_str() {
            Some(text) => json_response(&json!({
                "jsonrpc": "2.0", "id": id,
                "result": {"content": [{"type": "text", "text": format!("Echo: {text}")}]}
            })),
            None => error(id, -32602, "echo needs a string argument `message`"),
        },
        "tools/call" => error(id, -32602, "unknown tool"),
        _ => error(id, -32601, "method not found"),
    }
}
