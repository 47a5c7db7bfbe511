"""When to fire which webhook event, deduplicated so that a busy key does not flood receivers:
thresholds fire on the settlement that crosses them (atomic in the counters, so once globally);
``budget.exhausted`` on the first refusal of a period per replica; ``rate_limit.approaching`` once per
window per minute; ``deployment.degraded`` once per deployment per five minutes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from adaptive_gateway.state import AdmitResult, WindowOp
from adaptive_gateway.store.models import NANO

if TYPE_CHECKING:
    from adaptive_gateway.accounts.admission import BudgetHold
    from adaptive_gateway.accounts.webhooks import Webhooks

APPROACHING = 0.1  # remaining fraction of a window that counts as "approaching"
DEGRADED_QUIET = 300.0
_MAX_SEEN = 10_000


def budget_data(hold: BudgetHold, spent: int) -> dict[str, Any]:
    return {
        "scope": hold.scope,
        "id": hold.scope_id,
        "name": hold.name,
        "period": hold.period.kind,
        "budget_usd": hold.limit / NANO,
        "spent_usd": spent / NANO,
        "hard": hold.hard,
        "resets_at": hold.period.reset_text(),
    }


class EventGate:
    def __init__(self, webhooks: Webhooks) -> None:
        self.webhooks = webhooks
        self._seen: dict[str, float] = {}

    def _first(self, key: str, quiet: float | None = None) -> bool:
        now = time.monotonic()
        last = self._seen.get(key)
        if last is not None and (quiet is None or now - last < quiet):
            return False
        if len(self._seen) > _MAX_SEEN:
            self._seen.clear()
        self._seen[key] = now
        return True

    def after_admit(self, meta: list[tuple[str, str, str]], ops: list[WindowOp], res: AdmitResult) -> None:
        if not self.webhooks.endpoints:
            return
        for (scope, name, unit), op, remaining in zip(meta, ops, res.remaining, strict=True):
            if remaining <= op.limit * APPROACHING and self._first(f"rl:{op.key}:{res.bucket // 60}"):
                self.webhooks.emit(
                    "rate_limit.approaching",
                    {
                        "scope": scope,
                        "name": name,
                        "unit": "requests" if unit == "r" else "tokens",
                        "limit_per_minute": op.limit,
                        "remaining": max(remaining, 0),
                    },
                    subject=op.key,
                )

    def budget_exhausted(self, hold: BudgetHold, spent: int) -> None:
        if self.webhooks.endpoints and self._first(f"bx:{hold.key}"):
            self.webhooks.emit("budget.exhausted", budget_data(hold, spent), subject=hold.key)

    def after_settle(self, holds: list[BudgetHold], results: list[tuple[int, int]]) -> None:
        if not self.webhooks.endpoints:
            return
        for hold, (before, after) in zip(holds, results, strict=False):
            for fraction in hold.thresholds:
                mark = hold.limit * fraction
                if before < mark <= after:
                    data = budget_data(hold, after) | {"threshold": fraction}
                    self.webhooks.emit("budget.threshold", data, subject=hold.key)
            if before < hold.limit <= after and self._first(f"bx:{hold.key}"):
                self.webhooks.emit("budget.exhausted", budget_data(hold, after), subject=hold.key)

    def deployment_failed(self, deployment: str, error: str, status: int | None) -> None:
        if self.webhooks.endpoints and self._first(f"dd:{deployment}", DEGRADED_QUIET):
            self.webhooks.emit(
                "deployment.degraded",
                {"deployment": deployment, "error": error[:300], "status": status},
                subject=deployment,
            )
