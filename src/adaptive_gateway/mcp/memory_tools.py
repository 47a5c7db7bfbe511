"""The ``memory_*`` tools: search, read and write the shared git-backed memory, and sync it."""

from __future__ import annotations

from typing import Any

from adaptive_gateway.mcp import schema as s
from adaptive_gateway.mcp.context import Caller, ToolDef, ToolError, ToolOutput, ToolSpec
from adaptive_gateway.mcp.memory_service import MemoryService
from adaptive_gateway.memory import DEFAULT_NAMESPACE, ItemType, MemoryItem, PushRefused
from adaptive_gateway.memory.serialize import (
    entry_to_dict,
    hit_to_dict,
    item_to_dict,
    pull_to_dict,
    push_to_dict,
    refusal_to_dict,
)

Args = dict[str, Any]


def _ns(args: Args) -> str:
    return str(args.get("namespace") or DEFAULT_NAMESPACE)


class MemoryTools:
    """Handlers over one :class:`MemoryService`; ``specs()`` is the tool table."""

    def __init__(self, memory: MemoryService) -> None:
        self.memory = memory

    async def search(self, caller: Caller, args: Args) -> ToolOutput:
        search = self.memory.search
        hits = await self.memory.run(
            lambda: search.search(
                args["query"],
                namespace=args.get("namespace"),
                type=args.get("type"),
                max_trust=args.get("max_trust"),
                limit=int(args.get("limit", 10)),
            )
        )
        self.memory.handed_out(caller.principal, [(h.id, h.namespace, h.trust_level.value) for h in hits])
        return ToolOutput.of({"query": args["query"], "hits": [hit_to_dict(h) for h in hits]})

    async def read(self, caller: Caller, args: Args) -> ToolOutput:
        store = self.memory.store
        item = await self.memory.run(lambda: store.read(args["id"], args.get("namespace")))
        self.memory.handed_out(caller.principal, [(item.id, item.namespace, item.trust_level.value)])
        data = item_to_dict(item)
        return ToolOutput(f"# {item.title}\n\n{item.body}".strip(), data)

    async def write(self, caller: Caller, args: Args) -> ToolOutput:
        self.memory.refuse_secrets(args["title"], args.get("body", ""))
        agent = caller.agent(args)
        kind = ItemType.parse(args.get("type", "note"))
        if kind in (ItemType.SESSION, ItemType.HANDOFF):
            raise ToolError(f"use memory_append_session / handoff_create for {kind.value} items")
        item = MemoryItem.new(
            kind,
            args["title"],
            args.get("body", ""),
            namespace=_ns(args),
            tags=list(args.get("tags", [])),
            trust_level=args.get("trust_level", "internal"),
            author_agent=agent,
            item_id=args.get("id"),
        )
        store = self.memory.store
        stored = await self.memory.run(lambda: store.write(item, author=agent))
        return ToolOutput.of(item_to_dict(stored, body=False))

    async def append_session(self, caller: Caller, args: Args) -> ToolOutput:
        self.memory.refuse_secrets(args["text"])
        agent = caller.agent(args)
        store = self.memory.store
        entry = await self.memory.run(
            lambda: store.append_session(
                args["session_id"],
                args["text"],
                namespace=_ns(args),
                author=agent,
                title=args.get("title"),
                trust_level=args.get("trust_level", "internal"),
                tags=args.get("tags", []),
            )
        )
        return ToolOutput.of(
            {"session_id": args["session_id"], "namespace": _ns(args), **entry_to_dict(entry)}
        )

    async def record_decision(self, caller: Caller, args: Args) -> ToolOutput:
        reasons = list(args.get("reasons", []))
        alternatives = list(args.get("alternatives", []))
        self.memory.refuse_secrets(args["title"], args["decision"], *reasons, *alternatives)
        agent = caller.agent(args)
        store = self.memory.store
        item = await self.memory.run(
            lambda: store.record_decision(
                args["title"],
                args["decision"],
                reasons,
                alternatives=alternatives,
                namespace=_ns(args),
                tags=args.get("tags", []),
                trust_level=args.get("trust_level", "internal"),
                author=agent,
            )
        )
        return ToolOutput.of(item_to_dict(item, body=False))

    async def record_task(self, caller: Caller, args: Args) -> ToolOutput:
        agent = caller.agent(args)
        store = self.memory.store
        if args.get("id"):
            if "status" not in args:
                raise ToolError("updating a task needs 'status'")
            updated = await self.memory.run(
                lambda: store.set_task_status(
                    args["id"], args["status"], namespace=args.get("namespace"), author=agent
                )
            )
            return ToolOutput.of(item_to_dict(updated, body=False))
        if not args.get("title"):
            raise ToolError("a new task needs 'title' (or pass 'id' and 'status' to update one)")
        self.memory.refuse_secrets(args["title"], args.get("description", ""))
        item = await self.memory.run(
            lambda: store.record_task(
                args["title"],
                args.get("status", "open"),
                description=args.get("description", ""),
                assignee=args.get("assignee"),
                namespace=_ns(args),
                tags=args.get("tags", []),
                trust_level=args.get("trust_level", "internal"),
                author=agent,
            )
        )
        return ToolOutput.of(item_to_dict(item, body=False))

    async def pull(self, caller: Caller, args: Args) -> ToolOutput:
        sync = self.memory.sync
        result = await self.memory.run(lambda: sync.pull(args.get("remote", "origin")))
        return ToolOutput.of(pull_to_dict(result))

    async def push(self, caller: Caller, args: Args) -> ToolOutput:
        sync = self.memory.sync
        remote = args.get("remote", "origin")
        try:
            if args.get("dry_run"):
                problems = await self.memory.run(lambda: sync.check_push(remote))
                if problems:
                    raise PushRefused(remote, problems)
                return ToolOutput.of({"remote": remote, "pushed": False, "dry_run": True, "problems": []})
            result = await self.memory.run(lambda: sync.push(remote))
        except PushRefused as refused:
            raise ToolError(str(refused), refusal_to_dict(refused)) from None
        return ToolOutput.of(push_to_dict(result))

    def specs(self) -> list[ToolSpec]:
        return [tool.bind(self) for tool in TOOLS]


