"""Two simulated agents (two MCP sessions, two keys) sharing one memory and handing work over."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

from adaptive_gateway.memory import MemoryItem, MemoryStore, MemorySync, default_root
from mcp import Client
from tests.mcp.conftest import AgentKey, Connect


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def test_two_agents_share_memory(connect: Connect, agent_key: AgentKey) -> None:
    async with (
        connect(name="claude-code", headers={"X-Adaptive-Agent": "claude"}) as claude,
        connect(agent_key.key, name="codex") as codex,
    ):
        decision = await call(
            claude,
            "memory_record_decision",
            title="Use Redis for breakers",
            decision="Breakers live in Redis.",
            reasons=["shared by replicas"],
            namespace="gw",
            tags=["routing"],
        )
        hits = (await call(codex, "memory_search", query="redis breakers", namespace="gw"))["hits"]
        assert hits and hits[0]["id"] == decision["id"]
        read = await call(codex, "memory_read", id=decision["id"])
        assert read["author_agent"] == "claude" and "shared by replicas" in read["body"]

        # both append to one session log at once: no entry is lost
        writes = [
            call(
                agent, "memory_append_session", session_id="pairing", text=f"{name} step {i}", namespace="gw"
            )
            for i in range(4)
            for agent, name in ((claude, "claude"), (codex, "codex"))
        ]
        await asyncio.gather(*writes)
        log = await call(claude, "memory_read", id="pairing", namespace="gw")
        for i in range(4):
            assert f"claude step {i}" in log["body"] and f"codex step {i}" in log["body"]

        task = await call(
            codex, "memory_record_task", title="Bench the breaker", assignee="claude", namespace="gw"
        )
        done = await call(claude, "memory_record_task", id=task["id"], status="done")
        assert task["status"] == "open" and done["status"] == "done"
        note = await call(codex, "memory_write", title="Codex note", body="Plain note.", tags=["x"])
        assert note["author_agent"] == "codex" and note["type"] == "note"


async def test_handoff_between_agents(connect: Connect, agent_key: AgentKey) -> None:
    async with connect(name="claude-code") as claude, connect(agent_key.key, name="codex") as codex:
        created = await call(
            claude,
            "handoff_create",
            agent="claude",
            to_agent="codex",
            goal="Finish the Redis breaker backend",
            current_state="Interface done.",
            decisions=[{"decision": "Use Lua", "reason": "atomic transitions"}],
            open_tasks=["half-open probe"],
            files_touched=["src/state/redis.py"],
            resume_commands=["make test"],
        )
        assert created["status"] == "open" and created["from_agent"] == "claude"
        waiting = (await call(codex, "handoff_list", mine=True, status="open"))["handoffs"]
        assert [h["id"] for h in waiting] == [created["id"]]
        assert waiting[0]["decisions"] == [{"decision": "Use Lua", "reason": "atomic transitions"}]

        stolen = await claude.call_tool("handoff_accept", {"id": created["id"], "agent": "claude"})
        assert stolen.is_error and "addressed to 'codex'" in stolen.content[0].text

        accepted = await call(codex, "handoff_accept", id=created["id"])
        assert accepted["status"] == "accepted" and accepted["accepted_by"] == "codex"
        completed = await call(
            codex, "handoff_complete", id=created["id"], summary="Probe written, tests pass."
        )
        assert completed["status"] == "completed"
        seen = (await call(claude, "handoff_list", from_agent="claude", status="completed"))["handoffs"]
        assert seen[0]["outcome"] == "Probe written, tests pass." and seen[0]["closed_by"] == "codex"
        markdown = (await claude.read_resource(f"memory://default/handoff/{created['id']}")).contents[0].text
        assert "## Goal" in markdown and "Finish the Redis breaker backend" in markdown


async def test_secrets_stay_out_of_shared_memory(connect: Connect, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    key = "AKIA" + "IOSFODNN7" + "REALKEY"
    async with connect(name="codex") as codex:
        refused = await codex.call_tool("memory_write", {"title": "creds", "body": f"aws key {key}"})
        assert refused.is_error and "secret" in refused.content[0].text
        assert key not in refused.content[0].text  # the value is never echoed
        await call(codex, "memory_write", title="Clean note", body="nothing sensitive")
        store = MemoryStore(default_root(), author="person")
        MemorySync(store).add_remote("origin", str(remote))
        pushed = await call(codex, "memory_push")
        assert pushed["pushed"]
        # a person plants a secret outside MCP; push must refuse and send nothing
        store.write(MemoryItem.new("note", "planted", f"key={key}"), author="person")
        before = subprocess.run(
            ["git", "-C", str(remote), "rev-parse", "main"], capture_output=True, text=True
        )
        blocked = await codex.call_tool("memory_push", {})
        after = subprocess.run(
            ["git", "-C", str(remote), "rev-parse", "main"], capture_output=True, text=True
        )
        pulled = await call(codex, "memory_pull")
    assert blocked.is_error and "secret" in blocked.content[0].text
    problems = blocked.structured_content["error"]["problems"]
    assert problems and problems[0]["path"].startswith("default/notes/planted-")
    assert before.stdout == after.stdout
    assert pulled["remote"] == "origin"
