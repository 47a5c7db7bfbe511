"""The Messages wire: error bodies per status, raw-bytes guard, same-format stream passthrough."""

from __future__ import annotations

import orjson
import pytest

from adaptive_gateway.errors import (
    AllAttemptsFailed,
    Attempt,
    AuthenticationFailed,
    BudgetExceeded,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    PayloadTooLarge,
    PermissionDenied,
    PolicyBlocked,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from adaptive_gateway.fakes.answer import Answer, split_words
from adaptive_gateway.fakes.anthropic import message_frames
from adaptive_gateway.formats.anthropic import decode_request
from adaptive_gateway.types import ChatResponse, Choice, ContentPart, Message, Usage
from adaptive_gateway.wire.anthropic import AnthropicMessagesWire, MessagesPassthrough

WIRE = AnthropicMessagesWire()
REQ = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("err", "status", "kind"),
    [
        (InvalidRequest("bad"), 400, "invalid_request_error"),
        (AuthenticationFailed("who"), 401, "authentication_error"),
        (PermissionDenied("no"), 403, "permission_error"),
        (PolicyBlocked("policy"), 403, "permission_error"),
        (ModelNotFound("gone"), 404, "not_found_error"),
        (PayloadTooLarge("big"), 413, "request_too_large"),
        (RateLimited("slow"), 429, "rate_limit_error"),
        (BudgetExceeded("money"), 429, "rate_limit_error"),
        (GatewayError("oops"), 500, "api_error"),
        (UpstreamError("down", status=529), 529, "overloaded_error"),
        (UpstreamTimeout("late"), 504, "timeout_error"),
        (UpstreamError("bad gateway", status=502), 502, "api_error"),
    ],
)
def test_error_shape(err: GatewayError, status: int, kind: str) -> None:
    assert err.status == status
    body = orjson.loads(WIRE.render_error(err))
    assert body == {"type": "error", "error": {"type": kind, "message": err.message}}


def test_exhausted_fallbacks_use_the_type_of_their_status() -> None:
    err = AllAttemptsFailed([Attempt("a", "x", 503), Attempt("b", "y", 500)])
    body = orjson.loads(WIRE.render_error(err))
    assert body["error"]["type"] == "api_error" and "all 2 attempt(s) failed" in body["error"]["message"]


def test_stream_error_event() -> None:
    out = WIRE.stream_renderer(decode_request(REQ), "chatcmpl-1").error(UpstreamError("gone", status=529))
    assert (
        out
        == b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"gone"}}\n\n'
    )


def test_render_uses_upstream_bytes_only_when_they_are_a_message() -> None:
    req = decode_request(REQ)
    resp = ChatResponse(
        "id", "m", [Choice(0, Message("assistant", [ContentPart("text", text="t")]))], Usage(1, 1)
    )
    resp.raw_bytes, resp.raw = b'{"choices": []}', {"choices": []}  # an OpenAI body: never forwarded here
    assert orjson.loads(WIRE.render(resp, req))["type"] == "message"
    resp.raw_bytes, resp.raw = b'{"type": "message", "x": 1}', {"type": "message", "x": 1}
    assert WIRE.render(resp, req) == b'{"type": "message", "x": 1}'


def test_beta_param_reaches_the_request() -> None:
    req = WIRE.decode(REQ, {"anthropic-beta": "b1,b2"})
    assert req.extra["anthropic-beta"] == "b1,b2"


@pytest.mark.parametrize("size", [1, 5, 64, 100_000])
def test_passthrough_forwards_bytes_and_reads_usage(size: int) -> None:
    answer = Answer(split_words("Some streamed words."), (), None, "stop", 42)
    raw = b"".join(f.data for f in message_frames(answer, "claude-x"))
    filt = MessagesPassthrough()
    out = b"".join(filt.feed(raw[i : i + size]) for i in range(0, len(raw), size)) + filt.finish()
    assert out == raw
    assert filt.usage == Usage(input_tokens=42, output_tokens=answer.output_tokens)


def test_passthrough_usage_with_cache_and_crlf() -> None:
    start = {
        "type": "message_start",
        "message": {"usage": {"input_tokens": 5, "cache_read_input_tokens": 50, "output_tokens": 1}},
    }
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}
    raw = (
        b"event: message_start\r\ndata: "
        + orjson.dumps(start)
        + b"\r\n\r\n"
        + b"event: message_delta\r\ndata: "
        + orjson.dumps(delta)
        + b"\r\n\r\n"
    )
    filt = MessagesPassthrough()
    assert filt.feed(raw) == raw
    assert filt.usage == Usage(input_tokens=55, output_tokens=9, cached_input_tokens=50)
