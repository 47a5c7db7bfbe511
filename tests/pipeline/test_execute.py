"""The executor against real fake upstreams: retries with backoff and Retry-After (recorded, not slept),
failover, deadlines, content-policy and context-length fallbacks, breakers and filters."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adaptive_gateway.errors import AllAttemptsFailed, GatewayError, ServiceUnavailable
from adaptive_gateway.fakes import FakeUpstream, Knobs
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.routing.breaker import OPEN
from tests.pipeline.execute_support import PolicyServer, Sleeps, context, make_gateway, provider
from tests.routing.support import FakeClock


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeUpstream, FakeUpstream]]:
    async with FakeUpstream("openai") as a, FakeUpstream("openai") as b:
        yield a, b


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def two(a: str, b: str, model_extra: str = "", read: float = 3) -> str:
    return f"""
providers:
{provider("a", a, read)}{provider("b", b, read)}
models:
  m:
    deployments: [{{provider: a, model: ma, weight: 100}}, {{provider: b, model: mb, weight: 1}}]
    retry: {{backoff_base: 0.4, backoff_max: 10}}
{model_extra}
"""


def one(a: str, model_extra: str = "") -> str:
    return f"""
providers:
{provider("a", a)}
models:
  m:
    deployments: [{{provider: a, model: ma}}]
    retry: {{backoff_base: 0.4, backoff_max: 10}}
{model_extra}
"""


@pytest.fixture
async def gateways() -> AsyncIterator[list[Gateway]]:
    made: list[Gateway] = []
    yield made
    for gw in made:
        await gw.close()


def build(gateways: list[Gateway], config: str, clock: FakeClock, sleeps: Sleeps) -> Gateway:
    gw = make_gateway(config, clock, sleeps)
    gateways.append(gw)
    return gw


async def test_500_burst_retried_with_exponential_backoff(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    a, _ = fakes
    a.knobs = Knobs(status=500, fail_times=2)
    gw = build(gateways, one(a.url), clock, sleeps)
    ctx = context(gw)
    resp = await gw.complete(ctx)
    assert resp.raw is not None and resp.raw["choices"][0]["message"]["content"]
    assert len(a.received) == 3 and len(ctx.attempts) == 2
    first, second = sleeps.delays
    assert 0.2 <= first <= 0.4 and 0.4 <= second <= 0.8  # base 0.4, doubling, equal jitter
    assert (b"x-adaptive-retries", b"2") in ctx.extra_headers


@pytest.mark.parametrize(("knobs", "wait"), [({"retry_after": 3}, 3.0), ({"retry_after_ms": 1500}, 1.5)])
async def test_retry_after_is_honoured(
    fakes: tuple[FakeUpstream, FakeUpstream],
    gateways: list[Gateway],
    clock: FakeClock,
    sleeps: Sleeps,
    knobs: dict[str, float],
    wait: float,
) -> None:
    a, _ = fakes
    a.knobs = Knobs(status=429, fail_times=1, **knobs)  # type: ignore[arg-type]
    gw = build(gateways, one(a.url), clock, sleeps)
    await gw.complete(context(gw))
    assert sleeps.delays == [pytest.approx(wait, abs=0.05)]
    assert (
        gw.executor.router.state(gw.config.models["m"].deployments[0]).health.cool_until == clock.now + wait
    )


async def test_retry_after_longer_than_allowed_is_not_waited_for(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    a, _ = fakes
    a.knobs = Knobs(status=429, retry_after=60)
    gw = build(gateways, one(a.url), clock, sleeps)
    with pytest.raises(GatewayError) as info:
        await gw.complete(context(gw))
    assert info.value.status == 429 and info.value.headers["retry-after"] == "60"
    assert sleeps.delays == [] and len(a.received) == 1


async def test_client_errors_are_not_retried(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    a, b = fakes
    a.knobs = Knobs(status=400)
    gw = build(gateways, two(a.url, b.url), clock, sleeps)
    with pytest.raises(GatewayError) as info:
        await gw.complete(context(gw))
    assert info.value.status == 400
    assert len(a.received) == 1 and len(b.received) == 0 and sleeps.delays == []


async def test_failover_is_immediate(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    a, b = fakes
    a.knobs = Knobs(status=503)
    gw = build(gateways, two(a.url, b.url), clock, sleeps)
    ctx = context(gw)
    await gw.complete(ctx)
    assert ctx.deployment is not None and ctx.deployment.provider.name == "b"
    assert ctx.fallbacks == 1 and sleeps.delays == []


async def test_all_failing_lists_every_attempt(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    a, b = fakes
    a.knobs, b.knobs = Knobs(status=500), Knobs(status=503)
    gw = build(gateways, two(a.url, b.url, "    breaker: {failure_threshold: 50}"), clock, sleeps)
    with pytest.raises(AllAttemptsFailed) as info:
        await gw.complete(context(gw))
    err = info.value
    assert [x.status for x in err.attempts] == [500, 503] * 3  # a pass over both, then 2 retry passes
    assert err.status == 503 and "m#0:a/ma" in err.message and "m#1:b/mb" in err.message  # last status kept
    assert len(sleeps.delays) == 2  # one backoff before each retry pass (both wait the same)


async def test_attempt_deadline_moves_on_from_a_hanging_deployment(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    a, b = fakes
    a.knobs = Knobs(hang=True)
    gw = build(gateways, two(a.url, b.url, "    retry: {attempt_timeout: 0.2}"), clock, sleeps)
    ctx = context(gw)
    await gw.complete(ctx)
    assert ctx.deployment is not None and ctx.deployment.provider.name == "b"
    assert "attempt deadline" in ctx.attempts[0].error
    assert gw.executor.router.state(gw.config.models["m"].deployments[0]).health.errors == {"timeout": 1}


async def test_total_deadline_bounds_all_attempts(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    a, b = fakes
    a.knobs = b.knobs = Knobs(latency_ms=2000)
    gw = build(gateways, two(a.url, b.url, "    retry: {total_timeout: 0.3}"), clock, sleeps)
    with pytest.raises(GatewayError) as info:
        await gw.complete(context(gw))
    assert info.value.status == 504
    assert "total deadline" in info.value.message


async def test_open_breaker_skips_without_a_call(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    a, b = fakes
    a.knobs = Knobs(status=500)
    gw = build(gateways, two(a.url, b.url), clock, sleeps)
    for _ in range(8):
        await gw.complete(context(gw))
    dep_a = gw.config.models["m"].deployments[0]
    assert gw.executor.router.state(dep_a).breaker.state == OPEN
    assert len(a.received) == 5 and len(b.received) == 8
    a.knobs = Knobs()  # recovered, but the breaker holds until its open period ends
    await gw.complete(context(gw))
    assert len(a.received) == 5
    clock.advance(300 * 1.1 + 1)
    breaker = gw.executor.router.state(dep_a).breaker
    for _ in range(30):  # three probes close it (a request may still go to b: weighted, health-scaled)
        await gw.complete(context(gw))
        if breaker.name == "closed":
            break
    assert breaker.name == "closed" and len(a.received) == 8


async def test_filters_apply_to_fallbacks(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    a, b = fakes
    a.knobs = Knobs(status=500)
    gw = build(gateways, two(a.url, b.url), clock, sleeps)
    gw.filters.append(lambda ctx: lambda dep: "trust level forbids b" if dep.provider.name == "b" else None)
    with pytest.raises(GatewayError):
        await gw.complete(context(gw))
    assert len(b.received) == 0


async def test_only_open_breakers_left_are_tried_anyway(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    a, _ = fakes
    a.knobs = Knobs(status=500, fail_times=5)
    gw = build(gateways, one(a.url, "    retry: {retries: 0}"), clock, sleeps)
    for _ in range(5):
        with pytest.raises(GatewayError):
            await gw.complete(context(gw))
    # the only deployment's breaker is open: a single-deployment model keeps trying it
    await gw.complete(context(gw))
    assert len(a.received) == 6


FALLBACK_MODELS = """
providers:
{p}{b}
models:
  m:
    deployments: [{{provider: p, model: guarded}}, {{provider: p, model: guarded-2}}]
    fallbacks: [n]
  n: {{deployments: [{{provider: b, model: nb}}]}}
