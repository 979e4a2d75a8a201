//! The process runner: one stdio MCP server child per deployment (per
//! replica), shared by every client of the deployment.
//!
//! - The child runs in the deployment's sandbox ([`crate::sandbox`]): its
//!   own working directory, only its config's environment plus a minimal
//!   `PATH`/`HOME`/`TMPDIR`, Landlock, rlimits, the sandbox user. It runs in
//!   its own process group, and stopping kills the whole group.
//! - Messages are newline-delimited JSON-RPC. Each client request gets a
//!   fresh numeric id on the way in and its own id back on the way out, so
//!   clients that reuse ids never see each other's answers; responses are
//!   routed by id, in whatever order they come.
//! - The child is initialized once; clients' `initialize` is answered from
//!   that cached result.
//! - Server notifications: progress goes to the request whose (rewritten)
//!   progress token it names; the rest goes to every open GET stream.
//!   Server→client requests (sampling, elicitation) go to the client with
//!   the most recent call in flight — the only one that can have caused it
//!   when calls do not overlap, a best guess when they do.
//! - A child that exits fails its in-flight calls at once with a JSON-RPC
//!   error, and is restarted with exponential backoff; after
//!   [`MAX_CRASHES`] crashes within [`CRASH_WINDOW`] it stays down (`failed`).

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, Command};
use tokio::sync::{broadcast, mpsc, watch};

use super::jsonrpc::{self, Kind, Peek};
use super::{Outgoing, RunnerState};
use crate::sandbox::SandboxPolicy;

/// Crashes within [`CRASH_WINDOW`] after which the child is not restarted.
pub const MAX_CRASHES: usize = 5;
pub const CRASH_WINDOW: Duration = Duration::from_secs(300);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const INIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of stderr kept for diagnosis, and the longest line kept.
const STDERR_LINES: usize = 50;
const STDERR_LINE_BYTES: usize = 1024;
/// The protocol version the bridge asks its child for.
pub const CHILD_PROTOCOL_VERSION: &str = "2025-11-25";

/// How to start the server: a stdio tool's runtime, as `ToolConfig::runtime`
/// reads it (the sandbox adds the deployment's env and limits).
pub use crate::domain::StdioRuntime as ProcessSpec;

/// Where a client request's answers go.
struct Pending {
    /// The client's own id (JSON text), restored on the way out.
    client_id: Bytes,
    /// The client's original progress token (JSON text), when it was rewritten.
    progress_token: Option<Value>,
    /// Who sent it (a session or caller key), for `notifications/cancelled`.
    owner: Arc<str>,
    tx: mpsc::Sender<Outgoing>,
    generation: u64,
}

struct Shared {
    pending: Mutex<HashMap<u64, Pending>>,
    /// Server→client requests in flight: our id → the child's own id (JSON text).
    server_requests: Mutex<HashMap<u64, Bytes>>,
    next_id: AtomicU64,
    /// The running child's stdin queue; `None` while it is down.
    stdin: Mutex<Option<mpsc::Sender<Bytes>>>,
    /// The child's InitializeResult (JSON text of `result`).
    init_result: Mutex<Option<Bytes>>,
    state: watch::Sender<RunnerState>,
    notifications: broadcast::Sender<Bytes>,
    stderr: Mutex<VecDeque<String>>,
    /// Each stderr line as it comes, for `logs?follow=true`; sent while
    /// `stderr` is locked, so a follower's backlog and stream neither
    /// overlap nor leave a gap.
    stderr_lines: broadcast::Sender<String>,
    /// Why the last child ended ("could not start `x`: …", its exit status).
    last_exit: Mutex<Option<String>>,
    generation: AtomicU64,
    stop: watch::Sender<bool>,
}

/// A running (or restarting) stdio MCP server.
pub struct StdioBridge {
    shared: Arc<Shared>,
}

