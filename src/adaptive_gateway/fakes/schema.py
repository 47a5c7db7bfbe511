"""Deterministic sample values from a JSON schema (also Gemini's upper-case OpenAPI subset)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

_MAX_DEPTH = 8

Sampler = Callable[[Mapping[str, Any], Mapping[str, Any], int], Any]


def sample(schema: Mapping[str, Any]) -> Any:
    """A value that satisfies the common parts of `schema`.

    Required string properties become "x", integers 1, numbers 1.5, booleans true, enums their first
    value, arrays one item and objects recurse. Optional properties are left out unless the object
    names no `required` list at all.
    """
    return _value(schema, schema, 0)


def _value(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return _value(_resolve(str(schema["$ref"]), root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf", "any_of"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _value(_first_not_null(options), root, depth + 1)
    return _BY_TYPE.get(_type_of(schema), _string)(schema, root, depth)


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    if kind is None:
        return "object" if "properties" in schema else "array" if "items" in schema else "string"
    return str(kind).lower()


def _first_not_null(options: list[Any]) -> Mapping[str, Any]:
    for option in options:
        if isinstance(option, Mapping) and _type_of(option) != "null":
            return option
    first = options[0]
    return first if isinstance(first, Mapping) else {}


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else {}


def _object(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> dict[str, Any]:
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return {}
    required = schema.get("required")
    names = [n for n in required if n in props] if isinstance(required, list) else list(props)
    return {name: _value(props[name], root, depth + 1) for name in names}


def _array(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> list[Any]:
    items = schema.get("items")
    return [_value(items if isinstance(items, Mapping) else {}, root, depth + 1)]


def _string(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    return "x"


def _constant(value: Any) -> Sampler:
    return lambda schema, root, depth: value


_BY_TYPE: Mapping[str, Sampler] = MappingProxyType(
    {
        "object": _object,
        "array": _array,
        "string": _string,
        "integer": _constant(1),
        "number": _constant(1.5),
        "boolean": _constant(True),
        "null": _constant(None),
    }
)
