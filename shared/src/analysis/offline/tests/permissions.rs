//! Broad permissions in the runtime and under scope-like keys.

use super::*;

#[test]
fn overly_broad_permissions_are_reported() {
    let cases: Vec<(Value, &str, Severity)> = vec![
        (
            stdio(
                "npx",
                &[
                    "-y",
                    "@modelcontextprotocol/server-filesystem@2025.1.14",
                    "/",
                ],
                json!({}),
            ),
            "/runtime/args/2",
            S::High,
        ),
        (
            stdio(
                "npx",
                &[
                    "-y",
                    "@modelcontextprotocol/server-filesystem@2025.1.14",
                    "~",
                ],
                json!({}),
            ),
            "/runtime/args/2",
            S::High,
        ),
        (
            stdio("deno", &["run", "-A", "jsr:@acme/mcp@1.0.0"], json!({})),
            "/runtime/args/1",
            S::High,
        ),
        (
            stdio(
                "deno",
                &["run", "--allow-all", "jsr:@acme/mcp@1.0.0"],
                json!({}),
            ),
            "/runtime/args/1",
            S::High,
        ),
        (
            stdio(
                "docker",
                &["run", "-i", "--rm", "--privileged", "acme/mcp:1.0"],
                json!({}),
            ),
            "/runtime/args/3",
            S::High,
        ),
        (
            stdio(
                "docker",
                &["run", "-i", "-v", "/:/host", "acme/mcp:1.0"],
                json!({}),
            ),
            "/runtime/args/2",
            S::High,
        ),
        (
            stdio(
                "docker",
                &["run", "-i", "--network=host", "acme/mcp:1.0"],
                json!({}),
            ),
            "/runtime/args/2",
            S::High,
        ),
        (
            stdio("node", &["srv.js"], json!({"OAUTH_SCOPES": "*"})),
            "/runtime/env/OAUTH_SCOPES",
            S::High,
        ),
        (
            stdio("sudo", &["node", "srv.js"], json!({})),
            "/runtime/command",
            S::Critical,
        ),
    ];
    for (runtime, loc, severity) in cases {
        assert_finding(&with_runtime(runtime), C::BroadPermission, loc, severity);
    }
    let mut cfg = clean_config();
    cfg["scopes"] = json!(["repo:read", "admin:*"]);
    cfg["permissions"] = json!({"filesystem": "all", "network": ["api.github.com"]});
    assert_finding(&cfg, C::BroadPermission, "/scopes/1", S::High);
    assert_finding(&cfg, C::BroadPermission, "/permissions/filesystem", S::High);
    assert_eq!(found(&cfg, C::BroadPermission).len(), 2);
    let mut cfg = clean_config();
    cfg["allowed_directories"] = json!(["/srv/data", "/"]);
    assert_finding(&cfg, C::BroadPermission, "/allowed_directories/1", S::High);
    assert_eq!(found(&cfg, C::BroadPermission).len(), 1);
}

#[test]
fn narrow_permissions_are_not_reported() {
    for runtime in [
        stdio(
            "npx",
            &[
                "-y",
                "@modelcontextprotocol/server-filesystem@2025.1.14",
                "/home/ada/projects/site",
            ],
            json!({}),
        ),
        stdio(
            "deno",
            &[
                "run",
                "--allow-net=api.github.com",
                "--allow-read=./data",
                "jsr:@acme/mcp@1.0.0",
            ],
            json!({}),
        ),
        stdio(
            "docker",
            &[
                "run",
                "-i",
                "--rm",
                "-v",
                "/srv/data:/data:ro",
                "acme/mcp:1.0",
            ],
            json!({}),
        ),
    ] {
        assert_none(&with_runtime(runtime), C::BroadPermission);
    }
    let mut cfg = clean_config();
    cfg["scopes"] = json!(["repo:read", "issues:write"]);
    assert_none(&cfg, C::BroadPermission);
}
