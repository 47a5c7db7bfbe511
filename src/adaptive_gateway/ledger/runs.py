"""The run ledger: one reproducible folder per recorded request.

``<home>/runs/<receipt id>/`` (directory 0700, files 0600) holds ``request.json`` (the request as the
client sent it, as an OpenAI chat body, with the trust headers it carried), ``response.json`` (the
answer the client saw), ``receipt.json`` and ``run.json`` (config digest, policy version, the route
decision, model and status). Runs hold message content: they are written only when recording is on
(``trust.record_runs`` or per key). ``run replay`` re-sends ``request.json``. :meth:`RunStore.prune`
deletes the folders past ``trust.runs.retention_days`` (by the day in their receipt id), never today's.
"""

from __future__ import annotations

import builtins
import calendar
import datetime as dt
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import orjson

from adaptive_gateway.ledger.receipts import day_of

RUNS_DIR = "runs"
FILES = ("request", "response", "receipt", "run")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_TRASH = ".pruning-"  # a run folder being deleted: renamed to ``.pruning-<id>-<random>`` first


class RunNotFound(KeyError):
    pass


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, run_id: str) -> Path:
        if not _SAFE_ID.match(run_id) or run_id.startswith("."):
            raise RunNotFound(run_id)
        return self.root / run_id

    def write(self, run_id: str, parts: dict[str, Any]) -> Path:
        """Write the parts (``request``, ``response``, ``receipt``, ``run``) of one run."""
        folder = self.path(run_id)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        for name, value in parts.items():
            if name not in FILES:
                raise ValueError(f"unknown run part {name!r}")
            data = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
            # written whole under a temporary name, then renamed: a reader never sees a partial file
            tmp = folder / f".{name}.json.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, folder / f"{name}.json")
        return folder

    def load(self, run_id: str) -> dict[str, Any]:
        """Every part of a run; raises :class:`RunNotFound`."""
        folder = self.path(run_id)
        if not folder.is_dir():
            raise RunNotFound(run_id)
        out: dict[str, Any] = {}
        for name in FILES:
            file = folder / f"{name}.json"
            if file.exists():
                out[name] = orjson.loads(file.read_bytes())
        return out

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest runs first: each run's ``run.json`` with its ``id``."""
        try:
            folders = sorted(
                (p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True
            )
        except FileNotFoundError:
            return []
        out = []
        for folder in folders[:limit]:
            try:
                data = orjson.loads((folder / "run.json").read_bytes())
            except FileNotFoundError:
                if not folder.exists():
                    continue  # pruned meanwhile
                data = {}
            out.append({"id": folder.name, **data})
        return out

    def prune(self, older_than_days: int, now: float | None = None) -> builtins.list[str]:
        """Delete the run folders more than ``older_than_days`` days before today (UTC), as receipt day
        files are pruned: with 30, the runs of today and the 30 days before are kept. A run's day is the
        day in its receipt id (``rc_<yyyymmdd>T...``); entries that are not a folder named by a receipt
        id (other files and folders, symbolic links, hidden names) are left alone. Runs of today and
        later are never deleted, and neither is a folder modified after the cutoff (a run being written
        right now, one copied in). A folder is renamed to a hidden name before it is removed: readers see
        a whole run or none, and of two pruners racing only one deletes it. Returns the ids deleted."""
        if older_than_days < 0:
            raise ValueError("older_than_days must be 0 or more")
        today = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC).date()
        cutoff = today - dt.timedelta(days=older_than_days)
        cutoff_ts = calendar.timegm(cutoff.timetuple())  # the cutoff day's first second
        try:
            entries = builtins.list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        deleted: builtins.list[str] = []
        for entry in entries:
            if entry.name.startswith(_TRASH) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)  # left by a pruner that was interrupted
                continue
            day = day_of(entry.name)
            if day is None or not _SAFE_ID.match(entry.name) or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                when = dt.date.fromisoformat(day)
                modified = entry.stat(follow_symlinks=False).st_mtime
            except (ValueError, FileNotFoundError):
                continue  # an impossible date, or gone already
            if when >= cutoff or modified >= cutoff_ts:  # cutoff <= today: today's runs stay
                continue
            trash = self.root / f"{_TRASH}{entry.name}-{os.urandom(4).hex()}"
            try:
                os.rename(entry.path, trash)
            except FileNotFoundError:
                continue  # another pruner took it first
            shutil.rmtree(trash, ignore_errors=True)
            deleted.append(entry.name)
        return sorted(deleted)
