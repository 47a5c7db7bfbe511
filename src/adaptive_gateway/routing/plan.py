"""Candidate planning: the ordered list of deployments to try for a request, and why.

The chain of models is the requested one (for a traffic split: the chosen arm, its fallbacks, then the
other arms), then its fallbacks, then its ``context_fallback``. Each model orders its own deployments by
its strategy (``routing/strategies.py``). Every candidate, fallbacks included, passes the same checks:
the candidate filters (trust level, key policy...), the context window, and the circuit breaker. Rate
limited (cooling down) deployments go last. Nothing here does I/O or formats strings unless a candidate
is skipped; explanations are built on demand (``routing/explain.py``).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from adaptive_gateway.config import CompiledConfig, Deployment, Model
from adaptive_gateway.routing.breaker import DENY, HALF_OPEN
from adaptive_gateway.routing.health import Board
from adaptive_gateway.routing.strategies import STRATEGIES, weighted
from adaptive_gateway.routing.tokens import request_tokens
from adaptive_gateway.types import ChatRequest

# a filter may veto a deployment (trust level, key's allowed models...) with a reason
CandidateFilter = Callable[[Deployment], str | None]

COOLING = -1  # origin of candidates moved last: rate limited (429) or failing active health probes
CONTEXT = -2  # origin of the context fallback's candidates
LAST_RESORT = -3  # every candidate's breaker is open: try them anyway rather than fail for sure


@dataclass(slots=True)
class Plan:
    """``candidates`` in order; ``origin[i]`` is the index in ``chain`` of the model that brought
    candidate i (or COOLING / CONTEXT); candidates from ``context_from`` on are tried only after an
    upstream said the request is too long."""

    model: Model
    candidates: list[Deployment] = field(default_factory=list)
    origin: list[int] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    skipped: list[tuple[Deployment, str]] = field(default_factory=list)
    arm: str | None = None  # the split arm chosen
    tokens: int | None = None  # the request's estimated prompt tokens, when a window mattered
    context_from: int = 1 << 30
    forced: set[str] | None = None  # ids tried despite an open breaker (nothing else was left)

    @property
    def strategy(self) -> str:
        return self.model.strategy

    def role(self, i: int) -> str:
        """Why candidate ``i`` is in the plan: primary, fallback, split arm, context fallback..."""
        origin = self.origin[i]
        if origin == COOLING:
            return "degraded (rate limited or failing health probes): tried last"
        if origin == CONTEXT:
            return "context fallback"
        if origin == LAST_RESORT:
            return "breaker open, but nothing else is left: tried anyway"
        name = self.chain[origin]
        if self.arm is not None and name == self.arm:
            return f"split arm '{name}'"
        return "primary" if origin == 0 else f"fallback {origin}: '{name}'"

    @property
    def reasons(self) -> list[str]:
        out = [f"{d.id}: {self.role(i)}" for i, d in enumerate(self.candidates)]
        return out + [f"{d.id}: skipped ({why})" for d, why in self.skipped]


def pick_arm(model: Model, headers: Mapping[str, str], key: str | None, rng: random.Random) -> str:
    """The split arm for a request: by a stable hash of the sticky value when there is one."""
    sticky = model.sticky
    value = (key if sticky == "key" else headers.get(sticky)) if sticky else None
    x = zlib.crc32(value.encode()) / 4294967296.0 if value else rng.random()
    x *= model.split_total
    for name, cum in model.split:
        if x < cum:
            return name
    return model.split[-1][0]


def _chain(
    config: CompiledConfig, model: Model, plan: Plan, headers: Mapping[str, str], key: str | None,
    rng: random.Random,
) -> list[Model]:  # fmt: skip
    if not model.split:
        if not model.fallbacks:
            return [model]
        names = [model.name, *config.chain(model)]
    else:
        arm_model = config.resolve(pick_arm(model, headers, key, rng))  # an arm may be an alias
        assert arm_model is not None, "validated config: arms exist"
        plan.arm = arm = arm_model.name
        others = [config.aliases.get(n, n) for n, _ in model.split]  # as configured
        names = [arm, *config.chain(arm_model), *(n for n in others if n != arm), *config.chain(model)]
    chain: list[Model] = []
    for name in names:
        m = config.models.get(name)
        if m is not None and m not in chain:
            chain.append(m)
    return chain


class Planner:
    """Builds plans against one board of live state (see :class:`~adaptive_gateway.routing.router.Router`)."""

    def __init__(self, board: Board, rng: random.Random) -> None:
        self.board = board
        self.rng = rng

    def order(self, m: Model, now: float) -> Sequence[Deployment]:
        return STRATEGIES.get(m.strategy, weighted)(m, self.board, self.rng, now)

    def plan(
        self,
        config: CompiledConfig,
        model: Model,
        now: float,
        filters: Sequence[CandidateFilter] = (),
        request: ChatRequest | None = None,
        headers: Mapping[str, str] | None = None,
        key: str | None = None,
    ) -> Plan:
        plan = Plan(model)
        tokens = request_tokens(request) if model.uses_windows and request is not None else None
        plan.tokens = tokens
        chain = _chain(config, model, plan, headers or {}, key, self.rng)
        plan.chain = [m.name for m in chain]
        seen: set[str] | None = set() if len(chain) > 1 or model.context_fallback else None
        cooling: list[Deployment] = []
        too_long = False
        for idx, m in enumerate(chain):
            for dep in self.order(m, now):
                if seen is not None:
                    if dep.id in seen:
                        continue
                    seen.add(dep.id)
                why = self._veto(dep, filters, tokens, now)
                if why is None:
                    plan.candidates.append(dep)
                    plan.origin.append(idx)
                elif why is COOLING_DOWN:
                    cooling.append(dep)
                else:
                    plan.skipped.append((dep, why))
                    too_long = too_long or why.startswith(CONTEXT_PREFIX)
        for dep in cooling:
            plan.candidates.append(dep)
            plan.origin.append(COOLING)
        self._context_fallback(config, plan, chain, seen, filters, tokens, too_long, now)
        if not plan.candidates:
            self._last_resort(plan)
        return plan

    @staticmethod
    def _last_resort(plan: Plan) -> None:
        """With every candidate's breaker open, failing fast would turn a short outage of the only
        deployment into a certain one for the whole open period: try them anyway."""
        plan.forced = set()
        for dep, why in plan.skipped:
            if why.startswith(BREAKER_PREFIX):
                plan.candidates.append(dep)
                plan.origin.append(LAST_RESORT)
                plan.forced.add(dep.id)

    def _context_fallback(
        self, config: CompiledConfig, plan: Plan, chain: list[Model], seen: set[str] | None,
        filters: Sequence[CandidateFilter], tokens: int | None, too_long: bool, now: float,
    ) -> None:  # fmt: skip
        name = plan.model.context_fallback or (chain[0].context_fallback if plan.arm else None)
        target = config.models.get(config.aliases.get(name, name)) if name else None
        if target is None or seen is None:
            return
        if not too_long:
            plan.context_from = len(plan.candidates)
        for dep in self.order(target, now):
            if dep.id in seen:
                continue
            seen.add(dep.id)
            why = self._veto(dep, filters, tokens, now)
            if why is None or why is COOLING_DOWN:
                plan.candidates.append(dep)
                plan.origin.append(CONTEXT)
            else:
                plan.skipped.append((dep, why))

    def _veto(
        self, dep: Deployment, filters: Sequence[CandidateFilter], tokens: int | None, now: float
    ) -> str | None:
        for f in filters:
            why = f(dep)
            if why is not None:
                return why
        window = dep.context_window
        if tokens is not None and window is not None and tokens > window:
            return f"{CONTEXT_PREFIX} {window} < ~{tokens} tokens"
        st = self.board.state(dep)
        if dep.breaker.enabled and st.breaker.gate(now) == DENY:
            br = st.breaker
            if br.state == HALF_OPEN:
                return f"{BREAKER_PREFIX} half-open: a probe is in flight"
            return f"{BREAKER_PREFIX} open ({br.remaining(now):.0f} s left)"
        if st.health.cool_until > now or st.health.probe_ok is False:
            return COOLING_DOWN
        return None


CONTEXT_PREFIX = "context window"
BREAKER_PREFIX = "circuit breaker"
COOLING_DOWN = "degraded"


# ---- compatibility: the signature the gateway used before it owned a Router ---------------------------


class Strategy(Protocol):
    def order(self, deployments: tuple[Deployment, ...], rng: random.Random) -> list[Deployment]: ...


class WeightedRandom:
    def order(self, deployments: tuple[Deployment, ...], rng: random.Random) -> list[Deployment]:
        return list(deployments)


def plan_route(
    config: CompiledConfig,
    model: Model,
    strategies: Mapping[str, Strategy],
    rng: random.Random,
    filters: Sequence[CandidateFilter] | None = None,
) -> Plan:
    """A plan without live state (no breakers or health): prefer ``Router.plan``."""
    return Planner(Board(), rng).plan(config, model, 0.0, filters or ())
