from __future__ import annotations

import asyncio
import sys

import aiohttp
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream

USER = [{"role": "user", "content": "hi"}]


async def test_knobs_mutable_at_runtime_and_reset() -> None:
    async with FakeUpstream("openai") as up, aiohttp.ClientSession() as http:
        url = up.url + "/v1/chat/completions"
        up.knobs.text = "first"
        async with http.post(url, json={"messages": USER}) as resp:
            first = (await resp.json())["choices"][0]["message"]["content"]
        up.knobs = Knobs(text="second")
        async with http.post(url, json={"messages": USER}, params={"q": "1"}) as resp:
            second = (await resp.json())["choices"][0]["message"]["content"]
        assert (first, second) == ("first", "second")
        assert up.received[-1].query == {"q": "1"} and up.received[-1].method == "POST"
        up.reset()
        assert up.received == [] and up.completed_streams == 0


async def test_latency_and_header_overrides_on_every_kind() -> None:
    cases = {
        "anthropic": ("/v1/messages", {"x-api-key": "k", "anthropic-version": "2023-06-01"}),
        "gemini": ("/v1beta/models/g:generateContent", {"x-goog-api-key": "k"}),
        "ollama": ("/api/chat", {}),
    }
    for kind, (path, auth) in cases.items():
        async with FakeUpstream(kind) as up, aiohttp.ClientSession() as http:  # type: ignore[arg-type]
            headers = {**auth, "x-fake-status": "503", "x-fake-latency-ms": "5"}
            async with http.post(up.url + path, json={"messages": USER}, headers=headers) as resp:
                assert resp.status == 503, kind
                assert "error" in await resp.json()


async def test_hang_is_cancelled_when_client_gives_up() -> None:
    async with FakeUpstream("ollama", Knobs(hang=True)) as up, aiohttp.ClientSession() as http:
        with pytest.raises(asyncio.TimeoutError):
            timeout = aiohttp.ClientTimeout(total=0.2)
            await http.post(up.url + "/api/chat", json={"messages": USER}, timeout=timeout)
        assert len(up.received) == 1


def test_unknown_kind_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fake upstream kind"):
        FakeUpstream("mistral")  # type: ignore[arg-type]


async def test_cli_runs_a_server_with_knobs() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adaptive_gateway.fakes",
        "openai",
        "--port",
        "0",
        "--text",
        "from the cli",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=10)).decode()
        url = line.rsplit(" ", 1)[-1].strip()
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "/v1/chat/completions", json={"messages": USER}) as resp:
                text = (await resp.json())["choices"][0]["message"]["content"]
            headers = {"x-fake-status": "429", "x-fake-retry-after": "1"}
            async with http.post(
                url + "/v1/chat/completions", json={"messages": USER}, headers=headers
            ) as resp:
                limited = (resp.status, resp.headers.get("Retry-After"))
        assert text == "from the cli"
        assert limited == (429, "1")
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
