"""The admission stage: IP allow-list, per-request caps, then one atomic counter call that takes the
request, token and concurrency slots and the budget reservation for the key, its tenant and the model
(or refuses with 429 and Retry-After). Nothing here touches the database."""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Awaitable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from adaptive_gateway.accounts.answers import (
    HEADER_NAMES,
    BudgetRefused,
    rate_limit_headers,
    refusal,
    usd,
)
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
from adaptive_gateway.state import (
    AdmitPlan,
    AdmitResult,
    BudgetOp,
    LeaseOp,
    Settlement,
    WindowOp,
)
from adaptive_gateway.state.base import Lane

if TYPE_CHECKING:
    from adaptive_gateway.accounts.runtime import Accounts


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


@dataclass(slots=True, eq=False)
class Template:
    """The plan shape of one scope set under one config, built once: the ops that never change, what
    each op is (refusals, events), the rate-limit header names and limits, the lease ttl, the lane."""

    owner: KeyEntry | None
    model_limits: LimitSet | None
    digest: str
    scopes: list[Scope]
    ttl: float
    estimates: bool = False  # TPM or a budget: needs token / cost estimates
    ops: list[WindowOp | None] = field(default_factory=list)  # RPM ops; None where TPM goes per request
    windows: list[tuple[str, str, str]] = field(default_factory=list)  # (scope, name, unit r|t) per op
    tpm: list[tuple[int, str, int]] = field(default_factory=list)  # (op index, key, limit)
    tpm_keys: list[str] = field(default_factory=list)
    lease_ops: list[LeaseOp] = field(default_factory=list)
    leases: list[tuple[str, str]] = field(default_factory=list)
    lease_keys: list[str] = field(default_factory=list)
    budget_scopes: list[Scope] = field(default_factory=list)
    headers: list[tuple[int, bytes, bytes, bytes, bytes]] = field(default_factory=list)
    holds: list[BudgetHold] = field(default_factory=list)  # the budgets' current periods...
    holds_until: float = -1.0  # ...until the first of them ends
    lane: Hashable | None = None
    # the counters' Lane for this shape (its ops resolved once), for the lane it was opened for
    opened: tuple[Hashable, Lane | None] | None = None


@dataclass(slots=True)
class Ticket:
    """What admission took, so the finisher can give it back (settle)."""

    t: Template
    lease_id: str
    budgets: list[BudgetHold]  # the budgets' holds (periods) the reservation was made in
    bucket: int
    backend: str
    reserved_tokens: int
    entry: KeyEntry | None = None
    lane: Lane | None = None  # admitted through this lane: settles through it

    def settlement(self, tokens: int, cost_nano: int) -> Settlement:
        delta = tokens - self.reserved_tokens
        t = self.t
        return Settlement(
            self.lease_id,
            self.bucket,
            self.backend,
            t.lease_keys,
            [(k, delta) for k in t.tpm_keys] if delta else [],
            [(b.key, cost_nano, b.period.end_ts) for b in self.budgets] if self.budgets else [],
        )


