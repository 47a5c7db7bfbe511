"""Stats on an injected clock: rolling rates and percentiles, minute buckets, the ring buffer, tenants."""

from __future__ import annotations

import orjson

from adaptive_gateway.observability.clients import ClientNames
from adaptive_gateway.observability.sample import Sample
from adaptive_gateway.observability.stats import Stats, group, percentile, summary


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def req(
    clock: Clock, model: str = "gpt", status: int = 200, latency: float = 0.1, tenant: str = ""
) -> Sample:
    return Sample("openai_chat", model, f"{model}#0:p/x", "p", status, latency, key="k", tenant=tenant,
                  input_tokens=3, output_tokens=4, cost=0.5, ts=clock.t)  # fmt: skip


def test_rates_percentiles_and_windows() -> None:
    clock = Clock(1_000_020.0)
    stats = Stats(recent=5, clock=clock)
    for i in range(100):
        stats.record(req(clock, latency=(i + 1) / 1000, status=500 if i % 10 == 0 else 200))
        clock.t += 0.1
    window = stats.window(10)
    total = summary(window, 10)
    assert total["requests"] == 100 and total["errors"] == 10 and total["rps"] == 10.0
    assert total["error_rate"] == 0.1
    p50, p99 = total["latency_ms"]["p50"], total["latency_ms"]["p99"]
    assert 48 <= p50 <= 53 and 96 <= p99 <= 104  # 4 % buckets
    clock.t += 30
    assert summary(stats.window(10), 10)["requests"] == 0
    assert summary(stats.window(60), 60)["requests"] == 100
    clock.t += 120
    assert summary(stats.window(60), 60)["requests"] == 0
    assert summary(stats.window(600), 600)["requests"] == 100
    assert len(stats.recent) == 5


def test_per_minute_series_fill_gaps_and_group() -> None:
    clock = Clock(6_000_000.0)  # a minute boundary
    stats = Stats(clock=clock)
    stats.record(req(clock, "a"))
    clock.t += 125
    stats.record(req(clock, "b"))
    stats.record(req(clock, "b"))
    rows = stats.per_minute(4, "model")
    assert [r["t"] for r in rows] == [5_999_940, 6_000_000, 6_000_060, 6_000_120]
    assert rows[1]["groups"]["a"]["requests"] == 1 and rows[2]["groups"] == {}
    assert rows[3]["groups"]["b"]["requests"] == 2


def test_tenant_scope_and_recent_filter() -> None:
    clock = Clock(100.0)
    stats = Stats(clock=clock)
    stats.record(req(clock, tenant="t1"))
    stats.record(req(clock, tenant="t2", status=429))
    w = stats.window(10)
    assert group(w, "tenant", 10)["t2"]["errors"] == 1
    assert summary(w, 10, tenant="t1")["requests"] == 1
    assert [s.tenant for s in stats.recent_requests(lambda s: s.status >= 400, 10)] == ["t2"]


def test_ring_keeps_every_error_and_some_successes_per_second() -> None:
    """Past ``recent_per_second`` successes in one second the ring keeps only the errors (and counts
    everything as before); the next second starts a new allowance; below the rate every request is kept."""
    clock = Clock(5_000.0)
    stats = Stats(recent=1000, clock=clock, recent_per_second=3)
    for i in range(10):
        stats.record(req(clock, model=f"ok{i}"))
    stats.record(req(clock, model="failed", status=502))
    clock.t += 0.5
    for i in range(3):
        stats.record(req(clock, model=f"late{i}"))
    assert [s.model for s in stats.recent] == ["ok0", "ok1", "ok2", "failed"]
    assert summary(stats.window(10), 10)["requests"] == 14  # the counts miss nothing
    clock.t += 0.6  # the next second
    stats.record(req(clock, model="next"))
    stats.record(req(clock, model="next-failed", status=429))
    assert [s.model for s in stats.recent][-2:] == ["next", "next-failed"]
    every = Stats(recent=1000, clock=clock)  # no limit: every request
    for i in range(10):
        every.record(req(clock, model=f"m{i}"))
    assert len(every.recent) == 10


def test_percentile_of_empty_histogram_is_none() -> None:
    assert percentile({}, 0.5) is None


def test_client_names_are_bounded() -> None:
    names = ClientNames(max_clients=2)
    assert names.name("OpenAI/Python 1.40.0") == "openai-python"
    assert names.name("claude-cli/1.0.3 (external, cli)") == "claude-code"
    assert names.name(None) == "unknown"
    assert names.name("alpha/1") == "alpha" and names.name("beta/2") == "beta"
    assert names.name("gamma/3") == "other"
    assert names.name("alpha/9") == "alpha"


def test_worker_snapshots_merge_into_one_view() -> None:
    from adaptive_gateway.observability import stats_share

    clock = Clock(7_000_000.0)
    a, b = Stats(clock=clock), Stats(clock=clock)
    a.record(req(clock, "m1"))
    clock.t += 70  # a minute later: a's first request is in a closed minute now
    b.record(req(clock, "m2", status=502))
    a.record(req(clock, "m1"))
    snapshot = orjson.loads(orjson.dumps(stats_share.export(b)))  # as it travels between workers
    view = stats_share.combined(a, [snapshot])
    assert summary(view.window(10), 10)["requests"] == 2
    assert summary(view.window(600), 600)["requests"] == 3
    assert group(view.window(10), "model", 10)["m2"]["errors"] == 1
    assert [s.model for s in view.recent_requests(lambda s: True, 10)][:2] in (["m1", "m2"], ["m2", "m1"])
    assert view.total == 3 and a.total == 2  # a itself is unchanged
