"""The run ledger: one reproducible folder per recorded request.

``<home>/runs/<receipt id>/`` (directory 0700, files 0600) holds ``request.json`` (the request as the
client sent it, as an OpenAI chat body, with the trust headers it carried), ``response.json`` (the
answer the client saw), ``receipt.json`` and ``run.json`` (config digest, policy version, the route
decision, model and status). Runs hold message content: they are written only when recording is on
(``trust.record_runs`` or per key). ``run replay`` re-sends ``request.json``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson

RUNS_DIR = "runs"
FILES = ("request", "response", "receipt", "run")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


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
            folders = sorted((p for p in self.root.iterdir() if p.is_dir()), reverse=True)
        except FileNotFoundError:
            return []
        out = []
        for folder in folders[:limit]:
            meta = folder / "run.json"
            data = orjson.loads(meta.read_bytes()) if meta.exists() else {}
            out.append({"id": folder.name, **data})
        return out
