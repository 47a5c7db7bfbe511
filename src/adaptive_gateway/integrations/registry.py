"""Every integration target, by the name used on the command line."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import claude_code, codex, continue_dev, cursor, n8n, open_webui, vscode
from .base import Target

TARGETS: Mapping[str, Target] = MappingProxyType(
    {
        t.name: t
        for t in (
            claude_code.TARGET,
            codex.TARGET,
            cursor.TARGET,
            continue_dev.TARGET,
            vscode.TARGET,
            open_webui.TARGET,
            n8n.TARGET,
        )
    }
)


def get_target(name: str) -> Target:
    """The target called ``name``; KeyError naming the known ones otherwise."""
    try:
        return TARGETS[name]
    except KeyError:
        raise KeyError(f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None
