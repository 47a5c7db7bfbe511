"""Shared-memory items as context sources: their trust levels raise the level of the requests that
may carry them.

Two ways in, both keyed by the gateway key (never shared between keys):

* **reads**: when an MCP client reads or searches shared memory through the gateway's ``memory_*``
  tools, the memory service reports the items it handed out (:meth:`MemoryReads.handed_out`); for
  ``trust.memory.reads_ttl_seconds`` afterwards the same key's LLM requests count those items as
  context sources (the client has them in its context now), so a ``confidential`` note read over MCP
  keeps the next chat request away from hosted providers;
* **names**: a request may name items in ``x-context-sources: memory:<id>`` without a level; the
  gateway then looks up the item's stored level (:meth:`MemoryReads.resolve`).

Sources are named ``memory:<id>`` (``memory:<namespace>/<id>`` outside the default namespace), the
name the trust reasons and receipts show. Nothing here reads the memory store itself: ``lookup`` is
set by the extension that owns it. State lives on this object (one per app), nothing module-level.

**Several workers** (and restarts): with ``share`` set (``<home>/trust/memory-reads.jsonl``, 0600), every
hand-out is also appended to that file before the MCP answer leaves, then a counter next to it
(``memory-reads.seq``, 8 bytes, memory-mapped by every process that uses the home) is incremented;
:meth:`MemoryReads.recent` compares that counter with the last one it applied (a memory read, no system
call) and reads what other workers appended when it moved. So a chat request that lands on another
worker than the MCP read, or comes after a restart, still counts the item. The file holds key ids,
item names and levels, never keys or content; it is compacted to the live entries when it passes
``SHARE_COMPACT_BYTES``.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

from adaptive_gateway.trust.levels import TrustLevel

PREFIX = "memory:"
DEFAULT_NAMESPACE = "default"
SHARE_FILE = "trust/memory-reads.jsonl"
SEQ_SUFFIX = ".seq"  # the appends counter next to the shared file
_SEQ = struct.Struct("<Q")
SHARE_COMPACT_BYTES = 1 << 20
SHARE_KEEP_SECONDS = 86_400.0  # compaction keeps a day of reads (longer than any sensible TTL)
ItemLevel = Callable[[str], Awaitable[str | None]]  # "q3" / "team/q3" -> "confidential", None: unknown


def source_name(item_id: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """``memory:<id>``, or ``memory:<namespace>/<id>`` outside the default namespace."""
    return f"{PREFIX}{item_id}" if namespace == DEFAULT_NAMESPACE else f"{PREFIX}{namespace}/{item_id}"


def principal_key(principal: object) -> str | None:
    """Whose reads these are: the key's kind and id (``virtual:key_42``, ``master:master``)."""
    pid = getattr(principal, "id", None)
    return f"{getattr(principal, 'kind', '')}:{pid}" if pid else None


@dataclass(slots=True)
class _Read:
    level: TrustLevel
    at: float


