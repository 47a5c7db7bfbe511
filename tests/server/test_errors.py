"""Bad input and upstream failures: OpenAI error JSON with the right status, through HTTP."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import httpx
import openai
import pytest

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_KEY, GatewayThread, free_port, openai_config

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
MSGS = [{"role": "user", "content": "hi"}]


def post(
    gw: GatewayThread,
    body: object = None,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return httpx.post(
        gw.url + "/v1/chat/completions",
        json=body if content is None else None,
        content=content,
        headers={**AUTH, **(headers or {})},
        timeout=20,
    )


def error_of(resp: httpx.Response) -> dict[str, object]:
    err = resp.json()["error"]
    assert isinstance(err, dict) and err["message"]
    return err


def test_malformed_json(gateway: GatewayThread) -> None:
    resp = post(
        gateway, content=b'{"model": "gpt-test", "messages": [', headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400
    assert "malformed JSON" in str(error_of(resp)["message"])


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"model": "gpt-test", "messages": "hi"}, "messages", "must be a list"),
        ({"model": "gpt-test", "messages": []}, "messages", "at least one"),
        (
            {"model": "gpt-test", "messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "unknown role",
        ),
        ({"model": "gpt-test", "messages": MSGS, "temperature": 3}, "temperature", "between 0.0 and 2.0"),
        ({"model": "gpt-test", "messages": MSGS, "top_p": -1}, "top_p", "between"),
        ({"model": "gpt-test", "messages": MSGS, "n": 0}, "n", "between 1"),
        ({"model": "gpt-test", "messages": MSGS, "max_tokens": 0}, "max_tokens", ">= 1"),
        ({"messages": MSGS}, "model", "required"),
        ({"model": "gpt-test", "messages": MSGS, "stream": "yes"}, "stream", "boolean"),
        ({"model": "gpt-test", "messages": MSGS, "tools": [{"type": "function"}]}, "tools[0]", "expected"),
        ([1, 2], None, "JSON object"),
    ],
)
def test_invalid_fields(
    gateway: GatewayThread, fake_openai: FakeUpstream, body: object, param: str | None, fragment: str
) -> None:
    before = len(fake_openai.received)
    resp = post(gateway, body)
    assert resp.status_code == 400
    err = error_of(resp)
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param
    assert fragment in str(err["message"])
    assert len(fake_openai.received) == before, "bad input must never reach the upstream"


def test_unknown_model_lists_available(gateway: GatewayThread) -> None:
    resp = post(gateway, {"model": "gpt-5-turbo", "messages": MSGS})
    assert resp.status_code == 404
    err = error_of(resp)
    assert err["code"] == "model_not_found"
    assert "gpt-test" in str(err["message"]) and "gpt-4o-mini" in str(err["message"])


def test_body_over_limit_is_413(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    cfg = openai_config(fake_openai.url).replace(
        "request_log: false", "request_log: false, max_body_bytes: 4096"
    )
    with GatewayThread(cfg, tmp_path) as gw:
        resp = post(gw, {"model": "gpt-test", "messages": [{"role": "user", "content": "x" * 10_000}]})
        assert resp.status_code == 413
        assert error_of(resp)["code"] == "request_too_large"


@pytest.mark.parametrize("status", [400, 401, 404, 422, 429, 500, 503])
def test_upstream_error_status_kept(gateway: GatewayThread, fake_openai: FakeUpstream, status: int) -> None:
    fake_openai.knobs = Knobs(status=status, retry_after=7 if status == 429 else None)
    resp = post(gateway, {"model": "gpt-test", "messages": MSGS})
    assert resp.status_code == status
    err = error_of(resp)
    assert f"HTTP {status}" in str(err["message"])
    if status == 429:
        assert resp.headers["retry-after"] == "7"
        assert err["type"] == "rate_limit_error"


def test_upstream_timeout_is_504(gateway: GatewayThread, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs = Knobs(hang=True)
    resp = post(gateway, {"model": "gpt-test", "messages": MSGS})
    assert resp.status_code == 504
    assert error_of(resp)["type"] == "timeout_error"


def test_upstream_unreachable_is_502(tmp_path: Path) -> None:
    with GatewayThread(openai_config(f"http://127.0.0.1:{free_port()}"), tmp_path) as gw:
        resp = post(gw, {"model": "gpt-test", "messages": MSGS})
        assert resp.status_code == 502
        assert error_of(resp)["code"] == "upstream_unreachable"


def test_sdk_sees_typed_errors(gateway: GatewayThread, fake_openai: FakeUpstream) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER_KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-test", messages=[{"role": "x", "content": "y"}])  # type: ignore[misc,list-item]
    bad = openai.OpenAI(base_url=gateway.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="gpt-test", messages=MSGS)  # type: ignore[arg-type]


def test_broken_stream_ends_with_error_event(gateway: GatewayThread, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs = Knobs(drop_after=2, tokens=8)
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        headers=AUTH,
        timeout=20,
        json={"model": "gpt-test", "messages": MSGS, "stream": True},
    ) as resp:
        assert resp.status_code == 200
        body = resp.read().decode()
    assert '"content"' in body  # bytes went out before the break
    assert body.rstrip().splitlines()[-1].startswith('data: {"error"')
    assert "[DONE]" not in body


def test_malformed_chunk_is_reported_not_crashing(gateway: GatewayThread, fake_openai: FakeUpstream) -> None:
    fake_openai.knobs = Knobs(malformed=True)
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        headers=AUTH,
        timeout=20,
        json={"model": "gpt-test", "messages": MSGS, "stream": True},
    ) as resp:
        body = resp.read().decode()
    assert resp.status_code == 200 and "data:" in body


async def test_client_disconnect_cancels_upstream_stream(
    gateway: GatewayThread, fake_openai: FakeUpstream
) -> None:
    fake_openai.knobs = Knobs(tokens=400, token_rate=50)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            gateway.url + "/v1/chat/completions",
            headers=AUTH,
            json={"model": "gpt-test", "messages": MSGS, "stream": True},
        ) as resp,
    ):
        assert resp.status == 200
        await resp.content.readline()
        assert fake_openai.active_streams == 1
        # leaving the block closes the connection mid-stream
    for _ in range(100):
        if fake_openai.active_streams == 0:
            break
        import asyncio

        await asyncio.sleep(0.05)
    assert fake_openai.active_streams == 0
    assert fake_openai.cancelled_streams == 1
    assert fake_openai.stats.completed_streams == 0
