"""GatewayMetrics in one process: buffered counts fold into the right series, the bulk histogram update
matches prometheus-client's own observe(), exemplars carry trace ids, breaker transitions are counted."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from adaptive_gateway.observability.metrics import LATENCY_BUCKETS, GatewayMetrics
from adaptive_gateway.observability.sample import Sample

DEP = "gpt#0:fake/up"


def sample(**kw: object) -> Sample:
    base: dict[str, object] = {
        "route": "openai_chat", "model": "gpt", "deployment": DEP, "provider": "fake", "status": 200,
        "latency_s": 0.04, "key": "key_1", "tenant": "t1", "input_tokens": 10, "output_tokens": 5,
        "cost": 0.002, "upstream_s": 0.03,
    }  # fmt: skip
    base.update(kw)
    return Sample(**base)  # type: ignore[arg-type]


def values(m: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = m.render()[0].decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_requests_tokens_cost_and_keys_are_counted() -> None:
    m = GatewayMetrics("9.9")
    for _ in range(3):
        m.record(sample())
    m.record(sample(status=429, deployment="", provider="", rejection="budget_exceeded", input_tokens=0,
                    output_tokens=0, cost=0.0, upstream_s=None))  # fmt: skip
    v = values(m)
    lbl = (
        ("deployment", DEP),
        ("model", "gpt"),
        ("provider", "fake"),
        ("route", "openai_chat"),
        ("status", "200"),
    )
    assert v[("adaptive_gateway_requests_total", lbl)] == 3
    assert (
        v[("adaptive_gateway_tokens_total", (("direction", "input"), ("model", "gpt"), ("provider", "fake")))]
        == 30
    )
    assert v[("adaptive_gateway_cost_usd_total", (("model", "gpt"), ("provider", "fake")))] == 0.006
    assert v[("adaptive_gateway_rejections_total", (("reason", "budget_exceeded"),))] == 1
    assert v[("adaptive_gateway_key_requests_total", (("key", "key_1"), ("tenant", "t1")))] == 4
    assert (
        v[("adaptive_gateway_request_duration_seconds_count", (("model", "gpt"), ("route", "openai_chat")))]
        == 4
    )
    assert v[("adaptive_gateway_build_info", (("version", "9.9"),))] == 1


def test_per_key_series_can_be_turned_off() -> None:
    m = GatewayMetrics("1", per_key=False)
    m.record(sample())
    assert b"adaptive_gateway_key_requests_total{" not in m.render()[0]


def test_bulk_histogram_update_equals_observe() -> None:
    """The flush bumps prometheus-client's per-bucket values directly; it must read like observe()."""
    reference = Histogram("ref_seconds", "ref", ["route", "model"], buckets=LATENCY_BUCKETS,
                          registry=CollectorRegistry())  # fmt: skip
    m = GatewayMetrics("1")
    for latency in (0.001, 0.005, 0.0051, 0.3, 2.0, 7.5, 400.0, 0.3):
        reference.labels("openai_chat", "gpt").observe(latency)
        m.record(sample(latency_s=latency))
    m.flush()
    ours = m.f.duration.labels("openai_chat", "gpt")
    theirs = reference.labels("openai_chat", "gpt")

    def read(child: object) -> list[tuple[str, float]]:
        return [(s.name, s.value) for s in child._child_samples() if s.name != "_created"]  # type: ignore[attr-defined]

    assert read(ours) == read(theirs)


def test_exemplars_carry_trace_ids_in_openmetrics() -> None:
    m = GatewayMetrics("1")
    m.record(sample(trace_id="ab" * 16))
    text, ctype = m.render(openmetrics=True)
    assert ctype.startswith("application/openmetrics-text")
    assert b'# {trace_id="' + b"ab" * 16 + b'"}' in text