"""


@pytest.mark.parametrize("answer", ["safety", "filtered"])
async def test_content_policy_falls_back_to_another_model(
    fakes: tuple[FakeUpstream, FakeUpstream],
    gateways: list[Gateway],
    clock: FakeClock,
    sleeps: Sleeps,
    answer: str,
) -> None:
    _, b = fakes
    async with PolicyServer(answer) as guarded:
        cfg = FALLBACK_MODELS.format(p=provider("p", guarded.url), b=provider("b", b.url))
        gw = build(gateways, cfg, clock, sleeps)
        ctx = context(gw)
        await gw.complete(ctx)
        assert guarded.hits == 1  # the model's other deployment is skipped: same model, same policy
        assert ctx.deployment is not None and ctx.deployment.model_name == "n"
        assert (b"x-adaptive-model", b"n") in ctx.extra_headers


async def test_filtered_answer_returned_when_no_other_model(
    gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    async with PolicyServer("filtered") as guarded:
        gw = build(gateways, one(guarded.url), clock, sleeps)
        resp = await gw.complete(context(gw))
        assert resp.raw is not None and resp.raw["choices"][0]["finish_reason"] == "content_filter"


CONTEXT_MODELS = """
providers:
{p}{b}
models:
  m: {{deployments: [{{provider: p, model: small}}], context_fallback: big}}
  big: {{deployments: [{{provider: b, model: big, context_window: 200000}}]}}
"""


async def test_context_length_error_uses_the_context_fallback(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    _, b = fakes
    async with PolicyServer("toolong") as small:
        cfg = CONTEXT_MODELS.format(p=provider("p", small.url), b=provider("b", b.url))
        gw = build(gateways, cfg, clock, sleeps)
        ok = context(gw)
        await gw.complete(ok)
        assert ok.deployment is not None and ok.deployment.model_name == "big" and small.hits == 1


async def test_context_fallback_not_used_for_other_failures(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    a, b = fakes
    a.knobs = Knobs(status=503)
    cfg = CONTEXT_MODELS.format(p=provider("p", a.url), b=provider("b", b.url))
    gw = build(
        gateways, cfg.replace("{provider: p, model: small}", "{provider: p, model: small}"), clock, sleeps
    )
    with pytest.raises(GatewayError) as info:
        await gw.complete(context(gw))
    assert info.value.status == 503 and len(b.received) == 0


async def test_no_candidates_explains_why(
    fakes: tuple[FakeUpstream, FakeUpstream], gateways: list[Gateway], clock: FakeClock, sleeps: Sleeps
) -> None:
    a, b = fakes
    gw = build(gateways, two(a.url, b.url), clock, sleeps)
    gw.filters.append(lambda ctx: lambda dep: "not at this trust level")
    with pytest.raises(ServiceUnavailable) as info:
        await gw.complete(context(gw))
    assert "m#0:a/ma: skipped (not at this trust level)" in info.value.message
