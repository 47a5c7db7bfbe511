"""Fast exposition of the gateway's own metric families, in the Prometheus text format or OpenMetrics.

prometheus-client's ``generate_latest`` and ``MultiProcessCollector`` spend 25-35 µs per sample here (label
validation and escaping, float formatting, sample objects), so a scrape of 100 models and 1,000 keys took
~250 ms in one process and ~450 ms across two workers' files. This renderer reads the same values (the
metric objects' children in one process; prometheus-client's own mmap files across workers) and keeps
what never changes between scrapes, each series' rendered name and labels, in a cache: a sample costs a
dict lookup and a string join.

Only the shapes the gateway uses are handled: counters, gauges (``livesum``, ``livemax``, ``livemin``,
``max`` across workers) and histograms; label values are escaped as the format requires.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import Counter, Gauge, Histogram

Family = Counter | Gauge | Histogram
Labels = tuple[tuple[str, str], ...]
# metric -> (sample name, sorted labels) -> value
Values = dict[str, dict[tuple[str, Labels], float]]
ExemplarKey = tuple[str, Labels, str]  # (metric, sorted labels without le, le as rendered)
_GAUGE_MERGE = {
    "livesum": "sum",
    "sum": "sum",
    "livemax": "max",
    "max": "max",
    "livemin": "min",
    "min": "min",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def num(v: float) -> str:
    """A sample value or bucket bound as the exposition formats write it."""
    if v == math.inf:
        return "+Inf"
    if v.is_integer() and abs(v) < 1e15:
        return f"{int(v)}.0"
    return repr(v)


def _kind(family: Family) -> str:
    return (
        "counter"
        if isinstance(family, Counter)
        else "histogram"
        if isinstance(family, Histogram)
        else "gauge"
    )


class Renderer:
    """Renders the families it is given; holds the per-series cache (one per process)."""

    def __init__(self) -> None:
        self._prefix: dict[tuple[str, Labels], str] = {}
        self._files = _FileIndex()
        self._split: dict[Labels, tuple[Labels, float]] = {}

    def _line(self, name: str, labels: Labels) -> str:
        k = (name, labels)
        prefix = self._prefix.get(k)
        if prefix is None:
            inner = ",".join(f'{n}="{_escape(v)}"' for n, v in labels)
            prefix = self._prefix[k] = f"{name}{{{inner}}} " if inner else f"{name} "
        return prefix

    # ---- one process: read the metric objects ------------------------------------------------------------

    def render(self, families: Iterable[Family], openmetrics: bool = False) -> bytes:
        out: list[str] = []
        for family in families:
            out.extend(self._family(family, openmetrics))
        if openmetrics:
            out.append("# EOF\n")
        return "".join(out).encode()

    @staticmethod
    def _header(name: str, doc: str, kind: str, openmetrics: bool) -> list[str]:
        # the text format names a counter family by its sample (``_total``); OpenMetrics by its base name
        if kind == "counter" and not openmetrics:
            name += "_total"
        return [f"# HELP {name} {doc}\n", f"# TYPE {name} {kind}\n"]

    def _family(self, family: Any, openmetrics: bool) -> Iterator[str]:
        name, kind = family._name, _kind(family)
        yield from self._header(name, family._documentation, kind, openmetrics)
        labelnames = family._labelnames
        children = family._metrics.items() if labelnames else [((), family)]
        for labelvalues, child in sorted(children, key=lambda kv: kv[0]):
            labels = tuple(zip(labelnames, labelvalues, strict=True))
            if kind == "histogram":
                yield from self._histogram(name, labels, child, openmetrics)
            else:
                sample = f"{name}_total" if kind == "counter" else name
                yield f"{self._line(sample, labels)}{num(child._value.get())}\n"

    def _histogram(self, name: str, labels: Labels, child: Any, om: bool) -> Iterator[str]:
        acc = 0.0
        for bound, bucket in zip(child._upper_bounds, child._buckets, strict=True):
            acc += bucket.get()
            line = f"{self._line(name + '_bucket', (*labels, ('le', num(bound))))}{num(acc)}"
            ex = bucket.get_exemplar() if om else None
            if ex is not None:
                tags = ",".join(f'{k}="{_escape(v)}"' for k, v in ex.labels.items())
                line += f" # {{{tags}}} {num(ex.value)} {ex.timestamp}"
            yield line + "\n"
        yield f"{self._line(name + '_count', labels)}{num(acc)}\n"
        yield f"{self._line(name + '_sum', labels)}{num(child._sum.get())}\n"

    # ---- several workers: read prometheus-client's files ----------------------------------------------

    def read_files(self, folder: str) -> Values:
        """Every worker's values, merged (counters and histogram buckets summed, gauges by mode)."""
        merged: Values = {}
        for path in sorted(Path(folder).glob("*.db")):
            parts = path.stem.split("_")
            how = _GAUGE_MERGE.get(parts[1], "sum") if parts[0] == "gauge" else "sum"
            try:
                entries = self._files.read(path)
            except FileNotFoundError:  # a live gauge file removed by a worker's death just now
                continue
            for (metric, sample, labels), value in entries:
                series = merged.get(metric)
                if series is None:
                    series = merged[metric] = {}
                k = (sample, labels)
                old = series.get(k)
                if old is None:
                    series[k] = value
                elif how == "sum":
                    series[k] = old + value
                else:
                    series[k] = max(old, value) if how == "max" else min(old, value)
        return merged

    def render_files(
        self,
        folder: str,
        families: Iterable[Family],
        openmetrics: bool = False,
        exemplars: Mapping[ExemplarKey, tuple[str, float, float]] | None = None,
    ) -> bytes:
        """What the workers' files hold, in ``families`` order; OpenMetrics with the given exemplars
        (``observability/exemplars.py``) on their histogram buckets when asked."""
        merged = self.read_files(folder)
        out: list[str] = []
        for family in families:
            f: Any = family
            name, kind = f._name, _kind(family)
            out.extend(self._header(name, f._documentation, kind, openmetrics))
            series = merged.get(name, {})
            if kind == "histogram":
                out.extend(self._merged_histogram(name, series, exemplars or {}))
            else:
                for (sample, labels), value in sorted(series.items()):
                    out.append(f"{self._line(sample, labels)}{num(value)}\n")
        if openmetrics:
            out.append("# EOF\n")
        return "".join(out).encode()

    def _merged_histogram(
        self,
        name: str,
        series: dict[tuple[str, Labels], float],
        exemplars: Mapping[ExemplarKey, tuple[str, float, float]],
    ) -> list[str]:
        by_labels: dict[Labels, tuple[list[tuple[float, float]], float]] = {}
        split = self._split
        for (sample, labels), value in series.items():
            if sample.endswith("_bucket"):
                parts = split.get(labels)
                if parts is None:  # (labels without le, le): the same for every scrape
                    base = tuple(kv for kv in labels if kv[0] != "le")
                    parts = split[labels] = (base, float(next(v for k, v in labels if k == "le")))
                by_labels.setdefault(parts[0], ([], 0.0))[0].append((parts[1], value))
            elif sample.endswith("_sum"):
                buckets, _ = by_labels.setdefault(labels, ([], 0.0))
                by_labels[labels] = (buckets, value)
        out = []
        for labels, (buckets, total) in sorted(by_labels.items()):
            acc = 0.0
            for le, value in sorted(buckets):
                acc += value
                bound = num(le)
                line = f"{self._line(name + '_bucket', (*labels, ('le', bound)))}{num(acc)}"
                ex = exemplars.get((name, labels, bound)) if exemplars else None
                if ex is not None:
                    line += f' # {{trace_id="{_escape(ex[0])}"}} {num(ex[1])} {ex[2]}'
                out.append(line + "\n")
            out.append(f"{self._line(name + '_count', labels)}{num(acc)}\n")
            out.append(f"{self._line(name + '_sum', labels)}{num(total)}\n")
        return out


