"""The consent ledger: an append-only, hash-chained JSONL file of grants and revocations.

Each line is one entry; its ``hash`` is the SHA-256 of the canonical JSON of the entry without
``hash``, and its ``prev_hash`` is the previous entry's hash (64 zeros for the first), so editing,
removing or reordering any entry breaks the chain and :meth:`ConsentLedger.verify` reports it.
Revoking is appending a ``revoke`` entry; nothing is ever rewritten. Appends hold an exclusive
``flock`` on the file and ``fsync`` before returning, so several processes may share one ledger.
Removing the newest entries leaves a valid shorter chain; pass a previously seen ``head()`` to
``verify(expected_head=...)`` to detect that.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

Action = Literal["grant", "revoke"]
ProblemKind = Literal["malformed", "edited", "removed", "reordered", "chain_break", "truncated"]

GENESIS_HASH = "0" * 64
_SCOPE = re.compile(r"^[a-z][a-z0-9_-]*:\S+$")
_FIELDS = ("seq", "ts", "actor", "action", "scope", "reason", "prev_hash", "hash")
_TAIL_BYTES = 65536


class LedgerError(Exception):
    """The ledger file cannot be read or appended to safely (for example its tail is corrupt)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger line. ``hash`` covers every other field."""

    seq: int
    ts: str
    actor: str
    action: Action
    scope: str
    reason: str
    prev_hash: str
    hash: str

    def expected_hash(self) -> str:
        """The hash this entry should carry given its other fields."""
        return entry_hash({k: v for k, v in asdict(self).items() if k != "hash"})


@dataclass(frozen=True, slots=True)
class Problem:
    """One integrity problem.

    ``seq`` is the affected entry's sequence number when known; ``line`` is the 1-based line in
    the file (0 for a removed entry, which has no line).
    """

    kind: ProblemKind
    line: int
    seq: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``ok`` when the chain is intact; otherwise ``problems`` lists what is wrong and where."""

    ok: bool
    entries: int
    problems: list[Problem] = field(default_factory=list)


