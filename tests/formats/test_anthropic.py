"""Anthropic Messages requests <-> canonical: decoding (validation, blocks, tools, options) and encoding
(translation from other formats, same-format passthrough)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adaptive_gateway.errors import InvalidRequest, UnsupportedContent
from adaptive_gateway.formats import openai_chat
from adaptive_gateway.formats.anthropic import BETA_HEADER_KEY, decode_request
from adaptive_gateway.formats.anthropic_catalog import FALLBACK_MAX_TOKENS, default_max_tokens
from adaptive_gateway.formats.anthropic_encode import JSON_OBJECT_INSTRUCTION, encode_request
from adaptive_gateway.types import ChatRequest, ContentPart, Message, ResponseFormat, Tool, ToolCall
from tests.support.anthropic_gw import client_sample

USER = {"role": "user", "content": "hi"}


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 100, "messages": [USER], **kw}


def roundtrip(req: ChatRequest, model: str = "claude-up") -> dict[str, Any]:
    """Encode as if the request came from another format (no passthrough)."""
    req.raw = None
    req.wire = "openai_chat"
    return encode_request(req, model, 4096)


# ---- decoding --------------------------------------------------------------------------------------------


def test_system_string_and_blocks_keep_cache_control() -> None:
    req = decode_request(body(system="Be brief."))
    assert req.messages[0].role == "system" and req.messages[0].text() == "Be brief."
    blocks = [
        {"type": "text", "text": "A"},
        {"type": "text", "text": "B", "cache_control": {"type": "ephemeral"}},
    ]
    req = decode_request(body(system=blocks))
    sys_msg = req.messages[0]
    assert [p.text for p in sys_msg.content] == ["A", "B"]
    assert sys_msg.content[0].extra is None
    assert sys_msg.content[1].extra == blocks[1]
    out = roundtrip(req)
    assert out["system"] == blocks


def test_system_role_inside_messages_is_kept_in_place() -> None:
    msgs = [
        USER,
        {"role": "system", "content": [{"type": "text", "text": "env"}], "output_config": {}},
        {"role": "assistant", "content": "ok"},
    ]
    req = decode_request(body(messages=msgs))
    assert [m.role for m in req.messages] == ["user", "system", "assistant"]
    out = roundtrip(req)
    assert [m["role"] for m in out["messages"]] == ["user", "system", "assistant"]
    assert "system" not in out


def test_images_base64_and_url() -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
    ]
    req = decode_request(body(messages=[{"role": "user", "content": content}]))
    a, b = req.messages[0].content
    assert (a.type, a.data, a.media_type) == ("image", "QUJD", "image/jpeg")
    assert (b.type, b.url) == ("image", "https://x.test/a.png")
    assert roundtrip(req)["messages"][0]["content"] == content
    oai = openai_chat.encode_request(req, "m")
    assert oai["messages"][0]["content"][0]["image_url"]["url"] == "data:image/jpeg;base64,QUJD"


def test_tool_use_and_tool_result_split_into_canonical_turns() -> None:
    msgs = [
        USER,
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig1"},
                {"type": "text", "text": "Calling."},
                {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
                {"type": "tool_use", "id": "t2", "name": "g", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
                {
                    "type": "tool_result",
                    "tool_use_id": "t2",
                    "is_error": True,
                    "content": [{"type": "text", "text": "boom"}],
                },
                {"type": "text", "text": "continue"},
            ],
        },
    ]
    req = decode_request(body(messages=msgs))
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "tool", "user"]
    asst = req.messages[1]
    assert asst.reasoning == "hmm" and asst.reasoning_signature == "sig1" and asst.text() == "Calling."
    assert [(t.id, t.name, json.loads(t.arguments)) for t in asst.tool_calls] == [
        ("t1", "f", {"a": 1}),
        ("t2", "g", {}),
    ]
    assert req.messages[2].tool_call_id == "t1" and req.messages[2].text() == "one"
    assert req.messages[3].is_error and req.messages[3].text() == "boom"
    # back to Anthropic: one user turn holds both results and the text, thinking keeps its signature
    out = roundtrip(req)["messages"]
    assert out[1]["content"][0] == {"type": "thinking", "thinking": "hmm", "signature": "sig1"}
    assert out[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
            {"type": "tool_result", "tool_use_id": "t2", "content": "boom", "is_error": True},
            {"type": "text", "text": "continue"},
        ],
    }


def test_tool_reference_becomes_text_for_others_and_verbatim_for_anthropic() -> None:
    ref = {"type": "tool_reference", "tool_name": "mcp__gw__echo"}
    msgs = [
        USER,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t", "name": "ToolSearch", "input": {"query": "x"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [ref]}]},
    ]
    req = decode_request(body(messages=msgs))
    tool = req.messages[2]
    assert tool.text() == "Tool loaded: mcp__gw__echo"
    oai = openai_chat.encode_request(req, "m")
    assert oai["messages"][2]["content"] == "Tool loaded: mcp__gw__echo"
    assert roundtrip(req)["messages"][2]["content"][0]["content"] == [ref]


def test_claude_code_samples_decode() -> None:
    try:
        rec = client_sample("claude_code_tool_reference.json")
    except FileNotFoundError:
        pytest.skip("client samples not available")
    req = decode_request(rec["body"], beta=rec["headers"]["anthropic-beta"])
    assert req.stream and req.wire == "anthropic_messages"
    assert req.extra["context_management"] == rec["body"]["context_management"]
    assert req.extra[BETA_HEADER_KEY] == rec["headers"]["anthropic-beta"]
    assert req.thinking_budget is None and req.reasoning_effort is None  # adaptive: nothing to translate
    assert all(t.parameters.get("$schema") for t in req.tools)
    assert [m.role for m in req.messages][:3] == ["system", "user", "system"]
    assert not req.messages[0].text().startswith("x-anthropic-billing-header")  # Anthropic-only data
    assert req.raw is not None and req.raw["system"][0]["text"].startswith("x-anthropic-billing-header")


def test_defer_loading_and_cache_control_on_tools_are_dropped_for_translation() -> None:
    tools = [
        {
            "name": "f",
            "description": "d",
            "input_schema": {"type": "object"},
            "defer_loading": True,
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ]
    req = decode_request(body(tools=tools))
    assert [t.name for t in req.tools] == ["f"]
    assert req.extra["builtin_tools"] == ["tools[1]"]
    oai = openai_chat.encode_request(req, "m")
    assert oai["tools"] == [
        {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
    ]


@pytest.mark.parametrize(
    ("choice", "canonical", "parallel"),
    [
        ({"type": "auto"}, "auto", None),
        ({"type": "any"}, "required", None),
        ({"type": "none"}, "none", None),
        ({"type": "tool", "name": "f"}, {"type": "function", "function": {"name": "f"}}, None),
        ({"type": "auto", "disable_parallel_tool_use": True}, "auto", False),
    ],
)
def test_tool_choice_both_ways(choice: dict[str, Any], canonical: Any, parallel: bool | None) -> None:
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    req = decode_request(body(tools=tools, tool_choice=choice))
    assert req.tool_choice == canonical and req.parallel_tool_calls is parallel
    assert roundtrip(req)["tool_choice"] == choice


def test_options_and_unknown_fields() -> None:
    req = decode_request(
        body(
            stop_sequences=["X"],
            temperature=0.5,
            top_p=0.9,
            top_k=3,
            metadata={"user_id": "u"},
            thinking={"type": "enabled", "budget_tokens": 2048},
            context_management={"a": 1},
            output_config={"effort": "high"},
        )
    )
    assert req.stop == ["X"] and req.temperature == 0.5 and req.top_p == 0.9 and req.max_tokens == 100
    assert req.user == "u" and req.thinking_budget == 2048 and req.response_format is None
    assert req.extra == {"context_management": {"a": 1}}
    out = roundtrip(req)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert out["max_tokens"] == 2148  # raised above the budget, as Anthropic requires
    assert "temperature" not in out and "top_p" not in out  # refused next to thinking
    assert out["metadata"] == {"user_id": "u"} and out["stop_sequences"] == ["X"]


@pytest.mark.parametrize("key", ["output_config", "output_format"])
def test_structured_output_formats(key: str) -> None:
    schema = {"type": "object", "title": "Person", "properties": {"name": {"type": "string"}}}
    fmt = {"type": "json_schema", "schema": schema}
    req = decode_request(body(**{key: {"format": fmt} if key == "output_config" else fmt}))
    assert req.response_format == ResponseFormat("json_schema", schema, "Person")
    assert roundtrip(req)["output_config"] == {"format": fmt}
    oai = openai_chat.encode_request(req, "m")
    assert oai["response_format"]["json_schema"]["schema"] == schema


@pytest.mark.parametrize(
    ("kw", "param"),
    [
        ({"model": ""}, "model"),
        ({"messages": "hi"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "5"}, "max_tokens"),
        ({"temperature": 1.5}, "temperature"),
        ({"stream": "yes"}, "stream"),
        ({"tools": [{"name": "f"}]}, "tools[0].input_schema"),
        ({"tool_choice": {"type": "maybe"}}, "tool_choice.type"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        ({"output_config": {"format": {"type": "json_schema"}}}, "output_config.format"),
        ({"system": [{"type": "image"}]}, "system[0]"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "ftp"}}]}]},
            "messages[0].content[0].source.type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]},
            "messages[0].content[0].tool_use_id",
        ),
        ({"stop_sequences": [1]}, "stop_sequences"),
    ],
)
def test_invalid_fields_name_the_field(kw: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        decode_request(body(**kw))
    assert info.value.param == param


def test_missing_max_tokens_and_newer_thinking_kinds_are_accepted() -> None:
    b = body(thinking={"type": "between_tools"})
    del b["max_tokens"]
    req = decode_request(b)
    assert req.max_tokens is None and req.thinking_budget is None
    assert encode_request(req, "claude-up", 777)["max_tokens"] == 777  # passthrough fills it in


# ---- encoding from other formats -------------------------------------------------------------------------


def test_passthrough_swaps_only_the_model() -> None:
    b = body(context_management={"edits": []}, output_config={"effort": "low"}, weird=[1, 2])
    req = decode_request(b)
    assert encode_request(req, "claude-up", 4096) == {**b, "model": "claude-up"}


def test_openai_request_to_anthropic() -> None:
    oai = {
        "model": "gpt",
        "max_tokens": 20,
        "temperature": 1.8,
        "top_p": 0.5,
        "stop": "END",
        "user": "u",
        "reasoning_effort": "medium",
        "parallel_tool_calls": False,
        "stream": True,
        "messages": [
            {"role": "developer", "content": "dev rules"},
            {"role": "system", "content": "sys rules"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "q"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,QQ=="}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
                    {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{broken"}},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "r1"},
            {"role": "tool", "tool_call_id": "c2", "content": "r2"},
            {"role": "assistant", "content": "done", "reasoning_content": "unsigned thoughts"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"properties": {}}}}],
    }
    out = encode_request(openai_chat.decode_request(oai), "claude-up", 4096)
    assert out["system"] == [{"type": "text", "text": "dev rules"}, {"type": "text", "text": "sys rules"}]
    assert out["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "QQ=="},
    }
    assert out["messages"][1]["content"] == [
        {"type": "tool_use", "id": "c1", "name": "f", "input": {"x": 1}},
        {"type": "tool_use", "id": "c2", "name": "f", "input": {"_raw_arguments": "{broken"}},
    ]
    assert out["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "r1"},
            {"type": "tool_result", "tool_use_id": "c2", "content": "r2"},
        ],
    }
    assert out["messages"][3] == {"role": "assistant", "content": "done"}  # unsigned reasoning dropped
    assert out["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert out["max_tokens"] == 8212 and "temperature" not in out
    assert out["stop_sequences"] == ["END"] and out["metadata"] == {"user_id": "u"} and out["stream"] is True


def test_temperature_is_clamped_and_json_object_is_instructed() -> None:
    req = ChatRequest(
        "m",
        [Message("user", [ContentPart("text", text="x")])],
        temperature=1.7,
        response_format=ResponseFormat("json_object"),
    )
    out = encode_request(req, "claude-up", 4096)
    assert out["temperature"] == 1.0
    assert out["system"] == [{"type": "text", "text": JSON_OBJECT_INSTRUCTION}]


def test_unsupported_content_is_a_clear_error() -> None:
    req = ChatRequest("m", [Message("user", [ContentPart("audio", data="AA", media_type="audio/wav")])])
    with pytest.raises(UnsupportedContent) as info:
        encode_request(req, "claude-up", 4096)
    assert info.value.param == "messages[0].content[0]"
    with pytest.raises(InvalidRequest, match="n must be 1"):
        encode_request(ChatRequest("m", [Message("user")], n=2), "claude-up", 4096)


def test_pdf_file_part_becomes_a_document() -> None:
    part = ContentPart(
        "file", extra={"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBER"}}
    )
    out = encode_request(ChatRequest("m", [Message("user", [part])]), "claude-up", 4096)
    assert out["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}}
    ]


def test_empty_assistant_turns_are_dropped_and_tool_schema_kept() -> None:
    req = ChatRequest(
        "m",
        [
            Message("user", [ContentPart("text", text="a")]),
            Message("assistant"),
            Message("user", [ContentPart("text", text="b")]),
        ],
        tools=[Tool("f", "", {"type": "object", "$schema": "x"})],
        tool_choice="none",
    )
    out = encode_request(req, "claude-up", 4096)
    assert [m["role"] for m in out["messages"]] == ["user", "user"]
    assert out["tools"][0]["input_schema"] == {"type": "object", "$schema": "x"}
    assert out["tool_choice"] == {"type": "none"}


def test_max_tokens_catalog() -> None:
    assert default_max_tokens("claude-3-haiku-20240307") == 4096
    assert default_max_tokens("claude-3-5-sonnet-latest") == 8192
    assert default_max_tokens("claude-sonnet-4-5") == 16384
    assert default_max_tokens("anthropic/claude-opus-4-1") == 16384
    assert default_max_tokens("claude-next") == 8192
    assert default_max_tokens("llama3") == FALLBACK_MAX_TOKENS


def test_tool_call_arguments_that_are_not_objects() -> None:
    req = ChatRequest(
        "m", [Message("assistant", tool_calls=[ToolCall("c", "f", "[1, 2]"), ToolCall("d", "g", "")])]
    )
    blocks = encode_request(req, "claude-up", 4096)["messages"][0]["content"]
    assert [b["input"] for b in blocks] == [{"value": [1, 2]}, {}]