class MemoryReads:
    """Which memory items each key was handed, when, at which level; plus the level lookup."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        max_items: int = 64,
        max_keys: int = 10_000,
        share: Path | None = None,
    ) -> None:
        self.clock = clock
        self.max_items = max_items  # per key; the lowest level, oldest first, goes beyond that
        self.max_keys = max_keys
        self.lookup: ItemLevel | None = None  # set when a memory store is available
        self.share = share
        self._reads: dict[str, dict[str, _Read]] = {}
        self._offset = 0  # how much of the shared file is applied
        self._inode = 0
        self._seq: mmap.mmap | None = None  # the appends counter, mapped (None: not yet, or no home)
        self._seen = -1  # the counter's value when the file was last read
        self._seq_retry = 0.0  # when mapping the counter may be tried again (after a failure)

    def handed_out(self, principal: object, items: Iterable[tuple[str, str]]) -> None:
        """Record that ``principal`` was just given the items ``(source name, level)``."""
        key = principal_key(principal)
        if key is None:
            return
        given = [(name, TrustLevel.parse(level)) for name, level in items]
        self._remember(key, given, self.clock())
        if self.share is not None and given:
            wall = time.time()
            lines = b"".join(
                orjson.dumps({"k": key, "n": name, "l": level.label, "t": wall}) + b"\n"
                for name, level in given
            )
            self._append(lines)

    def _remember(self, key: str, given: Iterable[tuple[str, TrustLevel]], at: float) -> None:
        reads = self._reads.pop(key, None) or {}
        for name, level in given:
            old = reads.pop(name, None)  # re-inserted: the newest read is last
            reads[name] = _Read(level, max(at, old.at) if old is not None else at)
        while len(reads) > self.max_items:
            del reads[min(reads, key=lambda n: (reads[n].level, reads[n].at))]
        self._reads[key] = reads  # the most recently active key is last
        if len(self._reads) > self.max_keys:
            del self._reads[next(iter(self._reads))]

    # ---- the shared file -------------------------------------------------------------------------

    def _append(self, lines: bytes) -> None:
        path = self.share
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, lines)
            if os.fstat(fd).st_size > SHARE_COMPACT_BYTES:
                self._compact(fd)
            seq = self._counter()
            if seq is not None:  # after the write, under the lock: readers that see it find the lines
                _SEQ.pack_into(seq, 0, _SEQ.unpack_from(seq)[0] + 1)
        finally:
            os.close(fd)  # closing releases the lock

    def _counter(self) -> mmap.mmap | None:
        """The shared appends counter, mapped on first use (None when it cannot be: then every
        :meth:`_sync` looks at the file itself, and mapping is tried again at most every 5 s)."""
        if self._seq is None and self.share is not None and time.monotonic() >= self._seq_retry:
            self._seq_retry = time.monotonic() + 5.0
            path = self.share.with_suffix(SEQ_SUFFIX)
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    if os.fstat(fd).st_size < _SEQ.size:
                        os.ftruncate(fd, _SEQ.size)
                    self._seq = mmap.mmap(fd, _SEQ.size)
                finally:
                    os.close(fd)
            except OSError:
                return None
        return self._seq

    def _compact(self, fd: int) -> None:
        """Rewrite the (locked) shared file with the reads of the last day only."""
        path = self.share
        assert path is not None
        cutoff = time.time() - SHARE_KEEP_SECONDS
        with open(path, "rb") as fh:
            keep = [line for line in fh if _wall_of(line) >= cutoff]
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(b"".join(keep))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)  # readers see a new inode and start over

    def _sync(self) -> None:
        """Apply what was appended to the shared file since the last look (ours included: harmless)."""
        path = self.share
        if path is None:
            return
        seq = self._counter()
        if seq is not None:
            count = _SEQ.unpack_from(seq)[0]
            if count == self._seen:
                return  # nothing appended since the last look
            self._seen = count
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return
        if st.st_ino == self._inode and st.st_size == self._offset:
            return
        if st.st_ino != self._inode or st.st_size < self._offset:
            self._inode, self._offset = st.st_ino, 0
        with open(path, "rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a line being written is read next time
        self._offset += end
        wall, mono = time.time(), self.clock()
        for line in data[:end].splitlines():
            try:
                row = orjson.loads(line)
                key, name, level, at = row["k"], row["n"], TrustLevel.parse(row["l"]), float(row["t"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            self._remember(str(key), [(str(name), level)], mono - (wall - at))

    def recent(self, principal: object, ttl: float) -> dict[str, TrustLevel]:
        """The items ``principal`` was handed within the last ``ttl`` seconds, with their levels."""
        key = principal_key(principal)
        if ttl <= 0 or key is None:
            return {}
        self._sync()
        reads = self._reads.get(key)
        if not reads:
            return {}
        oldest = self.clock() - ttl
        expired = [name for name, read in reads.items() if read.at < oldest]
        for name in expired:
            del reads[name]
        if not reads:
            del self._reads[key]
        return {name: read.level for name, read in reads.items()}

    async def resolve(self, names: Iterable[str]) -> dict[str, TrustLevel]:
        """The stored levels of the named items (``memory:<id>``); ``LookupError`` naming the first
        one that cannot be looked up."""
        out: dict[str, TrustLevel] = {}
        for name in names:
            item = name.removeprefix(PREFIX)
            level = await self.lookup(item) if self.lookup is not None and item else None
            if level is None:
                why = "no such memory item" if self.lookup is not None else "no memory store in this gateway"
                raise LookupError(f"{name!r}: {why}; give its level ({name}=<level>)")
            out[name] = TrustLevel.parse(level)
        return out


def _wall_of(line: bytes) -> float:
    try:
        return float(orjson.loads(line)["t"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return 0.0
