"""What an integration wants changed in a config file, as data, and how that becomes the few primitive
operations (set one value, append one item) each file format knows how to apply.

Planning is done on the plain view of the parsed file. The same planning doubles as verification: a file
that already says what the edits ask for plans to no operations at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Segment = str | int
Path_ = tuple[Segment, ...]


class EditConflict(ValueError):
    """The file has something else where the edit needs a table/object or a list."""


@dataclass(frozen=True)
class SetValue:
    """Make ``path`` hold ``value``. Mappings are merged key by key, so keys the user added stay."""

    path: tuple[str, ...]
    value: Any
    only_if_missing: bool = False


@dataclass(frozen=True)
class UpsertItem:
    """Make the list at ``path`` contain ``item``, found by its ``match_key`` field (merged if there)."""

    path: tuple[str, ...]
    match_key: str
    item: Mapping[str, Any]


Edit = SetValue | UpsertItem


@dataclass(frozen=True)
class SetOp:
    path: Path_  # the parent exists; the last segment may not
    value: Any


@dataclass(frozen=True)
class AppendOp:
    path: Path_  # an existing list
    value: Any


Op = SetOp | AppendOp

_MISSING = object()


def _label(path: Sequence[Segment]) -> str:
    return ".".join(str(s) for s in path) or "the top level"


def _lookup(data: Any, path: Sequence[Segment]) -> Any:
    current = data
    for i, segment in enumerate(path):
        if isinstance(current, Mapping):
            current = current.get(segment, _MISSING)
        elif isinstance(current, list) and isinstance(segment, int):
            current = current[segment] if segment < len(current) else _MISSING
        else:
            raise EditConflict(f"{_label(path[:i])} is not a table/object")
        if current is _MISSING:
            return _MISSING
    return current


def _nest(path: Sequence[str], value: Any) -> Any:
    for segment in reversed(path):
        value = {segment: value}
    return value


def _set_ops(data: Any, path: tuple[str, ...], value: Any) -> list[Op]:
    for depth in range(len(path)):
        if _lookup(data, path[: depth + 1]) is _MISSING:
            return [SetOp(path[: depth + 1], _nest(path[depth + 1 :], value))]
    return merge_ops(path, _lookup(data, path), value)


def merge_ops(path: Path_, current: Any, value: Any) -> list[Op]:
    """Operations that make ``current`` (found at ``path``) hold ``value``, touching as little as possible."""
    if isinstance(value, Mapping) and not isinstance(current, Mapping):
        raise EditConflict(f"{_label(path)} is not a table/object")
    if not isinstance(value, Mapping):
        return [] if current == value else [SetOp(path, value)]
    ops: list[Op] = []
    for key, wanted in value.items():
        here = current.get(key, _MISSING)
        ops += [SetOp((*path, key), wanted)] if here is _MISSING else merge_ops((*path, key), here, wanted)
    return ops


def _upsert_ops(data: Any, edit: UpsertItem) -> list[Op]:
    items = _lookup(data, edit.path)
    if items is _MISSING:
        return _set_ops(data, edit.path, [dict(edit.item)])
    if not isinstance(items, list):
        raise EditConflict(f"{_label(edit.path)} is not a list")
    wanted = edit.item[edit.match_key]
    for index, item in enumerate(items):
        if isinstance(item, Mapping) and item.get(edit.match_key) == wanted:
            return merge_ops((*edit.path, index), item, edit.item)
    return [AppendOp(edit.path, dict(edit.item))]


def plan(data: Any, edits: Sequence[Edit]) -> list[Op]:
    """The operations ``edits`` need on ``data`` (a parsed document); empty when it already complies."""
    if not isinstance(data, Mapping):
        raise EditConflict("the top level is not a table/object")
    ops: list[Op] = []
    for edit in edits:
        if isinstance(edit, UpsertItem):
            ops += _upsert_ops(data, edit)
        elif not (edit.only_if_missing and _lookup(data, edit.path) is not _MISSING):
            ops += _set_ops(data, edit.path, edit.value)
    return ops
