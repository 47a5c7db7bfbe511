"""Processes for the benches: a process's tree and /proc stat, and pinning.

PIN=1: the gateways on the last CPU; the bench script, what it starts (nginx, wrk) and
Redis on the others. A gateway's throughput is then what its own CPU gives, not what it wins from the
load generator on shared cores (use with WORKERS=1; on 2 CPUs the load side gets one)."""

from __future__ import annotations

import os
from pathlib import Path

PIN = os.environ.get("PIN") == "1"
_CPUS = sorted(os.sched_getaffinity(0))


def pin_load_side() -> None:
    """PIN=1: this process (so nginx and wrk, started later) and redis-server off the gateway's CPU."""
    if not PIN or len(_CPUS) < 2:
        return
    rest = set(_CPUS[:-1])
    os.sched_setaffinity(0, rest)
    for d in os.listdir("/proc"):
        if d.isdigit() and _comm(int(d)) == "redis-server":
            _pin_tasks(int(d), rest)


def pin_gateway(root: int) -> None:
    """PIN=1: every process and thread of a gateway on the last CPU (threads it starts later inherit it)."""
    if PIN and len(_CPUS) >= 2:
        for pid in tree(root):
            _pin_tasks(pid, {_CPUS[-1]})


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _pin_tasks(pid: int, cpus: set[int]) -> None:
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), cpus)
    except OSError:  # gone meanwhile
        pass


def stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def tree(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                kids.setdefault(int(stat(int(d))[1]), []).append(int(d))
            except (OSError, IndexError):
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out
