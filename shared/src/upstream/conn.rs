//! HTTP/1.1 connections to upstream servers, each driven by the task that
//! uses it.
//!
//! A general-purpose client (reqwest, hyper-util's pool) runs every connection
//! in a task of its own. The request, the response head and every body chunk
//! then cross between the caller's task and the connection's task, and each
//! crossing is a wake-up that often lands on the other worker thread. On a
//! proxied MCP call (one small request, an answer of one or two chunks) those
//! handoffs cost more than the gateway's own work (bench/GATEWAY.md). Here the
//! connection's I/O is polled by whoever holds it: the request future while it
//! waits for the head, then the response body while the platform's server
//! relays it. A whole exchange runs in the caller's task, and whatever part of
//! the answer is already in the socket buffer is there in the same poll.
//!
//! Idle connections wait in a pool per origin. Nothing polls them while they
//! wait, so at checkout the socket itself is asked (a non-blocking peek)
//! whether the server has closed it; a closed one is dropped.

use std::collections::HashMap;
use std::future::Future;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::ssrf::{self, Refused, SsrfPolicy};
use super::UpstreamError;

/// Idle connections kept per origin; more are closed when they come back.
const MAX_IDLE_PER_ORIGIN: usize = 64;
/// An idle connection older than this is closed rather than reused: servers
/// close idle keep-alive connections after a while (Node.js after 5 s by
/// default), and a request sent on one that is closing is lost.
const IDLE_TIMEOUT: Duration = Duration::from_secs(4);

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

type Driver = http1::Connection<TokioIo<Box<dyn Stream>>, Full<Bytes>>;

/// Where a connection goes, and the pool's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Origin {
    pub tls: bool,
    /// As in the URL: a name, an IPv4 literal or a bracketed IPv6 literal.
    pub host: String,
    pub port: u16,
}

/// One HTTP/1.1 connection: the handle that sends requests, and the state
/// machine that does the I/O, which runs only while someone polls it.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: Driver,
    /// The TCP socket (a duplicate descriptor), to peek at while idle.
    socket: OwnedFd,
    /// Taken from the pool (it has served a request before).
    reused: bool,
}

impl Conn {
    /// Runs the connection's I/O as far as it can go now. False once the
    /// connection has closed or failed: it must not be polled again.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        Pin::new(&mut self.driver).poll(cx).is_pending()
    }

    /// Whether the server has closed (or reset) the idle connection. The
    /// runtime's cached readiness cannot tell: it is only as fresh as the last
    /// turn of the event loop, and a request written to a connection the
    /// server has just closed is lost.
    fn closed_by_peer(&self) -> bool {
        use rustix::net::{recv, RecvFlags};
        let mut byte = [0u8; 1];
        match recv(
            &self.socket,
            &mut byte,
            RecvFlags::PEEK | RecvFlags::DONTWAIT,
        ) {
            Ok((0, _)) => true,
            Ok(_) => false,
            Err(err) => err != rustix::io::Errno::WOULDBLOCK && err != rustix::io::Errno::INTR,
        }
    }
}

/// Connections of one [`SsrfPolicy`] and connect timeout.
pub(super) struct Pool {
    policy: SsrfPolicy,
    connect_timeout: Duration,
    idle: parking_lot::Mutex<Idle>,
}

/// The idle connections of a pool, each with the time it came back.
struct Idle {
    by_origin: HashMap<Origin, Vec<(Conn, Instant)>>,
    /// When expired connections of every origin were last closed.
    swept: Instant,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("policy", &self.policy)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// Why an exchange failed before a response head arrived.
struct ExchangeError {
    /// The request, when it was never written (the connection was already
    /// closed), so it can be sent on another one.
    unsent: Option<Request<Full<Bytes>>>,
    cause: String,
}

impl Pool {
    /// The pool of a policy and connect timeout. There are four policies and
    /// in practice one timeout, so a handful of pools at most, each made on
    /// first use and shared by every upstream under it.
    pub fn shared(policy: SsrfPolicy, connect_timeout: Duration) -> Arc<Pool> {
        type Pools = parking_lot::Mutex<Vec<Arc<Pool>>>;
        static POOLS: OnceLock<Pools> = OnceLock::new();
        let mut pools = POOLS.get_or_init(Default::default).lock();
        if let Some(pool) = pools
            .iter()
            .find(|p| p.policy == policy && p.connect_timeout == connect_timeout)
        {
            return pool.clone();
        }
        let pool = Arc::new(Pool {
            policy,
            connect_timeout,
            idle: parking_lot::Mutex::new(Idle {
                by_origin: HashMap::new(),
                swept: Instant::now(),
            }),
        });
        pools.push(pool.clone());
        pool
    }

    /// Sends `request` (its URI in origin form, its `Host` header set) to
    /// `origin`, on an idle connection when there is one, and returns the
    /// response head. The body still streams; reading it drives the connection,
    /// which goes back to the pool when the body has been read to its end.
    pub async fn send(
        self: &Arc<Self>,
        origin: &Origin,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        loop {
            let mut conn = match self.checkout(origin) {
                Some(conn) => conn,
                None => self.connect(origin).await?,
            };
            match exchange(&mut conn, request).await {
                Ok(response) => {
                    return Ok(response.map(|body| PooledBody {
                        body,
                        conn: Some(conn),
                        pool: self.clone(),
                        origin: origin.clone(),
                    }))
                }
                // The server closed an idle connection as the request went
                // out: the request was not written, so another connection
                // may carry it. Each retry uses up one idle connection, and a
                // new connection is never retried.
                Err(ExchangeError {
                    unsent: Some(unsent),
                    ..
                }) if conn.reused => request = unsent,
                Err(err) => {
                    return Err(UpstreamError::Unreachable {
                        host: origin.host.clone(),
                        cause: err.cause,
                    })
                }
            }
        }
    }

