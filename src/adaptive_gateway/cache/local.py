"""The in-process tier: a least-recently-used map with a size bound and per-entry expiry.

Expiry is checked on read against the caller's clock (injectable, so tests move time instead of
sleeping); expired entries are dropped when read or when the size bound evicts them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator

from adaptive_gateway.cache.entry import Entry

Match = Callable[[Entry], bool]


class LocalCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, Entry] = OrderedDict()
        self.evictions = 0
        self.expirations = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str, now: float) -> Entry | None:
        """The live entry for ``key`` (marked as recently used), or None."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            del self._data[key]
            self.expirations += 1
            return None
        self._data.move_to_end(key)
        return entry

    def put(self, entry: Entry) -> None:
        self._data[entry.key] = entry
        self._data.move_to_end(entry.key)
        self._shrink()

    def resize(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._shrink()

    def _shrink(self) -> None:
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
            self.evictions += 1

    def purge(self, match: Match) -> int:
        """Drop every entry ``match`` accepts; returns how many."""
        doomed = [k for k, e in self._data.items() if match(e)]
        for k in doomed:
            del self._data[k]
        return len(doomed)

    def entries(self, now: float) -> Iterator[Entry]:
        """Live entries, most recently used first."""
        for entry in reversed(self._data.values()):
            if entry.expires_at > now:
                yield entry
