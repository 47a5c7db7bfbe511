"""The ``handoff_*`` tools: pass a task from one agent to another with its goal, state and decisions.

The sender is always the calling agent; accepting and completing happen under the caller's agent
name, so a handoff addressed to ``claude`` is accepted by a client acting as ``claude``.
"""

from __future__ import annotations

from typing import Any

from adaptive_gateway.mcp import schema as s
from adaptive_gateway.mcp.context import Caller, ToolDef, ToolOutput, ToolSpec
from adaptive_gateway.mcp.memory_service import MemoryService
from adaptive_gateway.memory import DEFAULT_NAMESPACE, Handoff
from adaptive_gateway.memory.serialize import handoff_to_dict

Args = dict[str, Any]

_DECISION = s.obj(
    {"decision": s.string("What was decided.", min_length=1), "reason": s.string("Why.", min_length=1)},
    ("decision", "reason"),
)
_ID = s.string("The handoff id (from handoff_list or handoff_create).", min_length=1)


def _view(handoff: Handoff) -> ToolOutput:
    data = handoff_to_dict(handoff)
    to = handoff.to_agent or "any agent"
    text = f"handoff {handoff.id} ({handoff.status.value}) from {handoff.from_agent} to {to}: {handoff.title}"
    return ToolOutput(text, data)


class HandoffTools:
    def __init__(self, memory: MemoryService) -> None:
        self.memory = memory

    async def create(self, caller: Caller, args: Args) -> ToolOutput:
        decisions = list(args.get("decisions", []))
        texts = [args["goal"], args.get("context_summary", ""), args.get("current_state", "")]
        texts += [f"{d['decision']} {d['reason']}" for d in decisions]
        texts += [*args.get("open_tasks", []), *args.get("resume_commands", [])]
        self.memory.refuse_secrets(*texts)
        agent = caller.agent(args)
        book = self.memory.handoffs
        handoff = await self.memory.run(
            lambda: book.create(
                args["goal"],
                from_agent=agent,
                to_agent=args.get("to_agent"),
                context_summary=args.get("context_summary", ""),
                current_state=args.get("current_state", ""),
                decisions=decisions,
                open_tasks=args.get("open_tasks", []),
                files_touched=args.get("files_touched", []),
                resume_commands=args.get("resume_commands", []),
                namespace=args.get("namespace") or DEFAULT_NAMESPACE,
                title=args.get("title"),
                tags=args.get("tags", []),
                trust_level=args.get("trust_level", "internal"),
            )
        )
        return _view(handoff)

    async def list_handoffs(self, caller: Caller, args: Args) -> ToolOutput:
        to_agent = caller.agent(args) if args.get("mine") else args.get("to_agent")
        book = self.memory.handoffs
        handoffs = await self.memory.run(
            lambda: book.list(
                to_agent=to_agent,
                status=args.get("status"),
                namespace=args.get("namespace"),
                from_agent=args.get("from_agent"),
            )
        )
        self._handed_out(caller, handoffs)
        return ToolOutput.of({"handoffs": [handoff_to_dict(h) for h in handoffs]})

    def _handed_out(self, caller: Caller, handoffs: list[Handoff]) -> None:
        """The handoffs' contents are now in the caller's context: their levels count as its sources
        (``trust/memory_sources.py``), as for ``memory_read``."""
        self.memory.handed_out(caller.principal, [(h.id, h.namespace, h.trust_level.value) for h in handoffs])

    async def accept(self, caller: Caller, args: Args) -> ToolOutput:
        agent = caller.agent(args)
        book = self.memory.handoffs
        handoff = await self.memory.run(
            lambda: book.accept(args["id"], agent, namespace=args.get("namespace"))
        )
        self._handed_out(caller, [handoff])
        return _view(handoff)

    async def complete(self, caller: Caller, args: Args) -> ToolOutput:
        self.memory.refuse_secrets(args["summary"])
        agent = caller.agent(args)
        book = self.memory.handoffs
        handoff = await self.memory.run(
            lambda: book.complete(args["id"], agent, args["summary"], namespace=args.get("namespace"))
        )
        return _view(handoff)

    async def cancel(self, caller: Caller, args: Args) -> ToolOutput:
        agent = caller.agent(args)
        book = self.memory.handoffs
        handoff = await self.memory.run(
            lambda: book.cancel(args["id"], agent, args.get("reason", ""), namespace=args.get("namespace"))
        )
        return _view(handoff)

    def specs(self) -> list[ToolSpec]:
        return [tool.bind(self) for tool in TOOLS]


TOOLS: tuple[ToolDef, ...] = (
    ToolDef(
        "handoff_create",
        "Hand a task to another agent",
        "Hand a task to another agent (or to any agent): goal, what the receiver must know, where the work "
        "stands, decisions with reasons, open tasks, files touched and commands to resume. Stored as "
        "readable Markdown in the shared memory; the receiver finds it with handoff_list.",
        s.obj(
            {
                "goal": s.string("What the receiving agent should achieve.", min_length=1),
                "to_agent": s.string("The receiving agent (e.g. 'codex'); omit to let any agent take it."),
                "context_summary": s.string("What the receiver needs to know that is not in the repo."),
                "current_state": s.string("Where the work stands now."),
                "decisions": s.array("Decisions already taken, each with its reason.", _DECISION),
                "open_tasks": s.strings("What is left to do."),
                "files_touched": s.strings("Paths worth looking at (one per entry)."),
                "resume_commands": s.strings("Commands to pick up the work (one per entry)."),
                "title": s.string("Short title (default: the goal's first line)."),
                "namespace": s.NAMESPACE,
                "tags": s.TAGS,
                "trust_level": s.TRUST,
                "agent": s.AGENT,
            },
            ("goal",),
        ),
        "create",
    ),
    ToolDef(
        "handoff_list",
        "List handoffs",
        "List handoffs, oldest first, with their full briefing. 'mine': those addressed to you (or to any "
        "agent); filter by status (open, accepted, completed, cancelled), sender or receiver.",
        s.obj(
            {
                "mine": s.boolean("Only handoffs addressed to the calling agent (or to any agent)."),
                "to_agent": s.string("Only handoffs addressed to this agent (or to any agent)."),
                "from_agent": s.string("Only handoffs from this agent."),
                "status": s.string("Only handoffs in this status.", enum=s.HANDOFF_STATUSES),
                "namespace": s.NAMESPACE,
                "agent": s.AGENT,
            }
        ),
        "list_handoffs",
        read_only=True,
    ),
    ToolDef(
        "handoff_accept",
        "Accept a handoff",
        "Take an open handoff as the calling agent. Only its addressee may (anyone when it has none).",
        s.obj({"id": _ID, "namespace": s.NAMESPACE, "agent": s.AGENT}, ("id",)),
        "accept",
    ),
    ToolDef(
        "handoff_complete",
        "Complete a handoff",
        "Close a handoff you accepted, with a summary of the outcome.",
        s.obj(
            {
                "id": _ID,
                "summary": s.string("What was done.", min_length=1),
                "namespace": s.NAMESPACE,
                "agent": s.AGENT,
            },
            ("id", "summary"),
        ),
        "complete",
    ),
    ToolDef(
        "handoff_cancel",
        "Cancel a handoff",
        "Withdraw an open or accepted handoff (its sender or the accepting agent), with a reason.",
        s.obj(
            {
                "id": _ID,
                "reason": s.string("Why it is cancelled."),
                "namespace": s.NAMESPACE,
                "agent": s.AGENT,
            },
            ("id",),
        ),
        "cancel",
    ),
)
