//! `bench/sandbox.sh`, second part: what the process sandbox itself costs a
//! start, without an interpreter's start-up noise. For each mode it builds
//! the deployment's `SandboxPolicy` (runtime checks, path resolution,
//! working directory) and spawns `/bin/true` through `SandboxPolicy::command`
//! (Landlock ruleset, child steps, exec), then waits for its exit; `raw` is
//! a bare `tokio::process::Command` for the same program. Prints JSON with
//! per-start times in ms.
//!
//! Knobs: BENCH_RUNS (200).

use std::time::Instant;

use mcp_platform::config::{Overrides, Settings, Source};
use mcp_platform::domain::ToolConfig;
use mcp_platform::gateway::ProcessSpec;
use mcp_platform::sandbox::SandboxPolicy;
use serde_json::{json, Value};

fn settings(mode: &str, data_dir: &std::path::Path) -> Settings {
    let source = Source::from_map([("PROCESS_SANDBOX", mode)]);
    let overrides = Overrides {
        bind: None,
        data_dir: Some(data_dir.to_path_buf()),
    };
    match Settings::load(&source, &overrides) {
        Ok(settings) => settings,
        Err(e) => panic!("settings: {e}"),
    }
}

async fn start(settings: &Settings, tool: &ToolConfig, spec: &ProcessSpec) -> f64 {
    let started = Instant::now();
    let policy = SandboxPolicy::for_deployment(settings, uuid::Uuid::new_v4(), &json!({}), tool)
        .unwrap_or_else(|e| panic!("policy: {e}"));
    let mut command = policy
        .command(spec)
        .unwrap_or_else(|e| panic!("command: {e}"));
    let status = command
        .status()
        .await
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    assert!(
        status.success(),
        "/bin/true failed in the sandbox: {status}"
    );
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    drop(policy);
    elapsed
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let data_dir = std::env::temp_dir().join(format!("sandbox-bench-{}", uuid::Uuid::new_v4()));
    let runtime = json!({"runtime": {"transport": "stdio", "command": "/bin/true", "args": []}});
    let tool = ToolConfig::parse(&runtime, &["config"]).unwrap_or_else(|e| panic!("{e:?}"));
    let spec = ProcessSpec {
        command: "/bin/true".into(),
        args: Vec::new(),
        env: Vec::new(),
    };
    let on = settings("on", &data_dir);
    let off = settings("off", &data_dir);
    let mut samples: Vec<(&str, Vec<f64>)> = vec![("raw", vec![]), ("off", vec![]), ("on", vec![])];
    for i in 0..=runs {
        for (mode, times) in &mut samples {
            let t = match *mode {
                "raw" => {
                    let started = Instant::now();
                    let status = tokio::process::Command::new("/bin/true")
                        .status()
                        .await
                        .unwrap_or_else(|e| panic!("spawn: {e}"));
                    assert!(status.success());
                    started.elapsed().as_secs_f64() * 1000.0
                }
                "off" => start(&off, &tool, &spec).await,
                _ => start(&on, &tool, &spec).await,
            };
            // The first round warms caches and is not counted.
            if i > 0 {
                times.push(t);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    let out: serde_json::Map<String, Value> = samples
        .into_iter()
        .map(|(mode, times)| (mode.to_owned(), json!(times)))
        .collect();
    println!("{}", Value::Object(out));
}
