"""Planning: every strategy's order, router modes, traffic splits, fallbacks through the same filters,
context windows, breakers and rate limits. Units over a compiled config and a router's live state."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from adaptive_gateway.config import Deployment
from adaptive_gateway.errors import UpstreamError, UpstreamUnreachable
from adaptive_gateway.routing.plan import LAST_RESORT
from adaptive_gateway.routing.retry import classify
from adaptive_gateway.routing.router import Router
from adaptive_gateway.types import ChatRequest, ContentPart, Message
from tests.routing.support import FakeClock, compiled

CONFIG = """
providers:
  p: {kind: ollama-openai}
  q: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
  r: {kind: openai-compatible, base_url: "http://127.0.0.1:9/v1"}
models:
  w:
    deployments:
      - {provider: p, model: a, weight: 3}
      - {provider: q, model: b, weight: 1}
      - {provider: r, model: c, weight: 0}
  rr:
    strategy: round-robin
    deployments: [{provider: p, model: a}, {provider: q, model: b}, {provider: r, model: c}]
  busy: {strategy: least-busy, deployments: [{provider: p, model: a}, {provider: q, model: b}]}
  fast: {strategy: lowest-latency, deployments: [{provider: p, model: a}, {provider: q, model: b}]}
  cheap:
    strategy: lowest-cost
    min_quality: 70
    max_latency_ms: 500
    deployments:
      - {provider: p, model: free, input_price: 0, output_price: 0, quality: 40}
      - {provider: q, model: mid, input_price: 1, output_price: 2, quality: 80}
      - {provider: r, model: top, input_price: 5, output_price: 15, quality: 95}
  best:
    strategy: quality
    deployments:
      - {provider: p, model: x, quality: 60}
      - {provider: q, model: y, quality: 90}
      - {provider: r, model: z}
  healthy: {strategy: health-weighted, deployments: [{provider: p, model: a}, {provider: q, model: b}]}
  small:
    deployments: [{provider: p, model: s, context_window: 100}]
    fallbacks: [medium]
    context_fallback: large
  medium: {deployments: [{provider: q, model: md, context_window: 1000}]}
  large: {deployments: [{provider: r, model: lg, context_window: 100000}]}
  ab: {split: {w: 70, best: 30}, sticky: "header:x-user"}
  ab-key: {split: {w: 1, top: 1}, sticky: key}
  "router:cost": {router: cost, models: [cheap, best]}
