"""Anthropic adapter: URL and headers, beta passthrough, max_tokens defaults, parsing, error mapping."""

from __future__ import annotations

import orjson
import pytest

from adaptive_gateway.config import Deployment, compile_config
from adaptive_gateway.config.loader import parse_config
from adaptive_gateway.formats import openai_chat
from adaptive_gateway.formats.anthropic import decode_request
from adaptive_gateway.formats.anthropic_response import materialize
from adaptive_gateway.providers.anthropic import AnthropicAdapter, messages_url
from adaptive_gateway.types import ChatRequest, ContentPart, Message

ADAPTER = AnthropicAdapter()
MSG = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def deployment(base_url: str | None = None, extra: str = "", headers: str = "") -> Deployment:
    base = f", base_url: '{base_url}'" if base_url else ""
    text = f"""
providers:
  a: {{kind: anthropic, api_key: sk-ant{base}{headers}}}
models:
  m: {{deployments: [{{provider: a, model: claude-sonnet-4-5{extra}}}]}}
"""
    return compile_config(parse_config(text), env={}).models["m"].deployments[0]


def chat(stream: bool = False) -> ChatRequest:
    return ChatRequest("m", [Message("user", [ContentPart("text", text="hi")])], stream=stream)


@pytest.mark.parametrize(
    ("base", "url"),
    [
        (None, "https://api.anthropic.com/v1/messages"),
        ("http://127.0.0.1:9/", "http://127.0.0.1:9/v1/messages"),
        ("http://proxy.local/anthropic/v1", "http://proxy.local/anthropic/v1/messages"),
    ],
)
def test_url(base: str | None, url: str) -> None:
    assert ADAPTER.build(chat(), deployment(base), None).url == url
    assert messages_url("http://h", "/messages/count_tokens") == "http://h/v1/messages/count_tokens"


def test_headers_and_body_from_another_format() -> None:
    ureq = ADAPTER.build(chat(stream=True), deployment(), None)
    assert ureq.headers["x-api-key"] == "sk-ant" and ureq.headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in ureq.headers and "authorization" not in ureq.headers
    body = orjson.loads(ureq.body or b"")
    assert body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 16384,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    assert ureq.stream


def test_client_key_in_passthrough_mode_and_configured_headers() -> None:
    dep = deployment(headers=", headers: {anthropic-version: '2099-01-01'}")
    ureq = ADAPTER.build(chat(), dep, "sk-client")
    assert ureq.headers["x-api-key"] == "sk-client" and ureq.headers["anthropic-version"] == "2099-01-01"


def test_beta_header_only_for_messages_clients() -> None:
    req = decode_request(MSG, beta="context-management-2025-06-27")
    assert ADAPTER.build(req, deployment(), None).headers["anthropic-beta"] == "context-management-2025-06-27"
    oai = openai_chat.decode_request({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    oai.extra["anthropic-beta"] = "sneaky"
    assert "anthropic-beta" not in ADAPTER.build(oai, deployment(), None).headers


def test_passthrough_body_and_deployment_max_tokens() -> None:
    body = {k: v for k, v in MSG.items() if k != "max_tokens"} | {"context_management": {"x": 1}}
    ureq = ADAPTER.build(decode_request(body), deployment(extra=", max_output_tokens: 999"), None)
    assert orjson.loads(ureq.body or b"") == {**body, "model": "claude-sonnet-4-5", "max_tokens": 999}


def test_count_tokens_request() -> None:
    req = decode_request({**MSG, "stream": True})
    ureq = ADAPTER.build_count_tokens(req, {**MSG, "stream": True}, deployment(), None)
    assert ureq.url.endswith("/v1/messages/count_tokens")
    assert orjson.loads(ureq.body or b"") == {"model": "claude-sonnet-4-5", "messages": MSG["messages"]}


def test_parse_keeps_bytes_only_for_messages_clients() -> None:
    raw = orjson.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "content": [{"type": "text", "text": "hey"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 1},
        }
    )
    resp = ADAPTER.parse(raw, decode_request(MSG))
    assert resp.raw_bytes == raw and resp.choices == [] and resp.usage is not None
    assert materialize(resp).choices[0].message.text() == "hey"
    translated = ADAPTER.parse(raw, chat())
    assert translated.raw_bytes is None and translated.choices[0].message.text() == "hey"
    with pytest.raises(Exception, match="invalid JSON"):
        ADAPTER.parse(b"<html>", chat())


@pytest.mark.parametrize(
    ("status", "kind", "canonical"),
    [
        (400, "invalid_request_error", "invalid_request_error"),
        (401, "authentication_error", "authentication_error"),
        (403, "permission_error", "permission_error"),
        (404, "not_found_error", "not_found_error"),
        (413, "request_too_large", "invalid_request_error"),
        (429, "rate_limit_error", "rate_limit_error"),
        (500, "api_error", "upstream_error"),
        (529, "overloaded_error", "overloaded_error"),
    ],
)
def test_classify_error(status: int, kind: str, canonical: str) -> None:
    body = orjson.dumps({"type": "error", "error": {"type": kind, "message": "nope"}})
    err = ADAPTER.classify_error(status, body, {"retry-after": "7"})
    assert err.status == status and err.type == canonical
    assert kind in err.message and "nope" in err.message
    assert err.headers == {"retry-after": "7"}


def test_classify_error_with_a_non_json_body() -> None:
    err = ADAPTER.classify_error(502, b"Bad Gateway", {})
    assert err.status == 502 and "Bad Gateway" in err.message
