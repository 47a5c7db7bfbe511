from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from adaptive_gateway.memory import MemoryStore

GitRunner = Callable[..., str]


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


@pytest.fixture
def git() -> GitRunner:
    """``git(repo, *args) -> stdout`` for looking at repositories from the outside."""
    return _git


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    return MemoryStore(tmp_path / "memory", author="codex")


@pytest.fixture
def bare_remote(tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    return remote
