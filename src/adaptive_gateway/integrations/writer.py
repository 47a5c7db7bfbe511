"""The safe config writer: every change to a client's file is previewed as a diff, approved, backed up,
written atomically only if the file did not change meanwhile, verified by reading it back, recorded in
the consent ledger, and reversible byte for byte with ``undo``.

Nothing is touched when a file cannot be parsed, when the edit conflicts with what the file holds, or
when the file changed between reading and writing.
"""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .backups import BackupStore, Manifest, Original, file_sha256, sha256
from .edits import Edit, EditConflict, plan
from .formats import FORMATS, ParseError

Recorder = Callable[[str, str, str], None]  # (action, scope, reason), e.g. ConsentLedger.append
Confirm = Callable[[str], bool]

STATE_DIR_NAME = ".adaptive-llm-gateway"
NEW_FILE_MODE = 0o644
SECRET_MODE = 0o600


def state_dir(home: Path, env: Mapping[str, str]) -> Path:
    """``$ADAPTIVE_GATEWAY_HOME``, else ``<home>/.adaptive-llm-gateway``."""
    override = env.get("ADAPTIVE_GATEWAY_HOME")
    return Path(override) if override else home / STATE_DIR_NAME


class WriterError(Exception):
    """A refusal: the message says why, and nothing was changed."""


class ConcurrentModification(WriterError):
    pass


@dataclass(frozen=True)
class FileChange:
    """Edits wanted in one file. ``secret``: the edits carry a secret, so the file is kept at 0600."""

    path: Path
    fmt: str  # a key of formats.FORMATS
    edits: tuple[Edit, ...]
    secret: bool = False


@dataclass(frozen=True)
class PreparedFile:
    change: FileChange
    real_path: Path
    existed: bool
    original: bytes
    new_text: str
    mode: int | None

    @property
    def new_bytes(self) -> bytes:
        return self.new_text.encode("utf-8")

    @property
    def changed(self) -> bool:
        return self.new_bytes != self.original

    @property
    def new_mode(self) -> int:
        if self.mode is None:
            return SECRET_MODE if self.change.secret else NEW_FILE_MODE
        return self.mode & ~0o077 if self.change.secret else self.mode

    def diff(self) -> str:
        # Line endings are shown as "\n" whatever the file uses, so a terminal shows no stray "\r".
        before = (
            self.original.decode("utf-8", errors="replace").replace("\r\n", "\n").splitlines(keepends=True)
        )
        after = self.new_text.replace("\r\n", "\n").splitlines(keepends=True)
        label = str(self.change.path)
        lines = difflib.unified_diff(before, after, label if self.existed else "/dev/null", label)
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True)
class WriteResult:
    status: str  # "unchanged" | "dry-run" | "declined" | "written"
    files: tuple[PreparedFile, ...]
    manifest: Manifest | None = None


def _read(path: Path) -> tuple[Path, bool, bytes, int | None]:
    real = path.resolve() if path.is_symlink() else path  # write through symlinks (dotfile managers)
    try:
        return real, True, real.read_bytes(), stat.S_IMODE(real.stat().st_mode)
    except FileNotFoundError:
        return real, False, b"", None


def _edit_text(text: str, change: FileChange) -> str:
    fmt = FORMATS[change.fmt]
    crlf = "\r\n" in text
    text = text.replace("\r\n", "\n") if crlf else text
    ops = plan(fmt.load(text), change.edits)
    if not ops:
        return text.replace("\n", "\r\n") if crlf else text
    new_text = fmt.apply(text, ops)
    if plan(fmt.load(new_text), change.edits):
        raise WriterError(f"{change.path}: the edited file would not hold the change; nothing was written")
    return new_text.replace("\n", "\r\n") if crlf else new_text


def prepare(change: FileChange) -> PreparedFile:
    """Read the file and compute its new text. Raises WriterError (nothing touched) when it cannot."""
    real, existed, original, mode = _read(change.path)
    try:
        text = original.decode("utf-8")
        new_text = _edit_text(text, change)
    except UnicodeDecodeError:
        raise WriterError(f"{change.path} is not UTF-8 text; nothing was changed") from None
    except (ParseError, EditConflict) as exc:
        raise WriterError(f"{change.path}: {exc}; nothing was changed. Fix the file and retry.") from None
    return PreparedFile(change, real, existed, original, new_text, mode)