impl StdioBridge {
    /// Starts the child in the background, sandboxed by `sandbox` (whose
    /// working directory goes when the bridge stops); watch [`Self::state`].
    pub fn start(spec: ProcessSpec, sandbox: SandboxPolicy) -> Arc<Self> {
        let (state, _) = watch::channel(RunnerState::Starting);
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            server_requests: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            stdin: Mutex::new(None),
            init_result: Mutex::new(None),
            state,
            notifications: broadcast::channel(256).0,
            stderr: Mutex::new(VecDeque::new()),
            stderr_lines: broadcast::channel(STDERR_LINES).0,
            last_exit: Mutex::new(None),
            generation: AtomicU64::new(0),
            stop,
        });
        tokio::spawn(supervise(spec, sandbox, shared.clone()));
        Arc::new(Self { shared })
    }

    pub fn state(&self) -> watch::Receiver<RunnerState> {
        self.shared.state.subscribe()
    }

    /// The child's InitializeResult (JSON text), once it has answered.
    pub fn init_result(&self) -> Option<Bytes> {
        self.shared.init_result.lock().clone()
    }

    /// The last lines the child wrote to stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.shared.stderr.lock().iter().cloned().collect()
    }

    /// The stderr lines kept so far and every later one as it comes.
    pub fn follow_stderr(&self) -> (Vec<String>, broadcast::Receiver<String>) {
        let tail = self.shared.stderr.lock();
        let rx = self.shared.stderr_lines.subscribe();
        (tail.iter().cloned().collect(), rx)
    }

    /// Why the last child ended, if one has.
    pub fn last_exit(&self) -> Option<String> {
        self.shared.last_exit.lock().clone()
    }

    /// Client calls waiting for the child's answer.
    pub fn in_flight(&self) -> usize {
        self.shared.pending.lock().len()
    }

    /// Server notifications that belong to no request (for GET streams).
    pub fn subscribe(&self) -> broadcast::Receiver<Bytes> {
        self.shared.notifications.subscribe()
    }

    /// Kills the child's process group and stops restarting it.
    pub fn stop(&self) {
        self.shared.stop.send_replace(true);
    }

    /// Waits until the child is up (or failed/stopped), at most `wait`.
    async fn stdin_when_ready(&self, wait: Duration) -> Option<mpsc::Sender<Bytes>> {
        let mut state = self.state();
        let ready = tokio::time::timeout(wait, async {
            loop {
                let now = *state.borrow_and_update();
                match now {
                    RunnerState::Running => return true,
                    RunnerState::Failed | RunnerState::Stopped => return false,
                    RunnerState::Starting => {}
                }
                if state.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await
        .unwrap_or(false);
        if ready {
            self.shared.stdin.lock().clone()
        } else {
            None
        }
    }

    /// Sends a client request; its answers (interim messages, then the
    /// response) arrive on the returned channel. An error is the JSON-RPC
    /// error response to give the client instead.
    pub async fn request(
        &self,
        message: &[u8],
        peek: &Peek,
        owner: Arc<str>,
    ) -> Result<mpsc::Receiver<Outgoing>, Bytes> {
        let client_id = peek
            .id_text(message)
            .map(Bytes::copy_from_slice)
            .unwrap_or_else(|| Bytes::from_static(b"null"));
        let Some(stdin) = self.stdin_when_ready(Duration::from_secs(10)).await else {
            return Err(jsonrpc::error(
                Some(&client_id),
                jsonrpc::SERVER_UNAVAILABLE,
                "the MCP server is not running",
            ));
        };
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let id_text = id.to_string();
        let Some(range) = peek.id.clone() else {
            return Err(jsonrpc::error(None, jsonrpc::INVALID_REQUEST, "no id"));
        };
        let mut out = jsonrpc::replace_id(message, range, id_text.as_bytes());
        // Progress tokens are client-chosen too: rewrite them so two clients
        // using the same token get their own progress.
        let mut progress_token = None;
        if memchr(message, b"progressToken") {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&out) {
                if let Some(token) = v
                    .pointer_mut("/params/_meta/progressToken")
                    .map(|t| std::mem::replace(t, Value::String(format!("gw-{id}"))))
                {
                    progress_token = Some(token);
                    if let Ok(bytes) = serde_json::to_vec(&v) {
                        out = Bytes::from(bytes);
                    }
                }
            }
        }
        let (tx, rx) = mpsc::channel(16);
        self.shared.pending.lock().insert(
            id,
            Pending {
                client_id,
                progress_token,
                owner,
                tx,
                generation: self.shared.generation.load(Ordering::Acquire),
            },
        );
        if stdin.send(out).await.is_err() {
            if let Some(p) = self.shared.pending.lock().remove(&id) {
                return Err(exited_error(&p.client_id));
            }
        }
        Ok(rx)
    }

    /// Forgets requests whose clients went away or timed out (their
    /// receivers dropped): a late answer then has nowhere to go anyway.
    pub fn forget_abandoned(&self) {
        self.shared.pending.lock().retain(|_, p| !p.tx.is_closed());
    }

    /// Relays a client notification. `initialized` was already sent by the
    /// bridge; `cancelled` names the client's request id, which is mapped.
    pub async fn notify(&self, message: &[u8], peek: &Peek, owner: &str) {
        let Some(method) = peek.method.as_deref() else {
            return;
        };
        let out = match method {
            "notifications/initialized" => return,
            "notifications/cancelled" => {
                let Ok(mut v) = serde_json::from_slice::<Value>(message) else {
                    return;
                };
                let Some(request_id) = v.pointer("/params/requestId").map(Value::to_string) else {
                    return;
                };
                let ours = self
                    .shared
                    .pending
                    .lock()
                    .iter()
                    .find(|(_, p)| &*p.owner == owner && p.client_id == request_id.as_bytes())
                    .map(|(id, _)| *id);
                let Some(ours) = ours else { return };
                v["params"]["requestId"] = Value::from(ours);
                match serde_json::to_vec(&v) {
                    Ok(b) => Bytes::from(b),
                    Err(_) => return,
                }
            }
            _ => Bytes::copy_from_slice(message),
        };
        let stdin = self.shared.stdin.lock().clone();
        if let Some(stdin) = stdin {
            let _ = stdin.send(out).await;
        }
    }

    /// Relays a client's answer to a server→client request.
    pub async fn respond(&self, message: &[u8], peek: &Peek) {
        let Some(range) = peek.id.clone() else { return };
        let ours = std::str::from_utf8(&message[range.clone()])
            .ok()
            .and_then(|s| s.trim_matches('"').strip_prefix("gw-s"))
            .and_then(|s| s.parse::<u64>().ok());
        let Some(child_id) = ours.and_then(|id| self.shared.server_requests.lock().remove(&id))
        else {
            return;
        };
        let out = jsonrpc::replace_id(message, range, &child_id);
        let stdin = self.shared.stdin.lock().clone();
        if let Some(stdin) = stdin {
            let _ = stdin.send(out).await;
        }
    }

    /// An MCP `ping` to the child; its round trip.
    pub async fn ping(&self, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        let message = br#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#;
        let peek = jsonrpc::peek(message).ok_or("ping message")?;
        let mut rx = self
            .request(message, &peek, Arc::from("health"))
            .await
            .map_err(|e| String::from_utf8_lossy(&e).into_owned())?;
        let answer = tokio::time::timeout(timeout, async {
            while let Some(out) = rx.recv().await {
                if let Outgoing::Final(bytes) = out {
                    return Some(bytes);
                }
            }
            None
        })
        .await;
        match answer {
            Ok(Some(bytes)) if !jsonrpc::is_error_response(&bytes) => Ok(started.elapsed()),
            Ok(Some(bytes)) => Err(String::from_utf8_lossy(&bytes).into_owned()),
            Ok(None) => Err("no answer".into()),
            Err(_) => {
                drop(rx);
                self.forget_abandoned();
                Err(format!("no answer within {timeout:?}"))
            }
        }
    }
}

impl Drop for StdioBridge {
    fn drop(&mut self) {
        self.stop();
    }
}

fn memchr(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn exited_error(client_id: &[u8]) -> Bytes {
    jsonrpc::error(
        Some(client_id),
        jsonrpc::SERVER_UNAVAILABLE,
        "the MCP server process exited during the call; it is being restarted",
    )
}

/// Runs, watches and restarts the child until stopped or failed; the
/// sandbox (and its working directory) is dropped after the last child.
async fn supervise(spec: ProcessSpec, sandbox: SandboxPolicy, shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    let mut crashes: VecDeque<Instant> = VecDeque::new();
    let mut backoff = FIRST_BACKOFF;
    loop {
        if *stop.borrow() {
            break;
        }
        shared.state.send_replace(RunnerState::Starting);
        let started = Instant::now();
        let generation = shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
        match run_child(&spec, &sandbox, &shared, generation, &mut stop).await {
            ChildEnd::Stopped => break,
            ChildEnd::Exited(why) => {
                tracing::warn!(command = %spec.command, reason = %why, "MCP server process exited");
                *shared.last_exit.lock() = Some(why);
            }
        }
        *shared.stdin.lock() = None;
        fail_pending(&shared, generation);
        if *stop.borrow() {
            break;
        }
        let now = Instant::now();
        // A child that ran a while was healthy: start the backoff over.
        if now.duration_since(started) > Duration::from_secs(60) {
            backoff = FIRST_BACKOFF;
        }
        crashes.push_back(now);
        while crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW)
        {
            crashes.pop_front();
        }
        if crashes.len() >= MAX_CRASHES {
            shared.state.send_replace(RunnerState::Failed);
            return;
        }
        shared.state.send_replace(RunnerState::Starting);
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    *shared.stdin.lock() = None;
    fail_pending(&shared, u64::MAX);
    shared.state.send_replace(RunnerState::Stopped);
}

fn fail_pending(shared: &Shared, up_to_generation: u64) {
    let failed: Vec<Pending> = {
        let mut pending = shared.pending.lock();
        let ids: Vec<u64> = pending
            .iter()
            .filter(|(_, p)| p.generation <= up_to_generation)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| pending.remove(&id))
            .collect()
    };
    for p in failed {
        let _ = p.tx.try_send(Outgoing::Final(exited_error(&p.client_id)));
    }
    shared.server_requests.lock().clear();
}

enum ChildEnd {
    Stopped,
    Exited(String),
}

fn spawn(spec: &ProcessSpec, sandbox: &SandboxPolicy) -> std::io::Result<Child> {
    let mut command: Command = sandbox.command(spec)?;
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command.spawn()
}

#[cfg(unix)]
fn kill_group(child: &Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_child: &Child) {}

async fn run_child(
    spec: &ProcessSpec,
    sandbox: &SandboxPolicy,
    shared: &Arc<Shared>,
    generation: u64,
    stop: &mut watch::Receiver<bool>,
) -> ChildEnd {
    let mut child = match spawn(spec, sandbox) {
        Ok(c) => c,
        Err(e) => return ChildEnd::Exited(format!("could not start `{}`: {e}", spec.command)),
    };
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        kill_group(&child);
        return ChildEnd::Exited("no stdio pipes".into());
    };
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    tokio::spawn(write_stdin(stdin, rx));
    tokio::spawn(read_stderr(stderr, shared.clone()));
    let reader = tokio::spawn(read_stdout(stdout, shared.clone(), tx.clone()));

    let ended = tokio::select! {
        end = initialize_then_wait(shared, generation, tx, &mut child) => end,
        _ = stop.wait_for(|s| *s) => ChildEnd::Stopped,
    };
    kill_group(&child);
    let _ = child.kill().await;
    reader.abort();
    ended
}

