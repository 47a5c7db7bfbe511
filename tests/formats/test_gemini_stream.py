"""Gemini stream codec: whole functionCall parts in, accumulated functionCall parts out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adaptive_gateway.errors import UpstreamError
from adaptive_gateway.formats.gemini_stream import StreamDecoder, StreamEncoder
from adaptive_gateway.types import (
    ReasoningDelta,
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)


def chunk(
    *parts: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None
) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [cand], "responseId": "r1", "modelVersion": "gemini-x"}
    if usage:
        out["usageMetadata"] = usage
    return out


def decode_all(chunks: list[dict[str, Any]]) -> list[StreamEvent]:
    dec = StreamDecoder()
    events = [e for c in chunks for e in dec.feed(c)]
    return events + dec.close()


def test_decoder_text_thoughts_calls_finish_usage() -> None:
    events = decode_all(
        [
            chunk({"text": "hmm", "thought": True}, usage={"promptTokenCount": 5}),
            chunk({"text": "", "thought": True, "thoughtSignature": "c2ln"}),
            chunk({"text": "Checking."}),
            chunk(
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "clock", "args": {}}},
            ),
            chunk(
                {"text": ""},
                finish="STOP",
                usage={"promptTokenCount": 5, "candidatesTokenCount": 7, "thoughtsTokenCount": 2},
            ),
        ]
    )
    assert events[0] == StreamStart("r1", "gemini-x")
    assert events[1] == ReasoningDelta("hmm")
    assert events[2] == ReasoningDelta("", signature="c2ln")
    assert events[3] == TextDelta("Checking.")
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(s.tool_index, s.name) for s in starts] == [(0, "weather"), (1, "clock")]
    assert len({s.id for s in starts}) == 2
    assert [json.loads(d.arguments) for d in deltas] == [{"city": "Paris"}, {}]
    assert events[-2] == StreamFinish("tool_calls")
    assert events[-1] == StreamUsage(Usage(5, 9, 0, 2))


def test_decoder_drops_a_signature_that_arrives_after_the_answer_started() -> None:
    events = decode_all(
        [chunk({"text": "hi"}), chunk({"text": "", "thoughtSignature": "late"}, finish="STOP")]
    )
    assert not [e for e in events if isinstance(e, ReasoningDelta)]
    assert StreamFinish("stop") in events


@pytest.mark.parametrize(("raw", "reason"), [("MAX_TOKENS", "length"), ("SAFETY", "content_filter")])
def test_decoder_finish_reasons(raw: str, reason: str) -> None:
    assert StreamFinish(reason) in decode_all([chunk({"text": "x"}, finish=raw)])  # type: ignore[arg-type]


def test_decoder_blocked_prompt() -> None:
    events = decode_all(
        [{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}]
    )
    assert StreamFinish("content_filter") in events


def encode_all(events: list[StreamEvent]) -> list[dict[str, Any]]:
    enc = StreamEncoder("gw-id", "m")
    return [c for e in events for c in enc.encode(e)] + enc.finish()


def test_encoder_accumulates_argument_deltas_into_whole_function_calls() -> None:
    chunks = encode_all(
        [
            StreamStart("up-id", "up-model"),
            ReasoningDelta("think"),
            ReasoningDelta("", signature="c2ln"),
            TextDelta("Let me check."),
            ToolCallStart(0, "c0", "weather"),
            ToolCallDelta(0, '{"ci'),
            ToolCallStart(1, "c1", "clock"),
            ToolCallDelta(0, 'ty": "Paris"}'),
            StreamFinish("tool_calls"),
            StreamUsage(Usage(10, 4, 0, 1)),
        ]
    )
    parts = [c["candidates"][0]["content"]["parts"] for c in chunks]
    assert parts[0] == [{"text": "think", "thought": True}]
    assert parts[1] == [{"text": "Let me check.", "thoughtSignature": "c2ln"}]
    assert parts[2] == [
        {"functionCall": {"id": "c0", "name": "weather", "args": {"city": "Paris"}}},
        {"functionCall": {"id": "c1", "name": "clock", "args": {}}},
    ]
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 3,
        "totalTokenCount": 14,
        "thoughtsTokenCount": 1,
    }
    assert all(c["responseId"] == "up-id" and c["modelVersion"] == "up-model" for c in chunks)
    assert all("usageMetadata" not in c for c in chunks[:-1])


def test_encoder_finish_without_events_and_length() -> None:
    chunks = encode_all([TextDelta("a"), StreamFinish("length")])
    assert chunks[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert encode_all([])[-1]["candidates"][0]["finishReason"] == "STOP"


def test_encoder_refuses_arguments_that_never_became_json() -> None:
    enc = StreamEncoder("i", "m")
    enc.encode(ToolCallStart(0, "c", "f"))
    enc.encode(ToolCallDelta(0, '{"a": '))
    with pytest.raises(UpstreamError, match="not a JSON object"):
        enc.finish()


def test_round_trip_through_both_codecs() -> None:
    events: list[StreamEvent] = [
        StreamStart("r", "m"),
        TextDelta("Hel"),
        TextDelta("lo"),
        ToolCallStart(0, "c0", "f"),
        ToolCallDelta(0, '{"x": [1, 2]}'),
        StreamFinish("tool_calls"),
        StreamUsage(Usage(3, 4)),
    ]
    back = decode_all(encode_all(events))
    assert "".join(e.text for e in back if isinstance(e, TextDelta)) == "Hello"
    assert [json.loads(e.arguments) for e in back if isinstance(e, ToolCallDelta)] == [{"x": [1, 2]}]
    assert StreamFinish("tool_calls") in back and StreamUsage(Usage(3, 4)) in back
