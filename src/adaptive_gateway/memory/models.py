"""The memory item model: typed Markdown documents with YAML front matter."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from adaptive_gateway.memory.errors import InvalidItem

DEFAULT_NAMESPACE = "default"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SLUG_RE = re.compile(r"[^a-z0-9]+")


class TrustLevel(StrEnum):
    """How far an item may travel; ordered from least to most sensitive."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    SECRET = "secret"

    @property
    def rank(self) -> int:
        return _TRUST_ORDER.index(self)

    @classmethod
    def parse(cls, value: str | TrustLevel) -> TrustLevel:
        try:
            return cls(str(value).lower())
        except ValueError:
            allowed = ", ".join(level.value for level in cls)
            raise InvalidItem(f"unknown trust level {value!r} (expected one of: {allowed})") from None


_TRUST_ORDER: tuple[TrustLevel, ...] = tuple(TrustLevel)


class ItemType(StrEnum):
    """The kind of an item; each kind has its own folder inside a namespace."""

    DECISION = "decision"
    TASK = "task"
    SESSION = "session"
    HANDOFF = "handoff"
    NOTE = "note"

    @property
    def folder(self) -> str:
        return f"{self.value}s"

    @classmethod
    def parse(cls, value: str | ItemType) -> ItemType:
        text = str(value).lower()
        for kind in cls:
            if text in (kind.value, kind.folder):
                return kind
        allowed = ", ".join(kind.value for kind in cls)
        raise InvalidItem(f"unknown item type {value!r} (expected one of: {allowed})")


FOLDER_TYPES: Mapping[str, ItemType] = MappingProxyType({kind.folder: kind for kind in ItemType})


def item_type_of_path(relpath: str) -> ItemType | None:
    """The item type of a repository path shaped ``<namespace>/<folder>/<id>.md``, else None."""
    parts = relpath.split("/")
    if len(parts) == 3 and parts[2].endswith(".md") and not parts[0].startswith("."):
        return FOLDER_TYPES.get(parts[1])
    return None


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z`` suffix, so that text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidItem(f"invalid timestamp {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_name(value: str, what: str) -> str:
    """Namespaces, ids and agent names become path parts; keep them to a safe alphabet."""
    if not _NAME_RE.match(value):
        raise InvalidItem(f"invalid {what} {value!r}: use letters, digits, '.', '_' or '-' (max 128)")
    return value


def slugify(text: str, limit: int = 48) -> str:
    slug = _SLUG_RE.sub("-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "item"


def new_id(title: str) -> str:
    """A readable, collision-free id: ``<slug of title>-<12 hex>``."""
    return f"{slugify(title)}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class MemoryItem:
    """One Markdown file in the memory repository.

    ``extra`` holds type-specific front matter (a task's ``status``, a handoff's agents); it is
    written after the common keys and read back unchanged.
    """

    id: str
    type: ItemType
    namespace: str
    title: str
    body: str = ""
    tags: tuple[str, ...] = ()
    trust_level: TrustLevel = TrustLevel.INTERNAL
    author_agent: str = ""
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.id, "id")
        check_name(self.namespace, "namespace")
        if not self.title.strip():
            raise InvalidItem("an item needs a non-empty title")
        if "\n" in self.title:
            raise InvalidItem("an item title must be a single line")

    @classmethod
    def new(
        cls,
        type: ItemType | str,
        title: str,
        body: str = "",
        *,
        namespace: str = DEFAULT_NAMESPACE,
        tags: tuple[str, ...] | list[str] = (),
        trust_level: TrustLevel | str = TrustLevel.INTERNAL,
        author_agent: str = "",
        extra: Mapping[str, Any] | None = None,
        item_id: str | None = None,
    ) -> MemoryItem:
        """A fresh item with a generated id and both timestamps set to now."""
        now = utcnow()
        return cls(
            id=item_id or new_id(title),
            type=ItemType.parse(type),
            namespace=namespace,
            title=title.strip(),
            body=body,
            tags=tuple(tags),
            trust_level=TrustLevel.parse(trust_level),
            author_agent=author_agent,
            created_at=now,
            updated_at=now,
            extra=dict(extra or {}),
        )

    @property
    def relpath(self) -> str:
        """Path of the item's file relative to the repository root."""
        return f"{self.namespace}/{self.type.folder}/{self.id}.md"

    def with_changes(self, **changes: Any) -> MemoryItem:
        return replace(self, **changes)
