"""Anthropic SSE <-> canonical stream events. The encoder's output is validated event by event against the
anthropic SDK's own types and rebuilt with the SDK's accumulator, as a client would."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message as SDKMessage
from anthropic.types import RawMessageStreamEvent
from pydantic import TypeAdapter

from adaptive_gateway.fakes.answer import Answer, ToolCall, split_pieces, split_words
from adaptive_gateway.fakes.anthropic import message_frames
from adaptive_gateway.formats import openai_chat
from adaptive_gateway.formats.anthropic_stream import StreamDecoder, StreamEncoder
from adaptive_gateway.providers.anthropic import AnthropicStreamParser
from adaptive_gateway.types import (
    ReasoningDelta,
    StreamError,
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

EVENTS: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def encode(events: list[StreamEvent]) -> bytes:
    enc = StreamEncoder("chatcmpl-abc123", "claude-x")
    return b"".join(enc.encode(e) for e in events) + enc.finish()


def parse_sse(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for block in raw.decode().strip().split("\n\n"):
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        data = json.loads(data_line[6:])
        assert data["type"] == event_line[7:]
        out.append(data)
    return out


def rebuild(raw: bytes) -> tuple[SDKMessage, list[dict[str, Any]]]:
    """Validate every event with the SDK's types and accumulate them into the final message."""
    events = parse_sse(raw)
    snapshot = None
    bufs: dict[int, bytes] = {}
    for data in events:
        if data["type"] in ("ping", "error"):
            continue
        snapshot = accumulate_event(
            event=EVENTS.validate_python(data), current_snapshot=snapshot, json_bufs=bufs
        )
    assert snapshot is not None
    return snapshot, events


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def test_text_only_stream_order_and_usage() -> None:
    raw = encode(
        [
            StreamStart("x", "m"),
            TextDelta("Hel"),
            TextDelta("lo"),
            StreamFinish("stop"),
            StreamUsage(Usage(10, 3, 4)),
        ]
    )
    msg, events = rebuild(raw)
    assert kinds(events) == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert msg.id.startswith("msg_") and msg.model == "claude-x"
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].text == "Hello"  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.output_tokens, msg.usage.cache_read_input_tokens) == (6, 3, 4)


def test_thinking_text_and_tools_get_their_own_blocks() -> None:
    raw = encode(
        [
            StreamStart("x", "m"),
            ReasoningDelta("Let me "),
            ReasoningDelta("think."),
            ReasoningDelta("", signature="c2ln"),
            TextDelta("Calling tools."),
            ToolCallStart(0, "call_1", "get_weather"),
            ToolCallDelta(0, '{"ci'),
            ToolCallDelta(0, 'ty": "Paris"}'),
            ToolCallStart(1, "call_2", "get_time"),
            ToolCallDelta(1, "{}"),
            StreamFinish("tool_calls"),
            StreamUsage(Usage(5, 9)),
        ]
    )
    msg, events = rebuild(raw)
    starts = [(e["index"], e["content_block"]["type"]) for e in events if e["type"] == "content_block_start"]
    assert starts == [(0, "thinking"), (1, "text"), (2, "tool_use"), (3, "tool_use")]
    stops = [e["index"] for e in events if e["type"] == "content_block_stop"]
    assert stops == [0, 1, 2, 3]
    thinking, text, t1, t2 = msg.content
    assert (
        thinking.type == "thinking" and thinking.thinking == "Let me think." and thinking.signature == "c2ln"
    )
    assert text.type == "text" and text.text == "Calling tools."
    assert t1.type == "tool_use" and t1.input == {"city": "Paris"} and t1.id == "call_1"
    assert t2.type == "tool_use" and t2.input == {} and t2.name == "get_time"
    assert msg.stop_reason == "tool_use"


def test_tool_stream_never_leaves_input_empty_when_arguments_arrived() -> None:
    # arguments before the start, a repeated start, and an upstream that says "stop" after a tool call
    raw = encode(
        [
            ToolCallDelta(0, '{"a"'),
            ToolCallStart(0, "c", "f"),
            ToolCallStart(0, "c", "f"),
            ToolCallDelta(0, ": 1}"),
            StreamFinish("stop"),
        ]
    )
    msg, _ = rebuild(raw)
    assert len(msg.content) == 1
    assert msg.content[0].type == "tool_use" and msg.content[0].input == {"a": 1}
    assert msg.stop_reason == "tool_use"


def test_arguments_without_any_start_still_make_a_block() -> None:
    msg, _ = rebuild(encode([ToolCallDelta(0, '{"q": 2}')]))
    assert msg.content[0].type == "tool_use" and msg.content[0].input == {"q": 2} and msg.content[0].id


def test_interleaved_parallel_calls_go_to_their_own_index() -> None:
    raw = encode(
        [
            ToolCallStart(0, "a", "f"),
            ToolCallStart(1, "b", "g"),
            ToolCallDelta(0, '{"x": 1}'),
            ToolCallDelta(1, '{"y": 2}'),
            StreamFinish("tool_calls"),
        ]
    )
    msg, _ = rebuild(raw)
    assert [b.input for b in msg.content] == [{"x": 1}, {"y": 2}]  # type: ignore[union-attr]


