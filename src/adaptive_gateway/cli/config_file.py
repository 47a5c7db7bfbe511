"""Safe edits of the gateway's own ``config.yaml``, shared by ``init`` (merging new providers and models)
and ``mode`` (one top-level value).

The file goes through the same machinery as client integrations (``integrations.writer``): ruamel.yaml
round-trip with the indentation that reproduces the file, so the user's comments, ordering and
formatting outside the edited keys stay byte for byte; ``SetValue(..., only_if_missing=True)`` adds an
entry without touching one the user already has. The result is validated before anything is written,
the write is atomic (temp file + rename) and refused when the file changed since it was read.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from adaptive_gateway.config import ConfigError, parse_config
from adaptive_gateway.integrations import FileChange, PreparedFile, WriterError, prepare
from adaptive_gateway.integrations.backups import sha256
from adaptive_gateway.integrations.edits import Edit
from adaptive_gateway.integrations.writer import atomic_write

PLACEHOLDER = "unset-in-this-shell"
_SECRET_MARKERS = ("api_key", "master_key_hash", "secret", "password", "token", "${")


class ConfigFileError(Exception):
    """The edit was refused; nothing was written. ``errors`` lists config problems when there are any."""

    def __init__(self, message: str, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


class _AnyEnv(Mapping[str, str]):
    """The real environment, with every unset name reading as a placeholder: the structure of a config
    is checked without requiring the provider keys it references to be exported in this shell."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __getitem__(self, name: str) -> str:
        return self._env.get(name, PLACEHOLDER)

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)


def validate_text(text: str, source: str = "", env: Mapping[str, str] | None = None) -> None:
    """Raise :class:`ConfigError` when ``text`` is not a valid gateway config; unset ``${NAME}``
    references are accepted (they are checked when the gateway loads the file)."""
    parse_config(text, _AnyEnv(os.environ if env is None else env), source=source)


def references_secrets(text: str) -> bool:
    """Whether a config text holds a key, a key hash or an environment reference (then it is kept 0600)."""
    return any(marker in text for marker in _SECRET_MARKERS)


@dataclass(frozen=True)
class EditResult:
    status: str  # "unchanged" | "declined" | "written"
    prepared: PreparedFile
    backup: Path | None = None


def backup_copy(path: Path, folder: Path) -> Path:
    """Copy ``path`` into ``folder`` (0700) as ``<UTC stamp>-<name>`` (0600)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"{stamp}-{path.name}"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, path.open("rb") as src:
        shutil.copyfileobj(src, out)
    return target


def edit_config(
    path: Path,
    edits: Sequence[Edit],
    *,
    show: Callable[[str], None] | None = None,
    confirm: Callable[[str], bool] | None = None,
    backups: Path | None = None,
) -> EditResult:
    """Apply ``edits`` to the config at ``path`` (which must exist), keeping everything else as it is.

    Shows the diff through ``show``, asks ``confirm`` (None: no question), keeps a copy of the old file in
    ``backups`` when given. Raises :class:`ConfigFileError` (nothing written) when the file cannot be
    parsed, the result would be invalid, or the file changed meanwhile."""
    try:
        prepared = prepare(FileChange(path, "yaml", tuple(edits)))
    except WriterError as exc:
        raise ConfigFileError(str(exc)) from None
    if not prepared.changed:
        return EditResult("unchanged", prepared)
    try:
        validate_text(prepared.new_text, str(path))
    except ConfigError as exc:
        raise ConfigFileError(
            f"{path} would not be a valid config; nothing was written", exc.errors
        ) from None
    if show is not None:
        show(prepared.diff())
    if confirm is not None and not confirm(f"Write these changes to {path}?"):
        return EditResult("declined", prepared)
    backup = backup_copy(prepared.real_path, backups) if backups is not None and prepared.existed else None
    mode = prepared.mode if prepared.mode is not None else 0o600
    if references_secrets(prepared.new_text):
        mode &= ~0o077
    try:
        atomic_write(prepared.real_path, prepared.new_bytes, mode, sha256(prepared.original))
    except WriterError as exc:
        raise ConfigFileError(str(exc)) from None
    return EditResult("written", prepared, backup)


def write_new(path: Path, text: str) -> None:
    """Create the config file (0600) atomically; refuses when something appeared there meanwhile."""
    try:
        atomic_write(path, text.encode("utf-8"), 0o600, None)
    except WriterError as exc:
        raise ConfigFileError(str(exc)) from None
