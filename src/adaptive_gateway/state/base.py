"""The counter interface behind admission: sliding windows (requests / tokens per minute), concurrency
leases and budget reservations, checked and taken atomically as one plan.

Semantics shared by every backend:

* **Window**: 60 one-second buckets. A unit taken at time *t* counts until the bucket it fell in is 60 s
  old, so within any 59-second span no more than ``limit`` units are admitted.
* **Lease**: one in-flight request; released at settlement, or expired after ``lease_ttl`` seconds if
  the replica that took it died.
* **Budget**: ``spent`` plus in-flight ``reserved`` amounts, in integer nano-USD per budget period. A
  hard budget admits a request only when ``spent + reserved + amount <= limit``; settlement swaps the
  reservation for the actual cost, so concurrent requests can overspend only by what their actual cost
  exceeds their reservation.

Either every check of a plan passes and all of them are taken, or nothing is taken.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

WINDOW_SECONDS = 60
DENY_WINDOW, DENY_LEASE, DENY_BUDGET = "window", "lease", "budget"


class StateUnavailable(Exception):
    """The shared counter store cannot be reached."""


@dataclass(slots=True)
class WindowOp:
    key: str
    limit: int
    cost: int


@dataclass(slots=True)
class LeaseOp:
    key: str
    limit: int


@dataclass(slots=True)
class BudgetOp:
    key: str  # one key per budget period
    limit: int  # nano-USD
    amount: int  # reservation, nano-USD
    hard: bool
    expires_at: float  # end of the budget period (epoch seconds)


@dataclass(slots=True)
class AdmitPlan:
    lease_id: str
    lease_ttl: float
    windows: list[WindowOp] = field(default_factory=list)
    leases: list[LeaseOp] = field(default_factory=list)
    budgets: list[BudgetOp] = field(default_factory=list)
    # plans with the same lane have the same ops (keys, limits) and may be admitted from a block of
    # capacity taken ahead (Redis backend; see state/redis.py); None: decided one by one
    lane: Hashable | None = None


@dataclass(slots=True)
class AdmitResult:
    """``ok`` or which check refused (``denied`` kind and ``index`` into that list of the plan).

    ``remaining`` / ``reset`` are per window op (after this admission; reset = seconds until the
    oldest counted unit leaves the window); ``spent`` / ``reserved`` per budget op (before it).
    """

    ok: bool
    bucket: int
    backend: str
    denied: str | None = None
    index: int = 0
    retry_after: float = 0.0
    remaining: list[int] = field(default_factory=list)
    reset: list[float] = field(default_factory=list)
    spent: list[int] = field(default_factory=list)
    reserved: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Settlement:
    """What to give back after a request: its leases, the token windows corrected by ``actual -
    estimated`` in the bucket they were charged, and each budget's reservation swapped for the actual
    cost."""

    lease_id: str
    bucket: int
    backend: str
    leases: list[str] = field(default_factory=list)
    windows: list[tuple[str, int]] = field(default_factory=list)  # (key, delta)
    budgets: list[tuple[str, int, float]] = field(default_factory=list)  # (key, actual nano, expires_at)


# per budget of a settlement: (spent before, spent after)
SettleResult = list[tuple[int, int]]


class Lane(Protocol):
    """The ops of one plan shape (same keys and limits) resolved by a backend once (``Counters.lane``):
    a request of that shape is then admitted and settled from its own values alone, without building a
    plan, its ops or a settlement. The windows the lane was opened with at ``token_ops`` take the
    request's tokens, the others their op's cost; every budget reserves the request's cost."""

    def admit(self, lease_id: str, tokens: int, cost: int, ttl: float) -> AdmitResult | None:
        """As ``Counters.admit_local`` for the plan of these values; None when only a full plan can be
        decided (``Counters.admit``), e.g. a Redis key without an open block of capacity."""
        ...

    def settle(self, lease_id: str, bucket: int, token_delta: int, cost: int) -> SettleResult | None:
        """Settle a request this lane admitted (the token windows corrected by ``token_delta``, every
        budget charged ``cost``); None when it must go as a :class:`Settlement` instead."""
        ...


class Counters(Protocol):
    """A counter backend. ``name`` is ``memory`` or ``redis``."""

    name: str

    async def admit(self, plan: AdmitPlan) -> AdmitResult:
        """Check every op of the plan and take all of them, or none."""
        ...

    def admit_local(self, plan: AdmitPlan) -> AdmitResult | None:
        """The same decision as :meth:`admit` when the backend can make it at once, without waiting
        (in-process counters, a block of Redis capacity held here); None when only ``admit`` can."""
        ...

    async def settle(self, items: list[Settlement]) -> list[SettleResult]:
        """Apply settlements (idempotent per lease id); one result per item."""
        ...

    def lane(self, plan: AdmitPlan, token_ops: Sequence[int]) -> Lane | None:
        """A :class:`Lane` for requests shaped like ``plan`` (its ops' keys and limits; the windows at
        ``token_ops`` count tokens); None when the backend has no faster way than a plan each."""
        ...

    async def seed_spend(self, seeds: dict[str, tuple[int, float]]) -> None:
        """Set a budget's spent amount where the backend has none yet: key -> (nano, expires_at)."""
        ...

    async def budget_state(self, keys: list[str]) -> list[tuple[int, int]]:
        """(spent, reserved) per budget key."""
        ...

    async def ping(self) -> tuple[bool, str]: ...

    async def close(self) -> None: ...
