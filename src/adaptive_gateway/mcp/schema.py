"""Small builders for the tools' JSON schemas, so each tool's schema reads as data."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

TRUST_LEVELS = ("public", "internal", "confidential", "secret")
ITEM_TYPES = ("decision", "task", "session", "handoff", "note")
TASK_STATUSES = ("open", "in_progress", "blocked", "done", "cancelled")
HANDOFF_STATUSES = ("open", "accepted", "completed", "cancelled")


def obj(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def string(description: str, *, min_length: int | None = None, enum: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "string", "description": description}
    if min_length is not None:
        schema["minLength"] = min_length
    if enum:
        schema["enum"] = list(enum)
    return schema


def integer(description: str, *, minimum: int | None = None, maximum: int | None = None) -> Schema:
    schema: Schema = {"type": "integer", "description": description}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def number(description: str, *, minimum: float | None = None, maximum: float | None = None) -> Schema:
    schema: Schema = {"type": "number", "description": description}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def boolean(description: str) -> Schema:
    return {"type": "boolean", "description": description}


def strings(description: str) -> Schema:
    return {"type": "array", "items": {"type": "string"}, "description": description}


def array(description: str, items: Schema) -> Schema:
    return {"type": "array", "items": items, "description": description}


# fields shared by most memory tools
NAMESPACE = string("Project namespace (default 'default'), e.g. the repository name.")
AGENT = string(
    "Name of the acting agent (e.g. 'claude', 'codex'); defaults to the MCP client's name. Handoffs "
    "addressed to an agent can only be accepted under that name."
)
TAGS = strings("Free-form tags.")
TRUST = string(
    "How far the item may travel: public, internal (default), confidential or secret. Push sends nothing "
    "above the remote's maximum.",
    enum=TRUST_LEVELS,
)
