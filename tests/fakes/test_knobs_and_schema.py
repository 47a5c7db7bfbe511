from __future__ import annotations

import json

import pytest

from adaptive_gateway.fakes.answer import Ask, Tool, default_words, make_answer, split_pieces, split_words
from adaptive_gateway.fakes.knobs import Knobs
from adaptive_gateway.fakes.schema import sample


def test_header_overrides_parse_each_type() -> None:
    headers = {
        "X-Fake-Status": "429",
        "x-fake-latency-ms": "12.5",
        "x-fake-echo": "true",
        "x-fake-retry-after": "none",
        "x-fake-drop-after": "3",
        "x-fake-text": "hello world",
        "x-fake-unknown": "ignored",
        "authorization": "Bearer k",
    }
    knobs = Knobs(retry_after=5).with_headers(headers)
    assert knobs == Knobs(
        status=429, latency_ms=12.5, echo=True, retry_after=None, drop_after=3, text="hello world"
    )


def test_no_overrides_returns_same_object_and_headers_round_trip() -> None:
    base = Knobs(tokens=3, tool_call=True, reasoning="r")
    assert base.with_headers({"accept": "x"}) is base
    assert Knobs().with_headers(base.to_headers()) == base


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "x"),
        ({"type": "integer"}, 1),
        ({"type": "number"}, 1.5),
        ({"type": "boolean"}, True),
        ({"type": "string", "enum": ["b", "a"]}, "b"),
        ({"type": "array", "items": {"type": "integer"}}, [1]),
        ({"type": ["null", "string"]}, "x"),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, 1),
        ({"type": "OBJECT", "properties": {"n": {"type": "STRING"}}, "required": ["n"]}, {"n": "x"}),
        (
            {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}},
            {"a": "x", "b": 1},
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}, "opt": {"type": "integer"}},
                "required": ["a"],
            },
            {"a": "x"},
        ),
    ],
)
def test_schema_samples(schema: dict[str, object], expected: object) -> None:
    assert sample(schema) == expected


def test_schema_refs_nested_and_recursive() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "child": {"$ref": "#/$defs/Node"}},
                "required": ["name", "child"],
            }
        },
        "type": "object",
        "properties": {
            "root": {"$ref": "#/$defs/Node"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["root", "tags"],
    }
    value = sample(schema)
    assert value["root"]["name"] == "x" and value["tags"] == ["x"]
    json.dumps(value)  # recursion is cut off rather than looping forever


def test_words_and_pieces_rejoin() -> None:
    text = "  leading and   inner spaces\nnew line "
    assert "".join(split_words(text)) == text
    assert (
        "".join(split_pieces('{"city": "x"}')) == '{"city": "x"}' and len(split_pieces('{"city": "x"}')) == 3
    )
    assert len(default_words(20)) == 20 and default_words(0) == ()


def test_answer_precedence() -> None:
    tool = Tool("t", {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
    ask = Ask(last_user_text="echo me", tools=(tool,), schema={"type": "object", "properties": {}})
    assert make_answer(Knobs(tool_call=True, parallel_tools=3), ask).finish == "tool"
    assert len(make_answer(Knobs(tool_call=True, parallel_tools=3), ask).tool_calls) == 3
    assert make_answer(Knobs(echo=True), ask).text == "{}"
    assert make_answer(Knobs(echo=True), Ask(last_user_text="echo me")).text == "echo me"
    no_tools = Ask(tools=(tool,), force_tools=True, no_tools=True)
    assert make_answer(Knobs(tool_call=True), no_tools).tool_calls == ()
    assert make_answer(Knobs(), Ask(tools=(tool,), force_tools=True)).tool_calls[0].arguments == {"q": "x"}
