"""Markdown-with-YAML-front-matter encoding of memory items."""

from __future__ import annotations

from typing import Any

import yaml

from adaptive_gateway.memory.errors import InvalidItem
from adaptive_gateway.memory.models import (
    ItemType,
    MemoryItem,
    TrustLevel,
    format_time,
    parse_time,
)

_DELIMITER = "---"
_COMMON_KEYS = (
    "id",
    "type",
    "namespace",
    "title",
    "tags",
    "trust_level",
    "author_agent",
    "created_at",
    "updated_at",
)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split a document into its front matter mapping and its body (outer newlines stripped)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != _DELIMITER:
        raise InvalidItem("document does not start with a '---' front matter block")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == _DELIMITER)
    except StopIteration:
        raise InvalidItem("front matter block is not closed with '---'") from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise InvalidItem(f"front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise InvalidItem("front matter must be a mapping")
    return meta, "\n".join(lines[end + 1 :]).strip("\n")


def dump_item(item: MemoryItem) -> str:
    """The file text for an item: front matter, a blank line, then the body."""
    meta: dict[str, Any] = {
        "id": item.id,
        "type": item.type.value,
        "namespace": item.namespace,
        "title": item.title,
        "tags": list(item.tags),
        "trust_level": item.trust_level.value,
        "author_agent": item.author_agent,
        "created_at": format_time(item.created_at),
        "updated_at": format_time(item.updated_at),
    }
    meta.update({key: value for key, value in item.extra.items() if key not in meta})
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=None)
    body = item.body.strip("\n")
    return (
        f"{_DELIMITER}\n{header}{_DELIMITER}\n\n{body}\n" if body else f"{_DELIMITER}\n{header}{_DELIMITER}\n"
    )


def parse_item(text: str) -> MemoryItem:
    """Parse a file written by :func:`dump_item` (or by a person following the same shape)."""
    meta, body = split_front_matter(text)
    missing = [key for key in ("id", "type", "namespace", "title") if not meta.get(key)]
    if missing:
        raise InvalidItem(f"front matter is missing: {', '.join(missing)}")
    tags = meta.get("tags") or []
    if not isinstance(tags, list):
        tags = [tags]
    created = parse_time(meta.get("created_at") or meta.get("updated_at") or "1970-01-01T00:00:00Z")
    return MemoryItem(
        id=str(meta["id"]),
        type=ItemType.parse(str(meta["type"])),
        namespace=str(meta["namespace"]),
        title=str(meta["title"]),
        body=body,
        tags=tuple(str(tag) for tag in tags),
        trust_level=TrustLevel.parse(str(meta.get("trust_level") or TrustLevel.INTERNAL)),
        author_agent=str(meta.get("author_agent") or ""),
        created_at=created,
        updated_at=parse_time(meta["updated_at"]) if meta.get("updated_at") else created,
        extra={key: value for key, value in meta.items() if key not in _COMMON_KEYS},
    )


def read_trust_level(text: str) -> TrustLevel | None:
    """The trust level in a document's front matter, or None when it has no front matter or no level.

    Raises InvalidItem when the level is present but unknown, so callers can refuse rather than guess.
    """
    try:
        meta, _ = split_front_matter(text)
    except InvalidItem:
        return None
    value = meta.get("trust_level")
    return TrustLevel.parse(str(value)) if value is not None else None
