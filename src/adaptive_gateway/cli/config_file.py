"""Safe edits of the gateway's own ``config.yaml``, shared by ``init`` (adding providers and models) and
``mode`` (one top-level value). Everything outside the added or set keys stays byte for byte.

New entries of a top-level block mapping (``providers:``, ``models:``) are spliced in as text after the
section's last entry, so comments that introduce the next section stay above it (ruamel.yaml would
keep them attached to the previous entry, i.e. above the new one). The splice is verified by parsing:
the result must be the old document plus the new entries and nothing else. Other edits, and any file
the splice cannot handle (flow style, CRLF, a missing section), go through the integrations writer's
ruamel.yaml round-trip with the file's own indentation. The result is validated before anything is
written; the write is atomic and refused when the file changed since it was read.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from adaptive_gateway.config import ConfigError, parse_config
from adaptive_gateway.integrations import SetValue, WriterError
from adaptive_gateway.integrations.backups import sha256
from adaptive_gateway.integrations.edits import Edit, EditConflict, plan
from adaptive_gateway.integrations.formats import FORMATS, ParseError
from adaptive_gateway.integrations.writer import atomic_write

PLACEHOLDER = "unset-in-this-shell"
_SECRET_MARKERS = ("api_key", "master_key_hash", "secret", "password", "token", "${")
Sections = Mapping[str, Mapping[str, Any]]  # section -> new entries, e.g. {"models": {"qwen3:8b": {...}}}


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


# --- splicing new entries into block sections ---------------------------------------------------------


def _section_end(lines: list[str], section: str) -> tuple[int, int] | None:
    """(index after the section's last entry line, the entries' indentation), for a block section."""
    header = re.compile(rf"^{re.escape(section)}:[ \t]*(#.*)?\n?$")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return None
    end, indent = start + 1, 0
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            continue  # blank or comment: belongs to whatever follows
        if not line[0].isspace():
            break
        indent = indent or len(line) - len(line.lstrip())
        end = i + 1
    return (end, indent) if indent else None


def _block(entries: Mapping[str, Any], indent: int) -> list[str]:
    dumped = yaml.safe_dump(dict(entries), sort_keys=False, default_flow_style=False, width=4096)
    return [" " * indent + line if line.strip() else line for line in dumped.splitlines(True)]


def splice_sections(text: str, sections: Sections) -> str | None:
    """``text`` with each section's new entries added after its last entry; None when a section is not a
    non-empty block mapping or the result is not exactly the old document plus the entries."""
    if "\r\n" in text or not text.endswith("\n"):
        return None
    before = yaml.safe_load(text)
    if not isinstance(before, dict):
        return None
    lines = text.splitlines(True)
    for section, entries in sections.items():
        if not entries:
            continue
        if section not in before:  # a new section goes at the end
            lines += _block({section: dict(entries)}, 0)
            continue
        found = _section_end(lines, section)
        if found is None:
            return None
        end, indent = found
        lines[end:end] = _block(entries, indent)
    new_text = "".join(lines)
    after = yaml.safe_load(new_text)
    expected = {**before, **{s: {**before.get(s, {}), **e} for s, e in sections.items() if e}}
    return new_text if after == expected else None


def _as_edits(sections: Sections) -> list[Edit]:
    return [
        SetValue((s, name), value, only_if_missing=True)
        for s, e in sections.items()
        for name, value in e.items()
    ]


def compute(text: str, edits: Sequence[Edit], sections: Sections) -> str:
    """The new text: sections spliced (or, failing that, added by round-trip), then ``edits`` applied."""
    fmt = FORMATS["yaml"]
    spliced = splice_sections(text, sections) if any(sections.values()) else text
    todo = list(edits) if spliced is not None else [*_as_edits(sections), *edits]
    current = text if spliced is None else spliced
    try:
        ops = plan(fmt.load(current), todo)
        return fmt.apply(current, ops) if ops else current
    except (ParseError, EditConflict) as exc:
        raise ConfigFileError(f"cannot edit the config: {exc}; nothing was changed") from None


# --- writing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditResult:
    status: str  # "unchanged" | "declined" | "written"
    diff: str = ""
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


def _diff(path: Path, old: str, new: str) -> str:
    lines = difflib.unified_diff(old.splitlines(True), new.splitlines(True), str(path), str(path))
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def edit_config(
    path: Path,
    edits: Sequence[Edit] = (),
    *,
    add: Sections | None = None,
    show: Callable[[str], None] | None = None,
    confirm: Callable[[str], bool] | None = None,
    backups: Path | None = None,
) -> EditResult:
    """Add the ``add`` entries (where their names are free) and apply ``edits`` to the config at ``path``.

    Shows the diff through ``show``, asks ``confirm`` (None: no question), keeps a copy of the old file in
    ``backups`` when given. Raises :class:`ConfigFileError` (nothing written) when the file cannot be
    parsed, the result would be invalid, or the file changed meanwhile."""
    real = path.resolve()
    try:
        original = real.read_bytes()
        text = original.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"cannot read {path}: {exc}") from None
    new_text = compute(text, edits, add or {})
    if new_text == text:
        return EditResult("unchanged")
    try:
        validate_text(new_text, str(path))
    except ConfigError as exc:
        raise ConfigFileError(
            f"{path} would not be a valid config; nothing was written", exc.errors
        ) from None
    diff = _diff(path, text, new_text)
    if show is not None:
        show(diff)
    if confirm is not None and not confirm(f"Write these changes to {path}?"):
        return EditResult("declined", diff)
    backup = backup_copy(real, backups) if backups is not None else None
    mode = stat.S_IMODE(real.stat().st_mode)
    if references_secrets(new_text):
        mode &= ~0o077
    try:
        atomic_write(real, new_text.encode("utf-8"), mode, sha256(original))
    except WriterError as exc:
        raise ConfigFileError(str(exc)) from None
    return EditResult("written", diff, backup)


def write_new(path: Path, text: str) -> None:
    """Create the config file (0600) atomically; refuses when something appeared there meanwhile."""
    try:
        atomic_write(path, text.encode("utf-8"), 0o600, None)
    except WriterError as exc:
        raise ConfigFileError(str(exc)) from None
