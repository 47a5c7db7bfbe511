"""Errors raised by the memory store; callers (CLI, MCP server) map them to their own shapes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class MemoryStoreError(Exception):
    """Base class for every memory error."""


class InvalidItem(MemoryStoreError):
    """An item, name or field failed validation."""


class ItemNotFound(MemoryStoreError):
    """No item with the requested id exists (in the requested namespace)."""


class GitError(MemoryStoreError):
    """A git command failed; the message carries git's own stderr."""


class SyncError(MemoryStoreError):
    """Pull or push could not be completed (unknown remote, diverged history, network)."""


class HandoffError(MemoryStoreError):
    """A handoff transition is not allowed (wrong status or wrong agent)."""


@dataclass(frozen=True)
class PushProblem:
    """One reason a file may not leave this machine."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class PushRefused(SyncError):
    """Push was refused before anything was sent; ``problems`` names each file and why."""

    def __init__(self, remote: str, problems: Sequence[PushProblem]) -> None:
        self.remote = remote
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"push to {remote!r} refused; nothing was sent:\n{lines}")
