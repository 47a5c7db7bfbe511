"""Strategies: how one model orders its deployments for a request. One function each, in one table.

Each takes the compiled model (``model.weighted`` holds the deployments with weight > 0, heaviest first,
and their cumulative weights), the router's board of live state, a random source and the clock's now,
and returns the deployments in the order to try them. The first is the choice; the rest are the model's
own failover order. Cheap by design: no allocation beyond the result for the common cases.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence

from adaptive_gateway.config import Deployment, Model
from adaptive_gateway.routing.health import Board

Order = Callable[[Model, Board, random.Random, float], Sequence[Deployment]]

EXPLORE = 0.05  # lowest-latency: share of requests sent to a random deployment to re-measure it
UNKNOWN_QUALITY = 50.0


def _first(deps: tuple[Deployment, ...], i: int) -> Sequence[Deployment]:
    return deps if i == 0 else (deps[i], *deps[:i], *deps[i + 1 :])


def weighted(m: Model, board: Board, rng: random.Random, now: float) -> Sequence[Deployment]:
    """Pick the first by weight; the rest follow heaviest first."""
    deps = m.weighted
    if len(deps) < 2:
        return deps
    i = bisect_right(m.cum_weights, rng.random() * m.cum_weights[-1])
    return _first(deps, min(i, len(deps) - 1))


def round_robin(m: Model, board: Board, rng: random.Random, now: float) -> Sequence[Deployment]:
    deps = m.weighted
    if len(deps) < 2:
        return deps
    i = board.rr.get(m.name, 0)
    board.rr[m.name] = i + 1
    i %= len(deps)
    return (*deps[i:], *deps[:i])


def least_busy(m: Model, board: Board, rng: random.Random, now: float) -> Sequence[Deployment]:
    """Fewest requests in flight in this process first; ties broken at random."""
    deps = m.weighted
    if len(deps) < 2:
        return deps
    start = rng.randrange(len(deps))
    rotated = (*deps[start:], *deps[:start])
    return sorted(rotated, key=lambda d: board.state(d).health.inflight)


def lowest_latency(m: Model, board: Board, rng: random.Random, now: float) -> Sequence[Deployment]:
    """Lowest EWMA latency of recent successes first; never-measured deployments count as fastest
    (so they get measured), and a share of requests explores a random one so a recovered or improved
    deployment is re-measured."""
    deps = m.weighted
    if len(deps) < 2:
        return deps
    ranked = sorted(deps, key=lambda d: board.state(d).health.ewma_ms or 0.0)
    if rng.random() < EXPLORE:
        i = rng.randrange(len(ranked))
        ranked.insert(0, ranked.pop(i))
    return ranked


def meets_thresholds(m: Model, dep: Deployment, board: Board) -> bool:
    """lowest-cost: quality at least ``min_quality`` and latency EWMA at most ``max_latency_ms``
    (an unmeasured latency counts as meeting it, an unknown quality does not)."""
    if m.min_quality is not None and (dep.quality is None or dep.quality < m.min_quality):
        return False
    if m.max_latency_ms is not None:
        ewma = board.state(dep).health.ewma_ms
        if ewma is not None and ewma > m.max_latency_ms:
            return False
    return True


def lowest_cost(m: Model, board: Board, rng: random.Random, now: float) -> Sequence[Deployment]:
    """Cheapest first among those meeting the thresholds (equal prices: better quality first); the
    others after them, cheapest first."""
    deps = m.weighted
    if len(deps) < 2:
        return deps
    check = m.min_quality is not None or m.max_latency_ms is not None
    return sorted(deps, key=lambda d: (check and not meets_thresholds(m, d, board), d.unit_price, -_q(d)))


def _q(dep: Deployment) -> float:
    return dep.quality if dep.quality is not None else UNKNOWN_QUALITY


def by_quality(m: Model, board: Board, rng: random.Random, now: float) -> Sequence[Deployment]:
    deps = m.weighted
    if len(deps) < 2:
        return deps
    return sorted(deps, key=lambda d: -_q(d))


def health_weighted(m: Model, board: Board, rng: random.Random, now: float) -> Sequence[Deployment]:
    """Weighted choice with each weight scaled by (health score / 100) squared."""
    deps = m.weighted
    if len(deps) < 2:
        return deps
    eff = []
    for d in deps:
        st = board.state(d)
        eff.append(d.weight * (st.health.score(now, st.breaker) / 100) ** 2)
    total = sum(eff)
    if total <= 0:
        return deps
    x, acc = rng.random() * total, 0.0
    pick = len(deps) - 1
    for i, w in enumerate(eff):
        acc += w
        if x < acc:
            pick = i
            break
    rest = sorted((i for i in range(len(deps)) if i != pick), key=lambda i: -eff[i])
    return (deps[pick], *(deps[i] for i in rest))


def balanced(m: Model, board: Board, rng: random.Random, now: float) -> Sequence[Deployment]:
    """The best sum of ranks by cost, latency and quality, weighted by health."""
    deps = m.weighted
    if len(deps) < 2:
        return deps
    score = {d.id: 0.0 for d in deps}
    for rank in (lowest_cost(m, board, rng, now), _by_latency(deps, board), by_quality(m, board, rng, now)):
        for i, d in enumerate(rank):
            score[d.id] += i
    for d in deps:
        st = board.state(d)
        score[d.id] += (100 - st.health.score(now, st.breaker)) / 25
    return sorted(deps, key=lambda d: score[d.id])


def _by_latency(deps: tuple[Deployment, ...], board: Board) -> list[Deployment]:
    return sorted(deps, key=lambda d: board.state(d).health.ewma_ms or 0.0)


STRATEGIES: Mapping[str, Order] = {
    "weighted": weighted,
    "round-robin": round_robin,
    "least-busy": least_busy,
    "lowest-latency": lowest_latency,
    "lowest-cost": lowest_cost,
    "quality": by_quality,
    "health-weighted": health_weighted,
    "balanced": balanced,
}
