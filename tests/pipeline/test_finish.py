"""Gateway.finish: finishers run right away when nothing else is in flight, batched at the end of the
event-loop iteration under load (in order, with the latency of the moment the response was done), a
failing finisher does not stop the others, and nothing pending is lost at shutdown; plus the same
through the real server: concurrent requests each leave exactly one log line."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from adaptive_gateway.config import compile_config, parse_config
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.pipeline.gateway import Gateway
from adaptive_gateway.server.app import GatewayApp
from adaptive_gateway.server.runner import attach
from tests.support.gateway import MASTER_KEY, GatewayThread, openai_config


def gateway() -> tuple[Gateway, list[tuple[str, float]]]:
    gw = Gateway(compile_config(parse_config("models: {}", {}), {}))
    seen: list[tuple[str, float]] = []
    gw.finishers[:] = [lambda ctx: seen.append((ctx.request_id, ctx.elapsed_ms()))]
    return gw, seen


def context(gw: Gateway, rid: str) -> RequestContext:
    return RequestContext(rid, "openai_chat", gw.config, {})


async def test_nothing_else_in_flight_runs_the_finishers_at_once() -> None:
    gw, seen = gateway()
    gw.finish(context(gw, "a"))
    assert [rid for rid, _ in seen] == ["a"]


async def test_under_load_the_iterations_requests_finish_together_in_order() -> None:
    gw, seen = gateway()
    gw.inflight = 3  # other requests are still being answered
    first, second = context(gw, "a"), context(gw, "b")
    gw.finish(first)
    gw.finish(second)
    assert seen == [], "deferred to the end of the loop iteration"
    time.sleep(0.05)  # the rest of the iteration's work: not the requests' latency
    await asyncio.sleep(0)
    assert [rid for rid, _ in seen] == ["a", "b"]
    now_ms = (time.perf_counter() - first.started) * 1000
    assert now_ms - seen[0][1] >= 49.9, "the latency is the one at finish(), without the sleep"
    assert first.ended is not None and first.elapsed_ms() == seen[0][1]


async def test_the_last_request_out_runs_what_is_pending() -> None:
    gw, seen = gateway()
    gw.inflight = 1
    gw.finish(context(gw, "a"))
    gw.inflight = 0
    gw.finish(context(gw, "b"))
    assert [rid for rid, _ in seen] == ["a", "b"]
    await asyncio.sleep(0)  # the scheduled run finds nothing left
    assert len(seen) == 2


async def test_a_failing_finisher_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gw, seen = gateway()

    def broken(ctx: RequestContext) -> None:
        raise RuntimeError("a bug in a finisher")

    gw.finishers.insert(0, broken)
    gw.inflight = 2
    gw.finish(context(gw, "a"))
    gw.finish(context(gw, "b"))
    with caplog.at_level(logging.ERROR, logger="adaptive_gateway"):
        await asyncio.sleep(0)
    assert [rid for rid, _ in seen] == ["a", "b"]
    failed = [r.getMessage() for r in caplog.records if r.exc_info]
    assert len(failed) == 2 and failed[1].endswith("failed for request b"), failed


async def test_each_request_sees_the_finishers_in_their_order() -> None:
    gw, _ = gateway()
    calls: list[str] = []
    gw.finishers[:] = [lambda ctx, n=n: calls.append(f"{n}{ctx.request_id}") for n in ("1", "2", "3")]
    gw.inflight = 2
    gw.finish(context(gw, "a"))
    gw.finish(context(gw, "b"))
    await asyncio.sleep(0)
    assert sorted(calls) == ["1a", "1b", "2a", "2b", "3a", "3b"]
    for rid in "ab":
        mine = [c for c in calls if c.endswith(rid)]
        assert mine == [f"1{rid}", f"2{rid}", f"3{rid}"]


async def test_closing_runs_what_is_pending() -> None:
    gw, seen = gateway()
    gw.inflight = 1
    gw.finish(context(gw, "a"))
    await gw.close()  # without a loop iteration in between
    assert [rid for rid, _ in seen] == ["a"]


def test_without_a_loop_the_finishers_run_at_once() -> None:
    gw, seen = gateway()
    gw.inflight = 1
    gw.finish(context(gw, "a"))
    assert [rid for rid, _ in seen] == ["a"]


async def test_the_server_says_when_other_requests_are_being_answered() -> None:
    gw, seen = gateway()
    app = GatewayApp(gw)
    server = uvicorn.Server(uvicorn.Config(app))
    attach(app, server)
    loop = asyncio.get_running_loop()
    tasks = [loop.create_future() for _ in range(2)]
    server.server_state.tasks.add(tasks[0])  # type: ignore[arg-type]  # this request's own task
    assert not gw.busy()
    gw.finish(context(gw, "alone"))
    assert [rid for rid, _ in seen] == ["alone"]
    server.server_state.tasks.add(tasks[1])  # type: ignore[arg-type]  # another request
    assert gw.busy()
    gw.finish(context(gw, "with another"))
    assert len(seen) == 1
    await asyncio.sleep(0)
    assert [rid for rid, _ in seen] == ["alone", "with another"]


async def test_concurrent_requests_each_leave_one_log_line(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    log = tmp_path / "requests.log"
    text = openai_config(fake_openai.url).replace(
        "request_log: false", f'request_log: true, request_log_file: "{log}"'
    )
    fake_openai.knobs.latency_ms = 50  # so the requests overlap
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    with GatewayThread(text, tmp_path) as gw:
        async with httpx.AsyncClient(base_url=gw.url, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as c:
            answers = await asyncio.gather(*[c.post("/v1/chat/completions", json=body) for _ in range(24)])
            assert {r.status_code for r in answers} == {200}
            ids = {r.headers["x-request-id"] for r in answers}
            stats = (await c.get("/api/stats")).json()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    chats = [r for r in lines if r["route"] == "openai_chat"]
    assert sorted(r["request_id"] for r in chats) == sorted(ids)
    assert all(r["latency_ms"] >= 50 for r in chats)
    assert stats["recorded_requests"] >= 24
