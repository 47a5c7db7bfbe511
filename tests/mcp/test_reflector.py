"""The route reflector: routing outcomes aggregated by a finisher and written into shared memory."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import openai
import pytest

from adaptive_gateway.config import compile_config, parse_config
from adaptive_gateway.fakes.server import FakeUpstream
from adaptive_gateway.mcp.guard import ContentGuard
from adaptive_gateway.mcp.memory_service import MemoryService
from adaptive_gateway.mcp.reflector import RouteReflector, task_type
from adaptive_gateway.memory import MemorySearch, MemoryStore
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.types import ChatRequest, ContentPart, Message, ResponseFormat, Tool, Usage
from tests.mcp.conftest import mcp_client, start_gateway
from tests.support.gateway import MASTER_KEY, openai_config


def _ctx(model: str = "gpt-test", status: int = 200, **req: object) -> RequestContext:
    config = compile_config(parse_config(openai_config("http://127.0.0.1:9")))
    ctx = RequestContext("req_" + str(time.perf_counter_ns()), "test", config, {})
    ctx.request = ChatRequest(
        model=model, messages=[Message("user", [ContentPart("text", text="hi")])], **req
    )
    ctx.deployment = config.resolve("gpt-test").deployments[0]  # type: ignore[union-attr]
    ctx.status = status
    ctx.usage = Usage(10, 5)
    ctx.cost = 0.002
    return ctx


def test_task_types() -> None:
    assert task_type(_ctx()) == "chat"
    assert task_type(_ctx(tools=[Tool("f")])) == "tools"
    assert task_type(_ctx(response_format=ResponseFormat("json_object"))) == "json"
    assert task_type(_ctx(metadata={"task_type": "summarize"})) == "summarize"
    code = _ctx()
    code.request.messages[0].content[0].text = "fix this ```py\nx=1```"  # type: ignore[union-attr]
    assert task_type(code) == "code"
    # an image anywhere in the last message makes it vision, even after a code part
    code.request.messages[0].content.append(ContentPart("image", url="https://example.com/a.png"))  # type: ignore[union-attr]
    assert task_type(code) == "vision"
    # only the last message counts
    code.request.messages.append(Message("user", [ContentPart("text", text="thanks")]))  # type: ignore[union-attr]
    assert task_type(code) == "chat"


async def test_flushes_merge_into_one_note_per_day(tmp_path: Path) -> None:
    memory = MemoryService(ContentGuard(), tmp_path / "memory")
    reflector = RouteReflector(memory, interval=0)
    ok, failed = _ctx(), _ctx(status=502)
    for ctx in (ok, _ctx(), failed):
        reflector.observe(ctx)
    assert reflector.feedback(ok.request_id, good=True) is not None
    assert reflector.feedback("req_unknown", good=False) is None
    first = await reflector.flush()
    assert first is not None and await reflector.flush() is None  # nothing new
    reflector.observe(_ctx())
    await reflector.stop()  # shutdown writes what is pending
    store = MemoryStore(tmp_path / "memory")
    note = store.read(first.id, "routing")
    (row,) = note.extra["routes"]
    assert row["model"] == "gpt-test" and row["task"] == "chat"
    assert (row["requests"], row["ok"], row["errors"], row["good"]) == (4, 3, 1, 1)
    assert row["input_tokens"] == 40 and row["cost_usd"] == pytest.approx(0.008)
    assert "## What worked" in note.body and "75% success over 4 requests" in note.body
    hits = MemorySearch(store).search("route reflections gpt-test")
    assert hits and hits[0].id == first.id


async def test_outcomes_reach_memory_while_running(
    fake_openai: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADAPTIVE_GATEWAY_REFLECT_SECONDS", "0.2")
    gw, _ = start_gateway(openai_config(fake_openai.url), tmp_path)
    try:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "hi"}])
        async with mcp_client(gw.url) as mcp:
            answer = await mcp.call_tool("gateway_complete", {"prompt": "x", "model": "gpt-test"})
            request_id = answer.structured_content["request_id"]
            rated = await mcp.call_tool("gateway_feedback", {"request_id": request_id, "rating": "good"})
            assert not rated.is_error and rated.structured_content["deployment"]
            deadline = time.monotonic() + 15
            while True:
                found = await mcp.call_tool(
                    "memory_search", {"query": "route reflections", "namespace": "routing"}
                )
                hits = found.structured_content["hits"]
                if hits:
                    note = (await mcp.call_tool("memory_read", {"id": hits[0]["id"]})).structured_content
                    if sum(r["good"] for r in note["routes"]) == 1:
                        break
                assert time.monotonic() < deadline, "no reflection written"
                await asyncio.sleep(0.2)
    finally:
        gw.stop()
    assert sum(r["requests"] for r in note["routes"]) == 2 and note["author_agent"] == "route-reflector"


def test_feedback_reaches_the_last_requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Feedback can be attributed to at least the last ``RECENT`` requests, and memory stays bounded."""
    from adaptive_gateway.mcp import reflector as module

    monkeypatch.setattr(module, "RECENT", 10)
    reflector = RouteReflector(MemoryService(ContentGuard(), tmp_path / "memory"), interval=0)
    ids = []
    for _ in range(35):
        ctx = _ctx()
        reflector.observe(ctx)
        ids.append(ctx.request_id)
    assert all(reflector.feedback(rid, good=True) is not None for rid in ids[-10:])
    assert reflector.feedback(ids[0], good=True) is None
    assert len(reflector._recent) + len(reflector._older) <= 20