async fn initialize_then_wait(
    shared: &Arc<Shared>,
    generation: u64,
    stdin: mpsc::Sender<Bytes>,
    child: &mut Child,
) -> ChildEnd {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel(4);
    shared.pending.lock().insert(
        id,
        Pending {
            client_id: Bytes::from_static(b"0"),
            progress_token: None,
            owner: Arc::from("gateway"),
            tx,
            generation,
        },
    );
    let init = serde_json::json!({
        "jsonrpc": "2.0", "id": id, "method": "initialize",
        "params": {
            "protocolVersion": CHILD_PROTOCOL_VERSION,
            // Sampling and elicitation are relayed to the calling client.
            "capabilities": {"sampling": {}, "elicitation": {}},
            "clientInfo": {"name": "mcp-platform-gateway", "version": env!("CARGO_PKG_VERSION")}
        }
    });
    if stdin.send(Bytes::from(init.to_string())).await.is_err() {
        return ChildEnd::Exited("stdin closed before initialize".into());
    }
    let answer = tokio::select! {
        a = tokio::time::timeout(INIT_TIMEOUT, rx.recv()) => a,
        status = child.wait() => return ChildEnd::Exited(format!("exited during initialize ({})", exit_text(status))),
    };
    let answer = match answer {
        Ok(Some(Outgoing::Final(answer))) => answer,
        Err(_) => {
            return ChildEnd::Exited(format!(
                "no answer to initialize within {} s",
                INIT_TIMEOUT.as_secs()
            ))
        }
        Ok(_) => return ChildEnd::Exited("no answer to initialize".into()),
    };
    let result = serde_json::from_slice::<Value>(&answer)
        .ok()
        .and_then(|v| v.get("result").map(Value::to_string));
    let Some(result) = result else {
        return ChildEnd::Exited(format!(
            "initialize refused: {}",
            String::from_utf8_lossy(&answer)
        ));
    };
    *shared.init_result.lock() = Some(Bytes::from(result));
    let initialized =
        Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    if stdin.send(initialized).await.is_err() {
        return ChildEnd::Exited("stdin closed after initialize".into());
    }
    *shared.stdin.lock() = Some(stdin);
    shared.state.send_replace(RunnerState::Running);
    let status = child.wait().await;
    ChildEnd::Exited(format!("exited ({})", exit_text(status)))
}

