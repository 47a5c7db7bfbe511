"""Gemini adapter: URLs, passthrough, byte-split SSE parsing, Google error shapes."""

from __future__ import annotations

import orjson
import pytest

from adaptive_gateway.config import Deployment, compile_config
from adaptive_gateway.config.loader import parse_config
from adaptive_gateway.errors import RateLimited
from adaptive_gateway.formats.gemini_request import decode
from adaptive_gateway.providers.gemini import GeminiAdapter
from adaptive_gateway.types import (
    ChatRequest,
    ContentPart,
    Message,
    StreamError,
    StreamEvent,
    StreamFinish,
    StreamUsage,
    TextDelta,
    ToolCallDelta,
    Usage,
)

ADAPTER = GeminiAdapter()


def deployment(base_url: str | None = None, model: str = "gemini-2.5-flash") -> Deployment:
    base = f", base_url: '{base_url}'" if base_url else ""
    text = f"""
providers:
  g: {{kind: gemini, api_key: gk{base}}}
models:
  m: {{deployments: [{{provider: g, model: "{model}"}}]}}
"""
    return compile_config(parse_config(text), env={}).models["m"].deployments[0]


def chat(text: str = "hi", stream: bool = False) -> ChatRequest:
    return ChatRequest("m", [Message("user", [ContentPart("text", text=text)])], stream=stream)


@pytest.mark.parametrize(
    ("base", "model", "stream", "url"),
    [
        (
            None,
            "gemini-2.5-flash",
            False,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
        ),
        (
            None,
            "models/gemini-2.5-pro",
            True,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        ),
        ("http://127.0.0.1:9/v1", "g", False, "http://127.0.0.1:9/v1/models/g:generateContent"),
        ("http://127.0.0.1:9/", "g", False, "http://127.0.0.1:9/v1beta/models/g:generateContent"),
    ],
)
def test_urls(base: str | None, model: str, stream: bool, url: str) -> None:
    ureq = ADAPTER.build(chat(stream=stream), deployment(base, model), None)
    assert ureq.url == url and ureq.stream is stream
    assert ureq.headers["x-goog-api-key"] == "gk"


def test_client_key_in_passthrough_mode_wins() -> None:
    assert ADAPTER.build(chat(), deployment(), "client-key").headers["x-goog-api-key"] == "client-key"


def test_same_format_body_is_forwarded_unchanged() -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "safety_settings": [{"x": 1}],
        "cachedContent": "cachedContents/abc",
    }
    ureq = ADAPTER.build(decode(body, "m", False), deployment(), None)
    assert ureq.body == orjson.dumps(body)


def test_parse_keeps_raw_bytes_only_for_gemini_clients() -> None:
    raw = orjson.dumps({"candidates": [{"content": {"parts": [{"text": "yo"}]}, "finishReason": "STOP"}]})
    assert ADAPTER.parse(raw, chat()).raw_bytes is None
    native = decode({"contents": [{"parts": [{"text": "hi"}]}]}, "m", False)
    assert ADAPTER.parse(raw, native).raw_bytes == raw
    assert ADAPTER.parse(raw, chat()).choices[0].message.text() == "yo"


def feed_split(data: bytes, size: int) -> list[StreamEvent]:
    parser = ADAPTER.stream_parser(chat(stream=True))
    events = [e for i in range(0, len(data), size) for e in parser.feed(data[i : i + size])]
    return events + parser.close()


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_stream_parser_over_any_byte_split(size: int) -> None:
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]},
        {"candidates": [{"content": {"parts": [{"text": "lo"}]}}]},
        {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"a": "é"}}}]}}]},
        {
            "candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 6},
        },
    ]
    data = b"".join(b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks)
    events = feed_split(data, size)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello"
    assert [orjson.loads(e.arguments) for e in events if isinstance(e, ToolCallDelta)] == [{"a": "é"}]
    assert StreamFinish("tool_calls") in events
    assert events[-1] == StreamUsage(Usage(4, 6))


def test_stream_errors_and_malformed_chunks() -> None:
    data = (
        b"data: {not json\r\n\r\n"
        b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}\r\n\r\n'
    )
    errors = [e for e in feed_split(data, 1000) if isinstance(e, StreamError)]
    assert len(errors) == 2 and "malformed" in errors[0].message and errors[1].message == "overloaded"


def test_classify_resource_exhausted_with_retry_delay() -> None:
    body = orjson.dumps(
        {
            "error": {
                "code": 429,
                "message": "Quota exceeded",
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}],
            }
        }
    )
    err = ADAPTER.classify_error(429, body, {})
    assert err.status == 429 and err.type == RateLimited.type
    assert "RESOURCE_EXHAUSTED" in err.message and "Quota exceeded" in err.message
    assert err.headers["retry-after"] == "37"


@pytest.mark.parametrize(
    ("status", "name"),
    [(503, "UNAVAILABLE"), (400, "INVALID_ARGUMENT"), (403, "PERMISSION_DENIED"), (404, "NOT_FOUND")],
)
def test_classify_keeps_status(status: int, name: str) -> None:
    body = orjson.dumps({"error": {"code": status, "message": "boom", "status": name}})
    err = ADAPTER.classify_error(status, body, {"retry-after": "2"})
    assert err.status == status and name in err.message
    assert err.headers.get("retry-after") == "2"


def test_classify_non_json_error() -> None:
    err = ADAPTER.classify_error(502, b"<html>bad gateway</html>", {})
    assert err.status == 502 and "bad gateway" in err.message
