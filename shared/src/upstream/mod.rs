//! The remote runner's HTTP side: one MCP Streamable HTTP exchange proxied to
//! a tool's upstream server URL.
//!
//! - Every upstream is dialled through a connection pool per [`SsrfPolicy`]
//!   ([`conn`]) whose connector resolves through the policy ([`ssrf`]), so
//!   the check and the connect see the same addresses. Each connection is
//!   driven by the task that uses it, not by a task of its own. Redirects
//!   are followed by [`RemoteUpstream::forward`] itself: each hop's URL is
//!   checked, and the configured headers go to the configured origin only.
//! - Only the MCP transport headers cross in either direction: the caller's
//!   platform credentials (`Authorization`, `X-API-Key`, cookies) never reach
//!   the upstream, and the upstream's cookies never reach the caller. Headers
//!   the tool's configuration gives (`runtime.headers`, e.g. the upstream's own
//!   API key) are added by the platform.
//! - Response bodies are relayed chunk by chunk as they arrive, so an SSE
//!   stream's first event reaches the client while the upstream is still
//!   working. What has already arrived when the head does is passed on with
//!   it, so an answer that is complete by then goes out as one response.
//!   There is no total timeout: a GET stream may legitimately stay open for
//!   hours. The connect, the response head and (for POST) every gap between
//!   two body chunks have their own limits.

mod conn;
pub mod ssrf;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{FutureExt, Stream, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use reqwest::Url;

use conn::{Origin, Pool, PooledBody};

pub use ssrf::{Refused, SsrfPolicy};

use crate::error::{Error, ErrorBody};

/// Request headers of the MCP Streamable HTTP transport passed to the upstream.
/// Everything else the caller sent stays at the gateway.
const FORWARDED_REQUEST_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "mcp-method",
    "mcp-name",
];

/// Response headers relayed to the caller. `Set-Cookie` and hop-by-hop
/// headers are not: the upstream must not plant cookies on the platform's
/// origin, and the gateway frames its own response.
const FORWARDED_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "cache-control",
    "mcp-session-id",
    "mcp-protocol-version",
    "retry-after",
];

/// Headers a tool's configuration may not set on upstream requests: the client
/// frames the request itself, and the MCP headers come from the caller.
const RESERVED_CONFIG_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "mcp-method",
    "mcp-name",
];

const MAX_REDIRECTS: usize = 5;

/// A response body of known length up to this size, other than an event
/// stream, is read whole and passed on with its length. A JSON-RPC answer is
/// one small body; relaying it chunk by chunk only adds chunked framing and a
/// stream adapter per call.
const WHOLE_BODY_MAX_BYTES: u64 = 256 * 1024;

/// How long each phase of an upstream exchange may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamTimeouts {
    /// TCP (and TLS) connect.
    pub connect: Duration,
    /// From sending the request to the response head. A JSON-answered
    /// `tools/call` holds its head until the tool is done, so this is also the
    /// longest such call.
    pub response: Duration,
    /// The longest silence between two body chunks of a POST response. A GET
    /// (the server-initiated SSE stream) has none: it is idle by design until
    /// the server has something to say.
    pub idle: Duration,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            response: Duration::from_secs(120),
            idle: Duration::from_secs(120),
        }
    }
}

/// Why an exchange with an upstream failed. The `Display` text (and the
/// rendered response) names the upstream host and what went wrong, never a
/// cause chain: causes are logged.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The URL, or a configured header, is not usable (found at construction).
    #[error("invalid upstream {field}: {message}")]
    Invalid {
        /// `url` or `headers`.
        field: &'static str,
        message: String,
    },
    /// The SSRF policy refused the URL, a resolved address or a redirect.
    #[error("{0}")]
    Refused(Refused),
    /// Connecting, or reading the response head, failed.
    #[error("upstream {host} is unreachable")]
    Unreachable { host: String, cause: String },
    /// A phase of the exchange exceeded its [`UpstreamTimeouts`] limit.
    #[error("upstream {host} timed out")]
    Timeout { host: String },
}

