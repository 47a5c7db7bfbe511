"""A tiny upstream MCP server (stdio) for the MCP gateway tests, built with the official SDK.

Tools: ``echo`` (returns its text and how many times this process served it), ``add``, ``pid``
and ``crash`` (exits the process at once, to test restarts).
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("fixture-upstream")
served = {"echo": 0}


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    served["echo"] += 1
    return f"echo: {text} (call {served['echo']} in pid {os.getpid()})"


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def pid() -> int:
    """This process's id."""
    return os.getpid()


@server.tool()
def crash() -> str:
    """Exit the server process immediately."""
    os._exit(3)


if __name__ == "__main__":
    server.run("stdio")
