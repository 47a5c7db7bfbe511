"""Canonical stream events -> Responses streaming events, each validated against the openai SDK's types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from adaptive_gateway.formats.openai_responses import SIGNATURE_PREFIX, decode_request
from adaptive_gateway.formats.openai_responses_stream import StreamEncoder
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

EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
TOOLS = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    {
        "type": "namespace",
        "name": "mcp__gw",
        "description": "gw",
        "tools": [{"type": "function", "name": "echo", "parameters": {"type": "object", "properties": {}}}],
    },
    {"type": "custom", "name": "apply_patch", "description": "patch"},
]


def run(events: list[StreamEvent], *, fail: str | None = None) -> list[dict[str, Any]]:
    req = decode_request({"model": "m", "input": "hi", "stream": True, "tools": TOOLS})
    enc = StreamEncoder(req, "resp_test")
    out = [e for ev in events for e in enc.encode(ev)]
    out += enc.fail(fail) if fail else enc.finish()
    assert enc.finish() == [] and enc.encode(TextDelta("late")) == []  # nothing after the end
    for ev in out:
        EVENTS.validate_python(ev)  # the SDK's own typed event models
    assert [ev["sequence_number"] for ev in out] == list(range(len(out)))
    return out


def types(out: list[dict[str, Any]]) -> list[str]:
    return [ev["type"].removeprefix("response.") for ev in out]


def test_text_stream_sequence_and_completed_response() -> None:
    out = run(
        [
            StreamStart("x", "up"),
            TextDelta("Hel"),
            TextDelta("lo"),
            StreamFinish("stop"),
            StreamUsage(Usage(7, 2, 1, 0)),
        ]
    )
    assert types(out) == [
        "created",
        "in_progress",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "completed",
    ]
    added, done, completed = out[2], out[8], out[-1]["response"]
    assert added["item"]["status"] == "in_progress" and added["item"]["content"] == []
    assert out[6]["text"] == "Hello" and out[6]["item_id"] == added["item"]["id"]
    assert done["item"]["content"][0]["text"] == "Hello"
    assert completed["id"] == "resp_test" == out[0]["response"]["id"]
    assert completed["status"] == "completed" and completed["output"] == [done["item"]]
    assert completed["usage"]["input_tokens"] == 7 and completed["usage"]["total_tokens"] == 9
    assert completed["usage"]["input_tokens_details"]["cached_tokens"] == 1


def test_reasoning_then_text_then_tool_calls() -> None:
    out = run(
        [
            ReasoningDelta("think "),
            ReasoningDelta("hard"),
            ReasoningDelta(signature="sig-1"),
            TextDelta("Calling."),
            ToolCallStart(0, "call_a", "get_weather"),
            ToolCallDelta(0, '{"ci'),
            ToolCallDelta(0, 'ty":"x"}'),
            ToolCallStart(1, "call_b", "mcp__gw__echo"),
            ToolCallDelta(1, "{}"),
            StreamFinish("tool_calls"),
            StreamUsage(Usage(5, 9, 0, 4)),
        ]
    )
    assert types(out) == [
        "created",
        "in_progress",
        "output_item.added",
        "reasoning_summary_part.added",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.done",
        "reasoning_summary_part.done",
        "output_item.done",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "output_item.added",
        "function_call_arguments.delta",
        "function_call_arguments.delta",
        "output_item.added",
        "function_call_arguments.delta",
        "function_call_arguments.done",
        "output_item.done",
        "function_call_arguments.done",
        "output_item.done",
        "completed",
    ]
    final = out[-1]["response"]
    rs, msg, fc, ns = final["output"]
    assert rs["summary"] == [{"type": "summary_text", "text": "think hard"}]
    assert rs["encrypted_content"] == SIGNATURE_PREFIX + "sig-1"
    assert msg["content"][0]["text"] == "Calling."
    assert (fc["call_id"], fc["name"], json.loads(fc["arguments"])) == (
        "call_a",
        "get_weather",
        {"city": "x"},
    )
    assert (ns["name"], ns["namespace"], ns["arguments"]) == ("echo", "mcp__gw", "{}")
    assert [o["output_index"] for o in out if o["type"] == "response.output_item.done"] == [0, 1, 2, 3]
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] == 4


def test_interleaved_parallel_calls_keep_their_own_items() -> None:
    out = run(
        [
            ToolCallStart(0, "a", "get_weather"),
            ToolCallStart(1, "b", "get_weather"),
            ToolCallDelta(1, '{"n":'),
            ToolCallDelta(0, '{"n":'),
            ToolCallDelta(0, "0}"),
            ToolCallDelta(1, "1}"),
            StreamFinish("tool_calls"),
        ]
    )
    done = {ev["item_id"]: ev["arguments"] for ev in out if ev["type"].endswith("arguments.done")}
    ids = {ev["item"]["call_id"]: ev["item"]["id"] for ev in out if ev["type"].endswith("item.added")}
    assert json.loads(done[ids["a"]]) == {"n": 0} and json.loads(done[ids["b"]]) == {"n": 1}
    assert not any(ev["type"] == "response.output_text.delta" for ev in out)


def test_custom_tool_call_input_is_sent_decoded() -> None:
    out = run(
        [
            ToolCallStart(0, "c", "apply_patch"),
            ToolCallDelta(0, '{"input": "*** Begin'),
            ToolCallDelta(0, ' Patch"}'),
            StreamFinish("tool_calls"),
        ]
    )
    assert "response.function_call_arguments.delta" not in [ev["type"] for ev in out]
    done = next(ev for ev in out if ev["type"] == "response.custom_tool_call_input.done")
    assert done["input"] == "*** Begin Patch"
    assert out[-1]["response"]["output"][0]["type"] == "custom_tool_call"


def test_empty_upstream_answer_still_has_a_message() -> None:
    out = run([StreamStart("x", "m"), StreamFinish("stop")])
    assert out[-1]["response"]["output"][0]["content"][0]["text"] == ""


def test_length_finish_is_completed_event_with_incomplete_status() -> None:
    out = run([TextDelta("cut"), StreamFinish("length")])
    final = out[-1]
    assert final["type"] == "response.completed"  # Codex needs it; the status carries the truth
    assert final["response"]["status"] == "incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["response"]["output"][0]["status"] == "incomplete"


@pytest.mark.parametrize("first", [[], [TextDelta("partial")]])
def test_failure_ends_with_response_failed(first: list[StreamEvent]) -> None:
    out = run(first, fail="upstream went away")
    assert types(out)[:2] == ["created", "in_progress"]
    failed = out[-1]
    assert failed["type"] == "response.failed" and failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "server_error", "message": "upstream went away"}


def test_stream_error_event_from_the_upstream_parser() -> None:
    out = run([TextDelta("a"), StreamError("rate limited", status=429), TextDelta("ignored")], fail=None)
    kinds = types(out)
    assert kinds[-1] == "failed" and "completed" not in kinds
    assert out[-1]["response"]["error"]["code"] == "rate_limit_exceeded"