impl UpstreamError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Refused(_) | Self::Unreachable { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    /// For deployment creation: a URL or header the policy or the parser
    /// refuses is a 422 on the tool's `config.runtime.<field>`; anything else
    /// is a 502 rendered by [`IntoResponse`].
    pub fn into_config_error(self) -> Result<Error, Self> {
        match self {
            Self::Invalid { field, message } => Ok(invalid_config(field, message)),
            Self::Refused(refused) => Ok(invalid_config("url", refused.to_string())),
            other => Err(other),
        }
    }
}

impl IntoResponse for UpstreamError {
    /// SPEC §3: 502 `UPSTREAM_ERROR` (504 for a timeout) with a sentence that
    /// names the upstream host; 422 for an invalid configuration.
    fn into_response(self) -> Response {
        if let Self::Invalid { field, message } = self {
            return invalid_config(field, message).into_response();
        }
        if let Self::Unreachable { host, cause } = &self {
            tracing::warn!(upstream = %host, error = %cause, "upstream unreachable");
        }
        let body = ErrorBody {
            error_code: "UPSTREAM_ERROR",
            detail: self.to_string().into(),
            request_id: crate::request_id::current().unwrap_or_default(),
            resource_type: None,
            resource_id: None,
            required_permission: None,
            retry_after: None,
        };
        (self.status(), axum::Json(body)).into_response()
    }
}

fn invalid_config(field: &'static str, message: String) -> Error {
    Error::invalid(
        &["body", "config", "runtime", field],
        "value_error",
        message,
    )
}

/// A Streamable HTTP MCP server the gateway proxies to.
#[derive(Debug, Clone)]
pub struct RemoteUpstream {
    url: Url,
    policy: SsrfPolicy,
    headers: HeaderMap,
    timeouts: UpstreamTimeouts,
    pool: Arc<Pool>,
}

impl RemoteUpstream {
    /// Validates `url` (http or https, a host the policy allows when it is an
    /// IP literal) and binds it to the policy's shared client.
    pub fn new(url: &str, policy: SsrfPolicy) -> Result<Self, UpstreamError> {
        Self::with_options(
            url,
            policy,
            std::iter::empty::<(&str, &str)>(),
            UpstreamTimeouts::default(),
        )
    }

