"""Parallel writers in threads and in separate processes never lose an entry."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from adaptive_gateway.memory import MemoryItem, MemoryStore

ITEMS_EACH = 20
THREADS = 8
PROCESSES = 4

_WRITER = """
import sys
from pathlib import Path
from adaptive_gateway.memory import MemoryItem, MemoryStore

root, agent, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
store = MemoryStore(root, author=agent)
for i in range(count):
    store.write(MemoryItem.new("note", f"{agent} note {i}", f"written by {agent}"))
"""


def _thread_writer(root: Path, agent: str, errors: list[BaseException]) -> None:
    try:
        store = MemoryStore(root, author=agent)
        for i in range(ITEMS_EACH):
            store.write(MemoryItem.new("note", f"{agent} note {i}", f"written by {agent}"))
    except BaseException as exc:
        errors.append(exc)


def test_threads_and_processes_write_concurrently(tmp_path: Path, git) -> None:
    root = tmp_path / "memory"  # created by whichever writer gets there first
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(root), f"proc{n}", str(ITEMS_EACH)])
        for n in range(PROCESSES)
    ]
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_thread_writer, args=(root, f"thread{n}", errors)) for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [proc.wait(timeout=90) for proc in procs] == [0] * PROCESSES
    assert errors == []

    store = MemoryStore(root)
    titles = {item.title for item in store.list()}
    agents = [f"thread{n}" for n in range(THREADS)] + [f"proc{n}" for n in range(PROCESSES)]
    assert titles == {f"{agent} note {i}" for agent in agents for i in range(ITEMS_EACH)}
    writes = (THREADS + PROCESSES) * ITEMS_EACH
    assert int(git(root, "rev-list", "--count", "HEAD")) == writes + 1  # + the initial commit
    subjects = git(root, "log", "--format=%s").splitlines()
    assert sum(subject.startswith("memory: record note") for subject in subjects) == writes
    assert git(root, "status", "--porcelain") == ""
    subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=root, check=True, capture_output=True)


def test_concurrent_appends_to_one_session_keep_every_entry(store: MemoryStore) -> None:
    def append(agent: str) -> None:
        for i in range(5):
            store.append_session("shared", f"{agent} step {i}", author=agent)

    threads = [threading.Thread(target=append, args=(f"agent{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = store.session_entries("shared")
    assert sorted(entry.text for entry in entries) == sorted(
        f"agent{n} step {i}" for n in range(4) for i in range(5)
    )
    assert [entry.timestamp for entry in entries] == sorted(entry.timestamp for entry in entries)
