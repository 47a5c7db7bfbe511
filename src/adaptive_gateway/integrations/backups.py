"""Backups and manifests: what ``integrate`` changed, so that ``integrate --undo`` can put it back.

Layout (directory 0700, files 0600, since client files can hold tokens)::

    <state>/backups/<target>/<stamp>-<filename>        the original bytes
    <state>/backups/<target>/<stamp>-manifest.json     which files, their sha256, whether they existed
    <state>/backups/<target>/<stamp>-manifest.undone.json   after an undo
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_TARGET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ACTIVE = "-manifest.json"
_UNDONE = "-manifest.undone.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str | None:
    """sha256 of the file's bytes, None when it does not exist."""
    try:
        return sha256(path.read_bytes())
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class BackedUpFile:
    path: str  # as the integration named it (may be a symlink)
    real_path: str  # the file actually written
    existed: bool
    sha256: str | None  # of the original bytes; None when the file did not exist
    backup: str | None  # where the original bytes are kept
    mode: int | None  # original permission bits
    new_sha256: str  # of what integrate wrote

    def status(self) -> str:
        """``as written``, ``changed since`` (by the user or the client) or ``missing``."""
        current = file_sha256(Path(self.real_path))
        if current is None:
            return "missing"
        return "as written" if current == self.new_sha256 else "changed since"


@dataclass(frozen=True)
class Manifest:
    target: str
    created: str
    note: str
    files: tuple[BackedUpFile, ...]
    location: Path

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["location"] = str(self.location)
        return data


@dataclass(frozen=True)
class Original:
    """One file about to be replaced, as handed to ``BackupStore.save``."""

    path: Path
    real_path: Path
    existed: bool
    data: bytes
    mode: int | None
    new_data: bytes


class BackupStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, target: str) -> Path:
        if not _TARGET_NAME.match(target):
            raise ValueError(f"invalid target name {target!r}")
        return self.root / target

    def save(self, target: str, originals: Sequence[Original], note: str, now: datetime) -> Manifest:
        folder = self._dir(target)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        os.chmod(folder, 0o700)
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        names = [o.path.name for o in originals]
        unique = [n if names.count(n) == 1 else f"{i}-{n}" for i, n in enumerate(names)]
        files = tuple(self._keep(folder, f"{stamp}-{n}", o) for n, o in zip(unique, originals, strict=True))
        manifest = Manifest(
            target, now.astimezone(UTC).isoformat(), note, files, folder / f"{stamp}{_ACTIVE}"
        )
        _write_private(manifest.location, json.dumps(manifest.to_dict(), indent=2).encode())
        return manifest

    @staticmethod
    def _keep(folder: Path, name: str, original: Original) -> BackedUpFile:
        backup = None
        if original.existed:
            backup = folder / name
            _write_private(backup, original.data)
        return BackedUpFile(
            path=str(original.path),
            real_path=str(original.real_path),
            existed=original.existed,
            sha256=sha256(original.data) if original.existed else None,
            backup=str(backup) if backup else None,
            mode=original.mode,
            new_sha256=sha256(original.new_data),
        )

    def active(self, target: str | None = None) -> list[Manifest]:
        """Manifests not undone yet, oldest first; all targets when ``target`` is None."""
        folder = "*" if target is None else self._dir(target).name
        found = self.root.glob(f"{folder}/*{_ACTIVE}")
        return [_load(p) for p in sorted(found, key=lambda p: p.name)]

    def latest(self, target: str) -> Manifest | None:
        manifests = self.active(target)
        return manifests[-1] if manifests else None

    @staticmethod
    def mark_undone(manifest: Manifest) -> None:
        name = manifest.location.name.removesuffix(_ACTIVE) + _UNDONE
        manifest.location.rename(manifest.location.with_name(name))

    @staticmethod
    def discard(manifest: Manifest) -> None:
        """Forget a manifest whose write was rolled back."""
        for entry in manifest.files:
            if entry.backup:
                Path(entry.backup).unlink(missing_ok=True)
        manifest.location.unlink(missing_ok=True)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _load(path: Path) -> Manifest:
    data = json.loads(path.read_text(encoding="utf-8"))
    files = tuple(BackedUpFile(**entry) for entry in data["files"])
    return Manifest(data["target"], data["created"], data.get("note", ""), files, path)
