"""The admission stage: IP allow-list, per-request caps, then one atomic counter call that takes the
request, token and concurrency slots and the budget reservation for the key, its tenant and the model
(or refuses with 429 and Retry-After). Nothing here touches the database."""

from __future__ import annotations

import ipaddress
import math
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from adaptive_gateway.accounts.estimate import (
    cost_bound_nano,
    estimate_prompt_tokens,
    output_allowance,
    quick_prompt_tokens,
)
from adaptive_gateway.accounts.periods import Period
from adaptive_gateway.accounts.table import KeyEntry, LimitSpec, Scope, make_scope
from adaptive_gateway.config import CompiledConfig, Model
from adaptive_gateway.config.schema import LimitSet
from adaptive_gateway.errors import (
    BudgetExceeded,
    GatewayError,
    InvalidRequest,
    PermissionDenied,
    RateLimited,
)
from adaptive_gateway.pipeline.context import RequestContext
from adaptive_gateway.state import AdmitPlan, AdmitResult, BudgetOp, Settlement, WindowOp
from adaptive_gateway.store.models import NANO

if TYPE_CHECKING:
    from adaptive_gateway.accounts.runtime import Accounts

UNITS = {"r": "requests", "t": "tokens"}
HEADER_NAMES = {
    unit: tuple(f"x-ratelimit-{what}-{name}".encode() for what in ("limit", "remaining", "reset"))
    for unit, name in UNITS.items()
}


@dataclass(frozen=True, slots=True)
class BudgetHold:
    key: str
    limit: int
    scope: str
    scope_id: str
    name: str
    period: Period
    hard: bool
    thresholds: tuple[float, ...]


@dataclass(slots=True)
class Ticket:
    """What admission took, so the finisher can give it back (settle)."""

    plan: _Plan
    bucket: int
    backend: str
    reserved_tokens: int
    entry: KeyEntry | None = None

    @property
    def budgets(self) -> list[BudgetHold]:
        return self.plan.budgets

    def settlement(self, tokens: int, cost_nano: int) -> Settlement:
        delta = tokens - self.reserved_tokens
        plan = self.plan
        return Settlement(
            plan.plan.lease_id,
            self.bucket,
            self.backend,
            leases=[op.key for op in plan.plan.leases],
            windows=[(k, delta) for k in plan.tpm_keys] if delta else [],
            budgets=[(b.key, cost_nano, b.period.end_ts) for b in plan.budgets],
        )


class BudgetRefused(BudgetExceeded):
    """A hard budget refused the request (carries what the budget.exhausted event reports)."""

    def __init__(self, hold: BudgetHold, spent: int, message: str, *, headers: dict[str, str]) -> None:
        super().__init__(message, headers=headers)
        self.hold = hold
        self.spent = spent


@dataclass(slots=True)
class _Plan:
    plan: AdmitPlan
    windows: list[tuple[str, str, str]] = field(default_factory=list)  # (scope, name, unit r|t)
    leases: list[tuple[str, str]] = field(default_factory=list)
    budgets: list[BudgetHold] = field(default_factory=list)
    tpm_keys: list[str] = field(default_factory=list)


def _fmt_reset(seconds: float) -> str:
    return f"{max(int(seconds * 1000), 1)}ms" if seconds < 1 else f"{math.ceil(seconds)}s"


def _usd(nano: int) -> str:
    return f"${nano / NANO:,.2f}" if nano >= NANO // 100 else f"${nano / NANO:.6f}"