    /// As [`RemoteUpstream::new`], plus headers from the tool's configuration
    /// (`runtime.headers`) sent on every request, and custom timeouts.
    pub fn with_options<K: AsRef<str>, V: AsRef<str>>(
        url: &str,
        policy: SsrfPolicy,
        headers: impl IntoIterator<Item = (K, V)>,
        timeouts: UpstreamTimeouts,
    ) -> Result<Self, UpstreamError> {
        let invalid_url = |message: &str| UpstreamError::Invalid {
            field: "url",
            message: message.to_owned(),
        };
        let parsed = Url::parse(url.trim()).map_err(|_| invalid_url("not a valid URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid_url("must be an http or https URL"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            // Credentials in a URL end up in logs; runtime.headers carries them.
            return Err(invalid_url(
                "must not contain credentials; put them in runtime.headers",
            ));
        }
        policy.check_url(&parsed).map_err(UpstreamError::Refused)?;
        let mut header_map = HeaderMap::new();
        for (name, value) in headers {
            let (name, value) = (name.as_ref(), value.as_ref());
            let invalid_header = |message: String| UpstreamError::Invalid {
                field: "headers",
                message,
            };
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid_header(format!("{name:?} is not a valid header name")))?;
            if RESERVED_CONFIG_HEADERS.contains(&header_name.as_str()) {
                return Err(invalid_header(format!(
                    "{name} is set by the gateway and cannot be configured"
                )));
            }
            let mut header_value = HeaderValue::from_str(value).map_err(|_| {
                invalid_header(format!("the value of {name} is not a valid header value"))
            })?;
            header_value.set_sensitive(true);
            header_map.append(header_name, header_value);
        }
        Ok(Self {
            pool: Pool::shared(policy, timeouts.connect),
            url: parsed,
            policy,
            headers: header_map,
            timeouts,
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Resolves the host now and checks every address against the policy,
    /// as the connector will: a name that points at loopback (`localhost`)
    /// or a private network is refused before anything waits on it. A name
    /// that does not resolve is refused too, saying so.
    pub async fn check_resolves(&self) -> Result<(), UpstreamError> {
        let host = self.url.host_str().unwrap_or_default();
        let port = self.url.port_or_known_default().unwrap_or(443);
        match ssrf::resolve(self.policy, host, port).await {
            Ok(_) => Ok(()),
            Err(e) => match e.downcast::<Refused>() {
                Ok(refused) => Err(UpstreamError::Refused(*refused)),
                Err(other) => Err(UpstreamError::Refused(Refused {
                    host: host.to_owned(),
                    reason: format!("it does not resolve ({other})"),
                })),
            },
        }
    }

    /// Proxies one request of the MCP Streamable HTTP transport (POST a
    /// JSON-RPC message, GET the server's stream, DELETE the session) and
    /// returns the upstream's response with its body still streaming.
    pub async fn forward(
        &self,
        method: Method,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<Body>, UpstreamError> {
        let mut caller_headers = HeaderMap::new();
        for name in FORWARDED_REQUEST_HEADERS {
            for value in headers.get_all(*name) {
                caller_headers.append(*name, value.clone());
            }
        }
        let is_get = method == Method::GET;
        let (mut method, mut body, mut url) = (method, body, self.url.clone());
        // Redirects are followed here rather than by the client, so that each
        // hop's URL passes the policy and the configured headers (the
        // upstream's own credentials) go only to the configured origin.
        let mut hops = 0;
        loop {
            let host = url.host_str().unwrap_or_default().to_owned();
            let mut request = Request::builder()
                .method(method.clone())
                .uri(origin_form(&url))
                .body(Full::new(body.clone()))
                .map_err(|e| UpstreamError::Invalid {
                    field: "url",
                    message: format!("not usable in a request: {e}"),
                })?;
            let outgoing = request.headers_mut();
            if url.origin() == self.url.origin() {
                outgoing.extend(self.headers.clone());
            }
            outgoing.extend(caller_headers.clone());
            outgoing.insert(http::header::HOST, host_header(&url)?);
            outgoing.insert(
                http::header::USER_AGENT,
                HeaderValue::from_static(USER_AGENT),
            );
            let origin = Origin {
                tls: url.scheme() == "https",
                host: host.clone(),
                port: url.port_or_known_default().unwrap_or(80),
            };
            let response =
                tokio::time::timeout(self.timeouts.response, self.pool.send(&origin, request))
                    .await
                    .map_err(|_| UpstreamError::Timeout { host: host.clone() })??;
            if let Some(next) = redirect_target(&response, &url) {
                if hops == MAX_REDIRECTS {
                    return Err(UpstreamError::Refused(Refused {
                        host,
                        reason: format!("more than {MAX_REDIRECTS} redirects"),
                    }));
                }
                self.policy
                    .check_url(&next)
                    .map_err(UpstreamError::Refused)?;
                // RFC 9110 §15.4.4: 303 means "GET the other resource". 301
                // and 302 keep the method: an MCP POST turned into a GET
                // would open an event stream instead of delivering the message.
                if response.status() == StatusCode::SEE_OTHER && method != Method::HEAD {
                    method = Method::GET;
                    body = Bytes::new();
                }
                url = next;
                hops += 1;
                continue;
            }
            return relay(response, (!is_get).then_some(self.timeouts.idle), host).await;
        }
    }
}

const USER_AGENT: &str = concat!("mcp-platform-gateway/", env!("CARGO_PKG_VERSION"));

/// The request target of a request to `url`: its path and query.
fn origin_form(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The `Host` header of a request to `url`: the host, and the port unless it
/// is the scheme's default.
fn host_header(url: &Url) -> Result<HeaderValue, UpstreamError> {
    let host = url.host_str().unwrap_or_default();
    let value = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    HeaderValue::from_str(&value).map_err(|_| UpstreamError::Invalid {
        field: "url",
        message: "the host is not usable in a Host header".into(),
    })
}

/// The next URL of a redirect response, resolved against the current one.
fn redirect_target<B>(response: &http::Response<B>, current: &Url) -> Option<Url> {
    let status = response.status().as_u16();
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response
        .headers()
        .get(http::header::LOCATION)?
        .to_str()
        .ok()?;
    current.join(location).ok()
}

/// The relayed response: the status, the MCP response headers and the body.
/// A small body of known length (not an event stream) is read whole. Any
/// other body is passed on as it comes, starting with what has already
/// arrived: when that is all of it (a JSON-RPC answer on an SSE stream that
/// the server wrote in one go), it goes out whole, with its length.
async fn relay(
    response: http::Response<PooledBody>,
    idle: Option<Duration>,
    host: String,
) -> Result<Response<Body>, UpstreamError> {
    let (head, mut body) = response.into_parts();
    let mut relayed = Response::new(Body::empty());
    *relayed.status_mut() = head.status;
    let out = relayed.headers_mut();
    for name in FORWARDED_RESPONSE_HEADERS {
        for value in head.headers.get_all(*name) {
            out.append(*name, value.clone());
        }
    }
    let body_failed = |err: hyper::Error| UpstreamError::Unreachable {
        host: host.clone(),
        cause: format!("reading the response body failed: {err}"),
    };
    let event_stream = head
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let small = hyper::body::Body::size_hint(&body)
        .exact()
        .is_some_and(|n| n <= WHOLE_BODY_MAX_BYTES);
    if small && !event_stream {
        let whole = match idle {
            None => body.collect().await,
            Some(limit) => tokio::time::timeout(limit, body.collect())
                .await
                .map_err(|_| UpstreamError::Timeout { host: host.clone() })?,
        };
        *relayed.body_mut() = Body::from(whole.map_err(body_failed)?.to_bytes());
        return Ok(relayed);
    }
    // Take what is there without waiting: `now_or_never` polls once, and the
    // body's polls drive the connection, so this reads what the socket holds.
    let mut arrived = Vec::new();
    while let Some(frame) = body.frame().now_or_never() {
        match frame {
            None => {
                *relayed.body_mut() = Body::from(concat(arrived));
                return Ok(relayed);
            }
            Some(Ok(frame)) => arrived.extend(frame.into_data().ok()),
            Some(Err(err)) => return Err(body_failed(err)),
        }
    }
    let rest = futures::stream::iter(arrived.into_iter().map(Ok)).chain(body.into_data_stream());
    *relayed.body_mut() = relay_body(rest, idle, host);
    Ok(relayed)
}

fn concat(chunks: Vec<Bytes>) -> Bytes {
    match <[Bytes; 1]>::try_from(chunks) {
        Ok([one]) => one,
        Err(chunks) => chunks.concat().into(),
    }
}

/// The upstream body as a response body: each chunk is passed on as it comes.
/// With `idle`, a silence longer than that ends the body with an error (the
/// client sees a truncated response rather than a hang).
fn relay_body(
    upstream: impl Stream<Item = Result<Bytes, hyper::Error>> + Send + 'static,
    idle: Option<Duration>,
    host: String,
) -> Body {
    let upstream = Box::pin(upstream);
    let chunks = futures::stream::unfold(Some(upstream), move |state| {
        let host = host.clone();
        async move {
            let mut upstream = state?;
            let next = match idle {
                None => upstream.next().await,
                Some(limit) => match tokio::time::timeout(limit, upstream.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        tracing::warn!(upstream = %host, "upstream response body went idle");
                        let err = std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("upstream {host} went silent"),
                        );
                        return Some((Err(err), None));
                    }
                },
            };
            match next {
                None => None,
                Some(Ok(chunk)) => Some((Ok(chunk), Some(upstream))),
                Some(Err(err)) => {
                    tracing::warn!(upstream = %host, error = %err, "upstream response body failed");
                    Some((Err(std::io::Error::other(err)), None))
                }
            }
        }
    });
    // Fused: an unfold panics when polled after its end, and layers above
    // (response compression) may poll a finished body once more.
    Body::from_stream(chunks.fuse())
}
