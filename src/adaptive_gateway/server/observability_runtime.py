"""The observability runtime of one gateway process: metrics, live stats, tracing and the request log,
fed by one finisher, with a background task that folds metrics and reads the live routing state.

It hangs off the app (``app.extras["observability"]``; the metrics alone at ``app.extras["metrics"]``,
for other extensions to count cache hits); nothing is module-level.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from adaptive_gateway import __version__
from adaptive_gateway.config.observability_schema import ObservabilityConfig
from adaptive_gateway.observability import exemplars, stats_share
from adaptive_gateway.observability.clients import ClientNames
from adaptive_gateway.observability.metrics import MULTIPROC_ENV, BreakerView, GatewayMetrics
from adaptive_gateway.observability.requestlog import record_of
from adaptive_gateway.observability.stats import Stats
from adaptive_gateway.observability.tracing import Tracing
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.server.observability_hooks import Hooks
from adaptive_gateway.server.observability_recorder import Recorder
from adaptive_gateway.server.observability_sample import (
    RESPONSE_NOTE,
    SPAN_NOTE,
    recorded_content,
    response_view,
    sample_of,
)
from adaptive_gateway.tasks import cancel
from adaptive_gateway.types import ChatResponse

log = logging.getLogger("adaptive_gateway.observability")


def _tracing(cfg: ObservabilityConfig) -> Tracing | None:
    t = cfg.tracing
    if not t.enabled:
        return None
    headers = {k: v.get_secret_value() for k, v in t.headers.items()}
    return Tracing(
        t.exporter, t.endpoint, headers, t.service_name, t.sample_ratio, t.export_timeout_seconds, __version__
    )


class ObservabilityRuntime:
    """``accounts``: finds the accounts runtime (its store and key table) at start, for recordings."""

    def __init__(
        self, gw: Gateway, cfg: ObservabilityConfig, accounts: Callable[[], Any] = lambda: None
    ) -> None:
        self.gw = gw
        self.cfg = cfg
        m = cfg.metrics
        self.metrics = GatewayMetrics.from_env(__version__, m.per_key) if m.enabled else None
        self.stats = Stats(cfg.stats.recent_requests, recent_per_second=cfg.stats.recent_per_second)
        self.clients = ClientNames(cfg.stats.max_clients)
        self.tracing = _tracing(cfg)
        self.hooks = Hooks(self.tracing)
        self.accounts = accounts
        self.recorder = (
            Recorder(lambda: gw.config.source.observability.recording) if cfg.recording.enabled else None
        )
        # several workers: live stats are shared through the metrics folder (observability/stats_share.py)
        self.share_dir = os.environ.get(MULTIPROC_ENV) or None
        self._task: asyncio.Task[None] | None = None

    # ---- the finisher ------------------------------------------------------------------------------------

    def finish(self, ctx: RequestContext) -> None:
        """Record a finished request in metrics, stats, its span and the request log (no I/O)."""
        s = sample_of(ctx, self.clients)
        if self.metrics is not None:
            self.metrics.record(s)
        self.stats.record(s)
        if ctx.notes:
            span = ctx.notes.get(SPAN_NOTE)
            if span is not None:
                self._end_span(ctx, span, s.trust_level)
        gw = self.gw
        if gw.log.enabled:
            attempts = len(ctx.attempts) + (1 if ctx.deployment is not None else 0)
            gw.log.write_line(record_of(s, attempts, recorded_content(ctx, s.trust_level)))
        if self.recorder is not None:
            self.recorder.offer(ctx, s)

    def _end_span(self, ctx: RequestContext, span: object, level: str | None) -> None:
        from opentelemetry.sdk.trace import Span

        if not isinstance(span, Span):
            return
        dep, usage = ctx.deployment, ctx.usage
        attrs: dict[str, str | int | float | list[str]] = {"adaptive_gateway.cost_usd": ctx.cost}
        if dep is not None:
            attrs |= {
                "gen_ai.response.model": dep.upstream_model,
                "adaptive_gateway.deployment": dep.id,
                "adaptive_gateway.provider": dep.provider.name,
            }
        if usage is not None:
            attrs |= {
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
            }
        if level is not None:
            attrs["adaptive_gateway.trust_level"] = level
        resp = ctx.notes.get(RESPONSE_NOTE)
        if isinstance(resp, ChatResponse):
            model, reasons, _ = response_view(resp)
            attrs["gen_ai.response.model"] = model
            if reasons:
                attrs["gen_ai.response.finish_reasons"] = reasons
        attrs["adaptive_gateway.attempts"] = len(ctx.attempts) + (1 if dep is not None else 0)
        Tracing.finish(span, ctx.status, ctx.error, attrs)

    # ---- live state and the background fold ----------------------------------------------------------------

    def breakers(self) -> Iterator[BreakerView]:
        """(deployment, breaker state, trips, health score) of every configured deployment."""
        router = self.gw.executor.router
        now = router.clock()
        for model in self.gw.config.models.values():
            for dep in model.deployments:
                if dep.model_name == model.name:
                    st = router.state(dep)
                    yield dep.id, st.breaker.name, st.breaker.trips, st.health.score(now, st.breaker)

    def sync(self) -> None:
        """Fold buffered metrics and read the live gauges (every flush interval and before a scrape)."""
        self.stats.tick()
        if self.metrics is not None:
            self.metrics.flush()
            self.metrics.sync_live(self.gw.inflight, self.breakers())

    async def view(self) -> Stats:
        """The live stats to answer from: this worker's, merged with its peers' when there are several."""
        if self.share_dir is None:
            return self.stats
        snapshots = await asyncio.to_thread(stats_share.peers, self.share_dir)
        return stats_share.combined(self.stats, snapshots) if snapshots else self.stats

    async def _loop(self) -> None:
        interval = self.cfg.metrics.flush_interval_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                self.sync()
                if self.share_dir is not None:
                    await self._publish(self.share_dir)
            except Exception:  # never let a metrics bug stop the fold
                log.exception("observability sync failed")

    async def _publish(self, folder: str) -> None:
        """Share this worker's live stats and, when they changed, its exemplars with its peers."""
        snapshot = stats_share.export(self.stats)
        await asyncio.to_thread(stats_share.publish, snapshot, folder)
        found = self.metrics.exemplars.snapshot() if self.metrics is not None else None
        if found is not None:
            await asyncio.to_thread(exemplars.publish, found, folder)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        if self.recorder is not None:
            acc = self.accounts()
            store = getattr(acc, "store", None)
            if store is None:
                log.warning("observability.recording is on but there is no store: nothing is recorded")
            else:
                await self.recorder.start(store, lambda: int(acc.table.version))

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        self.sync()
        if self.recorder is not None:
            await self.recorder.stop()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)
