"""Client-facing Gemini wire: error shape, SSE framing, passthrough usage."""

from __future__ import annotations

import orjson
import pytest

from adaptive_gateway.errors import GatewayError, InvalidRequest, ModelNotFound, RateLimited, UpstreamError
from adaptive_gateway.formats.gemini_request import decode
from adaptive_gateway.types import (
    ChatResponse,
    Choice,
    ContentPart,
    Message,
    StreamError,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    Usage,
)
from adaptive_gateway.wire.gemini import GeminiArrayWire, GeminiWire

WIRE = GeminiWire()
BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.mark.parametrize(
    ("err", "status", "name"),
    [
        (InvalidRequest("contents: bad"), 400, "INVALID_ARGUMENT"),
        (ModelNotFound("no such model"), 404, "NOT_FOUND"),
        (RateLimited("slow down"), 429, "RESOURCE_EXHAUSTED"),
        (UpstreamError("down", status=503), 503, "UNAVAILABLE"),
        (UpstreamError("gateway", status=502), 502, "UNAVAILABLE"),
    ],
)
def test_errors_in_gemini_shape(err: Exception, status: int, name: str) -> None:
    body = orjson.loads(WIRE.render_error(err))  # type: ignore[arg-type]
    assert body == {"error": {"code": status, "message": str(err), "status": name}}


def test_decode_uses_model_and_action_from_the_path() -> None:
    req = WIRE.decode(BODY, {"model": "fast", "action": "streamGenerateContent"})
    assert req.model == "fast" and req.stream and req.wire == "gemini"
    assert not WIRE.decode(BODY, {"model": "fast", "action": "generateContent"}).stream


def test_render_translated_response_fills_the_model() -> None:
    req = decode(BODY, "fast", False)
    resp = ChatResponse(
        "r1", "", [Choice(0, Message("assistant", [ContentPart("text", text="yo")]))], Usage(1, 2)
    )
    out = orjson.loads(WIRE.render(resp, req))
    assert out["modelVersion"] == "fast"
    assert out["candidates"][0]["content"]["parts"] == [{"text": "yo"}]
    assert out["usageMetadata"]["candidatesTokenCount"] == 2


def test_stream_renderer_frames_with_crlf_and_ends_with_finish_and_usage() -> None:
    r = WIRE.stream_renderer(decode(BODY, "fast", True), "gw-1")
    out = (
        b"".join(
            [
                r.render(StreamStart("", "")),
                r.render(TextDelta("Hi")),
                r.render(StreamFinish("stop")),
                r.render(StreamUsage(Usage(3, 1))),
            ]
        )
        + r.finish()
    )
    frames = out.split(b"\r\n\r\n")
    assert frames[-1] == b"" and all(f.startswith(b"data: ") for f in frames[:-1])
    chunks = [orjson.loads(f[6:]) for f in frames[:-1]]
    assert chunks[0]["candidates"][0]["content"]["parts"] == [{"text": "Hi"}]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["promptTokenCount"] == 3
    assert chunks[0]["responseId"] == "gw-1"
    err = orjson.loads(r.render(StreamError("upstream broke", status=502))[6:])
    assert err["error"]["status"] == "UNAVAILABLE"


def test_passthrough_forwards_bytes_and_reads_the_last_usage() -> None:
    f = WIRE.passthrough_filter(decode(BODY, "fast", True))
    data = (
        b'data: {"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":3}}'
        b'\r\n\r\ndata: {"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP"}],'
        b'"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":9}}\r\n\r\n'
    )
    out = b"".join(f.feed(data[i : i + 10]) for i in range(0, len(data), 10)) + f.finish()
    assert out == data
    assert f.usage == Usage(3, 9)


def test_array_renderer_frames_one_json_array() -> None:
    wire = GeminiArrayWire()
    req = decode(BODY, "fast", True)
    assert wire.passthrough_filter(req) is None and wire.stream_content_type == b"application/json"
    r = wire.stream_renderer(req, "gw-1")
    out = r.render(TextDelta("a")) + r.render(TextDelta("b")) + r.finish()
    chunks = orjson.loads(out)
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks] == ["a", "b", ""]
    assert orjson.loads(wire.stream_renderer(req, "x").finish())[0]["candidates"][0]["finishReason"] == "STOP"
    broken = wire.stream_renderer(req, "x")
    out = broken.render(TextDelta("a")) + broken.error(GatewayError("upstream went away", status=502))
    assert orjson.loads(out)[-1]["error"]["status"] == "UNAVAILABLE"
