"""Receipt retention: pruning whole day files past ``trust.receipts.retention_days``, never today's,
safely next to appending workers; done by the gateway at start and then periodically."""

from __future__ import annotations

import calendar
import fcntl
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from adaptive_gateway.config import gateway_home
from adaptive_gateway.ledger import receipts as receipts_module
from adaptive_gateway.ledger.receipts import ReceiptStore, day_of, new_receipt_id
from tests.ledger.pruning import chat_receipt, pruning_gateway
from tests.support.wait import eventually
from tests.trust.pipeline_support import trust_env

NOW = calendar.timegm((2025, 3, 14, 10, 0, 0))  # 2025-03-14T10:00:00Z
DAY = 86_400


def _files(store: ReceiptStore) -> list[str]:
    return sorted(p.name for p in store.root.iterdir())


def _seed(store: ReceiptStore, days_ago: list[int], now: float = NOW) -> None:
    store.append([{"id": new_receipt_id(now=now - d * DAY)} for d in days_ago])


def test_prune_deletes_whole_days_past_retention_and_never_today(tmp_path: Path) -> None:
    store = ReceiptStore(tmp_path / "receipts")
    _seed(store, [0, 1, 2, 3, 30, 31, 400])
    _seed(store, [-1])  # a receipt from a clock ahead of ours: not ours to judge
    (store.root / "notes.txt").write_text("kept")
    (store.root / "2025-13-45.jsonl").write_text("not a day")
    assert store.prune(30, now=NOW) == ["2024-02-08", "2025-02-11"]  # 31 and 400 days ago
    assert store.prune(30, now=NOW) == []
    assert store.prune(2, now=NOW) == ["2025-02-12", "2025-03-11"]  # 30 and 3 days ago
    assert store.prune(0, now=NOW) == ["2025-03-12", "2025-03-13"]  # everything but today
    assert _files(store) == ["2025-03-14.jsonl", "2025-03-15.jsonl", "2025-13-45.jsonl", "notes.txt"]
    with pytest.raises(ValueError):
        store.prune(-1, now=NOW)
    assert ReceiptStore(tmp_path / "missing").prune(1) == []


def test_an_append_racing_a_prune_lands_in_a_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worst interleaving: a writer opens yesterday's file, a pruner deletes it, then the writer
    gets the lock. The writer must notice and write to the path's new file, not the deleted one."""
    store = ReceiptStore(tmp_path / "receipts")
    yesterday = new_receipt_id(now=time.time() - DAY)
    store.append([{"id": yesterday, "n": 1}])
    real_flock = fcntl.flock
    pruned: list[list[str]] = []
    racing = [True]

    def flock_after_a_prune(fd: int, op: int) -> None:
        if racing and racing.pop():
            pruned.append(ReceiptStore(store.root).prune(0))  # another worker, between open and lock
        real_flock(fd, op)

    monkeypatch.setattr(receipts_module.fcntl, "flock", flock_after_a_prune)
    store.append([{"id": yesterday, "n": 2}])
    monkeypatch.undo()
    assert pruned == [[day_of(yesterday)]]
    assert store.get(yesterday) == {"id": yesterday, "n": 2}  # written to the file that exists now


def _append_today(root: str, count: int) -> None:
    store = ReceiptStore(Path(root))
    for i in range(count):
        store.append([{"id": new_receipt_id(), "pid": os.getpid(), "i": i, "pad": "x" * 200}])


def test_pruning_next_to_appending_workers_loses_nothing_of_today(tmp_path: Path) -> None:
    store = ReceiptStore(tmp_path / "receipts")
    _seed(store, list(range(1, 40)), now=time.time())
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_today, args=(str(store.root), 150)) for _ in range(3)]
    for worker in workers:
        worker.start()
    deleted: list[str] = []
    while any(worker.is_alive() for worker in workers):
        deleted += ReceiptStore(store.root).prune(0)  # a second pruner racing the first never hurts
        deleted += store.prune(0)
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    deleted += store.prune(0)  # in case the workers were done before the loop pruned anything
    assert len(deleted) == 39 and len(set(deleted)) == 39  # each old day deleted exactly once
    (today,) = _files(store)
    lines = (store.root / today).read_text().splitlines()
    assert len(lines) == 450 and len({line[:60] for line in lines}) == 450


# ---- in the gateway -----------------------------------------------------------------------------------


def test_the_gateway_prunes_at_start_then_periodically(tmp_path: Path) -> None:
    store = ReceiptStore(gateway_home() / "receipts")
    _seed(store, [0, 5, 29, 31, 365], now=time.time())
    recent = _files(store)[2:]  # the files of today, 5 and 29 days ago
    with pruning_gateway(tmp_path, "  receipts: {retention_days: 30}\n") as gw:
        assert eventually(lambda: _files(store) == recent)  # at start: 31 and 365 days ago went
        _seed(store, [40], now=time.time())  # e.g. written by a worker whose clock was behind
        assert eventually(lambda: _files(store) == recent)  # the next periodic pass
        rid = chat_receipt(gw)
        assert eventually(lambda: store.get(rid) is not None)  # today's file still takes appends


def test_retention_zero_keeps_everything(tmp_path: Path) -> None:
    store = ReceiptStore(gateway_home() / "receipts")
    _seed(store, [0, 400, 4000], now=time.time())
    with trust_env(tmp_path, "  receipts: {retention_days: 0}\n") as env:
        assert env.gateway.app.extras["trust"].prune_receipts() == []
    assert len(_files(store)) == 3
