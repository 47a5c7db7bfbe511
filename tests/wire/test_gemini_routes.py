"""Gemini routes end to end: /v1beta/models listing, key from header or ?key=, errors in Gemini's shape,
same-format passthrough, in-stream errors."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors, types

from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_HASH, MASTER_KEY, GatewayThread

BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
ONE_SHOT = "retry: {retries: 0}, breaker: {enabled: false}"  # errors here are about their shape, not retries


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    started = {k: FakeUpstream(k).start_in_thread() for k in ("gemini", "openai")}  # type: ignore[arg-type]
    yield started
    for fake in started.values():
        fake.stop_thread()


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    config = f"""
auth: {{mode: gateway, master_key_hash: "{MASTER_HASH}"}}
server: {{request_log: false}}
providers:
  g: {{kind: gemini, base_url: "{fakes["gemini"].url}", api_key: up-gemini-key}}
  o: {{kind: openai-compatible, base_url: "{fakes["openai"].url}/v1", api_key: up-openai-key}}
models:
  flash: {{deployments: [{{provider: g, model: gemini-2.5-flash}}], description: "fast", {ONE_SHOT}}}
  gpt: {{deployments: [{{provider: o, model: gpt-up}}], {ONE_SHOT}}}
aliases:
  gemini-2.5-flash: flash
