//! The remote runner's upstream client (`mcp_platform::upstream`) against real
//! HTTP servers on loopback: the SSRF guard after DNS and on redirects, header
//! hygiene, streaming without buffering, timeouts, and a real MCP server
//! (`@modelcontextprotocol/server-everything` in Streamable HTTP mode).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use mcp_platform::upstream::{RemoteUpstream, SsrfPolicy, UpstreamError, UpstreamTimeouts};
use serde_json::{json, Value};
use tokio::sync::Notify;

const LOOPBACK_ONLY: SsrfPolicy = SsrfPolicy {
    allow_loopback: true,
    allow_private: false,
};

/// Serves `router` on a free loopback port for the rest of the test.
async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("test server");
    });
    addr
}

async fn read_body(response: Response) -> String {
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("whole body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8 body")
}

fn redirect_to(location: String) -> Response {
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(http::header::LOCATION, location)],
    )
        .into_response()
}

#[derive(Clone, Default)]
struct Hits(Arc<AtomicUsize>);

async fn redirecting_server() -> (SocketAddr, Hits) {
    let hits = Hits::default();
    let router = Router::new()
        .route(
            "/ok",
            any(|State(hits): State<Hits>| async move {
                hits.0.fetch_add(1, Ordering::SeqCst);
                "ok"
            }),
        )
        .route(
            "/to-metadata",
            any(|| async { redirect_to("http://169.254.169.254/latest/meta-data/".into()) }),
        )
        .route(
            "/to-metadata-decimal",
            any(|| async { redirect_to("http://2852039166/latest/meta-data/".into()) }),
        )
        .route(
            "/to-private",
            any(|| async { redirect_to("http://10.0.0.1:9/mcp".into()) }),
        )
        .route(
            "/to-mapped-private",
            any(|| async { redirect_to("http://[::ffff:192.168.1.1]/mcp".into()) }),
        )
        .route(
            "/to-file",
            any(|| async { redirect_to("file:///etc/passwd".into()) }),
        )
        .route("/loop", any(|| async { redirect_to("/loop".into()) }))
        .with_state(hits.clone());
    let addr = serve(router).await;
    (addr, hits)
}

async fn post(upstream: &RemoteUpstream) -> Result<Response, UpstreamError> {
    upstream
        .forward(Method::POST, HeaderMap::new(), Bytes::from_static(b"{}"))
        .await
}

#[tokio::test]
async fn redirects_to_forbidden_addresses_are_refused() {
    let (addr, hits) = redirecting_server().await;

    // A redirect to an allowed place is followed (the control).
    let to_ok = RemoteUpstream::new(
        &format!("http://127.0.0.1:{}/ok", addr.port()),
        LOOPBACK_ONLY,
    )
    .expect("loopback allowed");
    let response = post(&to_ok).await.expect("direct hop");
    assert_eq!(response.status(), 200);
    assert_eq!(read_body(response).await, "ok");

    for (path, refused_host) in [
        ("/to-metadata", "169.254.169.254"),
        ("/to-metadata-decimal", "169.254.169.254"),
        ("/to-private", "10.0.0.1"),
        ("/to-mapped-private", "[::ffff:c0a8:101]"),
    ] {
        let upstream = RemoteUpstream::new(
            &format!("http://127.0.0.1:{}{path}", addr.port()),
            LOOPBACK_ONLY,
        )
        .expect("the first hop is allowed");
        match post(&upstream).await {
            Err(UpstreamError::Refused(refused)) => {
                assert_eq!(refused.host, refused_host, "{path}: {refused}");
            }
            other => panic!("{path}: expected a refusal, got {other:?}"),
        }
    }

    // A redirect to a non-http scheme is refused, not relayed.
    let to_file = RemoteUpstream::new(
        &format!("http://127.0.0.1:{}/to-file", addr.port()),
        LOOPBACK_ONLY,
    )
    .expect("allowed");
    match post(&to_file).await {
        Err(UpstreamError::Refused(refused)) => {
            assert!(refused.reason.contains("scheme"), "{refused}")
        }
        other => panic!("/to-file: expected a refusal, got {other:?}"),
    }

    let looping = RemoteUpstream::new(
        &format!("http://127.0.0.1:{}/loop", addr.port()),
        LOOPBACK_ONLY,
    )
    .expect("allowed");
    match post(&looping).await {
        Err(UpstreamError::Refused(refused)) => {
            assert!(refused.reason.contains("redirects"), "{refused}");
        }
        other => panic!("expected too many redirects, got {other:?}"),
    }
    assert_eq!(
        hits.0.load(Ordering::SeqCst),
        1,
        "only the control reached /ok"
    );
}