aliases: {top: best}
"""


@pytest.fixture
def router(clock: FakeClock) -> Router:
    return Router(clock, random.Random(7))


CFG = compiled(CONFIG)


def ids(deps: list[Deployment]) -> list[str]:
    return [d.upstream_model for d in deps]


def plan_ids(router: Router, name: str, **kw: object) -> list[str]:
    model = CFG.resolve(name)
    assert model is not None
    return ids(router.plan(CFG, model, **kw).candidates)  # type: ignore[arg-type]


def test_weighted_follows_weights_and_drops_zero(router: Router) -> None:
    firsts = Counter(plan_ids(router, "w")[0] for _ in range(4000))
    assert set(firsts) == {"a", "b"}  # weight 0 is drained
    assert 0.7 < firsts["a"] / 4000 < 0.8
    assert plan_ids(router, "w") in (["a", "b"], ["b", "a"])


def test_round_robin_rotates(router: Router) -> None:
    assert [plan_ids(router, "rr")[0] for _ in range(6)] == ["a", "b", "c", "a", "b", "c"]


def test_least_busy_prefers_fewest_in_flight(router: Router) -> None:
    a, b = CFG.models["busy"].deployments
    router.state(a).health.inflight = 3
    router.state(b).health.inflight = 1
    assert plan_ids(router, "busy") == ["b", "a"]


def test_lowest_latency_measures_unknown_then_explores(router: Router, clock: FakeClock) -> None:
    a, b = CFG.models["fast"].deployments
    router.succeeded(a, router.state(a), 200.0)
    assert plan_ids(router, "fast")[0] == "b"  # never measured: measured next
    router.succeeded(b, router.state(b), 900.0)
    firsts = Counter(plan_ids(router, "fast")[0] for _ in range(2000))
    assert firsts["a"] > 1800 and firsts["b"] > 20  # exploration re-measures the slow one


def test_lowest_cost_meets_quality_and_latency_thresholds(router: Router) -> None:
    assert plan_ids(router, "cheap") == ["mid", "top", "free"]  # free misses min_quality
    mid = CFG.models["cheap"].deployments[1]
    router.succeeded(mid, router.state(mid), 900.0)  # now over max_latency_ms
    assert plan_ids(router, "cheap") == ["top", "free", "mid"]


def test_quality_orders_by_score_unknown_as_50(router: Router) -> None:
    assert plan_ids(router, "best") == ["y", "x", "z"]


def test_health_weighted_avoids_failing_deployment(router: Router) -> None:
    a = CFG.models["healthy"].deployments[0]
    err = UpstreamError("boom", status=500)
    for _ in range(4):  # below the breaker threshold, but the success rate drops to 0.2
        router.failed(a, router.state(a), classify(err), err)
    firsts = Counter(plan_ids(router, "healthy")[0] for _ in range(1000))
    assert firsts["b"] > 900


def test_router_mode_chooses_across_models(router: Router) -> None:
    assert plan_ids(router, "router:cost") == ["y", "x", "z", "free", "mid", "top"]
    implicit = CFG.resolve("router:quality")
    assert implicit is not None and implicit.strategy == "quality"
    assert "router:quality" not in CFG.public_names()
    assert plan_ids(router, "router:quality")[:2] == ["top", "y"]


def test_split_70_30_and_sticky_per_header(router: Router) -> None:
    arms = Counter(router.plan(CFG, CFG.models["ab"]).arm for _ in range(4000))
    assert 0.65 < arms["w"] / 4000 < 0.75
    for user in ("alice", "bob", "carol", "dave"):
        seen = {router.plan(CFG, CFG.models["ab"], headers={"x-user": user}).arm for _ in range(20)}
        assert len(seen) == 1
    plan = router.plan(CFG, CFG.models["ab"], headers={"x-user": "alice"})
    other = "best" if plan.arm == "w" else "w"
    assert plan.chain[0] == plan.arm and other in plan.chain  # the other arm is the fallback
    assert plan.role(0) == f"split arm '{plan.arm}'"


def test_split_sticky_per_key(router: Router) -> None:
    by_key = {k: {router.plan(CFG, CFG.models["ab-key"], key=k).arm for _ in range(10)} for k in "abcdefgh"}
    assert all(len(arms) == 1 for arms in by_key.values())
    assert {a for arms in by_key.values() for a in arms} == {"w", "best"}  # "top" is an alias of best


def test_filters_veto_fallbacks_too(router: Router) -> None:
    def no_hosted(dep: Deployment) -> str | None:
        return "trust level forbids hosted" if dep.provider.locality == "hosted" else None

    plan = router.plan(CFG, CFG.models["small"], filters=[no_hosted])
    assert ids(plan.candidates) == ["s"]
    assert {d.upstream_model: why for d, why in plan.skipped} == {
        "md": "trust level forbids hosted",
        "lg": "trust level forbids hosted",
    }


def request(words: int) -> ChatRequest:
    return ChatRequest("small", [Message("user", [ContentPart("text", text="word " * words)])])


def test_context_window_skips_and_context_fallback(router: Router) -> None:
    short = router.plan(CFG, CFG.models["small"], request=request(5))
    assert ids(short.candidates) == ["s", "md", "lg"]
    assert short.context_from == 2  # the context fallback only after an upstream says too long
    long = router.plan(CFG, CFG.models["small"], request=request(2000))
    assert ids(long.candidates) == ["lg"] and long.context_from > 0
    assert long.tokens is not None and long.tokens > 1000
    assert [why.split(" <")[0] for _, why in long.skipped] == ["context window 100", "context window 1000"]


def test_open_breaker_skipped_rate_limited_last_and_last_resort(router: Router) -> None:
    a, b, _ = CFG.models["w"].deployments
    down = UpstreamUnreachable("refused")
    for _ in range(5):
        router.failed(a, router.state(a), classify(down), down)
    plan = router.plan(CFG, CFG.models["w"])
    assert ids(plan.candidates) == ["b"] and "circuit breaker open" in plan.skipped[0][1]
    limited = UpstreamError("slow", status=429, headers={"retry-after-ms": "5000"})
    router.failed(b, router.state(b), classify(limited), limited)
    assert ids(router.plan(CFG, CFG.models["w"]).candidates) == ["b"]  # rate limited, still a candidate
    for _ in range(5):
        router.failed(b, router.state(b), classify(down), down)
    plan = router.plan(CFG, CFG.models["w"])
    assert set(ids(plan.candidates)) == {"a", "b"} and set(plan.origin) == {LAST_RESORT}
    assert plan.forced == {a.id, b.id}