/// "exit status: 3", "signal: 9 (SIGKILL)" (the platform's own words for a
/// child that could not be waited for).
fn exit_text(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("its status is unknown: {e}"),
    }
}

async fn write_stdin(stdin: tokio::process::ChildStdin, mut rx: mpsc::Receiver<Bytes>) {
    let mut writer = BufWriter::new(stdin);
    while let Some(msg) = rx.recv().await {
        if writer.write_all(&msg).await.is_err() || writer.write_all(b"\n").await.is_err() {
            return;
        }
        // Write everything already queued before one flush.
        while let Ok(more) = rx.try_recv() {
            if writer.write_all(&more).await.is_err() || writer.write_all(b"\n").await.is_err() {
                return;
            }
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
}

async fn read_stderr(stderr: tokio::process::ChildStderr, shared: Arc<Shared>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(mut line)) = lines.next_line().await {
        if line.len() > STDERR_LINE_BYTES {
            let mut cut = STDERR_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        let mut tail = shared.stderr.lock();
        if tail.len() == STDERR_LINES {
            tail.pop_front();
        }
        // No follower is not an error.
        let _ = shared.stderr_lines.send(line.clone());
        tail.push_back(line);
    }
}

async fn read_stdout(
    stdout: tokio::process::ChildStdout,
    shared: Arc<Shared>,
    stdin: mpsc::Sender<Bytes>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let message = line.trim_ascii();
        if message.is_empty() {
            continue;
        }
        let Some(peek) = jsonrpc::peek(message) else {
            tracing::debug!("MCP server wrote a line that is not JSON-RPC; ignored");
            continue;
        };
        match peek.kind {
            Kind::Response => route_response(&shared, message, &peek),
            Kind::Notification => route_notification(&shared, message, &peek).await,
            Kind::Request => route_server_request(&shared, message, &peek, &stdin).await,
        }
    }
}

fn route_response(shared: &Shared, message: &[u8], peek: &Peek) {
    let ours = peek
        .id_text(message)
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| t.parse::<u64>().ok());
    let Some(pending) = ours.and_then(|id| shared.pending.lock().remove(&id)) else {
        return;
    };
    let Some(range) = peek.id.clone() else { return };
    let out = jsonrpc::replace_id(message, range, &pending.client_id);
    let _ = pending.tx.try_send(Outgoing::Final(out));
}

