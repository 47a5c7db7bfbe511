"""Scan results per text already seen, for the detectors and the injection heuristics.

The scans are pure functions of the text, so a conversation's earlier turns, a shared system prompt and
a repeated request (a cache hit, a retry) are not scanned again. Keyed by a 128-bit BLAKE2b digest of the
text (the text itself is not kept); one memo per compiled detector set or injection policy, so a config
reload starts a new one; the oldest entries go first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from hashlib import blake2b
from typing import Generic, TypeVar

T = TypeVar("T")


def digest(text: str) -> bytes:
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


# one request's digests by text object, shared by the memos it is looked up in (the detectors' and the
# injection heuristics' see the same message strings): each text is digested once per request (~1 µs
# per KB of ASCII, twice that otherwise; an agent's 100 KB conversation paid it twice). Keyed by id():
# only valid while the request's texts are alive, so never kept beyond one request.
Digests = dict[int, bytes]


def digests_of(texts: Sequence[str], seen: Digests | None) -> list[bytes]:
    if seen is None:
        return [digest(t) for t in texts]
    out = []
    for t in texts:
        d = seen.get(id(t))
        if d is None:
            d = seen[id(t)] = digest(t)
        out.append(d)
    return out


class TextMemo(Generic[T]):
    __slots__ = ("_found", "limit")

    def __init__(self, limit: int = 16_384) -> None:
        self.limit = limit
        self._found: dict[bytes, tuple[T, ...]] = {}

    def __len__(self) -> int:
        return len(self._found)

    def results(
        self,
        texts: Sequence[str],
        scan_each: Callable[[list[str]], Iterable[Iterable[T]]],
        seen: Digests | None = None,
    ) -> list[tuple[T, ...]]:
        """The results of each text: from the memo, else from one ``scan_each`` call over the texts
        not seen before (which returns one result per text it was given, in order). ``seen``: the
        request's digests so far (:data:`Digests`), shared with its other memo lookups."""
        found = self._found
        digests = digests_of(texts, seen)
        known = [found.get(d) for d in digests]
        new = [i for i, hit in enumerate(known) if hit is None]
        if new:
            for i, scanned in zip(new, scan_each([texts[i] for i in new]), strict=True):
                known[i] = kept = tuple(scanned)
                if len(found) >= self.limit:
                    del found[next(iter(found))]
                found[digests[i]] = kept
        return known  # type: ignore[return-value]  # every None was replaced above
