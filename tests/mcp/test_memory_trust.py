"""Memory items' trust levels as context sources: what an MCP client reads through the gateway's memory
tools raises that same key's next LLM requests (routed local or blocked), never another key's; and a
request may name memory items without a level. Hosted and local fakes, asserted on what they got."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adaptive_gateway.fakes.server import FakeUpstream
from tests.mcp.conftest import AgentKey, mcp_client, start_gateway
from tests.mcp.test_mcp_agents import call
from tests.support.gateway import MASTER_KEY, GatewayThread
from tests.trust.pipeline_support import trust_config

SECRET_PLAN = "Q3 plan: acquire Contoso at 41 per share"  # what must not reach the hosted fake


class Env:
    def __init__(self, gateway: GatewayThread, agent: AgentKey, cloud: FakeUpstream, box: FakeUpstream):
        self.gateway, self.agent, self.cloud, self.box = gateway, agent, cloud, box

    async def chat(self, key: str, model: str, text: str, **headers: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.gateway.url, timeout=10) as http:
            return await http.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {key}", **headers},
                json={"model": model, "messages": [{"role": "user", "content": text}]},
            )

    def receipt(self, rid: str) -> dict[str, Any]:
        deadline = time.monotonic() + 5
        while True:
            resp = httpx.get(
                f"{self.gateway.url}/api/receipts/{rid}", headers={"authorization": f"Bearer {MASTER_KEY}"}
            )
            if resp.status_code == 200:
                found: dict[str, Any] = resp.json()
                return found
            assert time.monotonic() < deadline, resp.text
            time.sleep(0.02)


@pytest.fixture
def env(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Env]:
    trust = getattr(request, "param", "")
    cloud = FakeUpstream("openai").start_in_thread()
    box = FakeUpstream("openai").start_in_thread()
    try:
        gateway, agent = start_gateway(trust_config(cloud.url, box.url, trust), tmp_path)
        try:
            yield Env(gateway, agent, cloud, box)
        finally:
            gateway.stop()
    finally:
        cloud.stop_thread()
        box.stop_thread()


async def write_items(env: Env) -> tuple[str, str]:
    async with mcp_client(env.gateway.url, MASTER_KEY) as client:
        plan = await call(
            client, "memory_write", title="Q3 plan", body=SECRET_PLAN, trust_level="confidential"
        )
        notes = await call(
            client, "memory_write", title="Style guide", body="Use short words.", trust_level="public"
        )
    return plan["id"], notes["id"]


async def test_a_confidential_item_read_over_mcp_keeps_that_keys_requests_local(env: Env) -> None:
    plan, notes = await write_items(env)  # writing hands nothing out
    assert (await env.chat(MASTER_KEY, "smart", "hi")).headers["x-adaptive-provider"] == "cloud"

    async with mcp_client(env.gateway.url, MASTER_KEY) as client:
        await call(client, "memory_read", id=notes)
        assert (await env.chat(MASTER_KEY, "smart", "hi")).headers["x-adaptive-provider"] == "cloud"
        read = await call(client, "memory_read", id=plan)
        assert read["body"] == SECRET_PLAN and read["trust_level"] == "confidential"

    resp = await env.chat(MASTER_KEY, "smart", f"summarize this: {SECRET_PLAN}")
    assert resp.status_code == 200 and resp.headers["x-adaptive-provider"] == "box"
    receipt = env.receipt(resp.headers["x-adaptive-receipt"])
    trust = receipt["trust"]
    assert trust["level"] == "confidential" and trust["verdict"]["kind"] == "route_local"
    assert trust["sources"] == {f"memory:{plan}": "confidential", f"memory:{notes}": "public"}
    assert f"source memory:{plan} tagged confidential" in trust["reasons"]
    assert f"memory:{plan}" in receipt["used"]["sources"]

    blocked = await env.chat(MASTER_KEY, "cloud-only", "and now?")  # no local deployment to take it
    assert blocked.status_code == 403 and blocked.json()["error"]["code"] == "trust_policy"
    assert f"source memory:{plan} tagged confidential" in blocked.json()["error"]["message"]

    other = await env.chat(env.agent.key, "smart", "hi")  # another key read nothing
    assert other.headers["x-adaptive-provider"] == "cloud"
    assert SECRET_PLAN not in json.dumps([r.json for r in env.cloud.received])
    assert len(env.box.received) == 1


async def test_search_hits_count_too_and_named_items_are_looked_up(env: Env) -> None:
    plan, _ = await write_items(env)
    async with mcp_client(env.gateway.url, env.agent.key, name="agent-b") as client:
        hits = (await call(client, "memory_search", query="Contoso"))["hits"]
    assert [h["id"] for h in hits] == [plan]  # the snippet of a confidential item is now in its context
    assert (await env.chat(env.agent.key, "smart", "hi")).headers["x-adaptive-provider"] == "box"

    named = await env.chat(MASTER_KEY, "smart", "hi", **{"x-context-sources": f"memory:{plan}"})
    assert named.headers["x-adaptive-provider"] == "box"  # the master key read nothing: the name did it
    sources = env.receipt(named.headers["x-adaptive-receipt"])["trust"]["sources"]
    assert sources == {f"memory:{plan}": "confidential"}
    unknown = await env.chat(MASTER_KEY, "smart", "hi", **{"x-context-sources": "memory:nope"})
    assert unknown.status_code == 400
    assert "'memory:nope': no such memory item; give its level (memory:nope=<level>)" in unknown.text
    explicit = await env.chat(MASTER_KEY, "smart", "hi", **{"x-context-sources": "memory:nope=public"})
    assert explicit.headers["x-adaptive-provider"] == "cloud"


@pytest.mark.parametrize("env", ["  memory: {reads_ttl_seconds: 0}\n"], indirect=True)
async def test_reads_do_not_count_with_a_zero_ttl(env: Env) -> None:
    plan, _ = await write_items(env)
    async with mcp_client(env.gateway.url, MASTER_KEY) as client:
        await call(client, "memory_read", id=plan)
    assert (await env.chat(MASTER_KEY, "smart", "hi")).headers["x-adaptive-provider"] == "cloud"


async def test_a_read_on_one_worker_counts_on_another(env: Env, tmp_path: Path) -> None:
    """Two gateways on one home (as the workers of one `start --workers 2`): a confidential item read over
    MCP on the first keeps the same key's chat on the second away from the hosted provider."""
    plan, _ = await write_items(env)
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = GatewayThread(env.gateway.config_path.read_text(), second_dir).start()
    try:
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as http:
            before = await http.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {MASTER_KEY}"},
                json={"model": "smart", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert before.headers["x-adaptive-provider"] == "cloud"
            async with mcp_client(env.gateway.url, MASTER_KEY) as client:
                await call(client, "memory_read", id=plan)
            after = await http.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {MASTER_KEY}"},
                json={"model": "smart", "messages": [{"role": "user", "content": SECRET_PLAN}]},
            )
        assert after.status_code == 200 and after.headers["x-adaptive-provider"] == "box"
        assert SECRET_PLAN not in json.dumps([r.json for r in env.cloud.received])
    finally:
        second.stop()