def test_openai_chunks_through_the_encoder() -> None:
    """OpenAI-compatible upstream chunks (decoded by the OpenAI codec) re-framed as Anthropic events."""
    dec = openai_chat.StreamDecoder()
    chunks = [
        {
            "id": "chatcmpl-1",
            "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_a",
                                "type": "function",
                                "function": {"name": "f", "arguments": ""},
                            }
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"k":'}}]}}
            ]
        },
        {
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ' "v"}'}}]}}
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}},
    ]
    events = [e for c in chunks for e in dec.feed(c)]
    msg, _ = rebuild(encode(events))
    assert [b.type for b in msg.content] == ["tool_use"]
    assert msg.content[0].input == {"k": "v"}  # type: ignore[union-attr]
    assert msg.usage.input_tokens == 7 and msg.usage.output_tokens == 2


def test_empty_stream_still_frames_a_message() -> None:
    msg, events = rebuild(encode([]))
    assert kinds(events) == ["message_start", "message_delta", "message_stop"]
    assert msg.content == [] and msg.stop_reason == "end_turn"


def test_error_event_shape() -> None:
    raw = StreamEncoder("msg_1", "m").encode(StreamError("boom", "upstream_error", 502))
    events = parse_sse(raw)
    assert events[-1] == {"type": "error", "error": {"type": "api_error", "message": "boom"}}


def test_length_and_refusal_stop_reasons() -> None:
    assert rebuild(encode([TextDelta("x"), StreamFinish("length")]))[0].stop_reason == "max_tokens"
    assert rebuild(encode([TextDelta("x"), StreamFinish("content_filter")]))[0].stop_reason == "refusal"


# ---- decoding upstream SSE ------------------------------------------------------------------------------


def fake_stream(answer: Answer) -> bytes:
    return b"".join(f.data for f in message_frames(answer, "claude-sonnet-4-5"))


def test_decoder_on_the_fake_upstream_stream_any_split() -> None:
    calls = tuple(
        ToolCall(f"toolu_{i}", "f", {"i": i}, json.dumps({"i": i}), split_pieces(json.dumps({"i": i})))
        for i in range(2)
    )
    answer = Answer((), calls, "Because.", "tool", 12, split_words("Because."))
    raw = fake_stream(answer)
    for size in (1, 7, len(raw)):
        parser = AnthropicStreamParser()
        events: list[StreamEvent] = []
        for i in range(0, len(raw), size):
            events += parser.feed(raw[i : i + size])
        events += parser.close()
        assert isinstance(events[0], StreamStart)
        reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
        signature = [e.signature for e in events if isinstance(e, ReasoningDelta) and e.signature]
        assert reasoning == "Because." and len(signature) == 1
        starts = [(e.tool_index, e.id) for e in events if isinstance(e, ToolCallStart)]
        assert starts == [(0, "toolu_0"), (1, "toolu_1")]
        args = {
            i: "".join(e.arguments for e in events if isinstance(e, ToolCallDelta) and e.tool_index == i)
            for i in (0, 1)
        }
        assert {i: json.loads(a) for i, a in args.items()} == {0: {"i": 0}, 1: {"i": 1}}
        finish = [e for e in events if isinstance(e, StreamFinish)]
        usage = [e for e in events if isinstance(e, StreamUsage)]
        assert [f.reason for f in finish] == ["tool_calls"]
        assert usage[-1].usage.input_tokens == 12 and usage[-1].usage.output_tokens == answer.output_tokens


def test_decoder_roundtrip_through_encoder_keeps_block_order() -> None:
    answer = Answer(split_words("Hi there."), (), "Hmm.", "stop", 3, split_words("Hmm."))
    parser = AnthropicStreamParser()
    events = parser.feed(fake_stream(answer)) + parser.close()
    msg, _ = rebuild(encode(events))
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[1].text == "Hi there."  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}},
            },
            [ToolCallStart(0, "t", "f"), ToolCallDelta(0, '{"a":1}')],
        ),
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            [StreamError("Overloaded", "overloaded_error")],
        ),
        (
            {
                "type": "message_delta",
                "delta": {"stop_reason": "refusal"},
                "usage": {"output_tokens": 4, "input_tokens": 9},
            },
            [StreamFinish("content_filter"), StreamUsage(Usage(9, 4))],
        ),
        (
            {
                "type": "content_block_delta",
                "index": 5,
                "delta": {"type": "input_json_delta", "partial_json": "{}"},
            },
            [],
        ),
        ({"type": "ping"}, []),
    ],
)
def test_decoder_edge_events(data: dict[str, Any], expected: list[StreamEvent]) -> None:
    assert StreamDecoder().feed(data) == expected


def test_malformed_upstream_event_is_a_stream_error() -> None:
    events = AnthropicStreamParser().feed(b"event: content_block_delta\ndata: {nope\n\n")
    assert len(events) == 1 and isinstance(events[0], StreamError)
