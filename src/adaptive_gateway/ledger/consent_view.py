"""The consent ledger as the request path sees it: an in-memory snapshot, re-read when the file changes.

The gateway never reads the ledger per request: :meth:`ConsentView.snapshot` returns the last snapshot
(loading it once if there is none), and a background task calls :meth:`ConsentView.refresh`, which
re-reads and re-verifies the file only when its size, mtime or inode changed. A ledger that fails
verification gives a snapshot with ``ok`` False: no grant in it is trusted and hosted providers are
not used until it is repaired.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from adaptive_gateway.ledger.consent import ConsentLedger, LedgerError

LEDGER_FILE = "consent.jsonl"


@dataclass(frozen=True, slots=True)
class ConsentSnapshot:
    granted: frozenset[str]
    revoked: frozenset[str]
    ok: bool = True
    problems: tuple[str, ...] = ()
    entries: int = 0

    @property
    def provider_entries(self) -> bool:
        """Whether a provider decision (``provider:<name>``, as init records one per configured
        provider) is on record; level grants (``provider:<name>:<level>``) do not count."""
        return any(
            scope.startswith("provider:") and scope.count(":") == 1
            for scope in (*self.granted, *self.revoked)
        )


EMPTY = ConsentSnapshot(frozenset(), frozenset())


def read_snapshot(ledger: ConsentLedger) -> ConsentSnapshot:
    """Verify ``ledger`` and return its current grants and revocations."""
    try:
        result = ledger.verify()
        if not result.ok:
            problems = tuple(f"{p.kind} at line {p.line}: {p.detail}" for p in result.problems)
            return ConsentSnapshot(frozenset(), frozenset(), False, problems, result.entries)
        latest: dict[str, str] = {}
        for entry in ledger.entries():
            latest[entry.scope] = entry.action
    except (LedgerError, OSError, UnicodeDecodeError) as exc:
        return ConsentSnapshot(frozenset(), frozenset(), False, (str(exc),))
    granted = frozenset(s for s, a in latest.items() if a == "grant")
    revoked = frozenset(s for s, a in latest.items() if a == "revoke")
    return ConsentSnapshot(granted, revoked, True, (), result.entries)


class ConsentView:
    """A cached snapshot of one ledger file; thread-safe (refresh may run in a worker thread)."""

    def __init__(self, ledger: ConsentLedger) -> None:
        self.ledger = ledger
        self._snapshot: ConsentSnapshot | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> ConsentSnapshot:
        """The current snapshot; the first call reads the file (later calls never do)."""
        snap = self._snapshot
        return snap if snap is not None else self.refresh()

    def refresh(self) -> ConsentSnapshot:
        """Re-read the ledger if the file changed since the last read."""
        with self._lock:
            try:
                st = os.stat(self.ledger.path)
                stamp: tuple[int, int, int] | None = (st.st_size, st.st_mtime_ns, st.st_ino)
            except FileNotFoundError:
                stamp = None
            if self._snapshot is not None and stamp == self._stamp:
                return self._snapshot
            self._snapshot = read_snapshot(self.ledger) if stamp is not None else EMPTY
            self._stamp = stamp
            return self._snapshot
