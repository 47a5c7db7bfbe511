"""JSON-ready views of memory objects, shared by the CLI's ``--json`` output and the MCP tools."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from adaptive_gateway.memory.errors import InvalidItem, PushRefused
from adaptive_gateway.memory.handoff_format import Handoff
from adaptive_gateway.memory.models import MemoryItem, format_time
from adaptive_gateway.memory.search import SearchHit
from adaptive_gateway.memory.sessions import SessionEntry
from adaptive_gateway.memory.sync import PullResult, PushResult

JSON = dict[str, Any]

# Keys accepted by HandoffBook.create, for handoffs given as JSON/YAML documents.
HANDOFF_CREATE_KEYS = frozenset(
    {
        "goal",
        "from_agent",
        "to_agent",
        "context_summary",
        "current_state",
        "decisions",
        "open_tasks",
        "files_touched",
        "resume_commands",
        "namespace",
        "title",
        "tags",
        "trust_level",
    }
)


def item_to_dict(item: MemoryItem, *, body: bool = True) -> JSON:
    data: JSON = {
        "id": item.id,
        "type": item.type.value,
        "namespace": item.namespace,
        "title": item.title,
        "tags": list(item.tags),
        "trust_level": item.trust_level.value,
        "author_agent": item.author_agent,
        "created_at": format_time(item.created_at),
        "updated_at": format_time(item.updated_at),
        "path": item.relpath,
        **dict(item.extra),
    }
    if body:
        data["body"] = item.body
    return data


def hit_to_dict(hit: SearchHit) -> JSON:
    return {**asdict(hit), "type": hit.type.value, "trust_level": hit.trust_level.value}


def entry_to_dict(entry: SessionEntry) -> JSON:
    return {**asdict(entry), "timestamp": format_time(entry.timestamp)}


def handoff_to_dict(handoff: Handoff) -> JSON:
    data = asdict(handoff)
    data.update(
        status=handoff.status.value,
        trust_level=handoff.trust_level.value,
        created_at=format_time(handoff.created_at),
        updated_at=format_time(handoff.updated_at),
    )
    return data


def handoff_create_args(document: Mapping[str, Any]) -> JSON:
    """Validate a handoff document's keys and return keyword arguments for ``HandoffBook.create``."""
    unknown = sorted(set(document) - HANDOFF_CREATE_KEYS)
    if unknown:
        raise InvalidItem(f"unknown handoff field(s): {', '.join(unknown)}")
    return dict(document)


def load_handoff_document(path: Path) -> JSON:
    """A handoff given as a YAML or JSON file (YAML parses both), checked by :func:`handoff_create_args`."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidItem(f"{path}: cannot read handoff document: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidItem(f"{path}: a handoff document must be a mapping")
    return handoff_create_args(document)


def pull_to_dict(result: PullResult) -> JSON:
    return {**asdict(result), "resolved": list(result.resolved)}


def push_to_dict(result: PushResult) -> JSON:
    return asdict(result)


def refusal_to_dict(refused: PushRefused) -> JSON:
    return {
        "error": "push_refused",
        "remote": refused.remote,
        "problems": [{"path": problem.path, "reason": problem.reason} for problem in refused.problems],
    }
