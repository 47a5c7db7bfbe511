"""Shared counters for rate limits, concurrency and budget reservations: ``memory`` (in-process, the
default) and ``redis`` (shared by replicas, with a local fallback) behind one small interface."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from adaptive_gateway.state.base import (
    AdmitPlan,
    AdmitResult,
    BudgetOp,
    Counters,
    LeaseOp,
    Settlement,
    SettleResult,
    StateUnavailable,
    WindowOp,
)
from adaptive_gateway.state.memory import MemoryCounters


def make_counters(
    redis_url: str | None, prefix: str = "agw:", on_recover: Callable[[], Awaitable[None]] | None = None
) -> Counters:
    """In-process counters, or Redis (falling back to local ones) when a URL is configured."""
    if not redis_url:
        return MemoryCounters()
    from adaptive_gateway.state.fallback import ResilientCounters
    from adaptive_gateway.state.redis import RedisCounters

    return ResilientCounters(RedisCounters(redis_url, prefix), on_recover=on_recover)


__all__ = [
    "AdmitPlan",
    "AdmitResult",
    "BudgetOp",
    "Counters",
    "LeaseOp",
    "MemoryCounters",
    "SettleResult",
    "Settlement",
    "StateUnavailable",
    "WindowOp",
    "make_counters",
]
