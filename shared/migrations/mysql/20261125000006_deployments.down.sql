DROP TABLE mcp_usage_stats;
DROP TABLE mcp_deployments;
