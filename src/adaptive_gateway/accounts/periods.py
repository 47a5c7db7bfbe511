"""Budget periods (UTC): the current day, ISO week, calendar month, or all time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from adaptive_gateway.store.models import to_epoch

PERIODS = ("day", "week", "month", "total")
_NEVER = dt.datetime(9999, 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    kind: str
    label: str  # part of the counter key: a new period starts from zero
    start: dt.datetime  # naive UTC
    end: dt.datetime  # exclusive; far future for "total"
    end_ts: float

    @property
    def resets(self) -> bool:
        return self.kind != "total"

    def reset_text(self) -> str:
        return self.end.strftime("%Y-%m-%dT%H:%M:%SZ") if self.resets else "never (total budget)"


def _bounds(kind: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    day = dt.datetime(now.year, now.month, now.day)
    if kind == "day":
        return day, day + dt.timedelta(days=1)
    if kind == "week":
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=7)
    if kind == "month":
        start = day.replace(day=1)
        nxt = (start + dt.timedelta(days=32)).replace(day=1)
        return start, nxt
    if kind == "total":
        return dt.datetime(1970, 1, 1), _NEVER
    raise ValueError(f"budget period must be one of {', '.join(PERIODS)}")


def period_at(kind: str, now: dt.datetime) -> Period:
    """The period of ``kind`` that contains ``now`` (naive UTC)."""
    start, end = _bounds(kind, now)
    label = "all" if kind == "total" else f"{kind[0]}{start:%Y%m%d}"
    ts = to_epoch(end) if kind != "total" else 253370764800.0
    return Period(kind, label, start, end, ts)


class PeriodClock:
    """Current periods, recomputed only when one ends (keeps date math off the request path)."""

    def __init__(self) -> None:
        self._cache: dict[str, Period] = {}

    def current(self, kind: str, now_ts: float) -> Period:
        cached = self._cache.get(kind)
        if cached is not None and now_ts < cached.end_ts:
            return cached
        period = period_at(kind, dt.datetime.fromtimestamp(now_ts, dt.UTC).replace(tzinfo=None))
        self._cache[kind] = period
        return period
