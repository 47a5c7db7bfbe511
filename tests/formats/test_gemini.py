"""Gemini request / response codec: both key spellings, ids for id-less calls, schemas, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adaptive_gateway.errors import InvalidRequest, UnsupportedContent, UpstreamError
from adaptive_gateway.formats import gemini
from adaptive_gateway.formats.gemini_encode import SKIP_SIGNATURE, encode
from adaptive_gateway.formats.gemini_request import decode
from adaptive_gateway.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    ContentPart,
    Message,
    ResponseFormat,
    Tool,
    ToolCall,
    Usage,
)

PNG_URLSAFE = "iVBORw0KGgoAAAANSUhEUgAAAEAAAABACAIAAAAlC-aJAAAAS0lEQVR42u3PQQkA"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def test_text_system_and_generation_config_in_both_spellings() -> None:
    body = {
        "contents": [user("hi"), {"role": "model", "parts": [{"text": "hello"}]}, user("again")],
        "system_instruction": {"parts": [{"text": "be terse"}, {"text": "be kind"}]},
        "generationConfig": {
            "temperature": 0.3,
            "top_p": 0.9,
            "maxOutputTokens": 50,
            "stop_sequences": ["END"],
            "candidateCount": 1,
            "seed": 7,
            "thinking_config": {"thinking_budget": 2048, "thinkingLevel": "HIGH"},
        },
    }
    req = decode(body, "m", stream=True)
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "user"]
    assert req.messages[0].text() == "be terse\nbe kind"
    assert (req.temperature, req.top_p, req.max_tokens, req.stop, req.n, req.seed) == (
        0.3,
        0.9,
        50,
        ["END"],
        1,
        7,
    )
    assert req.thinking_budget == 2048 and req.reasoning_effort == "high"
    assert req.stream and req.wire == "gemini" and req.raw is body and req.model == "m"


def test_inline_data_urlsafe_base64_is_normalized_and_file_data_kept_as_url() -> None:
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"inline_data": {"mime_type": "image/png", "data": PNG_URLSAFE}},
                    {"fileData": {"mimeType": "audio/mp3", "fileUri": "https://example.com/a.mp3"}},
                    {"text": "what?"},
                ],
            }
        ]
    }
    parts = decode(body, "m", False).messages[0].content
    assert parts[0].type == "image" and parts[0].media_type == "image/png"
    assert parts[0].data == PNG_URLSAFE.replace("-", "+").replace("_", "/") + "=" * (-len(PNG_URLSAFE) % 4)
    assert (parts[1].type, parts[1].url) == ("audio", "https://example.com/a.mp3")
    assert parts[2].text == "what?"


def test_function_calls_get_stable_ids_and_responses_match_by_name_then_order() -> None:
    body = {
        "contents": [
            user("weather in Paris and Rome, and the time?"),
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"name": "weather", "args": {"city": "Paris"}},
                        "thoughtSignature": "c2ln",
                    },
                    {"function_call": {"name": "weather", "args": {"city": "Rome"}}},
                    {"functionCall": {"name": "clock", "args": {}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "clock", "response": {"output": "noon"}}},
                    {"functionResponse": {"name": "weather", "response": {"sky": "sunny"}}},
                    {"function_response": {"name": "weather", "response": {"error": "no data"}}},
                ],
            },
        ]
    }
    msgs = decode(body, "m", False).messages
    calls = msgs[1].tool_calls
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_0", "weather", {"city": "Paris"}),
        ("call_1", "weather", {"city": "Rome"}),
        ("call_2", "clock", {}),
    ]
    assert msgs[1].reasoning_signature == "c2ln"
    results = msgs[2:]
    assert [(m.role, m.tool_call_id, m.name) for m in results] == [
        ("tool", "call_2", "clock"),
        ("tool", "call_0", "weather"),
        ("tool", "call_1", "weather"),
    ]
    assert json.loads(results[1].text()) == {"sky": "sunny"}
    assert results[2].is_error and not results[1].is_error
    # the same history decodes to the same ids every time it is re-sent
    assert [c.id for c in decode(body, "m", False).messages[1].tool_calls] == ["call_0", "call_1", "call_2"]


def test_tools_schemas_and_tool_config() -> None:
    legacy = {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING", "nullable": True},
            "days": {"type": "ARRAY", "items": {"type": "INTEGER"}, "max_items": 3},
        },
        "required": ["city"],
        "property_ordering": ["city", "days"],
    }
    body = {
        "contents": [user("hi")],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "a", "description": "A", "parameters": legacy},
                    {"name": "b", "parameters_json_schema": WEATHER},
                    {"name": "c"},
                ]
            },
            {"googleSearch": {}},
        ],
        "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["b"]}},
    }
    req = decode(body, "m", False)
    assert [t.name for t in req.tools] == ["b"]  # ANY + allowed names narrows the tool list
    assert req.tool_choice == {"type": "function", "function": {"name": "b"}}
    assert req.tools[0].parameters == WEATHER
    assert req.extra["builtin_tools"] == ["tools[1].googleSearch"]
    body["tool_config"] = {"functionCallingConfig": {"mode": "AUTO"}}
    req = decode(body, "m", False)
    assert req.tool_choice == "auto"
    assert req.tools[0].parameters == {
        "type": "object",
        "properties": {
            "city": {"type": ["string", "null"]},
            "days": {"type": "array", "items": {"type": "integer"}, "maxItems": 3},
        },
        "required": ["city"],
    }
    assert req.tools[2].parameters == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"responseMimeType": "application/json"}, ResponseFormat("json_object")),
        (
            {
                "response_mime_type": "application/json",
                "response_schema": {"type": "OBJECT", "title": "P", "properties": {"n": {"type": "INTEGER"}}},
            },
            ResponseFormat(
                "json_schema", {"type": "object", "title": "P", "properties": {"n": {"type": "integer"}}}, "P"
            ),
        ),
        (
            {"responseMimeType": "application/json", "responseJsonSchema": WEATHER},
            ResponseFormat("json_schema", WEATHER),
        ),
        ({"responseMimeType": "text/plain"}, None),
    ],
)
def test_structured_output(config: dict[str, Any], expected: ResponseFormat | None) -> None:
    assert (
        decode({"contents": [user("x")], "generationConfig": config}, "m", False).response_format == expected
    )


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"contents": []}, "contents", "at least one"),
        ({}, "contents", "must be a list"),
        ({"contents": [{"role": "robot", "parts": [{"text": "x"}]}]}, "contents[0].role", "unknown role"),
        (
            {"contents": [{"role": "user", "parts": [{"video": 1}]}]},
            "contents[0].parts[0]",
            "unsupported part",
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "%%%"}}]}
                ]
            },
            "contents[0].parts[0].inlineData.data",
            "base64",
        ),
        (
            {"contents": [user("x")], "generationConfig": {"temperature": 5}},
            "generationConfig.temperature",
            "between",
        ),
        (
            {
                "contents": [user("x")],
                "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJEKT"}}]}],
            },
            "tools[0].functionDeclarations[0].parameters",
            "unknown type 'OBJEKT'",
        ),
        (
            {
                "contents": [user("x")],
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parametersJsonSchema": {"type": "object", "properties": {"a": "string"}},
                            }
                        ]
                    }
                ],
            },
            "tools[0].functionDeclarations[0].parametersJsonSchema",
            "properties.a: must be a JSON schema object",
        ),
        (
            {"contents": [user("x")], "tools": [{"functionDeclarations": [{"description": "no name"}]}]},
            "tools[0].functionDeclarations[0].name",
            "required",
        ),
        (
            {"contents": [user("x")], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}},
            "toolConfig.functionCallingConfig.mode",
            "unknown mode",
        ),
    ],
)
def test_bad_input_names_the_field(body: dict[str, Any], param: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        decode(body, "m", False)
    assert exc.value.param == param
    assert fragment in exc.value.message


def test_encode_canonical_request() -> None:
    req = ChatRequest(
        model="m",
        messages=[
            Message("system", [ContentPart("text", text="sys")]),
            Message(
                "user",
                [
                    ContentPart("text", text="look"),
                    ContentPart("image", data="AAAA", media_type="image/png"),
                    ContentPart("image", url="gs://bucket/x.jpg", media_type="image/jpeg"),
                ],
            ),
            Message(
                "assistant",
                tool_calls=[ToolCall("t1", "weather", '{"city": "Paris"}'), ToolCall("t2", "clock", "")],
            ),
            Message("tool", [ContentPart("text", text='{"sky": "sunny"}')], tool_call_id="t1"),
            Message("tool", [ContentPart("text", text="noon")], tool_call_id="t2"),
            Message("user", [ContentPart("text", text="thanks")]),
        ],
        tools=[Tool("weather", "w", WEATHER), Tool("clock")],
        tool_choice="required",
        temperature=0.5,
        top_p=0.8,
        max_tokens=10,
        stop=["x"],
        seed=3,
        response_format=ResponseFormat(
            "json_schema", {"$schema": "https://json-schema.org/draft", **WEATHER}
        ),
        reasoning_effort="low",
    )
    body = encode(req)
    assert body["systemInstruction"] == {"parts": [{"text": "sys"}]}
    c = body["contents"]
    assert [x["role"] for x in c] == ["user", "model", "user", "user"]
    assert c[0]["parts"] == [
        {"text": "look"},
        {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/x.jpg"}},
    ]
    assert c[1]["parts"] == [
        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": SKIP_SIGNATURE},
        {"functionCall": {"name": "clock", "args": {}}},
    ]
    # parallel results go back together, matched to their call's name by id
    assert c[2]["parts"] == [
        {"functionResponse": {"name": "weather", "response": {"sky": "sunny"}}},
        {"functionResponse": {"name": "clock", "response": {"output": "noon"}}},
    ]
    assert body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] == WEATHER
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert body["generationConfig"] == {
        "temperature": 0.5,
        "topP": 0.8,
        "maxOutputTokens": 10,
        "seed": 3,
        "stopSequences": ["x"],
        "responseMimeType": "application/json",
        "responseJsonSchema": WEATHER,
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
    }


def test_encode_keeps_a_real_signature_and_maps_tool_choice() -> None:
    msg = Message(
        "assistant", tool_calls=[ToolCall("t", "f", "{}")], reasoning="hm", reasoning_signature="c2ln"
    )
    req = ChatRequest(
        "m",
        [Message("user", [ContentPart("text", text="x")]), msg],
        tools=[Tool("f")],
        tool_choice={"type": "function", "function": {"name": "f"}},
    )
    body = encode(req)
    assert body["contents"][1]["parts"] == [
        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln"}
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}
    req.tool_choice = "none"
    assert "tools" not in encode(req)


def test_encode_refuses_what_gemini_cannot_carry() -> None:
    bad_args = ChatRequest("m", [Message("assistant", tool_calls=[ToolCall("t", "f", "{not json")])])
    with pytest.raises(InvalidRequest) as exc:
        encode(bad_args)
    assert exc.value.param == "messages[0].tool_calls[0].function.arguments"
    other = ChatRequest("m", [Message("user", [ContentPart("other", extra={"type": "x"})])])
    with pytest.raises(UnsupportedContent) as exc2:
        encode(other)
    assert exc2.value.param == "messages[0].content[0]"


def test_unmodeled_fields_are_kept_for_passthrough() -> None:
    body = {"contents": [user("hi")], "safetySettings": [{"category": "X", "threshold": "BLOCK_NONE"}]}
    req = decode(body, "m", False)
    assert req.raw is body
    assert req.extra == {"safetySettings": body["safetySettings"]}


def test_decode_response_parts_finish_and_usage() -> None:
    body = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "planning", "thought": True},
                        {"text": "Calling."},
                        {
                            "functionCall": {"name": "weather", "args": {"city": "Paris"}},
                            "thoughtSignature": "c2ln",
                        },
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 3,
            "cachedContentTokenCount": 4,
            "totalTokenCount": 18,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
    }
    resp = gemini.decode_response(body)
    msg = resp.choices[0].message
    assert (msg.reasoning, msg.text(), msg.reasoning_signature) == ("planning", "Calling.", "c2ln")
    assert msg.tool_calls[0].name == "weather" and msg.tool_calls[0].id.startswith("call_")
    assert resp.choices[0].finish_reason == "tool_calls"
    assert resp.usage == Usage(10, 8, 4, 3)
    assert (resp.id, resp.model) == ("r1", "gemini-2.5-flash")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "error"),
    ],
)
def test_finish_reasons(raw: str, expected: str) -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": raw}]}
    assert gemini.decode_response(body).choices[0].finish_reason == expected


def test_blocked_prompt_is_a_content_filter_finish() -> None:
    resp = gemini.decode_response({"promptFeedback": {"blockReason": "SAFETY"}})
    assert resp.choices[0].finish_reason == "content_filter"


def test_encode_response() -> None:
    msg = Message(
        "assistant",
        [ContentPart("text", text="hi")],
        reasoning="why",
        tool_calls=[ToolCall("c1", "f", '{"a": 1}')],
        reasoning_signature="c2ln",
    )
    resp = ChatResponse("r", "m", [Choice(0, msg, "tool_calls")], Usage(10, 8, 2, 3))
    out = gemini.encode_response(resp)
    cand = out["candidates"][0]
    assert cand["content"]["parts"] == [
        {"text": "why", "thought": True, "thoughtSignature": "c2ln"},
        {"text": "hi"},
        {"functionCall": {"id": "c1", "name": "f", "args": {"a": 1}}},
    ]
    assert cand["finishReason"] == "STOP"
    assert out["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 5,
        "totalTokenCount": 18,
        "thoughtsTokenCount": 3,
        "cachedContentTokenCount": 2,
    }
    broken = ChatResponse(
        "r", "m", [Choice(0, Message("assistant", tool_calls=[ToolCall("c", "f", "{oops")]))]
    )
    with pytest.raises(UpstreamError):
        gemini.encode_response(broken)
