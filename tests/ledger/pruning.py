"""A gateway whose trust runtime prunes every 50 ms (hourly in production), for the retention tests of
receipts and run folders, and the one chat request they make through it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from adaptive_gateway.fakes.server import FakeUpstream
from tests.ledger.test_receipts import AUTH
from tests.support.gateway import GatewayThread
from tests.trust.pipeline_support import trust_config


@contextmanager
def pruning_gateway(tmp_path: Path, trust_yaml: str) -> Iterator[GatewayThread]:
    """A running gateway (fake OpenAI upstream) with ``trust_yaml`` added to its trust section."""
    fake = FakeUpstream("openai").start_in_thread()
    try:
        gw = GatewayThread(trust_config(fake.url, fake.url, trust_yaml), tmp_path)
        gw.app.extras["trust"].prune_interval = 0.05
        with gw:
            yield gw
    finally:
        fake.stop_thread()


def chat_receipt(gw: GatewayThread) -> str:
    """One chat request through ``gw``: its receipt id."""
    raw = httpx.post(
        gw.url + "/v1/chat/completions",
        headers=AUTH,
        json={"model": "smart", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert raw.status_code == 200
    return raw.headers["x-adaptive-receipt"]
