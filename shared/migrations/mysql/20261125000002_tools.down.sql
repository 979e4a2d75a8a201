DROP TABLE IF EXISTS mcp_config_history;
DROP TABLE IF EXISTS mcp_tool_tags;
DROP TABLE IF EXISTS mcp_tools;