class Admission:
    """The pipeline stage (``app.gateway.stages``)."""

    def __init__(self, accounts: Accounts) -> None:
        self.acc = accounts
        self._model_scopes: dict[str, tuple[LimitSet, Scope]] = {}
        self._ttl: dict[str, float] = {}  # lease time-to-live per config digest
        self._holds: dict[tuple[str, str, str, int, bool, str], BudgetHold] = {}
        self._lease_prefix = os.urandom(6).hex() + "-"  # lease ids: unique per process, no syscall each
        self._leases = 0

    async def __call__(self, ctx: RequestContext) -> None:
        p = ctx.principal
        entry = self.acc.table.by_id.get(p.id) if p is not None and p.kind == "virtual" else None
        req = ctx.request
        model = ctx.config.resolve(req.model) if req is not None else None
        model_limits = ctx.config.source.limits.models.get(model.name) if model is not None else None
        if entry is None and model_limits is None:
            return
        if entry is not None:
            ctx.notes["default_trust"] = entry.trust_level
            self._check_request(entry, ctx)
        scopes = self._scopes(entry, model, model_limits)
        capped = entry is not None and entry.max_cost_nano is not None
        if not capped and not any(sc.estimates for sc in scopes):  # only TPM, budgets, cost caps estimate
            if scopes:
                await self._admit(ctx, scopes, entry, 0, 0)
            return
        out_tokens = output_allowance(
            req, entry.max_tokens if entry else None, ctx.config.source.limits.default_output_tokens
        )
        # a quick, slightly high prompt estimate first; the full estimator decides every refusal
        quick = quick_prompt_tokens(req) if req is not None else 0
        in_tokens = quick if quick is not None else estimate_prompt_tokens(req)  # type: ignore[arg-type]
        cost = cost_bound_nano(model, in_tokens, out_tokens)
        if capped and entry is not None and cost > (entry.max_cost_nano or 0) and quick is not None and req:
            quick, in_tokens = None, estimate_prompt_tokens(req)
            cost = cost_bound_nano(model, in_tokens, out_tokens)
        if entry is not None and entry.max_cost_nano is not None and cost > entry.max_cost_nano:
            raise InvalidRequest(
                f"estimated cost {_usd(cost)} ({in_tokens} input + {out_tokens} output tokens) exceeds this "
                f"key's max cost per request of {_usd(entry.max_cost_nano)}; lower max_tokens or shorten "
                "the prompt",
                param="max_tokens",
                code="max_cost_exceeded",
            )
        if not scopes:
            return
        try:
            await self._admit(ctx, scopes, entry, in_tokens + out_tokens, cost)
            return
        except (RateLimited, BudgetExceeded) as err:
            precise = estimate_prompt_tokens(req) if quick is not None and req is not None else in_tokens
            if precise >= in_tokens:
                self._report(err)
                raise
        try:  # refused on the quick estimate: the full estimator decides
            cost = cost_bound_nano(model, precise, out_tokens)
            await self._admit(ctx, scopes, entry, precise + out_tokens, cost)
        except BudgetExceeded as err:
            self._report(err)
            raise

    def _report(self, err: GatewayError) -> None:
        if isinstance(err, BudgetRefused):
            self.acc.events.budget_exhausted(err.hold, err.spent)

    async def _admit(
        self, ctx: RequestContext, scopes: list[Scope], entry: KeyEntry | None, tokens: int, cost: int
    ) -> None:
        built = self._plan(ctx, scopes, tokens, cost)
        res = await self.acc.counters.admit(built.plan)
        if not res.ok:
            raise self._refusal(built, res, tokens, cost)
        ctx.extra_headers.extend(self._headers(built, res))
        self.acc.events.after_admit(built.windows, built.plan.windows, res)
        ctx.notes["admission"] = Ticket(built, res.bucket, res.backend, tokens, entry)

    @staticmethod
    def _check_request(entry: KeyEntry, ctx: RequestContext) -> None:
        if entry.networks is not None:
            try:
                ip = ipaddress.ip_address(ctx.client_ip)
            except ValueError:
                ip = None
            if ip is None or not any(ip in net for net in entry.networks):
                raise PermissionDenied(
                    f"this key may not be used from {ctx.client_ip or 'an unknown address'}"
                )
        req = ctx.request
        if (
            entry.max_tokens is not None
            and req is not None
            and req.max_tokens
            and req.max_tokens > entry.max_tokens
        ):
            raise InvalidRequest(
                f"max_tokens {req.max_tokens} exceeds this key's limit of {entry.max_tokens}",
                param="max_tokens",
            )

    def _scopes(
        self, entry: KeyEntry | None, model: Model | None, model_limits: LimitSet | None
    ) -> list[Scope]:
        scopes = list(entry.scopes) if entry is not None else []
        if model is not None and model_limits is not None:
            cached = self._model_scopes.get(model.name)
            if cached is None or cached[0] is not model_limits:  # new config: rebuild
                ml = model_limits
                scope = make_scope(
                    "model", model.name, model.name, LimitSpec(ml.rpm, ml.tpm, ml.max_concurrency)
                )
                cached = self._model_scopes[model.name] = (model_limits, scope)
            scopes.append(cached[1])
        return scopes

    def _plan(self, ctx: RequestContext, scopes: list[Scope], tokens: int, cost: int) -> _Plan:
        config = ctx.config
        ttl = self._ttl.get(config.digest)
        if ttl is None:
            totals = [p.timeouts.total for p in config.providers.values()]
            ttl = self._ttl[config.digest] = max(totals, default=600.0) + 60
        self._leases += 1
        built = _Plan(AdmitPlan(f"{self._lease_prefix}{self._leases}", ttl))
        plan, windows, now = built.plan, built.windows, time.time()
        for sc in scopes:
            lim = sc.limits
            if sc.rpm_op is not None:
                plan.windows.append(sc.rpm_op)
                windows.append((sc.kind, sc.name, "r"))
            if lim.tpm is not None:
                plan.windows.append(WindowOp(sc.tpm_key, lim.tpm, tokens))
                windows.append((sc.kind, sc.name, "t"))
                built.tpm_keys.append(sc.tpm_key)
            if sc.lease_op is not None:
                plan.leases.append(sc.lease_op)
                built.leases.append((sc.kind, sc.name))
            if lim.budget is not None:
                hold = self._hold(config, sc, now)
                plan.budgets.append(BudgetOp(hold.key, hold.limit, cost, hold.hard, hold.period.end_ts))
                built.budgets.append(hold)
        return built

    def _hold(self, config: CompiledConfig, sc: Scope, now: float) -> BudgetHold:
        """The scope's budget in the current period (cached until the period or the config changes)."""
        b = sc.limits.budget
        assert b is not None
        period = self.acc.periods.current(b.period, now)
        cache_key = (sc.budget_prefix, period.label, config.digest, b.limit_nano, b.hard, sc.name)
        hold = self._holds.get(cache_key)
        if hold is None:
            if len(self._holds) > 10_000:
                self._holds.clear()
            thresholds = tuple(config.source.budgets.thresholds)
            key = sc.budget_prefix + period.label
            hold = BudgetHold(key, b.limit_nano, sc.kind, sc.id, sc.name, period, b.hard, thresholds)
            self._holds[cache_key] = hold
        return hold

    def _refusal(self, built: _Plan, res: AdmitResult, tokens: int, cost: int) -> GatewayError:
        retry = max(res.retry_after, 0.001)
        headers = {"Retry-After": str(max(math.ceil(retry), 1)), "retry-after-ms": str(int(retry * 1000))}
        if res.denied == "window":
            scope, name, unit = built.windows[res.index]
            op = built.plan.windows[res.index]
            headers[f"x-ratelimit-limit-{UNITS[unit]}"] = str(op.limit)
            headers[f"x-ratelimit-remaining-{UNITS[unit]}"] = "0"
            headers[f"x-ratelimit-reset-{UNITS[unit]}"] = _fmt_reset(retry)
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
            scope, name = built.leases[res.index]
            limit = built.plan.leases[res.index].limit
            return RateLimited(
                f"too many concurrent requests: {scope} '{name}' allows {limit} at a time",
                headers=headers,
                code="concurrency_limit_exceeded",
            )
        hold = built.budgets[res.index]
        spent, reserved = res.spent[res.index], res.reserved[res.index]
        return BudgetRefused(
            hold,
            spent,
            f"budget exhausted: {hold.scope} '{hold.name}' has a {hold.period.kind} budget of "
            f"{_usd(hold.limit)}; spent {_usd(spent)}, {_usd(reserved)} reserved by requests in flight, this "
            f"request needs up to {_usd(cost)}; resets at {hold.period.reset_text()}",
            headers=headers,
        )

    @staticmethod
    def _headers(built: _Plan, res: AdmitResult) -> list[tuple[bytes, bytes]]:
        """The rate-limit headers of the first scope (key, then tenant, then model) per unit."""
        out: list[tuple[bytes, bytes]] = []
        units = ""
        ops = built.plan.windows
        for i, meta in enumerate(built.windows):
            unit = meta[2]
            if unit in units:
                continue
            units += unit
            names = HEADER_NAMES[unit]
            out.append((names[0], b"%d" % ops[i].limit))
            out.append((names[1], b"%d" % max(res.remaining[i], 0)))
            out.append((names[2], _fmt_reset(res.reset[i]).encode()))
        return out
