"""Modules that ``make install`` compiles with mypyc (``tools/compile_hot.py``), and the guard that keeps
a compiled module from running code older than its source.

Python imports a C extension module before a ``.py`` of the same name, so after an edit of a compiled
module's source the old build would silently keep running. The build writes the source's SHA-256 beside
it (``memory.py.mypyc``); :func:`install_guard` (run when the package is imported) sends the import of
each module whose build is stale or unstamped to its source instead, with a warning. Where nothing was
compiled it finds no build and does nothing.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

# the keyed request's counters, rate-limit answers and estimates (docs/benchmarks.md, issue 6)
MODULES = (
    "adaptive_gateway.state.memory",
    "adaptive_gateway.accounts.estimate",
    "adaptive_gateway.accounts.answers",
)
STAMP_SUFFIX = ".mypyc"
_PACKAGE_DIR = Path(__file__).resolve().parent

log = logging.getLogger("adaptive_gateway")


def source_of(name: str, package_dir: Path = _PACKAGE_DIR) -> Path:
    """The ``.py`` of module ``name`` (dotted, its first part the package at ``package_dir``)."""
    return package_dir.joinpath(*name.split(".")[1:]).with_suffix(".py")


def stamp_of(name: str, package_dir: Path = _PACKAGE_DIR) -> Path:
    """Where the build of ``name`` records the SHA-256 of the source it was built from."""
    source = source_of(name, package_dir)
    return source.with_name(source.name + STAMP_SUFFIX)


def source_digest(name: str, package_dir: Path = _PACKAGE_DIR) -> str:
    """What a build's stamp records: the SHA-256 of the source it was built from."""
    return hashlib.sha256(source_of(name, package_dir).read_bytes()).hexdigest()


def built_files(name: str, package_dir: Path = _PACKAGE_DIR) -> list[Path]:
    """The extension modules built for ``name`` (its own, and mypyc's ``<name>__mypyc`` runtime)."""
    source = source_of(name, package_dir)
    found = []
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for stem in (source.stem, source.stem + "__mypyc"):
            path = source.with_name(stem + suffix)
            if path.exists():
                found.append(path)
    return found


def stale(names: Sequence[str] = MODULES, package_dir: Path = _PACKAGE_DIR) -> dict[str, Path]:
    """Module name -> source, for each built module whose source changed since its build (or whose
    build carries no stamp)."""
    out = {}
    for name in names:
        if not built_files(name, package_dir):
            continue
        try:
            built = stamp_of(name, package_dir).read_text().strip()
        except OSError:
            built = ""
        if built != source_digest(name, package_dir):
            out[name] = source_of(name, package_dir)
    return out


class SourceWhenStale(importlib.abc.MetaPathFinder):
    """Imports the listed modules from their ``.py`` files."""

    def __init__(self, sources: dict[str, Path]) -> None:
        self.sources = sources

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        source = self.sources.get(fullname)
        return importlib.util.spec_from_file_location(fullname, source) if source is not None else None


def install_guard() -> None:
    sources = stale()
    if sources:
        log.warning(
            "compiled modules older than their source, running the source instead: %s "
            "(make install rebuilds them)",
            ", ".join(sorted(sources)),
        )
        sys.meta_path.insert(0, SourceWhenStale(sources))


def is_compiled(module: ModuleType) -> bool:
    return not str(getattr(module, "__file__", "")).endswith(".py")
