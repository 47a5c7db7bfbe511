"""Run folder retention: folders past ``trust.runs.retention_days`` (by the day in their receipt id) are
deleted, never today's, never one being written, never an entry that is not a run; by the gateway at
start and then periodically, and by ``run prune``."""

from __future__ import annotations

import calendar
import os
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptive_gateway.cli.main import build_app
from adaptive_gateway.config import ConfigError, gateway_home, parse_config
from adaptive_gateway.ledger.receipts import new_receipt_id
from adaptive_gateway.ledger.runs import RunStore
from tests.ledger.pruning import chat_receipt, pruning_gateway
from tests.support.wait import eventually
from tests.trust.pipeline_support import trust_env

NOW = calendar.timegm((2025, 3, 14, 10, 0, 0))  # 2025-03-14T10:00:00Z
DAY = 86_400


def _seed(store: RunStore, days_ago: int, now: float = NOW, touched: float | None = None) -> str:
    """A run recorded ``days_ago`` days before ``now`` (its folder last modified then, or ``touched``)."""
    when = now - days_ago * DAY
    rid = new_receipt_id(now=when)
    folder = store.write(rid, {"request": {"body": {}}, "run": {"model": "m"}})
    mtime = when if touched is None else touched
    os.utime(folder, (mtime, mtime))
    return rid


def _names(store: RunStore) -> list[str]:
    return sorted(p.name for p in store.root.iterdir())


