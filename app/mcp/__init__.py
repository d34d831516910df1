"""The agent tool interface: an MCP server at ``/mcp`` whose tools call the catalog, search,
remediation and audit services as the HTTP controllers do (issue #17)."""