def atomic_write(path: Path, data: bytes, mode: int, expect_sha: str | None) -> None:
    """Replace ``path`` with ``data`` via a temp file in the same directory, but only while the file
    still has sha256 ``expect_sha`` (None: must not exist); else ConcurrentModification."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if file_sha256(path) != expect_sha:
            raise ConcurrentModification(
                f"{path} changed since it was read; nothing was written to it. Run the command again."
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _restore(real_path: Path, existed: bool, data: bytes, mode: int | None, expect_sha: str | None) -> None:
    if existed:
        atomic_write(real_path, data, mode if mode is not None else NEW_FILE_MODE, expect_sha)
    elif file_sha256(real_path) == expect_sha:
        real_path.unlink(missing_ok=True)
    else:
        raise ConcurrentModification(f"{real_path} changed since it was read; left as it is")


class ConfigWriter:
    """Writes client config files safely and undoes what it wrote. ``record`` receives
    ``(action, scope, reason)`` for every file written or restored."""

    def __init__(
        self,
        state: Path,
        record: Recorder | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.backups = BackupStore(state / "backups")
        self.record = record
        self.now = now

    def write(
        self,
        target: str,
        changes: Sequence[FileChange],
        *,
        yes: bool = False,
        confirm: Confirm | None = None,
        show: Callable[[str], None] | None = None,
        dry_run: bool = False,
        note: str = "",
    ) -> WriteResult:
        """Prepare, show the diff, ask (unless ``yes``), then apply. With neither ``yes`` nor
        ``confirm`` the answer is no."""
        prepared = tuple(prepare(change) for change in changes)
        changed = tuple(p for p in prepared if p.changed)
        if not changed:
            return WriteResult("unchanged", prepared)
        if show is not None:
            show("".join(p.diff() for p in changed))
        if dry_run:
            return WriteResult("dry-run", prepared)
        question = f"Apply these changes to {len(changed)} file(s) for {target}?"
        if not (yes or (confirm is not None and confirm(question))):
            return WriteResult("declined", prepared)
        reason = "--yes given" if yes else "approved after reviewing the diff"
        return WriteResult("written", prepared, self.apply(target, changed, reason, note))

    def apply(self, target: str, files: Sequence[PreparedFile], reason: str, note: str = "") -> Manifest:
        """Back up, write and verify ``files``; on any failure, put back what was already written."""
        originals = [
            Original(p.change.path, p.real_path, p.existed, p.original, p.mode, p.new_bytes) for p in files
        ]
        manifest = self.backups.save(target, originals, note, self.now())
        written: list[PreparedFile] = []
        try:
            for item in files:
                expect = sha256(item.original) if item.existed else None
                atomic_write(item.real_path, item.new_bytes, item.new_mode, expect)
                written.append(item)
                _verify(item)
        except BaseException:
            self._roll_back(written)
            self.backups.discard(manifest)
            raise
        for item in files:
            self._record("integrate", target, item.change.path, reason)
        return manifest

    def _roll_back(self, written: Sequence[PreparedFile]) -> None:
        for item in reversed(written):
            try:
                _restore(item.real_path, item.existed, item.original, item.mode, sha256(item.new_bytes))
            except ConcurrentModification:
                continue  # someone else wrote it after us: theirs wins

    def _record(self, action: str, target: str, path: Path | str, reason: str) -> None:
        if self.record is not None:
            self.record(action, f"{target}:{path}", reason)

    def undo(self, target: str, *, force: bool = False) -> Manifest:
        """Restore the files of ``target``'s latest integration byte for byte (deleting files it created).
        Refuses, touching nothing, when a file changed after integrate wrote it, unless ``force``."""
        manifest = self.backups.latest(target)
        if manifest is None:
            raise WriterError(f"nothing to undo for {target}")
        current = {entry.real_path: file_sha256(Path(entry.real_path)) for entry in manifest.files}
        drifted = [e.path for e in manifest.files if current[e.real_path] != e.new_sha256]
        if drifted and not force:
            raise WriterError(
                f"changed after integrate wrote them: {', '.join(drifted)}. Undo would discard those "
                "changes; nothing was restored. Re-run with --force to restore the backup anyway."
            )
        for entry in reversed(manifest.files):
            data = Path(entry.backup).read_bytes() if entry.backup else b""
            if entry.existed and sha256(data) != entry.sha256:
                raise WriterError(
                    f"backup {entry.backup} is damaged (sha256 mismatch); {entry.path} left as is"
                )
            _restore(Path(entry.real_path), entry.existed, data, entry.mode, current[entry.real_path])
            self._record("integrate.undo", target, entry.path, "restored the backup taken before integrate")
        self.backups.mark_undone(manifest)
        return manifest

    def list_integrations(self) -> list[Manifest]:
        """Every integration not undone yet, oldest first (see ``BackedUpFile.status``)."""
        return self.backups.active()


def _verify(item: PreparedFile) -> None:
    on_disk = item.real_path.read_bytes()
    if on_disk != item.new_bytes:
        raise ConcurrentModification(f"{item.real_path} changed right after it was written")
    prepared_again = prepare(item.change)
    if prepared_again.changed:
        raise WriterError(f"{item.change.path} does not hold the change after writing; it was restored")
