DROP TABLE mcp_config_history;
DROP TABLE mcp_tool_tags;
DROP TABLE mcp_tools;
