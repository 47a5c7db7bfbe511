"""Fixtures shared by the whole suite: fake upstreams and a running gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adaptive_gateway.fakes.server import FakeUpstream
from tests.support.gateway import MASTER_KEY, GatewayThread, openai_config


@pytest.fixture
def fake_openai() -> Iterator[FakeUpstream]:
    fake = FakeUpstream("openai").start_in_thread()
    try:
        yield fake
    finally:
        fake.stop_thread()


@pytest.fixture
def gateway(fake_openai: FakeUpstream, tmp_path: Path) -> Iterator[GatewayThread]:
    with GatewayThread(openai_config(fake_openai.url), tmp_path) as gw:
        yield gw


@pytest.fixture
def master_key() -> str:
    return MASTER_KEY


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever touches the real ~/.adaptive-llm-gateway."""
    monkeypatch.setenv("ADAPTIVE_GATEWAY_HOME", str(tmp_path / "gw-home"))
    monkeypatch.delenv("ADAPTIVE_GATEWAY_CONFIG", raising=False)
    monkeypatch.delenv("ADAPTIVE_GATEWAY_MASTER_KEY", raising=False)