def entry_hash(fields: dict[str, object]) -> str:
    """SHA-256 (hex) of the canonical JSON (sorted keys, no spaces, UTF-8) of ``fields``."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _parse_entry(line: str) -> Entry:
    """An entry from one JSON line; raises ``ValueError`` if it is not one."""
    data = json.loads(line)
    if not isinstance(data, dict) or set(data) != set(_FIELDS):
        raise ValueError(f"expected exactly the fields {', '.join(_FIELDS)}")
    if not isinstance(data["seq"], int) or isinstance(data["seq"], bool):
        raise ValueError("seq must be an integer")
    if data["action"] not in get_args(Action):
        raise ValueError(f"unknown action {data['action']!r}")
    if not all(isinstance(data[name], str) for name in _FIELDS if name != "seq"):
        raise ValueError("every field but seq must be a string")
    return Entry(**data)


class ConsentLedger:
    """A consent ledger stored at ``path`` (created with mode 0600 on the first append)."""

    def __init__(self, path: str | os.PathLike[str], *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = Path(path)
        self._clock = clock

    def append(self, actor: str, action: Action, scope: str, reason: str) -> Entry:
        """Record a grant or revocation of ``scope`` (``provider:openai``, ``env:OPENAI_API_KEY``).

        Raises ``ValueError`` for an unknown action or a malformed scope, and ``LedgerError`` when
        the last line of the file is not a valid entry (run :meth:`verify`).
        """
        if action not in get_args(Action):
            raise ValueError(f"unknown action {action!r}; valid: grant, revoke")
        if not _SCOPE.match(scope):
            raise ValueError(f"invalid scope {scope!r}: expected '<kind>:<name>' such as 'provider:openai'")
        if not actor.strip():
            raise ValueError("actor must not be empty")
        with self._locked(fcntl.LOCK_EX, create=True) as handle:
            last = self._last_entry(handle)
            timestamp = self._clock().astimezone(UTC).isoformat(timespec="microseconds")
            unsigned = Entry(
                seq=last.seq + 1 if last else 1,
                ts=timestamp.replace("+00:00", "Z"),
                actor=actor,
                action=action,
                scope=scope,
                reason=reason,
                prev_hash=last.hash if last else GENESIS_HASH,
                hash="",
            )
            entry = replace(unsigned, hash=unsigned.expected_hash())
            line = json.dumps(asdict(entry), ensure_ascii=False, separators=(",", ":")) + "\n"
            os.write(handle, line.encode("utf-8"))
            os.fsync(handle)
        return entry

    def entries(self) -> list[Entry]:
        """Every entry in file order; raises ``LedgerError`` on a line that is not an entry."""
        entries = []
        for number, line in enumerate(self._lines(), start=1):
            try:
                entries.append(_parse_entry(line))
            except ValueError as exc:
                raise LedgerError(f"{self.path}:{number}: {exc}") from None
        return entries

    def head(self) -> str:
        """Hash of the newest entry (``GENESIS_HASH`` when empty); store it to detect truncation."""
        entries = self.entries()
        return entries[-1].hash if entries else GENESIS_HASH

    def verify(self, expected_head: str | None = None) -> VerifyResult:
        """Check the whole chain: edited, removed, reordered or malformed entries are reported.

        With ``expected_head`` (an earlier :meth:`head`), removal of the newest entries is
        detected too: that hash must still be in the chain.
        """
        problems: list[Problem] = []
        parsed: list[tuple[int, Entry]] = []
        for number, line in enumerate(self._lines(), start=1):
            try:
                parsed.append((number, _parse_entry(line)))
            except ValueError as exc:
                problems.append(Problem("malformed", number, None, str(exc)))
        problems.extend(_chain_problems(parsed))
        if expected_head not in (None, GENESIS_HASH) and all(e.hash != expected_head for _, e in parsed):
            last_line, seq = (parsed[-1][0], parsed[-1][1].seq) if parsed else (0, None)
            problems.append(Problem("truncated", last_line, seq, "the expected head entry is missing"))
        return VerifyResult(not problems, len(parsed), problems)

    def is_granted(self, scope: str) -> bool:
        """Whether the newest entry for ``scope`` is a grant (revocation wins when it is newer)."""
        latest = self._latest().get(scope)
        return latest is not None and latest.action == "grant"

    def grants(self) -> dict[str, Entry]:
        """Scopes currently granted, each with the entry that granted it."""
        return {scope: entry for scope, entry in self._latest().items() if entry.action == "grant"}

    def _latest(self) -> dict[str, Entry]:
        latest: dict[str, Entry] = {}
        for entry in self.entries():
            latest[entry.scope] = entry
        return latest

    def _lines(self) -> Iterator[str]:
        try:
            with self._locked(fcntl.LOCK_SH, create=False) as handle:
                data = _read_all(handle)
        except FileNotFoundError:
            return
        for line in data.decode("utf-8").splitlines():
            if line.strip():
                yield line

    @contextmanager
    def _locked(self, operation: int, *, create: bool) -> Iterator[int]:
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT if create else os.O_RDONLY
        if create:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            if create:
                os.fchmod(handle, 0o600)
            fcntl.flock(handle, operation)
            yield handle
        finally:
            os.close(handle)  # closing releases the lock

    def _last_entry(self, handle: int) -> Entry | None:
        size = os.fstat(handle).st_size
        if size == 0:
            return None
        start = max(0, size - _TAIL_BYTES)
        tail = os.pread(handle, size - start, start)
        if not tail.endswith(b"\n"):
            raise LedgerError(f"{self.path}: the last line is incomplete; run verify before appending")
        lines = tail.rstrip(b"\n").split(b"\n")
        if start > 0 and len(lines) < 2:
            raise LedgerError(f"{self.path}: last line longer than {_TAIL_BYTES} bytes")
        try:
            return _parse_entry(lines[-1].decode("utf-8"))
        except ValueError as exc:
            raise LedgerError(
                f"{self.path}: the last line is not a valid entry ({exc}); run verify"
            ) from None


def _read_all(handle: int) -> bytes:
    chunks = []
    while chunk := os.read(handle, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _chain_problems(parsed: list[tuple[int, Entry]]) -> list[Problem]:
    """Hash, order, gap and link problems of well-formed entries in file order."""
    problems: list[Problem] = []
    previous: Entry | None = None
    seen: set[int] = set()
    for line, entry in parsed:
        if entry.hash != entry.expected_hash():
            problems.append(Problem("edited", line, entry.seq, "content does not match its hash"))
        if previous is not None and entry.seq <= previous.seq:
            problems.append(
                Problem("reordered", line, entry.seq, f"seq {entry.seq} after seq {previous.seq}")
            )
        expected_prev = previous.hash if previous else GENESIS_HASH
        if entry.prev_hash != expected_prev:
            problems.append(
                Problem("chain_break", line, entry.seq, "prev_hash does not match the previous entry")
            )
        seen.add(entry.seq)
        previous = entry
    for missing in sorted(set(range(1, max(seen, default=0) + 1)) - seen):
        problems.append(Problem("removed", 0, missing, f"entry seq {missing} is missing"))
    return problems
