//! `registry-api`: the HTTP API of the MCP Registry Server (MCP Registry API v0.1, the extension API and the
//! ops endpoints). The routes arrive with issue 3; the crate exists now so the workspace has its final shape.
