"""The JSONC splicer: values parse like json.loads, and insertions land where a person would put them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adaptive_gateway.integrations import jsonc


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, -2.5e3, True, False, None, 'x\u00e9\n\t"\\/'], "b": {}, "c": []},
        [],
        "plain",
        {"nested": {"deep": [{"k": [0, {"z": "q"}]}]}},
    ],
)
def test_parses_like_json(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, indent=3), json.dumps(value, ensure_ascii=False)):
        assert jsonc.parse(text).value == value


def test_comments_trailing_commas_and_last_duplicate_key() -> None:
    text = '// head\n{ /* a */ "a": 1, // one\n "a": 2, "b": [1, 2,], }\n// tail\n'
    assert jsonc.parse(text).value == {"a": 2, "b": [1, 2]}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": 1,,}', "line 1, column 9"),
        ('{"a" 1}', "line 1, column 6"),
        ('{"a": tru}', "line 1, column 7"),
        ('{"a": 1} x', "line 1, column 10"),
        ('{"a": "x', "line 1, column 7"),
        ('{"a": "\\q"}', "line 1, column 7"),
        ("[1 2]", "line 1, column 4"),
        ('{\n  "a": 1\n  "b": 2\n}', "line 3, column 3"),
        ("", "line 1, column 1"),
    ],
)
def test_errors_name_line_and_column(text: str, where: str) -> None:
    with pytest.raises(jsonc.JsoncError, match=where):
        jsonc.parse(text)


def _insert(text: str, path: tuple[str, ...], key: str | None, value: Any) -> str:
    container = jsonc.find(jsonc.parse(text), path)
    assert container is not None
    return jsonc.insert(text, container, key, value)


def test_insert_after_a_trailing_line_comment() -> None:
    text = '{\n  "a": 1 // note\n}\n'
    assert _insert(text, (), "b", 2) == '{\n  "a": 1, // note\n  "b": 2\n}\n'


def test_insert_keeps_trailing_comma_style() -> None:
    text = '{\n\t"a": 1,\n}\n'
    assert _insert(text, (), "b", {"c": 3}) == '{\n\t"a": 1,\n\t"b": {\n\t\t"c": 3\n\t},\n}\n'


def test_insert_into_empty_objects_and_arrays() -> None:
    text = '{\n    "x": {},\n    "y": [\n        // nothing yet\n    ]\n}'
    once = _insert(text, ("x",), "k", "v")
    assert once == '{\n    "x": {\n        "k": "v"\n    },\n    "y": [\n        // nothing yet\n    ]\n}'
    twice = _insert(once, ("y",), None, 1)
    assert twice.endswith('"y": [\n        // nothing yet\n        1\n    ]\n}')


def test_inline_objects_and_minified_documents_stay_on_one_line() -> None:
    assert _insert('{"a": {"b": 1}}', ("a",), "c", [1]) == '{"a": {"b": 1, "c": [1]}}'
    assert _insert('{"a":{}}', ("a",), "c", {"d": 1}) == '{"a":{"c": {"d": 1}}}'
    pretty = '{\n  "env": {"A": "1"}\n}'
    assert _insert(pretty, ("env",), "B", "2") == '{\n  "env": {"A": "1", "B": "2"}\n}'


def test_replace_keeps_everything_around_the_value() -> None:
    text = '{\n  "url": "old", // where\n  "n": 1\n}'
    root = jsonc.parse(text)
    node = jsonc.find(root, ("url",))
    assert node is not None
    assert jsonc.replace(text, node, "new") == '{\n  "url": "new", // where\n  "n": 1\n}'


def test_find_by_index_and_key() -> None:
    root = jsonc.parse('{"a": [{"b": 1}, {"b": 2}]}')
    node = jsonc.find(root, ("a", 1, "b"))
    assert node is not None and node.value == 2
    assert jsonc.find(root, ("a", 5)) is None
    assert jsonc.find(root, ("a", "b")) is None
