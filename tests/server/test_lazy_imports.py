"""A worker that only proxies model traffic never imports the admin API (FastAPI), the MCP SDK,
Alembic or aiohttp; the first request to ``/api`` or ``/mcp`` loads them and is served normally.

Run in a fresh interpreter (this test process has imported everything already)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.gateway import MASTER_KEY, openai_config

SCRIPT = r"""
import asyncio, json, sys
from pathlib import Path
from adaptive_gateway.server.app import create_app

HEAVY = ("fastapi", "mcp", "alembic", "aiohttp", "jsonschema")
app = create_app(Path(sys.argv[1]))
KEY = sys.argv[2]

async def call(method, path, body=b"", headers=()):
    sent, got = [], []
    async def receive():
        if sent:
            await asyncio.sleep(3600)
        sent.append(1)
        return {"type": "http.request", "body": body, "more_body": False}
    async def send(msg):
        got.append(msg)
    hdrs = [(b"authorization", b"Bearer " + KEY.encode()), (b"host", b"gw"), *headers]
    if body:
        hdrs.append((b"content-type", b"application/json"))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": hdrs, "client": ("127.0.0.1", 5000), "server": ("gw", 80),
             "state": {}}
    await asyncio.wait_for(app(scope, receive, send), 30)
    return got[0]["status"]

def loaded():
    return sorted(m for m in HEAVY if m in sys.modules)

async def main():
    q = asyncio.Queue()
    await q.put({"type": "lifespan.startup"})
    out = []
    async def send(m): out.append(m)
    lifespan = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    life = asyncio.create_task(app(lifespan, q.get, send))
    while not out:
        await asyncio.sleep(0.01)
    assert out[0]["type"] == "lifespan.startup.complete", out
    report = {}
    chat = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}).encode()
    report["chat_status"] = await call("POST", "/v1/chat/completions", chat)
    report["models_status"] = await call("GET", "/v1/models")
    report["after_proxy"] = loaded()
    report["api_status"] = await call("GET", "/api/keys")
    report["after_api"] = loaded()
    init = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}}).encode()
    accept = [(b"accept", b"application/json, text/event-stream")]
    report["mcp_status"] = await call("POST", "/mcp", init, accept)
    report["after_mcp"] = loaded()
    await q.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(life, 30)
    print(json.dumps(report))

asyncio.run(main())
"""


def test_proxy_worker_stays_lean_and_loads_admin_and_mcp_on_first_use(tmp_path: Path) -> None:
    # an upstream nobody listens on: the chat request fails (502) but runs the whole pipeline
    config = tmp_path / "config.yaml"
    config.write_text(openai_config("http://127.0.0.1:9"))
    env = {"ADAPTIVE_GATEWAY_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    # migrate first, as `adaptive-llm-gateway start` does, so the serving process has no schema work
    pre = "from adaptive_gateway.store.premigrate import upgrade_in_child; upgrade_in_child(None)"
    subprocess.run([sys.executable, "-c", pre], env=env, check=True, timeout=60)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(config), MASTER_KEY],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["chat_status"] == 502 and report["models_status"] == 200
    assert report["after_proxy"] == []
    assert report["api_status"] == 200
    assert "fastapi" in report["after_api"] and "mcp" not in report["after_api"]
    assert report["mcp_status"] == 200
    assert "mcp" in report["after_mcp"]