TOOLS: tuple[ToolDef, ...] = (
    ToolDef(
        "memory_search",
        "Search shared memory",
        "Full-text search over the shared memory (decisions, tasks, sessions, handoffs, notes) that every "
        "agent using this gateway reads and writes. Ranked best first; filter by namespace, type and maximum "
        "trust level. Also finds the route reflector's notes on which models worked.",
        s.obj(
            {
                "query": s.string("Words to look for (all must match; falls back to any).", min_length=1),
                "namespace": s.NAMESPACE,
                "type": s.string("Only items of this type.", enum=s.ITEM_TYPES),
                "max_trust": s.string("Leave out items above this trust level.", enum=s.TRUST_LEVELS),
                "limit": s.integer("At most this many hits (default 10).", minimum=1, maximum=100),
            },
            ("query",),
        ),
        "search",
        read_only=True,
    ),
    ToolDef(
        "memory_read",
        "Read a memory item",
        "Read one memory item by id: its front matter (type, tags, trust level, author, timestamps) and "
        "Markdown body. Session logs include every entry.",
        s.obj(
            {
                "id": s.string("The item id (from memory_search).", min_length=1),
                "namespace": s.NAMESPACE,
            },
            ("id",),
        ),
        "read",
        read_only=True,
    ),
    ToolDef(
        "memory_write",
        "Write a memory item",
        "Create a note, decision or task as a Markdown file in the shared memory (one git commit). Pass an "
        "existing 'id' to replace that item. Text carrying a secret is refused.",
        s.obj(
            {
                "title": s.string("One-line title.", min_length=1),
                "body": s.string("Markdown body."),
                "type": s.string("Item type (default note).", enum=("note", "decision", "task")),
                "id": s.string("Replace the item with this id instead of creating a new one."),
                "namespace": s.NAMESPACE,
                "tags": s.TAGS,
                "trust_level": s.TRUST,
                "agent": s.AGENT,
            },
            ("title",),
        ),
        "write",
    ),
    ToolDef(
        "memory_append_session",
        "Append to a session log",
        "Append one timestamped entry to a session log (created on first use). Use it as a running journal "
        "other agents can read: progress, findings, what is next. Append-only; one commit each.",
        s.obj(
            {
                "session_id": s.string("Session log id, e.g. 'claude-2026-11-23-bench'.", min_length=1),
                "text": s.string("The entry (Markdown).", min_length=1),
                "title": s.string("Title when the log is created."),
                "namespace": s.NAMESPACE,
                "tags": s.TAGS,
                "trust_level": s.TRUST,
                "agent": s.AGENT,
            },
            ("session_id", "text"),
        ),
        "append_session",
    ),
    ToolDef(
        "memory_record_decision",
        "Record a decision",
        "Record a decision with its reasons and the alternatives that lost, so later agents do not re-"
        "litigate it.",
        s.obj(
            {
                "title": s.string("One-line summary of the decision.", min_length=1),
                "decision": s.string("What was decided.", min_length=1),
                "reasons": s.strings("Why."),
                "alternatives": s.strings("Options considered and rejected."),
                "namespace": s.NAMESPACE,
                "tags": s.TAGS,
                "trust_level": s.TRUST,
                "agent": s.AGENT,
            },
            ("title", "decision"),
        ),
        "record_decision",
    ),
    ToolDef(
        "memory_record_task",
        "Record or update a task",
        "Record a task (title, status, description, assignee). To update a task's status pass its 'id' and "
        "the new 'status'.",
        s.obj(
            {
                "title": s.string("Task title (for a new task)."),
                "status": s.string("Task status (default open).", enum=s.TASK_STATUSES),
                "description": s.string("Details (Markdown)."),
                "assignee": s.string("Agent or person the task is for."),
                "id": s.string("Update the status of this existing task."),
                "namespace": s.NAMESPACE,
                "tags": s.TAGS,
                "trust_level": s.TRUST,
                "agent": s.AGENT,
            }
        ),
        "record_task",
    ),
    ToolDef(
        "memory_pull",
        "Pull shared memory",
        "Fetch and merge the memory repository from a git remote. Conflicts are resolved so that no entry of "
        "either side is lost.",
        s.obj({"remote": s.string("Git remote name (default origin).")}),
        "pull",
        open_world=True,
    ),
    ToolDef(
        "memory_push",
        "Push shared memory",
        "Push the memory repository to a git remote. Refused (nothing is sent) when any outgoing file "
        "contains a secret or is above the remote's trust level; the error lists each file and why.",
        s.obj(
            {
                "remote": s.string("Git remote name (default origin)."),
                "dry_run": s.boolean("Only check what would be refused."),
            }
        ),
        "push",
        open_world=True,
    ),
)
