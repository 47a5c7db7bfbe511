"""The external decision endpoint (OPA data API): a small aiohttp server in the test decides."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from aiohttp import web

from tests.support.gateway import MASTER_KEY, free_port
from tests.trust.pipeline_support import EMAIL, trust_env


class DecisionServer:
    """``POST /v1/data/gateway/allow`` answers ``self.answer``; inputs are kept in ``self.inputs``."""

    def __init__(self) -> None:
        self.answer: Any = {"result": True}
        self.inputs: list[dict[str, Any]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/data/gateway/allow"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _decide(self, request: web.Request) -> web.Response:
        self.inputs.append((await request.json())["input"])
        return web.json_response(self.answer)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/data/gateway/allow", self._decide)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> DecisionServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def opa() -> Iterator[DecisionServer]:
    with DecisionServer() as server:
        yield server


def _trust(url: str, on_error: str = "deny") -> str:
    return f"  decision: {{url: '{url}', timeout: 2, on_error: {on_error}}}"


def test_allow_deny_and_reason(opa: DecisionServer, tmp_path: Path) -> None:
    with trust_env(tmp_path, _trust(opa.url)) as env:
        env.chat("smart", f"mail {EMAIL}")
        doc = opa.inputs[-1]
        assert doc["level"] == "confidential" and doc["findings"] == {"pii.email": 1}
        assert doc["model"] == "smart" and doc["principal"]["id"] == "master"
        assert {d["locality"] for d in doc["deployments"]} == {"hosted", "local"}
        assert EMAIL not in json.dumps(opa.inputs)  # never message text
        opa.answer = {"result": {"allow": False, "reason": "no PII on Fridays"}}
        with pytest.raises(openai.PermissionDeniedError) as info:
            env.chat("smart", f"mail {EMAIL}")
        assert "no PII on Fridays" in info.value.message
        opa.answer = {"result": False}
        with pytest.raises(openai.PermissionDeniedError):
            env.chat("smart", "hello")
        opa.answer = {}  # undefined: on_error (deny)
        with pytest.raises(openai.PermissionDeniedError) as info:
            env.chat("smart", "hello")
        assert "undefined" in info.value.message
        assert len(env.box.received) == 1 and not env.cloud.received


def test_unreachable_endpoint_follows_on_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1/data/gateway/allow"
    with trust_env(tmp_path, _trust(url)) as env:
        with pytest.raises(openai.PermissionDeniedError) as info:
            env.chat("smart", "hello")
        assert "unreachable" in info.value.message
    with trust_env(tmp_path / "allow", _trust(url, "allow")) as env:
        env.chat("smart", "hello")
        assert len(env.cloud.received) == 1


def test_offline_mode_never_calls_a_remote_endpoint(tmp_path: Path) -> None:
    trust = _trust("http://10.255.255.1:8181/v1/data/gateway/allow", "allow")
    with trust_env(tmp_path, trust, extra_models="mode: offline") as env:
        raw = env.client.chat.completions.with_raw_response.create(
            model="smart", messages=[{"role": "user", "content": "hello"}]
        )
        assert raw.headers["x-adaptive-provider"] == "box"
        assert not env.cloud.received
        sim = httpx.post(
            env.gateway.url + "/v1/simulate",
            json={"model": "smart", "messages": [{"role": "user", "content": "hello"}]},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        ).json()
        assert sim["trust"]["decision_endpoint"]["source"] == "offline"
        assert "not called in offline mode" in sim["trust"]["decision_endpoint"]["reason"]
