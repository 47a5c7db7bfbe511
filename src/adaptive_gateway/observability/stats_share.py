"""Live stats across worker processes: each worker publishes a snapshot of its :class:`Stats` into the
shared metrics folder every flush interval (``stats-<pid>.json``, replaced atomically), and the worker
that answers ``/api/stats``, ``/api/traces`` or ``/api/topology`` merges its own stats with its peers'
(:func:`combined`). Snapshots older than ``MAX_AGE_S`` are ignored; the runner deletes a dead worker's.

A snapshot is plain JSON: buckets as ``[start, [[6 series fields..., 6 aggregates...], ...],
{model: [[latency bucket, count], ...]}]`` and the newest samples as dicts.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from adaptive_gateway.observability.multiproc import STATS_PREFIX
from adaptive_gateway.observability.sample import Sample
from adaptive_gateway.observability.stats import MINUTES, SECONDS, Bucket, Stats

MAX_AGE_S = 10.0
SHARED_RECENT = 300  # newest samples each worker publishes
SHARED_MINUTES = 60  # closed minutes each worker publishes (the charts show an hour)


def _dump_bucket(b: Bucket) -> list[Any]:
    return [b.start, [[*k, *v] for k, v in b.aggs.items()], {m: list(h.items()) for m, h in b.lat.items()}]


def _load_bucket(raw: list[Any]) -> Bucket:
    aggs = {tuple(row[:6]): list(row[6:]) for row in raw[1]}
    lat = {m: {int(b): int(n) for b, n in h} for m, h in raw[2].items()}
    return Bucket(int(raw[0]), aggs, lat)


def export(stats: Stats, recent: int = SHARED_RECENT, minutes: int = SHARED_MINUTES) -> dict[str, Any]:
    """A snapshot of ``stats`` (its newest ``recent`` samples, last ``minutes`` closed minutes); orjson
    serialises it as is (samples are dataclasses)."""
    samples = list(stats.recent)[-recent:] if recent else []
    return {
        "started": stats.started,
        "total": stats.total,
        "cur": _dump_bucket(stats._cur),
        "seconds": [_dump_bucket(b) for b in stats._seconds],
        "minute": _dump_bucket(stats._minute),
        "minutes": [_dump_bucket(b) for b in list(stats._minutes)[-minutes:]],
        "recent": samples,
    }


def restore(data: dict[str, Any], clock: Callable[[], float], recent: int) -> Stats:
    """A :class:`Stats` holding a snapshot, advanced to ``clock()`` (its open second folded away)."""
    stats = Stats(recent, clock)
    stats.started = float(data["started"])
    stats.total = int(data["total"])
    stats._cur = _load_bucket(data["cur"])
    stats._seconds.extend(_load_bucket(b) for b in data["seconds"])
    stats._minute = _load_bucket(data["minute"])
    stats._minutes.extend(_load_bucket(b) for b in data["minutes"])
    for raw in data["recent"]:
        if isinstance(raw, dict):  # from another worker's file
            raw["failed_attempts"] = [tuple(a) for a in raw.get("failed_attempts") or []]
            raw = Sample(**raw)
        stats.recent.append(raw)
    stats.tick()
    return stats


def _by_start(*groups: Any) -> dict[int, Bucket]:
    out: dict[int, Bucket] = {}
    for group in groups:
        for b in group:
            mine = out.get(b.start)
            if mine is None:
                mine = out[b.start] = Bucket(b.start, {}, {})
            mine.merge(b)
    return out


def absorb(into: Stats, other: Stats) -> None:
    """Add ``other``'s buckets and samples to ``into`` (both advanced to the same second)."""
    into._cur.merge(other._cur)
    seconds = _by_start(into._seconds, other._seconds)
    into._seconds = deque((seconds[s] for s in sorted(seconds)), maxlen=SECONDS)
    if other._minute.start == into._minute.start:
        into._minute.merge(other._minute)
        minutes = _by_start(into._minutes, other._minutes)
    else:  # the other one has not reached this minute (or is ahead): its minute is a closed one
        minutes = _by_start(into._minutes, other._minutes, [other._minute])
        minutes.pop(into._minute.start, None)
    maxlen = into._minutes.maxlen
    into._minutes = deque((minutes[s] for s in sorted(minutes)), maxlen=maxlen)
    merged = sorted([*into.recent, *other.recent], key=lambda s: s.ts)
    into.recent = deque(merged, maxlen=into.recent.maxlen)
    into.total += other.total
    into.started = min(into.started, other.started)


def publish(snapshot: dict[str, Any], folder: str) -> None:
    """Write this worker's snapshot (atomically: readers never see half a file). Blocking I/O: run it in
    a thread, with the snapshot taken (:func:`export`) in the event loop's."""
    path = Path(folder) / f"{STATS_PREFIX}{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(snapshot))
    os.replace(tmp, path)


def peers(folder: str) -> list[dict[str, Any]]:
    """The other live workers' snapshots (stale or unreadable files are skipped)."""
    own = f"{STATS_PREFIX}{os.getpid()}.json"
    now = time.time()
    out = []
    for path in Path(folder).glob(f"{STATS_PREFIX}*.json"):
        try:
            if path.name == own or now - path.stat().st_mtime > MAX_AGE_S:
                continue
            out.append(orjson.loads(path.read_bytes()))
        except (OSError, orjson.JSONDecodeError):
            continue
    return out


def combined(stats: Stats, snapshots: list[dict[str, Any]]) -> Stats:
    """This worker's stats plus its peers', as one :class:`Stats` (``stats`` itself is not changed)."""
    maxlen = stats.recent.maxlen or 1000
    stats.tick()
    out = restore(export(stats, recent=maxlen, minutes=MINUTES), stats.clock, maxlen)
    for snap in snapshots:
        absorb(out, restore(snap, stats.clock, maxlen))
    return out
