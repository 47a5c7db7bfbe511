"""Anthropic Messages responses and usage <-> canonical."""

from __future__ import annotations

import json

import pytest

from adaptive_gateway.formats.anthropic_response import decode_response, encode_response, message_id
from adaptive_gateway.types import ChatResponse, Choice, ContentPart, FinishReason, Message, ToolCall, Usage

BODY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "First,", "signature": "s1"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "thinking", "thinking": "then.", "signature": "s2"},
        {"type": "text", "text": "Answer "},
        {"type": "text", "text": "here."},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2]}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 10,
        "output_tokens": 20,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 5,
        "output_tokens_details": {"thinking_tokens": 7},
    },
}


def test_decode_blocks_and_usage() -> None:
    resp = decode_response(BODY)
    msg = resp.choices[0].message
    assert (
        msg.text() == "Answer here."
        and msg.reasoning == "First,\n\nthen."
        and msg.reasoning_signature == "s2"
    )
    assert [(t.id, t.name, json.loads(t.arguments)) for t in msg.tool_calls] == [
        ("toolu_1", "f", {"a": [1, 2]})
    ]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert resp.usage == Usage(
        input_tokens=115, output_tokens=20, cached_input_tokens=100, reasoning_tokens=7
    )


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("model_context_window_exceeded", "length"),
        (None, "stop"),
        ("something_new", "stop"),
    ],
)
def test_stop_reason_map(stop: str | None, finish: str) -> None:
    assert decode_response({**BODY, "stop_reason": stop}).choices[0].finish_reason == finish


def response(msg: Message, finish: FinishReason | None = "stop", usage: Usage | None = None) -> ChatResponse:
    return ChatResponse("chatcmpl-xyz", "upstream-model", [Choice(0, msg, finish)], usage)


def test_encode_from_an_openai_style_response() -> None:
    msg = Message(
        "assistant",
        [ContentPart("text", text="Hi")],
        reasoning="why",
        tool_calls=[ToolCall("call_1", "f", '{"x": 1}')],
    )
    out = encode_response(response(msg, "stop", Usage(50, 5, 20)), "claude-sonnet-4-5")
    assert out["id"] == "msg_xyz" and out["model"] == "claude-sonnet-4-5" and out["type"] == "message"
    assert out["content"] == [
        {"type": "thinking", "thinking": "why", "signature": ""},
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"x": 1}},
    ]
    assert out["stop_reason"] == "tool_use"  # tool calls always end as tool_use
    assert out["usage"] == {
        "input_tokens": 30,
        "output_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 20,
    }


def test_encode_roundtrip_and_edge_cases() -> None:
    again = encode_response(decode_response(BODY), "claude-sonnet-4-5")
    assert [b["type"] for b in again["content"]] == ["thinking", "text", "tool_use"]
    assert again["stop_reason"] == "tool_use"
    empty = encode_response(ChatResponse("", "m", []), "m")
    assert empty["content"] == [] and empty["stop_reason"] == "end_turn" and empty["id"].startswith("msg_")
    length = encode_response(response(Message("assistant", [ContentPart("text", text="cut")]), "length"), "m")
    assert length["stop_reason"] == "max_tokens"
    bad_args = encode_response(response(Message("assistant", tool_calls=[ToolCall("c", "f", "{oops")])), "m")
    assert bad_args["content"][0]["input"] == {"_raw_arguments": "{oops"}


def test_message_id() -> None:
    assert message_id("msg_abc") == "msg_abc"
    assert message_id("chatcmpl-123") == "msg_123"
    assert message_id("").startswith("msg_")
