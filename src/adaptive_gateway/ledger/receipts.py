"""Context receipts on disk: one JSON object per line, one file per UTC day.

Layout: ``<home>/receipts/<YYYY-MM-DD>.jsonl`` (directory 0700, files 0600). A receipt id carries its
time (``rc_20250314T101502_3f9a1c2e``), so :meth:`ReceiptStore.get` opens only that day's file, and
:meth:`ReceiptStore.list` reads the newest files backwards. Appends take an exclusive ``flock`` and
write each batch with one ``write``, so several workers may share the directory. :meth:`ReceiptStore.prune`
deletes whole day files past the retention under the same lock, never today's. Receipts hold no
message text unless content recording is enabled (see ``server/trust_receipts.py``).
"""

from __future__ import annotations

import builtins
import datetime as dt
import fcntl
import itertools
import os
import re
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

RECEIPTS_DIR = "receipts"
_ID = re.compile(r"^rc_(\d{4})(\d{2})(\d{2})T\d{6}_[0-9a-f]{8,32}$")
_DAY_FILE = re.compile(r"\d{4}-\d{2}-\d{2}\.jsonl")
_BLOCK = 1 << 16

Receipt = dict[str, Any]
ID_TIME = "%Y%m%dT%H%M%S"  # the UTC second in a receipt id


@lru_cache(maxsize=8)
def utc_stamp(sec: int, fmt: str) -> str:
    """``time.strftime(fmt)`` of a whole UTC second, formatted once per second and format: every
    request's receipt id and receipt carry one, and the libc call costs ~4 µs on the request path."""
    return time.strftime(fmt, time.gmtime(sec))


def new_receipt_id(now: float | None = None) -> str:
    """A unique, time-sortable receipt id: ``rc_<UTC yyyymmddThhmmss>_<random hex>``."""
    stamp = utc_stamp(int(time.time() if now is None else now), ID_TIME)
    return f"rc_{stamp}_{os.urandom(6).hex()}"


class ReceiptIds:
    """Receipt ids for one process, cheaper than :func:`new_receipt_id` on the request path: a random
    per-process prefix and a counter (unique across processes and replicas), the time formatted once
    per second."""

    __slots__ = ("_count", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(4).hex()
        self._count = itertools.count()

    def next(self) -> str:
        stamp = utc_stamp(int(time.time()), ID_TIME)
        return f"rc_{stamp}_{self._prefix}{next(self._count) & 0xFFFFFFFF:08x}"


def day_of(receipt_id: str) -> str | None:
    """``YYYY-MM-DD`` of a well-formed receipt id, else None."""
    match = _ID.match(receipt_id)
    return f"{match.group(1)}-{match.group(2)}-{match.group(3)}" if match else None


def _file_day(receipt_id: str) -> str:
    """The day file a receipt goes to: its id's day, today's for an id not in our form."""
    return day_of(receipt_id) or time.strftime("%Y-%m-%d", time.gmtime())


class ReceiptStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def append(self, receipts: builtins.list[Receipt]) -> None:
        """Append receipts (each with an ``id``) to their days' files."""
        self.append_lines([(str(r.get("id", "")), orjson.dumps(r)) for r in receipts])

    def append_lines(self, lines: builtins.list[tuple[str, bytes]]) -> None:
        """Append already serialized receipts, ``(id, JSON bytes)``, to their days' files."""
        by_day: dict[str, builtins.list[bytes]] = {}
        for receipt_id, line in lines:
            by_day.setdefault(_file_day(receipt_id), []).append(line + b"\n")
        for day, chunk in by_day.items():
            self._append(day, b"".join(chunk))

    def append_chunk(self, receipt_id: str, data: bytes | bytearray) -> None:
        """Append receipt lines (JSON + newline each) of the day of ``receipt_id`` to its file."""
        self._append(_file_day(receipt_id), data)

    def _append(self, day: str, data: bytes | bytearray) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._append_day(self.root / f"{day}.jsonl", data)

    @staticmethod
    def _append_day(path: Path, data: bytes | bytearray) -> None:
        while True:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                # a pruner may have deleted the file between our open and our lock: append to the
                # file now at the path (created anew), never to the deleted one
                if _same_file(fd, path):
                    os.write(fd, data)
                    return
            finally:
                os.close(fd)

    def prune(self, older_than_days: int, now: float | None = None) -> builtins.list[str]:
        """Delete the day files more than ``older_than_days`` days before today (UTC): with 90, a
        file is kept for today and the 90 days before. Today's file and future ones are never deleted,
        whatever the argument. Each file is deleted while holding its append lock, so a concurrent
        append (from any worker) lands in a new file, not in the deleted one. Returns the days deleted."""
        if older_than_days < 0:
            raise ValueError("older_than_days must be 0 or more")
        today = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC).date()
        cutoff = today - dt.timedelta(days=older_than_days)
        deleted: builtins.list[str] = []
        for path in self._days():
            try:
                day = dt.date.fromisoformat(path.stem)
            except ValueError:
                continue
            if day < cutoff and day < today and _delete_locked(path):
                deleted.append(path.stem)
        return sorted(deleted)

    def get(self, receipt_id: str) -> Receipt | None:
        """The receipt with this id, or None."""
        day = day_of(receipt_id)
        if day is None:
            return None
        path = self.root / f"{day}.jsonl"
        needle = f'"id":"{receipt_id}"'.encode()
        try:
            with path.open("rb") as handle:
                for line in handle:
                    if needle in line:
                        found: Receipt = orjson.loads(line)
                        return found
        except FileNotFoundError:
            return None
        return None

    def list(self, limit: int = 50, keep: Callable[[Receipt], bool] | None = None) -> builtins.list[Receipt]:
        """The newest receipts first (at most ``limit``), optionally only those ``keep`` accepts."""
        out: builtins.list[Receipt] = []
        for path in self._days():
            for line in _lines_backwards(path):
                try:
                    receipt = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if keep is None or keep(receipt):
                    out.append(receipt)
                    if len(out) >= limit:
                        return out
        return out

    def _days(self) -> builtins.list[Path]:
        try:
            names = [p for p in self.root.iterdir() if _DAY_FILE.fullmatch(p.name)]
        except FileNotFoundError:
            return []
        return sorted(names, reverse=True)


def _same_file(fd: int, path: Path) -> bool:
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (opened.st_dev, opened.st_ino)


def _delete_locked(path: Path) -> bool:
    """Unlink ``path`` while holding its exclusive lock; False when it is already gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False  # another worker pruned it first
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not _same_file(fd, path):
            return False
        path.unlink()
        return True
    finally:
        os.close(fd)


def _lines_backwards(path: Path) -> Iterator[bytes]:
    """The non-empty lines of ``path``, last first, reading blocks from the end."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        rest = b""
        while position > 0:
            size = min(_BLOCK, position)
            position -= size
            handle.seek(position)
            block = handle.read(size) + rest
            lines = block.split(b"\n")
            rest = lines[0]
            for line in reversed(lines[1:]):
                if line.strip():
                    yield line
        if rest.strip():
            yield rest
