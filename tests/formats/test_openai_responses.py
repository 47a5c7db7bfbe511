"""Responses request -> canonical ChatRequest, and ChatResponse -> Responses JSON (units, no I/O)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.responses import Response

from adaptive_gateway.errors import InvalidRequest, UnsupportedContent
from adaptive_gateway.formats.openai_responses import SIGNATURE_PREFIX, decode_request
from adaptive_gateway.formats.openai_responses_output import encode_response
from adaptive_gateway.formats.openai_responses_tools import MAX_NAME, flat_name, tool_names
from adaptive_gateway.types import ChatResponse, Choice, ContentPart, Message, ToolCall, Usage

PNG = "data:image/png;base64,iVBORw0KGgo="
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "weather",
    "strict": True,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
NAMESPACE = {
    "type": "namespace",
    "name": "mcp__gw",
    "description": "gw MCP server",
    "tools": [
        {
            "type": "function",
            "name": "echo",
            "description": "echo text",
            "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
        },
    ],
}
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files.",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"},
}


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "m", "input": "hi", **kw}


def test_string_input_and_instructions() -> None:
    req = decode_request(body(instructions="be brief", max_output_tokens=50, temperature=0.3, top_p=0.9))
    assert [(m.role, m.text()) for m in req.messages] == [("system", "be brief"), ("user", "hi")]
    assert (req.max_tokens, req.temperature, req.top_p) == (50, 0.3, 0.9)
    assert req.wire == "openai_responses" and req.include_usage


def test_message_items_roles_and_parts() -> None:
    req = decode_request(
        body(
            input=[
                {
                    "type": "message",
                    "role": "developer",
                    "content": [{"type": "input_text", "text": "rules"}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": PNG, "detail": "high"},
                        {"type": "input_image", "image_url": "https://x.test/a.png"},
                    ],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "ok", "annotations": []}],
                },
                {"role": "system", "content": "late system"},
            ]
        )
    )
    assert [m.role for m in req.messages] == ["developer", "user", "assistant", "system"]
    img, url = req.messages[1].content[1:]
    assert (img.type, img.media_type, img.data, img.detail) == ("image", "image/png", "iVBORw0KGgo=", "high")
    assert url.url == "https://x.test/a.png"
    assert req.messages[2].text() == "ok"


def test_input_file_inline_becomes_a_file_part() -> None:
    part = {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERg=="}
    req = decode_request(body(input=[{"role": "user", "content": [part]}]))
    p = req.messages[0].content[0]
    assert (p.type, p.media_type, p.data) == ("file", "application/pdf", "JVBERg==")
    assert p.extra == {"type": "file", "file": {"filename": "a.pdf", "file_data": part["file_data"]}}


@pytest.mark.parametrize(
    ("part", "field"),
    [
        ({"type": "input_image", "file_id": "file-1"}, "input[0].content[0].file_id"),
        ({"type": "input_file", "file_id": "file-1"}, "input[0].content[0].file_id"),
        ({"type": "input_file", "file_url": "https://x.test/a.pdf"}, "input[0].content[0].file_url"),
    ],
)
def test_file_references_are_refused_naming_the_field(part: dict[str, Any], field: str) -> None:
    with pytest.raises(UnsupportedContent) as exc:
        decode_request(body(input=[{"role": "user", "content": [part]}]))
    assert exc.value.param == field and field in exc.value.message


def test_function_calls_merge_and_outputs_become_tool_messages() -> None:
    req = decode_request(
        body(
            tools=[WEATHER],
            input=[
                {"role": "user", "content": "weather in Paris and Rome?"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Checking."}],
                },
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "get_weather",
                    "arguments": '{"city":"Paris"}',
                },
                {
                    "type": "function_call",
                    "call_id": "c2",
                    "name": "get_weather",
                    "arguments": '{"city":"Rome"}',
                    "id": "fc_1",
                    "status": "completed",
                },
                {"type": "function_call_output", "call_id": "c1", "output": '{"t": 22}'},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [
                        {"type": "input_text", "text": "sunny"},
                        {"type": "input_image", "image_url": PNG},
                    ],
                },
            ],
        )
    )
    _user, assistant, t1, t2 = req.messages
    assert assistant.text() == "Checking."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in assistant.tool_calls] == [
        ("c1", "get_weather", {"city": "Paris"}),
        ("c2", "get_weather", {"city": "Rome"}),
    ]
    assert (t1.role, t1.tool_call_id, t1.text()) == ("tool", "c1", '{"t": 22}')
    assert (t2.tool_call_id, t2.text(), t2.content[1].type) == ("c2", "sunny", "image")


def test_tools_choice_format_and_flags() -> None:
    fmt = {
        "type": "json_schema",
        "name": "Person",
        "strict": True,
        "schema": {"type": "object", "properties": {"name": {"type": "string"}}},
    }
    req = decode_request(
        body(
            tools=[WEATHER],
            tool_choice={"type": "function", "name": "get_weather"},
            parallel_tool_calls=False,
            text={"format": fmt},
            reasoning={"effort": "low"},
        )
    )
    assert [(t.name, t.strict, t.parameters["required"]) for t in req.tools] == [
        ("get_weather", True, ["city"])
    ]
    assert req.tool_choice == {"type": "function", "function": {"name": "get_weather"}}
    assert req.parallel_tool_calls is False and req.reasoning_effort == "low"
    rf = req.response_format
    assert rf is not None and (rf.type, rf.name, rf.strict, rf.schema) == (
        "json_schema",
        "Person",
        True,
        fmt["schema"],
    )
    json_mode = decode_request(body(text={"format": {"type": "json_object"}})).response_format
    assert json_mode is not None and json_mode.type == "json_object"
    assert decode_request(body(text={"format": {"type": "text"}})).response_format is None


def test_codex_fields_are_kept_in_extra_and_hosted_tools_dropped() -> None:
    fields = {
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "k",
        "client_metadata": {"thread_id": "t"},
    }
    req = decode_request(
        body(
            tools=[WEATHER, {"type": "web_search"}, {"type": "image_generation"}],
            tool_choice="auto",
            metadata={"a": "b"},
            **fields,
        )
    )
    assert [t.name for t in req.tools] == ["get_weather"]
    assert req.tool_choice == "auto" and req.metadata == {"a": "b"}
    assert {k: req.extra[k] for k in fields} == fields
    only_hosted = decode_request(body(tools=[{"type": "web_search"}], tool_choice="required"))
    assert only_hosted.tools == [] and only_hosted.tool_choice is None


def test_namespace_tools_flatten_and_calls_map_back_both_ways() -> None:
    req = decode_request(
        body(
            tools=[NAMESPACE],
            input=[
                {"role": "user", "content": "echo hi"},
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "echo",
                    "namespace": "mcp__gw",
                    "arguments": "{}",
                },
                {"type": "function_call_output", "call_id": "c1", "output": "hi"},
            ],
            tool_choice={"type": "function", "name": "echo", "namespace": "mcp__gw"},
        )
    )
    assert [t.name for t in req.tools] == ["mcp__gw__echo"]
    assert req.messages[1].tool_calls[0].name == "mcp__gw__echo"
    assert req.tool_choice == {"type": "function", "function": {"name": "mcp__gw__echo"}}
    names = tool_names(req.raw)
    assert names.client("mcp__gw__echo").namespace == "mcp__gw"
    assert names.client("mcp__gw__echo").name == "echo"
    assert names.client("other").name == "other"


def test_long_or_unsafe_namespaced_names_stay_valid_and_distinct() -> None:
    long_a, long_b = flat_name("n" * 40, "a" * 40), flat_name("n" * 40, "a" * 39 + "b")
    assert len(long_a) == MAX_NAME and long_a != long_b
    odd = flat_name("mcp.srv", "do it")
    assert odd.startswith("mcp_srv__do_it_") and odd.replace("_", "").replace("-", "").isalnum()


def test_custom_tools_become_input_functions_and_round_trip() -> None:
    req = decode_request(
        body(
            tools=[APPLY_PATCH],
            input=[
                {"role": "user", "content": "patch it"},
                {
                    "type": "custom_tool_call",
                    "call_id": "c1",
                    "name": "apply_patch",
                    "input": "*** Begin Patch",
                },
                {"type": "custom_tool_call_output", "call_id": "c1", "output": "Done"},
            ],
        )
    )
    tool = req.tools[0]
    assert tool.parameters["required"] == ["input"] and "lark grammar" in tool.description
    assert json.loads(req.messages[1].tool_calls[0].arguments) == {"input": "*** Begin Patch"}
    assert req.messages[2].tool_call_id == "c1"


def test_reasoning_items_round_trip_only_when_the_gateway_signed_them() -> None:
    ours = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "think"}],
        "encrypted_content": SIGNATURE_PREFIX + "sig-123",
    }
    openai_own = {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "gAAAA-opaque"}
    call = {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"}
    req = decode_request(
        body(
            tools=[WEATHER],
            input=[
                {"role": "user", "content": "go"},
                ours,
                call,
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
                openai_own,
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "x"}]},
            ],
        )
    )
    first, second = req.messages[1], req.messages[3]
    assert (first.reasoning, first.reasoning_signature, len(first.tool_calls)) == ("think", "sig-123", 1)
    assert (second.reasoning, second.reasoning_signature) == (None, None)
    assert req.raw is not None and req.raw["input"][4] == openai_own  # kept verbatim for a passthrough


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"background": True}, "background"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
        ({"input": [{"type": "bogus_item"}]}, "input[0].type"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user", "content": [{"type": "input_video"}]}]}, "input[0].content[0].type"),
        ({"input": []}, "input"),
        ({"input": None}, "input"),
        ({"model": ""}, "model"),
        ({"tools": [{"type": "function", "name": "f", "parameters": "nope"}]}, "tools[0].parameters"),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"tool_choice": "sometimes", "tools": [WEATHER]}, "tool_choice"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ({"temperature": 3}, "temperature"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"stream": "yes"}, "stream"),
        ({"instructions": ["x"]}, "instructions"),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        decode_request(body(**extra))
    assert exc.value.status == 400 and exc.value.param == param
    assert exc.value.message.startswith(param)


def test_hosted_tool_history_items_are_skipped() -> None:
    req = decode_request(
        body(
            input=[
                {"role": "user", "content": "search"},
                {
                    "type": "web_search_call",
                    "id": "ws_1",
                    "status": "completed",
                    "action": {"type": "search"},
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "found"}],
                },
            ]
        )
    )
    assert [m.role for m in req.messages] == ["user", "assistant"]


# ---- ChatResponse -> Responses JSON -------------------------------------------------------------------


def _resp(msg: Message, finish: Any = "stop", usage: Usage | None = None) -> ChatResponse:
    return ChatResponse("chatcmpl-1", "upstream", [Choice(0, msg, finish)], usage, created=1700000000)


def test_encode_text_response_validates_as_sdk_response() -> None:
    req = decode_request(body(instructions="sys"))
    out = encode_response(
        _resp(Message("assistant", [ContentPart("text", text="Hello")]), usage=Usage(10, 5, 3, 2)), req
    )
    parsed = Response.model_validate(out)
    assert parsed.id.startswith("resp_") and parsed.object == "response" and parsed.status == "completed"
    assert parsed.output_text == "Hello" and parsed.model == "m" and parsed.instructions == "sys"
    msg = out["output"][0]
    assert msg["content"][0] == {"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}
    assert out["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 15,
    }


def test_encode_tool_calls_reasoning_and_length() -> None:
    req = decode_request(body(tools=[WEATHER, NAMESPACE, APPLY_PATCH]))
    msg = Message(
        "assistant",
        reasoning="hmm",
        reasoning_signature="sig",
        tool_calls=[
            ToolCall("call_1", "get_weather", '{"city":"x"}'),
            ToolCall("call_2", "mcp__gw__echo", '{"text":"a"}'),
            ToolCall("call_3", "apply_patch", '{"input":"*** Begin Patch"}'),
        ],
    )
    out = encode_response(_resp(msg, "tool_calls"), req)
    Response.model_validate(out)
    rs, fc, ns, ctc = out["output"]
    assert rs["summary"] == [{"type": "summary_text", "text": "hmm"}]
    assert rs["encrypted_content"] == SIGNATURE_PREFIX + "sig"
    assert (fc["type"], fc["call_id"], fc["name"], fc["status"]) == (
        "function_call",
        "call_1",
        "get_weather",
        "completed",
    )
    assert (ns["name"], ns["namespace"]) == ("echo", "mcp__gw")
    assert (ctc["type"], ctc["name"], ctc["input"]) == ("custom_tool_call", "apply_patch", "*** Begin Patch")
    cut = encode_response(_resp(Message("assistant", [ContentPart("text", text="abc")]), "length"), req)
    assert cut["status"] == "incomplete" and cut["incomplete_details"] == {"reason": "max_output_tokens"}
    assert cut["output"][0]["status"] == "incomplete"
