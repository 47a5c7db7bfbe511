"""Ollama adapter: /api/chat URL, NDJSON parsing over any byte split, error shapes."""

from __future__ import annotations

import orjson
import pytest

from adaptive_gateway.config import Deployment, compile_config
from adaptive_gateway.config.loader import parse_config
from adaptive_gateway.errors import UpstreamError
from adaptive_gateway.providers.ollama import OllamaAdapter
from adaptive_gateway.types import (
    ChatRequest,
    ContentPart,
    Message,
    StreamError,
    StreamEvent,
    StreamFinish,
    StreamUsage,
    TextDelta,
    ToolCallStart,
    Usage,
)

ADAPTER = OllamaAdapter()


def deployment(base_url: str | None = None) -> Deployment:
    base = f", base_url: '{base_url}'" if base_url else ""
    text = f"""
providers:
  o: {{kind: ollama{base}}}
models:
  m: {{deployments: [{{provider: o, model: "llama3.2:latest"}}]}}
"""
    return compile_config(parse_config(text), env={}).models["m"].deployments[0]


def chat(stream: bool = False) -> ChatRequest:
    return ChatRequest("m", [Message("user", [ContentPart("text", text="hi")])], stream=stream)


@pytest.mark.parametrize(
    ("base", "url"),
    [
        (None, "http://127.0.0.1:11434/api/chat"),
        ("http://gpu-box:11434/api", "http://gpu-box:11434/api/chat"),
    ],
)
def test_build(base: str | None, url: str) -> None:
    ureq = ADAPTER.build(chat(stream=True), deployment(base), None)
    assert ureq.url == url and ureq.stream
    body = orjson.loads(ureq.body or b"")
    assert body["model"] == "llama3.2:latest" and body["stream"] is True
    assert "authorization" not in ureq.headers


def test_parse() -> None:
    raw = orjson.dumps(
        {
            "model": "llama3.2",
            "message": {"role": "assistant", "content": "hey"},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 2,
            "eval_count": 1,
        }
    )
    resp = ADAPTER.parse(raw, chat())
    assert resp.choices[0].message.text() == "hey" and resp.usage == Usage(2, 1) and resp.raw_bytes is None
    with pytest.raises(UpstreamError):
        ADAPTER.parse(b"{half", chat())


@pytest.mark.parametrize("size", [1, 5, 100_000])
def test_stream_parser_over_any_byte_split(size: int) -> None:
    lines = [
        {"model": "q", "message": {"role": "assistant", "content": "Hel"}, "done": False},
        {"model": "q", "message": {"role": "assistant", "content": "lo"}, "done": False},
        {
            "model": "q",
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}],
            },
            "done": False,
        },
        {
            "model": "q",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 3,
            "eval_count": 4,
        },
    ]
    data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    parser = ADAPTER.stream_parser(chat(True))
    events: list[StreamEvent] = [
        e for i in range(0, len(data), size) for e in parser.feed(data[i : i + size])
    ]
    events += parser.close()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello"
    assert [e.name for e in events if isinstance(e, ToolCallStart)] == ["f"]
    assert events[-2:] == [StreamFinish("tool_calls"), StreamUsage(Usage(3, 4))]


def test_stream_error_line_and_malformed_line() -> None:
    parser = ADAPTER.stream_parser(chat(True))
    events = parser.feed(b'{broken\n{"error": "model runner crashed"}\n')
    assert [e.message for e in events if isinstance(e, StreamError)][1] == "model runner crashed"


def test_classify_error() -> None:
    err = ADAPTER.classify_error(404, b'{"error": "model \\"nope\\" not found, try pulling it first"}', {})
    assert err.status == 404 and "not found, try pulling it first" in err.message
    assert ADAPTER.classify_error(500, b'{"error": "out of memory"}', {}).status == 500
