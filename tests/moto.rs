//! A moto server (`pip install "moto[server]"`): SQS and Secrets Manager on
//! a free loopback port, started once per test binary and shared by its
//! tests (each test uses its own queue and secret names).
//!
//! `MCP_TEST_MOTO_URL` points the suites at a moto that is already running
//! instead. Otherwise `moto_server` must be on PATH (it is pip-installed
//! when missing); it is started under a
//! small Python watchdog that kills it when this test process exits (the
//! watchdog's stdin closes), so no server outlives the run.

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

/// Region and dummy credentials moto accepts.
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "test";
pub const SECRET_KEY: &str = "test";

/// The endpoint URL of the shared moto server, started on first use.
/// Panics with the install command when moto is missing or does not start.
pub async fn endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    if let Some(url) = ENDPOINT.get() {
        return url.clone();
    }
    let url = match std::env::var("MCP_TEST_MOTO_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(url) => url,
        None => start().await,
    };
    wait_ready(&url).await;
    ENDPOINT.get_or_init(|| url).clone()
}

/// Installs moto from PyPI when `moto_server` is not on PATH (a fresh
/// machine; `.ci/run` installs it beforehand).
fn ensure_installed() {
    let on_path = |cmd: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {cmd} >/dev/null")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !on_path("moto_server") {
        let _ = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "moto[server]"])
            .status();
    }
}

async fn start() -> String {
    ensure_installed();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port");
    let watchdog = "import subprocess, sys\n\
        p = subprocess.Popen(['moto_server', '-H', '127.0.0.1', '-p', sys.argv[1]],\n\
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n\
        sys.stdin.read()\n\
        p.kill()\n";
    let child = std::process::Command::new("python3")
        .args(["-c", watchdog, &port.to_string()])
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3 to start moto_server (pip install \"moto[server]\")");
    // The watchdog's stdin must stay open for the life of the test process:
    // leak the child so its pipe is closed only when the process exits.
    std::mem::forget(child);
    format!("http://127.0.0.1:{port}")
}

async fn wait_ready(url: &str) {
    let probe = format!("{url}/moto-api/");
    let client = reqwest::Client::new();
    let what = format!(
        "a moto server answers at {url} (install it with `pip install \"moto[server]\"` \
         so moto_server is on PATH, or set MCP_TEST_MOTO_URL)"
    );
    crate::poll_until(&what, Duration::from_secs(30), async || {
        client
            .get(&probe)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
}
