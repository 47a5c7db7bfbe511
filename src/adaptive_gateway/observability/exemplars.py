"""Exemplars across worker processes: prometheus-client's multiprocess files hold no exemplars, so each
worker keeps its newest exemplar per histogram bucket in memory (:class:`ExemplarBook`, updated when
metrics are folded, never per request), writes them to ``exemplars-<pid>.json`` in the shared metrics
folder at most once per flush interval and only when they changed (:func:`publish`, atomically), and
the worker that answers a scrape merges its own with its peers' files, the newest one winning
(:func:`merged`).

A file is a JSON list of ``[metric, [[label, value], ...], le, trace_id, value, timestamp]``; labels are
sorted by name and ``le`` is the bucket bound as the exposition writes it (``"0.25"``, ``"+Inf"``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from adaptive_gateway.observability.multiproc import EXEMPLARS_PREFIX as PREFIX

Labels = tuple[tuple[str, str], ...]
Key = tuple[str, Labels, str]  # (metric, sorted labels without le, le)
Exemplar = tuple[str, float, float]  # (trace id, observed value, unix time)


class ExemplarBook:
    """The newest exemplar per (metric, labels, bucket) of this worker. ``entries`` is replaced, never
    changed in place, so a scrape in another thread reads a consistent mapping."""

    def __init__(self) -> None:
        self.entries: dict[Key, Exemplar] = {}
        self._dirty = False

    def update(self, new: dict[Key, Exemplar]) -> None:
        if new:
            self.entries = {**self.entries, **new}
            self._dirty = True

    def snapshot(self) -> list[list[Any]] | None:
        """What to publish, or None when nothing changed since the last snapshot."""
        if not self._dirty:
            return None
        self._dirty = False
        return [[m, [list(kv) for kv in labels], le, *ex] for (m, labels, le), ex in self.entries.items()]


def _path(folder: str, pid: int) -> Path:
    return Path(folder) / f"{PREFIX}{pid}.json"


def publish(snapshot: list[list[Any]], folder: str) -> None:
    """Write this worker's exemplars (blocking I/O: run it in a thread)."""
    path = _path(folder, os.getpid())
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(snapshot))
    os.replace(tmp, path)


def _load(path: Path) -> dict[Key, Exemplar]:
    out: dict[Key, Exemplar] = {}
    for metric, labels, le, tid, value, ts in orjson.loads(path.read_bytes()):
        out[(metric, tuple((k, v) for k, v in labels), le)] = (tid, float(value), float(ts))
    return out


def merged(folder: str, own: dict[Key, Exemplar]) -> dict[Key, Exemplar]:
    """This worker's exemplars and its peers' (unreadable files are skipped); the newest wins."""
    out = dict(own)
    mine = _path(folder, os.getpid()).name
    for path in Path(folder).glob(f"{PREFIX}*.json"):
        if path.name == mine:
            continue
        try:
            theirs = _load(path)
        except (OSError, ValueError, TypeError):  # gone since the glob, or not in this shape
            continue
        for key, ex in theirs.items():
            have = out.get(key)
            if have is None or ex[2] > have[2]:
                out[key] = ex
    return out
