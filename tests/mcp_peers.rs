//! Real MCP peers for the gateway suites, installed by `.ci/run`:
//! `@modelcontextprotocol/server-everything` from `tests/package.json` into
//! `tests/node_modules` (`MCP_TEST_SERVER_EVERYTHING` overrides its path), and
//! the official Python SDK client (`mcp>=2,<3` from PyPI) in a venv under
//! `MCP_PEERS_DIR` (default `~/.cache/mcp-platform/peers`).

use std::path::PathBuf;

/// Where `.ci/run` installs the peers.
pub fn peers_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MCP_PEERS_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/mcp-platform/peers")
}

const INSTALL: &str = "mkdir -p ~/.cache/mcp-platform/peers && cd ~/.cache/mcp-platform/peers && \
    npm install @modelcontextprotocol/server-everything && python3 -m venv venv && \
    venv/bin/pip install \"mcp>=2,<3\" (or run .ci/run; MCP_PEERS_DIR overrides the directory)";

/// `node_modules/@modelcontextprotocol/server-everything/dist/index.js`.
pub fn server_everything() -> PathBuf {
    let path =
        peers_dir().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        path.is_file(),
        "server-everything is not installed at {}; install it with: {INSTALL}",
        path.display()
    );
    path
}

/// The Python that has the `mcp` SDK.
pub fn python() -> PathBuf {
    let path = peers_dir().join("venv/bin/python");
    assert!(
        path.is_file(),
        "the Python MCP client is not installed at {}; install it with: {INSTALL}",
        path.display()
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
