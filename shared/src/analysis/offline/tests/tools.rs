//! Tool names, descriptions, input schemas and capabilities.

use super::*;

// ---------------------------------------------------------------------------
// Structure and schemas
// ---------------------------------------------------------------------------

#[test]
fn an_input_schema_that_is_not_valid_json_schema_is_reported_where_it_breaks() {
    let cfg = with_tool(json!({
        "name": "t", "description": "Looks things up by key in the store.",
        "inputSchema": {"type": "object", "properties": {"k": {"type": "strng", "description": "Key"}}}
    }));
    let hits = found(&cfg, C::Schema);
    assert!(
        hits.iter()
            .any(|(loc, s)| loc.starts_with("/tools/0/inputSchema/properties/k") && *s == S::High),
        "{hits:?}"
    );
    let cfg = with_tool(json!({
        "name": "t", "description": "Looks things up by key in the store.",
        "inputSchema": {"type": "object", "required": "k"}
    }));
    assert!(found(&cfg, C::Schema)
        .iter()
        .any(|(l, s)| l.starts_with("/tools/0/inputSchema") && *s == S::High));
}

#[test]
fn an_input_schema_must_be_an_object_schema_with_declared_required_names() {
    let cfg = with_tool(json!({
        "name": "t", "description": "Looks things up by key in the store.",
        "inputSchema": {"type": "array"}
    }));
    assert_finding(&cfg, C::Schema, "/tools/0/inputSchema/type", S::Medium);
    let cfg = with_tool(json!({
        "name": "t", "description": "Looks things up by key in the store.",
        "inputSchema": {"properties": {"k": {"type": "string", "description": "Key"}}}
    }));
    assert_finding(&cfg, C::Schema, "/tools/0/inputSchema/type", S::Medium);
    let cfg = with_tool(json!({
        "name": "t", "description": "Looks things up by key in the store.",
        "inputSchema": {"type": "object", "properties": {"k": {"type": "string", "description": "Key"}}, "required": ["k", "key"]}
    }));
    assert_finding(
        &cfg,
        C::Schema,
        "/tools/0/inputSchema/required/1",
        S::Medium,
    );
    assert_eq!(found(&cfg, C::Schema).len(), 1, "only `key` is undeclared");
}

#[test]
fn a_tool_without_input_schema_and_an_untyped_parameter_are_reported() {
    let cfg = with_tool(json!({"name": "ping", "description": "Checks that the service answers."}));
    assert_finding(&cfg, C::Schema, "/tools/0/inputSchema", S::Medium);
    let cfg = with_tool(tool(
        "ping",
        "Checks that the service answers.",
        json!({"host": {"description": "Host to ping"}}),
    ));
    assert_finding(
        &cfg,
        C::Schema,
        "/tools/0/inputSchema/properties/host",
        S::Low,
    );
}

#[test]
fn input_schema_under_its_snake_case_alias_is_checked_too() {
    let cfg = with_tool(json!({
        "name": "t", "description": "Looks things up by key in the store.",
        "input_schema": {"type": "array"}
    }));
    assert_finding(&cfg, C::Schema, "/tools/0/input_schema/type", S::Medium);
}

#[test]
fn duplicate_tool_names_point_at_the_second_one() {
    let mut cfg = clean_config();
    cfg["tools"][1]["name"] = json!("list_issues");
    assert_finding(&cfg, C::DuplicateTool, "/tools/1/name", S::High);
    assert_eq!(found(&cfg, C::DuplicateTool).len(), 1);
}

// ---------------------------------------------------------------------------
// Documentation
// ---------------------------------------------------------------------------

#[test]
fn missing_and_weak_descriptions_are_reported_at_their_place() {
    let cfg = with_tool(json!({"name": "list_issues", "inputSchema": {"type": "object"}}));
    assert_finding(&cfg, C::Documentation, "/tools/0/description", S::Medium);
    for weak in ["", "Gets data", "list issues", "List_Issues"] {
        let cfg = with_tool(tool("list_issues", weak, json!({})));
        assert_finding(&cfg, C::Documentation, "/tools/0/description", S::Low);
    }
    let cfg = with_tool(tool(
        "get",
        "Gets one issue by number.",
        json!({"n": {"type": "integer"}}),
    ));
    assert_finding(
        &cfg,
        C::Documentation,
        "/tools/0/inputSchema/properties/n/description",
        S::Low,
    );
}

// ---------------------------------------------------------------------------
// Capabilities
// ---------------------------------------------------------------------------

