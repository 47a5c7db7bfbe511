"""Shared helpers for the embedded tests: fast supervision timings, process checks, small HTTP calls."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adaptive_gateway.embedded import INSTALL_HINT, SupervisorPolicy, availability

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}

# Fast restarts and checks so supervision tests take seconds, not minutes.
FAST = SupervisorPolicy(
    start_timeout=30.0, health_interval=0.2, health_timeout=0.5, health_failures=2,
    backoff_initial=0.1, backoff_max=1.0, stop_grace=1.0,
)  # fmt: skip


def require_installed() -> None:
    """Fail (never skip) with the install command when an optional package is missing."""
    state = availability()
    if not state.complete:
        pytest.fail(
            f"embedded packages missing: {state.runtime_missing + state.embedder_missing}. {INSTALL_HINT}"
        )


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie awaiting reaping by init counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def post(url: str, body: dict[str, Any], headers: dict[str, str] = AUTH) -> tuple[int, dict[str, Any]]:
    timeout = aiohttp.ClientTimeout(total=60)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, json=body, headers=headers) as resp,
    ):
        return resp.status, await resp.json()


async def get(url: str, headers: dict[str, str] = AUTH) -> tuple[int, dict[str, Any]]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url, headers=headers) as resp:
        return resp.status, await resp.json()


async def chat(base_url: str, text: str = "Say hello.", **extra: Any) -> dict[str, Any]:
    """A small temperature-0 chat completion that must succeed."""
    body: dict[str, Any] = {"model": "local/smollm2-135m", "messages": [{"role": "user", "content": text}]}
    status, data = await post(
        f"{base_url}/chat/completions", {**body, "max_tokens": 8, "temperature": 0, **extra}
    )
    assert status == 200, data
    return data


def our_children() -> list[int]:
    """Pids of llama.cpp children started by this test process (found by their command line)."""
    marker = f"--parent-pid\0{os.getpid()}\0".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if (
            b"adaptive_gateway.embedded.child" in cmdline
            and marker in cmdline + b"\0"
            and alive(int(entry.name))
        ):
            pids.append(int(entry.name))
    return pids


async def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` every 50 ms; True as soon as it holds, False after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True