"""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADAPTIVE_GATEWAY_HOME", str(tmp_path_factory.mktemp("home")))
        with GatewayThread(config, tmp_path_factory.mktemp("gw")) as thread:
            yield thread


@pytest.fixture(autouse=True)
def _reset(fakes: dict[str, FakeUpstream]) -> None:
    for fake in fakes.values():
        fake.knobs = Knobs()
        fake.reset()


@pytest.fixture
def sdk(gw: GatewayThread) -> genai.Client:
    return genai.Client(
        api_key=MASTER_KEY, http_options=types.HttpOptions(base_url=gw.url, api_version="v1beta")
    )


def error(resp: httpx.Response, status: int, name: str) -> str:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == status and err["status"] == name
    return str(err["message"])


def test_models_list_and_get(sdk: genai.Client) -> None:
    names = {m.name for m in sdk.models.list()}
    assert names == {"models/flash", "models/gpt", "models/gemini-2.5-flash"}
    model = sdk.models.get(model="flash")
    assert model.description == "fast" and "generateContent" in (model.supported_actions or [])
    with pytest.raises(errors.ClientError) as exc:
        sdk.models.get(model="nope")
    assert exc.value.code == 404


def test_key_from_query_and_auth_errors(gw: GatewayThread) -> None:
    url = gw.url + "/v1beta/models/gpt:generateContent"
    assert httpx.post(url, params={"key": MASTER_KEY}, json=BODY).status_code == 200
    assert "missing API key" in error(httpx.post(url, json=BODY), 401, "UNAUTHENTICATED")
    error(httpx.post(url, params={"key": "wrong"}, json=BODY), 401, "UNAUTHENTICATED")
    error(httpx.get(gw.url + "/v1beta/models"), 401, "UNAUTHENTICATED")


def test_unknown_model_and_method(gw: GatewayThread) -> None:
    headers = {"x-goog-api-key": MASTER_KEY}
    message = error(
        httpx.post(gw.url + "/v1beta/models/nope:generateContent", headers=headers, json=BODY),
        404,
        "NOT_FOUND",
    )
    assert "available models: flash, gemini-2.5-flash, gpt" in message
    message = error(
        httpx.post(gw.url + "/v1beta/models/flash:predict", headers=headers, json=BODY), 404, "NOT_FOUND"
    )
    assert "unsupported Gemini method 'flash:predict'" in message
    error(
        httpx.post(gw.url + "/v1beta/models/flash:generateContent", headers=headers, content=b"{nope"),
        400,
        "INVALID_ARGUMENT",
    )


def test_same_format_request_passes_through_unchanged(
    gw: GatewayThread, fakes: dict[str, FakeUpstream]
) -> None:
    body = {
        **BODY,
        "safety_settings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
        "generationConfig": {"temperature": 0.1, "responseLogprobs": True},
    }
    resp = httpx.post(
        gw.url + "/v1beta/models/gemini-2.5-flash:generateContent",
        headers={"x-goog-api-key": MASTER_KEY},
        json=body,
    )
    assert resp.status_code == 200
    sent = fakes["gemini"].received[-1]
    assert sent.json == body
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == "up-gemini-key"
    assert resp.headers["x-adaptive-upstream-model"] == "gemini-2.5-flash"
    assert float(resp.headers["x-adaptive-cost-usd"]) == 0.0


def test_stream_passthrough_keeps_gemini_framing(gw: GatewayThread, fakes: dict[str, FakeUpstream]) -> None:
    fakes["gemini"].knobs = Knobs(text="one two three")
    with httpx.stream(
        "POST",
        gw.url + "/v1beta/models/flash:streamGenerateContent",
        params={"alt": "sse"},
        headers={"x-goog-api-key": MASTER_KEY},
        json=BODY,
    ) as resp:
        raw = b"".join(resp.iter_bytes())
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = [orjson.loads(e[6:]) for e in raw.split(b"\r\n\r\n") if e]
    text = "".join(p.get("text", "") for e in events for p in e["candidates"][0]["content"]["parts"])
    assert text == "one two three"
    assert fakes["gemini"].received[-1].query == {"alt": "sse"}


def test_upstream_rate_limit_in_gemini_shape_with_retry_after(
    gw: GatewayThread, fakes: dict[str, FakeUpstream]
) -> None:
    fakes["openai"].knobs = Knobs(status=429, retry_after=3)
    resp = httpx.post(
        gw.url + "/v1beta/models/gpt:generateContent", headers={"x-goog-api-key": MASTER_KEY}, json=BODY
    )
    error(resp, 429, "RESOURCE_EXHAUSTED")
    assert resp.headers["retry-after"] == "3"


def test_failure_mid_stream_ends_with_a_gemini_error_event(
    gw: GatewayThread, fakes: dict[str, FakeUpstream]
) -> None:
    fakes["openai"].knobs = Knobs(text="a b c d e f", drop_after=2)
    with httpx.stream(
        "POST",
        gw.url + "/v1beta/models/gpt:streamGenerateContent?alt=sse",
        headers={"x-goog-api-key": MASTER_KEY},
        json=BODY,
    ) as resp:
        raw = b"".join(resp.iter_bytes())
    assert resp.status_code == 200
    last = orjson.loads(raw.rstrip(b"\r\n").rsplit(b"\r\n\r\n", 1)[-1][6:])
    assert last["error"]["code"] == 502 and last["error"]["status"] == "UNAVAILABLE"


def test_sdk_stream_against_a_translated_upstream(sdk: genai.Client, fakes: dict[str, FakeUpstream]) -> None:
    fakes["openai"].knobs = Knobs(text="Hello there", reasoning="thinking")
    chunks = list(sdk.models.generate_content_stream(model="gpt", contents="hi"))
    parts = [
        p
        for c in chunks
        for p in (c.candidates[0].content.parts or [])
        if c.candidates and c.candidates[0].content
    ]
    assert "".join(p.text or "" for p in parts if p.thought) == "thinking"
    assert "".join(p.text or "" for p in parts if not p.thought) == "Hello there"
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.candidates_token_count


def test_stream_without_alt_sse_is_one_json_array(gw: GatewayThread, fakes: dict[str, FakeUpstream]) -> None:
    for model, fake in (("flash", fakes["gemini"]), ("gpt", fakes["openai"])):
        fake.knobs = Knobs(text="one two three")
        resp = httpx.post(
            f"{gw.url}/v1beta/models/{model}:streamGenerateContent",
            headers={"x-goog-api-key": MASTER_KEY},
            json=BODY,
        )
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
        chunks = resp.json()
        text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
        assert text == "one two three"
        assert chunks[-1]["candidates"][0]["finishReason"] == "STOP" and "usageMetadata" in chunks[-1]