class Admission:
    """The pipeline stage (``app.gateway.stages``)."""

    def __init__(self, accounts: Accounts) -> None:
        self.acc = accounts
        self._model_scopes: dict[str, tuple[LimitSet, Scope]] = {}
        self._ttl: dict[str, float] = {}  # lease time-to-live per config digest
        self._templates: dict[tuple[int, int], Template] = {}
        self._lease_prefix = os.urandom(6).hex() + "-"  # lease ids: unique per process, no syscall each
        self._leases = 0
        self._now = accounts.counters.admit_local  # decides without waiting when it can

    def __call__(self, ctx: RequestContext) -> Awaitable[None] | None:
        """The stage: None for a caller without limits (the master key on a model without model
        limits: nothing to wait for, no coroutine), else the admission to await."""
        p = ctx.principal
        entry = self.acc.table.by_id.get(p.id) if p is not None and p.kind == "virtual" else None
        req = ctx.request
        config = ctx.config
        model = config.resolve(req.model) if req is not None else None
        model_limits = config.source.limits.models.get(model.name) if model is not None else None
        if entry is None and model_limits is None:
            return None
        return self._admit_request(ctx, entry, model, model_limits)

    async def _admit_request(
        self,
        ctx: RequestContext,
        entry: KeyEntry | None,
        model: Model | None,
        model_limits: LimitSet | None,
    ) -> None:
        req = ctx.request
        config = ctx.config
        if entry is not None and (entry.networks is not None or entry.max_tokens is not None):
            self._check_request(entry, ctx)
        t = self._template(config, entry, model, model_limits)
        capped = entry is not None and entry.max_cost_nano is not None
        if not capped and not t.estimates:  # only TPM, budgets, cost caps estimate
            if t.scopes:
                await self._admit(ctx, t, entry, 0, 0)
            return
        out_tokens = output_allowance(
            req, entry.max_tokens if entry else None, config.source.limits.default_output_tokens
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
                f"estimated cost {usd(cost)} ({in_tokens} input + {out_tokens} output tokens) exceeds this "
                f"key's max cost per request of {usd(entry.max_cost_nano)}; lower max_tokens or shorten "
                "the prompt",
                param="max_tokens",
                code="max_cost_exceeded",
            )
        if not t.scopes:
            return
        try:
            await self._admit(ctx, t, entry, in_tokens + out_tokens, cost)
            return
        except (RateLimited, BudgetExceeded) as err:
            precise = estimate_prompt_tokens(req) if quick is not None and req is not None else in_tokens
            if precise >= in_tokens:
                self._report(err)
                raise
        try:  # refused on the quick estimate: the full estimator decides
            cost = cost_bound_nano(model, precise, out_tokens)
            await self._admit(ctx, t, entry, precise + out_tokens, cost)
        except BudgetExceeded as err:
            self._report(err)
            raise

    def _report(self, err: GatewayError) -> None:
        if isinstance(err, BudgetRefused):
            self.acc.events.budget_exhausted(err.hold, err.spent)

    async def _admit(
        self, ctx: RequestContext, t: Template, entry: KeyEntry | None, tokens: int, cost: int
    ) -> None:
        lane = self._lane(ctx.config, t) if t.lane is not None else None
        if lane is not None:  # the usual request: no plan to build
            lease_id = self._lease_id()
            res = lane.admit(lease_id, tokens, cost, t.ttl)
            if res is not None and not res.ok:  # refused: the full plan names what refused
                raise refusal(t, self._plan(ctx.config, t, tokens, cost)[0], t.holds, res, cost)
            if res is not None:
                self._admitted(
                    ctx, Ticket(t, lease_id, t.holds, res.bucket, res.backend, tokens, entry, lane), res
                )
                return
            # None: only a plan can be decided now (no open block of Redis capacity)
        plan, holds = self._plan(ctx.config, t, tokens, cost)
        res = self._now(plan)
        if res is None:
            res = await self.acc.counters.admit(plan)
        if not res.ok:
            raise refusal(t, plan, holds, res, cost)
        self._admitted(ctx, Ticket(t, plan.lease_id, holds, res.bucket, res.backend, tokens, entry), res)

    def _admitted(self, ctx: RequestContext, ticket: Ticket, res: AdmitResult) -> None:
        """The rate-limit headers, the webhook check and the ticket the finisher settles."""
        t = ticket.t
        ctx.extra_headers += rate_limit_headers(t, res)
        if self.acc.events.webhooks.endpoints:
            self.acc.events.after_admit(t.windows, self._ops(t, ticket.reserved_tokens), res)
        ctx.notes["admission"] = ticket

    def _lane(self, config: CompiledConfig, t: Template) -> Lane | None:
        """The counters' lane for the template's current shape (opened again when its budgets enter a new
        period); None when the backend has none."""
        self._holds(config, t)  # a new budget period is a new lane
        opened = t.opened
        if opened is not None and opened[0] is t.lane:
            return opened[1]
        shape, _ = self._plan(config, t, 0, 0)
        lane = self.acc.counters.lane(shape, [i for i, _, _ in t.tpm])
        t.opened = (t.lane, lane)
        return lane

    @staticmethod
    def _ops(t: Template, tokens: int) -> list[WindowOp]:
        """The template's window ops for ``tokens`` (what webhooks are told about)."""
        ops: list[WindowOp] = t.ops.copy()  # type: ignore[assignment]  # the TPM slots are filled next
        for i, key, limit in t.tpm:
            ops[i] = WindowOp(key, limit, tokens)
        return ops

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

    def _template(
        self,
        config: CompiledConfig,
        entry: KeyEntry | None,
        model: Model | None,
        model_limits: LimitSet | None,
    ) -> Template:
        """The scope set's template (built on first use, and again after a key or config change)."""
        cache_key = (id(entry), id(model_limits))
        t = self._templates.get(cache_key)
        if (
            t is not None
            and t.owner is entry
            and t.model_limits is model_limits
            and t.digest == config.digest
        ):
            return t
        if len(self._templates) > 10_000:
            self._templates.clear()
        scopes = self._scopes(entry, model, model_limits)
        ttl = self._ttl.get(config.digest)
        if ttl is None:
            totals = [p.timeouts.total for p in config.providers.values()]
            ttl = self._ttl[config.digest] = max(totals, default=600.0) + 60
        t = Template(entry, model_limits, config.digest, scopes, ttl, any(sc.estimates for sc in scopes))
        first: dict[str, int] = {}
        for sc in scopes:
            lim = sc.limits
            if sc.rpm_op is not None:
                first.setdefault("r", len(t.ops))
                t.ops.append(sc.rpm_op)
                t.windows.append((sc.kind, sc.name, "r"))
            if lim.tpm is not None:
                first.setdefault("t", len(t.ops))
                t.tpm.append((len(t.ops), sc.tpm_key, lim.tpm))
                t.ops.append(None)
                t.windows.append((sc.kind, sc.name, "t"))
                t.tpm_keys.append(sc.tpm_key)
            if sc.lease_op is not None:
                t.lease_ops.append(sc.lease_op)
                t.leases.append((sc.kind, sc.name))
                t.lease_keys.append(sc.lease_op.key)
            if lim.budget is not None:
                t.budget_scopes.append(sc)
        for unit in sorted(first, key=first.__getitem__):  # the first scope's headers per unit
            i = first[unit]
            op = t.ops[i]
            limit = op.limit if op is not None else next(lim for j, _, lim in t.tpm if j == i)
            names = HEADER_NAMES[unit]
            t.headers.append((i, names[0], b"%d" % limit, names[1], names[2]))
        if not t.budget_scopes:
            t.lane = (tuple((op.key, op.limit) if op else None for op in t.ops), tuple(t.tpm), ())
        self._templates[cache_key] = t
        return t

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

    def _plan(
        self, config: CompiledConfig, t: Template, tokens: int, cost: int
    ) -> tuple[AdmitPlan, list[BudgetHold]]:
        holds = self._holds(config, t)
        budgets = [BudgetOp(h.key, h.limit, cost, h.hard, h.period.end_ts) for h in holds]
        plan = AdmitPlan(self._lease_id(), t.ttl, self._ops(t, tokens), t.lease_ops, budgets, t.lane)
        return plan, holds

    def _lease_id(self) -> str:
        self._leases += 1
        return f"{self._lease_prefix}{self._leases}"

    def _holds(self, config: CompiledConfig, t: Template) -> list[BudgetHold]:
        """The template's budgets in their current periods (renewed when the first of them ended)."""
        if not t.budget_scopes:
            return []
        now = time.time()
        if now >= t.holds_until:
            self._renew_holds(config, t, now)
        return t.holds

    def _renew_holds(self, config: CompiledConfig, t: Template, now: float) -> None:
        """The template's budgets in their current periods, and its lane (same ops: same lane)."""
        thresholds = tuple(config.source.budgets.thresholds)
        holds = []
        for sc in t.budget_scopes:
            b = sc.limits.budget
            assert b is not None
            period = self.acc.periods.current(b.period, now)
            key = sc.budget_prefix + period.label
            holds.append(BudgetHold(key, b.limit_nano, sc.kind, sc.id, sc.name, period, b.hard, thresholds))
        t.holds = holds
        t.holds_until = min(h.period.end_ts for h in holds)
        t.lane = (
            tuple((op.key, op.limit) if op is not None else None for op in t.ops),
            tuple(t.tpm),
            tuple((h.key, h.limit, h.hard) for h in holds),
        )
