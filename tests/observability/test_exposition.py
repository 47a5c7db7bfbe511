"""The fast renderer says exactly what prometheus-client's own exposition says: in one process (text and
OpenMetrics) and across several workers' multiprocess files (against MultiProcessCollector)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from adaptive_gateway.observability.metrics import GatewayMetrics
from adaptive_gateway.observability.sample import Sample

Parsed = set[tuple[str, tuple[tuple[str, str], ...], float]]


def parse(text: str) -> Parsed:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if not s.name.endswith("_created")
    }


def traffic(m: GatewayMetrics, n: int) -> None:
    for i in range(n):
        status = 200 if i % 4 else 502
        m.record(Sample("openai_chat", f"m{i % 3}", f"m{i % 3}#0:p/x", "p", status, 0.01 * (i % 50),
                        key=f"k{i % 5}", tenant='t"1\\', upstream_s=0.02, ttft_s=0.3, tokens_per_s=42.0,
                        input_tokens=i, output_tokens=2, cost=0.001 * i, trace_id="ab" * 16))  # fmt: skip
    m.sync_live(4, [("m0#0:p/x", "open", 2, 0), ("m1#0:p/x", "closed", 0, 100)])
    m.flush()


def test_one_process_matches_prometheus_client() -> None:
    m = GatewayMetrics("1.2.3")
    traffic(m, 40)
    assert m.registry is not None
    ours, _ = m.exposition()
    assert parse(ours.decode()) == parse(generate_latest(m.registry).decode())
    om, ctype = m.exposition(openmetrics=True)
    assert ctype.startswith("application/openmetrics-text") and om.endswith(b"# EOF\n")
    samples = [s for fam in parse_openmetrics(om.decode()) for s in fam.samples]
    assert any(s.exemplar is not None and s.exemplar.labels == {"trace_id": "ab" * 16} for s in samples)


CHILD = """
import sys
from adaptive_gateway.observability.metrics import GatewayMetrics
from tests.observability.test_exposition import traffic
m = GatewayMetrics.from_env("1.2.3")
traffic(m, int(sys.argv[1]))
if sys.argv[2] == "render":
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    sys.stdout.write(m.exposition()[0].decode() + "\\n=====\\n" + generate_latest(registry).decode())
"""


def test_worker_files_match_multiprocess_collector(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", CHILD, "30", "-"], env=env, check=True, cwd=root)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, "17", "render"], env=env, check=True, cwd=root, capture_output=True
    ).stdout.decode()
    ours, theirs = out.split("\n=====\n")
    assert parse(ours) == parse(theirs)
    labels = (("deployment", "m0#0:p/x"), ("model", "m0"), ("provider", "p"), ("route", "openai_chat"))
    # i % 12 == 0: three of the first worker's 30 requests, two of the second's 17
    assert ("adaptive_gateway_requests_total", (*labels, ("status", "502")), 5.0) in parse(ours)