def test_breaker_state_and_transitions() -> None:
    m = GatewayMetrics("1")
    m.sync_live(3, [(DEP, "closed", 0, 100)])
    m.sync_live(2, [(DEP, "open", 1, 0)])
    m.sync_live(2, [(DEP, "half_open", 1, 30)])
    m.sync_live(0, [(DEP, "closed", 1, 100)])
    v = values(m)
    assert v[("adaptive_gateway_requests_in_flight", ())] == 0
    assert v[("adaptive_gateway_circuit_breaker_state", (("deployment", DEP),))] == 0
    for state in ("open", "half_open", "closed"):
        assert (
            v[("adaptive_gateway_circuit_breaker_transitions_total", (("deployment", DEP), ("state", state)))]
            == 1
        )


def test_cache_policy_and_redactions() -> None:
    m = GatewayMetrics("1")
    m.record(sample(cache="hit", trust_level="confidential", redactions={"email": 2}))
    m.record(sample(status=403, policy_block="blocked_by_policy"))
    m.cache("embeddings", "miss")
    v = values(m)
    assert v[("adaptive_gateway_cache_requests_total", (("cache", "response"), ("result", "hit")))] == 1
    assert v[("adaptive_gateway_cache_requests_total", (("cache", "embeddings"), ("result", "miss")))] == 1
    assert v[("adaptive_gateway_redactions_total", (("type", "email"),))] == 2
    assert v[("adaptive_gateway_policy_blocks_total", (("reason", "blocked_by_policy"),))] == 1
    assert v[("adaptive_gateway_trust_level_requests_total", (("level", "confidential"),))] == 1


def test_the_shared_entry_splits_into_each_family_across_flushes() -> None:
    """record() keeps one pending entry per combination of labels; flush() splits it per family."""
    m = GatewayMetrics("1")
    m.record(
        sample(client="claude-code", key="key_1", tenant="t1", cost=0.5, cache="miss", trust_level="public")
    )
    m.record(sample(client="codex", key="key_2", tenant="t2", cost=0.25, cache="hit", trust_level="internal"))
    m.record(sample(client="codex", key="key_2", tenant="t2", cost=0.0, cache="hit", trust_level="internal"))
    m.record(sample(client="codex", key="", tenant="", cost=0.0, cache=None, trust_level=None, latency_s=3.0))
    m.flush()  # a second generation adds to the first
    m.record(sample(client="codex", key="key_2", tenant="t2", cost=0.25, cache="hit", trust_level="internal"))
    v = values(m)
    assert v[("adaptive_gateway_client_requests_total", (("client", "claude-code"),))] == 1
    assert v[("adaptive_gateway_client_requests_total", (("client", "codex"),))] == 4
    assert v[("adaptive_gateway_key_requests_total", (("key", "key_1"), ("tenant", "t1")))] == 1
    assert v[("adaptive_gateway_key_requests_total", (("key", "key_2"), ("tenant", "t2")))] == 3
    assert v[("adaptive_gateway_key_cost_usd_total", (("key", "key_1"), ("tenant", "t1")))] == 0.5
    assert v[("adaptive_gateway_key_cost_usd_total", (("key", "key_2"), ("tenant", "t2")))] == 0.5
    assert v[("adaptive_gateway_cache_requests_total", (("cache", "response"), ("result", "hit")))] == 3
    assert v[("adaptive_gateway_cache_requests_total", (("cache", "response"), ("result", "miss")))] == 1
    assert v[("adaptive_gateway_trust_level_requests_total", (("level", "internal"),))] == 3
    assert v[("adaptive_gateway_trust_level_requests_total", (("level", "public"),))] == 1
    duration = (("model", "gpt"), ("route", "openai_chat"))
    assert v[("adaptive_gateway_request_duration_seconds_count", duration)] == 5
    assert v[("adaptive_gateway_request_duration_seconds_sum", duration)] == 0.04 * 4 + 3.0
    assert v[("adaptive_gateway_request_duration_seconds_bucket", (("le", "2.5"), *duration))] == 4
    assert v[("adaptive_gateway_cost_usd_total", (("model", "gpt"), ("provider", "fake")))] == 1.0
