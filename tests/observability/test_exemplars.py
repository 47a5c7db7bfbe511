"""Exemplars across worker processes: each worker's newest exemplar per bucket is shared through the
metrics folder, and the OpenMetrics scrape of any worker carries everyone's, the newest winning."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from adaptive_gateway.observability import exemplars, multiproc
from adaptive_gateway.observability.exemplars import ExemplarBook

ROOT = Path(__file__).resolve().parents[2]
A, B, C = "aa" * 16, "bb" * 16, "cc" * 16
LABELS = (("model", "m"), ("route", "openai_chat"))


def test_book_publishes_only_changes(tmp_path: Path) -> None:
    book = ExemplarBook()
    assert book.snapshot() is None
    before = book.entries
    book.update({("h_seconds", LABELS, "0.5"): (A, 0.3, 100.0)})
    assert before == {}  # replaced, not changed in place (a scrape thread may hold the old one)
    snap = book.snapshot()
    assert snap == [["h_seconds", [["model", "m"], ["route", "openai_chat"]], "0.5", A, 0.3, 100.0]]
    assert book.snapshot() is None
    exemplars.publish(snap, str(tmp_path))
    assert (tmp_path / f"exemplars-{os.getpid()}.json").exists()


def test_merge_newest_wins_own_file_skipped_bad_files_ignored(tmp_path: Path) -> None:
    key = ("h_seconds", LABELS, "0.5")
    other = ("h_seconds", LABELS, "+Inf")
    peer = [["h_seconds", [list(kv) for kv in LABELS], "0.5", B, 0.4, 200.0]]
    peer.append(["h_seconds", [list(kv) for kv in LABELS], "+Inf", C, 99.0, 50.0])
    (tmp_path / "exemplars-1.json").write_bytes(orjson.dumps(peer))
    (tmp_path / "exemplars-2.json").write_bytes(b"[not json")
    (tmp_path / f"exemplars-{os.getpid()}.json").write_bytes(
        orjson.dumps([[*peer[0][:3], "dd" * 16, 1, 999.0]])
    )
    got = exemplars.merged(str(tmp_path), {key: (A, 0.3, 100.0)})
    assert got == {key: (B, 0.4, 200.0), other: (C, 99.0, 50.0)}  # a peer's newer one beats ours
    assert exemplars.merged(str(tmp_path), {key: (A, 0.3, 300.0)})[key] == (A, 0.3, 300.0)


def test_a_dead_workers_exemplars_are_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "exemplars-4242.json").write_bytes(b"[]")
    monkeypatch.setenv(multiproc.ENV, str(tmp_path))
    multiproc.worker_exited(4242)
    assert not (tmp_path / "exemplars-4242.json").exists()


CHILD = """
import sys, time
from adaptive_gateway.observability import exemplars
from adaptive_gateway.observability.metrics import GatewayMetrics
from adaptive_gateway.observability.sample import Sample
m = GatewayMetrics.from_env("1")
for arg in sys.argv[2:]:
    model, latency, tid = arg.split(":")
    m.record(Sample("openai_chat", model, model + "#0:p/x", "p", 200, float(latency), trace_id=tid))
    m.flush()
    time.sleep(0.01)
snap = m.exemplars.snapshot()
if snap is not None:
    exemplars.publish(snap, m.multiproc_dir)
if sys.argv[1] == "render":
    sys.stdout.write(m.exposition(openmetrics=True)[0].decode() + "=====" + m.exposition()[0].decode())
"""


def worker(folder: Path, mode: str, *samples: str) -> str:
    env = {**os.environ, multiproc.ENV: str(folder), "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", CHILD, mode, *samples]
    return subprocess.run(args, env=env, check=True, cwd=ROOT, capture_output=True).stdout.decode()


def test_openmetrics_of_several_workers_carries_their_exemplars(tmp_path: Path) -> None:
    worker(tmp_path, "-", f"a:0.02:{A}")
    time.sleep(0.05)
    worker(tmp_path, "-", f"b:0.3:{B}", f"a:0.021:{C}")  # later, same bucket of model a: C wins
    out = worker(tmp_path, "render", f"b:7.0:{A}")  # the scraping worker's own
    om, text = out.split("=====")
    assert om.endswith("# EOF\n")
    found = {}
    counts = {}
    for family in parse_openmetrics(om):  # the official parser accepts it
        for s in family.samples:
            if s.exemplar is not None:
                found[(s.labels.get("model"), s.labels["le"])] = s.exemplar.labels["trace_id"]
            if s.name == "adaptive_gateway_request_duration_seconds_count":
                counts[s.labels["model"]] = s.value
    assert found[("a", "0.025")] == C
    assert found[("b", "0.5")] == B
    assert found[("b", "10.0")] == A
    assert counts == {"a": 2, "b": 2}
    # the text format has the same series and no exemplars
    assert "# {" not in text and "adaptive_gateway_requests_total{" in text