#[tokio::test]
async fn names_resolving_to_loopback_are_refused_before_connecting() {
    let (addr, hits) = redirecting_server().await;
    let strict = SsrfPolicy::default();

    // An IP literal is refused when the upstream is configured.
    match RemoteUpstream::new(&format!("http://127.0.0.1:{}/ok", addr.port()), strict) {
        Err(UpstreamError::Refused(refused)) => assert_eq!(refused.host, "127.0.0.1"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    for spelled in [
        "2130706433",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
    ] {
        let url = format!("http://{spelled}:{}/ok", addr.port());
        assert!(
            matches!(
                RemoteUpstream::new(&url, strict),
                Err(UpstreamError::Refused(_))
            ),
            "{url}"
        );
    }

    // A name passes configuration (its addresses are unknown until it
    // resolves), and is refused at connect time by the resolver.
    let by_name = RemoteUpstream::new(&format!("http://localhost:{}/ok", addr.port()), strict)
        .expect("a name is accepted at configuration");
    match post(&by_name).await {
        Err(UpstreamError::Refused(refused)) => {
            assert_eq!(refused.host, "localhost");
            assert!(refused.reason.contains("loopback"), "{refused}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        hits.0.load(Ordering::SeqCst),
        0,
        "nothing reached the server"
    );

    // The same name with loopback allowed goes through.
    let allowed = RemoteUpstream::new(
        &format!("http://localhost:{}/ok", addr.port()),
        LOOPBACK_ONLY,
    )
    .expect("allowed");
    assert_eq!(post(&allowed).await.expect("allowed").status(), 200);
    assert_eq!(hits.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn invalid_upstream_configuration_is_a_field_error() {
    for (url, field) in [
        ("not a url", "url"),
        ("ftp://example.com/mcp", "url"),
        ("https://user:secret@example.com/mcp", "url"),
        ("http://169.254.169.254/", "url"),
    ] {
        let err = RemoteUpstream::new(url, SsrfPolicy::permissive()).expect_err(url);
        let rendered = err.into_config_error().expect("a configuration error");
        let response = rendered.into_response();
        assert_eq!(response.status(), 422, "{url}");
        let body: Value = serde_json::from_str(&read_body(response).await).expect("json");
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["body", "config", "runtime", field]),
            "{url}"
        );
        assert!(!body.to_string().contains("secret"), "{body}");
    }
    let bad_header = RemoteUpstream::with_options(
        "https://example.com/mcp",
        SsrfPolicy::default(),
        [("Mcp-Session-Id", "fixed")],
        UpstreamTimeouts::default(),
    )
    .expect_err("reserved header");
    assert!(matches!(
        bad_header,
        UpstreamError::Invalid {
            field: "headers",
            ..
        }
    ));

    // At call time a refusal renders as a 502 naming only the host.
    let (addr, _) = redirecting_server().await;
    let upstream = RemoteUpstream::new(
        &format!("http://127.0.0.1:{}/to-private", addr.port()),
        LOOPBACK_ONLY,
    )
    .expect("allowed");
    let response = post(&upstream).await.expect_err("refused").into_response();
    assert_eq!(response.status(), 502);
    let body: Value = serde_json::from_str(&read_body(response).await).expect("json");
    assert_eq!(body["error_code"], "UPSTREAM_ERROR");
    let detail = body["detail"].as_str().expect("sentence");
    assert!(
        detail.contains("10.0.0.1") && !detail.contains("/mcp"),
        "{detail}"
    );
}

#[tokio::test]
async fn only_mcp_headers_cross_the_proxy() {
    let router = Router::new().route(
        "/mcp",
        any(|headers: HeaderMap, body: Bytes| async move {
            let seen: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or("?"))))
                .collect();
            (
                [
                    ("content-type", "application/json"),
                    ("mcp-session-id", "session-from-upstream"),
                    ("set-cookie", "upstream=1; Path=/"),
                    ("x-internal-debug", "upstream internals"),
                ],
                json!({"headers": seen, "body": String::from_utf8_lossy(&body)}).to_string(),
            )
        }),
    );
    let addr = serve(router).await;
    let upstream = RemoteUpstream::with_options(
        &format!("http://127.0.0.1:{}/mcp", addr.port()),
        LOOPBACK_ONLY,
        [
            ("Authorization", "Bearer upstream-token"),
            ("X-Upstream-Key", "k1"),
        ],
        UpstreamTimeouts::default(),
    )
    .expect("allowed");

    let mut caller = HeaderMap::new();
    for (name, value) in [
        ("authorization", "Bearer platform-token"),
        ("x-api-key", "platform-key"),
        ("cookie", "session=platform"),
        ("x-forwarded-for", "203.0.113.9"),
        ("accept", "application/json, text/event-stream"),
        ("content-type", "application/json"),
        ("mcp-session-id", "abc-123"),
        ("mcp-protocol-version", "2025-11-25"),
        ("last-event-id", "ev-7"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
    ] {
        caller.insert(name, HeaderValue::from_static(value));
    }
    let payload = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let response = upstream
        .forward(Method::POST, caller, Bytes::from_static(payload.as_bytes()))
        .await
        .expect("forwarded");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["mcp-session-id"], "session-from-upstream");
    assert!(headers.get("set-cookie").is_none(), "{headers:?}");
    assert!(headers.get("x-internal-debug").is_none(), "{headers:?}");

    let echoed: Value = serde_json::from_str(&read_body(response).await).expect("json");
    assert_eq!(echoed["body"], payload);
    let seen = &echoed["headers"];
    assert_eq!(seen["authorization"], "Bearer upstream-token");
    assert_eq!(seen["x-upstream-key"], "k1");
    for absent in ["x-api-key", "cookie", "x-forwarded-for"] {
        assert!(seen.get(absent).is_none(), "{absent} leaked: {seen}");
    }
    for (name, value) in [
        ("accept", "application/json, text/event-stream"),
        ("content-type", "application/json"),
        ("mcp-session-id", "abc-123"),
        ("mcp-protocol-version", "2025-11-25"),
        ("last-event-id", "ev-7"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
    ] {
        assert_eq!(seen[name], value, "{name}");
    }
}

/// A server answering with what it received: method, headers and body.
fn echo_router() -> Router {
    Router::new().route(
        "/echo",
        any(
            |method: Method, headers: HeaderMap, body: Bytes| async move {
                let seen: serde_json::Map<String, Value> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or("?"))))
                    .collect();
                axum::Json(json!({
                    "method": method.as_str(),
                    "headers": seen,
                    "body": String::from_utf8_lossy(&body),
                }))
            },
        ),
    )
}

