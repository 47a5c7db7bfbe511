"""The running gateway as the CLI knows it: ``<home>/gateway.pid`` (JSON: pid, URL, config, log file,
start time), written by ``start`` and removed when it stops; ``<home>/gateway.log`` for ``--background``.

A pidfile whose process is gone, or whose pid now belongs to another program, is stale and ignored.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

PIDFILE = "gateway.pid"
LOGFILE = "gateway.log"
_MARKERS = (b"adaptive_gateway", b"adaptive-llm-gateway")


@dataclass(frozen=True)
class GatewayProcess:
    pid: int
    url: str
    config: str
    log: str | None = None
    started: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def local_url(host: str, port: int) -> str:
    """The URL to reach a gateway listening on ``host:port`` from this machine."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def pidfile(home: Path) -> Path:
    return home / PIDFILE


def logfile(home: Path) -> Path:
    return home / LOGFILE


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def looks_like_gateway(pid: int) -> bool:
    """True unless the process is known to run something else (pid reuse after a crash). Linux reads
    ``/proc/<pid>/cmdline``; elsewhere ``ps`` is asked."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        data = cmdline.read_bytes()
    except FileNotFoundError:
        if sys.platform.startswith("linux"):
            return False
        data = _ps_command(pid)
    except OSError:
        return True
    return not data or any(m in data for m in _MARKERS)


def _ps_command(pid: int) -> bytes:
    try:
        done = subprocess.run(
            ["ps", "-p", str(pid), "-o", "command="], capture_output=True, timeout=2, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return b""
    return done.stdout


def write_pidfile(home: Path, proc: GatewayProcess) -> None:
    """Write the pidfile atomically (0600)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = pidfile(home)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(proc.to_dict(), out)
    os.replace(tmp, path)


def read_pidfile(home: Path) -> GatewayProcess | None:
    """The pidfile's record (also when stale); None when there is none or it is unreadable."""
    try:
        data = json.loads(pidfile(home).read_text(encoding="utf-8"))
        return GatewayProcess(**data)
    except (OSError, ValueError, TypeError):
        return None


def running(home: Path) -> GatewayProcess | None:
    """The gateway this CLI started and that is still running, else None."""
    proc = read_pidfile(home)
    if proc is None or not pid_alive(proc.pid) or _zombie(proc.pid) or not looks_like_gateway(proc.pid):
        return None
    return proc


def remove_pidfile(home: Path, pid: int | None = None) -> None:
    """Remove the pidfile (only when it still names ``pid``, if given)."""
    current = read_pidfile(home)
    if pid is None or current is None or current.pid == pid:
        pidfile(home).unlink(missing_ok=True)


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a gateway answers ``GET /health/live`` at ``url``."""
    try:
        resp = httpx.get(url.rstrip("/") + "/health/live", timeout=timeout)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200


def reload_running(home: Path) -> GatewayProcess | None:
    """Ask the running gateway to reload its config now (SIGHUP); the process, or None when none runs."""
    proc = running(home)
    if proc is not None:
        os.kill(proc.pid, signal.SIGHUP)
    return proc


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit; True when it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid) or _zombie(pid):
            return True
        time.sleep(0.05)
    return not pid_alive(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().split(b") ", 1)[1][:1] == b"Z"
    except (OSError, IndexError):
        return False
