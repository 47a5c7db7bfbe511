"""Conflict resolution for `memory pull`: keep every entry from both sides.

- session logs: union of entries (see :mod:`sessions`), the more sensitive front matter wins;
- other items: the version with the later ``updated_at`` (the other stays in the merge's history);
- modify/delete: the surviving version is kept;
- any other text file: line union (``git merge-file --union``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from adaptive_gateway.memory.errors import InvalidItem
from adaptive_gateway.memory.frontmatter import parse_item
from adaptive_gateway.memory.gitrepo import Git
from adaptive_gateway.memory.models import ItemType, item_type_of_path
from adaptive_gateway.memory.sessions import merge_session_texts

Stages = dict[int, str]


def unmerged_paths(git: Git) -> dict[str, Stages]:
    """path -> {stage number: blob sha} for every conflicted path (1 base, 2 ours, 3 theirs)."""
    result: dict[str, Stages] = {}
    for record in git.run("ls-files", "-u", "-z").stdout.decode().split("\0"):
        if not record:
            continue
        info, path = record.split("\t", 1)
        _, sha, stage = info.split()
        result.setdefault(path, {})[int(stage)] = sha
    return result


def resolve_conflicts(git: Git) -> list[str]:
    """Resolve and stage every conflicted path; returns the paths resolved."""
    conflicts = unmerged_paths(git)
    for path, stages in conflicts.items():
        blobs = git.blobs(list(stages.values()))
        versions = {stage: blobs[sha] for stage, sha in stages.items() if sha in blobs}
        merged = _resolve(git, path, versions)
        if merged is None:
            git.run("rm", "-q", "--cached", "--ignore-unmatch", "--", path)
            (git.root / path).unlink(missing_ok=True)
            continue
        target = git.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(merged)
        git.run("add", "--", path)
    return sorted(conflicts)


def _resolve(git: Git, path: str, versions: dict[int, bytes]) -> bytes | None:
    ours, theirs = versions.get(2), versions.get(3)
    if ours is None or theirs is None:
        return ours if ours is not None else theirs
    kind = item_type_of_path(path)
    if kind is ItemType.SESSION:
        try:
            return merge_session_texts(ours.decode(), theirs.decode()).encode()
        except (InvalidItem, UnicodeDecodeError):
            return _line_union(git, versions.get(1, b""), ours, theirs)
    if kind is not None:
        return _newer(ours, theirs)
    return _line_union(git, versions.get(1, b""), ours, theirs)


def _newer(ours: bytes, theirs: bytes) -> bytes:
    try:
        our_item = parse_item(ours.decode())
    except (InvalidItem, UnicodeDecodeError):
        return theirs
    try:
        their_item = parse_item(theirs.decode())
    except (InvalidItem, UnicodeDecodeError):
        return ours
    return theirs if their_item.updated_at > our_item.updated_at else ours


def _line_union(git: Git, base: bytes, ours: bytes, theirs: bytes) -> bytes:
    with tempfile.TemporaryDirectory(dir=git.root / ".git") as tmp:
        files = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            target = Path(tmp) / name
            target.write_bytes(data)
            files.append(str(target))
        return git.run("merge-file", "-p", "--union", *files, check=False).stdout
