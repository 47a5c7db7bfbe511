"""The breaker state machine and the router's hooks, on a hand-moved clock: no sleeps."""

from __future__ import annotations

import pytest

from adaptive_gateway.config.schema import BreakerConfig
from adaptive_gateway.errors import UpstreamError, UpstreamUnreachable
from adaptive_gateway.routing.breaker import ALLOW, CLOSED, DENY, HALF_OPEN, OPEN, PROBE, Breaker
from adaptive_gateway.routing.retry import classify
from adaptive_gateway.routing.router import Router
from tests.routing.support import FakeClock, compiled

POLICY = BreakerConfig()  # 5 consecutive failures, 300 s open (+ up to 10 %), 3 probes to close


def trip(br: Breaker, now: float, n: int = 5, u: float = 0.0) -> None:
    for _ in range(n):
        br.failure(now, POLICY, u)


def test_opens_after_threshold_consecutive_failures() -> None:
    br = Breaker()
    trip(br, 0.0, 4)
    assert br.state == CLOSED and br.gate(0.0) == ALLOW
    br.success(POLICY)  # a success resets the count
    trip(br, 0.0, 4)
    assert br.state == CLOSED
    assert br.failure(0.0, POLICY, 0.0) is True
    assert br.state == OPEN and br.trips == 1


def test_open_period_with_jitter_then_one_probe_at_a_time() -> None:
    br = Breaker()
    trip(br, 1000.0, u=0.5)  # jitter draw 0.5 -> 300 * 1.05
    assert br.open_until == pytest.approx(1315.0)
    assert br.gate(1314.9) == DENY
    assert br.gate(1315.0) == PROBE
    assert br.take_probe(1315.0, POLICY) is True
    assert br.state == HALF_OPEN
    assert br.gate(1315.0) == DENY  # the probe slot is held
    assert br.take_probe(1316.0, POLICY) is False


def test_closes_after_three_successful_probes() -> None:
    br = Breaker()
    trip(br, 0.0)
    now = br.open_until
    for i in range(3):
        assert br.take_probe(now, POLICY) is True
        changed = br.success(POLICY)
        assert changed is (i == 2)
    assert br.state == CLOSED and br.failures == 0 and br.gate(now) == ALLOW


def test_failed_probe_reopens_for_a_new_period() -> None:
    br = Breaker()
    trip(br, 0.0)
    now = br.open_until + 1
    assert br.take_probe(now, POLICY)
    br.success(POLICY)
    assert br.take_probe(now, POLICY)
    assert br.failure(now, POLICY, 0.0) is True
    assert br.state == OPEN and br.open_until == pytest.approx(now + 300) and br.trips == 2


def test_probe_slot_expires_when_its_request_never_reports() -> None:
    br = Breaker()
    trip(br, 0.0)
    now = br.open_until
    assert br.take_probe(now, POLICY)
    assert br.gate(now + POLICY.probe_timeout - 1) == DENY
    assert br.gate(now + POLICY.probe_timeout) == PROBE
    br.release()
    assert br.gate(now) == PROBE


CONFIG = """
providers: {p: {kind: ollama-openai}, q: {kind: ollama-openai}}
models:
  m:
    deployments: [{provider: p, model: x}, {provider: q, model: y}]
    breaker: {failure_threshold: 100, failure_rate: 0.5, window: 60, min_requests: 10}
  n:
    deployments: [{provider: p, model: z}]
    breaker: {enabled: false}
"""


def test_failure_rate_over_the_window_opens_it(clock: FakeClock) -> None:
    cfg = compiled(CONFIG)
    router = Router(clock)
    dep = cfg.models["m"].deployments[0]
    st = router.state(dep)
    err = UpstreamError("boom", status=500)
    for i in range(12):  # alternate: a rate of 0.5, never 100 in a row
        if i % 2:
            router.failed(dep, st, classify(err), err)
        else:
            router.succeeded(dep, st, 10.0)
        clock.advance(1)
    assert st.breaker.state == OPEN
    # outside the window the old failures no longer count
    assert st.health.window(clock.now + 120) == (0, 0)


def test_rate_limits_and_client_errors_do_not_count(clock: FakeClock) -> None:
    cfg = compiled(CONFIG.replace("failure_threshold: 100", "failure_threshold: 2"))
    router = Router(clock)
    dep = cfg.models["m"].deployments[0]
    st = router.state(dep)
    limited = UpstreamError("slow down", status=429, headers={"retry-after": "7"})
    bad = UpstreamError("bad", status=400)
    for err in (limited, bad, limited, bad):
        router.failed(dep, st, classify(err), err)
    assert st.breaker.state == CLOSED
    assert st.health.cool_until == pytest.approx(clock.now + 7)
    assert st.health.errors == {"rate_limit": 2, "client": 2}
    unreachable = UpstreamUnreachable("refused")
    router.failed(dep, st, classify(unreachable), unreachable)
    router.failed(dep, st, classify(unreachable), unreachable)
    assert st.breaker.state == OPEN


def test_disabled_breaker_never_opens(clock: FakeClock) -> None:
    cfg = compiled(CONFIG)
    router = Router(clock)
    dep = cfg.models["n"].deployments[0]
    st = router.state(dep)
    err = UpstreamUnreachable("refused")
    for _ in range(50):
        router.failed(dep, st, classify(err), err)
    assert router.gate(dep, st) == ALLOW


async def test_router_schedule_open_probe_close(clock: FakeClock) -> None:
    cfg = compiled(CONFIG.replace("failure_threshold: 100", "failure_threshold: 5"))
    router = Router(clock)
    dep = cfg.models["m"].deployments[0]
    st = router.state(dep)
    err = UpstreamUnreachable("refused")
    for _ in range(5):
        router.failed(dep, st, classify(err), err)
    assert router.gate(dep, st) == DENY
    clock.advance(299)
    assert router.gate(dep, st) == DENY
    clock.advance(300 * 0.1 + 1.01)  # past the longest jitter
    assert router.gate(dep, st) == PROBE
    for _ in range(3):
        assert await router.take_probe(dep, st)
        router.succeeded(dep, st, 5.0)
    assert st.breaker.state == CLOSED
