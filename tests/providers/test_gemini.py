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


def test_signed_thoughts_and_calls_render_as_well_framed_anthropic_blocks() -> None:
    """Gemini 2.5/3 stream: thought parts, then a functionCall carrying the thought signature, then the
    finish. Rendered for an Anthropic client: one thinking block (text, then its signature), closed before
    one tool_use block whose input is the whole arguments object."""
    from adaptive_gateway.wire.anthropic import AnthropicMessagesWire

    chunks = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Need the ", "thought": True}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "weather.", "thought": True}]}}]},
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {
                                "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                                "thoughtSignature": "c2lnbg==",
                            }
                        ],
                    }
                }
            ]
        },
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "thoughtsTokenCount": 3},
        },
    ]
    data = b"".join(b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks)
    req = ChatRequest(
        "m", [Message("user", [ContentPart("text", text="weather?")])], stream=True, wire="anthropic_messages"
    )
    renderer = AnthropicMessagesWire().stream_renderer(req, "msg_1")
    out = b"".join(renderer.render(e) for e in feed_split(data, 13)) + renderer.finish()
    events = [orjson.loads(line[6:]) for line in out.split(b"\n") if line.startswith(b"data: ")]
    kinds = [
        (e["type"], e.get("index"), (e.get("content_block") or e.get("delta") or {}).get("type"))
        for e in events
        if e["type"].startswith("content_block")
    ]
    assert kinds == [
        ("content_block_start", 0, "thinking"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, "tool_use"),
        ("content_block_delta", 1, "input_json_delta"),
        ("content_block_stop", 1, None),
    ]
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert "".join(d.get("thinking", "") for d in deltas) == "Need the weather."
    assert deltas[2]["signature"] == "c2lnbg=="
    assert orjson.loads(deltas[3]["partial_json"]) == {"city": "Paris"}
    final = next(e for e in events if e["type"] == "message_delta")
    assert final["delta"]["stop_reason"] == "tool_use" and final["usage"]["output_tokens"] == 7
