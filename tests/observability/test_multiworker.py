"""Metrics and live stats across two worker processes (``--workers 2``): every request is counted whichever
worker answered it and whichever worker is asked, a worker that dies keeps its metric counts, and the
OpenMetrics scrape of one worker carries the exemplars (trace ids) of requests the other answered."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_KEY, openai_config
from tests.support.process import GatewayProcess

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
N = 20


def total(url: str) -> float:
    text = httpx.get(url + "/metrics", headers=AUTH, timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("adaptive_gateway_requests_total{") and 'status="200"' in line
    )


def live(url: str) -> int:
    stats = httpx.get(url + "/api/stats?window=300", headers=AUTH, timeout=5).json()
    return int(stats["summary"]["requests"])


def eventually(check: object, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def workers(pid: int) -> list[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(k) for k in kids]


def test_two_workers_share_metrics(fake_openai: FakeUpstream, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(openai_config(fake_openai.url))
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with GatewayProcess(cfg, workers=2, env=env) as gw:
        assert gw.proc is not None
        for _ in range(N):  # a fresh connection each time: the kernel spreads them over both workers
            body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
            assert httpx.post(gw.url + "/v1/chat/completions", json=body, headers=AUTH).status_code == 200
        assert eventually(lambda: total(gw.url) == N), total(gw.url)
        # live stats too: whichever worker answers merges its peers' snapshots
        for _ in range(4):
            assert eventually(lambda: live(gw.url) == N), live(gw.url)
        assert "multiprocess_metrics" in httpx.get(gw.url + "/api/settings", headers=AUTH).text
        victim = workers(gw.proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        assert eventually(lambda: len(workers(gw.proc.pid)) == 2 and victim not in workers(gw.proc.pid))
        assert eventually(lambda: total(gw.url) == N), "a dead worker's counts must stay"


def pinned(url: str, avoid: int | None = None) -> tuple[httpx.Client, int]:
    """A keep-alive client whose connection is served by one worker (not ``avoid``), and that worker's pid."""
    for _ in range(50):
        client = httpx.Client(base_url=url, headers=AUTH, timeout=5)
        pid = int(client.get("/api/settings").json()["pid"])
        if pid != avoid:
            return client, pid
        client.close()
    raise AssertionError("the second worker never took a connection")


def exemplar_traces(client: httpx.Client) -> set[str]:
    resp = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert resp.headers["content-type"].startswith("application/openmetrics-text")
    return {
        s.exemplar.labels["trace_id"]
        for family in parse_openmetrics(resp.text)
        for s in family.samples
        if s.exemplar is not None
    }


def test_exemplars_of_one_worker_in_the_other_workers_scrape(
    fake_openai: FakeUpstream, tmp_path: Path
) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(openai_config(fake_openai.url))
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with GatewayProcess(cfg, workers=2, env=env) as gw:
        first, answering = pinned(gw.url)
        second, scraping = pinned(gw.url, avoid=answering)
        try:
            trace = uuid.uuid4().hex
            body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
            headers = {"traceparent": f"00-{trace}-{'ab' * 8}-01"}
            assert first.post("/v1/chat/completions", json=body, headers=headers).status_code == 200
            assert int(first.get("/api/settings").json()["pid"]) == answering
            assert eventually(lambda: trace in exemplar_traces(second)), exemplar_traces(second)
            assert int(second.get("/api/settings").json()["pid"]) == scraping != answering
            assert trace in exemplar_traces(first)  # and in the answering worker's own
        finally:
            first.close()
            second.close()
