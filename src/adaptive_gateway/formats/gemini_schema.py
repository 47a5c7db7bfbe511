"""Gemini's OpenAPI-subset ``Schema`` (upper-case types, ``nullable``, snake_case keywords) -> JSON Schema.

The other direction needs no conversion: requests to Gemini carry JSON Schema as-is in
``parametersJsonSchema`` / ``responseJsonSchema``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

# the SDK serializes some keywords in snake_case
_RENAMES: Mapping[str, str] = MappingProxyType(
    {
        "any_of": "anyOf",
        "max_items": "maxItems",
        "min_items": "minItems",
        "max_length": "maxLength",
        "min_length": "minLength",
        "max_properties": "maxProperties",
        "min_properties": "minProperties",
        "property_ordering": "propertyOrdering",
        "additional_properties": "additionalProperties",
    }
)
# keywords that only Gemini understands; JSON Schema consumers (OpenAI strict mode) reject them
_DROP = frozenset({"propertyOrdering", "nullable"})
_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions"})
_SCHEMA_VALUES = frozenset({"items", "additionalProperties", "not"})
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})


def to_json_schema(node: Any) -> Any:
    """A Gemini ``Schema`` as JSON Schema: types lower-cased, ``nullable`` folded into ``type``,
    Gemini-only keywords dropped. Property names and literal values (enum, default) are untouched."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for raw_key, value in node.items():
        key = _RENAMES.get(raw_key, raw_key)
        if key in _DROP:
            continue
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_VALUES:
            out[key] = to_json_schema(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [to_json_schema(sub) for sub in value]
        else:
            out[key] = value
    if node.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def for_gemini(schema: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema for ``parametersJsonSchema`` / ``responseJsonSchema`` (``$schema`` is refused there)."""
    if "$schema" not in schema:
        return schema
    return {k: v for k, v in schema.items() if k != "$schema"}