    /// The most recently used idle connection to `origin` that is still open.
    fn checkout(&self, origin: &Origin) -> Option<Conn> {
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            let (mut conn, since) = self.idle.lock().by_origin.get_mut(origin)?.pop()?;
            // The peek sees a close the server sent while the connection was
            // idle; the poll takes in anything else it sent.
            if since.elapsed() < IDLE_TIMEOUT
                && !conn.closed_by_peer()
                && conn.drive(&mut cx)
                && matches!(conn.sender.poll_ready(&mut cx), Poll::Ready(Ok(())))
            {
                conn.reused = true;
                return Some(conn);
            }
        }
    }

    fn checkin(&self, origin: &Origin, conn: Conn) {
        if !conn.sender.is_ready() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle.lock();
        // Once per idle period, expired connections of every origin are
        // closed, so that one no longer called (a stopped deployment) does
        // not hold its sockets.
        if now.duration_since(idle.swept) >= IDLE_TIMEOUT {
            idle.swept = now;
            idle.by_origin.retain(|_, conns| {
                conns.retain(|(_, since)| now.duration_since(*since) < IDLE_TIMEOUT);
                !conns.is_empty()
            });
        }
        let conns = idle.by_origin.entry(origin.clone()).or_default();
        if conns.len() < MAX_IDLE_PER_ORIGIN {
            conns.push((conn, now));
        }
    }

    /// A new connection: the policy's addresses of the host, TCP (no Nagle:
    /// a request is one small write), TLS for https, within the connect
    /// timeout.
    async fn connect(&self, origin: &Origin) -> Result<Conn, UpstreamError> {
        let unreachable = |cause: String| UpstreamError::Unreachable {
            host: origin.host.clone(),
            cause,
        };
        let connecting = async {
            let addrs = ssrf::resolve(self.policy, &origin.host, origin.port)
                .await
                .map_err(|err| match err.downcast::<Refused>() {
                    Ok(refused) => UpstreamError::Refused(*refused),
                    Err(other) => unreachable(format!("resolving the host failed: {other}")),
                })?;
            let mut last_error = None;
            let mut tcp = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        tcp = Some(stream);
                        break;
                    }
                    Err(err) => last_error = Some(format!("connecting to {addr} failed: {err}")),
                }
            }
            let tcp = tcp.ok_or_else(|| unreachable(last_error.unwrap_or_default()))?;
            tcp.set_nodelay(true)
                .map_err(|e| unreachable(format!("setting TCP_NODELAY failed: {e}")))?;
            let socket = tcp
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| unreachable(format!("duplicating the socket failed: {e}")))?;
            let io: Box<dyn Stream> = if origin.tls {
                let name = server_name(&origin.host).map_err(unreachable)?;
                let tls = tokio_rustls::TlsConnector::from(tls_config())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| unreachable(format!("TLS handshake failed: {e}")))?;
                Box::new(tls)
            } else {
                Box::new(tcp)
            };
            let (sender, driver) = http1::handshake(TokioIo::new(io))
                .await
                .map_err(|e| unreachable(format!("HTTP handshake failed: {e}")))?;
            Ok(Conn {
                sender,
                driver,
                socket,
                reused: false,
            })
        };
        tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| UpstreamError::Timeout {
                host: origin.host.clone(),
            })?
    }
}

/// Sends `request` on `conn` and drives the connection until the response
/// head is in.
async fn exchange(
    conn: &mut Conn,
    request: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, ExchangeError> {
    let mut response = std::pin::pin!(conn.sender.try_send_request(request));
    let mut open = true;
    std::future::poll_fn(|cx| {
        open = open && conn.drive(cx);
        match response.as_mut().poll(cx) {
            Poll::Ready(Ok(response)) => Poll::Ready(Ok(response)),
            Poll::Ready(Err(mut err)) => Poll::Ready(Err(ExchangeError {
                unsent: err.take_message(),
                cause: format!("{:#}", anyhow::Error::new(err.into_error())),
            })),
            // A closed connection has already failed the request it could
            // not answer; this is only a guard against waiting forever.
            Poll::Pending if !open => Poll::Ready(Err(ExchangeError {
                unsent: None,
                cause: "the connection closed before the response".into(),
            })),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// A response body whose polling drives its connection. Read to its end, it
/// returns the connection to the pool; dropped before that, it closes it.
pub(super) struct PooledBody {
    body: Incoming,
    /// `None` once the connection has closed or gone back to the pool.
    conn: Option<Conn>,
    pool: Arc<Pool>,
    origin: Origin,
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        // The connection first: it moves what the socket holds into the body.
        if let Some(conn) = &mut this.conn {
            if !conn.drive(cx) {
                this.conn = None;
            }
        }
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(None) = frame {
            if let Some(conn) = this.conn.take() {
                this.pool.checkin(&this.origin, conn);
            }
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The TLS name to verify: the host, or the address of an IP literal.
fn server_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, String> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    rustls::pki_types::ServerName::try_from(bare.to_owned())
        .map_err(|_| format!("{host:?} is not a valid TLS server name"))
}

/// TLS with the Mozilla root store (webpki-roots, so no system certificates
/// are needed in a Lambda or a scratch image), HTTP/1.1 by ALPN.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            // The provider is named: two are compiled in (other crates bring
            // aws-lc-rs), so rustls cannot pick a process default by itself.
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports TLS 1.2 and 1.3")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .clone()
}
