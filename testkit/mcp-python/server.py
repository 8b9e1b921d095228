"""A real MCP server for the prober's tests: the official Python SDK's server (PyPI `mcp`), stateless
Streamable HTTP with JSON answers, which speaks 2026-07-28. Its tools are `add` and `echo`, plus one per
`--extra-tool NAME`, so a test can change the tool list between two probes by restarting it.

    python server.py --port PORT [--extra-tool NAME ...]

It listens on 127.0.0.1 only and serves MCP at /mcp; GET / answers 404 once it is up.
"""

import argparse

from mcp.server.mcpserver import MCPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--extra-tool", action="append", default=[])
    args = parser.parse_args()

    server = MCPServer(name="registry-test-python", version="1.0.0", log_level="WARNING")

    def add(a: int, b: int) -> int:
        """Adds two integers."""
        return a + b

    def echo(text: str) -> str:
        """Says the text back."""
        return text

    server.add_tool(add, name="add", description="Adds two integers.")
    server.add_tool(echo, name="echo", description="Says the text back.")
    for name in args.extra_tool:
        def extra(text: str) -> str:
            return text

        server.add_tool(extra, name=name, description=f"An extra tool: {name}.")
    server.run(
        "streamable-http",
        host="127.0.0.1",
        port=args.port,
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
    )


if __name__ == "__main__":
    main()
