"""What admission tells the client: the rate-limit headers of an admitted request (the first scope's
per unit: key, then tenant, then model) and the refusals (429 with Retry-After naming the limit; the
budget's error with its period, spend and reset time)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from adaptive_gateway.errors import BudgetExceeded, GatewayError, RateLimited
from adaptive_gateway.state import AdmitPlan, AdmitResult
from adaptive_gateway.store.models import NANO

if TYPE_CHECKING:
    from adaptive_gateway.accounts.admission import BudgetHold, Template

UNITS = {"r": "requests", "t": "tokens"}
HEADER_NAMES = {
    unit: tuple(f"x-ratelimit-{what}-{name}".encode() for what in ("limit", "remaining", "reset"))
    for unit, name in UNITS.items()
}


class BudgetRefused(BudgetExceeded):
    """A hard budget refused the request (carries what the budget.exhausted event reports)."""

    def __init__(self, hold: BudgetHold, spent: int, message: str, *, headers: dict[str, str]) -> None:
        super().__init__(message, headers=headers)
        self.hold = hold
        self.spent = spent


def fmt_reset(seconds: float) -> str:
    return f"{max(int(seconds * 1000), 1)}ms" if seconds < 1 else f"{math.ceil(seconds)}s"


_RESET_SECONDS = [b"%ds" % i for i in range(62)]
# under steady traffic a window's oldest unit always leaves within the second: "NNNms" is the usual reset
_RESET_MS = [b"%dms" % max(i, 1) for i in range(1000)]


def reset_bytes(seconds: float) -> bytes:
    if 1 <= seconds < 61:
        return _RESET_SECONDS[math.ceil(seconds)]
    if 0 <= seconds < 1:
        return _RESET_MS[int(seconds * 1000)]
    return fmt_reset(seconds).encode()


def usd(nano: int) -> str:
    return f"${nano / NANO:,.2f}" if nano >= NANO // 100 else f"${nano / NANO:.6f}"


def refusal(
    t: Template, plan: AdmitPlan, holds: list[BudgetHold], res: AdmitResult, cost: int
) -> GatewayError:
    retry = max(res.retry_after, 0.001)
    headers = {"Retry-After": str(max(math.ceil(retry), 1)), "retry-after-ms": str(int(retry * 1000))}
    if res.denied == "window":
        scope, name, unit = t.windows[res.index]
        op = plan.windows[res.index]
        headers[f"x-ratelimit-limit-{UNITS[unit]}"] = str(op.limit)
        headers[f"x-ratelimit-remaining-{UNITS[unit]}"] = "0"
        headers[f"x-ratelimit-reset-{UNITS[unit]}"] = fmt_reset(retry)
        if op.cost > op.limit:
            msg = (
                f"this request needs up to {op.cost} tokens, more than {scope} '{name}' allows per "
                f"minute ({op.limit}); lower max_tokens or shorten the prompt"
            )
        else:
            msg = (
                f"rate limit reached: {scope} '{name}' allows {op.limit} {UNITS[unit]} per minute; "
                f"retry in {math.ceil(retry)}s"
            )
        return RateLimited(msg, headers=headers)
    if res.denied == "lease":
        scope, name = t.leases[res.index]
        limit = plan.leases[res.index].limit
        return RateLimited(
            f"too many concurrent requests: {scope} '{name}' allows {limit} at a time",
            headers=headers,
            code="concurrency_limit_exceeded",
        )
    hold = holds[res.index]
    spent, reserved = res.spent[res.index], res.reserved[res.index]
    return BudgetRefused(
        hold,
        spent,
        f"budget exhausted: {hold.scope} '{hold.name}' has a {hold.period.kind} budget of "
        f"{usd(hold.limit)}; spent {usd(spent)}, {usd(reserved)} reserved by requests in flight, this "
        f"request needs up to {usd(cost)}; resets at {hold.period.reset_text()}",
        headers=headers,
    )


def rate_limit_headers(t: Template, res: AdmitResult) -> list[tuple[bytes, bytes]]:
    """The rate-limit headers of the first scope (key, then tenant, then model) per unit."""
    out: list[tuple[bytes, bytes]] = []
    remaining, reset = res.remaining, res.reset
    for i, limit_name, limit, remaining_name, reset_name in t.headers:
        rem = remaining[i]
        out += (
            (limit_name, limit),
            (remaining_name, b"%d" % rem if rem > 0 else b"0"),
            (reset_name, reset_bytes(reset[i])),
        )
    return out
