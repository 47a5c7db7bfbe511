"""The handoff protocol: create, list, accept, complete and cancel handoffs between agents.

A handoff is a memory item under ``<namespace>/handoffs/<id>.md`` (schema and Markdown form in
:mod:`handoff_format`). Every transition is a read-modify-write under the store lock and one commit.

Lifecycle: ``open`` -> ``accepted`` (by ``to_agent``, or anyone when unaddressed) -> ``completed``
(by the accepting agent, with a summary). ``open`` or ``accepted`` -> ``cancelled`` by the sender or
the accepting agent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from adaptive_gateway.memory.errors import HandoffError, InvalidItem
from adaptive_gateway.memory.handoff_format import (
    Decision,
    Handoff,
    HandoffStatus,
    from_item,
    to_item,
    validate,
)
from adaptive_gateway.memory.models import (
    DEFAULT_NAMESPACE,
    ItemType,
    MemoryItem,
    TrustLevel,
    new_id,
    utcnow,
)
from adaptive_gateway.memory.store import MemoryStore

__all__ = ["Decision", "Handoff", "HandoffBook", "HandoffStatus", "as_decision"]

DecisionLike = Decision | tuple[str, str] | Mapping[str, str]
HandoffList = list[Handoff]
Transition = Callable[[Handoff], Handoff]

_TITLE_LIMIT = 80


def as_decision(value: DecisionLike) -> Decision:
    """Accept a Decision, a ``(decision, reason)`` pair or a ``{"decision", "reason"}`` mapping."""
    if isinstance(value, Decision):
        return Decision(value.decision.strip(), value.reason.strip())
    if isinstance(value, tuple):
        return Decision(value[0].strip(), value[1].strip())
    try:
        return Decision(str(value["decision"]).strip(), str(value["reason"]).strip())
    except KeyError as exc:
        raise InvalidItem(f"a decision needs 'decision' and 'reason' (missing {exc})") from None


def _title_from(goal: str) -> str:
    first = goal.strip().split("\n", 1)[0].strip()
    return first if len(first) <= _TITLE_LIMIT else first[: _TITLE_LIMIT - 1] + "…"


def _strip_all(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(value.strip() for value in values if value.strip())


class HandoffBook:
    """Handoffs stored in one :class:`MemoryStore`."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def create(
        self,
        goal: str,
        *,
        from_agent: str,
        to_agent: str | None = None,
        context_summary: str = "",
        current_state: str = "",
        decisions: Iterable[DecisionLike] = (),
        open_tasks: Iterable[str] = (),
        files_touched: Iterable[str] = (),
        resume_commands: Iterable[str] = (),
        namespace: str = DEFAULT_NAMESPACE,
        title: str | None = None,
        tags: Iterable[str] = (),
        trust_level: TrustLevel | str = TrustLevel.INTERNAL,
    ) -> Handoff:
        """Record a new ``open`` handoff and commit it."""
        now = utcnow()
        handoff = validate(
            Handoff(
                id=new_id(title or goal),
                goal=goal.strip(),
                from_agent=from_agent,
                to_agent=to_agent or None,
                context_summary=context_summary.strip(),
                current_state=current_state.strip(),
                decisions=tuple(as_decision(decision) for decision in decisions),
                open_tasks=_strip_all(open_tasks),
                files_touched=_strip_all(files_touched),
                resume_commands=_strip_all(resume_commands),
                namespace=namespace,
                title=(title or _title_from(goal)).strip(),
                tags=tuple(tags),
                trust_level=TrustLevel.parse(trust_level),
                created_at=now,
                updated_at=now,
            )
        )
        return from_item(self.store.write(to_item(handoff), author=from_agent))

    def get(self, handoff_id: str, namespace: str | None = None) -> Handoff:
        return from_item(self.store.read(handoff_id, namespace))

    def list(
        self,
        *,
        to_agent: str | None = None,
        status: HandoffStatus | str | None = None,
        namespace: str | None = None,
        from_agent: str | None = None,
        include_unaddressed: bool = True,
    ) -> HandoffList:
        """Handoffs oldest first. With ``to_agent``, those addressed to that agent, plus (unless
        ``include_unaddressed`` is False) those any agent may take."""
        wanted = HandoffStatus(str(status)) if status else None
        result: HandoffList = []
        for item in self.store.list(namespace=namespace, type=ItemType.HANDOFF):
            try:
                handoff = from_item(item)
            except InvalidItem:
                continue
            if wanted and handoff.status is not wanted:
                continue
            if from_agent and handoff.from_agent != from_agent:
                continue
            if to_agent and not _addressed_to(handoff, to_agent, include_unaddressed):
                continue
            result.append(handoff)
        return result

    def accept(self, handoff_id: str, agent: str, *, namespace: str | None = None) -> Handoff:
        """Take an open handoff; only its ``to_agent`` may, or anyone when it has none."""

        def change(handoff: Handoff) -> Handoff:
            _require_status(handoff, HandoffStatus.OPEN, "accept")
            if handoff.to_agent and handoff.to_agent != agent:
                raise HandoffError(
                    f"handoff {handoff.id!r} is addressed to {handoff.to_agent!r}, not {agent!r}"
                )
            return replace(handoff, status=HandoffStatus.ACCEPTED, accepted_by=agent)

        return self._transition(handoff_id, agent, change, "accept", namespace)

    def complete(self, handoff_id: str, agent: str, summary: str, *, namespace: str | None = None) -> Handoff:
        """Close an accepted handoff with a summary of the outcome; only the accepting agent may."""

        def change(handoff: Handoff) -> Handoff:
            _require_status(handoff, HandoffStatus.ACCEPTED, "complete")
            if handoff.accepted_by != agent:
                raise HandoffError(
                    f"handoff {handoff.id!r} was accepted by {handoff.accepted_by!r}, not {agent!r}"
                )
            if not summary.strip():
                raise InvalidItem("completing a handoff needs a summary")
            return replace(handoff, status=HandoffStatus.COMPLETED, closed_by=agent, outcome=summary.strip())

        return self._transition(handoff_id, agent, change, "complete", namespace)

    def cancel(
        self, handoff_id: str, agent: str, reason: str = "", *, namespace: str | None = None
    ) -> Handoff:
        """Withdraw a handoff that is still open or accepted (by its sender or its accepting agent)."""

        def change(handoff: Handoff) -> Handoff:
            _require_status(handoff, (HandoffStatus.OPEN, HandoffStatus.ACCEPTED), "cancel")
            if agent not in (handoff.from_agent, handoff.accepted_by):
                raise HandoffError(
                    f"only {handoff.from_agent!r} or the accepting agent may cancel {handoff.id!r}"
                )
            outcome = reason.strip() or f"Cancelled by {agent}."
            return replace(handoff, status=HandoffStatus.CANCELLED, closed_by=agent, outcome=outcome)

        return self._transition(handoff_id, agent, change, "cancel", namespace)

    def _transition(
        self, handoff_id: str, agent: str, change: Transition, verb: str, namespace: str | None
    ) -> Handoff:
        def on_item(item: MemoryItem) -> MemoryItem:
            return to_item(validate(change(from_item(item))))

        stored = self.store.update(handoff_id, on_item, namespace=namespace, author=agent, verb=verb)
        return from_item(stored)


def _addressed_to(handoff: Handoff, agent: str, include_unaddressed: bool) -> bool:
    return handoff.to_agent == agent or (include_unaddressed and handoff.to_agent is None)


def _require_status(handoff: Handoff, allowed: HandoffStatus | tuple[HandoffStatus, ...], verb: str) -> None:
    allowed_set = allowed if isinstance(allowed, tuple) else (allowed,)
    if handoff.status not in allowed_set:
        expected = " or ".join(status.value for status in allowed_set)
        raise HandoffError(
            f"cannot {verb} handoff {handoff.id!r}: it is {handoff.status.value}, not {expected}"
        )