def test_prune_deletes_runs_past_retention_and_never_today(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    ids = {d: _seed(store, d) for d in (0, 1, 2, 3, 30, 31, 400)}
    future = _seed(store, -1)  # from a clock ahead of ours: not ours to judge
    assert store.prune(30, now=NOW) == sorted([ids[31], ids[400]])
    assert store.prune(30, now=NOW) == []
    assert store.prune(2, now=NOW) == sorted([ids[3], ids[30]])
    assert store.prune(0, now=NOW) == sorted([ids[1], ids[2]])  # everything but today
    assert _names(store) == sorted([ids[0], future])
    assert store.load(ids[0])["run"] == {"model": "m"}
    with pytest.raises(ValueError):
        store.prune(-1, now=NOW)
    assert RunStore(tmp_path / "missing").prune(1) == []


def test_entries_that_are_not_runs_are_left_alone(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    old = _seed(store, 100)
    long_ago = NOW - 100 * DAY
    (store.root / "notes.txt").write_text("kept")
    (store.root / "rc_20240101T000000_0123456789ab").write_text("a file named like a run")
    (store.root / "my-backup").mkdir()  # a folder, but not named by a receipt id
    (store.root / ".hidden").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("kept")
    (store.root / "rc_20240102T000000_0123456789ab").symlink_to(elsewhere)  # a link to a folder
    (store.root / "rc_20241399T000000_0123456789ab").mkdir()  # no such date
    for entry in store.root.iterdir():
        os.utime(entry, (long_ago, long_ago), follow_symlinks=False)
    assert store.prune(30, now=NOW) == [old]
    assert _names(store) == [
        ".hidden",
        "my-backup",
        "notes.txt",
        "rc_20240101T000000_0123456789ab",
        "rc_20240102T000000_0123456789ab",
        "rc_20241399T000000_0123456789ab",
    ]
    assert (elsewhere / "precious.txt").read_text() == "kept"
    assert [r["id"] for r in store.list()] == [
        "rc_20241399T000000_0123456789ab",
        "rc_20240102T000000_0123456789ab",
        "my-backup",
    ]


def test_a_run_written_now_is_kept_whatever_its_id(tmp_path: Path) -> None:
    """The folder of a run being written (or written late, by a request that outlived its day) was
    modified after the cutoff: it stays until it is as old as its id says."""
    store = RunStore(tmp_path / "runs")
    late = _seed(store, 40, touched=NOW - 60)  # the id is 40 days old, the folder a minute
    assert store.prune(30, now=NOW) == []
    assert store.prune(0, now=NOW) == []
    os.utime(store.path(late), (NOW - 31 * DAY, NOW - 31 * DAY))
    assert store.prune(30, now=NOW) == [late]


def test_an_interrupted_prune_is_finished_by_the_next(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    trash = store.root / ".pruning-rc_20240101T000000_0123456789ab-00000000"
    trash.mkdir(parents=True)
    (trash / "run.json").write_text("{}")
    assert store.prune(30, now=NOW) == [] and _names(store) == []


def test_racing_pruners_delete_each_run_once_and_readers_never_fail(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    now = time.time()
    old = sorted(_seed(store, 2 + i % 50, now=now) for i in range(150))
    today = [_seed(store, 0, now=now) for _ in range(5)]
    results: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def prune() -> None:
        start.wait()
        results.append(RunStore(store.root).prune(1))

    def read() -> None:
        start.wait()
        try:
            for _ in range(20):
                RunStore(store.root).list(limit=200)
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=prune) for _ in range(3)] + [threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    deleted = [rid for result in results for rid in result]
    assert sorted(deleted) == old  # each exactly once, between them
    assert _names(store) == sorted(today)


# ---- the config -----------------------------------------------------------------------------------------

MINIMAL = """
providers: {local: {kind: ollama-openai}}
models: {m: {deployments: [{provider: local, model: x}]}}
"""


def test_retention_setting_defaults_and_errors() -> None:
    assert parse_config(MINIMAL, {}).trust.runs.retention_days == 30
    assert parse_config(MINIMAL + "trust: {runs: {retention_days: 0}}", {}).trust.runs.retention_days == 0
    for bad, says in (("-1", "greater than or equal to 0"), ("soon", "valid integer")):
        with pytest.raises(ConfigError) as info:
            parse_config(MINIMAL + f"trust: {{runs: {{retention_days: {bad}}}}}", {})
        assert any(e.startswith("trust.runs.retention_days: ") and says in e for e in info.value.errors), (
            info.value.errors
        )
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL + "trust: {runs: {retention: 3}}", {})
    assert "trust.runs.retention: unknown key 'retention'" in info.value.errors


# ---- in the gateway -----------------------------------------------------------------------------------


def test_the_gateway_prunes_runs_at_start_then_periodically(tmp_path: Path) -> None:
    store = RunStore(gateway_home() / "runs")
    now = time.time()
    recent = sorted(_seed(store, d, now=now) for d in (0, 5, 29))
    for d in (31, 365):
        _seed(store, d, now=now)
    (store.root / "notes.txt").write_text("not a run")
    with pruning_gateway(tmp_path, "  record_runs: true\n  runs: {retention_days: 30}\n") as gw:
        assert eventually(lambda: _names(store) == ["notes.txt", *recent]), _names(store)  # at start
        _seed(store, 40, now=now)  # e.g. copied in from elsewhere, with its times
        assert eventually(lambda: _names(store) == ["notes.txt", *recent])  # the next periodic pass
        rid = chat_receipt(gw)
        assert eventually(lambda: (store.root / rid / "run.json").exists())
        time.sleep(0.2)  # a few more passes: today's run stays
        assert rid in _names(store)


def test_retention_zero_keeps_every_run(tmp_path: Path) -> None:
    store = RunStore(gateway_home() / "runs")
    now = time.time()
    for d in (0, 400, 4000):
        _seed(store, d, now=now)
    with trust_env(tmp_path, "  runs: {retention_days: 0}\n") as env:
        assert env.gateway.app.extras["trust"].prune_runs() == []
    assert len(_names(store)) == 3


# ---- run prune ------------------------------------------------------------------------------------------


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["run", "prune", *args])
    return result.exit_code, result.output


def test_run_prune_cli(tmp_path: Path) -> None:
    store = RunStore(gateway_home() / "runs")
    now = time.time()
    ids = {d: _seed(store, d, now=now) for d in (0, 1, 10, 100, 1000)}
    (store.root / "notes.txt").write_text("not a run")
    config = tmp_path / "config.yaml"
    config.write_text("trust:\n  runs: {retention_days: 30}\n")
    code, out = cli("--config", str(config))  # the configured retention
    assert code == 0, out
    assert out.splitlines() == ["deleted 2 run(s) older than 30 days:", f"  {ids[1000]}", f"  {ids[100]}"]
    code, out = cli("--days", "5", "--config", str(config))
    assert code == 0 and out.splitlines()[1:] == [f"  {ids[10]}"]
    assert cli("--older-than", "5") == (0, "no runs older than 5 days\n")
    code, out = cli("--days", "0")
    assert code == 0 and out.splitlines()[1:] == [f"  {ids[1]}"]
    assert _names(store) == ["notes.txt", ids[0]]
    config.write_text("trust:\n  runs: {retention_days: 0}\n")
    assert "keep runs forever" in cli("--config", str(config))[1]
    config.write_text("trust:\n  runs: {retention_days: -1}\n")
    code, out = cli("--config", str(config))
    assert code == 2 and "trust.runs.retention_days" in out
    assert cli("--days", "-1")[0] == 2
    old = _seed(store, 31, now=now)
    code, out = cli("--config", str(tmp_path / "none.yaml"))  # no config file: 30 days
    assert code == 0 and out.splitlines() == ["deleted 1 run(s) older than 30 days:", f"  {old}"]