async fn route_notification(shared: &Shared, message: &[u8], peek: &Peek) {
    if peek.method.as_deref() == Some("notifications/progress") {
        if let Ok(mut v) = serde_json::from_slice::<Value>(message) {
            let ours = v
                .pointer("/params/progressToken")
                .and_then(Value::as_str)
                .and_then(|t| t.strip_prefix("gw-"))
                .and_then(|t| t.parse::<u64>().ok());
            if let Some(id) = ours {
                let route = shared
                    .pending
                    .lock()
                    .get(&id)
                    .map(|p| (p.tx.clone(), p.progress_token.clone()));
                if let Some((tx, Some(token))) = route {
                    v["params"]["progressToken"] = token;
                    if let Ok(bytes) = serde_json::to_vec(&v) {
                        let _ = tx.send(Outgoing::Interim(Bytes::from(bytes))).await;
                    }
                    return;
                }
            }
        }
    }
    let _ = shared.notifications.send(Bytes::copy_from_slice(message));
}

async fn route_server_request(
    shared: &Shared,
    message: &[u8],
    peek: &Peek,
    stdin: &mpsc::Sender<Bytes>,
) {
    let Some(range) = peek.id.clone() else { return };
    let child_id = Bytes::copy_from_slice(&message[range.clone()]);
    // The client with the most recent call in flight (highest id) caused it.
    let target = shared
        .pending
        .lock()
        .iter()
        .filter(|(_, p)| !p.tx.is_closed() && &*p.owner != "health" && &*p.owner != "gateway")
        .max_by_key(|(id, _)| **id)
        .map(|(_, p)| p.tx.clone());
    let Some(tx) = target else {
        let _ = stdin
            .send(jsonrpc::error(
                Some(&child_id),
                jsonrpc::METHOD_NOT_FOUND,
                "no client is connected to answer this request",
            ))
            .await;
        return;
    };
    let ours = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.server_requests.lock().insert(ours, child_id);
    let out = jsonrpc::replace_id(message, range, format!("\"gw-s{ours}\"").as_bytes());
    let _ = tx.send(Outgoing::Interim(out)).await;
}
