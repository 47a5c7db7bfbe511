"""``discover()``: every probe at once, each bounded, so the whole run stays within a few seconds."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import TypeVar

import aiohttp

from .clients import find_clients
from .http import new_session
from .keys import find_keys, resolve_dotenv_paths
from .model import DiscoveryReport, DiscoveryTargets, RuntimeFinding, ToolFinding
from .runtimes import RUNTIME_SPECS, probe_runtime
from .tools import find_containers, find_git, find_gitea, usable_socket

T = TypeVar("T")


async def _bounded(work: Awaitable[T], budget_s: float, fallback: T) -> T:
    try:
        return await asyncio.wait_for(work, budget_s)
    except TimeoutError:
        return fallback


def _runtime_probes(
    session: aiohttp.ClientSession, targets: DiscoveryTargets
) -> list[Awaitable[RuntimeFinding]]:
    pairs = [(kind, root) for kind, roots in targets.runtimes.items() for root in roots]
    pairs += [("openai-compatible", base) for base in targets.openai_compatible]
    probes: list[Awaitable[RuntimeFinding]] = []
    for kind, root in pairs:
        spec = RUNTIME_SPECS[kind]
        timed_out = RuntimeFinding(kind, root, root + spec.api_suffix, reachable=False, error="timed out")
        probes.append(_bounded(probe_runtime(session, spec, root), targets.probe_budget_s, timed_out))
    return probes


def _no_gitea(root: str) -> ToolFinding:
    return ToolFinding("gitea", False, location=root, error="timed out")


def _gitea_probes(session: aiohttp.ClientSession, targets: DiscoveryTargets) -> list[Awaitable[ToolFinding]]:
    return [
        _bounded(find_gitea(session, root), targets.probe_budget_s, _no_gitea(root)) for root in targets.gitea
    ]


async def discover(
    targets: DiscoveryTargets | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> DiscoveryReport:
    """Look around this machine, read-only: runtimes, provider keys (masked), AI clients, git, Gitea and
    Docker. Unknown runtime kinds in ``targets.runtimes`` raise KeyError; nothing else raises."""
    targets = targets or DiscoveryTargets()
    home = home or Path.home()
    env = os.environ if env is None else env
    started = time.perf_counter()
    socket = usable_socket(targets.docker_socket)
    budget = targets.probe_budget_s
    async with new_session(targets.request_timeout_s) as session:
        runtimes_f = asyncio.gather(*_runtime_probes(session, targets))
        gitea_f = asyncio.gather(*_gitea_probes(session, targets))
        git_f = find_git(targets.git_binary, env, targets.request_timeout_s)
        docker_f = _bounded(find_containers(socket, targets.request_timeout_s), budget, ())
        runtimes, gitea, git, containers = await asyncio.gather(runtimes_f, gitea_f, git_f, docker_f)
    dotenv_paths = resolve_dotenv_paths(targets.dotenv_files, home, targets.cwd or Path.cwd())
    return DiscoveryReport(
        runtimes=tuple(runtimes),
        keys=find_keys(env, dotenv_paths),
        clients=find_clients(home, env, tuple(runtimes)),
        tools=(git, *gitea),
        containers=containers,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )
