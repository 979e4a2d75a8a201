//! Real MCP peers for the gateway and upstream suites:
//! `@modelcontextprotocol/server-everything` from `tests/package.json` in
//! `tests/node_modules` (`MCP_TEST_SERVER_EVERYTHING` overrides the path of
//! its `dist/index.js`), and the official Python SDK client (`mcp>=2,<3`
//! from PyPI) in a venv under `MCP_PEERS_DIR` (default
//! `~/.cache/mcp-platform/peers`).
//!
//! `.ci/run` installs both. When one is missing the first test that needs it
//! installs it from the registries (npm, PyPI), once per test binary, so
//! `cargo test --workspace` works on a fresh machine with Node.js and Python.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Where the Python client's venv lives.
pub fn peers_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MCP_PEERS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/mcp-platform/peers")
}

/// One install at a time within a test binary (its tests run in threads).
static INSTALLING: Mutex<()> = Mutex::new(());

fn install(what: &str, program: &str, args: &[&str], cwd: &Path) {
    let status = Command::new(program).args(args).current_dir(cwd).status();
    assert!(
        status.as_ref().is_ok_and(std::process::ExitStatus::success),
        "installing {what} failed ({program} {}: {status:?}); run .ci/run's install_mcp_peers step",
        args.join(" ")
    );
}

/// `dist/index.js` of server-everything, installed with
/// `npm install --prefix tests` when missing.
pub fn server_everything() -> PathBuf {
    if let Some(path) = std::env::var_os("MCP_TEST_SERVER_EVERYTHING").filter(|p| !p.is_empty()) {
        return path.into();
    }
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = tests.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let _guard = INSTALLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !path.is_file() {
        install(
            "server-everything (npm install --prefix tests)",
            "npm",
            &["install", "--no-audit", "--no-fund", "--loglevel=error"],
            tests,
        );
    }
    assert!(
        path.is_file(),
        "{} is missing after npm install",
        path.display()
    );
    path
}

/// The Python that has the `mcp` SDK, installed into a venv when missing.
pub fn python() -> PathBuf {
    let dir = peers_dir();
    let path = dir.join("venv/bin/python");
    let _guard = INSTALLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let has_sdk = |python: &Path| {
        Command::new(python)
            .args(["-c", "import mcp"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has_sdk(&path) {
        std::fs::create_dir_all(&dir).expect("peers directory");
        install("a venv", "python3", &["-m", "venv", "venv"], &dir);
        let pip = dir.join("venv/bin/pip");
        install(
            "the Python MCP client (pip install \"mcp>=2,<3\")",
            &pip.to_string_lossy(),
            &["install", "--quiet", "mcp>=2,<3"],
            &dir,
        );
    }
    assert!(
        has_sdk(&path),
        "the Python MCP client is missing in {}",
        dir.display()
    );
    path
}

/// A stdio tool config running server-everything, with `env` for the child.
pub fn everything_tool_body(slug: &str, env: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "name": format!("Everything {slug}"),
        "slug": slug,
        "description": "The MCP reference server",
        "version": "1.0.0",
        "config": {"runtime": {
            "transport": "stdio",
            "command": "node",
            "args": [server_everything().to_string_lossy(), "stdio"],
            "env": env,
        }},
    })
}

/// Runs a script of `tests/mcp_client/` with the SDK's Python; its stdout as JSON.
pub async fn run_client(script: &str, args: &[&str]) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("mcp_client")
        .join(script);
    let output = tokio::process::Command::new(python())
        .arg(&script)
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), output)
        .await
        .unwrap_or_else(|_| panic!("{} did not finish within 60 s", script.display()))
        .expect("python runs");
    assert!(
        output.status.success(),
        "{} failed: {}\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script:?} printed no JSON ({e}): {stdout}"))
}

/// Pids of live processes whose environment holds `marker` (a unique
/// `NAME=value` the test put in the tool's runtime env).
pub fn pids_with_env(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // Zombies (exited, not yet reaped) are not alive.
            let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = status
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            if state == Some('Z') {
                return false;
            }
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|v| v == marker.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}
