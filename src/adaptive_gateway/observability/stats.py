"""Live traffic statistics of one gateway process: rolling rates and latency percentiles over the last
seconds, minutes and hours, and a ring buffer of recent requests; what ``/api/stats``, ``/api/traces``,
``/api/topology`` and the dashboard read.

Recording is O(1): one dict update for the request's series (model, provider, deployment, key, tenant,
client) in the current second, one latency bucket, one append to the ring. When a second ends, its
aggregates are folded into the current minute (once per second, not per request). Reads merge at most
the last 60 seconds, or up to ``MINUTES`` minutes.

The ring keeps every failed request, and successful ones up to ``recent_per_second`` a second: below
that rate (an interactive team's traffic) it holds every request; above it, a sample of the successes
and all the errors. Keeping each request's sample alive for the ring's length cost ~4 % of a cache hit's
CPU at 17,000 requests a second (a sample dropped at once is reused memory still in the CPU caches; one
kept for a thousand requests is cold when it is finally freed), where the ring then spanned 60 ms.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from adaptive_gateway.observability.sample import Sample

SECONDS = 60  # per-second buckets kept
MINUTES = 180  # per-minute buckets kept (3 hours)
LOG_BASE = math.log(1.04)  # latency buckets 4 % wide
GROUPS = ("model", "provider", "deployment", "key", "tenant", "client")
# series key: (model, provider, deployment, key, tenant, client)
Series = tuple[str, str, str, str, str, str]
# aggregate: [requests, errors, input tokens, output tokens, cost, latency ms sum]
Agg = list[float]
Lat = dict[int, int]  # latency bucket -> count


def _bucket(ms: float) -> int:
    return int(math.log(ms if ms > 0.1 else 0.1) / LOG_BASE)


def percentile(hist: Lat, q: float) -> float | None:
    """The ``q`` quantile (0-1) in ms of a bucketed latency histogram (None when empty)."""
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = q * total, 0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= rank:
            return round(math.exp((b + 0.5) * LOG_BASE), 2)
    return None


@dataclass(slots=True)
class Bucket:
    """Aggregates of one second or one minute."""

    start: int
    aggs: dict[Series, Agg]
    lat: dict[str, Lat]  # model -> latency histogram

    def merge(self, other: Bucket) -> None:
        for key, src in other.aggs.items():
            dst = self.aggs.get(key)
            if dst is None:
                self.aggs[key] = list(src)
            else:
                for i, v in enumerate(src):
                    dst[i] += v
        for model, hist in other.lat.items():
            mine = self.lat.setdefault(model, {})
            for b, n in hist.items():
                mine[b] = mine.get(b, 0) + n


def _empty(start: int) -> Bucket:
    return Bucket(start, {}, {})


class Stats:
    """Rolling stats; ``clock`` returns wall-clock seconds (injectable for tests)."""

    def __init__(
        self,
        recent: int = 1000,
        clock: Callable[[], float] = time.time,
        recent_per_second: int | None = None,
    ) -> None:
        self.clock = clock
        self.recent: deque[Sample] = deque(maxlen=recent)
        # successful requests kept in the ring per second (None: all); failed ones are always kept
        self.recent_per_second = recent_per_second
        self._kept = 0  # successful requests the ring took in the current second
        self.started = clock()
        now = int(self.started)
        self._cur = _empty(now)
        self._seconds: deque[Bucket] = deque(maxlen=SECONDS)
        self._minute = _empty(now - now % 60)
        self._minutes: deque[Bucket] = deque(maxlen=MINUTES)
        self.total = 0

    # ---- recording ---------------------------------------------------------------------------------------

    def record(self, s: Sample) -> None:
        """Account one finished request."""
        sec = int(s.ts)
        if sec != self._cur.start:
            self._advance(sec)
        cur = self._cur
        key = (s.model, s.provider, s.deployment, s.key, s.tenant, s.client)
        agg = cur.aggs.get(key)
        if agg is None:
            agg = cur.aggs[key] = [0, 0, 0, 0, 0.0, 0.0]
        ms = s.latency_s * 1000
        agg[0] += 1
        if s.status >= 400:
            agg[1] += 1
        agg[2] += s.input_tokens
        agg[3] += s.output_tokens
        agg[4] += s.cost
        agg[5] += ms
        hist = cur.lat.get(s.model)
        if hist is None:
            hist = cur.lat[s.model] = {}
        b = _bucket(ms)
        hist[b] = hist.get(b, 0) + 1
        if s.status >= 400:
            self.recent.append(s)
        else:
            limit = self.recent_per_second
            if limit is None or self._kept < limit:
                self._kept += 1
                self.recent.append(s)
        self.total += 1

    def _advance(self, sec: int) -> None:
        """Close the current second (fold it into its minute) and open ``sec``."""
        if sec < self._cur.start:  # a clock step back: keep counting in the current second
            return
        done = self._cur
        self._seconds.append(done)
        minute = sec - sec % 60
        if done.start - done.start % 60 == self._minute.start:
            self._minute.merge(done)
        if minute != self._minute.start:
            self._minutes.append(self._minute)
            self._minute = _empty(minute)
        self._cur = _empty(sec)
        self._kept = 0

    def tick(self) -> None:
        """Advance to the present without a request (so idle periods read as zero)."""
        sec = int(self.clock())
        if sec != self._cur.start:
            self._advance(sec)

    # ---- reading -----------------------------------------------------------------------------------------

    def window(self, seconds: int) -> Bucket:
        """Everything recorded in the last ``seconds`` (up to ``MINUTES`` minutes), merged."""
        self.tick()
        now = int(self.clock())
        out = _empty(now - seconds)
        if seconds <= SECONDS:
            parts: Iterable[Bucket] = [b for b in self._seconds if b.start > now - seconds]
        else:  # the current minute already holds its closed seconds
            parts = [*(m for m in self._minutes if m.start + 60 > now - seconds), self._minute]
        for part in parts:
            out.merge(part)
        out.merge(self._cur)
        return out

    def per_minute(self, minutes: int, by: str, tenant: str | None = None) -> list[dict[str, Any]]:
        """Per-minute totals grouped by ``by`` (one of GROUPS), oldest first, the current minute last."""
        self.tick()
        index = GROUPS.index(by)
        current = _empty(self._minute.start)
        current.merge(self._minute)
        current.merge(self._cur)
        by_start = {m.start: m for m in self._minutes}
        rows = []
        for start in range(current.start - 60 * (minutes - 1), current.start + 1, 60):
            bucket = current if start == current.start else by_start.get(start)
            groups: dict[str, list[float]] = {}
            for key, agg in _scoped(bucket.aggs if bucket else {}, tenant):
                acc = groups.setdefault(key[index] or "-", [0, 0, 0, 0, 0.0, 0.0])
                for i, v in enumerate(agg):
                    acc[i] += v
            rows.append({"t": start, "groups": {k: _totals(v) for k, v in groups.items()}})
        return rows

    def recent_requests(self, keep: Callable[[Sample], bool], limit: int) -> list[Sample]:
        """Newest first, those ``keep`` accepts, at most ``limit``."""
        out: list[Sample] = []
        for s in reversed(self.recent):
            if keep(s):
                out.append(s)
                if len(out) >= limit:
                    break
        return out


def _scoped(aggs: dict[Series, Agg], tenant: str | None) -> Iterator[tuple[Series, Agg]]:
    for key, agg in aggs.items():
        if tenant is None or key[4] == tenant:
            yield key, agg


def _totals(agg: Agg, seconds: float | None = None) -> dict[str, Any]:
    n, err, tin, tout, cost, lat = agg
    out = {
        "requests": int(n),
        "errors": int(err),
        "input_tokens": int(tin),
        "output_tokens": int(tout),
        "cost_usd": round(cost, 8),
        "avg_latency_ms": round(lat / n, 2) if n else None,
    }
    if seconds:
        out["rps"] = round(n / seconds, 3)
    return out


def group(bucket: Bucket, by: str, seconds: float, tenant: str | None = None) -> dict[str, dict[str, Any]]:
    """Totals of a window per value of ``by`` (one of GROUPS); rates over ``seconds``."""
    index = GROUPS.index(by)
    groups: dict[str, Agg] = {}
    for key, agg in _scoped(bucket.aggs, tenant):
        acc = groups.setdefault(key[index], [0, 0, 0, 0, 0.0, 0.0])
        for i, v in enumerate(agg):
            acc[i] += v
    return {name: _totals(agg, seconds) for name, agg in groups.items()}


def summary(bucket: Bucket, seconds: float, tenant: str | None = None) -> dict[str, Any]:
    """Totals, rates and latency percentiles of a window."""
    total: Agg = [0, 0, 0, 0, 0.0, 0.0]
    for _, agg in _scoped(bucket.aggs, tenant):
        for i, v in enumerate(agg):
            total[i] += v
    out = _totals(total, seconds)
    out["error_rate"] = round(total[1] / total[0], 4) if total[0] else 0.0
    out["tokens_per_s"] = round((total[2] + total[3]) / seconds, 2) if seconds else 0.0
    if tenant is None:  # latency histograms are per model, not per tenant
        merged: Lat = {}
        for hist in bucket.lat.values():
            for b, n in hist.items():
                merged[b] = merged.get(b, 0) + n
        out["latency_ms"] = {f"p{int(q * 100)}": percentile(merged, q) for q in (0.5, 0.9, 0.99)}
    return out


def model_percentiles(bucket: Bucket) -> dict[str, dict[str, float | None]]:
    """p50 / p90 / p99 latency (ms) per model."""
    return {
        model: {f"p{int(q * 100)}": percentile(hist, q) for q in (0.5, 0.9, 0.99)}
        for model, hist in bucket.lat.items()
    }
