"""Ollama /api/chat codec: object arguments, base64 images, tool names, format, options, NDJSON events."""

from __future__ import annotations

import json

import pytest

from adaptive_gateway.errors import InvalidRequest, UnsupportedContent
from adaptive_gateway.formats import ollama
from adaptive_gateway.types import (
    ChatRequest,
    ContentPart,
    Message,
    ReasoningDelta,
    ResponseFormat,
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def test_encode_request() -> None:
    req = ChatRequest(
        model="alias",
        messages=[
            Message("developer", [ContentPart("text", text="sys")]),
            Message(
                "user",
                [
                    ContentPart("text", text="what is "),
                    ContentPart("text", text="this?"),
                    ContentPart("image", data="AAAA", media_type="image/png"),
                ],
            ),
            Message(
                "assistant", reasoning="hmm", tool_calls=[ToolCall("t1", "weather", '{"city": "Paris"}')]
            ),
            Message("tool", [ContentPart("text", text="sunny")], tool_call_id="t1"),
        ],
        stream=True,
        tools=[Tool("weather", "w", SCHEMA)],
        temperature=0.2,
        top_p=0.9,
        max_tokens=20,
        stop=["END"],
        seed=1,
        response_format=ResponseFormat("json_schema", SCHEMA),
        reasoning_effort="high",
    )
    body = ollama.encode_request(req, "llama3.2")
    assert body["model"] == "llama3.2" and body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "what is this?", "images": ["AAAA"]},
        {
            "role": "assistant",
            "content": "",
            "thinking": "hmm",
            "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "sunny", "tool_name": "weather"},
    ]
    assert body["tools"] == [
        {"type": "function", "function": {"name": "weather", "description": "w", "parameters": SCHEMA}}
    ]
    assert body["format"] == SCHEMA
    assert body["options"] == {
        "temperature": 0.2,
        "top_p": 0.9,
        "num_predict": 20,
        "seed": 1,
        "stop": ["END"],
    }
    assert body["think"] is True


def test_encode_json_mode_and_no_extras() -> None:
    req = ChatRequest(
        "m",
        [Message("user", [ContentPart("text", text="x")])],
        response_format=ResponseFormat("json_object"),
        tools=[Tool("f")],
        tool_choice="none",
    )
    body = ollama.encode_request(req, "m")
    assert body["format"] == "json" and "tools" not in body and "options" not in body and "think" not in body


@pytest.mark.parametrize(
    "part",
    [
        ContentPart("audio", data="AAAA", media_type="audio/wav"),
        ContentPart("image", url="gs://bucket/x.png"),
        ContentPart("file", data="AAAA", media_type="application/pdf"),
    ],
)
def test_content_ollama_cannot_take_is_refused(part: ContentPart) -> None:
    req = ChatRequest("m", [Message("user", [ContentPart("text", text="x"), part])])
    with pytest.raises(UnsupportedContent) as exc:
        ollama.encode_request(req, "m")
    assert exc.value.param == "messages[0].content[1]"


def test_broken_arguments_in_history_are_a_clear_400() -> None:
    req = ChatRequest("m", [Message("assistant", tool_calls=[ToolCall("t", "f", "[1, 2]")])])
    with pytest.raises(InvalidRequest, match="must be a JSON object"):
        ollama.encode_request(req, "m")


def test_decode_response() -> None:
    body = {
        "model": "llama3.2",
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 12,
        "eval_count": 5,
        "message": {
            "role": "assistant",
            "content": "",
            "thinking": "plan",
            "tool_calls": [
                {"function": {"name": "weather", "arguments": {"city": "Paris"}}},
                {"id": "call_x", "function": {"name": "clock", "arguments": {}}},
            ],
        },
    }
    resp = ollama.decode_response(body)
    msg = resp.choices[0].message
    assert msg.reasoning == "plan" and msg.text() == ""
    assert [(c.name, json.loads(c.arguments)) for c in msg.tool_calls] == [
        ("weather", {"city": "Paris"}),
        ("clock", {}),
    ]
    assert msg.tool_calls[1].id == "call_x" and msg.tool_calls[0].id.startswith("call_")
    assert resp.choices[0].finish_reason == "tool_calls"
    assert resp.usage == Usage(12, 5)
    length = ollama.decode_response({"message": {"content": "abc"}, "done_reason": "length"})
    assert length.choices[0].finish_reason == "length" and length.usage is None


def test_stream_decoder() -> None:
    dec = ollama.StreamDecoder()
    lines = [
        {"model": "q", "message": {"role": "assistant", "content": "", "thinking": "hm"}, "done": False},
        {"model": "q", "message": {"role": "assistant", "content": "Hi"}, "done": False},
        {
            "model": "q",
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"function": {"name": "a", "arguments": {"x": 1}}},
                    {"function": {"name": "b", "arguments": {}}},
                ],
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
    events: list[StreamEvent] = [e for line in lines for e in dec.feed(line)]
    assert isinstance(events[0], StreamStart) and events[0].model == "q"
    assert events[1:3] == [ReasoningDelta("hm"), TextDelta("Hi")]
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(s.tool_index, s.name) for s in starts] == [(0, "a"), (1, "b")]
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta)] == ['{"x":1}', "{}"]
    assert events[-2:] == [StreamFinish("tool_calls"), StreamUsage(Usage(3, 4))]