Key = tuple[str, str, Labels]  # (metric, sample name, sorted labels)
_INT = struct.Struct("i")
_DOUBLE = struct.Struct("d")


class _FileIndex:
    """Reads prometheus-client's multiprocess files (the layout its ``mmap_dict`` writes: a used-bytes
    header, then entries ``[key length][key][padding to 8][value][timestamp]`` that never move). Each
    entry's key is parsed once and its value position remembered: a scrape reads only the new entries'
    keys and every value by position."""

    def __init__(self) -> None:
        self._index: dict[Path, tuple[int, list[tuple[int, Key]]]] = {}

    def read(self, path: Path) -> Iterator[tuple[Key, float]]:
        with path.open("rb") as f:
            head = f.read(8)
            used = _INT.unpack_from(head, 0)[0] if len(head) >= 4 else 0
            data = head + f.read(max(used - len(head), 0))
        known, entries = self._index.get(path, (8, []))
        if used < known:  # the file was recreated
            known, entries = 8, []
        pos = known
        while pos < used:
            size = _INT.unpack_from(data, pos)[0]
            pos += 4
            metric, sample, labels, _help = orjson.loads(data[pos : pos + size])
            pos += size + (8 - (size + 4) % 8)
            entries.append((pos, (metric, sample, tuple(sorted(labels.items())))))
            pos += 16
        self._index[path] = (max(used, 8), entries)
        unpack = _DOUBLE.unpack_from
        return ((key, unpack(data, at)[0]) for at, key in entries)