#[test]
fn exec_tools_are_recognised_by_name_description_or_parameter() {
    for t in [
        tool(
            "run_command",
            "Runs a program and returns its output.",
            json!({}),
        ),
        tool(
            "executeCommand",
            "Returns the output of the program.",
            json!({}),
        ),
        tool("bash", "A persistent session for the agent.", json!({})),
        tool("helper", "Executes shell commands on the host.", json!({})),
        tool(
            "evaluate",
            "Evaluates Python code and returns the result.",
            json!({}),
        ),
        tool(
            "do_it",
            "Does the requested operation.",
            json!({"command": {"type": "string", "description": "What to do"}}),
        ),
    ] {
        let cfg = with_tool(t.clone());
        assert_finding(&cfg, C::ShellExecution, "/tools/0", S::High);
    }
    // Running things that are not commands is not shell execution.
    for t in [
        tool(
            "run_tests",
            "Runs the test suite of the project and reports failures.",
            json!({}),
        ),
        tool(
            "execute_sql",
            "Runs a read-only SQL query against the database.",
            json!({"sql": {"type": "string", "description": "SELECT statement"}}),
        ),
        tool(
            "get_command_history",
            "Lists the slash-commands a user has used.",
            json!({}),
        ),
    ] {
        assert_none(&with_tool(t), C::ShellExecution);
    }
}

#[test]
fn file_writes_are_medium_and_file_deletes_high_reads_nothing() {
    let p = json!({"path": {"type": "string", "description": "File path"}});
    assert_finding(
        &with_tool(tool("write_file", "Writes text to a file.", p.clone())),
        C::FilesystemWrite,
        "/tools/0",
        S::Medium,
    );
    assert_finding(
        &with_tool(tool(
            "move_file",
            "Moves a file to another directory.",
            p.clone(),
        )),
        C::FilesystemWrite,
        "/tools/0",
        S::Medium,
    );
    assert_finding(
        &with_tool(tool("delete_file", "Deletes a file.", p.clone())),
        C::FilesystemWrite,
        "/tools/0",
        S::High,
    );
    assert_finding(
        &with_tool(tool(
            "cleanup",
            "Removes the files older than a week.",
            json!({}),
        )),
        C::FilesystemWrite,
        "/tools/0",
        S::High,
    );
    assert_none(
        &with_tool(tool(
            "read_file",
            "Reads the complete contents of a file.",
            p.clone(),
        )),
        C::FilesystemWrite,
    );
    assert_none(
        &with_tool(tool(
            "list_directory",
            "Lists the entries of a directory.",
            p,
        )),
        C::FilesystemWrite,
    );
    // Deleting something that is not a file is not a filesystem write.
    assert_none(
        &with_tool(tool(
            "delete_issue",
            "Deletes an issue from the tracker.",
            json!({"id": {"type": "string", "description": "Issue id"}}),
        )),
        C::FilesystemWrite,
    );
}

#[test]
fn tools_that_fetch_arbitrary_urls_are_network_risks() {
    let cfg = with_tool(tool(
        "fetch",
        "Fetches a URL and returns the page as markdown.",
        json!({"url": {"type": "string", "format": "uri", "description": "Page address"}}),
    ));
    assert_finding(
        &cfg,
        C::NetworkAccess,
        "/tools/0/inputSchema/properties/url",
        S::Medium,
    );
    let cfg = with_tool(tool(
        "fetch",
        "Fetches a URL.",
        json!({"url": {"type": "string", "pattern": "^https://", "description": "Page address"}}),
    ));
    assert_finding(
        &cfg,
        C::NetworkAccess,
        "/tools/0/inputSchema/properties/url",
        S::Medium,
    );
    let cfg = with_tool(tool(
        "browse_web",
        "Opens web pages and returns their text.",
        json!({"q": {"type": "string", "description": "What"}}),
    ));
    assert_finding(&cfg, C::NetworkAccess, "/tools/0", S::Medium);
    let cfg = with_tool(json!({"name": "fetch", "description": "Fetches a URL.",
        "input_schema": {"type": "object", "properties": {"url": {"type": "string", "description": "Page"}}}}));
    assert_finding(
        &cfg,
        C::NetworkAccess,
        "/tools/0/input_schema/properties/url",
        S::Medium,
    );
    // Restricted to known hosts, or fetching domain data by name: not arbitrary.
    let cfg = with_tool(tool(
        "fetch",
        "Fetches a documentation page.",
        json!({"url": {"type": "string", "pattern": "^https://docs\\.example\\.com/", "description": "Page"}}),
    ));
    assert_none(&cfg, C::NetworkAccess);
    assert_none(
        &with_tool(tool(
            "fetch_issues",
            "Fetches the issues of a repository.",
            json!({}),
        )),
        C::NetworkAccess,
    );
}
