"""Tool names as MCP clients accept them.

The issue names tools with dots (``memory.search``). The 2025-11-25 spec allows dots, but several
clients (and the LLM APIs behind them) still restrict names to ``^[a-zA-Z0-9_-]{1,64}$``, so every
name the gateway publishes uses underscores: ``memory.search`` -> ``memory_search``. Tools of an
upstream MCP server are published as ``<server>__<tool>`` (server names have no underscores, so the
first ``__`` always splits them).
"""

from __future__ import annotations

import hashlib
import re

CLIENT_SAFE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
SEPARATOR = "__"
MAX_NAME = 64
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_AGENT_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def client_name(dotted: str) -> str:
    """``memory.search`` -> ``memory_search``."""
    return dotted.replace(".", "_")


def dotted_name(name: str) -> str:
    """``memory_search`` -> ``memory.search`` (the issue's spelling, for docs and receipts)."""
    group, sep, rest = name.partition("_")
    return f"{group}.{rest}" if sep else name


def namespaced(server: str, tool: str) -> str:
    """The published name of an upstream tool; unsafe characters become ``_`` and names that would
    exceed 64 characters are shortened with a hash suffix so they stay unique."""
    name = f"{server}{SEPARATOR}{_UNSAFE.sub('_', tool)}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(tool.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def split_namespaced(name: str) -> tuple[str, str] | None:
    """``files__read`` -> ``("files", "read")``; None for names without the separator."""
    server, sep, tool = name.partition(SEPARATOR)
    return (server, tool) if sep and server and tool else None


def agent_name(raw: str | None) -> str | None:
    """A client-supplied name made safe for memory items and commits (letters, digits, ``._-``)."""
    if not raw:
        return None
    cleaned = _AGENT_UNSAFE.sub("-", raw.strip()).strip("-._")[:128]
    return cleaned or None
