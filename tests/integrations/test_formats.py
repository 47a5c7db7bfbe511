"""TOML and YAML keep what the user wrote; the YAML writer picks the file's own indentation."""

from __future__ import annotations

import pytest

from adaptive_gateway.integrations.edits import EditConflict, SetValue, UpsertItem, plan
from adaptive_gateway.integrations.formats import FORMATS, ParseError


def _apply(fmt: str, text: str, *edits: SetValue | UpsertItem) -> str:
    handler = FORMATS[fmt]
    return handler.apply(text, plan(handler.load(text), edits))


@pytest.mark.parametrize(
    "text",
    [
        "models:\n- name: a\n  x: 1\n",
        "models:\n  - name: a\n    x: 1\n",
        "models:\n    -   name: a\n        x: 1\n",
        "# c\nmodels:   # trailing\n    - name: a\n      x: 1\n",
    ],
)
def test_yaml_appends_in_the_files_own_layout(text: str) -> None:
    out = _apply("yaml", text, UpsertItem(("models",), "name", {"name": "b", "x": 2}))
    assert out.startswith(text)  # nothing above the new item moved
    assert out.count("name:") == 2


def test_yaml_keeps_quotes_flow_style_and_long_lines() -> None:
    long = "x" * 200
    text = f"a: 'single'\nb: [1, 2]\nc: \"{long}\"\n"
    out = _apply("yaml", text, SetValue(("d",), "new"))
    assert out == text + "d: new\n"


def test_yaml_upsert_merges_an_existing_item() -> None:
    text = "models:\n  - name: gw\n    apiBase: http://old/v1\n    roles: [chat]\n"
    out = _apply("yaml", text, UpsertItem(("models",), "name", {"name": "gw", "apiBase": "http://new/v1"}))
    assert out == "models:\n  - name: gw\n    apiBase: http://new/v1\n    roles: [chat]\n"


def test_only_if_missing_leaves_existing_values() -> None:
    assert _apply("yaml", "name: mine\n", SetValue(("name",), "x", only_if_missing=True)) == "name: mine\n"


def test_toml_keeps_comments_on_replaced_values() -> None:
    text = 'model_provider = "openai"  # was\n\n[a]\nb = 1\n'
    out = _apply("toml", text, SetValue(("model_provider",), "adaptive"))
    assert out == 'model_provider = "adaptive"  # was\n\n[a]\nb = 1\n'


@pytest.mark.parametrize(
    ("fmt", "text"),
    [("yaml", "- a\n- b\n"), ("json", "[1]"), ("yaml", "models: 3\n")],
)
def test_shapes_that_do_not_fit_are_conflicts(fmt: str, text: str) -> None:
    handler = FORMATS[fmt]
    with pytest.raises((EditConflict, ParseError)):
        plan(handler.load(text), [UpsertItem(("models",), "name", {"name": "x"})])


def test_empty_files_are_empty_documents() -> None:
    for fmt in FORMATS:
        assert FORMATS[fmt].load("") == {}
