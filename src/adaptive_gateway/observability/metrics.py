"""Prometheus metrics of one gateway process (docs/observability.md lists every name).

The request path pays for a few dict updates on plain Python values (:meth:`GatewayMetrics.record`);
:meth:`GatewayMetrics.flush`, run every ``flush_interval_seconds`` and before each scrape, folds what was
recorded into the prometheus-client series (one update per series, not per request). Live state (requests
in flight, circuit breakers, health scores) is read from the gateway at flush time, never per request.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``server/runner.py`` sets it when it forks several workers) every
series is an mmap file shared through that folder; :meth:`render` merges the files of all workers, and
the runner marks a worker dead when it exits (its live gauges disappear, its counters stay). Exemplars
(trace ids on the latency histograms) live on the series in one process; prometheus-client does not store
them in the multiprocess files, so there each worker keeps its newest per bucket in an
:class:`~adaptive_gateway.observability.exemplars.ExemplarBook`, shared through the folder.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from prometheus_client.samples import Exemplar

from adaptive_gateway.observability import exemplars
from adaptive_gateway.observability.exemplars import ExemplarBook
from adaptive_gateway.observability.exposition import Renderer, num
from adaptive_gateway.observability.sample import Sample

P = "adaptive_gateway_"
# few buckets on purpose: a scrape of 100 models must stay well under 100 ms (docs/benchmarks.md)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TPS_BUCKETS = (5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 500.0)
# breaker state as a number whose maximum across workers is the worst one
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

Labels = tuple[str, ...]
# route, model, provider, deployment, status, client, key, tenant, trust level, cache verdict
_RequestKey = tuple[str, str, str, str, str, str, str, str, str | None, str | None]
BreakerView = tuple[str, str, int, int]  # (deployment id, state name, trips so far, health score 0-100)


class _Pending:
    """Observations of one histogram series since the last flush."""

    __slots__ = ("counts", "exemplar", "total")

    def __init__(self, n: int) -> None:
        self.counts = [0] * n
        self.total = 0.0
        self.exemplar: tuple[int, str, float] | None = None

    def add(self, bounds: tuple[float, ...], v: float, tid: str | None) -> None:
        i = bisect_left(bounds, v)  # the first bucket whose bound is >= v; len(bounds): +Inf
        self.counts[i] += 1
        self.total += v
        if tid is not None:
            self.exemplar = (i, tid, v)


# attribute, type, name (after the prefix), help, labels, extra keyword arguments
_SPECS: tuple[tuple[str, type[Any], str, str, tuple[str, ...], dict[str, Any]], ...] = (
    ("requests", Counter, "requests", "Requests answered, by route, model, provider, deployment, status",
     ("route", "model", "provider", "deployment", "status"), {}),
    ("duration", Histogram, "request_duration_seconds", "Time from request to the last byte of the answer",
     ("route", "model"), {"buckets": LATENCY_BUCKETS}),
    ("upstream", Histogram, "upstream_duration_seconds",
     "Upstream time of the answering attempt (a stream: to its end)", ("provider",),
     {"buckets": LATENCY_BUCKETS}),
    ("ttft", Histogram, "time_to_first_token_seconds", "Streams: request to first upstream chunk",
     ("model",), {"buckets": TTFT_BUCKETS}),
    ("tps", Histogram, "output_tokens_per_second", "Output tokens per second of generation", ("model",),
     {"buckets": TPS_BUCKETS}),
    ("tokens", Counter, "tokens", "Tokens by model, provider and direction (input / output)",
     ("model", "provider", "direction"), {}),
    ("cost", Counter, "cost_usd", "Cost in USD by model and provider", ("model", "provider"), {}),
    ("retries", Counter, "retries", "Attempts repeated on a deployment already tried", ("model",), {}),
    ("fallbacks", Counter, "fallbacks", "Requests answered past their first candidate", ("model",), {}),
    ("upstream_errors", Counter, "upstream_errors", "Failed upstream attempts by deployment and status",
     ("deployment", "status"), {}),
    ("rejections", Counter, "rejections", "Requests the gateway refused (429) by reason", ("reason",), {}),
    ("policy_blocks", Counter, "policy_blocks", "Requests blocked by policy, by reason", ("reason",), {}),
    ("redactions", Counter, "redactions", "Redacted findings by type", ("type",), {}),
    ("trust", Counter, "trust_level_requests", "Requests by trust level", ("level",), {}),
    ("cache", Counter, "cache_requests", "Cache lookups by cache and result", ("cache", "result"), {}),
    ("clients", Counter, "client_requests", "Requests by client (user agent family)", ("client",), {}),
    ("key_requests", Counter, "key_requests", "Requests by key", ("key", "tenant"), {}),
    ("key_cost", Counter, "key_cost_usd", "Cost in USD by key", ("key", "tenant"), {}),
    ("inflight", Gauge, "requests_in_flight", "Requests being answered", (),
     {"multiprocess_mode": "livesum"}),
    ("breaker", Gauge, "circuit_breaker_state", "Breaker: 0 closed, 1 half-open, 2 open (worst worker)",
     ("deployment",), {"multiprocess_mode": "livemax"}),
    ("transitions", Counter, "circuit_breaker_transitions", "Circuit breaker state changes by target state",
     ("deployment", "state"), {}),
    ("health", Gauge, "deployment_health_score", "Deployment health 0-100 (lowest worker)", ("deployment",),
     {"multiprocess_mode": "livemin"}),
    ("info", Gauge, "build_info", "Gateway version", ("version",), {"multiprocess_mode": "max"}),
)  # fmt: skip


class _Families:
    """The metric objects, registered on ``registry`` (None in multiprocess mode: the files are the
    registry). Attributes are named by the first column of ``_SPECS``."""

    requests: Counter
    duration: Histogram
    upstream: Histogram
    ttft: Histogram
    tps: Histogram
    tokens: Counter
    cost: Counter
    retries: Counter
    fallbacks: Counter
    upstream_errors: Counter
    rejections: Counter
    policy_blocks: Counter
    redactions: Counter
    trust: Counter
    cache: Counter
    clients: Counter
    key_requests: Counter
    key_cost: Counter
    inflight: Gauge
    breaker: Gauge
    transitions: Counter
    health: Gauge
    info: Gauge

    def __init__(self, registry: CollectorRegistry | None) -> None:
        for attr, kind, name, doc, labels, extra in _SPECS:
            setattr(self, attr, kind(P + name, doc, labels, registry=registry, **extra))


def _ensure_multiprocess_values() -> None:
    """prometheus-client picks its value class when first imported; a worker whose folder was set later
    (the runner sets it before forking) switches to the shared-file values here."""
    if values.ValueClass is values.MutexValue:
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class GatewayMetrics:
    """Metrics of one gateway process. ``multiproc_dir``: share series with other workers."""

    def __init__(self, version: str, per_key: bool = True, multiproc_dir: str | None = None) -> None:
        self.multiproc_dir = multiproc_dir
        self.per_key = per_key
        # the *_created series would double every counter's lines in each scrape; nobody alerts on them
        disable_created_metrics()  # type: ignore[no-untyped-call]
        if multiproc_dir:
            os.makedirs(multiproc_dir, exist_ok=True)
            _ensure_multiprocess_values()
            self.registry: CollectorRegistry | None = None
        else:
            self.registry = CollectorRegistry(auto_describe=True)
        self.f = _Families(self.registry)
        self.renderer = Renderer()
        self.exemplars = ExemplarBook()  # several workers only
        self.f.info.labels(version).set(1)
        self._counts: dict[tuple[Counter, Labels], float] = {}
        self._hists: dict[tuple[Histogram, Labels], _Pending] = {}
        # per (route, model, provider, deployment, status, client, key, tenant, trust level, cache):
        # [requests, input tokens, output tokens, cost, the (route, model) latency histogram's pending]
        self._requests: dict[_RequestKey, list[Any]] = {}
        self._breakers: dict[str, tuple[str, int]] = {}
        self._status: dict[int, str] = {}

    @classmethod
    def from_env(cls, version: str, per_key: bool = True) -> GatewayMetrics:
        return cls(version, per_key, os.environ.get(MULTIPROC_ENV) or None)

    # ---- the request path: plain dict updates ------------------------------------------------------------

    def _inc(self, family: Counter, labels: Labels, n: float = 1) -> None:
        k = (family, labels)
        self._counts[k] = self._counts.get(k, 0) + n

    def _pending(self, family: Histogram, bounds: tuple[float, ...], labels: Labels) -> _Pending:
        k = (family, labels)
        pending = self._hists.get(k)
        if pending is None:
            pending = self._hists[k] = _Pending(len(bounds) + 1)
        return pending

    def _observe(
        self, family: Histogram, bounds: tuple[float, ...], labels: Labels, v: float, tid: str | None
    ) -> None:
        self._pending(family, bounds, labels).add(bounds, v, tid)

    def record(self, s: Sample) -> None:
        """Account one finished request (O(1), no I/O). The series every request touches (requests,
        tokens, cost, clients, keys, trust levels, cache verdicts, latency) share one pending entry,
        split into their families at :meth:`flush`: one dict lookup a request instead of seven."""
        status = self._status.get(s.status)
        if status is None:
            status = self._status[s.status] = str(s.status)
        k = (
            s.route,
            s.model,
            s.provider,
            s.deployment,
            status,
            s.client,
            s.key,
            s.tenant,
            s.trust_level,
            s.cache,
        )
        acc = self._requests.get(k)
        if acc is None:
            acc = self._requests[k] = [
                0,
                0,
                0,
                0.0,
                self._pending(self.f.duration, LATENCY_BUCKETS, (s.route, s.model)),
            ]
        acc[0] += 1
        acc[1] += s.input_tokens
        acc[2] += s.output_tokens
        acc[3] += s.cost
        acc[4].add(LATENCY_BUCKETS, s.latency_s, s.trace_id)
        if s.upstream_s is not None:
            self._observe(self.f.upstream, LATENCY_BUCKETS, (s.provider,), s.upstream_s, s.trace_id)
        if s.ttft_s is not None:
            self._observe(self.f.ttft, TTFT_BUCKETS, (s.model,), s.ttft_s, s.trace_id)
        if s.tokens_per_s is not None:
            self._observe(self.f.tps, TPS_BUCKETS, (s.model,), s.tokens_per_s, None)
        if s.retries or s.fallbacks or s.failed_attempts or s.rejection or s.policy_block:
            self._rare(s)
        if s.redactions:
            for kind, n in s.redactions.items():
                self._inc(self.f.redactions, (kind,), n)

    def _rare(self, s: Sample) -> None:
        f = self.f
        if s.retries:
            self._inc(f.retries, (s.model,), s.retries)
        if s.fallbacks:
            self._inc(f.fallbacks, (s.model,), s.fallbacks)
        for dep, status in s.failed_attempts:
            self._inc(f.upstream_errors, (dep, str(status)))
        if s.rejection:
            self._inc(f.rejections, (s.rejection,))
        if s.policy_block:
            self._inc(f.policy_blocks, (s.policy_block,))

    def cache(self, cache: str, result: str) -> None:
        """Count a lookup of a cache other than the response cache (whose verdict in ``ctx.notes["cache"]``
        is counted per request), e.g. ``app.extras["metrics"].cache("embeddings", "hit")``."""
        self._inc(self.f.cache, (cache, result))

    # ---- flush and scrape --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Fold everything recorded since the last flush into the Prometheus series."""
        counts, self._counts = self._counts, {}
        hists, self._hists = self._hists, {}
        requests, self._requests = self._requests, {}
        f = self.f

        def add(family: Counter, labels: Labels, n: float) -> None:
            counts[(family, labels)] = counts.get((family, labels), 0) + n

        for series, (n, tin, tout, cost, _) in requests.items():
            route, model, provider, deployment, status, client, key, tenant, level, verdict = series
            add(f.requests, (route, model, provider, deployment, status), n)
            if tin or tout:
                add(f.tokens, (model, provider, "input"), tin)
                add(f.tokens, (model, provider, "output"), tout)
            if cost:
                add(f.cost, (model, provider), cost)
            add(f.clients, (client,), n)
            if key and self.per_key:
                add(f.key_requests, (key, tenant), n)
                if cost:
                    add(f.key_cost, (key, tenant), cost)
            if level is not None:
                add(f.trust, (level,), n)
            if verdict is not None:
                add(f.cache, ("response", verdict), n)
        for (family, labels), n in counts.items():
            family.labels(*labels).inc(n)
        shared: dict[exemplars.Key, exemplars.Exemplar] = {}
        now = time.time()
        for (hfamily, labels), pending in hists.items():
            child: Any = hfamily.labels(*labels)
            # the series' own per-bucket values (prometheus-client stores buckets non-cumulative and sums
            # them at collection); one increment per bucket instead of one observe() per request
            for i, n in enumerate(pending.counts):
                if n:
                    child._buckets[i].inc(n)
            child._sum.inc(pending.total)
            if pending.exemplar is None:
                continue
            i, tid, v = pending.exemplar
            if self.multiproc_dir is None:
                child._buckets[i].set_exemplar(Exemplar({"trace_id": tid}, v, now))
            else:
                fam: Any = hfamily
                names = tuple(sorted(zip(fam._labelnames, labels, strict=True)))
                shared[(fam._name, names, num(child._upper_bounds[i]))] = (tid, v, now)
        self.exemplars.update(shared)

    def sync_live(self, inflight: int, breakers: Iterable[BreakerView]) -> None:
        """Set the live gauges; count breaker transitions seen since the last call."""
        f = self.f
        f.inflight.set(inflight)
        for dep, state, trips, score in breakers:
            f.breaker.labels(dep).set(BREAKER_VALUES.get(state, 0))
            f.health.labels(dep).set(score)
            last_state, last_trips = self._breakers.get(dep, ("closed", 0))
            opened = trips - last_trips
            if opened > 0:
                f.transitions.labels(dep, "open").inc(opened)
            if state != last_state and state != "open":
                f.transitions.labels(dep, state).inc()
            self._breakers[dep] = (state, trips)

    def render(self, openmetrics: bool = False) -> tuple[bytes, str]:
        """Flush, then :meth:`exposition` (call from the event loop's thread)."""
        self.flush()
        return self.exposition(openmetrics)

    def exposition(self, openmetrics: bool = False) -> tuple[bytes, str]:
        """The exposition text of what was flushed (OpenMetrics when asked: it carries the exemplars)
        and its content type. Safe to run in a worker thread."""
        families = [getattr(self.f, spec[0]) for spec in _SPECS]
        ctype = OPENMETRICS_TYPE if openmetrics else CONTENT_TYPE_LATEST
        folder = self.multiproc_dir
        if folder:
            found = exemplars.merged(folder, self.exemplars.entries) if openmetrics else None
            return self.renderer.render_files(folder, families, openmetrics, found), ctype
        return self.renderer.render(families, openmetrics), ctype
