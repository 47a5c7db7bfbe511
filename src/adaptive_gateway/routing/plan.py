"""Candidate planning: the ordered list of deployments to try for a request, and why.

Weighted-random choice of the first deployment, the model's other deployments after it, then each
fallback model's deployments in order. Strategies plug in through :class:`Strategy`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from adaptive_gateway.config import CompiledConfig, Deployment, Model


class Strategy(Protocol):
    def order(self, deployments: tuple[Deployment, ...], rng: random.Random) -> list[Deployment]: ...


class WeightedRandom:
    """Pick the first by weight; the rest follow by weight-ordered random draws (no repeats)."""

    def order(self, deployments: tuple[Deployment, ...], rng: random.Random) -> list[Deployment]:
        if len(deployments) == 1:
            return list(deployments)
        pool = [d for d in deployments if d.weight > 0]
        out = []
        while pool:
            pick = rng.choices(pool, weights=[d.weight for d in pool])[0]
            out.append(pick)
            pool.remove(pick)
        return out


@dataclass(slots=True)
class Plan:
    model: Model
    candidates: list[Deployment] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


# a filter may veto a deployment (trust level, breaker, key's allowed models...) with a reason
CandidateFilter = Callable[[Deployment], str | None]


def plan_route(
    config: CompiledConfig,
    model: Model,
    strategies: dict[str, Strategy],
    rng: random.Random,
    filters: list[CandidateFilter] | None = None,
) -> Plan:
    plan = Plan(model)
    seen: set[str] = set()
    chain = [model.name, *model.fallbacks]
    for i, name in enumerate(chain):
        m = config.resolve(name)
        if m is None or m.name in seen:
            continue
        seen.add(m.name)
        strategy = strategies.get(m.strategy) or strategies["weighted"]
        for dep in strategy.order(m.deployments, rng):
            veto = next((r for f in filters or [] if (r := f(dep)) is not None), None)
            if veto is not None:
                plan.reasons.append(f"{dep.id}: skipped ({veto})")
                continue
            plan.candidates.append(dep)
            role = "primary" if i == 0 else f"fallback {i}"
            plan.reasons.append(f"{dep.id}: {role} via {m.strategy}")
    return plan
