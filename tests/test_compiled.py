"""The mypyc builds of the hot modules (tools/compile_hot.py): used when fresh, never when stale."""

from __future__ import annotations

import hashlib
import importlib.machinery
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from adaptive_gateway import compiled
from adaptive_gateway.accounts import answers, estimate
from adaptive_gateway.state import memory

EXT = importlib.machinery.EXTENSION_SUFFIXES[0]


def _package(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text("SOURCE = True\n")
    return pkg


def test_a_build_without_a_matching_stamp_is_stale(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    assert compiled.stale(["pkg.mod"], pkg) == {}  # nothing built: nothing to guard
    (pkg / f"mod{EXT}").write_bytes(b"")  # a build beside the source
    assert compiled.stale(["pkg.mod"], pkg) == {"pkg.mod": pkg / "mod.py"}  # no stamp
    stamp = pkg / "mod.py.mypyc"
    stamp.write_text(hashlib.sha256(b"SOURCE = True\n").hexdigest() + "\n")
    assert compiled.stale(["pkg.mod"], pkg) == {}  # built from this source
    (pkg / "mod.py").write_text("SOURCE = True  # edited\n")
    assert compiled.stale(["pkg.mod"], pkg) == {"pkg.mod": pkg / "mod.py"}


def test_the_guard_imports_a_stale_module_from_its_source(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    # what Python would import first: a package of the same name stands in for the extension module
    (pkg / "mod").mkdir()
    (pkg / "mod" / "__init__.py").write_text("SOURCE = False\n")
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from pathlib import Path
        from adaptive_gateway.compiled import SourceWhenStale
        import pkg.mod
        assert pkg.mod.SOURCE is False, "without the guard the shadowing build wins"
        del sys.modules["pkg.mod"]
        sys.meta_path.insert(0, SourceWhenStale({{"pkg.mod": Path({str(pkg / "mod.py")!r})}}))
        import pkg.mod
        assert pkg.mod.SOURCE is True and pkg.mod.__file__.endswith("mod.py")
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_hot_modules_run_compiled_when_make_install_built_them() -> None:
    """make install compiles them (the CI runs make test, so under CI a failed build fails here)."""
    modules = (memory, estimate, answers)
    assert [m.__name__ for m in modules] == list(compiled.MODULES)
    if os.environ.get("CI") != "true" and not compiled.built_files(compiled.MODULES[0]):
        pytest.skip("not built here (tools/compile_hot.py); CI requires the build")
    assert compiled.stale() == {}, "a source changed since the build: run make install"
    assert all(compiled.is_compiled(m) for m in modules), [m.__file__ for m in modules]
