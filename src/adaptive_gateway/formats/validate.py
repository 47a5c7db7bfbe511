"""Checks shared by codecs whose wire formats carry tool schemas and tool arguments as JSON objects.

Both raise :class:`InvalidRequest` naming the offending field, so a malformed tool schema or broken
tool-call arguments become a clear 400 in the client's format instead of an upstream 500.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from adaptive_gateway.errors import InvalidRequest

JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf")
_MAX_DEPTH = 64
_URLSAFE = str.maketrans("-_", "+/")


def check_schema(schema: Any, where: str) -> None:
    """Structural check of a JSON schema used as tool parameters or structured output.

    Catches what upstreams reject with an opaque error: a non-object schema, unknown ``type`` names,
    ``properties`` that are not schemas, ``required`` that is not a list of names. Cheap (no
    meta-schema validation), so it can run on every request.
    """
    _check(schema, where, where, 0)


def _check(node: Any, param: str, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise InvalidRequest(f"{path}: schema nested too deeply", param=param)
    if isinstance(node, bool):
        return  # true / false are valid schemas
    if not isinstance(node, dict):
        raise InvalidRequest(f"{path}: must be a JSON schema object (got {type(node).__name__})", param=param)
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for k in kinds:
        if not isinstance(k, str) or k.lower() not in JSON_TYPES:
            raise InvalidRequest(
                f"{path}.type: unknown type {k!r} (expected one of {', '.join(sorted(JSON_TYPES))})",
                param=param,
            )
    props = node.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            raise InvalidRequest(f"{path}.properties: must be an object of schemas", param=param)
        for name, sub in props.items():
            _check(sub, param, f"{path}.properties.{name}", depth + 1)
    required = node.get("required")
    if required is not None and (
        not isinstance(required, list) or not all(isinstance(r, str) for r in required)
    ):
        raise InvalidRequest(f"{path}.required: must be a list of property names", param=param)
    items = node.get("items")
    if items is not None and not isinstance(items, list):
        _check(items, param, f"{path}.items", depth + 1)
    enum = node.get("enum")
    if enum is not None and not isinstance(enum, list):
        raise InvalidRequest(f"{path}.enum: must be a list", param=param)
    for key in _SCHEMA_LISTS:
        options = node.get(key)
        if options is None:
            continue
        if not isinstance(options, list):
            raise InvalidRequest(f"{path}.{key}: must be a list of schemas", param=param)
        for i, sub in enumerate(options):
            _check(sub, param, f"{path}.{key}[{i}]", depth + 1)


def arguments_object(text: str, where: str) -> dict[str, Any]:
    """Tool-call arguments carried as JSON text -> the object formats like Gemini and Ollama need."""
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            f"{where}: tool call arguments are not valid JSON: {text[:80]!r}", param=where
        ) from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where}: tool call arguments must be a JSON object", param=where)
    return value


def standard_base64(data: str, where: str) -> str:
    """URL-safe or unpadded base64 -> standard padded base64 (what every upstream accepts)."""
    if "-" in data or "_" in data:
        data = data.translate(_URLSAFE)
    data = data.strip()
    data += "=" * (-len(data) % 4)
    # validate only a prefix: a full decode of a 10 MB image would cost milliseconds on the hot path
    try:
        base64.b64decode(data[:4096] if len(data) > 4096 else data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{where}: not valid base64 data", param=where) from None
    return data
