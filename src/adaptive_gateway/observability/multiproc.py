"""The shared folder that lets several worker processes expose one set of metrics (and live stats).

``server/runner.py`` calls :func:`prepare` before it forks the workers, :func:`worker_exited` when one
exits (its live gauges, stats snapshot and exemplars are dropped; its counters stay, so totals never go
backwards)
and :func:`cleanup` when it stops. A folder given in ``PROMETHEUS_MULTIPROC_DIR`` is used as is (emptied
of stale files first); otherwise a private temporary folder is made and removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
OWNED_MARK = ".adaptive-gateway-owned"
STATS_PREFIX = "stats-"
EXEMPLARS_PREFIX = "exemplars-"  # observability/exemplars.py


def prepare() -> Path:
    """Set up the folder and export it to the workers through the environment."""
    given = os.environ.get(ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        stale_files = [
            *path.glob("*.db"),
            *path.glob(STATS_PREFIX + "*.json"),
            *path.glob(EXEMPLARS_PREFIX + "*.json"),
        ]
        for stale in stale_files:
            with suppress(OSError):
                stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="adaptive-gateway-metrics-"))
        (path / OWNED_MARK).touch()
        os.environ[ENV] = str(path)
    return path


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges, stats snapshot and exemplars."""
    path = os.environ.get(ENV)
    if not path:
        return
    from prometheus_client import multiprocess

    with suppress(OSError):
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
    for name in (f"{STATS_PREFIX}{pid}.json", f"{EXEMPLARS_PREFIX}{pid}.json"):
        with suppress(OSError):
            (Path(path) / name).unlink()


def cleanup(path: Path) -> None:
    """Remove the folder if :func:`prepare` made it."""
    if (path / OWNED_MARK).exists():
        shutil.rmtree(path, ignore_errors=True)
