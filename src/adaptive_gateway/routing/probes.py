"""Active health probes: a cheap GET (the model list) to each provider that has them enabled, on its
interval. Off by default for hosted (paid) providers, on for local runtimes (``probe.enabled`` decides).

A failed probe caps the health score of the provider's deployments at 20 and moves them to the end of
plans until a probe succeeds again; it does not touch the breakers, which only live traffic drives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from adaptive_gateway.config import CompiledConfig, Deployment, Provider
from adaptive_gateway.errors import GatewayError
from adaptive_gateway.routing.health import Board

log = logging.getLogger("adaptive_gateway.routing")

# GET ``base_url + path`` answers with a model list on each adapter's API
PROBE_PATHS: Mapping[str, str] = {
    "openai": "/models",
    "embedded": "/models",
    "anthropic": "/v1/models",
    "gemini": "/v1beta/models",
    "ollama": "/api/tags",
}
# GET a URL at a provider -> the HTTP status (raises GatewayError when the provider cannot be reached)
Fetch = Callable[[Provider, str], Awaitable[int]]
Clock = Callable[[], float]


def probe_url(provider: Provider) -> str:
    return provider.base_url + (provider.probe.path or PROBE_PATHS.get(provider.adapter, "/models"))


def probed(config: CompiledConfig) -> dict[str, tuple[Provider, list[Deployment]]]:
    """Providers to probe (enabled, with a fixed base URL) and the deployments they serve. In offline
    mode hosted providers are never probed: the process makes no connection to a non-local address."""
    out: dict[str, tuple[Provider, list[Deployment]]] = {}
    offline = config.source.mode == "offline"
    for model in config.models.values():
        for dep in model.deployments:
            p = dep.provider
            if offline and p.locality != "local":
                continue
            if p.probe_enabled and p.base_url and dep.model_name == model.name:
                out.setdefault(p.name, (p, []))[1].append(dep)
    return out


class Prober:
    def __init__(self, board: Board, fetch: Fetch, clock: Clock) -> None:
        self.board = board
        self.fetch = fetch
        self.clock = clock
        self.due: dict[str, float] = {}

    async def probe(self, provider: Provider, deps: list[Deployment]) -> bool:
        """Probe one provider now and record the result on its deployments."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(provider.probe.timeout):
                status = await self.fetch(provider, probe_url(provider))
            ok, detail = status < 400, f"HTTP {status}"
        except TimeoutError:
            ok, detail = False, f"no answer within {provider.probe.timeout:g} s"
        except GatewayError as exc:
            ok, detail = False, exc.message
        ms = (time.perf_counter() - started) * 1000
        now = self.clock()
        for dep in deps:
            h = self.board.state(dep).health
            if h.probe_ok is not False and not ok:
                log.warning("health probe of %s failed: %s", provider.name, detail)
            h.probe_ok, h.probe_at, h.probe_ms, h.probe_detail = ok, now, ms, detail
        return ok

    async def run_once(self, config: CompiledConfig, force: bool = False) -> int:
        """Probe every provider whose interval elapsed (all of them with ``force``); returns how many."""
        now = self.clock()
        todo = [
            (p, deps) for name, (p, deps) in probed(config).items() if force or self.due.get(name, 0.0) <= now
        ]
        for p, _ in todo:
            self.due[p.name] = now + p.probe.interval
        await asyncio.gather(*(self.probe(p, deps) for p, deps in todo))
        return len(todo)

    async def loop(self, config: Callable[[], CompiledConfig], tick: float = 1.0) -> None:
        """Probe forever (cancel to stop), following config reloads."""
        while True:
            cfg = config()
            await self.run_once(cfg)
            intervals = [p.probe.interval for p, _ in probed(cfg).values()]
            await asyncio.sleep(min([tick, *intervals]))
