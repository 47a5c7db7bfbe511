"""The git-backed memory store: typed Markdown items per namespace, one commit per write.

Layout: ``<root>/<namespace>/{decisions,tasks,sessions,handoffs,notes}/<id>.md``. Every write takes
an exclusive file lock (``.git/adaptive.lock``) around write + commit, so concurrent writers in
threads or processes serialise and none is lost.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from pathlib import Path

from adaptive_gateway.memory.errors import InvalidItem, ItemNotFound
from adaptive_gateway.memory.frontmatter import dump_item, parse_item, read_trust_level
from adaptive_gateway.memory.gitrepo import Git, ensure_repository
from adaptive_gateway.memory.models import (
    DEFAULT_NAMESPACE,
    FOLDER_TYPES,
    ItemType,
    MemoryItem,
    TrustLevel,
    check_name,
    utcnow,
)
from adaptive_gateway.memory.sessions import SessionEntry, parse_entries

ItemList = list[MemoryItem]
EntryList = list[SessionEntry]
ItemChange = Callable[[MemoryItem], MemoryItem]


class TaskStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"
    CANCELLED = "cancelled"


def default_root() -> Path:
    """``$ADAPTIVE_GATEWAY_HOME/memory``, else ``~/.adaptive-llm-gateway/memory``."""
    home = os.environ.get("ADAPTIVE_GATEWAY_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".adaptive-llm-gateway"
    return base / "memory"


def _bullets(values: Iterable[str]) -> str:
    return "\n".join(f"- {value.strip()}" for value in values if value.strip())


def _short(title: str, limit: int = 72) -> str:
    return title if len(title) <= limit else title[: limit - 1] + "…"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class MemoryStore:
    """Shared memory in a git repository at ``root`` (created when missing).

    ``author`` is the default agent name recorded on items and commits; every writing method
    accepts ``author=`` to act for another agent (the MCP server passes the calling agent).
    """

    def __init__(self, root: Path | None = None, author: str = "gateway") -> None:
        self.root = (root or default_root()).expanduser().absolute()
        self.author = check_name(author, "agent name")
        self.git: Git = ensure_repository(self.root)

    # -- reading -------------------------------------------------------------------------------

    def item_paths(self, namespace: str | None = None) -> Iterator[Path]:
        """Every item file in the working tree (optionally of one namespace)."""
        for path in sorted(self.root.glob(f"{namespace or '*'}/*/*.md")):
            if path.parent.name in FOLDER_TYPES and not path.parts[-3].startswith("."):
                yield path

    def locate(self, item_id: str, namespace: str | None = None) -> Path:
        check_name(item_id, "id")
        found = [path for path in self.item_paths(namespace) if path.stem == item_id]
        if not found:
            where = f" in namespace {namespace!r}" if namespace else ""
            raise ItemNotFound(f"no memory item {item_id!r}{where}")
        if len(found) > 1:
            places = ", ".join(str(path.relative_to(self.root)) for path in found)
            raise InvalidItem(f"id {item_id!r} is ambiguous ({places}); pass a namespace")
        return found[0]

    def read(self, item_id: str, namespace: str | None = None) -> MemoryItem:
        """The item with ``item_id``; raises ItemNotFound."""
        return parse_item(self.locate(item_id, namespace).read_text(encoding="utf-8"))

    def list(
        self,
        *,
        namespace: str | None = None,
        type: ItemType | str | None = None,
        tags: Iterable[str] = (),
        author: str | None = None,
        max_trust: TrustLevel | str | None = None,
    ) -> ItemList:
        """Items matching every given filter, oldest first. Files that fail to parse are skipped."""
        kind = ItemType.parse(type) if type else None
        limit = TrustLevel.parse(max_trust).rank if max_trust else None
        wanted = set(tags)
        items: ItemList = []
        for path in self.item_paths(namespace):
            if kind and path.parent.name != kind.folder:
                continue
            try:
                item = parse_item(path.read_text(encoding="utf-8"))
            except (InvalidItem, OSError):
                continue
            if limit is not None and item.trust_level.rank > limit:
                continue
            if (author and item.author_agent != author) or not wanted.issubset(item.tags):
                continue
            items.append(item)
        return sorted(items, key=lambda item: (item.created_at, item.id))

    def session_entries(self, session_id: str, namespace: str | None = None) -> EntryList:
        return parse_entries(self.read(session_id, namespace).body)[1]

    def head(self) -> str | None:
        return self.git.head()

    # -- writing -------------------------------------------------------------------------------

    def write(self, item: MemoryItem, *, author: str | None = None) -> MemoryItem:
        """Create or replace ``item`` and commit it; returns the stored item.

        Replacing keeps the original ``created_at`` and sets ``updated_at`` to now.
        """
        with self.git.lock():
            return self._write_locked(item, author)

    def update(
        self,
        item_id: str,
        change: ItemChange,
        *,
        namespace: str | None = None,
        author: str | None = None,
        verb: str = "update",
    ) -> MemoryItem:
        """Read-modify-write under the lock, so two agents updating one item never interleave.

        ``change`` may raise to abort; nothing is written then.
        """
        with self.git.lock():
            current = self.read(item_id, namespace)
            return self._write_locked(change(current), author, verb=verb)

    def _write_locked(self, item: MemoryItem, author: str | None, verb: str | None = None) -> MemoryItem:
        agent = check_name(author or item.author_agent or self.author, "agent name")
        path = self.root / item.relpath
        if path.exists():
            previous = parse_item(path.read_text(encoding="utf-8"))
            item = item.with_changes(created_at=previous.created_at, updated_at=utcnow())
            verb = verb or "update"
        elif taken := [p for p in self.root.glob(f"{item.namespace}/*/{item.id}.md") if p != path]:
            raise InvalidItem(f"id {item.id!r} is already used by {taken[0].relative_to(self.root)}")
        item = item.with_changes(author_agent=item.author_agent or agent)
        _write_atomic(path, dump_item(item))
        message = f"memory: {verb or 'record'} {item.type.value} '{_short(item.title)}'"
        self.git.commit([item.relpath], f"{message} (ns={item.namespace}, by {agent})", agent)
        return item

    def append_session(
        self,
        session_id: str,
        text: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        author: str | None = None,
        title: str | None = None,
        trust_level: TrustLevel | str = TrustLevel.INTERNAL,
        tags: Iterable[str] = (),
    ) -> SessionEntry:
        """Append one entry to the session log (created on first use); one commit per append.

        A higher ``trust_level`` than the log's raises the log's level; it is never lowered.
        """
        agent = check_name(author or self.author, "agent name")
        SessionEntry.new(text, agent)  # validate before waiting for the lock
        level = TrustLevel.parse(trust_level)
        with self.git.lock():
            entry = SessionEntry.new(text, agent)  # stamped inside the lock: file order is time order
            item = MemoryItem.new(
                ItemType.SESSION,
                title or f"Session {session_id}",
                namespace=namespace,
                tags=list(tags),
                trust_level=level,
                author_agent=agent,
                item_id=check_name(session_id, "session id"),
            )
            path = self.root / item.relpath
            verb = "append to"
            if not path.exists():
                _write_atomic(path, dump_item(item.with_changes(body=f"# {item.title}")))
                verb = "start"
            else:
                self._raise_session_trust(path, level)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(entry.render())
            message = f"memory: {verb} session '{session_id}' (ns={namespace}, by {agent})"
            self.git.commit([item.relpath], message, agent)
        return entry

    def _raise_session_trust(self, path: Path, level: TrustLevel) -> None:
        current = read_trust_level(path.read_text(encoding="utf-8")) or TrustLevel.INTERNAL
        if level.rank > current.rank:
            stored = parse_item(path.read_text(encoding="utf-8"))
            _write_atomic(path, dump_item(stored.with_changes(trust_level=level)))

    def record_decision(
        self,
        title: str,
        decision: str,
        reasons: Iterable[str] = (),
        *,
        alternatives: Iterable[str] = (),
        namespace: str = DEFAULT_NAMESPACE,
        tags: Iterable[str] = (),
        trust_level: TrustLevel | str = TrustLevel.INTERNAL,
        author: str | None = None,
    ) -> MemoryItem:
        """Record a decision with its reasons (and the alternatives that lost) as a new item."""
        sections = [f"## Decision\n\n{decision.strip()}"]
        if reason_list := _bullets(reasons):
            sections.append(f"## Reasons\n\n{reason_list}")
        if alternative_list := _bullets(alternatives):
            sections.append(f"## Alternatives considered\n\n{alternative_list}")
        item = MemoryItem.new(
            ItemType.DECISION,
            title,
            "\n\n".join(sections),
            namespace=namespace,
            tags=list(tags),
            trust_level=trust_level,
            author_agent=author or self.author,
        )
        return self.write(item, author=author)

    def record_task(
        self,
        title: str,
        status: TaskStatus | str = TaskStatus.OPEN,
        *,
        description: str = "",
        assignee: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        tags: Iterable[str] = (),
        trust_level: TrustLevel | str = TrustLevel.INTERNAL,
        author: str | None = None,
    ) -> MemoryItem:
        """Record a task; ``status`` and ``assignee`` live in the front matter."""
        item = MemoryItem.new(
            ItemType.TASK,
            title,
            description.strip(),
            namespace=namespace,
            tags=list(tags),
            trust_level=trust_level,
            author_agent=author or self.author,
            extra={"status": _task_status(status).value, "assignee": assignee},
        )
        return self.write(item, author=author)

    def set_task_status(
        self,
        task_id: str,
        status: TaskStatus | str,
        *,
        namespace: str | None = None,
        author: str | None = None,
    ) -> MemoryItem:
        new_status = _task_status(status)

        def change(item: MemoryItem) -> MemoryItem:
            if item.type is not ItemType.TASK:
                raise InvalidItem(f"{task_id!r} is a {item.type.value}, not a task")
            return item.with_changes(extra={**item.extra, "status": new_status.value})

        return self.update(
            task_id, change, namespace=namespace, author=author, verb=f"mark {new_status.value}"
        )


def _task_status(value: TaskStatus | str) -> TaskStatus:
    try:
        return TaskStatus(str(value))
    except ValueError:
        allowed = ", ".join(status.value for status in TaskStatus)
        raise InvalidItem(f"unknown task status {value!r} (expected one of: {allowed})") from None
