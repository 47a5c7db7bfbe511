"""Compile the keyed request path's counters and estimates with mypyc (``make install`` runs this).

The modules in ``adaptive_gateway.compiled.MODULES`` are plain, fully typed Python; mypyc turns them
into C extension modules placed beside their sources, which Python then imports instead. The code is the
same, only faster: a virtual key's request costs ~30,000 fewer instructions (bench/instructions.py,
docs/benchmarks.md). Each compiled source's SHA-256 is written beside it (``<module>.py.mypyc``), and a
compiled module whose source changed since is not used (``adaptive_gateway/compiled.py``): edit the
``.py`` and it runs as Python until the next ``make install``.

Without a C compiler, or when the build fails, nothing is installed and the sources run as they are.
``ADAPTIVE_GATEWAY_COMPILE=0`` skips the build (and ``python tools/compile_hot.py --clean`` removes it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))

from adaptive_gateway.compiled import MODULES, built_files, source_digest, source_of, stamp_of  # noqa: E402


def clean() -> None:
    for name in MODULES:
        for path in built_files(name):
            path.unlink()
        stamp_of(name).unlink(missing_ok=True)
    for shared in SRC.glob("*__mypyc*.so"):  # the runtime the modules of one build share
        shared.unlink()


def main() -> int:
    clean()
    if "--clean" in sys.argv or os.environ.get("ADAPTIVE_GATEWAY_COMPILE", "1") == "0":
        return 0
    if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
        print("compile_hot: no C compiler found; the counters run as plain Python")
        return 0
    sources = [source_of(name) for name in MODULES]
    # mypyc builds in ./build of its working directory and copies each extension beside its source
    cmd = [sys.executable, "-m", "mypyc", *(str(s.relative_to(SRC)) for s in sources)]
    proc = subprocess.run(cmd, cwd=SRC, capture_output=True, text=True)
    shutil.rmtree(SRC / "build", ignore_errors=True)
    if proc.returncode != 0:
        clean()
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        print(f"compile_hot: mypyc failed; the counters run as plain Python\n{tail}")
        return 0
    for name in MODULES:
        stamp_of(name).write_text(source_digest(name) + "\n")
    print(f"compile_hot: compiled {', '.join(MODULES)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