#[tokio::test]
async fn redirects_keep_the_message_and_scope_configured_headers_to_the_origin() {
    let other_origin = serve(echo_router()).await;
    let router = echo_router()
        .route("/same", any(|| async { redirect_to("/echo".into()) }))
        .route(
            "/elsewhere",
            any(move || async move {
                redirect_to(format!("http://127.0.0.1:{}/echo", other_origin.port()))
            }),
        )
        .route(
            "/see-other",
            any(|| async {
                (StatusCode::SEE_OTHER, [(http::header::LOCATION, "/echo")]).into_response()
            }),
        );
    let addr = serve(router).await;
    let upstream_at = |path: &str| {
        RemoteUpstream::with_options(
            &format!("http://127.0.0.1:{}{path}", addr.port()),
            LOOPBACK_ONLY,
            [("X-Upstream-Key", "k1")],
            UpstreamTimeouts::default(),
        )
        .expect("allowed")
    };
    let mut caller = HeaderMap::new();
    caller.insert("mcp-session-id", HeaderValue::from_static("s-1"));
    let message = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);

    let echoed = |response: Response| async move {
        assert_eq!(response.status(), 200);
        serde_json::from_str::<Value>(&read_body(response).await).expect("json")
    };
    // Same origin: the POST, its body and the configured header all arrive.
    let same = echoed(
        upstream_at("/same")
            .forward(Method::POST, caller.clone(), message.clone())
            .await
            .expect("followed"),
    )
    .await;
    assert_eq!(same["method"], "POST");
    assert_eq!(same["body"], String::from_utf8_lossy(&message).as_ref());
    assert_eq!(same["headers"]["x-upstream-key"], "k1");
    assert_eq!(same["headers"]["mcp-session-id"], "s-1");

    // Another origin gets the caller's MCP headers but not the upstream's key.
    let elsewhere = echoed(
        upstream_at("/elsewhere")
            .forward(Method::POST, caller.clone(), message.clone())
            .await
            .expect("followed"),
    )
    .await;
    assert_eq!(elsewhere["method"], "POST");
    assert_eq!(elsewhere["headers"]["mcp-session-id"], "s-1");
    assert!(
        elsewhere["headers"].get("x-upstream-key").is_none(),
        "{elsewhere}"
    );

    // 303 See Other becomes a GET without the body.
    let see_other = echoed(
        upstream_at("/see-other")
            .forward(Method::POST, caller, message)
            .await
            .expect("followed"),
    )
    .await;
    assert_eq!(see_other["method"], "GET");
    assert_eq!(see_other["body"], "");
}