async def test_resource_reads_and_handoffs_count_too(env: Env) -> None:
    """Memory reached as an MCP resource, or as a handoff, raises the key's next requests like
    memory_read does."""
    plan, _ = await write_items(env)
    async with mcp_client(env.gateway.url, env.agent.key, name="agent-b") as client:
        text = (await client.read_resource(f"memory://default/note/{plan}")).contents[0].text
    assert SECRET_PLAN in text
    resp = await env.chat(env.agent.key, "smart", "hi")
    assert resp.headers["x-adaptive-provider"] == "box"
    sources = env.receipt(resp.headers["x-adaptive-receipt"])["trust"]["sources"]
    assert sources == {f"memory:{plan}": "confidential"}

    async with mcp_client(env.gateway.url, MASTER_KEY) as client:
        created = await call(
            client,
            "handoff_create",
            goal=f"finish the deal memo: {SECRET_PLAN}",
            to_agent="codex",
            trust_level="secret",
            agent="claude",
        )
    assert (await env.chat(MASTER_KEY, "smart", "hi")).headers["x-adaptive-provider"] == "cloud"  # created
    async with mcp_client(env.gateway.url, MASTER_KEY) as client:
        listed = (await call(client, "handoff_list", to_agent="codex"))["handoffs"]
    assert [h["id"] for h in listed] == [created["id"]]
    after = await env.chat(MASTER_KEY, "smart", "hi")
    assert after.headers["x-adaptive-provider"] == "box"
    sources = env.receipt(after.headers["x-adaptive-receipt"])["trust"]["sources"]
    assert sources == {f"memory:{created['id']}": "secret"}
    assert SECRET_PLAN not in json.dumps([r.json for r in env.cloud.received])


async def test_a_memory_read_ends_the_recall_of_a_cached_repeat(env: Env) -> None:
    """A cached answer's byte-identical repeats skip the trust scan (cache/recall.py) only while nothing
    the classification depends on changed: a confidential item read over MCP sends the next repeat
    through the full classification, away from the cache and the hosted provider."""
    plan, _ = await write_items(env)
    body = json.dumps({"model": "smart", "messages": [{"role": "user", "content": "hi"}], "temperature": 0})

    async def repeat() -> httpx.Response:
        async with httpx.AsyncClient(base_url=env.gateway.url, timeout=10) as http:
            return await http.post(
                "/v1/chat/completions",
                content=body,
                headers={"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"},
            )

    def recalled() -> int:
        stats = httpx.get(
            env.gateway.url + "/api/cache?limit=0", headers={"authorization": f"Bearer {MASTER_KEY}"}
        ).json()["stats"]
        count: int = stats["recalled"]
        return count

    first = await repeat()
    assert first.headers["x-cache"] == "miss" and first.headers["x-adaptive-provider"] == "cloud"
    deadline = time.monotonic() + 5
    while (hit := await repeat()).headers["x-cache"] != "hit":
        assert time.monotonic() < deadline, "the answer was never stored"
        await asyncio.sleep(0.02)
    assert (await repeat()).headers["x-cache"] == "hit" and recalled() == 1

    async with mcp_client(env.gateway.url, MASTER_KEY) as client:
        await call(client, "memory_read", id=plan)
    after = await repeat()
    assert after.status_code == 200 and recalled() == 1
    assert after.headers["x-cache"] != "hit" and after.headers["x-adaptive-provider"] == "box"
    trust = env.receipt(after.headers["x-adaptive-receipt"])["trust"]
    assert trust["level"] == "confidential" and f"memory:{plan}" in trust["sources"]
    assert hit.headers["x-adaptive-receipt"] != after.headers["x-adaptive-receipt"]
