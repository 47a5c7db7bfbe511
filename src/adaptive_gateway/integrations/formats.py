"""The three file formats clients use, each able to parse (to a plain view) and to apply operations while
keeping comments and formatting: JSON/JSONC by splicing text, TOML with tomlkit, YAML with ruamel.yaml's
round-trip mode (indentation chosen to reproduce the original file as closely as possible)."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tomlkit
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from tomlkit.exceptions import TOMLKitError

from . import jsonc
from .edits import AppendOp, Op


class ParseError(ValueError):
    """The file is not valid in its format; the message says where."""


@dataclass(frozen=True)
class FileFormat:
    name: str
    load: Callable[[str], Any]  # plain view of the document (an empty file is an empty mapping)
    apply: Callable[[str, Sequence[Op]], str]  # new text; raises ParseError


def _apply_to_objects(root: Any, ops: Sequence[Op]) -> None:
    for op in ops:
        parent = root
        for segment in op.path[:-1]:
            parent = parent[segment]
        if isinstance(op, AppendOp):
            parent[op.path[-1]].append(op.value)
        else:
            parent[op.path[-1]] = op.value


# --- JSON / JSONC ---------------------------------------------------------------------------------------


def _json_load(text: str) -> Any:
    if not text.strip():
        return {}
    try:
        return jsonc.parse(text).value
    except jsonc.JsoncError as exc:
        raise ParseError(f"not valid JSON: {exc}") from None


def _json_apply_one(text: str, op: Op) -> str:
    root = jsonc.parse(text)
    if isinstance(op, AppendOp):
        items = jsonc.find(root, op.path)
        assert items is not None
        return jsonc.insert(text, items, None, op.value)
    existing = jsonc.find(root, op.path)
    if existing is not None:
        return jsonc.replace(text, existing, op.value)
    parent = jsonc.find(root, op.path[:-1])
    assert parent is not None and isinstance(op.path[-1], str)
    return jsonc.insert(text, parent, op.path[-1], op.value)


def _json_apply(text: str, ops: Sequence[Op]) -> str:
    _json_load(text)
    if not text.strip():
        text = "{}\n"
    for op in ops:
        text = _json_apply_one(text, op)
    return text


# --- TOML -----------------------------------------------------------------------------------------------


def _toml_parse(text: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ParseError(f"not valid TOML: {exc}") from None


def _toml_apply(text: str, ops: Sequence[Op]) -> str:
    doc = _toml_parse(text)
    _apply_to_objects(doc, ops)
    return tomlkit.dumps(doc)


# --- YAML -----------------------------------------------------------------------------------------------

# (mapping, sequence, offset) layouts ruamel can write; the one that reproduces the file is used.
_YAML_LAYOUTS = tuple(
    (m, s, o) for m, s, o in itertools.product((2, 4, 3), (2, 4, 6, 8), (0, 2, 4)) if o <= s - 2
)


def _yaml(layout: tuple[int, int, int], explicit_start: bool) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    mapping, sequence, offset = layout
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start = explicit_start
    return yaml


def _yaml_dump(yaml: YAML, data: Any) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _yaml_parse(text: str) -> Any:
    try:
        data = _yaml(_YAML_LAYOUTS[0], False).load(text)
    except YAMLError as exc:
        raise ParseError(f"not valid YAML: {exc}") from None
    return {} if data is None else data


def _yaml_writer(text: str, data: Any) -> YAML:
    """The layout whose dump of the unchanged document differs least from the original text."""
    explicit = text.lstrip().startswith("---")
    best: tuple[int, YAML] | None = None
    for layout in _YAML_LAYOUTS:
        yaml = _yaml(layout, explicit)
        dumped = _yaml_dump(yaml, data)
        if dumped == text:
            return yaml
        distance = sum(a != b for a, b in itertools.zip_longest(dumped.splitlines(), text.splitlines()))
        if best is None or distance < best[0]:
            best = (distance, yaml)
    assert best is not None
    return best[1]


def _yaml_apply(text: str, ops: Sequence[Op]) -> str:
    data = _yaml_parse(text)
    if not isinstance(data, Mapping):
        raise ParseError("the YAML top level is not a mapping")
    yaml = _yaml_writer(text, data) if text.strip() else _yaml(_YAML_LAYOUTS[0], False)
    _apply_to_objects(data, ops)
    return _yaml_dump(yaml, data)


FORMATS: Mapping[str, FileFormat] = {
    "json": FileFormat("json", _json_load, _json_apply),
    "toml": FileFormat("toml", lambda text: _toml_parse(text).unwrap(), _toml_apply),
    "yaml": FileFormat("yaml", _yaml_parse, _yaml_apply),
}
