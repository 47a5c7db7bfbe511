"""Number helpers for the per-request evidence (log lines, receipts, cache notes).

``round(x, n)`` with ``n`` digits goes through a correctly rounded decimal conversion (a printf and a
strtod in C): about 2,000 machine instructions a call, and a cache hit makes eight of them (~3.5 % of
its instructions, counted with callgrind). :func:`fround` scales, rounds to an integer and scales back:
the same result but in rare half-way cases that the binary value cannot even represent (the scaled
value is then off by one unit in the last kept digit), which is fine for latencies, ages and costs
*shown* in evidence. Money that is *counted* (budgets, spend) is kept in integer nano-USD elsewhere.
"""

from __future__ import annotations

_SCALE = tuple(10.0**n for n in range(16))
_EXACT = 2.0**52  # beyond, a float is an integer already (and its int() is exact)


def fround(x: float, digits: int) -> float:
    """``x`` rounded to ``digits`` (0-15) decimals, like ``round(x, digits)``; infinities and NaN are
    returned as they are (where ``round`` would return them too)."""
    scale = _SCALE[digits]
    y = x * scale
    if -_EXACT < y < _EXACT:  # False for NaN and infinities
        return round(y) / scale
    return x