/// An SSE endpoint that sends one event at once and the next only when the
/// test releases it, so "the first event arrived before the stream ended" is
/// checked without timing guesses.
async fn held_sse_server() -> (SocketAddr, Arc<Notify>) {
    let release = Arc::new(Notify::new());
    let router = Router::new()
        .route(
            "/mcp",
            any(|State(release): State<Arc<Notify>>| async move {
                let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes, std::io::Error>>();
                tokio::spawn(async move {
                    let _ = tx.unbounded_send(Ok(Bytes::from_static(
                        b"event: message\ndata: {\"n\":1}\n\n",
                    )));
                    release.notified().await;
                    let _ = tx.unbounded_send(Ok(Bytes::from_static(
                        b"event: message\ndata: {\"n\":2}\n\n",
                    )));
                });
                (
                    [("content-type", "text/event-stream")],
                    Body::from_stream(rx),
                )
            }),
        )
        .with_state(release.clone());
    (serve(router).await, release)
}

async fn next_text(body: &mut axum::body::BodyDataStream) -> Option<Result<String, String>> {
    tokio::time::timeout(Duration::from_secs(10), body.next())
        .await
        .expect("a chunk or the end within 10 s")
        .map(|chunk| {
            chunk
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| e.to_string())
        })
}

#[tokio::test]
async fn sse_events_stream_through_as_they_come() {
    for method in [Method::GET, Method::POST] {
        let (addr, release) = held_sse_server().await;
        let upstream = RemoteUpstream::new(
            &format!("http://127.0.0.1:{}/mcp", addr.port()),
            LOOPBACK_ONLY,
        )
        .expect("allowed");
        let mut accept = HeaderMap::new();
        accept.insert("accept", HeaderValue::from_static("text/event-stream"));
        let response = upstream
            .forward(method.clone(), accept, Bytes::new())
            .await
            .expect("stream opened");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut body = response.into_body().into_data_stream();

        let first = next_text(&mut body)
            .await
            .expect("first event")
            .expect("ok");
        assert!(first.contains(r#"{"n":1}"#), "{method}: {first}");
        assert!(!first.contains(r#"{"n":2}"#), "{method}: {first}");

        // The upstream is still holding its second event; release it.
        release.notify_one();
        let mut rest = String::new();
        while let Some(chunk) = next_text(&mut body).await {
            rest.push_str(&chunk.expect("ok"));
        }
        assert!(rest.contains(r#"{"n":2}"#), "{method}: {rest}");
    }
}

#[tokio::test]
async fn a_silent_post_body_times_out_but_a_get_stream_does_not() {
    let (addr, _release) = held_sse_server().await;
    let timeouts = UpstreamTimeouts {
        connect: Duration::from_secs(5),
        response: Duration::from_secs(5),
        idle: Duration::from_millis(300),
    };
    let upstream = RemoteUpstream::with_options(
        &format!("http://127.0.0.1:{}/mcp", addr.port()),
        LOOPBACK_ONLY,
        std::iter::empty::<(&str, &str)>(),
        timeouts,
    )
    .expect("allowed");

    let response = upstream
        .forward(Method::POST, HeaderMap::new(), Bytes::from_static(b"{}"))
        .await
        .expect("head");
    let mut body = response.into_body().into_data_stream();
    next_text(&mut body).await.expect("first").expect("ok");
    let after_silence = next_text(&mut body).await.expect("an error, not the end");
    assert!(after_silence.is_err(), "{after_silence:?}");

    let response = upstream
        .forward(Method::GET, HeaderMap::new(), Bytes::new())
        .await
        .expect("head");
    let mut body = response.into_body().into_data_stream();
    next_text(&mut body).await.expect("first").expect("ok");
    // Three idle limits of silence: the server stream stays open.
    let still_open = tokio::time::timeout(timeouts.idle * 3, body.next()).await;
    assert!(
        still_open.is_err(),
        "the GET stream was cut: {still_open:?}"
    );
}

#[tokio::test]
async fn a_small_answer_of_known_length_comes_whole_and_a_stalled_one_times_out() {
    const ANSWER: &str = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
    let router = Router::new()
        .route(
            "/mcp",
            any(|| async { ([(http::header::CONTENT_TYPE, "application/json")], ANSWER) }),
        )
        .route(
            "/stalled",
            any(|| async {
                // Promises 64 bytes, sends 10, then goes silent.
                let chunks = futures::stream::once(async {
                    Ok::<_, std::io::Error>(Bytes::from_static(b"{\"partial\""))
                })
                .chain(futures::stream::pending());
                (
                    [
                        (http::header::CONTENT_TYPE, "application/json"),
                        (http::header::CONTENT_LENGTH, "64"),
                    ],
                    Body::from_stream(chunks),
                )
            }),
        );
    let addr = serve(router).await;
    let timeouts = UpstreamTimeouts {
        idle: Duration::from_millis(300),
        ..UpstreamTimeouts::default()
    };
    let at = |path: &str| {
        RemoteUpstream::with_options(
            &format!("http://127.0.0.1:{}{path}", addr.port()),
            LOOPBACK_ONLY,
            std::iter::empty::<(&str, &str)>(),
            timeouts,
        )
        .expect("allowed")
    };

    let response = post(&at("/mcp")).await.expect("answer");
    // Relayed with its length, not re-chunked.
    assert_eq!(
        axum::body::HttpBody::size_hint(response.body()).exact(),
        Some(ANSWER.len() as u64)
    );
    assert_eq!(read_body(response).await, ANSWER);

    // Its head has arrived but not its end: a 504, never a truncated 200.
    match post(&at("/stalled")).await {
        Err(err @ UpstreamError::Timeout { .. }) => {
            assert_eq!(err.into_response().status(), 504);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_and_slow_upstreams_are_typed_errors() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let upstream = RemoteUpstream::new(
        &format!("http://127.0.0.1:{closed_port}/mcp"),
        LOOPBACK_ONLY,
    )
    .expect("allowed");
    match post(&upstream).await {
        Err(err @ UpstreamError::Unreachable { .. }) => {
            let response = err.into_response();
            assert_eq!(response.status(), 502);
            let body = read_body(response).await;
            assert!(!body.contains("Connection refused"), "cause leaked: {body}");
        }
        other => panic!("expected unreachable, got {other:?}"),
    }

    let router = Router::new().route(
        "/mcp",
        any(|| async {
            std::future::pending::<()>().await;
            "never"
        }),
    );
    let addr = serve(router).await;
    let slow = RemoteUpstream::with_options(
        &format!("http://127.0.0.1:{}/mcp", addr.port()),
        LOOPBACK_ONLY,
        std::iter::empty::<(&str, &str)>(),
        UpstreamTimeouts {
            response: Duration::from_millis(300),
            ..UpstreamTimeouts::default()
        },
    )
    .expect("allowed");
    match post(&slow).await {
        Err(err @ UpstreamError::Timeout { .. }) => {
            assert_eq!(err.into_response().status(), 504);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// Upstream connections are kept alive and reused, whether the answer was
/// read whole (JSON) or relayed as an event stream; one the server closed
/// while it was idle is not reused, and the next call opens a new one.
#[tokio::test]
async fn connections_are_reused_and_one_the_server_closed_is_replaced() {
    let accepted = Hits::default();
    let counter = accepted.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
        counter.0.fetch_add(1, Ordering::SeqCst);
    });
    let router = echo_router().route(
        "/sse",
        any(|| async {
            (
                [(http::header::CONTENT_TYPE, "text/event-stream")],
                "event: message\ndata: {}\n\n",
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.expect("test server") });
    let at = |path: &str| {
        RemoteUpstream::new(
            &format!("http://127.0.0.1:{}{path}", addr.port()),
            LOOPBACK_ONLY,
        )
        .expect("allowed")
    };
    let (json_answer, event_stream) = (at("/echo"), at("/sse"));
    for _ in 0..10 {
        let answer = post(&json_answer).await.expect("JSON answer");
        assert_eq!(answer.status(), 200);
        assert!(read_body(answer).await.contains("\"POST\""));
        let answer = post(&event_stream).await.expect("SSE answer");
        assert_eq!(answer.status(), 200);
        assert_eq!(read_body(answer).await, "event: message\ndata: {}\n\n");
    }
    assert_eq!(
        accepted.0.load(Ordering::SeqCst),
        1,
        "20 calls, one connection"
    );

    // A server that closes each connection after one answer, once the client
    // has read it, without saying so in the answer (as a server's keep-alive
    // timeout does). It runs on a thread of its own, and the test waits for
    // each close by blocking its runtime's only thread: the runtime has not
    // seen the close when the next call checks the connection out, as when a
    // server closes a pooled connection while the gateway is busy.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let (close_tx, close) = std::sync::mpsc::channel::<()>();
    let (closed_tx, closed) = std::sync::mpsc::channel::<usize>();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for (accepted, socket) in listener.incoming().enumerate() {
            let mut socket = socket.expect("accept");
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // The client's request: its head, then the two-byte body `{}`.
            while !request.ends_with(b"\r\n\r\n{}") {
                let n = socket.read(&mut buf).expect("read");
                assert!(n > 0, "the client closed mid-request");
                request.extend_from_slice(&buf[..n]);
            }
            let answer =
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
            socket.write_all(answer.as_bytes()).expect("write");
            if close.recv().is_err() {
                return;
            }
            drop(socket);
            if closed_tx.send(accepted + 1).is_err() {
                return;
            }
        }
    });
    let closing = RemoteUpstream::new(
        &format!("http://127.0.0.1:{}/mcp", addr.port()),
        LOOPBACK_ONLY,
    )
    .expect("allowed");
    for call in 1..=3 {
        let answer = post(&closing).await.expect("answered on a new connection");
        assert_eq!(read_body(answer).await, "{}");
        close_tx.send(()).expect("the server is running");
        let accepted = closed.recv().expect("the server closed the connection");
        assert_eq!(accepted, call);
    }
}

// --- a real MCP server --------------------------------------------------------

/// `server-everything` in Streamable HTTP mode on a free loopback port,
/// killed when dropped.
struct Everything {
    child: std::process::Child,
    port: u16,
}

impl Drop for Everything {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_everything() -> Everything {
    let entry = mcp_platform_tests::mcp_peers::server_everything();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = std::process::Command::new("node")
        .arg(&entry)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("node on PATH to run server-everything");
    let server = Everything { child, port };
    mcp_platform_tests::poll_until(
        &format!("server-everything listens on 127.0.0.1:{port}"),
        Duration::from_secs(30),
        async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        },
    )
    .await;
    server
}

/// The JSON-RPC messages of a response, whether it came as JSON or as SSE.
async fn messages(response: Response) -> Vec<Value> {
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = read_body(response).await;
    if !is_sse {
        return vec![serde_json::from_str(&text).expect("a JSON-RPC message")];
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        // SSE priming events (resumability) carry an empty data line.
        .filter(|data| !data.trim().is_empty())
        .map(|data| serde_json::from_str(data.trim()).expect("a JSON-RPC message in SSE"))
        .collect()
}

fn mcp_headers(session: Option<&HeaderValue>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "accept",
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "mcp-protocol-version",
        HeaderValue::from_static("2025-11-25"),
    );
    // The platform's own credentials, which the upstream must never see.
    headers.insert(
        "authorization",
        HeaderValue::from_static("Bearer platform-token"),
    );
    if let Some(session) = session {
        headers.insert("mcp-session-id", session.clone());
    }
    headers
}

async fn call(upstream: &RemoteUpstream, session: &HeaderValue, message: Value) -> Value {
    let response = upstream
        .forward(
            Method::POST,
            mcp_headers(Some(session)),
            Bytes::from(message.to_string()),
        )
        .await
        .expect("forwarded");
    assert_eq!(response.status(), 200, "{message}");
    let id = message["id"].clone();
    messages(response)
        .await
        .into_iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no answer to {message}"))
}

#[tokio::test]
async fn server_everything_through_forward() {
    let server = start_everything().await;
    let upstream = RemoteUpstream::new(
        &format!("http://127.0.0.1:{}/mcp", server.port),
        LOOPBACK_ONLY,
    )
    .expect("allowed");

    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "mcp-platform-tests", "version": "0"}
        }
    });
    let response = upstream
        .forward(
            Method::POST,
            mcp_headers(None),
            Bytes::from(initialize.to_string()),
        )
        .await
        .expect("initialize forwarded");
    assert_eq!(response.status(), 200);
    let session = response
        .headers()
        .get("mcp-session-id")
        .cloned()
        .expect("the upstream's session id is relayed");
    let init = messages(response).await;
    let result = &init
        .iter()
        .find(|m| m["id"] == 1)
        .expect("initialize answer")["result"];
    assert_eq!(result["protocolVersion"], "2025-11-25", "{result}");
    assert!(result["capabilities"]["tools"].is_object(), "{result}");

    let initialized = upstream
        .forward(
            Method::POST,
            mcp_headers(Some(&session)),
            Bytes::from(
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
            ),
        )
        .await
        .expect("notification forwarded");
    assert_eq!(initialized.status(), 202);

    let listed = call(
        &upstream,
        &session,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"echo") && names.contains(&"get-sum"),
        "{names:?}"
    );

    let echoed = call(
        &upstream,
        &session,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "echo", "arguments": {"message": "through the gateway ✓"}}}),
    )
    .await;
    assert_eq!(
        echoed["result"]["content"][0]["text"], "Echo: through the gateway ✓",
        "{echoed}"
    );
    let sum = call(
        &upstream,
        &session,
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
               "params": {"name": "get-sum", "arguments": {"a": 20, "b": 22}}}),
    )
    .await;
    assert!(
        sum["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("42"),
        "{sum}"
    );

    // The session id really is what routes the call: a made-up one is refused
    // by the server, and after DELETE the real one is gone too.
    let forged = HeaderValue::from_static("00000000-0000-0000-0000-000000000000");
    let response = upstream
        .forward(
            Method::POST,
            mcp_headers(Some(&forged)),
            Bytes::from(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}).to_string()),
        )
        .await
        .expect("forwarded");
    assert!(response.status().is_client_error(), "{}", response.status());

    let deleted = upstream
        .forward(Method::DELETE, mcp_headers(Some(&session)), Bytes::new())
        .await
        .expect("DELETE forwarded");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let response = upstream
        .forward(
            Method::POST,
            mcp_headers(Some(&session)),
            Bytes::from(json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}).to_string()),
        )
        .await
        .expect("forwarded");
    assert!(response.status().is_client_error(), "{}", response.status());
}
